"""Function calls, dispatched from the registries: an element-wise formula (the program's, the
user's or a built-in record), a function the language writes as a product (primitives/lowered.py:
sum, trace, einsum, ...), or a general primitive (primitives: inv, solve, softmax, ...).

No function has code of its own here: a lowered record's ``build`` gets a :class:`Call` (the
arguments, read on demand, and the reader's operations), a general record is applied by
``Primitive.make`` to its tensor operands and parameters.
"""
from __future__ import annotations

import ast

import sympy

from ..errors import ShapeError, TcnbError, TensorSyntaxError
from ..functions import elementwise_formula, formula_arity, formula_body
from ..primitives import LOWERED, REGISTRY, SPD_FORMS, TUPLE_FUNCTIONS
from .. import ir
from ..primitives.shapes import keep_axes, reshape
from .products import Prod, as_prod, fresh_label
from .scope import BUILTINS


def read_call(r, e: ast.Call):
    """The value of the call ``e`` read by the reader ``r`` (arrays.ArrayReader or its index form)."""
    if not isinstance(e.func, ast.Name):
        r.fail(e.func, "only named functions can be called", expected="a function such as exp(x)")
    fname = e.func.id
    kwargs = {}
    for kw in e.keywords:
        if kw.arg is None:
            r.fail(kw, "**kwargs is not supported")
        kwargs[kw.arg] = kw.value
    if any(isinstance(a, ast.Starred) for a in e.args):
        r.fail(e, "*args is not supported")
    formula = r.scope.functions.get(fname)  # (not `or`: a formula may be 0, which is falsy)
    if formula is None:
        formula = elementwise_formula(fname)
    if formula is not None:
        arity = formula_arity(formula)
        check_arity(r, e, arity, arity, kwargs, ())
        if arity == 1:
            return r.elementwise(formula_body(formula), r.expr(e.args[0]))
        return r.elementwise_of_several(formula_body(formula), [r.expr(a) for a in e.args], e)
    if fname in TUPLE_FUNCTIONS:
        refuse_one_value(r, e, TUPLE_FUNCTIONS[fname])
    if fname in LOWERED:
        rec = LOWERED[fname]
        if rec.index_notation is not None:
            refuse_in_index_notation(r, e, fname, rec.index_notation)
        result = rec.build(Call(r, e, kwargs, rec))
    elif fname in REGISTRY:
        result = primitive(r, e, kwargs, REGISTRY[fname])
    else:
        if r.scope.tensor(fname) is not None:
            r.fail(e.func, f"'{fname}' is a tensor, not a function",
                   expected="a function name such as exp, sum, inv, or * for a product")
        r.fail(e.func, f"unknown function '{fname}'", expected="one of " + ", ".join(BUILTINS))
    if r.index_notation and isinstance(result, Prod) and not all(isinstance(l, str) for l in result.out):
        r.fail(e, f"{fname}(...) is a tensor without indices", expected=f"in index notation, a name "
               f"with indices: define it first (I = {fname}(...)) and write I[i, j]")
    return result


def refuse_one_value(r, e, rec):
    """A function of several results where one value is expected."""
    names = ", ".join(n for n, _ in rec.outputs)
    if r.index_notation:
        r.fail(e, f"{rec.name}() has {len(rec.outputs)} results and is not available in index notation",
               expected=f"{names} = {rec.name}(...) as a statement of its own, then {rec.outputs[0][0]}[i] ...")
    r.fail(e, f"{rec.name}() has {len(rec.outputs)} results ({names}): unpack them, as in "
           f"{names} = {rec.name}(...), or use {rec.instead}")


def refuse_in_index_notation(r, e, name: str, instead: str = "indices instead"):
    """A function of whole tensors has no meaning in index notation, where every axis is named."""
    if r.index_notation:
        r.fail(e, f"{name}() is not available in index notation", expected=instead)


def check_arity(r, e, lo, hi, kwargs, allowed):
    """Between lo and hi positional arguments, and only the keywords ``allowed``."""
    n = len(e.args)
    if not lo <= n <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        r.fail(e, f"{e.func.id} takes {want} argument{'s' if hi != 1 else ''}, got {n}",
               expected=f"{e.func.id}(" + ", ".join(["·"] * lo) + (", ..." if hi > lo else "") + ")")
    for k in kwargs:
        if k not in allowed:
            r.fail(e, f"{e.func.id} has no keyword '{k}'",
                   expected=("keywords " + ", ".join(allowed)) if allowed else "no keywords")


