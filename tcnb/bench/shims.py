"""Array-namespace shims so tcnb's generated code runs under autograd, JAX and PyTorch.

tcnb's code generator (``generate(..., traceable=True)``) writes a function
``tcnb_fn(xp, _rt, dtype, *arrays)`` that only says ``xp.<function>(...)``, ``@``, ``.T``, ``*``, ``+``,
indexing with ``None`` and ``_rt.<helper>(xp, ...)``. Running that source with ``xp`` = a framework's
array namespace gives the framework *the same function* as the tcnb expression, which it can then
differentiate with its own ``grad``/``jacobian``/``hessian``.

Two things are needed per framework:

- ``_rt``: tcnb's runtime helpers (tcnb/backend/runtime.py) are written for NumPy/CuPy; one of them
  (``embed_diagonal``) writes into a strided view, which no tracing framework can differentiate. The
  :class:`FunctionalRuntime` here has the same helpers written without mutation (unit tensors as
  einsum products with identity matrices), valid for any namespace below.
- ``xp``: autograd.numpy and jax.numpy speak NumPy already; :class:`TorchNamespace` translates the
  NumPy names the generated code uses to PyTorch (``sum(axis=)`` → ``sum(dim=)``, ``transpose`` with a
  permutation → ``permute``, ``tensordot(axes=)`` → ``tensordot(dims=)``, scalars for ``logaddexp``
  and ``heaviside`` → tensors, ...).
"""
from __future__ import annotations

import math
import string


class FunctionalRuntime:
    """tcnb's ``_rt`` helpers without in-place writes, for traced (differentiated) code."""

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
    def expm(xp, a, what=None):
        """Matrix exponential: JAX's, or PyTorch's ``matrix_exp`` (autograd has none)."""
        if getattr(xp, "__name__", "").startswith("jax"):
            import jax.scipy.linalg
            return jax.scipy.linalg.expm(a)
        if hasattr(xp, "linalg") and hasattr(xp.linalg, "matrix_exp"):
            return xp.linalg.matrix_exp(a)
        raise NotImplementedError("expm: this framework has no differentiable matrix exponential")

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
        """Same result as tcnb's runtime.embed_diagonal, as one einsum with identity matrices: the
        first axis with a label takes the value's axis, each repeat of it is tied by an eye()."""
        letters = iter(string.ascii_letters)
        first = {lab: next(letters) for lab in value_labels}
        out_spec, extra_specs, extra_ops = [], [], []
        seen = set()
        for pos, lab in enumerate(out_labels):
            if lab not in seen:
                seen.add(lab)
                out_spec.append(first[lab])
            else:
                new = next(letters)
                out_spec.append(new)
                extra_specs.append(first[lab] + new)
                extra_ops.append(xp.eye(int(shape[pos]), dtype=values.dtype))
        spec = ",".join(["".join(first[l] for l in value_labels)] + extra_specs) + "->" + "".join(out_spec)
        return xp.einsum(spec, values, *extra_ops)

    @staticmethod
    def gram(xp, a, d):  # only emitted when traceable=False; kept for completeness
        """aᵀ a, or aᵀ diag(d) a."""
        if d is None:
            return a.T @ a
        return a.T @ (a * d[:, None])

    # linear index maps. The index arrays depend on the shapes only, so they are computed once
    # with NumPy (checked like tcnb's: an access outside the tensor is an error) and enter the
    # traced code as constants; the data only ever flows through indexing, sums and products,
    # which every framework differentiates.
    @staticmethod
    def gather(xp, t, axes, A, c, I_shape, J_shape):
        """u[I, rest] = t[A·I + c (on ``axes``), rest], as one integer-array index."""
        flat, rest = _flat_operand(xp, t, axes, J_shape)
        target = _targets(A, c, I_shape, J_shape).reshape(tuple(I_shape))
        return flat[xp.asarray(target)]

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
        from ..backend import runtime
        return xp.asarray(runtime.index_map_dense(numpy, A, c, I_shape, J_shape, numpy.float64), dtype=dtype)


    @staticmethod
    def special(xp):
        """The framework's scipy.special: jax.scipy.special, autograd.scipy.special, torch.special
        (through :class:`TorchNamespace`), or SciPy's own for NumPy."""
        import importlib
        if isinstance(xp, TorchNamespace):
            return xp.special
        module = {"jax.numpy": "jax.scipy.special", "autograd.numpy": "autograd.scipy.special",
                  "numpy": "scipy.special"}.get(getattr(xp, "__name__", ""))
        if module is None:
            raise NotImplementedError(f"no special functions are known for {xp!r}")
        return importlib.import_module(module)


RUNTIME = FunctionalRuntime()


def _targets(A, c, I_shape, J_shape):
    """For every I (row-major), the flat index of its target A·I + c in J (NumPy, checked)."""
    import numpy
    from ..backend import runtime
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


class _TorchLinalg:
    def __init__(self, torch):
        self._t = torch

    def inv(self, a):
        return self._t.linalg.inv(a)

    def det(self, a):
        return self._t.linalg.det(a)

    def slogdet(self, a):
        return self._t.linalg.slogdet(a)

    def __getattr__(self, name):  # torch.linalg spells the rest as NumPy does (solve, cholesky, ...)
        return getattr(self._t.linalg, name)


