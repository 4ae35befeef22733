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
"""
from __future__ import annotations

import gc
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass


@dataclass
class Timing:
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
    """The function that waits for a result of ``backend`` ("numpy", "cupy", "jax", "torch-cuda")."""
    if backend == "cupy":
        from ..backend.namespace import get_namespace, synchronize
        xp = get_namespace("cupy")
        return lambda out: synchronize(xp)
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
    try:
        from ..backend.namespace import get_namespace
        cp = get_namespace("cupy")
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        mem = props.get("totalGlobalMem")
        return f"{name} ({mem / 2**30:.0f} GiB)" if mem else name
    except Exception:  # noqa: BLE001 - no CuPy / no GPU: no GPU line
        return None


def machine() -> dict:
    """What the timings ran on: CPU, cores, GPU (when CuPy sees one), Python and library versions."""
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
    info = info or machine()
    cores = info.get("cores_usable", info.get("cores"))
    text = f"{info['cpu']}, {cores} cores"
    if info.get("gpu"):
        text += f"; GPU {info['gpu']}"
    return text


def fmt_time(s) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
