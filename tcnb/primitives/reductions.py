"""Reductions along an axis: softmax and logsumexp (stable: the maximum subtracted), and prod.

``prod``'s derivative is the product of the other entries, ``prod_others`` — computed from
exclusive cumulative products, never by dividing by x, so it is exact where entries are 0 (JAX's
convention: with one zero the gradient at it is the product of the rest, with two zeros 0 everywhere).
``prod_others(x, axis, k)`` leaves out k entries; its derivative is the same with k + 1, so
derivatives of every order are exact.
"""
from __future__ import annotations

from .. import ir
from ..errors import ShapeError
from .base import Operand, Param, Primitive, Spelling, entries, register

_X = Operand("x")
_AXIS = (Param("axis", None, "axis"),)
_AXES = (Param("axis", None, "axes"),)  # several axes too: the parser merges them into one


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


def _prod_shape(shapes, params):
    return _reduced_shape(shapes, params)


def _others_shape(shapes, params):
    s, ax, k = shapes[0], params.get("axis"), params.get("k", 1)
    if k < 1:
        raise ShapeError(f"prod_others leaves out k = {k} entries", expected="k >= 1")
    return tuple(s) * k if ax is None else tuple(s) + (s[ax],) * (k - 1)


def prod_others(x, axis, k=1):
    """The node of the products of x's entries but k along ``axis``."""
    return PROD_OTHERS.make((x,), {"axis": axis, "k": k})


def _kept_deltas(x, ax, node_labels, p):
    """Unit tensors tying the axes other than ``ax`` of x to the operand's labels p."""
    kept = [b for b in range(x.rank) if b != ax]
    return ([ir.Delta.make([x.shape[b]]) for b in kept],
            [(node_labels[j], p[b]) for j, b in enumerate(kept)])


def _d_prod(node):
    x = node.arg
    ax = dict(node.params).get("axis")
    e = prod_others(x, ax)
    if ax is None:
        return e
    p = tuple(("p", b) for b in range(x.rank))
    o = tuple(("o", b) for b in range(node.rank))
    deltas, ins = _kept_deltas(x, ax, o, p)
    return ir.Einsum.make([e] + deltas, [p] + ins, o + p)


def _d_prod_others(node):
    x = node.arg
    params = dict(node.params)
    ax, k = params.get("axis"), params.get("k", 1)
    e = prod_others(x, ax, k + 1)
    if ax is None:
        return e
    # E_k[p, r2..rk] / dx[s] = E_{k+1}[p, r2..rk, s_ax] δ(p, s off the axis)
    p = tuple(("p", b) for b in range(x.rank))
    r = tuple(("r", j) for j in range(k - 1))
    s = tuple(("s", b) for b in range(x.rank))
    deltas, ins = _kept_deltas(x, ax, [p[b] for b in range(x.rank) if b != ax], s)
    return ir.Einsum.make([e] + deltas, [p + r + (s[ax],)] + ins, p + r + s)


def _others_ref(xp, x, axis=None, k=1):
    # independent of the runtime: entries set to 1 by masks, products over the last axis
    if axis is None:
        e = _others_last(xp, xp.reshape(x, (-1,)), k)
        return xp.reshape(e, tuple(x.shape) * k)
    e = _others_last(xp, xp.moveaxis(x, axis, -1), k)
    return xp.moveaxis(e, x.ndim - 1, axis)


def _others_last(xp, v, k):
    n = v.shape[-1]
    eye = xp.eye(n)
    lead = v.ndim - 1
    excluded = 0.0
    distinct = 1.0
    for j in range(k):  # indicator over (p1..pk, q) that q = p_j
        shape = (1,) * lead + (1,) * j + (n,) + (1,) * (k - 1 - j) + (n,)
        hit = xp.reshape(eye, shape)
        excluded = xp.maximum(excluded, hit) if j else hit
        for i in range(j):
            a = (1,) * lead + (1,) * i + (n,) + (1,) * (j - i - 1) + (n,) + (1,) * (k - 1 - j)
            distinct = distinct * (1.0 - xp.reshape(eye, a))
    w = xp.where(excluded > 0, 1.0, xp.reshape(v, v.shape[:-1] + (1,) * k + (n,)))
    return xp.prod(w, axis=-1) * distinct


PROD = register(Primitive(
    name="prod", family="reductions", operands=(_X,), params=_AXES, shape=_prod_shape,
    code="{m}.prod({a[0]}, axis={axis})", derivatives=(_d_prod,), keepdims=True,
    reference=lambda xp, x, axis=None: xp.prod(x, axis=axis),
    flops=lambda shapes, params: entries(shapes[0]), spelling=Spelling(),
    doc=("`prod(x[, axis], keepdims=False)`", r"$\partial \prod x / \partial x_p = \prod_{q \neq p} x_q$ "
         "(`prod_others`, no division)", "exact with zeros in x, as JAX: one zero gives the product of the "
         "others at it, two zeros a zero gradient"),
    example="x: R[m, n]\nf = prod(x, axis=1)"))

PROD_OTHERS = register(Primitive(
    name="prod_others", family="reductions", operands=(_X,), params=_AXIS + (Param("k", 1, "int"),),
    shape=_others_shape, code="_rt.prod_others({m}, {a[0]}, {axis}, {k})", derivatives=(_d_prod_others,),
    reference=_others_ref, flops=lambda shapes, params: entries(shapes[0]) * (1 + 2 * params.get("k", 1)),
    spelling=Spelling(),
    doc=("`prod_others(x[, axis], k=1)`: the products of all entries but k (along the axis); "
         "shape x's plus k - 1 positions", r"$\partial E_k / \partial x = E_{k+1}$ (δ off the axis)",
         "the derivative of `prod`, exact at zeros (exclusive cumulative products, no division)"),
    example="x: R[m, n]\nf = prod_others(x, axis=1)"))

_AXIS_TEXT = Spelling()  # the call form: softmax(x, axis=1)

SOFTMAX = register(Primitive(
    name="softmax", family="reductions", operands=(_X,), params=_AXES, shape=_same_shape,
    code="_rt.softmax({m}, {a[0]}, {axis})", derivatives=(_d_softmax,), reference=_softmax_ref,
    flops=lambda shapes, params: 4 * entries(shapes[0]), spelling=_AXIS_TEXT,
    doc=("`softmax(x, axis)`", r"$\partial s_o / \partial x_p = s_o(\delta_{op} - s_p)$ along the axis, "
         r"$\delta$ across the others", "without an axis, over every axis"),
    example="x: R[m, n]\nf = softmax(x, axis=1)"))

LOGSUMEXP = register(Primitive(
    name="logsumexp", family="reductions", operands=(_X,), params=_AXES, shape=_reduced_shape,
    code="_rt.logsumexp({m}, {a[0]}, {axis})", derivatives=(_d_logsumexp,), reference=_logsumexp_ref,
    flops=lambda shapes, params: 4 * entries(shapes[0]), spelling=_AXIS_TEXT, keepdims=True,
    doc=("`logsumexp(x[, axis], keepdims=False)`", r"$\partial\, \mathrm{lse}(x) / \partial x = \mathrm{softmax}(x)$ "
         "along the axis", "evaluated with the maximum subtracted (no overflow); "
         "`log(softmax(z))` is rewritten to `z - logsumexp(z)`"),
    example="x: R[m, n]\nf = logsumexp(x, axis=0)"))

__all__ = ["SOFTMAX", "LOGSUMEXP", "PROD", "PROD_OTHERS", "ShapeError"]
