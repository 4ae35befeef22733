"""Lowering before code generation: an inverse that is only ever applied becomes solves.

Why: derivative rules of inv, det, logdet and solve are written with the inverse (∂ log det A / ∂A =
A⁻ᵀ; ∂ solve(A, b) / ∂A = -A⁻¹ ⊗ x), which is the form a reader expects to see. But where the
inverse only ever meets vectors in contractions — A⁻ᵀ x̄ in a gradient through solve, bᵀA⁻¹b and
its gradient — forming it costs about 2n³ where an LU solve with one right-hand side costs
⅔n³ (and the inverse-based singularity check more again; a solve's is LAPACK's condition estimate).
So, just before code is generated, each such ``inv(A)[r, c] Y[c, …]`` becomes ``solve(A, Y)[r, …]`` (``Y[r, …] inv(A)[r, c]`` becomes
``solve(Aᵀ, Y)[c, …]``), Y being the product of the factors that share the summed index. The
expression the user sees (LaTeX, matrix notation) keeps A⁻¹; only the generated code differs.

Reverse mode keeps its inverses: it forms each partial (-A⁻¹ ⊗ x) before the partial meets its
adjoint, so there the inverse is a factor of a formed tensor, not applied; the fused modes
(forward and cross-country, compressed) contract it directly. An inverse is replaced only when
every use of it can be (otherwise it is formed anyway and solves
would be extra work) and it takes at most ``MAX_SOLVES`` solves (each about a third of an
inverse's cost), and only for a single matrix (a stack keeps its batched inverse).
"""
from __future__ import annotations

from .. import ir
from ..graph import topological

MAX_SOLVES = 2

# solve node id -> the inverse it applies, as the user wrote it (for error messages: "inv(A)
# (applied as a solve): the matrix is singular"). Node ids are never reused.
APPLIED: dict = {}


def _is_inverse(n: ir.Node) -> bool:
    return isinstance(n, ir.General) and n.name == "inv" and n.rank == 2


def _transpose(a: ir.Node) -> ir.Node:
    return ir.Einsum.make([a], [(0, 1)], (1, 0))


def _solve_of(inverse: ir.Node, a: ir.Node, y: ir.Node) -> ir.Node:
    """solve(a, y) for a vector y, remembered as the application of ``inverse`` (its messages name
    the inverse)."""
    from ..primitives.linalg import SOLVE
    node = SOLVE.make((a, y), {})
    inner = inverse.args[0]
    APPLIED.setdefault(node.id, f"inv({inner.name if isinstance(inner, ir.Var) else '…'}) "
                                "(applied as a solve)")
    return node


def _apply_one(e_ops, e_ins, out, k, a):
    """Operand k (inv(a)) of the product (e_ops, e_ins -> out) replaced by a solve, or None when its
    indices are both kept (the inverse itself is a factor of the result)."""
    r, c = e_ins[k]
    for summed, other, matrix in ((c, r, a), (r, c, None)):
        if summed in out or summed == other:
            continue
        group = [j for j, labels in enumerate(e_ins) if j != k and summed in labels]
        if any(_is_inverse(e_ops[j]) and e_ops[j] is e_ops[k] for j in group):
            continue  # the same inverse on both sides of the index: inv(A)², not a solve of it
        rest_ops = [j for j in range(len(e_ops)) if j != k and j not in group]
        needed = set(out) | {l for j in rest_ops for l in e_ins[j]} | {other}
        kept = []
        for j in group:
            for l in e_ins[j]:
                if l != summed and l in needed and l not in kept:
                    kept.append(l)
        if kept:
            continue  # a matrix of right-hand sides: LU plus n triangular solves costs more than inv + GEMM
        if group:
            y = ir.Einsum.make([e_ops[j] for j in group], [e_ins[j] for j in group], (summed,) + tuple(kept))
        else:  # Σ_c inv(A)[r, c]: the inverse applied to a vector of ones
            y = ir.Const.make(1.0, (e_ops[k].shape[1 if summed == c else 0],))
        s = _solve_of(e_ops[k], matrix if matrix is not None else _transpose(a), y)
        ops = [e_ops[j] for j in rest_ops] + [s]
        ins = [e_ins[j] for j in rest_ops] + [(other,) + tuple(kept)]
        return ops, ins
    return None


def _rewrite(e: ir.Einsum, inverse: ir.Node):
    """The product ``e`` with every factor ``inverse`` turned into solves: (node, solves used), or
    None when one of them cannot be."""
    ops, ins, used = list(e.operands), list(e.ins), 0
    a = inverse.args[0]
    while True:
        k = next((j for j, op in enumerate(ops) if op is inverse), None)
        if k is None:
            return ir.Einsum.make(ops, ins, e.out), used
        step = _apply_one(ops, ins, e.out, k, a)
        if step is None:
            return None
        ops, ins = step
        used += 1


def inverses_as_solves(roots):
    """``roots`` with each inverse that is only applied (see the module docstring) replaced by solves."""
    roots = list(roots)
    order = topological(roots)
    root_ids = {r.id for r in roots}
    parents: dict = {}
    for n in order:
        for ch in n.children:
            parents.setdefault(ch.id, {})[n.id] = n
    chosen = set()  # ids of the inverses to replace, decided on the DAG as it is
    for inv in (n for n in order if _is_inverse(n)):
        users = list(parents.get(inv.id, {}).values())
        if inv.id in root_ids or not users or not all(isinstance(p, ir.Einsum) for p in users):
            continue
        tries = [_rewrite(p, inv) for p in users]
        if all(t is not None for t in tries) and sum(used for _, used in tries) <= MAX_SOLVES:
            chosen.add(inv.id)
    if not chosen:
        return roots
    memo: dict = {}     # old id -> rebuilt node, children first
    inverses = set()    # ids of the chosen inverses as rebuilt
    for n in order:
        new = n.with_children([memo.get(ch.id, ch) for ch in n.children]) \
            if any(ch.id in memo for ch in n.children) else n
        if n.id in chosen:
            inverses.add(new.id)
        while isinstance(new, ir.Einsum):
            inv = next((op for op in new.operands if op.id in inverses), None)
            got = _rewrite(new, inv) if inv is not None else None
            if got is None:
                break
            new = got[0]
        if new is not n:
            memo[n.id] = new
    return [memo.get(r.id, r) for r in roots]
