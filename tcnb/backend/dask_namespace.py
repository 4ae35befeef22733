"""dask.array spoken with the NumPy names tcnb's generated code uses, for ``backend="dask"``.

Why: dask.array has most of NumPy's names, but the ones tcnb's code leans on for speed and for
small dense algebra need care on chunked data. A generic ``da.einsum`` runs ``np.einsum`` per
chunk without BLAS (28× NumPy for the 3-operand logistic Hessian); here an einsum of two or more
operands is contracted pairwise in opt_einsum's order, each pair a ``tensordot`` (BLAS per block,
then a tree reduction over the chunked axis) wherever the pair allows one (dask_einsum.py). Small dense linear
algebra (inv, solve, eigh, an n×n Hessian's factorisation) has no chunked algorithm in Dask or
needs none: it runs as a generalized ufunc, the matrix axes in one chunk and any stack axis
chunked as it is. Values never leave the graph: nothing here computes (no ``bool(...)``, no
``.compute()``), so a compiled function returns a lazy dask array.
"""
from __future__ import annotations

import functools
import importlib

from ..errors import BackendUnavailableError


class DaskUnsupportedError(BackendUnavailableError, AttributeError):
    """Generated code asked the Dask namespace for a function neither dask.array nor tcnb provides.

    Also an AttributeError, so ``hasattr(xp, name)`` (how the functional runtime probes a namespace)
    answers False instead of raising.
    """


def _numpy():
    return importlib.import_module("numpy")


def _gufunc(da, fn, signature, *arrays, nout=None, sizes=None, **kwargs):
    """``fn`` over the stack axes of ``arrays``, its matrix axes (``signature``'s core axes) in one chunk."""
    np = _numpy()
    dtype = np.result_type(*[a.dtype for a in arrays])
    dtype = dtype if dtype.kind == "f" else np.dtype("float64")
    outs = signature.split("->")[1].count("(")
    return da.apply_gufunc(fn, signature, *arrays, allow_rechunk=True, output_sizes=sizes,
                           output_dtypes=(dtype,) * outs if outs > 1 else dtype, **kwargs)


class DaskLinalg:
    """numpy.linalg for dask arrays: NumPy's (SciPy's for expm) on blocks whose matrix axes are whole."""

    def __init__(self, ns):
        self._ns = ns
        self._da = ns._da

    def _run(self, fn, signature, *arrays, **kw):
        return _gufunc(self._da, fn, signature, *[self._ns.asarray(a) for a in arrays], **kw)

    def inv(self, a):
        """Matrix inverse (a stack allowed)."""
        return self._run(_numpy().linalg.inv, "(i,j)->(i,j)", a)

    def det(self, a):
        """Determinant (a stack allowed)."""
        return self._run(_numpy().linalg.det, "(i,j)->()", a)

    def slogdet(self, a):
        """(sign, log abs det), two lazy arrays."""
        return self._run(_slogdet, "(i,j)->(),()", a)

    def solve(self, a, b):
        """x with a @ x = b, b a matrix (a stack allowed); tcnb's runtime handles vectors."""
        return self._run(_numpy().linalg.solve, "(i,j),(j,k)->(i,k)", a, b)

    def cholesky(self, a):
        """Lower Cholesky factor."""
        return self._run(_numpy().linalg.cholesky, "(i,j)->(i,j)", a)

    def eigh(self, a):
        """(eigenvalues ascending, eigenvectors signed as tcnb's runtime signs them) of a symmetric matrix."""
        return self._run(_eigh, "(i,j)->(i),(i,j)", a)

    def eigvalsh(self, a):
        """Eigenvalues of a symmetric matrix, ascending."""
        return self._run(_numpy().linalg.eigvalsh, "(i,j)->(i)", a)

    def svd(self, a, full_matrices=True, compute_uv=True):
        """Thin SVD (u, s, vh; signed as tcnb's runtime signs them), or the singular values only;
        full matrices are not offered for non-square ``a``."""
        a = self._ns.asarray(a)
        k = min(int(a.shape[-2]), int(a.shape[-1]))
        if not compute_uv:
            return self._run(_svdvals, "(i,j)->(k)", a, sizes={"k": k})
        if full_matrices and a.shape[-2] != a.shape[-1]:
            raise DaskUnsupportedError("backend 'dask' computes the thin SVD only (full_matrices=False)",
                                       expected="svd(a, full_matrices=False)")
        return self._run(_svd_thin, "(i,j)->(i,k),(k),(k,j)", a, sizes={"k": k})

    def pinv(self, a):
        """Moore–Penrose pseudo-inverse."""
        return self._run(_numpy().linalg.pinv, "(i,j)->(j,i)", a)

    def matrix_power(self, a, k):
        """a to the integer power k."""
        return self._run(functools.partial(_numpy().linalg.matrix_power, n=int(k)), "(i,j)->(i,j)", a)

    def matrix_exp(self, a):
        """The matrix exponential (SciPy's Padé approximation), found by the functional runtime's expm."""
        import scipy.linalg
        return self._run(scipy.linalg.expm, "(i,j)->(i,j)", a)

    def __getattr__(self, name):
        raise DaskUnsupportedError(f"backend 'dask' has no linalg.{name}",
                                   expected="one of inv, det, slogdet, solve, cholesky, eigh, eigvalsh, svd, "
                                            "pinv, matrix_power, matrix_exp")


