"""PyTorch spoken with the NumPy names tcnb's generated code uses.

Why: generated code says ``xp.sum(a, axis=1)``, ``xp.transpose(a, perm)``,
``xp.tensordot(a, b, axes=...)``; PyTorch spells them ``dim=``, ``permute``, ``dims=``, takes no
Python scalars in ``logaddexp`` or ``sqrt``, and has no ``compute_uv`` in ``svd``.
:class:`TorchNamespace` translates, for one device, so the same generated source (and the helpers
of ``_rt`` it calls) runs on PyTorch tensors — the ``backend="torch"`` backend and the PyTorch
baselines of tcnb.bench both use it. Everything here is a pure function of its inputs, so
``torch.func`` transforms and ``torch.compile`` can trace it.
"""
from __future__ import annotations

import functools
import math

from ..errors import NumericalError

# NumPy's element-wise names -> torch's (the same name where torch has it)
_UNARY = {"exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan", "tanh": "tanh",
          "sqrt": "sqrt", "log1p": "log1p", "expm1": "expm1", "cosh": "cosh", "sinh": "sinh",
          "abs": "abs", "sign": "sign", "square": "square", "arcsin": "asin", "arccos": "acos",
          "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh",
          "isfinite": "isfinite", "floor": "floor", "negative": "neg"}


def _unary(torch, fn):
    """``fn`` on a tensor; on a Python number, the Python number NumPy's rules would give (so a
    constant such as ``sqrt(2)`` in generated code stays a weak scalar, as in NumPy)."""
    def call(a):
        if isinstance(a, torch.Tensor):
            return fn(a)
        return float(fn(torch.tensor(float(a), dtype=torch.float64)))
    call.__doc__ = f"numpy's {fn.__name__} for torch, a Python number included."
    return call


