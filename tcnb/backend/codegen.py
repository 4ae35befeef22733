"""DAG -> one straight-line Python function of array calls, compiled once per size binding.

The generated source is ordinary NumPy-style code on a namespace ``xp`` (numpy or cupy), so
``to_source()`` shows users exactly what runs. Temporaries are deleted after their last use to keep
peak memory near the largest live set; every node's dense size is checked against the memory budget
before anything runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import ir
from ..config import config, human_bytes
from ..dims import resolve_shape, shape_str
from ..errors import MemoryBudgetError
from ..functions import elementwise_code, general_code
from .lower import Lowerer, _dedup


@dataclass
class Generated:
    source: str
    arg_names: list
    largest_bytes: int
    node_bytes: dict = field(default_factory=dict)  # node id -> bytes of its dense value


def _materialise_const(node, xp, shape):
    return f"_rt.full({xp}, {tuple(int(s) for s in shape)}, {node.value!r}, dtype)"


def generate(roots, arg_vars, sizes: dict, itemsize: int = 8, fn_name: str = "tcnb_fn",
             xp: str = "xp", check_budget: bool = True, names: dict | None = None,
             traceable: bool = False) -> Generated:
    """Source of ``def fn_name(xp, _rt, dtype, <vars>)`` returning a tuple of the roots' values.

    ``traceable=True`` avoids data-dependent branches (the symmetric-product shortcut), so the code
    can be traced and differentiated by autograd / JAX / PyTorch for baselines.
    """
    order = ir.topological(list(roots))
    shapes = {n.id: resolve_shape(n.shape, sizes) for n in order}
    root_ids = {r.id for r in roots}
    # which nodes are materialised as arrays of their own
    inline = set()
    for n in order:
        if isinstance(n, (ir.Var,)):
            inline.add(n.id)
        elif isinstance(n, ir.Const) and n.id not in root_ids:
            inline.add(n.id)
        elif isinstance(n, ir.IndexMap) and n.id not in root_ids:
            inline.add(n.id)
        elif isinstance(n, ir.Delta) and not n.dense and n.id not in root_ids:
            inline.add(n.id)  # consumed symbolically by einsum / add; materialised on demand
    node_bytes = {n.id: math.prod(shapes[n.id]) * itemsize for n in order if n.id not in inline}
    if check_budget:
        for n in order:
            if n.id in node_bytes and node_bytes[n.id] > config.memory_budget:
                _refuse(n, shapes[n.id], node_bytes[n.id], names)

    lines: list[str] = []
    value: dict[int, str] = {}
    temps = iter(range(1, 10**9))
    last_temp: list[str] = []

    def emit(expr: str) -> str:
        name = f"t{next(temps)}"
        lines.append(f"{name} = {expr}")
        last_temp.append(name)
        return name

    def val(n: ir.Node) -> str:
        """The expression of a node's dense value (materialising consts/deltas when asked)."""
        if n.id in value:
            return value[n.id]
        if isinstance(n, ir.Const):
            return _materialise_const(n, xp, shapes[n.id]) if n.shape else f"{xp}.asarray({n.value!r}, dtype=dtype)"
        if isinstance(n, ir.Delta):
            return f"_rt.delta({xp}, {tuple(shapes[n.id][:len(n.dims)])}, dtype)"
        if isinstance(n, ir.IndexMap):
            A, c, I, J = _map_args(n, sizes)
            return f"_rt.index_map_dense({xp}, {A}, {c}, {I}, {J}, dtype)"
        raise KeyError(n)

    largest = 0
    for n in order:
        if n.id in inline and isinstance(n, ir.Var):
            value[n.id] = n.name
            continue
        if n.id in inline:
            continue
        if isinstance(n, ir.Const):
            expr = _materialise_const(n, xp, shapes[n.id])
        elif isinstance(n, (ir.Delta, ir.IndexMap)):
            expr = val(n)
        elif isinstance(n, ir.Add):
            parts = []
            for t in n.terms:
                parts.append(repr(t.value) if isinstance(t, ir.Const) else val(t))
            expr = " + ".join(parts).replace("+ -", "- ")
            if all(isinstance(t, ir.Const) or isinstance(t, ir.Delta) for t in n.terms):
                expr = f"({expr}) + {xp}.zeros({tuple(shapes[n.id])}, dtype)"
        elif isinstance(n, ir.Elementwise):
            arg = val(n.arg)
            tmp, expr = elementwise_code(n.fn, arg, module=xp, temp=f"e{n.id}_")
            for name, e in tmp:
                lines.append(f"{name} = {e}")
        elif isinstance(n, ir.General):
            expr = general_code(n, val(n.arg), module=xp)
        elif isinstance(n, ir.Einsum):
            low = Lowerer(emit, _label_sizes(n, sizes), xp)
            expr = _einsum_expr(n, low, val, xp, shapes[n.id], traceable, sizes)
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
    body = _with_deletes(lines, set(rets))
    args = ", ".join(["xp", "_rt", "dtype"] + [v.name for v in arg_vars])
    src = f"def {fn_name}({args}):\n"
    src += "".join(f"    {l}\n" for l in body)
    src += f"    return ({', '.join(rets)},)\n"
    return Generated(src, [v.name for v in arg_vars], largest, node_bytes)


