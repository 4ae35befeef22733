"""The index labels of a product: unit-tensor elimination, ties and canonical numbering.

A product is a list of operands, one label tuple each, and the output labels. These functions work
on that form, before (or without) an Einsum node being built: the constructor in
tcnb/ir/algebra.py runs them, and the code generator and compression read products through
``unit_tensor_ties`` and ``label_dims_of``.
"""
from __future__ import annotations

from .nodes import Const, Delta, Node


def eliminate_deltas(operands, ins, out, label_dims):
    """δ[a,b] summed over b (or a) is a renaming b -> a: the paper's unit-tensor rule.

    What stays are deltas whose two labels are both output labels (a diagonal embedding); δ[a,a]
    becomes a ones-tensor over a (1 on the diagonal, or the dimension when summed alone).
    """
    operands, ins, out = list(operands), [tuple(s) for s in ins], tuple(out)
    changed = True
    while changed:
        changed = False
        for k, (op, labels) in enumerate(zip(operands, ins)):
            if not isinstance(op, Delta) or op.dense:
                continue
            r = len(op.dims)
            pairs = list(zip(labels[:r], labels[r:]))
            for p, (a, b) in enumerate(pairs):
                if a == b:
                    rename, extra = None, (Const.make(1.0, (label_dims[a],)), (a,))
                elif b not in out:
                    rename, extra = (b, a), None
                elif a not in out:
                    rename, extra = (a, b), None
                else:
                    continue
                rest = pairs[:p] + pairs[p + 1:]
                new_ops = operands[:k] + operands[k + 1:]
                new_ins = ins[:k] + ins[k + 1:]
                if rest:
                    new_ops.append(Delta.make([label_dims[x] for x, _ in rest], op.dense))
                    new_ins.append(tuple(x for x, _ in rest) + tuple(y for _, y in rest))
                if extra:
                    new_ops.append(extra[0])
                    new_ins.append(extra[1])
                if rename:
                    src, dst = rename
                    new_ins = [tuple(dst if l == src else l for l in s) for s in new_ins]
                    out = tuple(dst if l == src else l for l in out)
                    if not any(dst in s for s in new_ins):  # Σ_a δ[a, b] = 1 for every b
                        new_ops.append(Const.make(1.0, (label_dims[dst],)))
                        new_ins.append((dst,))
                operands, ins = new_ops, new_ins
                changed = True
                break
            if changed:
                break
    return operands, ins, out


def unit_tensor_ties(operands, ins):
    """label -> its representative, where kept unit tensors δ[a, b] tie labels a = b.

    Union-find, so chains (i = k, k = j) stay tied. Used wherever a product is read with its unit
    tensors removed: the code generator (diagonal embedding) and compression (core ⊗ pattern).
    """
    subst: dict = {}

    def find(x):
        while x in subst:
            x = subst[x]
        return x
    for op, labels in zip(operands, ins):
        if isinstance(op, Delta) and not op.dense:
            r = len(op.dims)
            for a, b in zip(labels[:r], labels[r:]):
                ra, rb = find(a), find(b)
                if ra != rb:
                    subst[rb] = ra
    return find


def is_kept_delta(node: Node) -> bool:
    """A unit tensor that simplification may remove (not marked dense)."""
    return isinstance(node, Delta) and not node.dense


def label_dims_of(operands, ins) -> dict:
    """label -> dimension over the operands' index tuples (the first one seen)."""
    dims: dict = {}
    for op, labels in zip(operands, ins):
        for lab, d in zip(labels, op.shape):
            dims.setdefault(lab, d)
    return dims


def _relabel(ins, out):
    mapping: dict = {}
    for l in out:
        if l not in mapping:
            mapping[l] = len(mapping)
    for s in ins:
        for l in s:
            if l not in mapping:
                mapping[l] = len(mapping)
    return [tuple(mapping[l] for l in s) for s in ins], tuple(mapping[l] for l in out)


def canonical(operands, ins, out):
    """Sort operands and number labels (output labels first) so that equal products get equal keys."""
    ins, out = _relabel(ins, out)
    for _ in range(4):
        order = sorted(range(len(operands)), key=lambda k: (operands[k].id, ins[k]))
        new_ops = [operands[k] for k in order]
        new_ins, new_out = _relabel([ins[k] for k in order], out)
        if new_ins == ins and [o.id for o in new_ops] == [o.id for o in operands]:
            break
        operands, ins, out = new_ops, new_ins, new_out
    return operands, ins, out
