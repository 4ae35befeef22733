"""Shared helpers for the benchmark scripts: timing, result rows, tables, CSV, skip estimates.

Nothing here is tcnb-specific; the scripts import tcnb themselves (from the repository root when
tcnb is not installed).
"""
from __future__ import annotations

import csv
import gc
import math
import os
import platform
import statistics
import sys
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, ROOT)



def _threads_from_argv():
    """``--threads N`` (any script): cap BLAS / OpenMP / XLA / torch threads. Must act before NumPy,
    JAX or torch are imported, hence at import time of this module."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            val = argv[i + 1]
        elif a.startswith("--threads="):
            val = a.split("=", 1)[1]
        else:
            continue
        n = str(int(val))
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
            os.environ[k] = n
        if n == "1":
            os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                       " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
        return int(n)
    return None


THREADS = _threads_from_argv()

GiB = 2**30
MiB = 2**20


# --------------------------------------------------------------------------------------- timing

def measure(call, target_s: float = 0.3, min_repeats: int = 5, max_repeats: int = 50,
            first_s: float | None = None) -> dict:
    """Median seconds per call of an already warmed-up ``call``, timeit style.

    ``number`` (calls per repeat) is chosen so one repeat takes ~target_s / 10, and ``repeats`` so
    the whole point takes ~target_s; slow calls (> target_s / 3) get number = 1 and 3 repeats.
    Returns {"median", "min", "number", "repeats"} in seconds per call.
    """
    if first_s is None:
        t0 = time.perf_counter()
        call()
        first_s = time.perf_counter() - t0
    first_s = max(first_s, 1e-7)
    if first_s > target_s / 3:
        number, repeats = 1, 3
    else:
        number = max(1, int(target_s / 10 / first_s))
        repeats = max(min_repeats, min(max_repeats, int(target_s / (number * first_s))))
    gc_was = gc.isenabled()
    gc.disable()
    try:
        times = timeit.Timer(call).repeat(repeat=repeats, number=number)
    finally:
        if gc_was:
            gc.enable()
    per = [t / number for t in times]
    return {"median": statistics.median(per), "min": min(per), "number": number, "repeats": repeats}


def measure_interleaved(calls, target_s: float = 0.3, rounds: int = 3) -> list[dict]:
    """Like measure() for several calls, alternating them in ``rounds`` so that a change in machine
    load hits all of them alike; the median is over every repeat of every round."""
    parts = [[] for _ in calls]
    for _ in range(rounds):
        for i, call in enumerate(calls):
            parts[i].append(measure(call, target_s / rounds, min_repeats=3))
    out = []
    for ps in parts:
        # re-expand the per-round medians weighted by repeats: median of all samples is approximated
        # by the median of round medians when rounds are alike; keep both the median and the min
        out.append({"median": statistics.median(p["median"] for p in ps), "min": min(p["min"] for p in ps),
                    "number": ps[0]["number"], "repeats": sum(p["repeats"] for p in ps)})
    return out


def timed_once(call):
    """(value, seconds) of one call."""
    t0 = time.perf_counter()
    out = call()
    return out, time.perf_counter() - t0


# ----------------------------------------------------------------------------------- formatting

from tcnb.bench.timing import fmt_time  # noqa: E402  (one formatter for the scripts and tcnb.bench)


def fmt_ratio(r) -> str:
    if r is None or (isinstance(r, float) and math.isnan(r)):
        return "-"
    if r >= 100:
        return f"{r:.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    return f"{r:.2f}x"


def fmt_bytes(b) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(b) < 1024 or unit == "PiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return f"{b} B"


def print_table(headers, rows, title=None):
    """Plain-text table; columns left-aligned, widths from the contents."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    if title:
        print()
        print(title)
        print("=" * len(title))
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    sys.stdout.flush()


def machine_line() -> str:
    import numpy as np
    parts = [f"python {platform.python_version()}", f"numpy {np.__version__}",
             f"{os.cpu_count()} CPUs", platform.machine()]
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    parts.append(f"{int(line.split()[1]) / 2**20:.0f} GiB RAM")
                    break
    except OSError:
        pass
    return ", ".join(parts)


def warn_if_busy():
    """Print a warning when other processes already load the CPUs (timings will be noisy)."""
    try:
        load1 = os.getloadavg()[0]
    except OSError:
        return
    cpus = os.cpu_count() or 1
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
    if threads:
        print("threads: " + ", ".join(f"{k}={v}" for k, v in threads.items()))
    if load1 > 0.5 * cpus:
        print(f"WARNING: load average {load1:.1f} on {cpus} CPUs before starting: other processes are "
              f"running, timings will be noisy (multi-threaded BLAS suffers most; "
              f"OPENBLAS_NUM_THREADS=1 makes them steadier)")
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------- rows

class Results:
    """Collects tidy rows: one per (experiment, n, method) with status, median and ratio."""

    FIELDS = ["experiment", "quantity", "n", "method", "status", "median_s", "min_s", "number",
              "repeats", "ratio", "ratio_to", "note"]

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, **row):
        full = {k: row.get(k, "") for k in self.FIELDS}
        self.rows.append(full)
        return full

    def write_csv(self, path):
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.FIELDS)
            w.writeheader()
            for r in self.rows:
                w.writerow({k: ("" if v is None else v) for k, v in r.items()})


# ------------------------------------------------------------------------------- skip estimates

class Extrapolator:
    """Predicts the time of one call at size n from the last measured size: t * (n / n0) ** p."""

    def __init__(self):
        self.last: dict = {}

    def record(self, key, n, seconds):
        self.last[key] = (n, seconds)

    def predict(self, key, n, power):
        if key not in self.last:
            return None
        n0, t0 = self.last[key]
        return t0 * (n / n0) ** power