def int_arg(r, node, what="an integer"):
    """A literal integer (``-1`` included)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -int_arg(r, node.operand, what)
    r.fail(node, f"expected {what}")


def bool_arg(r, node, what="True or False"):
    """A literal True or False."""
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return node.value
    r.fail(node, f"expected {what}", expected="True or False")


def axis_arg(r, e, kwargs, rank, pos=1):
    """The ``axis`` argument (keyword or at position ``pos``): None, an axis or a tuple of axes,
    counted from 0 (an axis from the end becomes a plain index)."""
    node = kwargs.get("axis", e.args[pos] if len(e.args) > pos else None)
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return None
    elts = node.elts if isinstance(node, ast.Tuple) else [node]
    axes = []
    for el in elts:
        ax = int_arg(r, el, "an integer axis")
        if not -rank <= ax < rank:
            r.fail(el, f"axis {ax} is out of range for a tensor of rank {rank}",
                   expected=f"an axis in [{-rank}, {rank - 1}]", cls=ShapeError)
        axes.append(ax % rank)
    if len(set(axes)) != len(axes):
        r.fail(node, "repeated axis")
    return tuple(axes) if isinstance(node, ast.Tuple) else axes[0]


def primitive(r, e, kwargs, rec):
    """A call of a general function, read from its record: tensor operands (the first argument a
    comparison ``u > v`` where the record has a comparison parameter: two operands), then parameters
    by position or keyword."""
    refuse_in_index_notation(r, e, rec.name)
    keep = bool_arg(r, kwargs.pop("keepdims"), "keepdims=True or False") if rec.keepdims and "keepdims" in kwargs \
        else False
    relation = [p for p in rec.params if p.kind == "comparison"]
    plain = [p for p in rec.params if p.kind != "comparison"]
    names = [p.name for p in plain]
    nargs = rec.arity - len(relation)  # a comparison is one argument and two operands
    check_arity(r, e, nargs, nargs + len(names), kwargs, names)
    params = {}
    if relation:
        op, left, right = comparison(r, e.args[0], rec.name)
        params[relation[0].name] = op
        values = [left, right] + [r.expr(e.args[k]) for k in range(1, nargs)]
    else:
        values = [r.expr(e.args[k]) for k in range(nargs)]
    if rec.broadcast:
        try:
            args = r.broadcast_all([as_prod(v) for v in values], e)
        except ShapeError as err:
            r.fail(e, f"{rec.name}: {err.message}", expected=err.expected, cls=ShapeError)
    else:
        args = [as_prod(v) for v in values]
    for k, p in enumerate(plain):
        pos = nargs + k
        if p.name in kwargs and len(e.args) > pos:
            r.fail(e, f"{rec.name}: {p.name} given twice")
        if p.kind == "shape":
            node = kwargs.get(p.name, e.args[pos] if len(e.args) > pos else None)
            params[p.name] = None if node is None else shape_arg(r, node, args[0].shape, rec.name)
        elif p.kind in ("axis", "axes"):
            axis = axis_arg(r, e, kwargs, len(args[0].out), pos)
            if isinstance(axis, tuple) and p.kind == "axis":
                r.fail(e, f"{rec.name} takes one axis (NumPy's too), got several", expected="one axis or None")
            params[p.name] = axis
        else:
            node = kwargs.get(p.name, e.args[pos] if len(e.args) > pos else None)
            read = bool_arg if p.kind == "bool" else int_arg
            params[p.name] = p.default if node is None else read(r, node, f"{p.kind_text} {p.name}")
    try:
        nodes = [a.node() for a in args]
        several = [p.name for p in plain if p.kind == "axes" and isinstance(params[p.name], tuple)]
        if rec.name in SPD_FORMS and getattr(nodes[0], "structure", None) == "spd":
            node = SPD_FORMS[rec.name](*nodes)  # through Cholesky (primitives/decompositions.py)
        elif several:
            node = over_merged_axes(rec, nodes, params, several[0])
        else:
            node = rec.make(nodes, params)
        if keep:
            node = keep_axes(node, args[0].shape, params.get("axis"))
        return Prod.of(node)
    except TcnbError as err:
        raise r.src.locate(err, e) from None


def over_merged_axes(rec, nodes, params, name):
    """``rec`` over several axes of its first operand (``max(T, axis=(0, 2))``): those axes moved
    last and merged into one by a reshape, the record applied along it, and — for a result that
    keeps the axis (softmax) — split and moved back. Transposes and reshapes are index maps, so the
    derivative is the record's own, exactly."""
    x, axes = nodes[0], tuple(sorted(params[name]))
    kept = tuple(k for k in range(x.rank) if k not in axes)
    moved = ir.Einsum.make([x], [tuple(range(x.rank))], kept + axes) if kept + axes != tuple(range(x.rank)) else x
    size = sympy.expand(sympy.Mul(*[x.shape[k] for k in axes]))
    merged = reshape(moved, tuple(x.shape[k] for k in kept) + (size,))
    out = rec.make([merged] + list(nodes[1:]), {**params, name: len(kept)})
    if out.rank == merged.rank:  # the axis is kept: back to x's layout
        split = reshape(out, tuple(moved.shape))
        back = tuple((kept + axes).index(k) for k in range(x.rank))
        out = split if kept + axes == tuple(range(x.rank)) else ir.Einsum.make([split], [tuple(range(x.rank))], back)
    return out


