"""``tcnb.bench.compare``: time a derivative of any tcnb expression on tcnb's backends (NumPy, CuPy)
against autograd, JAX and PyTorch baselines built from the same expression, over a range of sizes.

    import tcnb, tcnb.bench
    p = tcnb.parse(open("examples/logreg.tensor").read())
    res = tcnb.bench.compare(p["f"], wrt="w", kind="hessian",
                             sizes={"n": [10, 30, 100, 300], "m": "2*n"})
    res                 # in a notebook: the plot, a table of times and ratios, and every skip reason
    res.records         # tidy list of dicts: tool, backend, sizes, median_s, status, reason, ...
    res.to_pandas()     # the same as a DataFrame
    res.plot()          # matplotlib Figure: log-log time vs size, one line per tool/backend

See :func:`compare` for every option, and ``Record fields`` below for what a record holds.

Record fields
-------------
``tool``         "tcnb", "autograd", "jax" or "torch"
``backend``      tcnb: the array backend ("numpy", "cupy"); baselines: the device ("cpu", "gpu")
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

import base64
import functools
import html
import io
import math
import sys
import time
import warnings

import numpy as np

from .. import api
from ..dims import as_dim, resolve, resolve_shape
from ..errors import BackendUnavailableError, MemoryBudgetError, TcnbError
from ..expr import Expr
from . import baselines as B
from .timing import (ThreadLimits, fmt_bytes, fmt_time, load_average, machine, machine_str, measure, sync_for,
                     threads_str, timed)

KINDS = ("value", "grad", "jacobian", "hessian", "hvp")
ALL_MODES = ("forward", "reverse", "cross-country")
DEFAULT_SIZES = {"n": [10, 30, 100], "m": "2*n"}
_KIND_NAME = {"value": "value", "grad": "gradient", "jacobian": "Jacobian", "hessian": "Hessian",
              "hvp": "Hessian-vector product"}
# a timing whose interquartile range exceeds this fraction of its median is marked unstable
UNSTABLE_SPREAD = 0.25
BENCH_EXTRA_HINT = "pip install 'tcnb[bench]' installs autograd, JAX, PyTorch and pandas"
# how time grows with the size at least (used to predict whether the next size fits the time budget)
_MIN_EXPONENT = {"value": 1.0, "grad": 1.0, "hvp": 1.0, "jacobian": 2.0, "hessian": 2.0}

FIELDS = ["tool", "backend", "mode", "label", "kind", "of", "wrt", "x_name", "x", "status", "reason",
          "median_s", "min_s", "max_s", "q1_s", "q3_s", "mean_s", "std_s", "repeats", "number",
          "first_s", "compile_s", "derive_s", "out_shape", "out_bytes", "est_bytes", "max_err",
          "checked", "how", "threads", "sizes"]


# =============================================================================== inputs

def _draw(kind, shape, rng, dtype):
    shape = tuple(shape)
    if callable(kind):
        return np.asarray(kind(shape, rng), dtype=dtype)
    if isinstance(kind, np.ndarray):
        if kind.shape != shape:
            raise ValueError(f"a fixed input array has shape {kind.shape}, the point needs {shape}")
        return kind.astype(dtype)
    if kind in (None, "normal"):
        a = rng.standard_normal(shape)
    elif kind == "uniform" or kind == "unit":
        a = rng.uniform(0.0, 1.0, shape)
    elif kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "pm1":
        a = rng.choice([-1.0, 1.0], size=shape)
    elif kind == "onehot":
        a = np.zeros(shape)
        if shape:
            idx = rng.integers(0, shape[-1], size=shape[:-1])
            np.put_along_axis(a, idx[..., None], 1.0, axis=-1)
    elif kind == "spd":
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"'spd' needs a square matrix, got shape {shape}")
        b = rng.standard_normal(shape)
        a = b @ b.T / shape[0] + np.eye(shape[0])
    elif kind == "scaled":  # weights of a layer: N(0, 1/fan_in), keeps deep nets' activations O(1)
        a = rng.standard_normal(shape) / math.sqrt(shape[-1] if shape else 1)
    else:
        raise ValueError(f"unknown input kind {kind!r} (normal, uniform, positive, pm1, onehot, spd, "
                         "scaled, a callable(shape, rng) or an array)")
    return np.asarray(a, dtype=dtype)


def _input_kind(inputs, name):
    if not inputs:
        return None
    if name in inputs:
        return inputs[name]
    import fnmatch
    for pat, kind in inputs.items():  # glob patterns: {"W*": "scaled"}
        if any(c in pat for c in "*?[") and fnmatch.fnmatchcase(name, pat):
            return kind
    return None


def make_inputs(variables: dict, sizes: dict, seed=0, inputs=None, dtype=np.float64) -> dict:
    """Random arrays for ``variables`` (name -> Expr) at ``sizes``; the same for every tool at a point.
    Each variable gets its own stream, seeded by (seed, name, sizes)."""
    import zlib
    out = {}
    for name in sorted(variables):
        shape = resolve_shape(variables[name].shape, sizes)
        key = zlib.crc32(f"{name}|{sorted(sizes.items())}".encode())
        rng = np.random.default_rng([int(seed), key])
        out[name] = _draw(_input_kind(inputs, name), shape, rng, dtype)
    return out


# =============================================================================== sizes

def expand_sizes(sizes, needed=None) -> tuple[list[dict], str | None]:
    """(points, x_name): the size bindings to run, smallest first, and the swept symbol.

    ``sizes``: {symbol: list of ints (swept; several lists are zipped), an int (fixed), or a string
    expression of other symbols such as "2*n"}; or a list of complete {symbol: int} dicts.
    """
    if isinstance(sizes, (list, tuple)):
        points = [dict(p) for p in sizes]
        if not points:
            raise ValueError("sizes is an empty list")
        varying = [k for k in points[0] if len({p.get(k) for p in points}) > 1]
        return points, (varying[0] if varying else next(iter(points[0]), None))
    sizes = dict(sizes)
    swept = {k: list(v) for k, v in sizes.items() if isinstance(v, (list, tuple, range))}
    lengths = {len(v) for v in swept.values()}
    if len(lengths) > 1:
        raise ValueError(f"swept sizes must have equal lengths (they are zipped): "
                         f"{ {k: len(v) for k, v in swept.items()} }")
    count = lengths.pop() if lengths else 1
    points = []
    for k in range(count):
        p = {name: int(v[k]) for name, v in swept.items()}
        p.update({name: int(v) for name, v in sizes.items() if isinstance(v, (int, np.integer))})
        pending = {name: v for name, v in sizes.items() if isinstance(v, str)}
        for _ in range(len(pending) + 1):
            for name, text in list(pending.items()):
                d = as_dim(text)
                if all(s.name in p for s in d.free_symbols):
                    p[name] = int(resolve(d, p))
                    del pending[name]
        if pending:
            raise ValueError(f"cannot resolve sizes {pending}: they refer to unknown symbols")
        points.append(p)
    for name, v in sizes.items():
        if not isinstance(v, (list, tuple, range, str, int, np.integer)):
            raise ValueError(f"size of {name!r}: expected a list of ints, an int or an expression string, "
                             f"got {v!r}")
    if needed is not None:
        missing = sorted(set(needed) - set(points[0]))
        if missing:
            raise ValueError(f"no size for {', '.join(missing)}: add e.g. sizes={{..., {missing[0]!r}: 10}}")
    x_name = next(iter(swept), None) or next(iter(sizes), None)
    points.sort(key=lambda p: p.get(x_name, 0) if x_name else 0)
    return points, x_name


# =============================================================================== the result

class BenchResult:
    """What :func:`compare` returns: ``.records`` (tidy dicts), ``.to_pandas()``, ``.plot()``,
    ``.table()`` / ``.ratios()`` (text and numbers), ``.to_csv(path)``; renders as HTML in notebooks."""

    def __init__(self, records: list, meta: dict):
        self.records = records
        self.meta = meta

    # ------------------------------------------------------------------ selection
    @property
    def labels(self) -> list:
        """Line labels in order of first appearance."""
        return list(dict.fromkeys(r["label"] for r in self.records))

    @property
    def xs(self) -> list:
        """The distinct x values (swept sizes) of the records, sorted."""
        return sorted({r["x"] for r in self.records if r["x"] is not None})

    def ok(self) -> list:
        """The records that ran and have a median time."""
        return [r for r in self.records if r["status"] == "ok" and r["median_s"] is not None]

    def get(self, label, x):
        """The record of ``label`` at ``x``, or None."""
        for r in self.records:
            if r["label"] == label and r["x"] == x:
                return r
        return None

    @property
    def notes(self) -> list:
        """One line per (label, status, reason) that was not ok, with the sizes it applies to."""
        groups: dict = {}
        for r in self.records:
            if r["status"] != "ok" or (r["reason"] and r["reason"].startswith("unchecked")):
                key = (r["label"], r["status"], r["reason"])
                groups.setdefault(key, []).append(r["x"])
        out = []
        for (label, status, reason), xs in groups.items():
            where = f"{self.meta.get('x_name') or 'size'}={','.join(str(x) for x in xs)}"
            out.append(f"{label} [{where}]: {status}" + (f" — {reason}" if reason else ""))
        return out

    def unstable(self) -> list:
        """The ok records whose interquartile range is wider than UNSTABLE_SPREAD of the median."""
        return [r for r in self.ok() if _spread(r) > UNSTABLE_SPREAD]

    @property
    def caveats(self) -> list:
        """What makes these timings less trustworthy, one sentence each: a machine already busy,
        threads that were not limited, and timings whose quartiles lie far apart."""
        out = []
        load = (self.meta.get("load") or {}).get("before")
        info = self.meta.get("threads") or {}
        cores = info.get("cores") or (self.meta.get("machine") or {}).get("cores_usable")
        if load and cores:
            used = info.get("requested") or cores
            if load[0] > max(cores - used, 0) + 0.5:
                out.append(f"the machine was busy: load average {load[0]:.1f} on {cores} usable cores before "
                           "the run, so tools competed with other processes for the CPU")
        if info and info.get("requested") is None:
            out.append("threads were not limited (threads=None): multi-threaded BLAS/XLA/PyTorch timings of "
                       "small problems swing with the machine's load; threads=1 compares single-core speed")
        for key in ("xla_note", "blas_note"):
            if info.get(key) and (key != "xla_note" or info.get("requested") is not None):
                out.append(info[key])
        bad = self.unstable()
        if bad:
            xn = self.meta.get("x_name") or "size"
            where = "; ".join(f"{r['label']} at {xn}={r['x']} ({_spread(r):.0%})" for r in bad)
            out.append(f"unstable timings (interquartile range > {UNSTABLE_SPREAD:.0%} of the median, marked ~): "
                       f"{where}; rerun on an idle machine")
        return out

    # ------------------------------------------------------------------ tables
    def to_pandas(self):
        """A pandas DataFrame of the records, with one column per dimension symbol."""
        try:
            import pandas as pd
        except ImportError:
            raise TcnbError(f"to_pandas() needs pandas, which is not installed: {BENCH_EXTRA_HINT}") from None
        rows = []
        for r in self.records:
            row = dict(r)
            for k, v in (r.get("sizes") or {}).items():
                row[k if k not in r else f"size_{k}"] = v
            rows.append(row)
        return pd.DataFrame(rows)

    def pivot(self, value: str = "median_s") -> dict:
        """{label: {x: value}} over ok records."""
        out: dict = {label: {} for label in self.labels}
        for r in self.ok():
            out[r["label"]][r["x"]] = r[value]
        return out

    def reference_label(self, reference=None) -> str | None:
        """The line that time ratios are relative to: ``reference`` if given, else the first tcnb line."""
        if reference is not None:
            return reference
        tcnb_labels = [lab for lab in self.labels if lab.startswith("tcnb")]
        return tcnb_labels[0] if tcnb_labels else None

    def ratios(self, reference: str | None = None) -> dict:
        """{label: {x: time / reference time}}: how many times slower than ``reference`` (default:
        the first tcnb line, normally "tcnb (numpy)") each line is at each size."""
        ref = self.reference_label(reference)
        piv = self.pivot()
        base = piv.get(ref, {})
        return {label: {x: (t / base[x]) for x, t in row.items() if x in base and base[x]}
                for label, row in piv.items()}

    def table(self, ratios: bool = True) -> str:
        """A text table: one row per line label, one column per size; median time (and the ratio to
        the reference line) or the status where it was not timed. Unstable timings (wide quartiles)
        are marked ``~`` and explained under the table."""
        xs = self.xs
        ref = self.reference_label()
        rat = self.ratios(ref) if ratios else {}
        head = [f"{self.meta.get('x_name') or 'size'} ="] + [str(x) for x in xs]
        rows = [head]
        for label in self.labels:
            row = [label]
            for x in xs:
                r = self.get(label, x)
                if r is None:
                    row.append("")
                elif r["status"] == "ok":
                    cell = ("~" if _spread(r) > UNSTABLE_SPREAD else "") + fmt_time(r["median_s"])
                    q = rat.get(label, {}).get(x)
                    if q is not None and label != ref:
                        cell += f" ({q:.3g}x)" if q < 100 else f" ({q:.0f}x)"
                    row.append(cell)
                else:
                    row.append(r["status"])
            rows.append(row)
        widths = [max(len(str(row[k])) for row in rows) for k in range(len(head))]
        lines = ["  ".join(str(c).rjust(w) if k else str(c).ljust(w) for k, (c, w) in enumerate(zip(row, widths)))
                 for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        if self.unstable():
            lines.append(f"~ unstable: interquartile range > {UNSTABLE_SPREAD:.0%} of the median "
                         "(another process competed for the CPU); rerun on an idle machine")
        return "\n".join(lines)

    def title(self) -> str:
        """What was measured, in words (e.g. "Hessian of f w.r.t. w")."""
        m = self.meta
        kind = _KIND_NAME.get(m.get("kind"), m.get("kind"))
        if m.get("kind") == "value":
            return f"evaluating {m.get('of')}"
        return f"{kind} of {m.get('of')} w.r.t. {m.get('wrt')}"

    def context(self) -> str:
        """One line: the machine, the threads each tool used and the load average before the run."""
        parts = []
        if self.meta.get("machine"):
            parts.append(machine_str(self.meta["machine"]))
        if self.meta.get("threads"):
            parts.append(threads_str(self.meta["threads"]))
        load = (self.meta.get("load") or {}).get("before")
        if load:
            parts.append(f"load average {load[0]:.1f} before the run")
        return " · ".join(parts)

    def __repr__(self):
        text = f"BenchResult: {self.title()} — {len(self.records)} records\n"
        if self.context():
            text += self.context() + "\n"
        text += self.table()
        lines = self.notes + [f"caution: {c}" for c in self.caveats]
        if lines:
            text += "\n" + "\n".join("  " + n for n in lines)
        return text

    # ------------------------------------------------------------------ files
    def to_csv(self, path) -> str:
        """Write the records to a CSV file at ``path`` (one column per size symbol)."""
        import csv
        import json
        syms = list(dict.fromkeys(k for r in self.records for k in (r.get("sizes") or {})))
        cols = [c for c in FIELDS if c != "sizes"] + [f"size_{s}" for s in syms]
        with open(path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for r in self.records:
                row = []
                for c in cols:
                    if c.startswith("size_"):
                        row.append((r.get("sizes") or {}).get(c[5:], ""))
                    else:
                        v = r.get(c)
                        row.append("" if v is None else json.dumps(v) if isinstance(v, (list, tuple, dict)) else v)
                w.writerow(row)
        return str(path)

    @classmethod
    def from_csv(cls, path, **meta) -> "BenchResult":
        """Records written by :meth:`to_csv` (e.g. a committed GPU run), to re-plot or tabulate;
        ``meta`` adds e.g. ``title=``, ``machine=``."""
        import csv
        import json
        ints = {"x", "repeats", "number", "out_bytes", "est_bytes", "threads"}
        floats = {"median_s", "min_s", "max_s", "q1_s", "q3_s", "mean_s", "std_s", "first_s",
                  "compile_s", "derive_s", "max_err"}
        records = []
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                r = {k: None for k in FIELDS}
                sizes = {}
                for k, v in row.items():
                    if k.startswith("size_"):
                        if v != "":
                            sizes[k[5:]] = int(v)
                        continue
                    if v == "":
                        v = None
                    elif k in ints:
                        v = int(float(v))
                    elif k in floats:
                        v = float(v)
                    elif k == "checked":
                        v = v == "True"
                    elif k == "out_shape":
                        v = json.loads(v)
                    r[k] = v
                r["sizes"] = sizes
                records.append(r)
        first = records[0] if records else {}
        info = {"of": first.get("of"), "wrt": first.get("wrt"), "kind": first.get("kind"),
                "x_name": first.get("x_name")}
        info.update(meta)
        return cls(records, info)

    # ------------------------------------------------------------------ plotting
    def plot(self, ax=None, title: str | None = None, spread: bool = True, legend: bool = True):
        """Log-log plot of median time per evaluation against the swept size, one line per
        tool/backend (like the paper's Figure 3); the interquartile range is shaded. Returns the
        matplotlib Figure: drawn on ``ax`` when given, else a new pyplot figure (shown by a
        notebook's inline backend once, and by ``plt.show()`` in a script). Mismatched, skipped and
        failed points are not plotted (see ``.notes``)."""
        if ax is None:
            fig, (ax,) = new_figure((6.4, 4.4))
        else:
            fig = ax.figure
        self._draw(ax, title, spread, legend)
        return fig

    def _draw(self, ax, title, spread, legend):
        styles = _styles(self.labels)
        for label in self.labels:
            pts = sorted((r["x"], r["median_s"], r["q1_s"], r["q3_s"]) for r in self.ok()
                         if r["label"] == label and r["x"] is not None)
            if not pts:
                continue
            x, y, q1, q3 = (list(t) for t in zip(*pts))
            st = styles[label]
            line, = ax.plot(x, y, label=label, **st)
            if spread and len(x) > 1:
                ax.fill_between(x, q1, q3, color=line.get_color(), alpha=0.15, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        xs = sorted({r["x"] for r in self.ok() if r["x"] is not None})
        if xs:  # ticks at the sizes measured, as plain numbers
            from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
            ax.xaxis.set_major_locator(FixedLocator(xs))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        xn = self.meta.get("x_name") or "size"
        derived = self.meta.get("derived_sizes") or {}
        ax.set_xlabel(xn + (f"   ({', '.join(f'{k} = {v}' for k, v in derived.items())})" if derived else ""))
        ax.set_ylabel("seconds per evaluation (median)")
        ax.set_title(title if title is not None else self.title())
        ax.grid(True, which="major", alpha=0.3)
        ax.grid(True, which="minor", alpha=0.1)
        if legend and ax.get_lines():
            ax.legend(fontsize="small")

    def savefig(self, path, title: str | None = None, **kw) -> str:
        """Write the plot to ``path`` (without creating a pyplot figure)."""
        fig, (ax,) = new_figure((6.4, 4.4), pyplot=False)
        self._draw(ax, title, True, True)
        fig.savefig(path, dpi=kw.pop("dpi", 120), **kw)
        return str(path)

    def _png_base64(self) -> str | None:
        if not self.ok():
            return None
        try:
            fig, (ax,) = new_figure((6.4, 4.4), pyplot=False)
        except TcnbError:  # no matplotlib: table only
            return None
        self._draw(ax, None, True, True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return base64.b64encode(buf.getvalue()).decode()

    def _repr_html_(self):
        xs = self.xs
        ref = self.reference_label()
        rat = self.ratios(ref)
        esc = html.escape
        parts = [f"<div><b>tcnb.bench</b>: {esc(self.title())}"]
        if self.context():
            parts.append(f" <span style='color:#666'>— {esc(self.context())}</span>")
        parts.append("</div>")
        caveats = self.caveats
        if caveats:
            parts.append("<div style='color:#a60'><b>Caution:</b><ul>"
                         + "".join(f"<li>{esc(c)}</li>" for c in caveats) + "</ul></div>")
        png = self._png_base64()
        if png:
            parts.append(f"<img src='data:image/png;base64,{png}'/>")
        xn = esc(self.meta.get("x_name") or "size")
        parts.append("<table><thead><tr><th style='text-align:left'>median time</th>"
                     + "".join(f"<th>{xn}={x}</th>" for x in xs) + "</tr></thead><tbody>")
        for label in self.labels:
            cells = []
            for x in xs:
                r = self.get(label, x)
                if r is None:
                    cells.append("<td></td>")
                elif r["status"] == "ok":
                    q = rat.get(label, {}).get(x)
                    extra = f" <span style='color:#666'>({q:.3g}×)</span>" if q is not None and label != ref else ""
                    tip = (f"IQR {fmt_time(r['q1_s'])}–{fmt_time(r['q3_s'])}, {r['repeats']}×{r['number']} calls; "
                           f"first call {fmt_time(r['first_s'])}")
                    shaky = _spread(r) > UNSTABLE_SPREAD
                    style = " style='color:#a60'" if shaky else ""
                    cells.append(f"<td title='{esc(tip)}'{style}>{'~' if shaky else ''}"
                                 f"{esc(fmt_time(r['median_s']))}{extra}</td>")
                else:
                    color = {"mismatch": "#b00", "error": "#b00"}.get(r["status"], "#888")
                    cells.append(f"<td title='{esc(r['reason'] or '')}' style='color:{color}'>{esc(r['status'])}</td>")
            parts.append(f"<tr><td style='text-align:left'>{esc(label)}</td>{''.join(cells)}</tr>")
        parts.append("</tbody></table>")
        if ref:
            parts.append(f"<div style='color:#666'>(×: time relative to {esc(ref)})</div>")
        notes = self.notes
        if notes:
            parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
        return "".join(parts)


def new_figure(figsize, ncols: int = 1, *, pyplot: bool = True):
    """(figure, axes): a constrained-layout :class:`BenchFigure` with ``ncols`` axes side by side.

    ``pyplot=True`` creates it through pyplot, as every plotting function a user calls should: then a
    notebook's inline backend displays it and ``plt.show()`` opens it. (A Figure built without
    pyplot has no PNG formatter in a notebook: it showed as the text ``<Figure size ...>``.)
    ``pyplot=False`` is for files and the HTML view, which must not leave a figure for pyplot to show.
    """
    try:
        cls = _figure_class()
        if pyplot:
            import matplotlib.pyplot as plt
            fig, axes = plt.subplots(1, ncols, figsize=figsize, layout="constrained", squeeze=False,
                                     FigureClass=cls)
            return fig, list(axes[0])
        fig = cls(figsize=figsize, layout="constrained")
        return fig, list(fig.subplots(1, ncols, squeeze=False)[0])
    except ImportError:
        raise TcnbError("plotting needs matplotlib, which is not installed: pip install matplotlib "
                        f"(or {BENCH_EXTRA_HINT})") from None


@functools.cache
def _figure_class():
    from matplotlib.figure import Figure

    class BenchFigure(Figure):
        """A matplotlib Figure that a notebook displays once.

        As the value of a cell, a pyplot figure is shown twice by the inline backend: once as the
        value, once more when the backend shows every open figure at the end of the cell. So when it
        is displayed as a value, it is published once with IPython's own formatters and then closed
        in pyplot (the inline backend closes its figures after each cell anyway); other backends
        (a GUI window) keep it open.
        """

        def _ipython_display_(self):
            from IPython import get_ipython
            from IPython.display import publish_display_data
            ip = get_ipython()
            if ip is None:
                print(repr(self))
                return
            data, meta = {}, {}
            for mime, formatter in ip.display_formatter.formatters.items():
                out = formatter(self)
                if isinstance(out, tuple):
                    out, md = out
                    meta[mime] = md
                if out is not None:
                    data[mime] = out
            publish_display_data(data, metadata=meta or None)
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None and "inline" in str(plt.get_backend()).lower():
                plt.close(self)

    return BenchFigure


def __getattr__(name):  # BenchFigure, without importing matplotlib with tcnb.bench
    if name == "BenchFigure":
        return _figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _spread(r) -> float:
    """Interquartile range / median of an ok record (0 where unknown)."""
    m, q1, q3 = r.get("median_s"), r.get("q1_s"), r.get("q3_s")
    if not m or q1 is None or q3 is None:
        return 0.0
    return (q3 - q1) / m


def _styles(labels) -> dict:
    colors = {"tcnb": ["#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#8c564b", "#bcbd22"],
              "jax": ["#d62728", "#ff9896"], "torch": ["#ff7f0e", "#ffbb78"], "autograd": ["#7f7f7f", "#c7c7c7"]}
    used: dict = {}
    out = {}
    for label in labels:
        tool = label.split(" ")[0].split("[")[0]
        k = used.get(tool, 0)
        used[tool] = k + 1
        palette = colors.get(tool, ["#333333"])
        st = {"color": palette[k % len(palette)], "marker": "o" if tool == "tcnb" else "s",
              "linestyle": "-" if tool == "tcnb" else "--", "markersize": 4}
        if "gpu" in label or "cupy" in label:
            st["marker"] = "^" if tool == "tcnb" else "v"
        out[label] = st
    return out


# =============================================================================== tools

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


def _error_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300]


# =============================================================================== compare

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
    backends        tcnb's array backends; an unavailable one (no CuPy/GPU) gives "unavailable" records
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
    with ThreadLimits(threads, frameworks=_as_list(baselines)) as limits:
        res = _compare(limits=limits, **args)
    res.meta["load"] = {"before": load_before, "after": load_average()}
    return res


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
                rec["threads"] = None if tool.backend in ("cupy", "gpu") else limits.for_tool(tool.tool)
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


# ------------------------------------------------------------------------------ helpers of compare

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


def _base_record(tool: _Tool, kind, meta, x, sizes) -> dict:
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


def _progress(total, progress, meta):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc="tcnb.bench", leave=False)


def _as_expr(expr) -> Expr:
    if isinstance(expr, Expr):
        return expr
    if isinstance(expr, str):
        prog = api.parse(expr)
        defs = list(prog.definitions)
        if not defs:
            raise ValueError("the program defines nothing to benchmark")
        return prog[defs[-1]]
    if isinstance(expr, api.Program):
        defs = list(expr.definitions)
        if not defs:
            raise ValueError("the program defines nothing to benchmark")
        return expr[defs[-1]]
    raise TypeError(f"compare() needs a tcnb expression (prog['f']) or program source, got {type(expr).__name__}")


def _resolve_kind(f: Expr, wrt, kind):
    if isinstance(wrt, Expr):
        wrt = wrt.name or (wrt.variables[0] if wrt.variables else None)
    if kind is None:
        kind = "value" if wrt is None else ("hessian" if f.rank == 0 else "jacobian")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "value":
        return kind, None
    if wrt is None:
        vs = f.variables
        if len(vs) != 1:
            raise ValueError(f"say which variable to differentiate with respect to: wrt= one of {', '.join(vs)}")
        wrt = vs[0]
    if wrt not in f.variables:
        raise ValueError(f"{wrt!r} is not a variable of {f.display_name} (variables: {', '.join(f.variables)})")
    if kind in ("grad", "hessian", "hvp") and f.rank != 0:
        raise ValueError(f"a {kind} needs a scalar expression; {f.display_name} has rank {f.rank} "
                         "(use kind='jacobian')")
    return kind, wrt


def _variables(e: Expr) -> dict:
    """name -> the variable (with .shape) for every variable ``e`` uses."""
    return {v.name: v for v in e.compile("numpy").vars}


def _direction(f: Expr, wrt: str, direction) -> Expr:
    if direction is not None:
        if isinstance(direction, Expr):
            return direction
        raise TypeError("direction must be a tcnb variable (Expr) shaped like the variable")
    w = _variables(f)[wrt]
    taken = set(f.variables) | {s.name for d in w.shape for s in d.free_symbols}
    name = "v"
    while name in taken:
        name += "_"
    dims = ", ".join(str(d) for d in w.shape)
    return api.parse(f"{name}: R[{dims}]" if dims else f"{name}: R")[name]


def _derive(f, wrt, kind, mode, compress, v_expr) -> Expr:
    if kind == "value":
        return f
    if kind == "grad":
        return api.grad(f, wrt, mode=mode, compress=compress)
    if kind == "jacobian":
        return api.jacobian(f, wrt, mode=mode, compress=compress)
    if kind == "hessian":
        return api.hessian(f, wrt, mode=mode, compress=compress)
    return api.hvp(f, wrt, v_expr, mode=mode, compress=compress)


def _backend_ok(backend) -> tuple[bool, str]:
    from ..backend.namespace import get_namespace
    try:
        get_namespace(backend)
        return True, ""
    except BackendUnavailableError as exc:
        return False, str(exc)


def _parse_bytes(v) -> int:
    if isinstance(v, (int, float)):
        return int(v)
    import re
    m = re.fullmatch(r"\s*([\d.]+)\s*([kmgt]?)(i?b)?\s*", str(v).lower())
    if not m:
        raise ValueError(f"not a size in bytes: {v!r} (e.g. 2e9, '2GB', '512MiB')")
    mult = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}[m.group(2)]
    if m.group(3) == "ib":
        mult = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2)]
    return int(float(m.group(1)) * mult)
