"""tcnb's runtime helpers (``_rt``) without in-place writes and without value-dependent checks.

Why: code that a framework traces — to differentiate it (autograd, JAX, PyTorch baselines) or to
compile it (``backend="jax"``'s ``jax.jit``, ``backend="dask"``'s lazy graph) — can neither write
into an array nor read a value back to branch on it. runtime.py's helpers do both (``add.at``,
strided diagonal writes, singularity checks); :class:`FunctionalRuntime` has the same helpers
written as pure functions of their inputs (unit tensors as einsum products with identity matrices,
scatters as sums of gathers, linear algebra without the checks), valid for every array namespace
tcnb runs on. Helpers that are pure already are runtime.py's own (``FunctionalRuntime`` inherits
them), so the two can only differ where they must.
"""
from __future__ import annotations

import math

from . import runtime as _checked


class FunctionalRuntime:
    """tcnb's ``_rt`` helpers without in-place writes or value checks, for traced code.

    Only the helpers that must differ are here; :func:`functional_runtime` fills in the rest from
    runtime.py (the pure ones: cumsum, prod_others, ...).
    """

    @staticmethod
    def softmax(xp, a, axis):
        """Softmax along ``axis``, shifted by the maximum for stability."""
        shifted = a - xp.max(a, axis=axis, keepdims=True)
        e = xp.exp(shifted)
        return e / xp.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def logsumexp(xp, a, axis):
        """log(sum(exp(a))) along ``axis`` (all axes for None), shifted by the maximum."""
        mx = xp.max(a, axis=axis, keepdims=True)
        out = xp.log(xp.sum(xp.exp(a - mx), axis=axis, keepdims=True)) + mx
        return xp.reshape(out, ()) if axis is None else xp.squeeze(out, axis=axis)

    # linear algebra without tcnb's singularity checks (they branch on data, which tracing cannot)
    @staticmethod
    def inv(xp, a, what=None):
        """Matrix inverse, without tcnb's singularity check."""
        return xp.linalg.inv(a)

    @staticmethod
    def det(xp, a, what=None):
        """Determinant, without tcnb's singularity check."""
        return xp.linalg.det(a)

    @staticmethod
    def logdet(xp, a, what=None):
        """log abs(det), without tcnb's singularity check."""
        return xp.linalg.slogdet(a)[1]

    @staticmethod
    def solve(xp, a, b, what=None):
        """x with a @ x = b (a stack of vectors b, one axis fewer than a, or of matrices), unchecked."""
        if b.ndim < a.ndim:
            return xp.linalg.solve(a, b[..., None])[..., 0]
        return xp.linalg.solve(a, b)

    @staticmethod
    def cholesky(xp, a, what=None):
        """Lower Cholesky factor of (A + Aᵀ)/2, unchecked (NaN where A is not positive definite)."""
        return xp.linalg.cholesky(_checked._sym(a))

    @staticmethod
    def check_structure(xp, a, name, structure):
        """The declaration's promise is not checked in traced code (it reads values): ``a`` itself."""
        return a

    @staticmethod
    def solve_triangular(xp, a, b, lower=True, what=None):
        """x with T x = b, T the lower (upper) triangle of a, as a general solve of that triangle."""
        t = xp.tril(a) if lower else xp.triu(a)
        return FunctionalRuntime.solve(xp, t, b)

    @staticmethod
    def eigvalsh(xp, a, what=None):
        """Eigenvalues of (A + Aᵀ)/2, ascending."""
        return xp.linalg.eigvalsh(_checked._sym(a))

    @staticmethod
    def eigh_vectors(xp, a, what=None):
        """Eigenvectors of (A + Aᵀ)/2 with runtime.py's sign convention (largest entry positive)."""
        _, v = xp.linalg.eigh(_checked._sym(a))
        return v * _column_signs(xp, v)

    @staticmethod
    def svdvals(xp, a, what=None):
        """Singular values, descending."""
        return xp.linalg.svd(a, compute_uv=False)

    @staticmethod
    def svd_vectors(xp, a, right=False, what=None):
        """Thin SVD's U (or V) with runtime.py's sign convention."""
        u, _, vt = xp.linalg.svd(a, full_matrices=False)
        s = _column_signs(xp, u)
        return xp.swapaxes(vt, -1, -2) * s if right else u * s

    @staticmethod
    def pinv(xp, a, what=None):
        """Moore–Penrose pseudo-inverse."""
        return xp.linalg.pinv(a)

    @staticmethod
    def expm(xp, a, what=None):
        """Matrix exponential: JAX's, PyTorch's ``matrix_exp``, or the namespace's own ``expm``."""
        if getattr(xp, "__name__", "").startswith("jax"):
            import jax.scipy.linalg
            return jax.scipy.linalg.expm(a)
        if hasattr(xp, "linalg") and hasattr(xp.linalg, "matrix_exp"):
            return xp.linalg.matrix_exp(a)
        if hasattr(xp, "expm"):
            return xp.expm(a)
        raise NotImplementedError("expm: this framework has no differentiable matrix exponential")

    @staticmethod
    def expm_derivative(xp, a, order=1, what=None):
        """runtime.expm_derivative's tensor, with its block matrices built without writes: the
        Van Loan block matrix of every unit direction as a constant NumPy pattern plus A on the
        diagonal blocks, then one batched ``expm``."""
        import itertools
        import numpy
        if a.ndim > 2:
            parts = [FunctionalRuntime.expm_derivative(xp, a[k], order) for k in range(a.shape[0])]
            return xp.stack(parts)
        n, p = int(a.shape[-1]), int(order)
        nn, size = n * n, (p + 1) * n
        pattern = numpy.zeros((nn ** p, size, size))
        idx = numpy.arange(nn ** p)
        for q in range(p):
            d = (idx // nn ** (p - 1 - q)) % nn
            pattern[idx, q * n + d // n, (q + 1) * n + d % n] = 1
        # A on every diagonal block: kron(I_{p+1}, A) as an einsum with constant identities
        eye = xp.asarray(numpy.eye(p + 1), dtype=a.dtype)
        diag_blocks = xp.reshape(xp.einsum("qr,ij->qirj", eye, a), (size, size))
        m = xp.asarray(pattern, dtype=a.dtype) + diag_blocks[None]
        top = FunctionalRuntime.expm(xp, m)[:, :n, p * n:]
        ordered = xp.moveaxis(xp.reshape(top, (n, n) * p + (n, n)), (2 * p, 2 * p + 1), (0, 1))
        out = None
        for perm in itertools.permutations(range(p)):
            axes = (0, 1) + tuple(2 + 2 * perm[q] + r for q in range(p) for r in (0, 1))
            term = xp.transpose(ordered, axes)
            out = term if out is None else out + term
        return out

    @staticmethod
    def contiguous(xp, a):
        """``a`` in its own memory (not a broadcast view) where the namespace has views (PyTorch's
        ``contiguous``); ``a`` itself where arrays are immutable values (JAX, Dask)."""
        own = getattr(xp, "ascontiguousarray", None)
        return a if own is None else own(a)

    @staticmethod
    def full(xp, shape, value, dtype):
        """A constant array of ``shape``."""
        return xp.full(tuple(shape), value, dtype=dtype)

    @staticmethod
    def delta(xp, dims: tuple, dtype):
        """The unit tensor over ``dims`` (shape dims + dims), from an identity matrix."""
        size = math.prod(dims)
        return xp.reshape(xp.eye(size, dtype=dtype), tuple(dims) + tuple(dims))

    @staticmethod
    def embed_diagonal(xp, values, out_labels: tuple, value_labels: tuple, shape: tuple):
        """Same result as tcnb's runtime.embed_diagonal, as a broadcast product with identity
        matrices (runtime.embed_by_products), without writing into an array."""
        return _checked.embed_by_products(xp, values, out_labels, value_labels, shape)

    @staticmethod
    def gram(xp, a, d, host=None):  # only emitted when traceable=False; kept for completeness
        """aᵀ a, or aᵀ diag(d) a, without runtime.py's branch on the sign of d."""
        if d is None:
            return a.T @ a
        return a.T @ (a * d[:, None])

    # linear index maps. The index arrays depend on the shapes only, so they are computed once
    # with NumPy (checked like tcnb's: an access outside the tensor is an error) and enter the
    # traced code as constants; the data only ever flows through indexing, sums and products,
    # which every framework differentiates.
    @staticmethod
    def gather(xp, t, axes, A, c, I_shape, J_shape):
        """u[I, rest] = t[A·I + c (on ``axes``), rest], as one flat integer-array index, reshaped
        (Dask indexes by one-dimensional integer arrays only)."""
        flat, rest = _flat_operand(xp, t, axes, J_shape)
        target = _targets(A, c, I_shape, J_shape)
        return xp.reshape(flat[xp.asarray(target)], tuple(I_shape) + rest)

    @staticmethod
    def scatter(xp, t, axes, A, c, I_shape, J_shape, injective=False):
        """u[J, rest] = Σ_{I : A·I + c = J} t[I, rest] as a sum of gathers: the k-th gather picks,
        for every J, the k-th I that reaches it (a masked-out dummy where fewer do), so no array
        is written in place (no ``add.at``, which traced code cannot differentiate)."""
        flat, rest = _flat_operand(xp, t, axes, I_shape)
        picks, masks = _preimages(A, c, I_shape, J_shape)
        ones = (1,) * len(rest)
        out = None
        for pick, mask in zip(picks, masks):
            part = flat[xp.asarray(pick)]
            if not mask.all():
                part = part * xp.asarray(mask.reshape(mask.shape + ones), dtype=t.dtype)
            out = part if out is None else out + part
        if out is None:  # no I at all
            return xp.zeros(tuple(J_shape) + tuple(rest), dtype=t.dtype)
        return xp.reshape(out, tuple(J_shape) + tuple(rest))

    @staticmethod
    def index_map_dense(xp, A, c, I_shape, J_shape, dtype):
        """The selection tensor S[I, J] (a constant), built by NumPy and converted."""
        import numpy
        from . import runtime
        return xp.asarray(runtime.index_map_dense(numpy, A, c, I_shape, J_shape, numpy.float64), dtype=dtype)


    @staticmethod
    def special(xp):
        """The framework's scipy.special: jax.scipy.special, autograd.scipy.special, torch.special
        (through :class:`TorchNamespace`), or SciPy's own for NumPy."""
        import importlib
        if hasattr(xp, "special"):  # TorchNamespace (torch.special), or a namespace that brings its own
            return xp.special
        module = {"jax.numpy": "jax.scipy.special", "autograd.numpy": "autograd.scipy.special",
                  "numpy": "scipy.special"}.get(getattr(xp, "__name__", ""))
        if module is None:
            raise NotImplementedError(f"no special functions are known for {xp!r}")
        return importlib.import_module(module)


def functional_runtime(**overrides):
    """``_rt`` for traced code: runtime.py's helpers, with FunctionalRuntime's where they must
    differ, then ``overrides`` (a backend's own, e.g. its special functions)."""
    import inspect
    import types
    helpers = {n: f for n, f in vars(_checked).items() if inspect.isfunction(f) and not n.startswith("_")}
    helpers.update({n: getattr(FunctionalRuntime, n) for n, f in vars(FunctionalRuntime).items()
                    if isinstance(f, staticmethod)})
    helpers.update(overrides)
    return types.SimpleNamespace(**helpers)


RUNTIME = functional_runtime()


def _column_signs(xp, v):
    """runtime._column_signs without an integer gather: +1 / -1 per column, the sign of the
    column's entry of largest magnitude (a product with the mask of the maximum, so autograd,
    JAX and PyTorch trace it alike; piecewise constant, so its derivative is zero)."""
    mag = xp.abs(v)
    top = mag == xp.max(mag, axis=-2, keepdims=True)
    s = xp.sign(xp.sum(v * top, axis=-2, keepdims=True))
    return s + (s == 0)


def _targets(A, c, I_shape, J_shape):
    """For every I (row-major), the flat index of its target A·I + c in J (NumPy, checked)."""
    import numpy
    from . import runtime
    idx = runtime._map_indices(numpy, A, c, I_shape, J_shape)
    if not idx:
        return numpy.zeros(math.prod(I_shape), dtype=numpy.int64)
    return numpy.ravel_multi_index(tuple(i.reshape(-1) for i in idx), tuple(J_shape)).astype(numpy.int64)


def _preimages(A, c, I_shape, J_shape):
    """([pick_k], [mask_k]): pick_k[J] is the flat index of the k-th I with A·I + c = J (0 where
    there is none: masked by mask_k[J] = 0); as many k as the most I that share one J."""
    import numpy
    target = _targets(A, c, I_shape, J_shape)
    size_J = math.prod(J_shape)
    order = numpy.argsort(target, kind="stable")
    ordered = target[order]
    rank = numpy.arange(len(ordered)) - numpy.searchsorted(ordered, ordered, side="left")
    picks, masks = [], []
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        sel = rank == k
        pick = numpy.zeros(size_J, dtype=numpy.int64)
        mask = numpy.zeros(size_J, dtype=bool)
        pick[ordered[sel]] = order[sel]
        mask[ordered[sel]] = True
        picks.append(pick)
        masks.append(mask)
    return picks, masks


def _flat_operand(xp, t, axes, shape):
    """t with its ``axes`` moved to the front and flattened into one (of ``prod(shape)`` entries);
    returns it and the shape of the remaining axes."""
    axes = tuple(axes)
    others = tuple(q for q in range(len(t.shape)) if q not in axes)
    if axes + others != tuple(range(len(t.shape))):
        t = xp.transpose(t, axes + others)
    rest = tuple(int(s) for s in t.shape[len(axes):])
    return xp.reshape(t, (math.prod(shape),) + rest), rest