def _refuse(node, shape, nbytes, names):
    what = (names or {}).get(node.id, "an intermediate result")
    raise MemoryBudgetError(
        f"{what} would be a dense array of shape {shape} = {human_bytes(nbytes)}, over the memory budget "
        f"of {human_bytes(config.memory_budget)}",
        expected="the compressed form (.structured()), hvp(...) instead of a full Hessian, smaller sizes, "
                 "or a larger tcnb.config.memory_budget")


def _label_sizes(n: ir.Einsum, sizes):
    return {lab: int(resolve_shape((d,), sizes)[0]) for lab, d in n.label_dims.items()}


def _einsum_expr(n: ir.Einsum, low: Lowerer, val, xp: str, out_shape, traceable=False, sizes=None) -> str:
    """Core product of the tensor operands, then scalar factor, broadcasting and diagonal embedding."""
    coef = 1.0
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
        core = _apply_index_maps(core, maps, distinct, low, xp, sizes)
    covered = {l for _, labels in core for l in labels}
    # ones-labels not in the output and not covered: a sum over them is a factor of their size
    for l in _dedup(ones_labels):
        if l not in covered and l not in distinct:
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
    if expr is None:  # a product of constants only (a count such as m * n)
        expr = f"{xp}.asarray({coef!r}, dtype=dtype)"
    elif coef != 1.0:
        expr = f"{coef!r} * {low.named(expr)}"
    if core_out != distinct:  # broadcast over labels only a ones-tensor has
        dshape = tuple(low.sizes[l] for l in distinct)
        if core_out:
            expr = f"{xp}.broadcast_to({low.align(low.named(expr), core_out, distinct)}, {dshape})"
        else:
            expr = f"{xp}.full({dshape}, {expr}, dtype)"
    if out != distinct:  # unit tensors in the result: write onto the diagonal of a zero tensor
        expr = f"_rt.embed_diagonal({xp}, {low.named(expr)}, {out}, {distinct}, {tuple(out_shape)})"
    return expr


def _with_deletes(lines, keep: set) -> list:
    """Insert ``del`` after the last use of each temporary (not the returned ones)."""
    import re
    defined, last_use = {}, {}
    for k, line in enumerate(lines):
        name, rhs = line.split(" = ", 1)
        defined.setdefault(name, k)
        for tok in re.findall(r"\b[te]\w*\d\b|\bt\d+\b", rhs):
            last_use[tok] = k
    out = []
    dels: dict[int, list] = {}
    for name, k in last_use.items():
        if name in defined and name not in keep:
            dels.setdefault(k, []).append(name)
    for k, line in enumerate(lines):
        out.append(line)
        if k in dels:
            out.append("del " + ", ".join(sorted(set(dels[k]))))
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


def _map_args(m: ir.IndexMap, sizes):
    from ..dims import resolve
    c = tuple(int(resolve(o, sizes)) for o in m.offset)
    return m.matrix, c, resolve_shape(m.in_dims, sizes), resolve_shape(m.out_dims, sizes)


def _apply_index_maps(core, maps, out, low: Lowerer, xp, sizes):
    """Contract each selection tensor S[I, J] as a gather (J summed) or a scatter-add (I summed);
    only a map whose I and J both survive is materialised as a 0/1 array."""
    import numpy
    core = list(core)
    for k, (m, labels) in enumerate(maps):
        r = len(m.in_dims)
        I, J = labels[:r], labels[r:]
        A, c, I_shape, J_shape = _map_args(m, sizes)
        elsewhere = set(out) | {l for mm, ll in maps[k + 1:] for l in ll}
        for side, own, other in (("gather", J, I), ("scatter", I, J)):
            if set(own) & elsewhere or len(set(own)) != len(own) or set(own) & set(other):
                continue
            group = [q for q, (_, l) in enumerate(core) if set(l) & set(own)]
            if not group:
                continue
            rest = [core[q] for q in range(len(core)) if q not in group]
            needed = elsewhere | {l for _, l in rest for l in l} | set(other)
            parts = [core[q] for q in group]
            labels_g = _dedup(l for _, l in parts for l in l)
            keep = tuple(l for l in labels_g if l in needed or l in own)
            t = low.named(low.product(parts, keep)) if len(parts) > 1 or parts[0][1] != keep else parts[0][0]
            if any(keep.count(l) > 1 for l in own):
                continue
            axes = tuple(keep.index(l) for l in own)
            remaining = tuple(l for l in keep if l not in own)
            if side == "gather":
                expr = f"_rt.gather({xp}, {t}, {axes}, {A}, {c}, {I_shape}, {J_shape})"
                core = rest + [(low.emit(expr), tuple(I) + remaining)]
            else:
                injective = numpy.linalg.matrix_rank(numpy.array(A, dtype=float).reshape(len(A), r)) == r if A else r == 0
                expr = f"_rt.scatter({xp}, {t}, {axes}, {A}, {c}, {I_shape}, {J_shape}, {bool(injective)})"
                core = rest + [(low.emit(expr), tuple(J) + remaining)]
            break
        else:
            core.append((low.emit(f"_rt.index_map_dense({xp}, {A}, {c}, {I_shape}, {J_shape}, dtype)"), labels))
    return core
