"""Figures of benchmark results: the log-log plot of time against size, and the matplotlib Figure
class a notebook displays once. matplotlib is imported only when a figure is made.
"""
from __future__ import annotations

import base64
import functools
import io
import sys

from ..errors import TcnbError
from .records import BENCH_EXTRA_HINT

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


def draw_times(res, ax, title, spread, legend):
    """Draw ``res`` (a BenchResult) on ``ax``: one log-log line of median time against the swept size
    per tool/backend, its interquartile range shaded; ``title=None`` uses ``res.title()``."""
    styles = _styles(res.labels)
    for label in res.labels:
        pts = sorted((r["x"], r["median_s"], r["q1_s"], r["q3_s"]) for r in res.ok()
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
    xs = sorted({r["x"] for r in res.ok() if r["x"] is not None})
    if xs:  # ticks at the sizes measured, as plain numbers
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    xn = res.meta.get("x_name") or "size"
    derived = res.meta.get("derived_sizes") or {}
    ax.set_xlabel(xn + (f"   ({', '.join(f'{k} = {v}' for k, v in derived.items())})" if derived else ""))
    ax.set_ylabel("seconds per evaluation (median)")
    ax.set_title(title if title is not None else res.title())
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    if legend and ax.get_lines():
        ax.legend(fontsize="small")


def png_base64(res) -> str | None:
    """The plot of ``res`` as a base64 PNG for its HTML view; None with nothing timed or no matplotlib."""
    if not res.ok():
        return None
    try:
        fig, (ax,) = new_figure((6.4, 4.4), pyplot=False)
    except TcnbError:  # no matplotlib: table only
        return None
    draw_times(res, ax, None, True, True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode()
