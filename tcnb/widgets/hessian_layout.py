"""The Hessian explorer's controls, its matplotlib figure and how each update is drawn: the heatmap
and its caption, the spectrum and curvature panels (blitted), the summary table and the pattern text.
A part of :class:`~tcnb.widgets.HessianExplorer`.
"""
from __future__ import annotations

import html
import math

import ipywidgets as W
import numpy as np

from tcnb.dims import resolve_shape

from ._style import MUTED
from .hessian_images import _bytes, _fmt, heatmap_rgb, png_bytes
from .hessian_matrix_free import binned, leading_window
from .hessian_structure import _merge_terms, pattern_explanation

MOVES = ("−gradient", "random direction")
DIRECTIONS = ("−gradient", "random", "smallest eigenvector", "largest eigenvector", "coordinate axis")
VIEWS = ("Hessian", "core")
SCALES = ("linear", "signed log")
FREE_WINDOW = 32         # columns of the heatmap window when matrix-free: one Hessian-vector product each
DIAGONAL_BINS = 400      # the diagonal plot's resolution (about its width in pixels)


class HessianDrawing:
    """The explorer's controls, figure and drawing methods (a mixin of HessianExplorer): the figure
    keeps its axis limits while the data fits them, so most updates redraw only the data."""

    def _build_controls(self, size_max, seed):
        style = {"description_width": "120px"}
        wide = W.Layout(width="340px")
        self.size_sliders = {
            d: W.IntSlider(value=v, min=1, max=int(size_max.get(d, max(4 * v, 20))), description=f"size {d}",
                           continuous_update=False, style=style, layout=wide)
            for d, v in self._fixed.items()}
        self.seed_slider = W.IntSlider(value=seed, min=0, max=max(99, seed), description="random seed",
                                       continuous_update=False, style=style, layout=wide)
        can_move = self.wrt is not None
        self.move = W.Dropdown(options=MOVES if self._g_fn is not None else MOVES[1:],
                               description="move along", style=style, layout=wide,
                               disabled=not can_move)
        self.step_slider = W.FloatSlider(value=0.0, min=-1.0, max=1.0, step=0.05, readout_format="+.2f",
                                         description="step (× ‖w₀‖)", continuous_update=False,
                                         style=style, layout=wide, disabled=not can_move)
        directions = [d for d in DIRECTIONS if d != "−gradient" or self._g_fn is not None]
        self.direction = W.Dropdown(options=directions, value=directions[0], description="curvature along",
                                    style=style, layout=wide)
        self.coordinate = W.IntSlider(value=0, min=0, max=0, description="coordinate",
                                      continuous_update=False, style=style, layout=wide)
        toggles = {"description_width": "90px", "button_width": "100px"}
        self.view = W.ToggleButtons(options=VIEWS, value=VIEWS[0], description="heatmap of", style=toggles)
        self.scale = W.ToggleButtons(options=SCALES, value=SCALES[0], description="colour scale", style=toggles)
        for w in list(self.size_sliders.values()) + [self.seed_slider, self.move, self.step_slider,
                                                     self.direction, self.coordinate, self.view, self.scale]:
            w.observe(self._on_change, names="value")
        left = W.VBox(list(self.size_sliders.values()) + [self.seed_slider])
        middle = W.VBox([self.move, self.step_slider, self.direction, self.coordinate])
        right = W.VBox([self.view, self.scale])
        self._controls = W.HBox([left, middle, right])

    def _build_figure(self):
        # Titles, axis names and legends are HTML around the image: text is what costs in a matplotlib
        # draw (each glyph rendered each time), and only tick labels stay in the figure. The data
        # artists are blitted over a cached background while the axis limits stay put.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
        fig = Figure(figsize=(11.0, 2.7), dpi=72)
        FigureCanvasAgg(fig)
        hx, sx, lx = fig.subplots(1, 3)
        fig.subplots_adjust(left=0.05, right=0.99, bottom=0.1, top=0.96, wspace=0.2)
        self._ax = {"hist": hx, "sorted": sx, "line": lx}
        self._hist = hx.stairs(np.zeros(1), np.array([0.0, 1.0]), fill=True, color="#4c72b0")
        hx.axvline(0.0, color="#888", lw=0.8)
        self._neg_line, = sx.plot([], [], ".", ms=3, color="#c44e52")
        self._pos_line, = sx.plot([], [], ".", ms=3, color="#4c72b0")
        self._curv_line = sx.axhline(0.0, color="#55a868", lw=1.2, ls="--")
        sx.axhline(0.0, color="#888", lw=0.8)
        self._f_line, = lx.plot([], [], color="#4c72b0")
        self._q_line, = lx.plot([], [], color="#dd8452", ls="--")
        lx.axhline(0.0, color="#888", lw=0.8)
        lx.axvline(0.0, color="#888", lw=0.8)
        self.plot_titles = self._plot_titles(False)
        for ax in (hx, sx, lx):
            ax.xaxis.set_major_locator(MaxNLocator(5, integer=ax is sx))
            ax.yaxis.set_major_locator(MaxNLocator(5))
            ax.tick_params(labelsize=8)
        self._dynamic = [(hx, [self._hist]), (sx, [self._curv_line, self._neg_line, self._pos_line]),
                         (lx, [self._f_line, self._q_line])]
        for _, artists in self._dynamic:
            for a in artists:
                a.set_animated(True)
        self._lims: dict = {}
        self._background = None
        self.figure = fig

    def _plot_titles(self, free: bool):
        """(title, x-axis name) of the three plots; matrix-free, the first two show the diagonal and
        the top eigenvalues."""
        line = ("f(w + s·d) − f(w) (blue), its model s·gᵀd + ½κs² (orange)"
                if self._f_fn is not None else "the quadratic model ½κs² along d (orange)")
        if free:
            first = [("the diagonal Hᵢᵢ", f"i (past {DIAGONAL_BINS} rows: the largest |Hᵢᵢ| of each run)"),
                     (f"top {self.top_k} eigenvalues by Lanczos (green: κ = dᵀHd)", "rank, largest first")]
        else:
            first = [("histogram of the eigenvalues", "eigenvalue"),
                     ("sorted eigenvalues (red: λ < 0; green: κ = dᵀHd)", "index, ascending")]
        return first + [(line, "s, along the unit direction d")]

    def _set_titles(self, free: bool = False):
        cell = "font-size:90%;padding:0 4px"
        grid = "display:grid;grid-template-columns:1fr 1fr 1fr;width:792px"
        self.plot_titles = self._plot_titles(free)
        self._titles.value = (f"<div style='{grid}'>" + "".join(f"<div style='{cell}'><b>{html.escape(t)}</b></div>"
                                                                for t, _ in self.plot_titles) + "</div>")
        self._xlabels.value = (f"<div style='{grid};text-align:center;color:{MUTED}'>"
                               + "".join(f"<div style='{cell}'>{html.escape(x)}</div>" for _, x in self.plot_titles)
                               + "</div>")

    def _heatmap_data(self):
        """(matrix shown, title, block size or None, note)."""
        h = self._cache["hessian"][1]
        shape = resolve_shape(self.H.shape, self.sizes)
        r = self.split
        if self.view.value == "core" and self.structured is not None:
            terms = self.structured.terms
            merged = _merge_terms(terms)
            core, labels, pattern = merged if merged is not None else terms[0]
            which = "" if merged is not None or len(terms) == 1 else f" of term 1 of {len(terms)}"
            core = np.asarray(core, dtype=np.float64)
            row_l = [l for l in labels if l in pattern[:r]]
            col_l = [l for l in labels if l not in row_l]
            core = np.transpose(core, [labels.index(l) for l in row_l + col_l]) if labels else core
            nr = math.prod(core.shape[:len(row_l)])
            mat = core.reshape(nr, -1) if core.ndim else core.reshape(1, 1)
            return mat, f"core C{which} ({mat.shape[0]}×{mat.shape[1]})", None, ""
        n = math.prod(shape[:r])
        win = min(n, self.max_heatmap, FREE_WINDOW if h["operator"] is not None else n)
        if h["dense"] is not None:
            mat = h["dense"][:win, :win]
        else:                                   # compressed or matrix-free: columns from products
            if h.get("window") is None or h["window"].shape[0] != win:
                op = h["operator"]
                matvec = op.matvec if op is not None else (lambda e: h["structured"] @ e.reshape(shape[r:]))
                h["window"] = leading_window(matvec, n, win)
            mat = h["window"]
        inner = math.prod(shape[1:r]) if r >= 2 else 1
        dims = " · ".join(str(s) for s in shape[:r])
        title = f"H as a ({dims})×({dims}) matrix" if r >= 2 else f"H ({n}×{n})"
        note = f"leading {win}×{win} of {n}×{n}" if win < n else ""
        if h["operator"] is not None:
            note += ", one product H·eⱼ per column"
        block = inner if 1 < inner < win and win // inner <= 60 else None
        return mat, title, block, note

    def _draw(self):
        mat, title, block, note = self._heatmap_data()
        self.heatmap_matrix = mat
        vmax = float(np.abs(mat).max()) if mat.size else 0.0
        log = self.scale.value == "signed log"
        self.heatmap_rgb = heatmap_rgb(mat, vmax, block, log=log)
        small = f"{vmax * 1e-3:.2g}"
        left, right = (f" … −{small} … ", f" … +{small} … ") if log else (" … ", " … ")
        caption = (f"<b>{html.escape(title)}</b>" + (f" <span style='color:{MUTED}'>({html.escape(note)})</span>"
                                                      if note else "")
                   + f"<br><span style='font-size:90%;color:{MUTED}'>colour{' (signed log)' if log else ''}: "
                     f"<span style='color:#2166ac'>■</span> −{vmax:.3g}{left}□ 0{right}"   # the swatches are
                     f"<span style='color:#b2182b'>■</span> +{vmax:.3g}"                  # the heatmap's own
                   + (f"; lines mark the {block}×{block} blocks" if block else "") + "</span>")
        self.heatmap_caption.value = caption

        free = self.matrix_free
        if free != getattr(self, "_titles_free", False):
            self._set_titles(free)
            self._titles_free = free
            for line in (self._neg_line, self._pos_line):     # a few eigenvalues: bigger points
                line.set_markersize(6 if free else 3)
        ev = self.eigenvalues
        lo, hi = (float(ev.min()), float(ev.max())) if ev.size else (0.0, 1.0)
        if hi - lo < 1e-12 * max(1.0, abs(hi)):
            lo, hi = lo - 0.5 * max(abs(lo), 1.0), hi + 0.5 * max(abs(hi), 1.0)
        if free:
            self._draw_diagonal()
        else:
            pad = 0.02 * (hi - lo)
            hx = self._ax["hist"]
            xlim = self._limits("hist.x", lo - pad, hi + pad)
            bins = int(min(60, max(10, math.sqrt(ev.size) * 2)))
            counts, edges = np.histogram(ev, bins=bins, range=xlim)
            self._hist.set_data(counts, edges, baseline=0)
            self._set_lims(hx, xlim, self._limits("hist.y", 0.0, max(1, counts.max()) * 1.08, floor=True))

        sx = self._ax["sorted"]
        if free:                                # the top eigenvalues by rank: 1 = the largest
            ev = self.top_eigenvalues
            idx = np.arange(1, ev.size + 1)
        else:
            idx = np.arange(ev.size)
        neg = ev < -self.tolerance
        self._neg_line.set_data(idx[neg], ev[neg])
        self._pos_line.set_data(idx[~neg], ev[~neg])
        self._curv_line.set_ydata([self.curvature, self.curvature])
        ylo, yhi = min(lo, self.curvature, 0.0), max(hi, self.curvature, 0.0)
        pad = 0.05 * (yhi - ylo or 1.0)
        xlim = (0.5, ev.size + 0.5) if free else (-0.5, max(ev.size - 0.5, 0.5))
        self._set_lims(sx, xlim, self._limits("sorted.y", ylo - pad, yhi + pad))

        lx = self._ax["line"]
        c = self._cache["curvature"][1]
        if c["s"] is not None:
            s, phi, model = c["s"], c["phi"], c["model"]
            self._f_line.set_data(s, phi)
            ys = np.concatenate([phi, model])
            ys = ys[np.isfinite(ys)]
        else:
            s = np.linspace(-1.0, 1.0, 41)
            model = 0.5 * c["kappa"] * s * s
            ys = model
        self._q_line.set_data(s, model)
        ylo, yhi = (float(ys.min()), float(ys.max())) if ys.size else (-1.0, 1.0)
        pad = 0.08 * (yhi - ylo or 1.0)
        self._set_lims(lx, (float(s[0]), float(s[-1])), self._limits("line.y", ylo - pad, yhi + pad))

    def _draw_diagonal(self):
        """The first plot when matrix-free: the diagonal against its index, binned to the plot's width."""
        hx = self._ax["hist"]
        diag = self.diagonal
        if diag is None or diag.size == 0:
            self._hist.set_data(np.zeros(1), np.array([0.0, 1.0]), baseline=0)
            return
        edges, heights = binned(diag, DIAGONAL_BINS)
        self._hist.set_data(heights, edges, baseline=0)
        lo, hi = min(float(heights.min()), 0.0), max(float(heights.max()), 0.0)
        pad = 0.05 * (hi - lo or 1.0)
        self._set_lims(hx, (0.0, float(diag.size)), self._limits("diag.y", lo - pad, hi + pad))

    def _limits(self, key, lo, hi, floor=False):
        """Axis limits that stay put while the data fits them and fills at least half of them, so most
        slider moves redraw only the data (blitting over a cached background)."""
        old = self._lims.get(key)
        if old is not None and old[0] <= lo and hi <= old[1] and (hi - lo) >= 0.4 * (old[1] - old[0]):
            return old
        span = hi - lo or 1.0
        new = (lo if floor else lo - 0.15 * span, hi + 0.15 * span)
        self._lims[key] = new
        return new

    @staticmethod
    def _set_lims(ax, xlim, ylim):
        if tuple(ax.get_xlim()) != tuple(xlim):
            ax.set_xlim(*xlim)
        if tuple(ax.get_ylim()) != tuple(ylim):
            ax.set_ylim(*ylim)

    def _render(self):
        self.heatmap.value = png_bytes(self.heatmap_rgb)
        canvas = self.figure.canvas
        view = tuple(tuple(ax.get_xlim()) + tuple(ax.get_ylim()) for ax in self._ax.values())
        if self._background is None or view != self._background[0]:
            canvas.draw()                      # axes, ticks and legends; the data artists are animated
            self._background = (view, canvas.copy_from_bbox(self.figure.bbox))
        else:
            canvas.restore_region(self._background[1])
        for ax, artists in self._dynamic:
            for artist in artists:
                ax.draw_artist(artist)
        self.image.value = png_bytes(np.asarray(canvas.buffer_rgba())[..., :3])

    def _write_summary(self):
        ev = self.eigenvalues
        shape = resolve_shape(self.H.shape, self.sizes)
        n = self.size
        diag, trace = self.diagonal, self.trace
        parts = [("trace", _fmt(trace) + (" (from H.trace())" if self._trace_fn is not None else "")),
                 ("diagonal min / max", f"{_fmt(diag.min())} / {_fmt(diag.max())}" if diag is not None and diag.size
                  else "–")]
        rows = [("Hessian shape", " × ".join(map(str, shape)) or "scalar"),
                ("as a matrix", f"{n} × {n}")]
        if self.matrix_free:
            spec = self._cache["spectrum"][1]
            top = self.top_eigenvalues
            rows += [("matrix-free", self.size_note),
                     (f"top {top.size} eigenvalues", ", ".join(map(_fmt, top)))] + parts + [
                     ("negative eigenvalues", "not known (Lanczos finds the top ones)"),
                     ("curvature dᵀHd", f"{_fmt(self.curvature)} (d: {self.direction.value}; one product H·d)"),
                     ("spectrum from", f"Lanczos (eigsh): {top.size} of {n} eigenvalues, "
                                       f"{spec['products']} products H·v")]
        else:
            rows += [("λ min / λ max", f"{_fmt(ev.min())} / {_fmt(ev.max())}" if n else "–"),
                     ("negative eigenvalues", f"{self.negative_count} of {n}"),
                     ("condition number", _fmt(self.condition_number)
                      + (" (numerically singular)" if n and np.abs(ev).min() <= self.tolerance else ""))] + parts + [
                     ("curvature dᵀHd", f"{_fmt(self.curvature)} (d: {self.direction.value})"),
                     ("spectrum from", "the core: " + str(self.core_eigenvalues.size) + " eigenvalues, each ×"
                      + str(self.multiplicity) if self.spectrum_source == "core" else f"the dense {n}×{n} matrix")]
        rows.append(("update time", f"{1000 * self.timings['total']:.0f} ms (numbers "
                                    f"{1000 * self.timings['compute']:.0f} ms)"))
        if self.wrt is not None:
            rows.insert(0, ("variable", f"{self.wrt}, step {self.step_slider.value:+.2f}"
                                        + (f" along {self.move.value}" if self.step_slider.value else "")))
        asym = self._cache["spectrum"][1].get("asymmetry", 0.0)
        if asym > 1e-8 * (np.abs(ev).max() if n else 1.0):
            rows.append(("note", f"not symmetric (max |H − Hᵀ| = {asym:.2g}); eigenvalues of (H + Hᵀ)/2"))
        table = "".join(f"<tr><td style='padding:1px 8px 1px 0;text-align:left;color:{MUTED}'>{html.escape(k)}</td>"
                        f"<td style='padding:1px 0;text-align:left'>{html.escape(v)}</td></tr>" for k, v in rows)
        self.summary.value = f"<table class='tcnb-hessian-summary'>{table}</table>"
        self.pattern.value = self._pattern_html()

    def _pattern_html(self) -> str:
        S = self.structured
        if S is None:
            return ""
        text = pattern_explanation(S, self.H.indices)
        block = self._cache["hessian"][1]["block"]
        words = ("δ[a, b] is the unit tensor: 1 where a = b, 0 elsewhere. An axis pair tied by δ means the "
                 "Hessian only couples entries with the same index there, so the core C never holds it.")
        if block is not None:
            nb, b = block.blocks.shape[:2]
            parts = []
            if block.repeat > 1:
                parts.append(f"each block repeats {block.repeat} times on the diagonal (⊗ I)")
            if nb > 1:
                parts.append(f"{nb} different {b}×{b} blocks (block diagonal)")
            detail = " and ".join(parts) or f"a single {b}×{b} block"
            times = f", each repeated {block.repeat} times" if block.repeat > 1 else ""
            count = "one eigen-decomposition" if nb == 1 else f"{nb} eigen-decompositions"
            words += (f" As a matrix (rows and columns reordered alike) it is block diagonal: {detail}. "
                      f"Its eigenvalues are the blocks' eigenvalues{times} — "
                      f"{count} of {b}×{b} instead of one of {block.n}×{block.n}.")
        store = (f"Stored: {_bytes(S.nbytes)} instead of {_bytes(S.dense_nbytes)} dense.")
        return (f"<div class='tcnb-hessian-pattern'><b>compressed Hessian</b> "
                f"<code>{html.escape(S.pattern_str())}</code><pre style='margin:4px 0'>{html.escape(text)}</pre>"
                f"<div style='max-width:900px'>{html.escape(words)} {html.escape(store)}</div></div>")