def shape_arg(r, node, source, name="reshape"):
    """A target shape: a tuple of dimensions (or one dimension), one of them possibly -1, which is
    inferred from the ``source`` shape's size (it must divide it exactly)."""
    elts = node.elts if isinstance(node, (ast.Tuple, ast.List)) else [node]
    dims, unknown = [], None
    for el in elts:
        if isinstance(el, ast.UnaryOp) and isinstance(el.op, ast.USub) and isinstance(el.operand, ast.Constant) \
                and el.operand.value == 1:
            if unknown is not None:
                r.fail(el, f"{name}: only one dimension may be -1", expected="one -1 at most")
            unknown = len(dims)
            dims.append(None)
        else:
            dims.append(r.scope.dimension(el))
    if unknown is not None:
        total = sympy.Mul(*source) if source else sympy.Integer(1)
        rest = sympy.Mul(*[d for d in dims if d is not None])
        inferred = sympy.cancel(total / rest)
        if not inferred.is_polynomial() or sympy.fraction(sympy.together(inferred))[1] != 1:
            r.fail(node, f"{name}: -1 would be {inferred}, which is not a dimension",
                   expected=f"dimensions whose product divides {total}", cls=ShapeError)
        dims[unknown] = sympy.expand(inferred)
    return tuple(dims)


_RELATIONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<="}
_REFUSED = {ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}


def comparison(r, node, name):
    """``u > v`` (one of < <= > >=) as (operator, u, v); an error for anything else."""
    allowed = f"one comparison with <, <=, > or >=, as in {name}(x > y, a, b)"
    if not isinstance(node, ast.Compare):
        r.fail(node, f"{name} needs a comparison as its first argument", expected=allowed)
    if len(node.ops) != 1:
        r.fail(node, f"a chained comparison in {name}(...)", expected=allowed + " (nest where for more)")
    kind = type(node.ops[0])
    if kind not in _RELATIONS:
        r.fail(node, f"the comparison '{_REFUSED.get(kind, kind.__name__)}' in {name}(...) is not supported "
               "(equality of floats is fragile and has no derivative)", expected=allowed)
    return _RELATIONS[kind], r.expr(node.left), r.expr(node.comparators[0])