class TorchNamespace:
    """The NumPy names tcnb's generated code uses, on PyTorch tensors of one device."""

    __name__ = "tcnb.bench.torch"

    def __init__(self, torch, device="cpu"):
        self._t = torch
        self.device = torch.device(device)
        self.linalg = _TorchLinalg(torch)
        self.float64 = torch.float64
        self.float32 = torch.float32
        for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "log1p", "cosh", "sinh",
                     "abs", "sign", "square", "einsum", "broadcast_to", "reshape", "swapaxes"):
            setattr(self, name, getattr(torch, name))
        self.arctan = torch.atan
        for name in ("expm1", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh"):
            setattr(self, name, getattr(torch, name))
        self.special = torch.special  # _rt.special(xp) for erf, gammaln, digamma, polygamma, ndtr

    # --- conversions
    def _dtype(self, dtype):
        if dtype is None or isinstance(dtype, self._t.dtype):
            return dtype
        import numpy
        return {numpy.dtype("float64"): self._t.float64,
                numpy.dtype("float32"): self._t.float32}[numpy.dtype(dtype)]

    def _tensor_like(self, x, ref):
        if isinstance(x, self._t.Tensor):
            return x
        return self._t.as_tensor(x, dtype=ref.dtype, device=ref.device)

    def asarray(self, a, dtype=None):
        """A tensor on this namespace's device."""
        return self._t.as_tensor(a, dtype=self._dtype(dtype), device=self.device)

    def ascontiguousarray(self, a):
        """The tensor in contiguous memory."""
        return a.contiguous()

    # --- constructors
    def zeros(self, shape, dtype=None):
        """numpy.zeros for torch."""
        return self._t.zeros(tuple(shape), dtype=self._dtype(dtype), device=self.device)

    def full(self, shape, value, dtype=None):
        """numpy.full for torch; a tensor value is broadcast so its derivative is kept."""
        if isinstance(value, self._t.Tensor):  # a computed scalar: broadcast, keeping its derivative
            dtype = self._dtype(dtype) or value.dtype
            return self._t.broadcast_to(value.to(dtype), tuple(shape))
        return self._t.full(tuple(shape), float(value), dtype=self._dtype(dtype), device=self.device)

    def eye(self, n, dtype=None):
        """numpy.eye for torch."""
        return self._t.eye(int(n), dtype=self._dtype(dtype), device=self.device)

    # --- reductions and layout
    def sum(self, a, axis=None, keepdims=False):
        """numpy.sum (``axis``, ``keepdims``) for torch."""
        if axis is None:
            out = self._t.sum(a)
            return out.reshape((1,) * a.dim()) if keepdims else out
        return self._t.sum(a, dim=axis, keepdim=keepdims)

    def max(self, a, axis=None, keepdims=False):
        """numpy.max (``axis``, ``keepdims``) for torch."""
        if axis is None:
            out = self._t.amax(a, dim=tuple(range(a.dim())))
            return out.reshape((1,) * a.dim()) if keepdims else out
        return self._t.amax(a, dim=axis, keepdim=keepdims)

    def squeeze(self, a, axis=None):
        """numpy.squeeze for torch."""
        return self._t.squeeze(a) if axis is None else self._t.squeeze(a, dim=axis)

    def transpose(self, a, axes=None):
        """numpy.transpose (reversed axes, or a permutation) for torch."""
        if axes is None:
            axes = tuple(reversed(range(a.dim())))
        return a.permute(tuple(axes))

    def tensordot(self, a, b, axes=2):
        """numpy.tensordot (an int or a pair of axis lists) for torch."""
        if isinstance(axes, int):
            return self._t.tensordot(a, b, dims=axes)
        ia, ib = axes
        ia = [ia] if isinstance(ia, int) else list(ia)
        ib = [ib] if isinstance(ib, int) else list(ib)
        return self._t.tensordot(a, b, dims=(ia, ib))

    # --- element-wise with scalar arguments
    def maximum(self, a, b):
        """numpy.maximum for torch, a Python scalar on either side included."""
        if not isinstance(b, self._t.Tensor):
            return self._t.clamp(a, min=float(b))
        if not isinstance(a, self._t.Tensor):
            return self._t.clamp(b, min=float(a))
        return self._t.maximum(a, b)

    def logaddexp(self, a, b):
        """numpy.logaddexp for torch, scalars turned into tensors."""
        ref = a if isinstance(a, self._t.Tensor) else b
        return self._t.logaddexp(self._tensor_like(a, ref), self._tensor_like(b, ref))

    def heaviside(self, a, value):
        # torch.heaviside has no derivative; this spelling has derivative zero, like the step itself
        """numpy.heaviside spelled so it has a derivative (zero), unlike torch.heaviside."""
        step = (a > 0).to(a.dtype)
        return step if float(value) == 0.0 else step + (a == 0).to(a.dtype) * float(value)
