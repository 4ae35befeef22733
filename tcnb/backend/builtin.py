"""The backends tcnb ships: NumPy (always) and CuPy (where it is installed and sees a GPU).

Each is one :class:`~tcnb.backend.registry.Backend` record; a new backend is another record here
(or a :func:`~tcnb.backend.registry.register_backend` call in the user's code).
"""
from __future__ import annotations

import importlib
import sys

from ..errors import BackendUnavailableError
from .registry import Backend, add_at, register_backend


# ---------------------------------------------------------------------------------------- NumPy

def _numpy_owns(array) -> bool:
    import numpy
    return isinstance(array, (numpy.ndarray, numpy.generic))


def _load_numpy():
    return importlib.import_module("numpy")


def _scipy_special():
    return importlib.import_module("scipy.special")


NUMPY = register_backend(Backend(
    name="numpy", aliases=("np",), load=_load_numpy, owns=_numpy_owns, special=_scipy_special,
    device="the CPU (NumPy)"))


# ----------------------------------------------------------------------------------------- CuPy

def _load_cupy():
    """CuPy, checked for a reachable GPU (importable is not enough: without a driver every call fails)."""
    cp = importlib.import_module("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            raise BackendUnavailableError("CuPy is installed but sees no GPU")
    except BackendUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - CUDA driver missing, etc.
        raise BackendUnavailableError(f"CuPy cannot use a GPU here: {exc}") from None
    return cp


def _cupy_owns(array) -> bool:
    cp = sys.modules.get("cupy")  # an array of CuPy's exists only once CuPy is imported
    return cp is not None and isinstance(array, cp.ndarray)


def _cupy_to_host(array):
    return array.get()


def _cupy_sync(result=None) -> None:
    sys.modules["cupy"].cuda.Stream.null.synchronize()


def _cupy_scatter_add(xp, out, index, values):
    """``ufunc.at`` where this CuPy has it (12 and later), else cupyx.scatter_add (same semantics)."""
    if hasattr(xp.add, "at"):
        return add_at(xp, out, index, values)
    import cupyx
    cupyx.scatter_add(out, index, values)
    return out


def _cupyx_special():
    return importlib.import_module("cupyx.scipy.special")


def _cupy_describe() -> str | None:
    props = sys.modules["cupy"].cuda.runtime.getDeviceProperties(0)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    mem = props.get("totalGlobalMem")
    return f"{name} ({mem / 2**30:.0f} GiB)" if mem else name


CUPY = register_backend(Backend(
    name="cupy", aliases=("cp",), load=_load_cupy, owns=_cupy_owns, to_host=_cupy_to_host,
    sync=_cupy_sync, scatter_add=_cupy_scatter_add, special=_cupyx_special,
    device="a CUDA GPU (CuPy)", host=False, install="pip install 'tcnb[gpu]' on a machine with CUDA",
    describe=_cupy_describe))
