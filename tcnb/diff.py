"""Derivatives as tensor expressions: forward, reverse and cross-country mode (Laue et al. §4).

Every node kind declares its local partial derivative once, in the table ``PARTIALS``, as a product
("the other factors") plus the index sets of the node and of the child. Forward mode multiplies a
child's tangent into it, reverse mode multiplies a node's adjoint into it — the same rule, read from
either end. Element-wise rules come from SymPy (``diff`` of the formula), general functions carry
one rule per operand in their record (tcnb/primitives).

Derivative layout: output axes first, then the variable's axes (reference §2, jax.jacobian layout).
"""
from __future__ import annotations

import itertools
import weakref
from typing import Callable, NamedTuple

import sympy

from . import ir
from .einstein import einstein_str
from .errors import DerivativeError
from .graph import reaching, topological, use_counts
from .primitives import lookup

MODES = ("forward", "reverse", "cross-country")
_fresh = itertools.count()


def _labels(prefix, r):
    k = next(_fresh)
    return tuple((prefix, k, a) for a in range(r))


class Partial(NamedTuple):
    """d node[node_labels] / d child[child_labels] = Σ Π factors (labels shared = equal indices)."""
    factors: list          # [(node, labels)]
    node_labels: tuple
    child_labels: tuple


def _einsum_partials(node: ir.Einsum):
    for k, child in enumerate(node.operands):
        if isinstance(child, (ir.Const, ir.Delta)):
            continue
        others = [(op, labels) for j, (op, labels) in enumerate(zip(node.operands, node.ins)) if j != k]
        yield child, Partial(others, node.out, node.ins[k])


def _add_partials(node: ir.Add):
    for child in node.terms:
        if not isinstance(child, (ir.Const, ir.Delta)):
            L = _labels("a", node.rank)
            yield child, Partial([], L, L)


def _elementwise_partials(node: ir.Elementwise):
    for k, child in enumerate(node.args):  # ∂f/∂t_k, entry by entry: a unit tensor ties the axes
        d = ir.Elementwise.make(sympy.diff(node.fn, ir.arg_symbol(k)), node.args)
        L = _labels("e", node.rank)
        yield child, Partial([(d, L)], L, L)


def _general_partials(node: ir.General):
    rules = lookup(node.name).derivatives
    for child, rule in zip(node.args, rules):
        if isinstance(child, (ir.Const, ir.Delta)):
            continue
        D = rule(node)  # axes: node's, then the operand's
        V, C = _labels("g", node.rank), _labels("h", child.rank)
        yield child, Partial([(D, V + C)], V, C)


PARTIALS: dict[type, Callable] = {
    ir.Einsum: _einsum_partials,
    ir.Add: _add_partials,
    ir.Elementwise: _elementwise_partials,
    ir.General: _general_partials,
}


def _partials(node):
    rule = PARTIALS.get(type(node))
    return rule(node) if rule else ()


def _sum(terms, shape):
    return ir.add(*terms) if terms else ir.zeros(shape)


def forward(root: ir.Node, x: ir.Var, seed: ir.Node, seed_extra: int) -> ir.Node:
    """Pushforward: tangents T_v[v axes, E] with T_x = seed (shape x.shape + E)."""
    rel = reaching(root, x)
    E = tuple(seed.shape[x.rank:])
    tangent: dict[int, ir.Node] = {x.id: seed}
    for n in topological([root]):
        if n.id not in rel or n is x:
            continue
        terms = []
        XL = _labels("x", seed_extra)
        for child, p in _partials(n):
            if child.id not in rel:
                continue
            ops = [f for f, _ in p.factors] + [tangent[child.id]]
            ins = [l for _, l in p.factors] + [tuple(p.child_labels) + XL]
            terms.append(ir.Einsum.make(ops, ins, tuple(p.node_labels) + XL))
        tangent[n.id] = _sum(terms, n.shape + E)
    return tangent.get(root.id, ir.zeros(root.shape + E))


def reverse(root: ir.Node, x: ir.Var, seed: ir.Node, seed_extra: int) -> ir.Node:
    """Pullback: adjoints A_v[O, v axes] with A_root = seed (shape O + root.shape)."""
    rel = reaching(root, x)
    O = tuple(seed.shape[:seed_extra])
    pending: dict[int, list] = {root.id: [seed]}
    for n in reversed(topological([root])):
        if n.id not in rel:
            continue
        adj = _sum(pending.pop(n.id, []), O + n.shape)
        if n is x:
            return adj
        if ir.is_zero(adj):
            continue
        OL = _labels("o", seed_extra)
        for child, p in _partials(n):
            if child.id not in rel:
                continue
            ops = [adj] + [f for f, _ in p.factors]
            ins = [OL + tuple(p.node_labels)] + [l for _, l in p.factors]
            covered = {l for s in ins for l in s}
            free = tuple(dict.fromkeys(l for l in p.child_labels if l not in covered))
            if free:  # the child's axes summed away in n: its adjoint is broadcast over them
                dims = {l: d for l, d in zip(p.child_labels, child.shape)}
                ops.append(ir.Const.make(1.0, [dims[l] for l in free]))
                ins.append(free)
            pending.setdefault(child.id, []).append(ir.Einsum.make(ops, ins, OL + tuple(p.child_labels)))
    return ir.zeros(O + x.shape)


# most operands of one fused product: a chain of k layers becomes k / MAX_FUSED products, so building,
# canonicalising and planning them stays linear in k (one product of 2k operands would not)
MAX_FUSED = 16


