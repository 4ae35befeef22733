"""Running one tool at one size: the memory and time budgets that skip it, the first call, the
check against tcnb's result, and the timing. The sweep over sizes and tools is in compare.py.
"""
from __future__ import annotations

import math
import time
import warnings

import numpy as np

from ..dims import resolve_shape
from ..errors import BackendUnavailableError
from . import baselines as B
from .records import _KIND_NAME, _set
from .targets import _variables
from .timing import fmt_bytes, fmt_time, measure, sync_for, timed

# how time grows with the size at least (used to predict whether the next size fits the time budget)
_MIN_EXPONENT = {"value": 1.0, "grad": 1.0, "hvp": 1.0, "jacobian": 2.0, "hessian": 2.0}


class _Tool:
    def __init__(self, tool, backend, mode=None, available=True, note=""):
        self.tool, self.backend, self.mode = tool, backend, mode
        self.available, self.note = available, note
        name = tool if mode is None else f"{tool}[{mode}]"
        self.label = f"{name} ({backend})"
        self.history: list = []      # (x, first_s, median_s) of ok points
        self.stopped: str | None = None  # reason later (larger) points are skipped

    @property
    def is_tcnb(self):
        return self.tool == "tcnb"


def _predict(tool: _Tool, x, kind) -> float | None:
    """Predicted seconds of one evaluation at size x, from this tool's smaller points: the last
    median scaled by (x / x_last)^p, p fitted on the last two points but at least the kind's
    minimum (compile time is not extrapolated: it is reported, not budgeted)."""
    if not tool.history or x is None:
        return None
    pts = [(hx, hf, hm) for hx, hf, hm in tool.history if hx and hx < x]
    if not pts:
        return None
    x1, f1, m1 = pts[-1]
    p = _MIN_EXPONENT.get(kind, 2.0)
    if len(pts) >= 2:
        x0, _, m0 = pts[-2]
        if m0 > 0 and m1 > 0 and x1 > x0:
            p = max(p, min(math.log(m1 / m0) / math.log(x1 / x0), 6.0))
    return m1 * (x / x1) ** p


class _PointContext:
    def __init__(self, f, wrt, kind, sizes, arrays, dtype, memory_budget, some, v_expr):
        self.f, self.wrt, self.kind, self.sizes, self.arrays = f, wrt, kind, sizes, arrays
        self.dtype, self.memory_budget, self.v_expr = dtype, memory_budget, v_expr
        self.out_shape = resolve_shape(some.shape, sizes) if some is not None else None
        self.out_bytes = (math.prod(self.out_shape) * dtype.itemsize) if self.out_shape is not None else None
        self.input_bytes = sum(a.nbytes for a in arrays.values())
        self.w_size = int(np.size(arrays[wrt])) if wrt else 0
        self._tcnb_est: dict = {}

    def tcnb_estimate(self, D) -> tuple[int, str]:
        """(bytes, what) of the largest array tcnb's generated code for D creates at these sizes."""
        key = D.node.id
        if key not in self._tcnb_est:
            from ..backend.codegen import generate
            fn = D.compile("numpy")
            gen = generate([D.node], fn.vars, self.sizes, itemsize=self.dtype.itemsize, check_budget=False)
            largest_node = max(gen.node_bytes.values(), default=0)
            self._tcnb_est[key] = max(int(largest_node), int(gen.largest_bytes))
        return self._tcnb_est[key]


