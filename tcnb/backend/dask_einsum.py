"""einsum on dask arrays as a sequence of blockwise products: tensordot, broadcast multiplies, sums.

Why: ``dask.array.einsum`` runs ``np.einsum`` on every block without BLAS (28× NumPy for the
3-operand logistic Hessian), and, for a product whose result is larger than its operands (a unit
tensor written onto a diagonal: ``ab,bc->abc``), splits the operands into ever smaller chunks —
thousands of tasks for a small Jacobian. Here a diagonal is taken first (one operand), labels that
only one operand carries are summed at once, and pairs are contracted in opt_einsum's order, each
as the cheapest blockwise form: ``tensordot`` where a label is summed and none is shared and kept
(BLAS per block, then a tree reduction over chunked summed axes), a broadcast multiply where
nothing is summed, and ``da.einsum`` of two operands only for what is both (batch axes that are
also contracted), where the result is no larger than the operands.
"""
from __future__ import annotations


def einsum(da, spec: str, *ops):
    """``numpy.einsum(spec, *ops)`` for dask arrays ``ops`` and an explicit ``spec`` (with ``->``)."""
    ins, out = spec.replace(" ", "").split("->")
    parts = [_distinct(da, op, labels) for op, labels in zip(ops, ins.split(","))]
    if len(parts) > 2:
        import opt_einsum
        sub = ",".join(l for _, l in parts) + "->" + out
        path = opt_einsum.contract_path(sub, *[tuple(int(s) for s in a.shape) for a, _ in parts],
                                        shapes=True, optimize="auto")[0]
    else:
        path = [tuple(range(len(parts)))]
    for positions in path:
        chosen = [parts[p] for p in positions]
        for p in sorted(positions, reverse=True):
            del parts[p]
        needed = set(out) | {l for _, labels in parts for l in labels}
        acc = chosen[0]
        for k, nxt in enumerate(chosen[1:], 1):
            later = needed | {l for _, labels in chosen[k + 1:] for l in labels}
            acc = _pair(da, acc, nxt, later)
        parts.append(acc)
    return _single(da, parts[0], out)


def _distinct(da, a, labels: str):
    """(array, labels) with no label repeated: a repeated label's diagonal taken (axes chunked alike)."""
    if len(set(labels)) == len(labels):
        return a, labels
    first, same = {}, {}
    for ax, lab in enumerate(labels):
        if lab in first and a.chunks[ax] != a.chunks[first[lab]]:
            same[ax] = a.chunks[first[lab]]
        first.setdefault(lab, ax)
    if same:
        a = a.rechunk(same)
    distinct = "".join(dict.fromkeys(labels))
    return da.einsum(f"{labels}->{distinct}", a), distinct


def _single(da, part, out: str):
    """One operand summed over the labels not in ``out`` and transposed to ``out``."""
    a, labels = part
    summed = tuple(k for k, l in enumerate(labels) if l not in out)
    if summed:
        a = da.sum(a, axis=summed)
        labels = "".join(l for l in labels if l in out)
    if labels != out:
        a = da.transpose(a, tuple(labels.index(l) for l in out))
    return a


def _align(a, labels: str, target: str):
    """``a`` viewed against ``target``: its axes in target's order, a new axis where it lacks a label."""
    present = "".join(l for l in target if l in labels)
    if present != labels:
        a = a.transpose(tuple(labels.index(l) for l in present))
    if present != target:
        a = a[tuple(slice(None) if l in labels else None for l in target)]
    return a


def _pair(da, x, y, keep: set):
    """The product of two (array, labels) operands, summed over the labels ``keep`` lacks."""
    (a, la), (b, lb) = x, y
    own_a = "".join(l for l in la if l not in lb and l not in keep)
    if own_a:
        a, la = _single(da, (a, la), "".join(l for l in la if l not in own_a)), "".join(l for l in la if l not in own_a)
    own_b = "".join(l for l in lb if l not in la and l not in keep)
    if own_b:
        b, lb = _single(da, (b, lb), "".join(l for l in lb if l not in own_b)), "".join(l for l in lb if l not in own_b)
    shared = [l for l in la if l in lb]
    summed = [l for l in shared if l not in keep]
    kept = [l for l in shared if l in keep]
    if not summed:  # a broadcast multiply
        res = la + "".join(l for l in lb if l not in la)
        return _align(a, la, res) * _align(b, lb, res), res
    if not kept:
        axes = (tuple(la.index(l) for l in summed), tuple(lb.index(l) for l in summed))
        res = "".join(l for l in la if l not in summed) + "".join(l for l in lb if l not in summed)
        return da.tensordot(a, b, axes=axes), res
    res = "".join(kept) + "".join(l for l in la if l not in lb) + "".join(l for l in lb if l not in la)
    return da.einsum(f"{la},{lb}->{res}", a, b), res
