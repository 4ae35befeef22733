"""DAG -> one straight-line Python function of array calls, compiled once per size binding.

The generated source is ordinary NumPy-style code on a namespace ``xp`` (numpy or cupy), so
``to_source()`` shows users exactly what runs. Temporaries are deleted after their last use to keep
peak memory near the largest live set; every node's dense size is checked against the memory budget
before anything runs. With ``symbolic=True`` every size in the code is an expression of variables
holding the sizes (``n``, ``m + n - 1``) instead of an integer, for standalone modules
(standalone.py) that are correct at any sizes.
"""
from __future__ import annotations

import ast
import itertools
import linecache
import math
import weakref

import numpy
import sympy
from dataclasses import dataclass, field

from .. import ir
from ..config import config, human_bytes
from ..dims import resolve, resolve_shape, shape_str
from ..errors import MemoryBudgetError
from ..primitives import lookup
from ..primitives.printing import elementwise_code
from .lower import Lowerer, _dedup
from .names import Names


@dataclass
class Generated:
    """One generated function: its source, argument names and memory estimates, and its parts

    (body, returned expressions, parameters) for standalone modules to reassemble.
    """
    source: str
    arg_names: list
    largest_bytes: int
    node_bytes: dict = field(default_factory=dict)  # node id -> bytes of its dense value
    fn_name: str = "tcnb_fn"
    body: list = field(default_factory=list)        # the function's statements (no def, no return)
    rets: list = field(default_factory=list)        # the returned expressions, one per root
    params: list = field(default_factory=list)      # parameter names of the variables, in order
    size_names: dict = field(default_factory=dict)  # symbolic: dimension symbol -> local variable


def tuple_code(items) -> str:
    """A tuple display of code strings, written as Python writes a tuple of ints: (3,), (2, 3)."""
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def dim_code(d, local: dict) -> str:
    """Python code of a dimension (``m + n - 1``) in the local variables holding the sizes."""
    d = sympy.sympify(d)
    if d.is_Integer:
        return str(int(d))
    if d.is_Symbol:
        return local[d.name]
    renamed = d.xreplace({s: sympy.Symbol(local[s.name]) for s in d.free_symbols})
    if d.is_polynomial() and all(c.is_Integer for c in sympy.Poly(d).coeffs()):
        return str(renamed)
    return f"int({sympy.pycode(renamed, fully_qualified_modules=True)})"  # (math is imported)


class Spell:
    """How generated code writes a size: its integer at the planning sizes, or (``local`` given:
    standalone code, correct at any sizes) an expression of the variables holding the sizes.
    Either way the contraction order is the one planned for ``sizes``."""

    def __init__(self, sizes: dict, local: dict | None = None):
        self.sizes = sizes
        self.local = local

    @property
    def symbolic(self) -> bool:
        """True when sizes are written as expressions (standalone code), not integers."""
        return self.local is not None

    def dim(self, d) -> str:
        """Code for one dimension: its integer, or its expression in the size variables."""
        return str(int(resolve(d, self.sizes))) if self.local is None else dim_code(d, self.local)

    def shape(self, dims) -> str:
        """Code for a shape tuple, each dimension spelled by dim()."""
        return tuple_code(self.dim(d) for d in dims)


def _materialise_const(node, xp, shape_code):
    return f"_rt.full({xp}, {shape_code}, {node.value!r}, dtype)"


def shape_symbols(roots, arg_vars) -> list:
    """Names of every dimension symbol that the roots' nodes (shapes, index-map offsets) and the
    variables' shapes use, sorted."""
    out = set()
    for n in ir.topological(list(roots)) + list(arg_vars):
        for d in tuple(n.shape) + tuple(getattr(n, "offset", ())):
            out |= {s.name for s in sympy.sympify(d).free_symbols}
    return sorted(out)


