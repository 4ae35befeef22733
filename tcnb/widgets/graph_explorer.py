"""Graph explorer: the expression DAG next to its derivative's DAG in each mode, before and after
compression, with node counts, estimated FLOPs and peak memory at sizes you choose.

    from tcnb.widgets import GraphExplorer
    GraphExplorer(prog["f"], prog["w"], order=2, sizes={"m": 2000, "n": 1000})

The controls are plain ipywidgets linked in Python (no front-end links), so the state after a toggle
can be read back in tests: ``explorer.key``, ``explorer.current`` (the Expr drawn) and
``explorer.svg`` (its SVG text, or "" when Graphviz's ``dot`` is missing).
"""
from __future__ import annotations

import html

import ipywidgets as W

import tcnb
from tcnb.notebook import display as D

from ._style import CURRENT_MARK, CURRENT_ROW, MUTED, ROW_MARK, bundle, plain

MODES = ("forward", "reverse", "cross-country")
VIEWS = ("expression", "derivative")
COMPRESSION = ("compressed", "uncompressed")
ORDER_NAMES = {1: "1st (gradient / Jacobian)", 2: "2nd (Hessian)", 3: "3rd"}
_CELL = "text-align:right;white-space:nowrap;padding:1px 8px"
_STAT_COLUMNS = (("nodes", "nodes"), ("multiplications", "mult."), ("unit_tensors", "δ"),
                 ("dense_unit_tensors", "dense δ"), ("flops", "FLOPs"), ("peak_bytes", "peak memory"))


def _human(key, value) -> str:
    if key.endswith("bytes"):
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if value < 1024 or unit == "TiB":
                return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            value /= 1024
    if key == "flops":
        for unit in ("", "k", "M", "G", "T", "P"):
            if value < 1000 or unit == "P":
                return f"{value:.0f}" if unit == "" else f"{value:.2f} {unit}"
            value /= 1000
    return str(value)


