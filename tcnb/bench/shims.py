"""Array-namespace shims so tcnb's generated code runs under autograd, JAX and PyTorch.

tcnb's code generator (``generate(..., traceable=True)``) writes a function
``tcnb_fn(xp, _rt, dtype, *arrays)`` that only says ``xp.<function>(...)``, ``@``, ``.T``, ``*``, ``+``,
indexing with ``None`` and ``_rt.<helper>(xp, ...)``. Running that source with ``xp`` = a framework's
array namespace gives the framework *the same function* as the tcnb expression, which it can then
differentiate with its own ``grad``/``jacobian``/``hessian``.

The two pieces live in the backend layer, since tcnb's own JAX, PyTorch and Dask backends run the
same traceable code: ``_rt`` without in-place writes (tcnb/backend/functional.py) and PyTorch
spoken with NumPy's names (tcnb/backend/torch_namespace.py). They are re-exported here for the
baselines.
"""
from __future__ import annotations

from ..backend.functional import RUNTIME, FunctionalRuntime, functional_runtime  # noqa: F401
from ..backend.torch_namespace import TorchNamespace  # noqa: F401

__all__ = ["RUNTIME", "FunctionalRuntime", "functional_runtime", "TorchNamespace"]
