"""Small array helpers that generated code calls as ``_rt.<name>(xp, ...)``.

They are the operations with no single NumPy spelling: numerically stable softmax/logsumexp, and
writing a result onto the diagonal of a larger zero tensor (how an unit tensor in a dense result is
materialised, only when the user asks for a dense result), and the scipy.special-like namespace of
an array namespace (``_rt.special(xp).erf``).
"""
from __future__ import annotations

import math


def _error(kind: str, message: str, expected: str) -> Exception:
    """tcnb's error ``kind`` (BindingError, NumericalError), imported only on failure.

    Helpers name errors through this one function and import nothing from tcnb themselves, so
    standalone modules (tcnb/backend/standalone.py) can copy them and define their own ``_error``.
    """
    from .. import errors
    return getattr(errors, kind)(message, expected=expected)


def special(xp):
    """The scipy.special-like namespace for the array namespace ``xp``: scipy.special for NumPy,
    cupyx.scipy.special for CuPy (jax.scipy.special for jax.numpy).

    In tcnb this is the backend's ``special`` loader (registry.py binds it in ``Backend.runtime``);
    this default is the one standalone modules copy, so it imports nothing from tcnb.
    """
    import importlib
    root = getattr(xp, "__name__", type(xp).__name__)
    module = {"numpy": "scipy.special", "cupy": "cupyx.scipy.special",
              "jax.numpy": "jax.scipy.special"}.get(root)
    if module is None:
        raise _error("BindingError", f"no special functions (erf, gammaln, ...) are known for the array "
                     f"namespace {root}", "NumPy or CuPy arrays")
    return importlib.import_module(module)


def softmax(xp, a, axis):
    """Softmax along ``axis``, shifted by the maximum for stability."""
    shifted = a - a.max(axis=axis, keepdims=True)
    e = xp.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp(xp, a, axis):
    """log(sum(exp(a))) along ``axis`` (all axes for None), shifted by the maximum."""
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
    """A constant array of ``shape``."""
    return xp.full(shape, value, dtype=dtype)


def gram(xp, a, d, host=None):
    """a.T @ diag(d) @ a, exploiting symmetry.

    When d >= 0 (Hessians of convex losses: logistic regression's s(1-s)), b = a * sqrt(d) gives
    b.T @ b, which NumPy hands to BLAS syrk (one triangle, about half the flops of a general
    product). Otherwise the general product. The check reads d back, so it is only made where that
    costs no device sync: ``host`` (tcnb passes its backend's; standalone code asks the array
    whether its memory is the host's, NumPy's ``__array_interface__``).
    """
    if d is None:
        return a.T @ a
    if host is None:
        host = hasattr(d, "__array_interface__")
    if host and bool((d >= 0).all()):
        b = a * xp.sqrt(d)[:, None]
        return b.T @ b
    return a.T @ (a * d[:, None])


# ----------------------------------------------------------------- linear index maps (gather/scatter)

def _map_indices(xp, A, c, I_shape, J_shape):
    """For every I in the index ranges, the target index A·I + c (one array per target axis),
    checked against the target's shape: out-of-range accesses are an error, not zero padding."""
    grids = []
    for q, n in enumerate(I_shape):
        shape = [1] * len(I_shape)
        shape[q] = n
        grids.append(xp.arange(n).reshape(shape))
    out = []
    for p, row in enumerate(A):
        idx = c[p] + sum((a * grids[q] for q, a in enumerate(row) if a), start=xp.zeros((1,) * len(I_shape), dtype=int))
        idx = xp.broadcast_to(idx, tuple(I_shape))
        lo = int(idx.min()) if idx.size else 0
        hi = int(idx.max()) if idx.size else 0
        if idx.size and (lo < 0 or hi >= J_shape[p]):
            raise _error("BindingError",
                         f"an index map reaches index {lo if lo < 0 else hi} on an axis of size {J_shape[p]}",
                         "index ranges that keep every access inside the tensor")
        out.append(idx)
    return out


def gather(xp, t, axes, A, c, I_shape, J_shape):
    """u[I, rest] = t[A·I + c (on ``axes``), rest]: a contraction with the selection tensor over J."""
    t = xp.moveaxis(t, tuple(axes), tuple(range(len(axes))))
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    return t[tuple(idx)]