def generate(roots, arg_vars, sizes: dict, itemsize: int = 8, fn_name: str = "tcnb_fn",
             xp: str = "xp", check_budget: bool = True, names: dict | None = None,
             traceable: bool = False, symbolic: bool = False, reserved=()) -> Generated:
    """Source of ``def fn_name(xp, _rt, dtype, <vars>)`` returning a tuple of the roots' values.

    Parameters are the variables' names unless generated code needs that name (``xp``, ``t1``, or
    one of ``reserved``): then a dummy (``v_xp``); ``arg_names`` stays the user's names, in
    parameter order. ``traceable=True`` avoids data-dependent branches (the symmetric-product
    shortcut), so the code can be traced and differentiated by autograd / JAX / PyTorch for
    baselines. ``symbolic=True`` writes every shape, offset and size factor in local variables
    named in ``size_names`` (one per dimension symbol, set by the caller's prologue), so the body
    is correct at any sizes; ``sizes`` then only plan the contraction order.
    """
    order = ir.topological(list(roots))
    shapes = {n.id: resolve_shape(n.shape, sizes) for n in order}
    root_ids = {r.id for r in roots}
    alloc = Names([v.name for v in arg_vars], fixed=(xp, "_rt", "dtype", fn_name) + tuple(reserved))
    size_names = {s: alloc.local(s) for s in shape_symbols(roots, arg_vars)} if symbolic else {}
    spell = Spell(sizes, size_names if symbolic else None)
    inline = {n.id for n in order if _inline(n, root_ids)}
    node_bytes = {n.id: math.prod(shapes[n.id]) * itemsize for n in order if n.id not in inline}

    def check(n, shape):
        if check_budget and math.prod(shape) * itemsize > config.memory_budget:
            _refuse(n, shape, math.prod(shape) * itemsize, names)

    if check_budget:
        for n in order:
            if n.id in node_bytes:
                check(n, shapes[n.id])

    lines: list[str] = []
    value: dict[int, str] = {}

    def emit(expr: str) -> str:
        name = alloc.fresh("t")
        lines.append(f"{name} = {expr}")
        return name

    def val(n: ir.Node) -> str:
        """The expression of a node's dense value (materialising consts/deltas when asked)."""
        if n.id in value:
            return value[n.id]
        if isinstance(n, ir.Const) and not n.shape:
            return f"{xp}.asarray({n.value!r}, dtype=dtype)"
        check(n, shapes[n.id])  # an inline node materialised here: its bytes count too
        if isinstance(n, ir.Const):
            return _materialise_const(n, xp, spell.shape(n.shape))
        if isinstance(n, ir.Delta):
            return f"_rt.delta({xp}, {spell.shape(n.dims)}, dtype)"
        if isinstance(n, ir.IndexMap):
            A, c, I, J = _map_args(n, spell)
            return f"_rt.index_map_dense({xp}, {A}, {c}, {I}, {J}, dtype)"
        raise KeyError(n)

    largest = 0
    for n in order:
        if isinstance(n, ir.Var):
            value[n.id] = alloc.param[n.name]
            continue
        if n.id in inline:
            continue
        if isinstance(n, ir.Const):
            expr = _materialise_const(n, xp, spell.shape(n.shape))
        elif isinstance(n, (ir.Delta, ir.IndexMap)):
            expr = val(n)
        elif isinstance(n, ir.Add):
            parts = []
            for t in n.terms:
                parts.append(repr(t.value) if isinstance(t, ir.Const) else val(t))
            expr = " + ".join(parts).replace("+ -", "- ")
            if all(isinstance(t, ir.Const) or isinstance(t, ir.Delta) for t in n.terms):
                expr = f"({expr}) + {xp}.zeros({spell.shape(n.shape)}, dtype)"
        elif isinstance(n, ir.Elementwise):
            arg = val(n.arg)
            tmp, expr = elementwise_code(n.fn, arg, module=xp, temp=alloc.stream("e"))
            for name, e in tmp:
                lines.append(f"{name} = {e}")
        elif isinstance(n, ir.General):
            expr = lookup(n.name).code_of([val(a) for a in n.args], n.params, xp, traceable, _what(n))
        elif isinstance(n, ir.Einsum):
            low = Lowerer(emit, _label_sizes(n, sizes), xp,
                          {lab: spell.dim(d) for lab, d in n.label_dims.items()} if symbolic else None)
            expr = _einsum_expr(n, low, val, xp, spell.shape(n.shape), traceable, spell)
            largest = max(largest, low.largest * itemsize)
        else:  # pragma: no cover - every node kind is handled above
            raise TypeError(f"no code for {type(n).__name__}")
        if n.id in root_ids and (isinstance(n, ir.Einsum) and "broadcast_to" in expr):
            expr = f"{xp}.ascontiguousarray({expr})"
        value[n.id] = expr if expr.isidentifier() else emit(expr)
    if check_budget and largest > config.memory_budget:
        raise MemoryBudgetError(
            f"a contraction needs an intermediate of {human_bytes(largest)}, over the memory budget of "
            f"{human_bytes(config.memory_budget)}", expected="smaller sizes or a larger tcnb.config.memory_budget")

    rets = [val(r) for r in roots]
    body = _with_deletes(lines, set(rets), alloc.temps)
    args = ", ".join([xp, "_rt", "dtype"] + [alloc.param[v.name] for v in arg_vars])
    src = f"def {fn_name}({args}):\n"
    src += "".join(f"    {l}\n" for l in body)
    src += f"    return ({', '.join(rets)},)\n"
    params = [alloc.param[v.name] for v in arg_vars]
    return Generated(src, [v.name for v in arg_vars], largest, node_bytes, fn_name, body, rets, params,
                     size_names)


