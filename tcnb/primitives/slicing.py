"""Slices, flips, rolls, concatenation and stacking: pure index maps, lowered to products.

``x[2:n-1]`` is Σ_J S[i, J] x[J] with S the selection tensor of J = i + 2 (``ir.IndexMap``), so
slicing needs no derivative rule, code or spelling of its own: its derivatives are products with
the same map, which the code generator turns into gathers and scatter-adds (never a dense 0/1
matrix). ``X[0]`` is the map J = 0 from no index; ``flip`` is J = n - 1 - i; ``concatenate`` of k
tensors is the sum of k scatters into the m + n axis (offsets 0, m, ...); ``roll`` is the
concatenation of two slices; ``stack`` scatters each operand to one position of a new axis.

Bounds: on an axis of integer size the parser checks (and clips slices) as NumPy; on a symbolic
axis a slice does not clip, and what the parser cannot prove in range is checked when sizes are
bound (codegen: an index map reaching outside its axis is a BindingError).
"""
from __future__ import annotations

import sympy

from .. import ir
from ..dims import dim_str
from ..errors import ShapeError
from .lowered import Lowered, register_lowered


def _known(b) -> bool:
    return b is None or sympy.sympify(b).is_Integer


def slice_range(d, start, stop, step: int = 1):
    """(coefficient, offset, size) of the slice ``start:stop:step`` of an axis of size ``d``: the
    entries c·i + offset for i < size. Bounds are None or integer dimension expressions, negative
    ones counted from the end. ShapeError for an empty slice or bounds proven out of range."""
    if step == 0:
        raise ShapeError("slice step cannot be zero", expected="a nonzero integer step")
    d = sympy.sympify(d)
    if d.is_Integer and _known(start) and _known(stop):
        r = range(*slice(None if start is None else int(start), None if stop is None else int(stop),
                         step).indices(int(d)))
        if len(r) == 0:
            raise ShapeError(f"the slice {_text(start, stop, step)} of an axis of size {d} is empty",
                             expected="a slice with at least one entry (tcnb has no empty tensors)")
        return step, sympy.Integer(r.start), sympy.Integer(len(r))

    def norm(b):
        b = sympy.sympify(b)
        return sympy.expand(b + d) if b.is_negative else b

    if step > 0:
        lo = sympy.Integer(0) if start is None else norm(start)
        hi = d if stop is None else norm(stop)
        span = hi - lo
        if sympy.expand(hi - d).is_positive:
            raise ShapeError(f"the slice {_text(start, stop, step)} ends at {hi}, beyond the axis of size {d}",
                             expected=f"a stop ≤ {d} (on a symbolic axis tcnb does not clip slices)")
    else:
        lo = d - 1 if start is None else norm(start)
        hi = sympy.Integer(-1) if stop is None else norm(stop)
        span = lo - hi
        if sympy.expand(lo - d).is_nonnegative:
            raise ShapeError(f"the slice {_text(start, stop, step)} starts at {lo}, beyond the last index {d - 1}",
                             expected=f"a start ≤ {d - 1} (on a symbolic axis tcnb does not clip slices)")
    if sympy.sympify(lo).is_negative:
        raise ShapeError(f"the slice {_text(start, stop, step)} starts at {lo} < 0",
                         expected=f"a start in [-{d}, {d - 1}]")
    size = sympy.expand(span) if abs(step) == 1 else sympy.ceiling(sympy.expand(span) / abs(step))
    if size.is_nonpositive:
        raise ShapeError(f"the slice {_text(start, stop, step)} of an axis of size {d} is empty",
                         expected="a slice with at least one entry (tcnb has no empty tensors)")
    return step, sympy.expand(lo), size


def _text(start, stop, step) -> str:
    s = f"{'' if start is None else start}:{'' if stop is None else stop}"
    return s + (f":{step}" if step != 1 else "")