def _slogdet(a):
    s, l = _numpy().linalg.slogdet(a)
    return s, l


# Eigen- and singular vectors are signed as tcnb's runtime signs them (each column's largest entry
# positive), so the dask backend gives the numpy backend's values even where generated code calls
# ``xp.linalg.eigh`` directly (the traceable templates do).

def _eigh(a):
    from . import runtime
    np = _numpy()
    w, v = np.linalg.eigh(a)
    return w, v * runtime._column_signs(np, v)


def _svdvals(a):
    return _numpy().linalg.svd(a, compute_uv=False)


def _svd_thin(a):
    from . import runtime
    np = _numpy()
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    signs = runtime._column_signs(np, u)
    return u * signs, s, vh * np.swapaxes(signs, -1, -2)


class DaskSpecial:
    """scipy.special on dask arrays: each function applied chunk by chunk (broadcasting like a ufunc)."""

    def __init__(self, da):
        self._da = da

    def __getattr__(self, name):
        import scipy.special
        fn = getattr(scipy.special, name, None)
        if fn is None:
            raise DaskUnsupportedError(f"backend 'dask' has no special.{name} (scipy.special lacks it)")
        return functools.partial(self._da.core.elemwise, fn)


class DaskNamespace:
    """The NumPy names tcnb's generated code uses, on dask arrays (lazy; chunked along any axes).

    What dask.array spells as NumPy does falls through to it; a NumPy ufunc dask.array does not
    export (``heaviside``) applies chunk by chunk; the rest is written here.
    """

    __name__ = "tcnb.backend.dask"

    def __init__(self, da):
        self._da = da
        self.linalg = DaskLinalg(self)
        self.special = DaskSpecial(da)  # _rt.special(xp): erf, gammaln, digamma, polygamma, ndtr

    def __getattr__(self, name):
        da, np = self._da, _numpy()
        if name.startswith("__"):
            raise AttributeError(name)
        if name == "lib":  # numpy.lib.stride_tricks: views written through, which no dask array has
            raise DaskUnsupportedError("backend 'dask' cannot write into an array in place (a helper "
                                       "asked for numpy.lib.stride_tricks views)",
                                       expected="this result on backend='numpy', or its lazy parts")
        if hasattr(da, name):
            return getattr(da, name)
        ufunc = getattr(np, name, None)
        if isinstance(ufunc, np.ufunc):
            return functools.partial(da.core.elemwise, ufunc)
        if name in ("finfo", "iinfo", "dtype", "result_type"):
            return ufunc
        raise DaskUnsupportedError(f"backend 'dask' has no {name!r} for generated code (dask.array lacks it)",
                                   expected="this expression on another backend, e.g. backend='numpy'")

    # --- conversions
    def asarray(self, a, dtype=None):
        """A dask array (NumPy data in chunks of dask's default size: a small one in one chunk).

        NumPy integer arrays without a dtype stay NumPy: they are the constant index arrays of
        gathers and scatters, which dask indexes by only as NumPy arrays of known length.
        """
        da, np = self._da, _numpy()
        if isinstance(a, da.Array):
            return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
        if dtype is None and isinstance(a, np.ndarray) and a.dtype.kind in "biu":
            return a
        return da.asarray(np.asarray(a, dtype=dtype))

    def ascontiguousarray(self, a):
        """Dask has no memory layout to speak of: the array itself."""
        return self.asarray(a)

    # --- constructors (dtype positional as NumPy allows)
    def zeros(self, shape, dtype=None):
        """numpy.zeros, lazily."""
        return self._da.zeros(_shape(shape), dtype=dtype or "float64")

    def ones(self, shape, dtype=None):
        """numpy.ones, lazily."""
        return self._da.ones(_shape(shape), dtype=dtype or "float64")

    def full(self, shape, value, dtype=None):
        """numpy.full; a computed (lazy) scalar value is broadcast, not read back."""
        da = self._da
        if isinstance(value, da.Array):
            value = value if dtype is None else value.astype(dtype)
            return da.broadcast_to(value, _shape(shape))
        return da.full(_shape(shape), value, dtype=dtype)

    def eye(self, n, dtype=None):
        """numpy.eye for one square size."""
        return self._da.eye(int(n), dtype=dtype or "float64")

    # --- contractions
    def einsum(self, spec, *operands, **kwargs):
        """numpy.einsum as blockwise products (dask_einsum.py): diagonals first, then pairs in
        opt_einsum's order, each a ``tensordot`` (BLAS per block, a tree reduction over chunked
        summed axes), a broadcast multiply, or — batch axes that are also summed — ``da.einsum``."""
        ops = [self.asarray(o) for o in operands]
        if "->" not in spec:  # implicit output (generated code always writes it)
            return self._da.einsum(spec, *ops, **kwargs)
        from .dask_einsum import einsum
        return einsum(self._da, spec, *ops)

    def tensordot(self, a, b, axes=2):
        """numpy.tensordot over dask arrays."""
        return self._da.tensordot(self.asarray(a), self.asarray(b), axes=axes)

    # --- what dask.array lacks
    def kron(self, a, b):
        """numpy.kron (operands padded to one rank): the outer product with each pair of axes merged."""
        da = self._da
        a, b = self.asarray(a), self.asarray(b)
        r = max(a.ndim, b.ndim)
        a = a.reshape((1,) * (r - a.ndim) + a.shape)
        b = b.reshape((1,) * (r - b.ndim) + b.shape)
        outer = a.reshape(tuple(s for d in a.shape for s in (d, 1))) * b.reshape(tuple(s for d in b.shape for s in (1, d)))
        return da.reshape(outer, tuple(p * q for p, q in zip(a.shape, b.shape)))

    def take_along_axis(self, a, indices, axis):
        """numpy.take_along_axis, chunk by chunk with ``axis`` whole (small dense operands)."""
        np, da = _numpy(), self._da
        a, indices = self.asarray(a), da.asarray(indices)
        axis = axis % a.ndim
        a = a.rechunk({axis: -1})
        indices = indices.rechunk({axis: -1})
        shape = np.broadcast_shapes(a.shape[:axis] + a.shape[axis + 1:],
                                    indices.shape[:axis] + indices.shape[axis + 1:])
        shape = shape[:axis] + (indices.shape[axis],) + shape[axis:]
        a = da.broadcast_to(a, shape[:axis] + (a.shape[axis],) + shape[axis + 1:])
        indices = da.broadcast_to(indices, shape)
        return da.map_blocks(np.take_along_axis, a, indices, axis=axis, dtype=a.dtype, chunks=indices.chunks)

    def tril(self, a, k=0):
        """numpy.tril (a stack of matrices allowed: the last two axes)."""
        return self._band(a, k, lower=True)

    def triu(self, a, k=0):
        """numpy.triu (a stack of matrices allowed: the last two axes)."""
        return self._band(a, k, lower=False)

    def _band(self, a, k, lower):
        np = _numpy()
        a = self.asarray(a)
        rows, cols = int(a.shape[-2]), int(a.shape[-1])
        mask = np.tri(rows, cols, k, dtype=bool) if lower else ~np.tri(rows, cols, k - 1, dtype=bool)
        return self._da.where(mask, a, a.dtype.type(0))


