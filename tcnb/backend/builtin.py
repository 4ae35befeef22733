"""The backends tcnb ships: NumPy (always), CuPy (where it is installed and sees a GPU), JAX and
PyTorch (where they are installed), Dask (lazy and chunked, on the active cluster).

Each is one :class:`~tcnb.backend.registry.Backend` record; a new backend is another record here
(or a :func:`~tcnb.backend.registry.register_backend` call in the user's code).
"""
from __future__ import annotations

import importlib
import sys

from ..errors import BackendUnavailableError
from .registry import Backend, add_at, register_backend


def _owns_none(array) -> bool:
    return False  # torch's CPU record claims torch tensors; binding moves them to this one's device


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


# ------------------------------------------------------------------------------------------ JAX
# The generated code of a derivative, compiled by XLA (jax.jit fuses its element-wise chains).

def _load_jax():
    from .jax_namespace import JaxNumpy
    return JaxNumpy(importlib.import_module("jax.numpy"))


def _jax_owns(array) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(array, jax.Array)


def _jax_sync(result=None) -> None:
    import jax
    if result is not None:
        jax.block_until_ready(result)
    else:
        jax.effects_barrier()


def _jax_special():
    return importlib.import_module("jax.scipy.special")


def _jax_jit(fn):
    import jax
    return jax.jit(fn)


def _jax_float64() -> bool:
    import jax
    return bool(jax.config.jax_enable_x64)


def _jax_describe() -> str | None:
    """JAX's accelerator (a GPU's model), None when its default device is the CPU."""
    import jax
    d = jax.devices()[0]
    return None if d.platform == "cpu" else f"{d.device_kind} ({d.platform})"


JAX = register_backend(Backend(
    name="jax", load=_load_jax, owns=_jax_owns, sync=_jax_sync, special=_jax_special,
    device="JAX's default device (XLA)", host=False, traceable=True, jit=_jax_jit, float64=_jax_float64,
    install="pip install 'tcnb[jax]'", describe=_jax_describe))


# -------------------------------------------------------------------------------------- PyTorch
# Eager PyTorch on the CPU ("torch") or a CUDA GPU ("torch-cuda"), through TorchNamespace.

def _torch_owns(array) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(array, torch.Tensor)


def _torch_to_host(array):
    return array.detach().cpu().numpy()


def _torch_dtype(array):
    import numpy
    name = str(array.dtype).removeprefix("torch.")
    try:
        return numpy.dtype(name)
    except TypeError:  # bfloat16, complex32, ...: no NumPy twin
        return numpy.dtype("V2")


def _torch_astype(xp, array, dtype):
    return array.to(xp._dtype(dtype))


def _load_torch(device="cpu"):
    torch = importlib.import_module("torch")
    if device == "cuda" and not torch.cuda.is_available():
        raise BackendUnavailableError("PyTorch is installed but sees no CUDA GPU")
    from .torch_namespace import TorchNamespace
    return TorchNamespace(torch, device)


def _load_torch_cuda():
    return _load_torch("cuda")


def _torch_cuda_sync(result=None) -> None:
    sys.modules["torch"].cuda.synchronize()


TORCH = register_backend(Backend(
    name="torch", aliases=("pytorch",), load=_load_torch, owns=_torch_owns, to_host=_torch_to_host,
    device="the CPU (PyTorch)", traceable=True, dtype_of=_torch_dtype, astype=_torch_astype,
    install="pip install 'tcnb[torch]'"))

# torch.compile of the generated code (opt-in): TorchInductor writes and compiles C++ for the CPU
# (Triton for a GPU), so it needs a C++ compiler, and its first call per size costs seconds.

def _load_torch_compile():
    torch = importlib.import_module("torch")
    if not hasattr(torch, "compile"):
        raise BackendUnavailableError("this PyTorch has no torch.compile (PyTorch 2 or later has it)")
    import os
    import shutil
    cxx = os.environ.get("CXX") or next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
    if cxx is None:
        raise BackendUnavailableError("torch.compile (TorchInductor) needs a C++ compiler, and none is on "
                                      "the PATH", expected="g++ or clang++ installed, or $CXX set")
    return _load_torch()


def _torch_compile(fn):
    """torch.compile of the generated function itself (its own code object, so each generated
    function has its own cache entry: compiling the partial would make every program a recompile
    of one wrapper, and past torch._dynamo's recompile limit they all ran eagerly), bound again."""
    import functools
    import torch
    if isinstance(fn, functools.partial):
        return functools.partial(torch.compile(fn.func, dynamic=False), *fn.args, **fn.keywords)
    return torch.compile(fn, dynamic=False)


TORCH_COMPILE = register_backend(Backend(
    name="torch-compile", load=_load_torch_compile, owns=_owns_none, to_host=_torch_to_host,
    device="the CPU (PyTorch, torch.compile)", traceable=True, jit=_torch_compile,
    dtype_of=_torch_dtype, astype=_torch_astype, install="pip install 'tcnb[torch]' and a C++ compiler"))

TORCH_CUDA = register_backend(Backend(
    name="torch-cuda", load=_load_torch_cuda, owns=_owns_none, to_host=_torch_to_host,
    sync=_torch_cuda_sync, device="a CUDA GPU (PyTorch)", host=False, traceable=True,
    dtype_of=_torch_dtype, astype=_torch_astype, install="pip install 'tcnb[torch]' on a machine with CUDA"))


# ----------------------------------------------------------------------------------------- Dask
# Lazy, chunked arrays (dask.array) through DaskNamespace; .compute() runs on whatever
# dask.distributed Client is active (a LocalCluster or a cluster's scheduler), else Dask's threads.

def _load_dask():
    from .dask_namespace import load
    return load()


def _dask_owns(array) -> bool:
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(array, da.Array)


def _dask_to_host(array):
    import numpy
    return numpy.asarray(array.compute())


def _dask_sync(result=None) -> None:
    """Wait until ``result`` is computed: its persisted parts (futures on a cluster) are waited for,
    a lazy graph is computed (its value dropped) — so a timing that syncs measures the work, not
    the building of the graph. ``None``: nothing to wait for."""
    if result is None:
        return
    distributed = sys.modules.get("distributed")
    futures = distributed.futures_of(result) if distributed is not None else []
    if futures:
        distributed.wait(futures)
    else:
        import dask
        dask.compute(result)


def _dask_helpers() -> dict:
    from .dask_namespace import helpers
    return helpers()


def _dask_special():
    from .dask_namespace import DaskSpecial
    return DaskSpecial(importlib.import_module("dask.array"))


def _dask_describe() -> str | None:
    """The active cluster (scheduler address, workers, threads), None on Dask's local scheduler."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        client = distributed.get_client()
    except ValueError:  # no Client active
        return None
    workers = client.scheduler_info().get("workers", {})
    threads = sum(w.get("nthreads", 0) for w in workers.values())
    return f"Dask cluster {client.scheduler.address} ({len(workers)} workers, {threads} threads)"


DASK = register_backend(Backend(
    name="dask", load=_load_dask, owns=_dask_owns, to_host=_dask_to_host, sync=_dask_sync,
    special=_dask_special, device="Dask (lazy, chunked; computed by the active Client)", host=False,
    traceable=True, chunked=True, helpers=_dask_helpers, install="pip install 'tcnb[dask]'",
    describe=_dask_describe))