class GraphExplorer(W.VBox):
    """Toggle between the DAG of ``f`` and of its ``order``-th derivative with respect to ``wrt``,
    per mode and with or without compression; a table compares every variant at ``sizes``."""

    def __init__(self, f: tcnb.Expr, wrt: tcnb.Expr, order: int = 1, sizes: dict | None = None,
                 view: str = "derivative", mode: str = "cross-country", compress: bool = True):
        self.f, self.wrt = f, wrt
        self._exprs: dict = {}
        self._svgs: dict = {}
        self._stats: dict = {}
        style = {"description_width": "90px"}
        self.view = W.ToggleButtons(options=VIEWS, value=view, description="show", style=style)
        self.mode = W.ToggleButtons(options=MODES, value=mode, description="mode", style=style)
        self.compression = W.ToggleButtons(options=COMPRESSION, value=COMPRESSION[0 if compress else 1],
                                           description="unit tensors", style=style)
        self.order = W.Dropdown(options=[(ORDER_NAMES.get(k, f"{k}th"), k) for k in (1, 2, 3)],
                                value=order, description="order", style=style)
        dims = D.full_sizes(sizes, f)
        self.sizes = {d: W.BoundedIntText(value=v, min=1, max=10**9, description=d,
                                          layout=W.Layout(width="160px"), style={"description_width": "30px"})
                      for d, v in dims.items()}
        self.graph = W.HTML(layout=W.Layout(overflow="auto", max_height="640px"))
        self.graph.add_class("tcnb-graph-explorer-svg")
        self.caption = W.HTML()
        self.table = W.HTML()
        for w in (self.view, self.mode, self.compression, self.order):
            w.observe(self._on_change, names="value")
        for w in self.sizes.values():
            w.observe(self._on_sizes, names="value")
        sizes_box = W.HBox([W.Label("sizes")] + list(self.sizes.values()))
        controls = W.VBox([self.view, self.mode, self.compression, self.order, sizes_box])
        self.table.layout = W.Layout(margin="0 0 0 24px")
        super().__init__([W.HBox([controls, self.table]), self.caption, self.graph])
        self.add_class("tcnb-graph-explorer")
        self._refresh()

    # ---------------------------------------------------------------- state
    @property
    def key(self) -> tuple:
        """What is shown: ("expression",) or ("derivative", order, mode, compress)."""
        if self.view.value == "expression":
            return ("expression",)
        return ("derivative", self.order.value, self.mode.value, self.compression.value == COMPRESSION[0])

    @property
    def current(self) -> tcnb.Expr:
        """The Expr shown now (the expression, or the derivative the controls select)."""
        return self.expr_for(self.key)

    @property
    def svg(self) -> str:
        """SVG of the graph shown now ("" when Graphviz is missing or drawing failed)."""
        return self._svg_for(self.key)

    @property
    def size_values(self) -> dict:
        """dimension -> value of its size slider now."""
        return {d: w.value for d, w in self.sizes.items()}

    def expr_for(self, key: tuple) -> tcnb.Expr:
        """The Expr a view key stands for (the expression, or one of its derivatives), cached."""
        if key not in self._exprs:
            if key[0] == "expression":
                self._exprs[key] = self.f
            else:
                _, order, mode, compress = key
                kw = dict(mode=mode, compress=compress)
                if self.f.rank == 0 and order in (1, 2):  # named grad / Hessian in the pictures
                    fn = tcnb.grad if order == 1 else tcnb.hessian
                    self._exprs[key] = fn(self.f, self.wrt, **kw)
                else:
                    self._exprs[key] = tcnb.derivative(self.f, self.wrt, order=order, **kw)
        return self._exprs[key]

    def _svg_for(self, key) -> str:
        if key not in self._svgs:
            try:
                expr = self.expr_for(key)
                self._svgs[key] = D.svg_of(expr.graph(title=self._title(key)))
            except Exception:  # noqa: BLE001 - the caption says why
                return ""
        return self._svgs[key]

    def stats_for(self, key: tuple) -> dict:
        """The stats of a view at the current slider sizes, cached per (view, sizes)."""
        sizes = self.size_values
        skey = (key, tuple(sorted(sizes.items())))
        if skey not in self._stats:
            self._stats[skey] = self.expr_for(key).stats(**sizes)
        return self._stats[skey]

    def _title(self, key) -> str:
        if key[0] == "expression":
            return f"{self.f.display_name}"
        _, order, mode, compress = key
        return f"{self.expr_for(key).display_name}: {mode} mode, {'compressed' if compress else 'uncompressed'}"

    def _repr_mimebundle_(self, **kwargs):
        """The widget view, plus the caption, cost table and SVG shown now for viewers without widgets."""
        controls = ", ".join(f"{w.description} {w.label}" for w in (self.view, self.mode, self.compression,
                                                                     self.order))
        body = (f"<div style='color:{MUTED};font-size:90%'>graph explorer (static view; interactive "
                f"with ipywidgets): {html.escape(controls)}</div>"
                f"<div>{self.caption.value}</div><div>{self.table.value}</div>"
                f"<div class='tcnb-graph'>{self.graph.value}</div>")
        return bundle(self, kwargs, "graph-explorer", body, f"GraphExplorer: {plain(self.caption.value)}")

    # ---------------------------------------------------------------- drawing
    def _on_change(self, change=None):
        self._refresh()

    def _on_sizes(self, change=None):
        self._refresh_table()

    def _refresh(self):
        key = self.key
        try:
            expr = self.expr_for(key)
        except Exception as exc:  # noqa: BLE001
            self.caption.value = D.note(f"cannot form this derivative: {D.short_error(exc)}", "error")
            self.graph.value = ""
            self.table.value = ""
            return
        n = D.safe(lambda: D.node_count(expr), "?")
        self.caption.value = (f"<b>{html.escape(self._title(key))}</b> — {n} nodes, shape "
                              f"{html.escape(D.shape_text(expr))}")
        if not D.dot_available():
            self.graph.value = D.note(D.INSTALL_HINT, "hint")
        else:
            svg = self._svg_for(key)
            self.graph.value = svg or D.graph_html(lambda: expr.graph())
        self._refresh_table()

    def _refresh_table(self):
        shown = self.key
        order = self.order.value
        keys = [("expression",)] + [("derivative", order, m, c) for m in MODES for c in (True, False)]
        head = "".join(f"<th style='{_CELL}'>{t}</th>" for _, t in _STAT_COLUMNS)
        rows = []
        for key in keys:
            name = "expression" if key[0] == "expression" else f"{key[2]}, {'compressed' if key[3] else 'uncompressed'}"
            current = key == shown
            style = f" class='tcnb-current' style='{CURRENT_ROW}'" if current else ""
            mark = CURRENT_MARK if current else ROW_MARK
            try:
                st = self.stats_for(key)
                cells = "".join(f"<td style='{_CELL}'>{html.escape(_human(k, st[k]))}</td>"
                                for k, _ in _STAT_COLUMNS)
            except Exception as exc:  # noqa: BLE001
                cells = f"<td colspan='{len(_STAT_COLUMNS)}'>{html.escape(D.short_error(exc))}</td>"
            rows.append(f"<tr{style}><td style='{_CELL};text-align:left;{mark}'>{html.escape(name)}</td>"
                        f"{cells}</tr>")
        sizes = D.sizes_text(self.size_values)
        self.table.value = (f"<div class='tcnb-explorer-stats'><div>estimated cost at {html.escape(sizes)}"
                            f" (order {order})</div><table style='border-collapse:collapse'><tr><th></th>{head}</tr>{''.join(rows)}</table></div>")