def _dims(axis, ndim):
    """An axis or a tuple of axes as a tuple of non-negative ints (None: all of ``ndim``)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim if ndim else a for a in axes)


class _TorchSpecial:
    """torch.special, with ``polygamma(n ≥ 1)`` as the Hurwitz zeta: torch's own trigamma is
    accurate to about 5e-10 only (SciPy's and the zeta form to 1e-15), and ``zeta`` has a derivative."""

    def __init__(self, torch):
        self._t = torch

    def polygamma(self, n, x):
        """ψ⁽ⁿ⁾(x) = (-1)ⁿ⁺¹ n! ζ(n + 1, x) for n ≥ 1; digamma for n = 0."""
        n = int(n)
        if n == 0:
            return self._t.special.digamma(x)
        return (-1) ** (n + 1) * math.factorial(n) * self._t.special.zeta(float(n + 1), x)

    def __getattr__(self, name):  # erf, erfc, gammaln, digamma, ndtr, ...
        return getattr(self._t.special, name)


class _TorchLinalg:
    """numpy.linalg's names on torch.linalg (svd's ``compute_uv``; the rest as spelled), with
    torch's LinAlgError (a singular matrix, a failed Cholesky factorisation) raised as tcnb's
    NumericalError, which is also this namespace's ``LinAlgError`` (what runtime.py catches)."""

    LinAlgError = NumericalError

    def __init__(self, torch):
        self._t = torch
        self._error = getattr(torch.linalg, "LinAlgError", RuntimeError)

    def _call(self, name, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._error as exc:
            raise NumericalError(f"torch.linalg.{name} on PyTorch: {str(exc).splitlines()[0]}",
                                 expected="a nonsingular (for cholesky: positive definite) matrix") from None

    def svd(self, a, full_matrices=True, compute_uv=True):
        """numpy.linalg.svd: (U, S, Vh), or S alone with ``compute_uv=False``."""
        if not compute_uv:
            return self._call("svdvals", self._t.linalg.svdvals, a)
        return self._call("svd", self._t.linalg.svd, a, full_matrices=full_matrices)

    def __getattr__(self, name):  # inv, det, slogdet, solve, cholesky, eigh, pinv, matrix_power, ...
        fn = getattr(self._t.linalg, name)
        call = functools.partial(self._call, name, fn)
        setattr(self, name, call)
        return call


class TorchNamespace:
    """The NumPy names tcnb's generated code uses, on PyTorch tensors of one device."""

    __name__ = "tcnb.backend.torch"

    def __init__(self, torch, device="cpu"):
        self._t = torch
        self.device = torch.device(device)
        self.linalg = _TorchLinalg(torch)
        self.float64 = torch.float64
        self.float32 = torch.float32
        self.pi, self.e, self.inf, self.nan = math.pi, math.e, math.inf, math.nan
        for numpy_name, torch_name in _UNARY.items():
            setattr(self, numpy_name, _unary(torch, getattr(torch, torch_name)))
        for name in ("einsum", "broadcast_to", "swapaxes", "kron", "outer", "isnan"):
            setattr(self, name, getattr(torch, name))
        self.special = _TorchSpecial(torch)  # _rt.special(xp) for erf, gammaln, digamma, polygamma, ndtr

    # --- conversions
    def _dtype(self, dtype):
        if dtype is None or isinstance(dtype, self._t.dtype):
            return dtype
        import numpy
        return {numpy.dtype("float64"): self._t.float64, numpy.dtype("float32"): self._t.float32,
                numpy.dtype("int64"): self._t.int64, numpy.dtype("int32"): self._t.int32,
                numpy.dtype("bool"): self._t.bool}[numpy.dtype(dtype)]

    def _tensor_like(self, x, ref):
        if isinstance(x, self._t.Tensor):
            return x
        return self._t.as_tensor(x, dtype=ref.dtype, device=ref.device)

    def asarray(self, a, dtype=None):
        """A tensor on this namespace's device (a read-only NumPy array is copied: torch would
        otherwise share memory it may not write)."""
        flags = getattr(a, "flags", None)
        if flags is not None and not flags.writeable:
            import numpy
            a = numpy.array(a)
        return self._t.as_tensor(a, dtype=self._dtype(dtype), device=self.device)

    def array(self, a, dtype=None):
        """A new tensor (a copy) on this namespace's device."""
        if isinstance(a, self._t.Tensor):
            return a.to(device=self.device, dtype=self._dtype(dtype) or a.dtype, copy=True)
        return self.asarray(a, dtype).clone()

    def ascontiguousarray(self, a):
        """The tensor in contiguous memory."""
        return a.contiguous()

    def finfo(self, dtype):
        """numpy.finfo for a torch (or NumPy) dtype."""
        return self._t.finfo(self._dtype(dtype))

    # --- constructors
    def _shape(self, shape):
        return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)

    def zeros(self, shape, dtype=None):
        """numpy.zeros for torch."""
        return self._t.zeros(self._shape(shape), dtype=self._dtype(dtype), device=self.device)

    def ones(self, shape, dtype=None):
        """numpy.ones for torch."""
        return self._t.ones(self._shape(shape), dtype=self._dtype(dtype), device=self.device)

    def full(self, shape, value, dtype=None):
        """numpy.full for torch; a tensor value is broadcast so its derivative is kept."""
        if isinstance(value, self._t.Tensor):  # a computed scalar: broadcast, keeping its derivative
            dtype = self._dtype(dtype) or value.dtype
            return self._t.broadcast_to(value.to(dtype), self._shape(shape))
        return self._t.full(self._shape(shape), float(value), dtype=self._dtype(dtype), device=self.device)

    def eye(self, n, dtype=None):
        """numpy.eye for torch."""
        return self._t.eye(int(n), dtype=self._dtype(dtype), device=self.device)

    def arange(self, n, dtype=None):
        """numpy.arange(n) for torch."""
        return self._t.arange(int(n), dtype=self._dtype(dtype), device=self.device)

    # --- reductions
    def sum(self, a, axis=None, keepdims=False):
        """numpy.sum (``axis`` an int or a tuple, ``keepdims``) for torch."""
        if axis is None:
            out = self._t.sum(a)
            return out.reshape((1,) * a.dim()) if keepdims else out
        return self._t.sum(a, dim=axis, keepdim=keepdims)

    def mean(self, a, axis=None, keepdims=False):
        """numpy.mean for torch."""
        return self._t.mean(a, dim=_dims(axis, a.dim()), keepdim=keepdims)

    def max(self, a, axis=None, keepdims=False):
        """numpy.max (``axis``, ``keepdims``) for torch."""
        return self._t.amax(a, dim=_dims(axis, a.dim()), keepdim=keepdims)

    def min(self, a, axis=None, keepdims=False):
        """numpy.min (``axis``, ``keepdims``) for torch."""
        return self._t.amin(a, dim=_dims(axis, a.dim()), keepdim=keepdims)

    def prod(self, a, axis=None, keepdims=False):
        """numpy.prod for torch (torch multiplies along one axis at a time)."""
        out = a
        for d in sorted(_dims(axis, a.dim()), reverse=True):
            out = self._t.prod(out, dim=d, keepdim=keepdims)
        return out

    def argmax(self, a, axis=None):
        """numpy.argmax for torch."""
        return self._t.argmax(a, dim=axis)

    def cumsum(self, a, axis=None):
        """numpy.cumsum for torch (None: over the flattened tensor)."""
        return self._t.cumsum(a.reshape(-1) if axis is None else a, dim=0 if axis is None else axis)

    def cumprod(self, a, axis=None):
        """numpy.cumprod for torch (None: over the flattened tensor)."""
        return self._t.cumprod(a.reshape(-1) if axis is None else a, dim=0 if axis is None else axis)

    # --- layout
    def reshape(self, a, shape):
        """numpy.reshape for torch."""
        return self._t.reshape(a, self._shape(shape) if not isinstance(shape, int) else (shape,))

    def squeeze(self, a, axis=None):
        """numpy.squeeze for torch."""
        return self._t.squeeze(a) if axis is None else self._t.squeeze(a, dim=axis)

    def expand_dims(self, a, axis):
        """numpy.expand_dims for torch (one axis)."""
        return self._t.unsqueeze(a, axis)

    def transpose(self, a, axes=None):
        """numpy.transpose (reversed axes, or a permutation) for torch."""
        if axes is None:
            axes = tuple(reversed(range(a.dim())))
        return a.permute(tuple(axes))

    def moveaxis(self, a, source, destination):
        """numpy.moveaxis for torch."""
        return self._t.movedim(a, source, destination)

    def flip(self, a, axis=None):
        """numpy.flip for torch (None: every axis)."""
        return self._t.flip(a, dims=_dims(axis, a.dim()))

    def roll(self, a, shift, axis=None):
        """numpy.roll for torch."""
        return self._t.roll(a, shift, dims=axis)

    def concatenate(self, arrays, axis=0):
        """numpy.concatenate for torch."""
        return self._t.cat(list(arrays), dim=axis)

    def stack(self, arrays, axis=0):
        """numpy.stack for torch."""
        return self._t.stack(list(arrays), dim=axis)

    def diagonal(self, a, offset=0, axis1=0, axis2=1):
        """numpy.diagonal for torch."""
        return self._t.diagonal(a, offset=offset, dim1=axis1, dim2=axis2)

    def tril(self, a, k=0):
        """numpy.tril for torch."""
        return self._t.tril(a, diagonal=k)

    def triu(self, a, k=0):
        """numpy.triu for torch."""
        return self._t.triu(a, diagonal=k)

    def take_along_axis(self, a, indices, axis):
        """numpy.take_along_axis for torch."""
        return self._t.take_along_dim(a, indices, dim=axis)

    def tensordot(self, a, b, axes=2):
        """numpy.tensordot (an int or a pair of axis lists) for torch."""
        if isinstance(axes, int):
            return self._t.tensordot(a, b, dims=axes)
        ia, ib = axes
        ia = [ia] if isinstance(ia, int) else list(ia)
        ib = [ib] if isinstance(ib, int) else list(ib)
        return self._t.tensordot(a, b, dims=(ia, ib))

    # --- element-wise with scalar arguments
    def _pair(self, a, b):
        """Both operands as tensors (a Python number takes the other's dtype and device)."""
        if isinstance(a, self._t.Tensor):
            return a, self._tensor_like(b, a)
        if isinstance(b, self._t.Tensor):
            return self._tensor_like(a, b), b
        f64 = self._t.float64
        return self._t.tensor(float(a), dtype=f64), self._t.tensor(float(b), dtype=f64)

    def maximum(self, a, b):
        """numpy.maximum for torch, a Python scalar on either side included."""
        if not isinstance(b, self._t.Tensor):
            return self._t.clamp(a, min=float(b))
        if not isinstance(a, self._t.Tensor):
            return self._t.clamp(b, min=float(a))
        return self._t.maximum(a, b)

    def minimum(self, a, b):
        """numpy.minimum for torch, a Python scalar on either side included."""
        if not isinstance(b, self._t.Tensor):
            return self._t.clamp(a, max=float(b))
        if not isinstance(a, self._t.Tensor):
            return self._t.clamp(b, max=float(a))
        return self._t.minimum(a, b)

    def where(self, condition, a, b):
        """numpy.where for torch: Python numbers on either side take the other side's dtype."""
        if not isinstance(a, self._t.Tensor) and not isinstance(b, self._t.Tensor):
            a, b = self._pair(a, b)
        elif not isinstance(a, self._t.Tensor):
            a = self._tensor_like(a, b)
        elif not isinstance(b, self._t.Tensor):
            b = self._tensor_like(b, a)
        return self._t.where(condition, a, b)

    def logaddexp(self, a, b):
        """numpy.logaddexp for torch, scalars turned into tensors."""
        return self._t.logaddexp(*self._pair(a, b))

    def arctan2(self, a, b):
        """numpy.arctan2 for torch, scalars turned into tensors."""
        return self._t.atan2(*self._pair(a, b))

    def power(self, a, b):
        """numpy.power for torch."""
        return self._t.pow(a, b)

    def heaviside(self, a, value):
        # torch.heaviside has no derivative; this spelling has derivative zero, like the step itself
        """numpy.heaviside spelled so it has a derivative (zero), unlike torch.heaviside."""
        step = (a > 0).to(a.dtype)
        return step if float(value) == 0.0 else step + (a == 0).to(a.dtype) * float(value)
