"""Array syntax: NumPy's operators on whole tensors, read into pending products.

``+ - * / **`` broadcast by dimension symbol (aligned from the right; a size-1 axis stretches, as in
NumPy), ``@`` is ``matmul`` with batch axes, ``.T`` reverses the axes, ``x[:, None]`` adds a new
axis. Element-wise functions apply to a product's node, with the stable rewrites
(``log(softmax(z))`` = ``z - logsumexp(z)``, ``functions.canonical_formula``). Index notation
(indices.py) is this reader with index names in place of positions.
"""
from __future__ import annotations

import ast
import math

import sympy

from .. import ir
from ..dims import shape_str
from ..errors import ShapeError, TcnbError, TensorSyntaxError
from ..functions import canonical_formula, make_general
from . import calls, slicing
from .products import Prod, as_prod, fresh_label
from .scope import Scope

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}


class ArrayReader:
    """Reads one expression in array syntax to a :class:`Prod` (a tensor) or a float (a constant)."""

    index_notation = False  # whether indices name the axes (indices.IndexReader)

    def __init__(self, scope: Scope):
        self.scope = scope
        self.src = scope.src

    def fail(self, node, message, expected=None, cls=TensorSyntaxError):
        """Raise ``cls(message)`` located at ``node``."""
        self.src.fail(node, message, expected, cls)

    def expr(self, e):
        """Evaluate an expression to a Prod (tensor) or a Python number (constant)."""
        try:
            return self._expr(e)
        except TcnbError as err:
            raise self.src.locate(err, e) from None

    def _expr(self, e):
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool) or not isinstance(e.value, (int, float)):
                self.fail(e, f"unsupported constant {e.value!r}", expected="a number")
            if not math.isfinite(float(e.value)):  # 1e309 is read by Python as inf
                self.fail(e, f"the number {ast.get_source_segment(self.src.text, e) or e.value} is too large "
                          "for a float (it would be inf)", expected="a finite number, at most about 1.8e308")
            return float(e.value)
        if isinstance(e, ast.Name):
            return self.name(e)
        if isinstance(e, ast.UnaryOp):
            if isinstance(e.op, ast.USub):
                v = self.expr(e.operand)
                return -v if not isinstance(v, Prod) else v.scaled(-1.0)
            if isinstance(e.op, ast.UAdd):
                return self.expr(e.operand)
            self.fail(e, "unsupported operator", expected="+ - * / ** @")
        if isinstance(e, ast.BinOp):
            op = _BINOPS.get(type(e.op))
            if op is None:
                self.fail(e, "unsupported operator", expected="+ - * / ** @")
            return self.binop(op, self.expr(e.left), self.expr(e.right), e)
        if isinstance(e, ast.Attribute):
            if e.attr == "T":
                v = self.expr(e.value)
                return self.transpose(v, e) if isinstance(v, Prod) else v
            self.fail(e, f"unknown attribute .{e.attr}", expected=".T")
        if isinstance(e, ast.Call):
            return calls.read_call(self, e)
        if isinstance(e, ast.Subscript):
            return self.subscript(e)
        if isinstance(e, ast.Compare):
            self.fail(e, "a comparison is only allowed as the condition of where(...)",
                      expected="where(x > y, a, b), or maximum/minimum/clip for a bound")
        what = type(e).__name__
        self.fail(e, f"unsupported syntax: {what}", expected="arithmetic, @, .T, function calls, indexing")

    # ------------------------------------------------------------------ names and axes
    def tensor(self, e: ast.Name) -> Prod:
        """The declared or defined tensor ``e`` names, or an error saying what the name is instead."""
        n = e.id
        node = self.scope.tensor(n)
        if node is None:
            if self.scope.is_function(n):
                self.fail(e, f"'{n}' is a function", expected=f"a call like {n}(x)")
            elif n in self.scope.dim_names:
                self.fail(e, f"'{n}' is a dimension symbol, not a tensor", expected="a declared tensor")
            self.fail(e, f"undeclared name '{n}'", expected=f"a declaration like {n}: R[n] before its first use")
        return Prod.of(node)

    def name(self, e: ast.Name) -> Prod:
        """A name in an expression: the whole tensor."""
        return self.tensor(e)

    def transpose(self, v: Prod, e) -> Prod:
        """``v.T``: the axes reversed."""
        return Prod(v.factors, tuple(reversed(v.out)), v.dims)

    def subscript(self, e: ast.Subscript) -> Prod:
        """``x[:, None]``: NumPy's new axis of size 1, broadcast against whatever it meets; slices
        and integer indices (``x[1:]``, ``X[0]``) are index maps (slicing.py)."""
        elts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        if not slicing.is_plain(elts):
            return slicing.read(self, e, elts)  # x[1:], X[0], x[::2], X[..., 0]: index maps
        base = as_prod(self.expr(e.value))
        if sum(isinstance(x, ast.Slice) for x in elts) != len(base.out):
            self.fail(e, f"{sum(isinstance(x, ast.Slice) for x in elts)} ':' for a tensor of rank {len(base.out)}",
                      expected=f"{len(base.out)} ':' plus any number of None", cls=ShapeError)
        it = iter(base.out)
        out, dims = [], dict(base.dims)
        for x in elts:
            if isinstance(x, ast.Slice):
                out.append(next(it))
            else:
                lab = fresh_label()
                dims[lab] = sympy.Integer(1)
                out.append(lab)
        return Prod(base.factors, tuple(out), dims)

    # ------------------------------------------------------------------ operators
    def binop(self, op, a, b, e):
        """``a op b`` for tensors (Prod) and numbers (float)."""
        na, nb = not isinstance(a, Prod), not isinstance(b, Prod)
        if na and nb:
            return _fold(op, a, b, self, e)
        if op == "*":
            if na:
                return b.scaled(a)
            if nb:
                return a.scaled(b)
            a, b, out = self.broadcast(a, b, e)
            return a.times(b, out)
        if op == "/":
            if nb:
                if b == 0:
                    self.fail(e, "division by the constant zero")
                return a.scaled(1.0 / b)
            recip = self.elementwise(1 / ir.T, b)
            return self.binop("*", a, recip, e)
        if op in "+-":
            if na:
                a = Prod.of(ir.Const.make(a), ())
            if nb:
                b = Prod.of(ir.Const.make(b), ())
            if op == "-":
                b = b.scaled(-1.0)
            a, b, out = self.broadcast(a, b, e)
            dims = {**a.dims, **b.dims}
            terms = [expand(p, out, dims) for p in (a, b)]
            return Prod.of(ir.add(*terms), out)
        if op == "**":
            if nb:
                return self.elementwise(ir.T ** sympy.nsimplify(b, rational=True) if float(b).is_integer()
                                        or b in (0.5, -0.5) else ir.T ** sympy.Float(b), a)
            if na:
                if a <= 0:
                    self.fail(e, "a non-positive constant to a tensor power", expected="a positive base")
                return self.elementwise(sympy.Float(a) ** ir.T, b)
            return self.elementwise(sympy.exp(ir.T), self.binop("*", b, self.elementwise(sympy.log(ir.T), a), e))
        if op == "@":
            if na or nb:
                self.fail(e, "@ needs two tensors", expected="use * to scale by a number")
            return self.matmul_operator(a, b, e)
        self.fail(e, f"unsupported operator {op}")

    def matmul_operator(self, a: Prod, b: Prod, e) -> Prod:
        """``a @ b`` written as an operator."""
        return self.matmul(a, b, e)

    def broadcast(self, a: Prod, b: Prod, e):
        """Broadcasting by dimension symbol: align from the right, equal symbols share a label;
        returns a and b relabelled and the labels of the result."""
        ra, rb = len(a.out), len(b.out)
        r = max(ra, rb)
        out = []
        mapping = {}
        for k in range(r):
            ia, ib = k - (r - ra), k - (r - rb)
            la = a.out[ia] if ia >= 0 else None
            lb = b.out[ib] if ib >= 0 else None
            if la is not None and lb is not None:
                a, b = self.stretch_pair(a, la, b, lb, e, "shapes {} and {} do not broadcast")
                mapping[lb] = la
                out.append(la)
            else:
                out.append(la if la is not None else lb)
                if lb is not None:
                    mapping[lb] = lb
        b = b.renamed(mapping)
        return a, b, tuple(out)

    def broadcast_all(self, ps: list, e) -> list:
        """Operands of an element-wise function broadcast to one shape, as ``+`` broadcasts them;
        scalars stay scalars (the function broadcasts them itself)."""
        full = [p for p in ps if p.out]
        if not full:
            return [p for p in ps]
        target = full[0]
        for p in full[1:]:
            a, b, out = self.broadcast(target, p, e)
            target = Prod.of(expand(a, out, {**a.dims, **b.dims}), out)
        result = []
        for p in ps:
            if not p.out:
                result.append(p)
                continue
            a, b, out = self.broadcast(target, p, e)
            result.append(Prod.of(expand(b, out, {**a.dims, **b.dims}), out))
        return result

    def stretch_pair(self, a: Prod, la, b: Prod, lb, e, what: str):
        """Axes la of a and lb of b meet: equal dimension symbols, or one of them is 1 and is
        broadcast to the other (NumPy), whether it is a new axis or a declared size-1 axis."""
        da, db = a.dims[la], b.dims[lb]
        if da == db:
            return a, b
        if da == 1:
            return a.stretched(la, db), b
        if db == 1:
            return a, b.stretched(lb, da)
        self.fail(e, what.format(shape_str(a.shape), shape_str(b.shape)) + f": dimension {da} against {db}",
                  expected="equal dimension symbols, or 1", cls=ShapeError)

    def matmul(self, a: Prod, b: Prod, e) -> Prod:
        """NumPy's ``matmul``: contract the last axis of a with the first (vector) or second-to-last
        axis of b; batch axes broadcast."""
        ra, rb = len(a.out), len(b.out)
        if ra == 0 or rb == 0:
            self.fail(e, "@ with a scalar", expected="tensors of rank ≥ 1; use * for scaling", cls=ShapeError)
        ka = a.out[-1]
        kb = b.out[0] if rb == 1 else b.out[-2]
        if a.dims[ka] != b.dims[kb]:
            self.fail(e, f"@ contracts dimension {a.dims[ka]} of {shape_str(a.shape)} with {b.dims[kb]} "
                         f"of {shape_str(b.shape)}", expected="equal inner dimension symbols", cls=ShapeError)
        b = b.renamed({kb: ka, **{l: l for l in b.out if l != kb}})
        a_batch, b_batch = list(a.out[:-2]), list(b.out[:-2])
        mapping = {}
        for k in range(1, min(len(a_batch), len(b_batch)) + 1):
            la, lb = a_batch[-k], b_batch[-k]
            a, b = self.stretch_pair(a, la, b, lb, e, "the batch axes of {} @ {} do not broadcast")
            mapping[lb] = la
        if mapping:
            b = b.renamed({**{l: l for l in b.out}, **mapping})
            b_batch = [mapping.get(l, l) for l in b_batch]
        batch = a_batch if len(a_batch) >= len(b_batch) else b_batch
        rows = [a.out[-2]] if ra >= 2 else []
        cols = [b.out[-1]] if rb >= 2 else []
        return a.times(b, tuple(batch) + tuple(rows) + tuple(cols))

    # ------------------------------------------------------------------ element-wise functions
    def elementwise(self, formula, v):
        """The element-wise function ``formula`` (in ir.T) of v, rewritten where a composition is
        numerically fragile."""
        if not isinstance(v, Prod):
            return float(sympy.sympify(formula).subs(ir.T, v))
        new_axes = v.uncovered()  # x[:, None]: f acts on x and the new axis stays one to broadcast
        kept = tuple(l for l in v.out if l not in new_axes)
        inner = v.over(kept).node()
        if sympy.sympify(formula) == sympy.log(ir.T) and isinstance(inner, ir.General) and inner.name == "softmax":
            return with_axes(log_softmax(inner, v.over(kept)), v)
        node = ir.Elementwise.make(formula, inner)
        if isinstance(node, ir.Elementwise):
            node = ir.Elementwise.make(canonical_formula(node.fn), node.args)
        return with_axes(Prod.of(node, kept), v)

    def elementwise_of_several(self, formula, values, e):
        """The element-wise function ``formula`` (in t, t1, ...) of the values, broadcast to one
        shape as NumPy broadcasts the arguments of a binary function."""
        if not any(isinstance(v, Prod) for v in values):
            return _numeric(formula, values)
        prods = [v if isinstance(v, Prod) else Prod.of(ir.Const.make(v), ()) for v in values]
        acc, aligned = prods[0], [prods[0]]
        for p in prods[1:]:
            acc, p, out = self.broadcast(acc, p, e)
            acc = Prod.of(ir.Const.make(1.0, tuple({**acc.dims, **p.dims}[l] for l in out)), out)
            aligned.append(p)
        out, dims = acc.out, acc.dims
        for p in aligned:
            dims = {**p.dims, **dims}
        nodes = [expand(p, out, dims) for p in aligned]
        node = ir.Elementwise.make(formula, nodes)
        if isinstance(node, ir.Elementwise):
            node = ir.Elementwise.make(canonical_formula(node.fn), node.args)
        return Prod.of(node, out)