def _what(n: ir.General) -> str:
    """A short name of the node for error messages (cheap: no printing of the whole argument)."""
    inner = ", ".join(a.name if isinstance(a, ir.Var) else f"an expression of shape {shape_str(a.shape)}"
                      for a in n.args)
    return f"{n.name}({inner})"


def _inline(n: ir.Node, root_ids) -> bool:
    """Nodes with no array of their own: variables are parameters; constants, index maps and
    symbolic unit tensors are consumed by the einsum or sum that uses them (materialised on demand)."""
    if isinstance(n, ir.Var):
        return True
    if n.id in root_ids:
        return False
    return isinstance(n, (ir.Const, ir.IndexMap)) or (isinstance(n, ir.Delta) and not n.dense)


_LOADED = itertools.count(1)


def load(gen: Generated, label: str = "numpy"):
    """Compile generated source into its function, registered with ``linecache`` under a unique
    file name so ``inspect.getsource`` and tracebacks show the generated lines."""
    filename = f"<tcnb generated {label} #{next(_LOADED)}>"
    linecache.cache[filename] = (len(gen.source), None, gen.source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(gen.source, filename, "exec"), namespace)
    fn = namespace[gen.fn_name]
    weakref.finalize(fn, linecache.cache.pop, filename, None)  # the source lives as long as fn
    return fn


def _refuse(node, shape, nbytes, names):
    what = (names or {}).get(node.id, "an intermediate result")
    raise MemoryBudgetError(
        f"{what} would be a dense array of shape {shape} = {human_bytes(nbytes)}, over the memory budget "
        f"of {human_bytes(config.memory_budget)}",
        expected="the compressed form (.structured()), hvp(...) instead of a full Hessian, smaller sizes, "
                 "or a larger tcnb.config.memory_budget")


def _label_sizes(n: ir.Einsum, sizes):
    return {lab: int(resolve_shape((d,), sizes)[0]) for lab, d in n.label_dims.items()}


