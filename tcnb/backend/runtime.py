"""Small array helpers that generated code calls as ``_rt.<name>(xp, ...)``.

They are the operations with no single NumPy spelling: numerically stable softmax/logsumexp, and
writing a result onto the diagonal of a larger zero tensor (how an unit tensor in a dense result is
materialised, only when the user asks for a dense result).
"""
from __future__ import annotations

import math


def softmax(xp, a, axis):
    shifted = a - a.max(axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp(xp, a, axis):
    mx = a.max(axis=axis, keepdims=True)
    out = xp.log(xp.exp(a - mx).sum(axis=axis, keepdims=True)) + mx
    return out.reshape(()) if axis is None else xp.squeeze(out, axis=axis)


def embed_diagonal(xp, values, out_labels: tuple, value_labels: tuple, shape: tuple):
    """A zero tensor of ``shape`` indexed by ``out_labels`` (a label may repeat) whose entries with
    equal indices for equal labels are ``values`` (indexed by the distinct ``value_labels``)."""
    out = xp.zeros(shape, dtype=values.dtype)
    item = out.itemsize
    strides = [0] * len(value_labels)
    contiguous = [item * math.prod(shape[k + 1:]) for k in range(len(shape))]
    for pos, lab in enumerate(out_labels):
        strides[value_labels.index(lab)] += contiguous[pos]
    view_shape = tuple(shape[out_labels.index(lab)] for lab in value_labels)
    view = xp.lib.stride_tricks.as_strided(out, shape=view_shape, strides=tuple(strides))
    view[...] = values
    return out


def delta(xp, dims: tuple, dtype):
    """The unit tensor δ of shape dims + dims, dense."""
    size = math.prod(dims)
    return xp.eye(size, dtype=dtype).reshape(tuple(dims) + tuple(dims))


def full(xp, shape, value, dtype):
    return xp.full(shape, value, dtype=dtype)


def gram(xp, a, d):
    """a.T @ diag(d) @ a, exploiting symmetry.

    When d >= 0 (Hessians of convex losses: logistic regression's s(1-s)), b = a * sqrt(d) gives
    b.T @ b, which NumPy hands to BLAS syrk (one triangle, about half the flops of a general
    product). Otherwise the general product.
    """
    if d is None:
        return a.T @ a
    if bool((d >= 0).all()):
        b = a * xp.sqrt(d)[:, None]
        return b.T @ b
    return a.T @ (a * d[:, None])