def _shape(shape) -> tuple:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


def gram(xp, a, d, host=None):
    """aᵀ diag(d) a (aᵀ a for d None) as one symmetric product per row block, summed in a tree:
    tcnb's runtime.gram on each block — BLAS syrk, half a general product's flops, where the
    block's d >= 0 (its sign read inside the task, never while the graph is built)."""
    da = xp._da
    a = xp.asarray(a)
    n = int(a.shape[1])
    a = a.rechunk({1: -1})
    blocks = ((1,) * a.numblocks[0], (n,), (n,))
    if d is None:
        parts = da.blockwise(_gram_block, "kab", a, "ka", None, None, new_axes={"b": n},
                             adjust_chunks={"k": 1}, dtype=a.dtype, concatenate=True)
    else:
        d = xp.asarray(d).rechunk((a.chunks[0],))
        parts = da.blockwise(_gram_block, "kab", a, "ka", d, "k", new_axes={"b": n},
                             adjust_chunks={"k": 1}, dtype=a.dtype, concatenate=True)
    assert parts.chunks == blocks
    return parts.sum(axis=0)


def _gram_block(a, d):
    from . import runtime
    return runtime.gram(_numpy(), a, d, host=True)[None]


def helpers() -> dict:
    """The dask backend's own ``_rt`` helpers (over functional.py's)."""
    return {"gram": gram}


def load():
    """The namespace (dask.array must import; a cluster is whatever Client is active, or none)."""
    return DaskNamespace(importlib.import_module("dask.array"))