def index_value(d, k):
    """The position of the constant index ``k`` (negative: from the end) on an axis of size d;
    ShapeError where it is proven out of range (an integer size, or k ≥ d for any sizes)."""
    d, k = sympy.sympify(d), sympy.sympify(k)
    pos = sympy.expand(k + d) if k.is_negative else k
    if (d.is_Integer and pos.is_Integer and not 0 <= int(pos) < int(d)) or sympy.expand(pos - d).is_nonnegative \
            or pos.is_negative:
        raise ShapeError(f"index {k} is out of range for an axis of size {dim_str(d)}",
                         expected=f"an index in [-{d}, {d - 1}]")
    return pos


def select(p, k: int, coeff: int, offset, size, product, label):
    """p with axis k read through the map J = coeff·i + offset, i < size (``label`` names i), or,
    with ``size`` None, at the single position J = offset (the axis removed)."""
    l = p.out[k]
    d = p.dims[l]
    if size is None:
        S = ir.IndexMap.make([()], [offset], [], [d])
        return p.times(product(S, (l,)), tuple(x for q, x in enumerate(p.out) if q != k))
    if coeff == 1 and offset == 0 and sympy.expand(size - d) == 0:
        return p
    S = ir.IndexMap.make([[coeff]], [offset], [size], [d])
    return p.times(product(S, (label, l)), tuple(label if q == k else x for q, x in enumerate(p.out)))


def join(pieces, axis: int, product, fresh, fail):
    """The concatenation of the pending products ``pieces`` along ``axis``: Σ_k scatter of piece k
    to offset (size of the pieces before it). ``fail(message, expected)`` raises."""
    first = pieces[0]
    rank = len(first.out)
    for k, p in enumerate(pieces[1:], start=1):
        if len(p.out) != rank:
            fail(f"operand {k + 1} has rank {len(p.out)}, operand 1 has rank {rank}", "operands of one rank")
        for q in range(rank):
            if q != axis and sympy.expand(p.shape[q] - first.shape[q]) != 0:
                fail(f"operand {k + 1} has shape {_shape(p.shape)}, operand 1 has {_shape(first.shape)}: "
                     f"axis {q} differs", f"equal sizes except on axis {axis}")
    if len(pieces) == 1:
        return first
    total = sympy.expand(sum(p.shape[axis] for p in pieces))
    out = tuple(fresh() for _ in range(rank))
    nodes, offset = [], sympy.Integer(0)
    for p in pieces:
        d = p.shape[axis]
        i = fresh()
        q = p.renamed({l: (i if a == axis else out[a]) for a, l in enumerate(p.out)})
        S = ir.IndexMap.make([[1]], [offset], [d], [total])
        nodes.append(q.times(product(S, (i, out[axis])), out).node())
        offset = sympy.expand(offset + d)
    return product(ir.add(*nodes), out)


def _shape(shape) -> str:
    return "(" + ", ".join(dim_str(d) for d in shape) + ")"


# ------------------------------------------------------------------ the records

def _axes_of(call, p, pos=1):
    axis = call.axis(len(p.out), pos)
    if axis is None:
        return tuple(range(len(p.out)))
    return axis if isinstance(axis, tuple) else (axis,)


def _flip(call):
    call.check_arity()
    p = call.tensor(0)
    if not p.out:
        call.fail("flip of a scalar", expected="a tensor of rank ≥ 1", cls=ShapeError)
    for a in _axes_of(call, p):
        d = p.shape[a]
        if d != 1:
            p = select(p, a, -1, d - 1, d, call.product, call.fresh_label())
    return p


