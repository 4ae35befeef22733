"""The code of one node: a visitor with one rule per node kind (the body of codegen.generate).

Each ``visit_<Kind>`` returns the expression computing the node from its children's values; what
the expression needs first (temporaries of a contraction, CSE of a formula) is emitted as
statements before it. ``value(n)`` is a child's value: its variable, or — for constants, unit
tensors and index maps, which have no array of their own — a dense materialisation on demand.
"""
from __future__ import annotations

import numpy

from .. import ir
from ..dims import resolve_shape, shape_str
from ..primitives import lookup
from ..primitives.printing import elementwise_code
from ..visit import Visitor
from .lower import Lowerer, _dedup
from .solves import APPLIED
from .spell import Spell


class NodeCode(Visitor):
    """Statements and value expressions of the nodes of one generated function.

    ``check(node, shape)`` refuses a dense value over the memory budget; ``traceable`` avoids
    data-dependent shortcuts (baselines trace the code); ``symmetric``: symmetric products go
    through ``_rt.gram``; ``largest`` is the largest contraction intermediate seen, in bytes.
    """

    def __init__(self, xp: str, spell: Spell, sizes: dict, shapes: dict, alloc, check,
                 itemsize: int, traceable: bool, symmetric: bool | None = None):
        self.xp, self.spell, self.sizes, self.shapes = xp, spell, sizes, shapes
        self.alloc, self.check, self.itemsize, self.traceable = alloc, check, itemsize, traceable
        self.symmetric = not traceable if symmetric is None else symmetric
        self.lines: list[str] = []
        self.values: dict[int, str] = {}
        self.largest = 0

    def emit(self, expr: str) -> str:
        """A new temporary assigned ``expr``; its name."""
        name = self.alloc.fresh("t")
        self.lines.append(f"{name} = {expr}")
        return name

    def value(self, n: ir.Node) -> str:
        """The expression of a node's dense value (materialising consts/deltas/maps when asked)."""
        if n.id in self.values:
            return self.values[n.id]
        if isinstance(n, ir.Const) and not n.shape:
            return f"{self.xp}.asarray({n.value!r}, dtype=dtype)"
        self.check(n, self.shapes[n.id])  # an inline node materialised here: its bytes count too
        return self.visit(n)

    def visit_Var(self, n: ir.Var) -> str:
        name = self.alloc.param[n.name]
        if n.structure is not None and not self.traceable:  # the declaration's promise, checked
            return self.emit(f"_rt.check_structure({self.xp}, {name}, {n.name!r}, {n.structure!r})")
        return name

    def visit_Const(self, n: ir.Const) -> str:
        return _materialise_const(n, self.xp, self.spell.shape(n.shape))

    def visit_Delta(self, n: ir.Delta) -> str:
        return f"_rt.delta({self.xp}, {self.spell.shape(n.dims)}, dtype)"

    def visit_IndexMap(self, n: ir.IndexMap) -> str:
        A, c, I, J = _map_args(n, self.spell)
        return f"_rt.index_map_dense({self.xp}, {A}, {c}, {I}, {J}, dtype)"

    def visit_Add(self, n: ir.Add) -> str:
        parts = [repr(t.value) if isinstance(t, ir.Const) else self.value(t) for t in n.terms]
        expr = " + ".join(parts).replace("+ -", "- ")
        if all(isinstance(t, (ir.Const, ir.Delta)) for t in n.terms):
            expr = f"({expr}) + {self.xp}.zeros({self.spell.shape(n.shape)}, dtype)"
        return expr

    def visit_Elementwise(self, n: ir.Elementwise) -> str:
        tmp, expr = elementwise_code(n.fn, [self.value(a) for a in n.args], module=self.xp,
                                     temp=self.alloc.stream("e"))
        self.lines.extend(f"{name} = {e}" for name, e in tmp)
        return expr

    def visit_General(self, n: ir.General) -> str:
        return lookup(n.name).code_of([self.value(a) for a in n.args], n.params, self.xp, self.traceable,
                                      _what(n), self.spell.shape(n.shape))

    def visit_Einsum(self, n: ir.Einsum) -> str:
        spell = self.spell
        low = Lowerer(self.emit, _label_sizes(n, self.sizes), self.xp,
                      {lab: spell.dim(d) for lab, d in n.label_dims.items()} if spell.symbolic else None)
        expr = _einsum_expr(n, low, self.value, self.xp, spell.shape(n.shape), not self.symmetric, spell)
        self.largest = max(self.largest, low.largest * self.itemsize)
        return expr


def _what(n: ir.General) -> str:
    """A short name of the node for error messages (cheap: no printing of the whole argument)."""
    if n.id in APPLIED:
        return APPLIED[n.id]
    inner = ", ".join(_short(a) for a in n.args)
    return f"{n.name}({inner})"


def _short(a: ir.Node) -> str:
    """A variable by name, its transpose as ``Aᵀ`` (a solve with Aᵀ stands for an applied inverse:
    solves.py), anything else by its shape."""
    if isinstance(a, ir.Var):
        return a.name
    if (isinstance(a, ir.Einsum) and len(a.operands) == 1 and isinstance(a.operands[0], ir.Var)
            and a.operands[0].rank == 2 and tuple(a.ins[0]) == tuple(reversed(a.out))):
        return a.operands[0].name + "ᵀ"
    return f"an expression of shape {shape_str(a.shape)}"


def _materialise_const(node, xp, shape_code):
    return f"_rt.full({xp}, {shape_code}, {node.value!r}, dtype)"


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
    pending = list(maps)
    while pending:  # any map that can be a gather or a scatter now goes first; else materialise one
        for k, (m, labels) in enumerate(pending):
            step = _map_step(core, m, labels, out, [l for q, (_, ll) in enumerate(pending) if q != k for l in ll],
                             low, xp, spell)
            if step is not None:
                core = step
                pending.pop(k)
                break
        else:
            m, labels = pending.pop(0)
            A, c, I_shape, J_shape = _map_args(m, spell)
            low._note(labels)
            core.append((low.emit(f"_rt.index_map_dense({xp}, {A}, {c}, {I_shape}, {J_shape}, dtype)"), labels))
    return core


def _map_step(core, m, labels, out, others, low: Lowerer, xp, spell: Spell):
    """``core`` with the map contracted as a gather (J summed) or a scatter-add (I summed), or
    None where neither is possible yet (``others``: the labels of the maps still pending)."""
    r = len(m.in_dims)
    I, J = labels[:r], labels[r:]
    A, c, I_shape, J_shape = _map_args(m, spell)
    elsewhere = set(out) | set(others)
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
        return rest + [(low.emit(expr), result)]
    return None


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