class Call:
    """A call of a lowered function, as its record's ``build`` sees it: the arguments (read when
    asked for), the reader's products and operators, and errors located at the call."""

    def __init__(self, reader, node: ast.Call, kwargs: dict, rec):
        self.reader = reader
        self.node = node
        self.kwargs = kwargs
        self.rec = rec
        self.index_notation = reader.index_notation

    @property
    def name(self) -> str:
        """The function's name."""
        return self.rec.name

    @property
    def nargs(self) -> int:
        """Number of positional arguments."""
        return len(self.node.args)

    def check_arity(self):
        """The record's numbers of arguments and its keywords, else an error."""
        check_arity(self.reader, self.node, *self.rec.args, self.kwargs, self.rec.keywords)

    def tensor(self, k: int) -> Prod:
        """Argument ``k`` read as a tensor."""
        return as_prod(self.reader.expr(self.node.args[k]))

    def axis(self, rank: int, pos: int = 1):
        """The ``axis`` argument for a tensor of ``rank``: None, an int or a tuple of ints."""
        return axis_arg(self.reader, self.node, self.kwargs, rank, pos)

    def dims(self) -> tuple:
        """Every argument read as a dimension (``eye(n)``, ``ones(m, n)``)."""
        return tuple(self.reader.scope.dimension(a) for a in self.node.args)

    def flag(self, name: str, default: bool = False) -> bool:
        """The keyword ``name`` as a literal bool (``keepdims=True``), or ``default``."""
        node = self.kwargs.get(name)
        return default if node is None else bool_arg(self.reader, node, f"{name}=True or False")

    def integers(self, k: int, keyword: str | None = None, default=None):
        """Argument ``k`` (or the keyword) as a literal int or a tuple of ints; ``default`` if absent."""
        node = self.kwargs.get(keyword) if keyword else None
        if node is None:
            node = self.node.args[k] if k < len(self.node.args) else None
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return default
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(int_arg(self.reader, el, "an integer") for el in node.elts)
        return int_arg(self.reader, node, "an integer")

    def string(self, k: int):
        """Argument ``k`` if it is a literal string, else None."""
        args = self.node.args
        if k < len(args) and isinstance(args[k], ast.Constant) and isinstance(args[k].value, str):
            return args[k].value
        return None

    def fail(self, message, expected=None, cls=TensorSyntaxError, at=None):
        """Raise an error located at the call, or at its argument number ``at``."""
        self.reader.fail(self.node if at is None else self.node.args[at], message, expected, cls)

    @staticmethod
    def product(node, labels=None) -> Prod:
        """The product of one IR node (fresh labels unless ``labels`` are given)."""
        return Prod.of(node, labels)

    @staticmethod
    def fresh_label():
        """A label no index name can equal."""
        return fresh_label()

    def multiply(self, a: Prod, b: Prod) -> Prod:
        """``a * b``, broadcast as the operator does."""
        return self.reader.binop("*", a, b, self.node)

    def matmul(self, a: Prod, b: Prod) -> Prod:
        """``a @ b``."""
        return self.reader.matmul(a, b, self.node)

    def elementwise(self, formula, p: Prod) -> Prod:
        """The element-wise function ``formula`` (a SymPy formula in ir.T) of p."""
        return self.reader.elementwise(formula, p)

    def argument(self, pos: int, keyword: str):
        """The syntax of the argument at position ``pos`` or keyword ``keyword``, None if absent."""
        if keyword in self.kwargs and len(self.node.args) > pos:
            self.fail(f"{self.name}: {keyword} given twice")
        return self.kwargs.get(keyword, self.node.args[pos] if len(self.node.args) > pos else None)

    def tensors(self, k: int) -> list:
        """Argument ``k``, a list or tuple of tensors (``concatenate([a, b])``), each read."""
        node = self.node.args[k] if k < len(self.node.args) else None
        if not isinstance(node, (ast.List, ast.Tuple)):
            self.fail(f"{self.name} takes a list of tensors", expected=f"{self.name}([a, b, ...])",
                      at=k if node is not None else None)
        return [as_prod(self.reader.expr(x)) for x in node.elts]

    def integers(self, k: int, keyword: str):
        """Argument ``k`` (or ``keyword``): a literal integer or a tuple of them."""
        node = self.argument(k, keyword)
        if node is None:
            self.fail(f"{self.name} needs {keyword}", expected=f"an integer {keyword}")
        if isinstance(node, ast.Tuple):
            return tuple(int_arg(self.reader, x, f"an integer {keyword}") for x in node.elts)
        return int_arg(self.reader, node, f"an integer {keyword}")
