"""Timing one call honestly: warm-up, adaptive repeats, median and spread, device synchronisation.

    t = measure(lambda: fn(**arrays), sync=sync_for("cupy"))
    t.median_s, t.q1_s, t.q3_s, t.repeats, t.number

- The first call is timed on its own (``first_s``: it includes compilation, tracing, code generation
  and cold caches) and never counts towards the median.
- Then ``warmup`` more calls, then samples: each sample times ``number`` back-to-back calls (chosen so
  a sample lasts at least ``min_sample_s``, which keeps timer resolution and dispatch noise out of
  microsecond-scale calls) and is divided by ``number``; as many samples as fit in ``target_s``
  (between ``min_repeats`` and ``max_repeats``), never past ``budget_s``.
- Asynchronous devices are waited for inside the timed region: ``sync(out)`` is called on the
  result of the last call of each sample (CuPy: synchronise the stream; JAX: ``block_until_ready``;
  PyTorch on CUDA: ``torch.cuda.synchronize``).
- Garbage collection is disabled while sampling.

Threads and load (``ThreadLimits``, ``load_average``): a benchmark says what it measured. On a
machine other processes load, multi-threaded BLAS turns a 0.11 ms Hessian into 8 ms, so
``compare()`` runs every tool on one thread unless asked otherwise, and records the threads and the
load average. What can be limited from inside a running process:

- BLAS and OpenMP pools (OpenBLAS, MKL, libgomp): yes, with threadpoolctl, and restored afterwards;
- PyTorch: yes, ``torch.set_num_threads``, restored afterwards;
- JAX/XLA: only before JAX starts its backends. XLA sizes its CPU thread pool once per process from
  the CPUs the process may use, so ThreadLimits starts JAX while the calling thread may use
  ``threads`` cores, then gives every thread its cores back; the pool keeps its size for the rest of
  the process. ``XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"``, the
  advice found in JAX's issues, does not limit jaxlib 0.10's CPU runtime (measured: 3 busy threads
  either way). Once JAX has started elsewhere, only ``taskset -c 0 python ...`` limits it.
"""
from __future__ import annotations

import gc
import importlib
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass


