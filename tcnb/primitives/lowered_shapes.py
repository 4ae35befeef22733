"""Language functions built from reshapes, broadcasts and means: ravel, repeat, tile, var, std.

``repeat(x, k, axis)`` is x broadcast over a new axis of k after ``axis``, reshaped so that axis is
k times longer; ``tile(x, reps)`` the same with the new axes before each axis. Both are exact and
linear in memory; their derivatives are those of the broadcast (a sum) and of the reshape (a
reshape back). ``var`` is the mean of squared deviations from the mean (ddof=0, NumPy's default),
``std`` its square root (``ddof=k`` divides by N - k, as NumPy): no record of their own, the
calculus of the parts applies.
"""
from __future__ import annotations

import sympy

from .. import ir
from ..errors import ShapeError
from .lowered import Lowered, inverse_count, register_lowered
from .shapes import keep_axes, reshape

T = ir.T


def _broadcast(node: ir.Node, shape, new) -> ir.Node:
    """``node`` broadcast to ``shape``, whose axes at positions ``new`` are new (the others node's)."""
    labels = tuple(range(len(shape)))
    own = tuple(l for l in labels if l not in new)
    ones = ir.Const.make(1.0, tuple(shape[l] for l in new))
    return ir.Einsum.make([node, ones], [own, tuple(new)], labels)


def ravel(node: ir.Node) -> ir.Node:
    """``node`` as a vector (C order)."""
    size = sympy.expand(sympy.Mul(*node.shape)) if node.shape else sympy.Integer(1)
    return reshape(node, (size,))


def _ravel(call):
    call.check_arity()
    return call.product(ravel(call.tensor(0).node()))


def _count(call, value, what):
    if not isinstance(value, int) or value < 1:
        call.fail(f"{call.name}: {what} must be a positive integer, got {value!r}",
                  expected="a positive integer constant", cls=ShapeError)
    return value


def _repeat(call):
    call.check_arity()
    x = call.tensor(0).node()
    k = call.integers(1, "repeats")
    if isinstance(k, tuple):
        call.fail("repeat takes one count for every entry", expected="an integer (repeats per entry)")
    k = _count(call, k, "the count")
    axis = call.axis(max(x.rank, 1), pos=2)
    if axis is None:
        x, axis = ravel(x), 0
    if x.rank == 0:
        x = reshape(x, (sympy.Integer(1),))
    if k == 1:
        return call.product(x)
    s = tuple(x.shape)
    wide = _broadcast(x, s[:axis + 1] + (sympy.Integer(k),) + s[axis + 1:], (axis + 1,))
    return call.product(reshape(wide, s[:axis] + (s[axis] * k,) + s[axis + 1:]))


def _tile(call):
    call.check_arity()
    x = call.tensor(0).node()
    reps = call.integers(1, "reps")
    reps = (reps,) if isinstance(reps, int) else reps
    if reps is None or not reps:
        call.fail("tile needs repetitions", expected="tile(x, 3) or tile(x, (2, 3))")
    for r in reps:
        _count(call, r, "a repetition")
    d = max(len(reps), x.rank)
    if x.rank < d:
        x = reshape(x, (sympy.Integer(1),) * (d - x.rank) + tuple(x.shape))
    reps = (1,) * (d - len(reps)) + tuple(reps)
    shape, new, final = [], [], []
    for r, s in zip(reps, x.shape):
        if r > 1:
            new.append(len(shape))
            shape.append(sympy.Integer(r))
        shape.append(s)
        final.append(s * r)
    if not new:
        return call.product(x)
    return call.product(reshape(_broadcast(x, tuple(shape), tuple(new)), tuple(final)))


def _moments(call, name):
    call.check_arity()
    p = call.tensor(0)
    x = p.node()
    axis = call.axis(x.rank)
    if x.rank == 0:
        call.fail(f"{name} of a scalar", expected="a vector or a tensor", cls=ShapeError)
    reduced = tuple(range(x.rank)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    labels = tuple(range(x.rank))
    kept = tuple(l for l in labels if l not in reduced)
    ddof = call.integers(99, "ddof") if "ddof" in call.kwargs else 0  # keyword only (NumPy: after dtype, out)
    count = sympy.Mul(*[x.shape[l] for l in reduced])
    if not isinstance(ddof, int) or ddof < 0 or (count.is_Integer and ddof >= count):
        call.fail(f"{name}: ddof must be an integer from 0 to {count - 1 if count.is_Integer else 'N - 1'}"
                  f" (N = {count} entries reduced), got {ddof!r}",
                  expected="ddof=0 (NumPy's default) or ddof=1 (the unbiased estimate)", cls=ShapeError)
    inv = inverse_count([x.shape[l] for l in reduced])
    mean = ir.Einsum.make([x, inv], [labels, ()], kept)
    dev = ir.add(x, ir.neg(_broadcast(mean, x.shape, reduced)))
    scale = inverse_count([x.shape[l] for l in reduced], ddof) if ddof else inv
    var = ir.Einsum.make([ir.Elementwise.make(T ** 2, dev), scale], [labels, ()], kept)
    out = var if name == "var" else ir.Elementwise.make(sympy.sqrt(T), var)
    if call.flag("keepdims"):
        out = keep_axes(out, x.shape, axis)
    return call.product(out)


for _rec in [
    Lowered("ravel", (1, 1), _ravel, doc=(
        "`ravel(x)`: the entries as a vector, C order", "a reshape: tangents and adjoints are reshaped", "")),
    Lowered("repeat", (2, 3), _repeat, keywords=("repeats", "axis"), doc=(
        "`repeat(x, k[, axis])`: each entry k times along the axis (k a positive integer; no axis: of ravel(x))",
        "a broadcast then a reshape: the adjoint is reshaped and summed over the k copies", "")),
    Lowered("tile", (2, 2), _tile, keywords=("reps",), doc=(
        "`tile(x, reps)`: x repeated reps times (an integer or a tuple of integers, NumPy's rules)",
        "a broadcast then a reshape: the adjoint is reshaped and summed over the copies", "")),
    Lowered("var", (1, 2), lambda call: _moments(call, "var"), keywords=("axis", "keepdims", "ddof"), doc=(
        "`var(x[, axis], ddof=0, keepdims=False)`: variance, dividing by N - ddof (NumPy's default ddof=0)",
        r"$\partial\, \mathrm{var} / \partial x = 2 (x - \bar x) / N$", "the mean of squared deviations")),
    Lowered("std", (1, 2), lambda call: _moments(call, "std"), keywords=("axis", "keepdims", "ddof"), doc=(
        "`std(x[, axis], ddof=0, keepdims=False)`: standard deviation, sqrt of var with the same ddof",
        r"$\partial\, \mathrm{std} / \partial x = (x - \bar x) / (N\, \mathrm{std})$",
        "sqrt(var): the derivative is NaN where every entry is equal (as JAX's)")),
]:
    register_lowered(_rec)

__all__ = ["ravel"]
