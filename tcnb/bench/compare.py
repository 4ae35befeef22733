"""``tcnb.bench.compare``: time a derivative of any tcnb expression on tcnb's backends (NumPy, CuPy,
JAX, PyTorch) against autograd, JAX and PyTorch baselines built from the same expression, over a
range of sizes.

    import tcnb, tcnb.bench
    p = tcnb.parse(open("examples/logreg.tensor").read())
    res = tcnb.bench.compare(p["f"], wrt="w", kind="hessian",
                             sizes={"n": [10, 30, 100, 300], "m": "2*n"})
    res                 # in a notebook: the plot, a table of times and ratios, and every skip reason
    res.records         # tidy list of dicts: tool, backend, sizes, median_s, status, reason, ...
    res.to_pandas()     # the same as a DataFrame
    res.plot()          # matplotlib Figure: log-log time vs size, one line per tool/backend

See :func:`compare` for every option, and ``Record fields`` below for what a record holds.

This module is the sweep (sizes × tools); the parts it runs are siblings: ``targets`` (what is
timed), ``sizing`` (sizes and inputs), ``runner`` (one tool at one size), ``records`` (the fields),
``results`` (:class:`BenchResult`) and ``figure`` (plots).

Record fields
-------------
``tool``         "tcnb", "autograd", "jax" or "torch"
``backend``      tcnb: the array backend ("numpy", "cupy", "jax", "torch", ...); baselines: the device ("cpu", "gpu")
``mode``         tcnb's differentiation mode (None = tcnb's default) — None for baselines
``label``        the plot's line label, e.g. "tcnb (numpy)", "jax (cpu)", "tcnb[reverse] (cupy)"
``kind``         "value", "grad", "jacobian", "hessian" or "hvp"
``of``, ``wrt``  the expression's name and the variable
``x_name``, ``x`` the swept dimension symbol and its value at this point (the plot's x axis)
``sizes``        every dimension symbol's size at this point (dict)
``status``       "ok" (timed and, where a reference exists, equal to tcnb's), "mismatch" (a result
                 that differs from tcnb's: reported, neither timed nor plotted), "skipped" (over the
                 memory or time budget, or after a skip at a smaller size), "error" (it raised), or
                 "unavailable" (backend or framework not installed / no device)
``reason``       why, for every status but "ok" (e.g. "dense Hessian 8.0 GiB > budget 2.0 GiB")
``median_s``     median seconds per evaluation (None unless ok); ``min_s``, ``max_s``, ``q1_s``,
                 ``q3_s`` (quartiles), ``mean_s``, ``std_s``, ``repeats``, ``number`` (calls per sample)
``first_s``      the first call alone (compilation, tracing or code generation + a cold run)
``compile_s``    compile/trace time: JAX's ``jit(...).lower().compile()``; for the others the first
                 call's excess over the median (tcnb: code generation and contraction planning)
``derive_s``     tcnb only: the symbolic derivation (``tcnb.hessian(...)``), once per expression
``out_shape``, ``out_bytes``, ``est_bytes`` the result's shape and bytes, the estimated peak memory
``max_err``      max |result - reference| / max |reference| (None where nothing was compared)
``checked``      whether the result was compared with tcnb's
``how``          what ran (e.g. "jax.jit(jax.hessian)", "tcnb H.compile('numpy')")
``threads``      the threads the tool ran with (BLAS for tcnb on NumPy and autograd, PyTorch's, XLA's);
                 None where it was not limited or is unknown
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import MemoryBudgetError, TcnbError
from . import baselines as B
from .figure import _figure_class
from .records import _base_record, _error_reason, _set
from .runner import _backend_ok, _PointContext, _run_point, _Tool
from .sizing import DEFAULT_SIZES, _parse_bytes
from .targets import _as_expr, _derive, _direction, _resolve_kind, _variables
from .timing import ThreadLimits, load_average, machine

# The names this module has always offered (tcnb.bench, paper.py, magic.py and the tests read them here);
# they live in the modules that do each job: records, sizing, targets, runner, results, figure.
from .figure import new_figure  # noqa: E402,F401
from .records import ALL_MODES, BENCH_EXTRA_HINT, FIELDS, KINDS, UNSTABLE_SPREAD  # noqa: E402,F401
from .results import BenchResult  # noqa: E402
from .sizing import expand_sizes, make_inputs  # noqa: E402


def compare(expr, wrt=None, kind: str | None = None, *, sizes=None, backends=("numpy", "cupy"),
            baselines=("autograd", "jax", "torch"), baseline_devices="auto", modes=None,
            compress: bool = True, direction=None, time_budget_s: float = 10.0,
            memory_budget: float | None = None, target_s: float = 0.3, seed: int = 0, inputs=None,
            dtype=np.float64, rtol: float | None = None, threads: int | None = 1,
            progress: bool = True) -> BenchResult:
    """Time a derivative of ``expr`` with tcnb against autograd/JAX/PyTorch baselines over sizes.

    expr            a tcnb Expr (``prog["f"]``) or the source of a program (its last definition is used)
    wrt             the variable (name or Expr) to differentiate with respect to; None with kind=None:
                    time evaluating ``expr`` itself
    kind            "hessian" | "grad" | "jacobian" | "hvp" | "value"; default: "value" without wrt,
                    else "hessian" for a scalar expr and "jacobian" otherwise
    sizes           {symbol: [ints] (swept; several lists are zipped) | int (fixed) | "2*n" (derived)},
                    or a list of {symbol: int}; default {"n": [10, 30, 100], "m": "2*n"} (symbols the
                    expression lacks are ignored)
    backends        tcnb's array backends ("numpy", "cupy", "jax", "torch", ...: rows "tcnb (jax)", ...);
                    an unavailable one (no CuPy/GPU, JAX not installed) gives "unavailable" records
    baselines       frameworks to compare with; not installed → "unavailable" records with the note
    baseline_devices "cpu", "gpu", a list, or "auto": the CPU, plus the GPU when "cupy" is among the
                    backends and available (JAX/PyTorch only)
    modes           tcnb differentiation modes to time as separate lines (e.g. ["forward", "reverse"]
                    or "all"); None: tcnb's default mode only
    compress        passed to tcnb's derivative functions
    direction       hvp only: the direction variable (Expr shaped like wrt); default: a new variable "v"
    time_budget_s   per point (one tool at one size): a point whose evaluation is predicted (from the
                    tool's smaller sizes) to take longer is skipped with the reason, and so are the
                    tool's larger sizes; warm-up and repeats stop when it is spent (a call slower
                    than the budget is timed once); compile time is reported, not budgeted
    memory_budget   bytes (or a string like "2GB"); a point whose dense result or estimated working
                    memory exceeds it is skipped with the reason; default tcnb.config.memory_budget
    target_s        wall time to spend on the repeats of one point (median of as many as fit)
    seed, inputs    random inputs: standard normal per variable, seeded by (seed, name, sizes);
                    ``inputs`` maps names (or glob patterns such as "W*") to a kind — "normal",
                    "uniform", "positive", "pm1", "onehot", "spd", "scaled" (N(0, 1/fan_in)) — or a
                    callable(shape, rng)
    dtype           float64 (default) or float32
    rtol            tolerance of the check against tcnb (default 1e-6 in float64, 1e-3 in float32)
    threads         threads each tool may use (default 1: single-core speed, which a busy machine
                    disturbs least); None leaves every library as it is. BLAS/OpenMP (threadpoolctl)
                    and PyTorch are capped for the run and restored; JAX only when compare() is the
                    first to start it in this process (XLA sizes its pool once; then for the rest of
                    the process). ``meta["threads"]`` and each record's ``threads`` say what held.
    progress        show a tqdm progress bar

    Returns a :class:`BenchResult`. Results of every tool are checked against tcnb's (the first tcnb
    line that ran at that size) before timing. ``meta["load"]`` holds the load averages before and
    after the run; ``res.caveats`` lists what makes the timings less trustworthy (a busy machine,
    unlimited threads, wide quartiles).
    """
    args = dict(locals())
    del args["threads"]
    load_before = load_average()
    libraries = _as_list(baselines) + [_library(b) for b in _as_list(backends) if _library(b)]
    with ThreadLimits(threads, frameworks=libraries) as limits:
        res = _compare(limits=limits, **args)
    res.meta["load"] = {"before": load_before, "after": load_average()}
    return res


# the library whose thread pool a tcnb backend runs on, where it is not NumPy's BLAS
_BACKEND_LIBRARY = {"jax": "jax", "torch": "torch", "torch-compile": "torch"}


def _library(backend) -> str | None:
    """"jax" / "torch" for the tcnb backends that run on them (their threads are capped and
    reported as those baselines' are), None for BLAS-backed ones (NumPy, CuPy)."""
    return _BACKEND_LIBRARY.get(backend)


def _as_list(v) -> list:
    return [v] if isinstance(v, str) else list(v or [])


def _compare(expr, wrt, kind, *, sizes, backends, baselines, baseline_devices, modes, compress, direction,
             time_budget_s, memory_budget, target_s, seed, inputs, dtype, rtol, progress,
             limits: ThreadLimits) -> BenchResult:
    """compare() inside its thread limits."""
    from ..config import config
    t_start = time.perf_counter()
    f = _as_expr(expr)
    kind, wrt_name = _resolve_kind(f, wrt, kind)
    dtype = np.dtype(dtype)
    rtol = rtol if rtol is not None else (1e-6 if dtype == np.float64 else 1e-3)
    memory_budget = _parse_bytes(memory_budget) if memory_budget is not None else int(config.memory_budget)
    if modes == "all":
        modes = list(ALL_MODES)
    modes = list(modes) if modes else [None]
    backends = _as_list(backends)
    baselines = _as_list(baselines)

    # ------------------------------------------------------------ the tcnb expressions to time
    v_expr = None
    if kind == "hvp":
        v_expr = _direction(f, wrt_name, direction)
    derived: dict = {}
    derive_s: dict = {}
    derive_err: dict = {}
    for mode in modes:
        t0 = time.perf_counter()
        try:
            derived[mode] = _derive(f, wrt_name, kind, mode, compress, v_expr)
            derive_s[mode] = time.perf_counter() - t0
        except TcnbError as exc:
            derive_err[mode] = _error_reason(exc)
    some = next(iter(derived.values()), None)
    all_vars = _variables(f)
    if v_expr is not None:
        all_vars.update(_variables(v_expr))
    needed = set()
    for e in list(all_vars.values()) + ([some] if some is not None else []):
        for d in e.shape:
            needed |= {s.name for s in d.free_symbols}

    if sizes is None:
        sizes = DEFAULT_SIZES
    if isinstance(sizes, dict):  # drop symbols the expression does not have (the defaults' "m")
        sizes = {k: v for k, v in sizes.items() if k in needed or not isinstance(v, str)}
    points, x_name = expand_sizes(sizes, needed)
    derived_sizes = {k: v for k, v in sizes.items() if isinstance(v, str)} if isinstance(sizes, dict) else {}

    # ------------------------------------------------------------ tools
    tools: list[_Tool] = []
    for backend in backends:
        ok, note = _backend_ok(backend)
        for mode in modes:
            tools.append(_Tool("tcnb", backend, mode, ok, note))
    gpu_on = "cupy" in backends and _backend_ok("cupy")[0]
    auto = baseline_devices == "auto"
    devs = (["cpu", "gpu"] if gpu_on else ["cpu"]) if auto else \
        ([baseline_devices] if isinstance(baseline_devices, str) else list(baseline_devices))
    for fw in baselines:
        for dev in devs:
            ok, note = B.available(fw, dev)
            if not ok and "not installed" in note:
                note += f"; {BENCH_EXTRA_HINT}"
            if not ok and auto and dev == "gpu":
                continue  # "auto": a GPU line only for frameworks that can use the GPU
            tools.append(_Tool(fw, dev, None, ok, note))

    meta = {"of": f.name or "f", "wrt": wrt_name, "kind": kind, "x_name": x_name, "sizes": sizes,
            "derived_sizes": derived_sizes, "points": points, "memory_budget": memory_budget,
            "time_budget_s": time_budget_s, "dtype": str(dtype), "seed": seed, "machine": machine(),
            "expression": repr(f), "threads": limits.info}
    records: list = []
    bar = _progress(len(points) * len(tools), progress, meta)
    try:
        for point in points:
            x = point.get(x_name) if x_name else None
            sizes_here = {k: v for k, v in point.items() if k in needed}
            arrays = make_inputs(all_vars, sizes_here, seed, inputs, dtype)
            ctx = _PointContext(f, wrt_name, kind, sizes_here, arrays, dtype, memory_budget, some,
                                v_expr)
            reference = None
            for tool in tools:
                if bar is not None:
                    bar.set_description_str(f"{x_name}={x} {tool.label}" if x_name else tool.label)
                rec = _base_record(tool, kind, meta, x, sizes_here)
                library = _library(tool.backend) if tool.is_tcnb else tool.tool
                rec["threads"] = None if tool.backend in ("cupy", "gpu") else limits.for_tool(library or tool.tool)
                try:
                    reference = _run_point(tool, ctx, rec, reference, derived, derive_s, derive_err,
                                           time_budget_s, target_s, rtol, kind, x)
                except KeyboardInterrupt:
                    raise
                except MemoryBudgetError as exc:  # tcnb's own refusal (tcnb.config.memory_budget)
                    _set(rec, "skipped", exc.message)
                    tool.stopped = f"skipped at a smaller size ({exc.message})"
                except MemoryError as exc:
                    _set(rec, "skipped", f"out of memory ({_error_reason(exc)})")
                    tool.stopped = f"out of memory at {x_name}={x}"
                except Exception as exc:  # noqa: BLE001 - any failure of one tool is a record
                    _set(rec, "error", _error_reason(exc))
                records.append(rec)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    meta["wall_s"] = time.perf_counter() - t_start
    return BenchResult(records, meta)


def _progress(total, progress, meta):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc="tcnb.bench", leave=False)


def __getattr__(name):  # BenchFigure, without importing matplotlib with tcnb.bench
    if name == "BenchFigure":
        return _figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
