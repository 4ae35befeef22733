"""Separable factors of a compressed term: Σ_b X[b,i] X[b,k] M[b,j,l] instead of an n⁴ core.

A derivative taken through a chain of layers carries the first layer's data along unchanged: every
product of the chain passes the axis i through (and the sample axis b, entry by entry), and where
the chain starts, i meets one factor only, X[b, i]. ``peel`` finds such a factor of one axis through
products and sums (a sum peels when every term gives the same factor), ``expose`` takes it out of a
term's factors, and ``regroup`` multiplies what is left into one core over the labels it shares with
the rest — whichever grouping stores the fewest numbers at the actual sizes. For the ReLU net's
Hessian by W1 that is the paper's third-order form: 2 b n + b n² numbers, not n⁴, and the chain is
differentiated over (b, n, n) tensors instead of (n, n, b, n) ones.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from . import ir
from .visit import Visitor

# most factors a term's grouping is chosen among exhaustively (2^n groupings); past it, fewer candidates
MAX_EXHAUSTIVE = 10


class Peeled(NamedTuple):
    """node[x] = factor[x at ``at``] · rest[x without the peeled axis] (entry by entry)."""
    factor: ir.Node
    at: tuple        # for each axis of ``factor``, the axis of the node it runs along
    rest: ir.Node    # the node's axes but the peeled one, in order


class _Need(NamedTuple):
    """A visit that first needs the peels of these (node, axis) pairs."""
    pairs: list


class _Peeler(Visitor):
    """Peels one axis of a node, by the node's kind; each (node, axis) once (DAGs share chains).

    Without recursion, so a chain of any depth peels: a visit whose operands' peels are not known
    yet asks for them (``_Need``) and is visited again once they are."""

    def __init__(self):
        self.memo: dict = {}

    def peel(self, node: ir.Node, pos: int):
        """A Peeled for axis ``pos`` of ``node``, or None where that axis does not separate."""
        stack = [(node, pos)]
        while stack:
            n, p = stack[-1]
            if (n.id, p) in self.memo:
                stack.pop()
                continue
            got = self.visit(n, p)
            if isinstance(got, _Need):
                stack.extend(got.pairs)
            else:
                self.memo[(n.id, p)] = got
                stack.pop()
        return self.memo[(node.id, pos)]

    def generic_visit(self, node, pos):
        """A variable, an element-wise or general function, a constant: computed whole, no peel."""
        return None

    def visit_Add(self, node, pos):
        # Σ_t F[..] R_t[..] = F[..] Σ_t R_t[..]: every term must give the same factor on the same axes
        missing = [(t, pos) for t in node.terms if (t.id, pos) not in self.memo]
        if missing:
            return _Need(missing)
        parts = [self.memo[(t.id, pos)] for t in node.terms]
        if any(p is None for p in parts):
            return None
        first = parts[0]
        if any(p.factor is not first.factor or p.at != first.at for p in parts[1:]):
            return None
        return Peeled(first.factor, first.at, ir.Add.make([p.rest for p in parts]))

    def visit_Einsum(self, node, pos):
        out = node.out
        label = out[pos]
        holders = [k for k, labels in enumerate(node.ins) if label in labels]
        if out.count(label) != 1 or len(holders) != 1:
            return None
        k = holders[0]
        op, labels = node.operands[k], node.ins[k]
        if labels.count(label) != 1 or isinstance(op, (ir.Const, ir.Delta, ir.IndexMap)):
            return None
        key = (op.id, labels.index(label))
        if key not in self.memo:
            return _Need([(op, key[1])])
        inner = self.memo[key]
        if inner is not None:  # the operand itself separates: its factor, and its rest stays here
            factor, f_labels = inner.factor, tuple(labels[q] for q in inner.at)
            kept = [(inner.rest, tuple(l for l in labels if l != label))]
        else:                  # the operand is the factor
            factor, f_labels, kept = op, labels, []
        # the factor's other axes must be the node's own axes (passed through, not summed), once each
        if (len(f_labels) >= node.rank or len(set(f_labels)) != len(f_labels)
                or any(out.count(l) != 1 for l in f_labels)):
            return None
        ops = [o for j, o in enumerate(node.operands) if j != k] + [o for o, _ in kept]
        ins = [s for j, s in enumerate(node.ins) if j != k] + [s for _, s in kept]
        rest_out = tuple(l for l in out if l != label)
        covered = {l for s in ins for l in s}
        missing = tuple(l for l in rest_out if l not in covered)
        if missing:  # axes only the factor had: the rest is constant along them
            ops.append(ir.Const.make(1.0, [node.label_dims[l] for l in missing]))
            ins.append(missing)
        rest = ir.Einsum.make(ops, ins, rest_out)
        return Peeled(factor, tuple(out.index(l) for l in f_labels), rest)


def peel(node: ir.Node, pos: int):
    """Axis ``pos`` of ``node`` as a factor times the rest (a Peeled), or None."""
    return _Peeler().peel(node, pos)


def expose(factors, wanted) -> tuple:
    """``factors`` ((node, labels), ...) with every factor that separates along a label in
    ``wanted`` (the result's labels) replaced by its factor and its rest, until none does."""
    peeler = _Peeler()
    factors = list(factors)
    k = 0
    while k < len(factors):
        node, labels = factors[k]
        for p, l in enumerate(labels):
            if l in wanted and labels.count(l) == 1:
                got = peeler.peel(node, p)
                if got is not None:
                    factors[k:k + 1] = [(got.factor, tuple(labels[q] for q in got.at)),
                                        (got.rest, labels[:p] + labels[p + 1:])]
                    break
        else:
            k += 1
    return tuple(factors)


def regroup(factors, core_labels, dims: dict) -> tuple:
    """The factors to store: some kept apart, the others multiplied into one node over the labels
    they share with the kept ones or the result — the grouping with the fewest stored numbers
    (``dims``: label -> size), ties to fewer factors. Keeping all apart is one candidate, one core
    over ``core_labels`` another (what a product of big factors needs)."""
    n = len(factors)
    wanted = set(core_labels)

    def cost(mask):
        kept = [j for j in range(n) if mask >> j & 1]
        group = [j for j in range(n) if not mask >> j & 1]
        outside = wanted | {l for j in kept for l in factors[j][1]}
        face = tuple(dict.fromkeys(l for j in group for l in factors[j][1] if l in outside))
        stored = sum(math.prod(dims[l] for l in factors[j][1]) for j in kept)
        if group:
            stored += math.prod(dims[l] for l in face)
        return (stored, len(kept) + bool(group)), group, face

    if n <= MAX_EXHAUSTIVE:
        masks = range(2 ** n)
    else:  # kept apart: any of the factors holding a result label nobody else holds (X[b,i]), or all
        free = [j for j, (_, s) in enumerate(factors)
                if any(l in wanted and all(l not in t for i, (_, t) in enumerate(factors) if i != j) for l in s)]
        free = free[:MAX_EXHAUSTIVE]
        masks = [2 ** n - 1] + [sum(1 << j for k, j in enumerate(free) if m >> k & 1) for m in range(2 ** len(free))]
    _, group, face = min((cost(m) for m in masks), key=lambda c: c[0])
    if not group or (len(group) == 1 and factors[group[0]][1] == face):
        return tuple(factors)
    node = ir.Einsum.make([factors[j][0] for j in group], [factors[j][1] for j in group], face)
    # the group takes the place of its first member; the kept factors stay in order
    return tuple((node, face) if j == group[0] else factors[j] for j in range(n)
                 if j == group[0] or j not in group)


def gemm_last(xp, contract, factors, out):
    """The product of ``factors`` ((array, labels), ...) over the labels ``out`` as a new C-order
    array whose last step is one matrix product writing it in place: a factor A[s, p] whose kept
    labels p lead ``out`` (X[b, i] for Σ_b X[b,i] X[b,k] M[b,j,l]), times the others contracted to
    B[s, rest] by ``contract(parts, labels)`` — the ReLU net's Xᵀ (M ⊗ X). None where no factor
    fits or B would be bigger than the result (the caller then contracts as it planned)."""
    size = {l: d for a, ls in factors for l, d in zip(ls, a.shape)}
    total = math.prod(size[l] for l in out)
    best = None
    for k, (A, la) in enumerate(factors):
        p = tuple(l for l in out if l in la)
        s = tuple(dict.fromkeys(l for l in la if l not in out))
        others = [f for j, f in enumerate(factors) if j != k]
        rest = out[len(p):]
        held = {l for _, ls in others for l in ls}
        if (not p or not s or len(set(la)) != len(la) or set(out[:len(p)]) != set(p)
                or not set(s) <= held or not set(rest) <= held):
            continue
        b_size = math.prod(size[l] for l in s + rest)
        if b_size <= total and (best is None or b_size < best[0]):
            best = (b_size, A, la, p, s, rest, others)
    if best is None:
        return None
    _, A, la, p, s, rest, others = best
    S = math.prod(size[l] for l in s)
    Am = xp.transpose(A, [la.index(l) for l in s + p]).reshape(S, -1)
    B = contract(others, s + rest).reshape(S, -1)
    return (Am.T @ B).reshape(tuple(size[l] for l in out))


def tie_labels(rows, cols):
    """label -> its representative where row axis p and column axis p are tied (a diagonal)."""
    parent: dict = {}

    def find(l):
        while parent.get(l, l) != l:
            l = parent[l]
        return l
    for a, b in zip(rows, cols):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra
    return find
