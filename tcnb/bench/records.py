"""One record per tool per size: the fields every record holds (documented under ``Record fields`` in
:mod:`tcnb.bench.compare`), the constants they are read with, and the two ways a record is filled in.

The runner writes records, :class:`~tcnb.bench.results.BenchResult` reads them; both import this
module so that the schema is written once.
"""
from __future__ import annotations

KINDS = ("value", "grad", "jacobian", "hessian", "hvp")
ALL_MODES = ("forward", "reverse", "cross-country")
_KIND_NAME = {"value": "value", "grad": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
              "hvp": "Hessian-vector product"}
# a timing whose interquartile range exceeds this fraction of its median is marked unstable
UNSTABLE_SPREAD = 0.25
BENCH_EXTRA_HINT = "pip install 'tcnb[bench]' installs autograd, JAX, PyTorch and pandas"

FIELDS = ["tool", "backend", "mode", "label", "kind", "of", "wrt", "x_name", "x", "status", "reason",
          "median_s", "min_s", "max_s", "q1_s", "q3_s", "mean_s", "std_s", "repeats", "number",
          "first_s", "compile_s", "derive_s", "out_shape", "out_bytes", "est_bytes", "max_err",
          "checked", "how", "threads", "sizes"]


def _base_record(tool, kind, meta, x, sizes) -> dict:
    rec = {k: None for k in FIELDS}
    rec.update(tool=tool.tool, backend=tool.backend, mode=tool.mode, label=tool.label, kind=kind,
               of=meta["of"], wrt=meta["wrt"], x_name=meta["x_name"], x=x, sizes=dict(sizes),
               checked=False, status=None, reason=None)
    return rec


def _set(rec, status, reason=None):
    rec["status"] = status
    rec["reason"] = reason
    if status != "ok":
        for k in ("median_s", "min_s", "max_s", "q1_s", "q3_s", "mean_s", "std_s"):
            rec[k] = None


def _spread(r) -> float:
    """Interquartile range / median of an ok record (0 where unknown)."""
    m, q1, q3 = r.get("median_s"), r.get("q1_s"), r.get("q3_s")
    if not m or q1 is None or q3 is None:
        return 0.0
    return (q3 - q1) / m


def _error_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]