def scatter(xp, t, axes, A, c, I_shape, J_shape, injective, scatter_add=None):
    """u[J, rest] = Σ_{I : A·I + c = J} t[I (on ``axes``), rest]: the adjoint of gather.

    ``scatter_add(xp, out, index, values)`` sums repeated targets: tcnb passes its backend's
    (registry.py); by default NumPy's spelling, ``xp.add.at``, which CuPy 12 and later share.
    """
    t = xp.moveaxis(t, tuple(axes), tuple(range(len(axes))))
    rest = t.shape[len(axes):]
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    size = 1
    for n in J_shape:
        size *= n
    flat = xp.ravel_multi_index(tuple(i.reshape(-1) for i in idx), tuple(J_shape)) if idx else \
        xp.zeros(int(t.size // max(1, _prod(rest))), dtype=int)
    out = xp.zeros((size,) + tuple(rest), dtype=t.dtype)
    vals = t.reshape((-1,) + tuple(rest))
    if injective:
        out[flat] = vals
    elif scatter_add is not None:
        out = scatter_add(xp, out, flat, vals)
    else:
        xp.add.at(out, flat, vals)
    return out.reshape(tuple(J_shape) + tuple(rest))


def index_map_dense(xp, A, c, I_shape, J_shape, dtype):
    """The selection tensor itself, dense (only when a result really is this sparse 0/1 tensor)."""
    out = xp.zeros(tuple(I_shape) + tuple(J_shape), dtype=dtype)
    idx = _map_indices(xp, A, c, I_shape, J_shape)
    grids = xp.indices(tuple(I_shape)) if I_shape else []
    out[tuple(grids) + tuple(idx)] = 1
    return out


def _prod(shape):
    p = 1
    for n in shape:
        p *= n
    return p


# ---------------------------------------------------------------------- checked linear algebra
# LAPACK either raises its own LinAlgError on a singular matrix or, on a nearly singular one,
# returns entries of size 1/eps without a word. Both become a NumericalError naming the node, so
# a wrong number never leaves tcnb silently.

def _finite(xp, a, what):
    if not bool(xp.isfinite(a).all()):
        raise _error("NumericalError", f"{what}: the matrix has NaN or infinite entries", "finite inputs")


def _singular(what, detail="the matrix is singular"):
    return _error("NumericalError", f"{what}: {detail}", "a nonsingular (well-conditioned) matrix")


def _ill_conditioned(xp, a, a_inv) -> bool:
    """1-norm condition number past 1/eps: the inverse carries no correct digits."""
    eps = xp.finfo(a.dtype).eps
    norm = xp.abs(a).sum(axis=-2).max(axis=-1)
    norm_inv = xp.abs(a_inv).sum(axis=-2).max(axis=-1)
    cond = norm * norm_inv
    return bool((~xp.isfinite(cond) | (cond * eps > 1.0)).any())


def inv(xp, a, what="inv"):
    """Matrix inverse; NumericalError for non-finite entries or a singular or ill-conditioned matrix,

    instead of a silently huge result.
    """
    _finite(xp, a, what)
    try:
        out = xp.linalg.inv(a)
    except xp.linalg.LinAlgError:
        raise _singular(what) from None
    if _ill_conditioned(xp, a, out):
        raise _singular(what, "the matrix is singular to working precision (condition number over 1/eps)")
    return out


def det(xp, a, what="det"):
    """det(A); a singular A has determinant 0, which is a value like any other."""
    _finite(xp, a, what)
    return xp.linalg.det(a)


def logdet(xp, a, what="logdet"):
    """log|det A| (as numpy's slogdet): the sign is dropped, a singular A is an error (-inf)."""
    _finite(xp, a, what)
    sign, value = xp.linalg.slogdet(a)
    if not bool((sign != 0).all()):
        raise _singular(what, "the matrix is singular, so log|det| is -inf")
    return value


def solve(xp, a, b, what="solve"):
    """x with a @ x = b (a stack of matrices allowed), refusing singular or non-finite systems."""
    _finite(xp, a, what)
    _finite(xp, b, what + " (right-hand side)")
    if a.shape[-1] == 1:  # 1 x 1 blocks: a division, which LAPACK would not check either
        if not bool((a != 0).all()):
            raise _singular(what, "a 1 x 1 block is zero")
        return b / a
    inv(xp, a, what)  # the singularity check needs the inverse's norm (the solved cores are small)
    return xp.linalg.solve(a, b)
