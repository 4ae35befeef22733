"""The result of a benchmark sweep: :class:`BenchResult` selects, tabulates, writes and reads its
records, and renders them as text and HTML; the figure itself is drawn by figure.py.
"""
from __future__ import annotations

import html

from ..errors import TcnbError
from .figure import draw_times, new_figure, png_base64
from .records import _KIND_NAME, BENCH_EXTRA_HINT, FIELDS, UNSTABLE_SPREAD, _spread
from .timing import fmt_time, machine_str, threads_str


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
        draw_times(self, ax, title, spread, legend)

    def savefig(self, path, title: str | None = None, **kw) -> str:
        """Write the plot to ``path`` (without creating a pyplot figure)."""
        fig, (ax,) = new_figure((6.4, 4.4), pyplot=False)
        self._draw(ax, title, True, True)
        fig.savefig(path, dpi=kw.pop("dpi", 120), **kw)
        return str(path)

    def _png_base64(self) -> str | None:
        return png_base64(self)

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