def _numeric(formula, values) -> float:
    return float(sympy.sympify(formula).xreplace(dict(zip(ir.ARGS, map(sympy.Float, values)))))


def expand(p: Prod, out, dims) -> ir.Node:
    """Materialise p over the labels ``out``, broadcasting with a ones-tensor where p lacks a label."""
    missing = [l for l in out if l not in p.out]
    if missing:
        p = p.times(Prod.of(ir.Const.make(1.0, tuple(dims[l] for l in missing)), missing))
    return p.over(out).node()


def with_axes(p: Prod, v: Prod) -> Prod:
    """p over v's output labels: the new axes of v that p lacks come back as new axes."""
    if p.out == v.out:
        return p
    return Prod(p.factors, v.out, {**p.dims, **{l: v.dims[l] for l in v.out if l not in p.dims}})


def log_softmax(sm: ir.General, v: Prod) -> Prod:
    """log(softmax(z)) = z - logsumexp(z): finite where softmax underflows, and so are its
    derivatives (which otherwise divide by the probabilities)."""
    z = sm.arg
    axis = dict(sm.params).get("axis")
    lse = make_general("logsumexp", z, sm.params)
    labels = v.out
    kept = labels if axis is None else tuple(l for k, l in enumerate(labels) if k != axis)
    if axis is None:
        kept = ()
    lse_p = Prod.of(lse, kept)
    dims = dict(v.dims)
    terms = [Prod.of(z, labels).node(), expand(lse_p.scaled(-1.0), labels, dims)]
    return Prod.of(ir.add(*terms), labels)


def _fold(op, a, b, reader, e):
    """``a op b`` of two numbers, folded at parse time."""
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "**":
            r = a ** b
            if isinstance(r, complex):
                reader.fail(e, "a negative number to a fractional power")
            return float(r)
    except ZeroDivisionError:
        reader.fail(e, "division by zero")
    except OverflowError:
        reader.fail(e, "a constant overflows")
    reader.fail(e, f"{op} of two numbers", expected="a tensor operand")