def _run_point(tool: _Tool, ctx: _PointContext, rec, reference, derived, derive_s, derive_err,
               time_budget_s, target_s, rtol, kind, x):
    """Fill ``rec`` for one tool at one size; returns the (possibly new) reference result."""
    rec["out_shape"] = list(ctx.out_shape) if ctx.out_shape is not None else None
    rec["out_bytes"] = ctx.out_bytes
    what = _KIND_NAME[kind] if kind != "value" else "result"
    if not tool.available:
        _set(rec, "unavailable", tool.note)
        return reference
    if tool.stopped:
        _set(rec, "skipped", tool.stopped)
        return reference
    budget = ctx.memory_budget

    # ---------------------------------------------------------------- memory
    if ctx.out_bytes is not None and ctx.out_bytes > budget:
        reason = f"dense {what} {fmt_bytes(ctx.out_bytes)} > budget {fmt_bytes(budget)}"
        _set(rec, "skipped", reason)
        rec["est_bytes"] = ctx.out_bytes
        tool.stopped = f"skipped at a smaller size ({reason})"
        return reference

    if tool.is_tcnb:
        if tool.mode in derive_err:
            _set(rec, "error", derive_err[tool.mode])
            return reference
        D = derived[tool.mode]
        rec["derive_s"] = derive_s[tool.mode]
        est = ctx.tcnb_estimate(D)
        rec["est_bytes"] = est
        if est > budget:
            reason = f"tcnb intermediate {fmt_bytes(est)} > budget {fmt_bytes(budget)}"
            _set(rec, "skipped", reason)
            tool.stopped = f"skipped at a smaller size ({reason})"
            return reference
    else:
        baseline = B.Baseline(tool.tool, ctx.f, ctx.wrt, kind, ctx.sizes, device=tool.backend,
                              direction=ctx.v_expr.variables[0] if ctx.v_expr is not None else None,
                              dtype=ctx.dtype, out_size=(math.prod(ctx.out_shape) if ctx.out_shape else 1))
        rec["how"] = baseline.how
        est = baseline.estimate_bytes(ctx.out_bytes or 0, ctx.w_size, ctx.input_bytes)
        rec["est_bytes"] = est
        if est > budget:
            reason = (f"{tool.tool} {what}: estimated working memory {fmt_bytes(est)} > budget "
                      f"{fmt_bytes(budget)}")
            _set(rec, "skipped", reason)
            tool.stopped = f"skipped at a smaller size ({reason})"
            return reference

    # ---------------------------------------------------------------- time
    predicted = _predict(tool, x, kind)
    if predicted is not None and predicted > time_budget_s:
        reason = f"predicted {fmt_time(predicted)} per call > time budget {fmt_time(time_budget_s)}"
        _set(rec, "skipped", reason)
        tool.stopped = f"skipped at a smaller size ({reason})"
        return reference

    # ---------------------------------------------------------------- first call
    if tool.is_tcnb:
        from ..backend.namespace import get_namespace, to_numpy
        xp = get_namespace(tool.backend)
        fn = D.compile(tool.backend)
        used = _variables(D)
        args = {n: ctx.arrays[n] for n in used}
        if tool.backend != "numpy":
            args = {n: xp.asarray(a) for n, a in args.items()}
        # sizes no array of D fixes (the matfac Hessian w.r.t. U depends on V only, but has U's n)
        fixed = {s.name for v in used.values() for d in v.shape for s in d.free_symbols}
        out_syms = {s.name for d in D.shape for s in d.free_symbols}
        args.update({k: ctx.sizes[k] for k in sorted(out_syms - fixed)})
        sync = sync_for(tool.backend)
        rec["how"] = f"tcnb {('H' if kind == 'hessian' else 'D')}.compile({tool.backend!r})"
        call = lambda: fn(**args)  # noqa: E731
        to_np = to_numpy
        compile_s = None
    else:
        t0 = time.perf_counter()
        call = baseline.prepare(ctx.arrays)
        prep_s = time.perf_counter() - t0
        sync = baseline.sync
        to_np = baseline.to_numpy
        compile_s = baseline.compile_s
        if compile_s is None and prep_s > 0.01:
            compile_s = prep_s
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, call1_s = timed(call, sync)
    first_s = call1_s + (compile_s or 0.0)
    value = np.asarray(to_np(out), dtype=np.float64)
    if ctx.out_shape is not None and tuple(value.shape) != tuple(ctx.out_shape):
        _set(rec, "mismatch", f"shape {tuple(value.shape)}, expected {tuple(ctx.out_shape)}")
        return reference

    # ---------------------------------------------------------------- check
    if reference is None and tool.is_tcnb:
        reference = (tool.label, value)
    elif reference is not None:
        err = _rel_err(value, reference[1])
        rec["max_err"] = err
        rec["checked"] = True
        if not (err <= rtol):
            _set(rec, "mismatch", f"differs from {reference[0]}: max |Δ| / max |ref| = {err:.3g} > {rtol:g}")
            return reference
    else:
        rec["reason"] = "unchecked: no tcnb result at this size"

    # ---------------------------------------------------------------- timing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = measure(call, sync=sync, target_s=target_s, budget_s=time_budget_s, first=(out, call1_s))
    del out
    rec.update({k: v for k, v in t.as_dict().items() if k != "total_s"})
    rec["first_s"] = first_s
    rec["compile_s"] = compile_s if compile_s is not None else max(first_s - t.median_s, 0.0)
    rec["status"] = "ok"
    tool.history.append((x, first_s, t.median_s))
    return reference


def _rel_err(value, ref) -> float:
    if value.shape != ref.shape:
        return math.inf
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    if not np.all(np.isfinite(ref)) or not np.all(np.isfinite(value)):
        same = np.array_equal(np.isnan(ref), np.isnan(value)) and np.array_equal(
            np.nan_to_num(ref, nan=0.0), np.nan_to_num(value, nan=0.0))
        return 0.0 if same else math.inf
    diff = float(np.max(np.abs(value - ref))) if ref.size else 0.0
    return diff / scale if scale > 0 else diff


def _backend_ok(backend) -> tuple[bool, str]:
    from ..backend.namespace import get_namespace
    try:
        get_namespace(backend)
        return True, ""
    except BackendUnavailableError as exc:
        return False, str(exc)