def _einsum_expr(n: ir.Einsum, low: Lowerer, val, xp: str, out_shape: str, traceable=False,
                 spell: Spell | None = None) -> str:
    """Core product of the tensor operands, then scalar factor, broadcasting and diagonal embedding."""
    coef = 1.0
    size_factors = []  # symbolic code: the sizes of summed ones-labels, as code
    core, ones_labels, maps = [], [], []
    root = ir.unit_tensor_ties(n.operands, n.ins)
    for op, labels in zip(n.operands, n.ins):
        if isinstance(op, ir.IndexMap):
            maps.append((op, labels))
        elif isinstance(op, ir.Const):  # a scalar, or a ones-tensor (broadcast / size factor)
            ones_labels.extend(labels)
            coef *= op.value
        elif not ir.is_kept_delta(op):
            core.append((val(op), labels))
    core = [(e, tuple(root(l) for l in labels)) for e, labels in core]
    ones_labels = [root(l) for l in ones_labels]
    out = tuple(root(l) for l in n.out)
    distinct = _dedup(out)
    maps = [(m, tuple(root(l) for l in labels)) for m, labels in maps]
    if maps:
        core = _apply_index_maps(core, maps, distinct, low, xp, spell)
    # a ones-label that a map carries is summed by its gather/scatter, not a factor of its size
    covered = {l for _, labels in core for l in labels} | {l for _, labels in maps for l in labels}
    # ones-labels not in the output and not covered: a sum over them is a factor of their size
    for l in _dedup(ones_labels):
        if l not in covered and l not in distinct:
            if low.symbolic:
                code = low.spell[l]
                size_factors.append(code if code.isidentifier() or code.isdigit() else f"({code})")
            else:
                coef *= low.sizes[l]
    core_out = tuple(l for l in distinct if l in covered)
    gram = None if traceable else _gram_pattern(core, core_out)
    if gram is not None:
        a, k, others, transposed = gram
        d = low.named(low.product(others, (k,))) if others else "None"
        expr = f"_rt.gram({xp}, {a}, {d})"
    elif core:
        expr = low.product(core, core_out)
    else:
        expr = None
    coef_code = " * ".join(([repr(coef)] if coef != 1.0 or not size_factors else []) + size_factors)
    if expr is None:  # a product of constants only (a count such as m * n)
        expr = f"{xp}.asarray({coef_code}, dtype=dtype)"
    elif coef != 1.0 or size_factors:
        expr = f"{coef_code} * {low.named(expr)}"
    if core_out != distinct:  # broadcast over labels only a ones-tensor has
        dshape = low.shape_code(distinct)
        if core_out:
            expr = f"{xp}.broadcast_to({low.align(low.named(expr), core_out, distinct)}, {dshape})"
        else:
            expr = f"{xp}.full({dshape}, {expr}, dtype)"
    if out != distinct:  # unit tensors in the result: write onto the diagonal of a zero tensor
        expr = f"_rt.embed_diagonal({xp}, {low.named(expr)}, {out}, {distinct}, {out_shape})"
    return expr


def _with_deletes(lines, keep: set, temps: set) -> list:
    """Insert ``del`` after the last use of each temporary (not the returned ones).

    Uses are read from the statements' syntax trees (the names they load), so a user's tensor whose
    name looks like a temporary, or a name inside a string such as an einsum spec, is never mistaken
    for one.
    """
    tree = ast.parse("\n".join(lines)) if lines else ast.Module(body=[], type_ignores=[])
    last_use: dict = {}
    for k, stmt in enumerate(tree.body):
        last_use.setdefault(stmt.targets[0].id, k)  # a temporary never used: dropped at once
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Name) and node.id in temps:
                last_use[node.id] = k
    dels: dict[int, list] = {}
    for name, k in last_use.items():
        if name in temps and name not in keep:
            dels.setdefault(k, []).append(name)
    out = []
    for k, line in enumerate(lines):
        out.append(line)
        if k in dels:
            out.append("del " + ", ".join(sorted(dels[k])))
    return out