@dataclass
class Timing:
    """Seconds per call of one measured function: the first call, and statistics over the samples."""
    first_s: float        # the first call alone (compile/trace/codegen + cold run)
    median_s: float       # median seconds per call over the samples
    min_s: float
    max_s: float
    q1_s: float           # 25th percentile
    q3_s: float           # 75th percentile
    mean_s: float
    std_s: float
    repeats: int          # samples
    number: int           # calls per sample
    total_s: float        # wall time spent in measure(), first call included

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median."""
        return (self.q3_s - self.q1_s) / self.median_s if self.median_s else math.nan

    def as_dict(self) -> dict:
        """The fields as a plain dict (for records and CSV)."""
        return asdict(self)


def _quantile(sorted_values, q: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _no_sync(out):
    return out


def measure(call, *, sync=None, warmup: int = 1, target_s: float = 0.3, min_repeats: int = 3,
            max_repeats: int = 100, min_sample_s: float = 2e-4, budget_s: float | None = None,
            first=None) -> Timing:
    """Time ``call()`` (no arguments).

    ``first``: an already measured ``(out, seconds)`` of the first call (so a caller can check the
    first result before timing); otherwise the first call is made here. ``budget_s``: wall time
    allowed for the warm-up and samples (the first call not counted); a call slower than it is timed
    once (the first call); otherwise at least ``min_repeats`` samples are taken when they fit.
    """
    sync = sync or _no_sync
    t_start = time.perf_counter()
    if first is None:
        t0 = time.perf_counter()
        sync(call())
        first_s = time.perf_counter() - t0
        t_start = time.perf_counter()
    else:
        first_s = float(first[1])
    budget = math.inf if budget_s is None else max(float(budget_s), 0.0)
    deadline = t_start + budget

    def single(t):
        return Timing(first_s, t, t, t, t, t, t, 0.0, 1, 1, time.perf_counter() - t_start)

    if first_s > budget:
        # once more: a first call may carry one-time costs (lazy initialisation, cold caches)
        t0 = time.perf_counter()
        sync(call())
        again = time.perf_counter() - t0
        if again > budget or time.perf_counter() > deadline:
            return single(min(first_s, again))
    # warm-up: also the estimate of one call's duration
    est = first_s
    for _ in range(max(warmup, 1) + (1 if first_s < 0.05 else 0)):  # cheap calls: one more
        t0 = time.perf_counter()
        sync(call())
        est = time.perf_counter() - t0
        if time.perf_counter() > deadline:
            return single(est)
    est = max(est, 1e-7)
    number = max(1, int(math.ceil(min_sample_s / est)))
    sample_s = number * est
    repeats = int(min(target_s, budget) / sample_s)
    if min_repeats * sample_s <= max(deadline - time.perf_counter(), 0.0):
        repeats = max(repeats, min_repeats)
    repeats = max(1, min(max_repeats, repeats))

    samples = []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = None
            for _ in range(number):
                out = call()
            sync(out)
            samples.append((time.perf_counter() - t0) / number)
            out = None
            if len(samples) >= min_repeats and time.perf_counter() > deadline:
                break
    finally:
        if gc_was:
            gc.enable()
    s = sorted(samples)
    return Timing(first_s=first_s, median_s=statistics.median(s), min_s=s[0], max_s=s[-1],
                  q1_s=_quantile(s, 0.25), q3_s=_quantile(s, 0.75), mean_s=statistics.fmean(s),
                  std_s=statistics.pstdev(s) if len(s) > 1 else 0.0, repeats=len(s), number=number,
                  total_s=time.perf_counter() - t_start)


def timed(call, sync=None):
    """(result, seconds) of one synchronised call."""
    sync = sync or _no_sync
    t0 = time.perf_counter()
    out = call()
    sync(out)
    return out, time.perf_counter() - t0


# ------------------------------------------------------------------------------- synchronisation

def sync_for(backend: str):
    """The function that waits for a result of ``backend``: a registered tcnb backend ("numpy",
    "cupy", ...: its record's sync, BackendUnavailableError where it cannot run here) or a
    baseline's device ("jax", "torch-cuda")."""
    from ..backend.namespace import backend_names, get_backend
    if backend in backend_names():
        record = get_backend(backend)
        record.namespace()
        return _no_sync if record.sync is None else record.sync
    if backend == "jax":
        import jax
        return jax.block_until_ready
    if backend in ("torch-cuda", "torch-gpu"):
        import torch
        return lambda out: torch.cuda.synchronize()
    return _no_sync


# ------------------------------------------------------------------------------- the machine

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_name() -> str | None:
    """The accelerator of the first device backend that can run here (its record's describe())."""
    from ..backend.registry import backends
    for record in backends():
        if record.host or record.describe is None or not record.available:
            continue
        try:
            name = record.describe()
        except Exception:  # noqa: BLE001 - a device that cannot describe itself: no GPU line
            continue
        if name is not None:  # (None: the backend runs on the CPU here, as JAX without a GPU)
            return name
    return None


def machine() -> dict:
    """What the timings ran on: CPU, cores, GPU (when a device backend sees one), Python and library versions."""
    import numpy
    info = {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    gpu = _gpu_name()
    if gpu:
        info["gpu"] = gpu
    return info


def machine_str(info: dict | None = None) -> str:
    """The machine in one line: CPU, usable cores and the GPU where there is one."""
    info = info or machine()
    cores = info.get("cores_usable", info.get("cores"))
    text = f"{info['cpu']}, {cores} cores"
    if info.get("gpu"):
        text += f"; GPU {info['gpu']}"
    return text


def fmt_time(s) -> str:
    """Seconds for a table: µs, ms or s; "-" for None or nan."""
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(n: float) -> str:
    """A byte count in binary units (``1.5 MiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# ------------------------------------------------------------------------------- threads and load

def load_average() -> list | None:
    """The 1, 5 and 15-minute load averages (runnable processes), or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def blas_threads() -> list:
    """[{"api": "openblas", "version": ..., "threads": n}, ...] for the BLAS and OpenMP libraries
    loaded in this process (threadpoolctl); [] when threadpoolctl is missing."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [{"api": lib.get("internal_api"), "user_api": lib.get("user_api"),
             "version": lib.get("version"), "threads": lib.get("num_threads")} for lib in threadpool_info()]


def jax_started() -> bool:
    """Whether JAX has created its backends (after which its CPU thread pool is fixed)."""
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge
        return bool(xla_bridge.backends_are_initialized())
    except Exception:  # noqa: BLE001 - another JAX version: assume the worst
        return True


_XLA_STARTED_WITH: int | None = None  # threads JAX's CPU pool got when this module started JAX


def _tids() -> set:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:
        return set()


def _start_jax_with_cores(threads: int) -> str | None:
    """Start JAX's backends while this thread may run on ``threads`` cores only, then give every
    thread back the cores it had. XLA sizes its CPU thread pool once, from the CPUs the process may
    use when it starts (the XLA_FLAGS once advised, ``--xla_cpu_multi_thread_eigen=false
    intra_op_parallelism_threads=1``, no longer limit jaxlib 0.10's CPU runtime: measured), so this
    is the one way to limit it from inside a running process. Returns None, or why it could not."""
    if not hasattr(os, "sched_setaffinity"):
        return "this OS cannot restrict the CPUs of a process (no sched_setaffinity)"
    cores = sorted(os.sched_getaffinity(0))
    before = _tids()
    os.sched_setaffinity(0, set(cores[:max(threads, 1)]))
    try:
        import jax
        jax.devices()
    except Exception as exc:  # noqa: BLE001 - a broken JAX: its baseline reports it
        return f"JAX did not start ({type(exc).__name__})"
    finally:
        for tid in (_tids() - before) | {0}:  # threads JAX started inherited the narrow mask
            try:
                os.sched_setaffinity(tid, set(cores))
            except OSError:
                pass
    return None


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - missing or broken: the baseline reports it
        return False


class ThreadLimits:
    """Caps the threads of every tool while a benchmark runs, and says what it could and could not cap.

    ``threads``: an int (1 = single-core speed, the default of compare()) or None (leave every library
    as it is). BLAS and OpenMP pools (NumPy's OpenBLAS/MKL, used by tcnb on NumPy and by autograd) are
    capped with threadpoolctl and restored afterwards; PyTorch with ``torch.set_num_threads``
    (restored); JAX/XLA only if JAX has not started yet in this process (see _start_jax_with_cores),
    and then for the rest of the process. ``info`` is recorded in the result's ``meta["threads"]``.
    """

    def __init__(self, threads: int | None, frameworks=()):
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        self.threads = threads
        self.frameworks = set(frameworks)
        self.info: dict = {"requested": threads, "cores": usable_cores()}
        self._undo: list = []

    def __enter__(self):
        n, info = self.threads, self.info
        if "jax" in self.frameworks and _importable("jax"):
            self._limit_xla(n, info)
        if "torch" in self.frameworks and _importable("torch"):
            import torch
            old = torch.get_num_threads()
            if n is not None:
                torch.set_num_threads(n)
                self._undo.append(lambda: torch.set_num_threads(old))
            info["torch"] = torch.get_num_threads()
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            info["blas_note"] = "BLAS threads not limited: threadpoolctl is not installed (pip install threadpoolctl)"
        else:
            if n is not None:
                ctl = threadpool_limits(limits=n)
                self._undo.append(ctl.restore_original_limits)
        info["blas"] = blas_threads()
        return self

    @staticmethod
    def _limit_xla(n, info):
        global _XLA_STARTED_WITH
        if not jax_started() and n is not None:
            why = _start_jax_with_cores(n)
            if why is None:
                _XLA_STARTED_WITH = n
            else:
                info["xla"] = None
                info["xla_note"] = f"XLA: not limited ({why})"
                return
        if _XLA_STARTED_WITH is not None:  # this module started JAX: its pool has that size for good
            info["xla"] = _XLA_STARTED_WITH
            if n != _XLA_STARTED_WITH:
                info["xla_note"] = (f"XLA: {_XLA_STARTED_WITH} thread(s), as when compare() first started "
                                    "JAX in this process (XLA sizes its CPU thread pool once per process)")
        elif jax_started():
            info["xla"] = None
            info["xla_note"] = ("XLA: not limited" + (f" to {n} thread(s)" if n else "") + ": JAX started "
                                "before compare(), and it sizes its CPU thread pool once per process, from "
                                "the cores the process may use. Call compare() before any other JAX work, "
                                "or run Python under `taskset -c 0`")
        else:
            info["xla"] = None
            info["xla_note"] = "XLA: not limited (it uses the cores the process may use)"

    def __exit__(self, *exc):
        while self._undo:
            self._undo.pop()()
        return False

    def for_tool(self, tool: str) -> int | None:
        """The threads ``tool`` ran with ("tcnb"/"autograd": BLAS, "torch", "jax"); None: unknown."""
        if tool == "jax":
            return self.info.get("xla")
        if tool == "torch":
            return self.info.get("torch")
        blas = [lib["threads"] for lib in self.info.get("blas", []) if lib.get("user_api") == "blas"]
        return max(blas) if blas else None


def threads_str(info: dict | None) -> str:
    """One line: the threads each library ran with."""
    if not info:
        return ""
    parts = []
    blas = [lib for lib in info.get("blas", []) if lib.get("user_api") == "blas"]
    if blas:
        parts.append(", ".join(f"{lib['api']} {lib['threads']}" for lib in blas))
    if "torch" in info:
        parts.append(f"torch {info['torch']}")
    if "xla" in info:
        parts.append(f"XLA {info['xla'] if info['xla'] is not None else 'not limited'}")
    req = info.get("requested")
    head = f"{req} thread{'s' if req != 1 else ''} per tool" if req else "threads not limited"
    return head + (f" ({'; '.join(parts)})" if parts else "")
