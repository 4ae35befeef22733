"""Normalising reductions along an axis: softmax and logsumexp (stable: the maximum subtracted)."""
from __future__ import annotations

from .. import ir
from ..errors import ShapeError
from .base import Operand, Param, Primitive, Spelling, entries, register

_X = Operand("x")
_AXIS = (Param("axis", None, "axis"),)


def _same_shape(shapes, params):
    return shapes[0]


def _reduced_shape(shapes, params):
    ax = params.get("axis")
    s = shapes[0]
    if ax is None:
        return ()
    return tuple(d for k, d in enumerate(s) if k != ax)


def _d_softmax(node):
    # s = softmax(x, axis a): ds[o]/dx[p] = s[o] (δ[o_a,p_a] - s[p'])  ·  Π_{b≠a} δ[o_b,p_b]
    # (axis None: every axis plays the role of a)
    s, r = node, node.rank
    ax = dict(node.params).get("axis")
    soft_axes = set(range(r)) if ax is None else {ax}
    o = [("o", b) for b in range(r)]
    p = [("p", b) for b in range(r)]
    full = ir.Einsum.make([s, ir.Delta.make(s.shape)], [tuple(o), tuple(o + p)], tuple(o + p))
    p_tied = [p[b] if b in soft_axes else o[b] for b in range(r)]
    ops, ins = [s, s], [tuple(o), tuple(p_tied)]
    for b in range(r):
        if b not in soft_axes:
            ops.append(ir.Delta.make([s.shape[b]]))
            ins.append((o[b], p[b]))
    outer = ir.Einsum.make(ops + [ir.Const.make(-1.0)], ins + [()], tuple(o + p))
    return ir.add(full, outer)


def _d_logsumexp(node):
    # d lse(x, a)[o] / dx[p] = softmax(x, a)[p] Π_{b≠a} δ
    x = node.arg
    ax = dict(node.params).get("axis")
    sm = SOFTMAX.make((x,), dict(node.params))
    if ax is None:
        return sm
    r = x.rank
    kept = [b for b in range(r) if b != ax]
    o = [("o", b) for b in kept]
    p = [("p", b) for b in range(r)]
    ops, ins = [sm], [tuple(p)]
    for b, ob in zip(kept, o):
        ops.append(ir.Delta.make([x.shape[b]]))
        ins.append((ob, p[b]))
    return ir.Einsum.make(ops, ins, tuple(o + p))


def _softmax_ref(xp, x, axis=None):
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def _logsumexp_ref(xp, x, axis=None):
    m = xp.max(x, axis=axis, keepdims=True)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return xp.reshape(out, ()) if axis is None else xp.squeeze(out, axis=axis)


_AXIS_TEXT = Spelling()  # the call form: softmax(x, axis=1)

SOFTMAX = register(Primitive(
    name="softmax", family="reductions", operands=(_X,), params=_AXIS, shape=_same_shape,
    code="_rt.softmax({m}, {a[0]}, {axis})", derivatives=(_d_softmax,), reference=_softmax_ref,
    flops=lambda shapes, params: 4 * entries(shapes[0]), spelling=_AXIS_TEXT,
    doc=("`softmax(x, axis)`", r"$\partial s_o / \partial x_p = s_o(\delta_{op} - s_p)$ along the axis, "
         r"$\delta$ across the others", "without an axis, over every axis"),
    example="x: R[m, n]\nf = softmax(x, axis=1)"))

LOGSUMEXP = register(Primitive(
    name="logsumexp", family="reductions", operands=(_X,), params=_AXIS, shape=_reduced_shape,
    code="_rt.logsumexp({m}, {a[0]}, {axis})", derivatives=(_d_logsumexp,), reference=_logsumexp_ref,
    flops=lambda shapes, params: 4 * entries(shapes[0]), spelling=_AXIS_TEXT,
    doc=("`logsumexp(x[, axis])`", r"$\partial\, \mathrm{lse}(x) / \partial x = \mathrm{softmax}(x)$ "
         "along the axis", "evaluated with the maximum subtracted (no overflow); "
         "`log(softmax(z))` is rewritten to `z - logsumexp(z)`"),
    example="x: R[m, n]\nf = logsumexp(x, axis=0)"))

__all__ = ["SOFTMAX", "LOGSUMEXP", "ShapeError"]