def _gram_pattern(core, out):
    """A[k,i] A[k,j] d1[k] d2[k] ... -> (i,j): a symmetric product (Hessians of sums over samples)."""
    if len(out) != 2 or len(core) < 2:
        return None
    mats = [(e, l) for e, l in core if len(l) == 2]
    if len(mats) != 2 or mats[0][0] != mats[1][0]:
        return None
    (a, la), (_, lb) = mats
    if la[0] != lb[0] or la[0] in out or la[1] == lb[1] or {la[1], lb[1]} != set(out):
        return None
    k = la[0]
    others = [(e, l) for e, l in core if len(l) != 2]
    if any(set(l) - {k} for _, l in others):
        return None
    others = [(e, l) for e, l in others if l]  # 0-d operands: keep as factors of d
    if len(others) != len([o for o in core if len(o[1]) != 2]):
        return None
    return a, k, others, (la[1], lb[1]) != out


def _map_args(m: ir.IndexMap, spell: Spell):
    """(matrix, offset code, I shape code, J shape code) of an index map's runtime call."""
    return m.matrix, spell.shape(m.offset), spell.shape(m.in_dims), spell.shape(m.out_dims)


def _apply_index_maps(core, maps, out, low: Lowerer, xp, spell: Spell):
    """Contract each selection tensor S[I, J] as a gather (J summed) or a scatter-add (I summed);
    only a map whose I and J both survive is materialised as a 0/1 array.

    The operand fed to a gather/scatter must carry every summed index of the map. An index only S
    has (``i`` in the gradient of ``sum(conv)``: K[p] S[i, p, j] summed over i and p) is a broadcast:
    each ``i`` contributes K[p] once, so the operand is broadcast over it before the scatter.
    """
    core = list(core)
    for k, (m, labels) in enumerate(maps):
        r = len(m.in_dims)
        I, J = labels[:r], labels[r:]
        A, c, I_shape, J_shape = _map_args(m, spell)
        elsewhere = set(out) | {l for mm, ll in maps[k + 1:] for l in ll}
        for side, own, other in (("gather", J, I), ("scatter", I, J)):
            if set(own) & elsewhere or len(set(own)) != len(own) or set(own) & set(other):
                continue
            group = [q for q, (_, l) in enumerate(core) if set(l) & set(own)]
            rest = [core[q] for q in range(len(core)) if q not in group]
            needed = elsewhere | {l for _, ls in rest for l in ls} | set(other)
            t, keep = _summand(low, [core[q] for q in group], own, needed, xp)
            axes = tuple(keep.index(l) for l in own)
            remaining = tuple(l for l in keep if l not in own)
            if side == "gather":
                expr = f"_rt.gather({xp}, {t}, {axes}, {A}, {c}, {I_shape}, {J_shape})"
                result = tuple(I) + remaining
            else:
                injective = numpy.linalg.matrix_rank(numpy.array(A, dtype=float).reshape(len(A), r)) == r if A else r == 0
                expr = f"_rt.scatter({xp}, {t}, {axes}, {A}, {c}, {I_shape}, {J_shape}, {bool(injective)})"
                result = tuple(J) + remaining
            low._note(result)
            core = rest + [(low.emit(expr), result)]
            break
        else:
            low._note(labels)
            core.append((low.emit(f"_rt.index_map_dense({xp}, {A}, {c}, {I_shape}, {J_shape}, dtype)"), labels))
    return core


def _summand(low: Lowerer, parts, own, needed, xp):
    """(name, labels) of the product of ``parts`` over the labels still needed, broadcast over the
    map's summed indices ``own`` that no part has (ones when no part touches the map at all)."""
    labels = _dedup(l for _, ls in parts for l in ls)
    keep = tuple(l for l in labels if l in needed or l in own)
    if not parts:
        t = None
    elif len(parts) > 1 or parts[0][1] != keep:
        t = low.named(low.product(parts, keep))
    else:
        t = parts[0][0]
    missing = tuple(l for l in own if l not in keep)
    full = keep + missing
    shape = low.shape_code(full)
    if t is None:
        low._note(full)
        return low.emit(f"{xp}.ones({shape}, dtype)"), full
    if not missing:
        return t, keep
    low._note(full)
    return low.emit(f"{xp}.broadcast_to({low.align(t, keep, full)}, {shape})"), full
