"""The one seam between tcnb and array libraries: a name -> an array namespace (numpy, cupy).

Generated code only ever says ``xp.<function>``; what is backend-specific lives in the backend
registry (registry.py, records in builtin.py). These functions are its short, stable spellings.
"""
from __future__ import annotations

from . import builtin  # noqa: F401 - registers numpy and cupy
from .registry import available_backends, backend_names, backend_of, backend_of_namespace, get_backend

__all__ = ["available_backends", "backend_names", "get_namespace", "to_host", "to_numpy", "synchronize"]


def get_namespace(name: str = "numpy"):
    """The array module for a backend name (or alias np, cp); BackendUnavailableError

    when it is unknown (listing the registered names), not installed or (CuPy) has no GPU.
    """
    return get_backend(name).namespace()


def to_host(array):
    """A host NumPy array from any backend's array (cupy's .get()); other values through numpy.asarray."""
    b = backend_of(array)
    if b is not None:
        return b.to_host(array)
    import numpy
    return numpy.asarray(array)


to_numpy = to_host


def synchronize(xp) -> None:
    """Wait for queued device work of the backend whose namespace is ``xp`` (a no-op on the CPU);
    timings need it."""
    b = backend_of_namespace(xp)
    if b is not None and b.sync is not None:
        b.sync(None)
