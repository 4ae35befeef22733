"""PyTorch spoken with the NumPy names tcnb's generated code uses.

Why: generated code says ``xp.sum(a, axis=1)``, ``xp.transpose(a, perm)``,
``xp.tensordot(a, b, axes=...)``; PyTorch spells them ``dim=``, ``permute``, ``dims=``, and takes
no Python scalars in ``logaddexp``. :class:`TorchNamespace` translates, for one device, so the same
generated source runs on PyTorch tensors — the ``backend="torch"`` backend and the PyTorch
baselines of tcnb.bench both use it.
"""
from __future__ import annotations


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
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return self._t.zeros(shape, dtype=self._dtype(dtype), device=self.device)

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