def _roll(call):
    call.check_arity()
    p = call.tensor(0)
    if not p.out:
        call.fail("roll of a scalar", expected="a tensor of rank ≥ 1", cls=ShapeError)
    shifts = call.integers(1, "shift")
    given = call.argument(2, "axis")
    axis = None if given is None else call.axis(len(p.out), 2)
    if axis is None:
        if len(p.out) != 1:
            call.fail("roll without an axis flattens the tensor first: not supported for rank ≥ 2",
                      expected="roll(X, shift, axis=k) (or a tuple of axes)", cls=ShapeError)
        axes = (0,)
    else:
        axes = axis if isinstance(axis, tuple) else (axis,)
    if not isinstance(shifts, tuple):
        shifts = (shifts,) * len(axes)
    if len(shifts) != len(axes):
        call.fail(f"{len(shifts)} shifts for {len(axes)} axes", expected="one shift per axis")
    for s, a in zip(shifts, axes):
        d = p.shape[a]
        if d.is_Integer:
            s %= int(d)
        if s == 0:
            continue
        first = d - s if s > 0 else -s  # the result starts with x[d - s:]
        if not d.is_Integer and abs(s) > 0 and sympy.expand(d - abs(s)).is_nonpositive:
            call.fail(f"roll by {s} on an axis of size {d}", expected=f"|shift| < {d}", cls=ShapeError)
        head = select(p, a, 1, first, d - first, call.product, call.fresh_label())
        tail = select(p, a, 1, sympy.Integer(0), first, call.product, call.fresh_label())
        p = join([head, tail], a, call.product, call.fresh_label, lambda m, x: call.fail(m, x, cls=ShapeError))
    return p


def _operands(call):
    call.check_arity()
    ps = call.tensors(0)
    if not ps:
        call.fail(f"{call.name} of no tensors", expected=f"{call.name}([a, b, ...])")
    return ps


def _concatenate(call):
    ps = _operands(call)
    if not ps[0].out:
        call.fail("zero-dimensional tensors cannot be concatenated", expected="tensors of rank ≥ 1 (or stack)",
                  cls=ShapeError)
    axis = _one_axis(call, len(ps[0].out))
    return join(ps, axis, call.product, call.fresh_label, lambda m, x: call.fail(m, x, cls=ShapeError))


def _one_axis(call, rank):
    node = call.argument(1, "axis")
    if node is None:
        return 0
    axis = call.axis(rank, 1)
    if axis is None or isinstance(axis, tuple):
        call.fail(f"{call.name} needs one axis", expected="an integer axis (axis=None, flattening, is not supported)")
    return axis


def _stack(call):
    ps = _operands(call)
    rank = len(ps[0].out)
    axis = _one_axis(call, rank + 1)
    for k, p in enumerate(ps[1:], start=1):
        if len(p.out) != rank or any(sympy.expand(a - b) != 0 for a, b in zip(p.shape, ps[0].shape)):
            call.fail(f"operand {k + 1} has shape {_shape(p.shape)}, operand 1 has {_shape(ps[0].shape)}",
                      expected="operands of one shape", cls=ShapeError)
    out = [call.fresh_label() for _ in range(rank + 1)]
    inner = out[:axis] + out[axis + 1:]
    nodes = []
    for k, p in enumerate(ps):
        q = p.renamed(dict(zip(p.out, inner)))
        S = ir.IndexMap.make([()], [k], [], [len(ps)])
        nodes.append(q.times(call.product(S, (out[axis],)), tuple(out)).node())
    return call.product(ir.add(*nodes), tuple(out))


for _rec in [
    Lowered("flip", (1, 2), _flip, keywords=("axis",), doc=(
        "`flip(x[, axis])`: reverse the order along axis (default: every axis), as NumPy",
        "an index map J = n - 1 - i: derivatives are flips (gathers / scatters)", "")),
    Lowered("roll", (2, 3), _roll, keywords=("axis",), doc=(
        "`roll(x, shift[, axis])`: shift cyclically by a constant integer (or a tuple, one per axis)",
        "the concatenation of two slices: derivatives are rolls by -shift",
        "axis=None needs a vector; on a symbolic axis n, |shift| < n")),
    Lowered("concatenate", (1, 2), _concatenate, keywords=("axis",), doc=(
        "`concatenate([a, b, ...], axis=0)`: sizes add on the axis (`R[m + n]`)",
        "a sum of scatters into the joined axis: the adjoint is a slice per operand", "")),
    Lowered("stack", (1, 2), _stack, keywords=("axis",), doc=(
        "`stack([a, b, ...], axis=0)`: operands of one shape along a new axis",
        "each operand scattered to one position of the new axis", "")),
]:
    register_lowered(_rec)
