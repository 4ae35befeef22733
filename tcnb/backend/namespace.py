"""The one seam between tcnb and array libraries: a name -> an array namespace (numpy, cupy).

Generated code only ever says ``xp.<function>``; everything backend-specific lives here.
"""
from __future__ import annotations

import importlib

from ..errors import BackendUnavailableError

_ALIASES = {"numpy": "numpy", "np": "numpy", "cupy": "cupy", "cp": "cupy"}


def available_backends() -> list[str]:
    """The backends usable here: numpy, and cupy where it is installed and sees a GPU."""
    out = ["numpy"]
    try:
        get_namespace("cupy")
        out.append("cupy")
    except BackendUnavailableError:
        pass
    return out


def get_namespace(name: str = "numpy"):
    """The array module for a backend name (or alias np, cp); BackendUnavailableError

    when it is unknown, not installed or (CuPy) has no GPU.
    """
    key = _ALIASES.get(name)
    if key is None:
        raise BackendUnavailableError(f"unknown backend {name!r}", expected="'numpy' or 'cupy'")
    try:
        xp = importlib.import_module(key)
    except ImportError:
        raise BackendUnavailableError(
            f"backend {name!r} is not installed", expected="pip install 'tcnb[gpu]' on a machine with CUDA") from None
    if key == "cupy":
        try:
            if xp.cuda.runtime.getDeviceCount() < 1:
                raise BackendUnavailableError("CuPy is installed but sees no GPU")
        except BackendUnavailableError:
            raise
        except Exception as exc:  # CUDA driver missing, etc.
            raise BackendUnavailableError(f"CuPy cannot use a GPU here: {exc}") from None
    return xp


def to_numpy(array):
    """A host NumPy array from any backend's array (cupy's .get())."""
    get = getattr(array, "get", None)
    if callable(get) and type(array).__module__.startswith("cupy"):
        return array.get()
    import numpy
    return numpy.asarray(array)


def synchronize(xp) -> None:
    """Wait for queued device work (a no-op on the CPU); timings need it."""
    if getattr(xp, "__name__", "") == "cupy":
        xp.cuda.Stream.null.synchronize()