def fuse(root: ir.Node, reductions_only: bool = False) -> ir.Node:
    """Inline einsums used once into the einsum that uses them: one n-ary product per chain.

    This is cross-country elimination: the chain of partials is no longer multiplied in the fixed
    forward or reverse order, but in the order opt_einsum plans for the actual sizes — which
    generalises the paper's 'vectors first' heuristic (reference §5).

    ``reductions_only``: inline a product only into one that sums over some of its axes (forward
    mode: a tangent's product rule makes X[m,i] t[m,j] -> (m, i, j) and the next product sums m; fused,
    the sum happens inside the contraction and the (m, n, n) tangent is never formed — the paper's
    forward-mode compression, which multiplies the seed's unit tensor in last).
    """
    counts = use_counts(root)
    memo: dict[int, ir.Node] = {}
    for n in topological([root]):
        if isinstance(n, ir.Einsum):
            ops, ins = [], []
            for k, (op, labels) in enumerate(zip(n.operands, n.ins)):
                new = memo.get(op.id, op)
                room = MAX_FUSED - len(ops) - (len(n.operands) - k - 1)
                if (isinstance(new, ir.Einsum) and (counts[op.id] <= 1 or reductions_only and _pointwise(new))
                        and len(new.operands) <= room
                        and len(set(new.out)) == len(new.out) and len(set(labels)) == len(labels)
                        and (not reductions_only or not set(labels) <= set(n.out))):
                    mapping = dict(zip(new.out, labels))
                    tag = next(_fresh)
                    for inner_op, inner_labels in zip(new.operands, new.ins):
                        ops.append(inner_op)
                        ins.append(tuple(mapping.get(l, ("f", tag, l)) for l in inner_labels))
                else:
                    ops.append(new)
                    ins.append(labels)
            memo[n.id] = ir.Einsum.make(ops, ins, n.out)
        else:
            memo[n.id] = _rebuild(n, memo)
    return memo[root.id]


def _pointwise(n: ir.Einsum) -> bool:
    """A product that sums nothing (X[m,i] y[m]): inlined into each use, it costs nothing extra and
    lets the contraction that uses it see its factors (a Gram product X diag(d) Xᵀ, say)."""
    return {l for labels in n.ins for l in labels} <= set(n.out)


def _rebuild(n: ir.Node, memo) -> ir.Node:
    if not n.children or all(memo.get(c.id, c) is c for c in n.children):
        return n
    return n.with_children([memo.get(c.id, c) for c in n.children])


# fused result -> the reverse-mode DAG it was fused from (kept alive as long as the result is)
_unfused: "weakref.WeakKeyDictionary[ir.Node, ir.Node]" = weakref.WeakKeyDictionary()


def _differentiable(root: ir.Node) -> ir.Node:
    """The form of ``root`` to differentiate: a cross-country result before its fusion.

    Fusion makes n-ary products, and the product rule of an n-ary product has n terms of n - 1
    factors each: differentiating a fused gradient again (a Hessian of a chain of k layers) would
    be quadratic in k. The unfused DAG has the same value and binary products.
    """
    return _unfused.get(root, root)


def _fused(out: ir.Node, reductions_only: bool = False) -> ir.Node:
    fused = fuse(out, reductions_only)
    if reductions_only:  # a product inlined brings its operands along: their pointwise factors next
        for _ in range(2):
            again = fuse(fused, True)
            if again is fused:
                break
            fused = again
    if fused is not out:
        _unfused[fused] = out
    return fused


def _seed(dims, dense: bool) -> ir.Node:
    if not dims:
        return ir.Const.make(1.0)
    return ir.Delta.make(dims, dense=dense)


def jacobian(root: ir.Node, x: ir.Node, mode: str = "cross-country", compress: bool = True) -> ir.Node:
    """d root / d x with axes (root axes, x axes)."""
    if not isinstance(x, ir.Var):
        raise DerivativeError(f"can only differentiate with respect to a declared variable, not {einstein_str(x)}",
                              expected="a name declared like  w: R[n]")
    if mode not in MODES:
        raise DerivativeError(f"unknown mode {mode!r}", expected=" | ".join(MODES))
    root = _differentiable(root)
    if mode == "forward":
        out = symmetrized(forward(root, x, _seed(x.shape, not compress), x.rank), x, root.rank)
        if compress:
            out = _fused(out, reductions_only=True)
    else:
        out = symmetrized(reverse(root, x, _seed(root.shape, not compress), root.rank), x, root.rank)
        if mode == "cross-country":
            out = _fused(out)
    return out


def symmetrized(node: ir.Node, x: ir.Var, axis: int) -> ir.Node:
    """A derivative by a symmetric variable (``S: Sym[n]``, ``SPD[n]``), taken along symmetric
    directions: its axes ``axis, axis + 1`` (x's) averaged with their transpose, sym(G) = (G + Gᵀ)/2 —
    the gradient in the space of symmetric matrices with the Frobenius inner product, the derivative
    of f(sym(X)) (as JAX's of ``lambda X: f((X + X.T) / 2)``). A sum of two products, no n⁴ tensor.
    Any other variable: ``node`` as is."""
    if x.structure is None or ir.is_zero(node):
        return node
    perm = list(range(node.rank))
    perm[axis], perm[axis + 1] = axis + 1, axis
    return ir.add(ir.scale(node, 0.5), ir.scale(ir.transpose(node, perm), 0.5))


def hvp(f: ir.Node, x: ir.Var, v: ir.Node, mode: str = "cross-country", compress: bool = True) -> ir.Node:
    """H v without H: the forward derivative of grad f along v (forward-over-reverse)."""
    g = _differentiable(jacobian(f, x, "reverse" if mode == "forward" else mode, compress))
    out = forward(g, x, symmetrized(v, x, 0), 0)  # along a symmetric direction for a symmetric x
    return _fused(out) if mode == "cross-country" else out
