"""Hessian explorer: heatmap, spectrum and directional curvature of a Hessian, live under sliders.

    from tcnb.widgets import HessianExplorer
    HessianExplorer(H, X=X, y=y, w=w)                          # a Hessian Expr at given arrays
    HessianExplorer(H, sizes={"m": 200, "n": 100}, seed=0)     # ... or at random arrays of these sizes
    HessianExplorer.from_function(f, w, sizes={"n": 100, "k": 5})   # f and w: the point can move

What it shows, for the current sizes, seed and evaluation point:

* a heatmap of the Hessian as a matrix: rows are the first ``split`` axes flattened, columns the
  rest — a 4th-order Hessian (n, k, n, k) becomes the (n·k)×(n·k) matrix, with the k×k blocks marked;
* its eigenvalue spectrum (histogram and sorted plot), the number of negative eigenvalues and the
  condition number max|λ| / min|λ|;
* the curvature dᵀHd / dᵀd along a chosen direction d (the gradient, a random direction, an extreme
  eigenvector or a coordinate axis) and, when f is known, f itself along d next to its quadratic model;
* its diagonal and trace, from ``H.diagonal()`` and ``H.trace()`` (the parts API: the tie H[i, i] is
  pushed into the expression, so they cost O(what they are), not the whole Hessian);
* for a compressed Hessian (``core ⊗ δ``, reference §6) the core, the unit-tensor pattern in words, and
  the spectrum computed from the core: a Hessian H[i,a,i',a'] = C[a,a'] δ[i,i'] is, as a matrix,
  I ⊗ C, whose eigenvalues are C's, each repeated n times — no (n·k)² matrix is ever formed for it.

Past the dense limit — an n×n matrix over ``tcnb.config.memory_budget`` or over ``max_dense`` rows —
the explorer goes matrix-free instead of refusing (unless the spectrum comes from a core): a line says
so ("20 000 × 20 000: dense would be 3.0 GiB (…); showing the diagonal, the trace and the top 6
eigenvalues by Lanczos"), the first plot shows the diagonal, the second the top ``top_k``
eigenvalues by Lanczos (``eigsh``) on the operator ``H.as_linear_operator(...)`` (or the compressed
form's), the curvature is one Hessian-vector product, and the heatmap a leading window built from
products. Nothing of size n² is created. (The widget then has the CSS class ``tcnb-hessian-matrix-free``.)

Everything shown is readable from Python — ``.eigenvalues`` (ascending; the top ones only when
matrix-free), ``.top_eigenvalues``, ``.negative_count``, ``.condition_number``, ``.curvature``,
``.diagonal``, ``.trace``, ``.matrix`` (the matricised dense Hessian), ``.spectrum_source`` ("core",
"dense" or "lanczos"), ``.matrix_free`` and ``.size_note`` (why), ``.figure`` (the matplotlib
Figure), ``.image`` (the PNG widget) — and the
controls are plain ipywidgets (``.size_sliders``, ``.seed_slider``, ``.step_slider``, ``.move``,
``.direction``, ``.coordinate``, ``.view``), so the explorer can be scripted and tested headless.

Data: arrays passed in are used while the size sliders stay at the sizes they imply; every variable
without an array (and all of them once a size changes) is drawn from ``numpy.random.default_rng(seed)``
— standard normal, or whatever ``data(sizes, rng) -> {name: array}`` returns for the names it knows.

This module is the widget class, its state and its update cycle; its parts are siblings:
``hessian_structure`` (matrix view, block structure, pattern in words), ``hessian_compute`` (the
numbers), ``hessian_matrix_free`` (the dense limit, Lanczos, windows from products), ``hessian_layout``
(controls, figure, drawing) and ``hessian_images`` (PNGs, formats).
"""
from __future__ import annotations

import html
import math
import time

import ipywidgets as W
import numpy as np
import sympy

import tcnb

from ._style import ERROR, MUTED, bundle
from .hessian_compute import HessianComputing
from .hessian_images import _fmt, _img
from .hessian_layout import HessianDrawing
from .hessian_matrix_free import size_label

# The names this module has always offered (the tests and notebooks import them from here); they live
# in the modules that do each job: hessian_structure, hessian_images, hessian_compute, hessian_layout.
from .hessian_images import heatmap_rgb, png_bytes  # noqa: E402,F401
from .hessian_layout import DIRECTIONS, MOVES, SCALES, VIEWS  # noqa: E402,F401
from .hessian_structure import (BlockStructure, block_structure, is_compressed, matricise,  # noqa: E402,F401
                                pattern_explanation)

_EPS = np.finfo(np.float64).eps


class HessianExplorer(HessianComputing, HessianDrawing, W.VBox):
    """Heatmap, spectrum and curvature of the Hessian ``H`` (an Expr), with sliders for the sizes,
    the random seed and the evaluation point.

    H: a Hessian (or any square derivative: rows = its first ``H.split`` axes).
    f, wrt: the function and variable H is the Hessian of (optional; ``from_function`` sets both):
        with f the point moves along the gradient and f is drawn along the curvature direction.
    sizes: dimension sizes (ints, or expressions of other sizes such as ``"2*n"``, which get no slider);
        dimensions not given default to 10 or come from the arrays.
    seed: the random seed for arrays not passed in. data: ``data(sizes, rng) -> {name: array}``.
    size_max: {dim: largest slider value} (default max(4 × initial size, 20)).
    max_heatmap: the heatmap shows at most this many leading rows and columns.
    spectrum: "auto" (from the core when the structure allows), "dense", or "lanczos" (matrix-free at
        any size).
    max_dense: the largest matrix (rows) whose dense spectrum is computed; past it, or past
        ``tcnb.config.memory_budget``, the explorer goes matrix-free (a compressed Hessian with block
        structure keeps its exact spectrum from the core).
    top_k: how many of the largest eigenvalues Lanczos computes when matrix-free.
    arrays / **arrays: the evaluation point (a dict, or keyword arguments by variable name).
    """

    def __init__(self, H: tcnb.Expr, *, f: tcnb.Expr | None = None, wrt=None, sizes: dict | None = None,
                 seed: int = 0, data=None, size_max: dict | None = None, max_heatmap: int = 400,
                 spectrum: str = "auto", max_dense: int = 4000, top_k: int = 6, arrays: dict | None = None,
                 **more_arrays):
        if not isinstance(H, tcnb.Expr):
            raise tcnb.DerivativeError(f"the Hessian explorer needs a tcnb expression, got {type(H).__name__}",
                                       expected="tcnb.hessian(f, w)")
        if spectrum not in ("auto", "dense", "lanczos"):
            raise ValueError(f"spectrum must be 'auto', 'dense' or 'lanczos', not {spectrum!r}")
        self.H, self.f = H, f
        self.split = H.split
        self._vars = sorted(H.known_names | (f.known_names if f is not None else frozenset()),
                            key=lambda v: v.name)
        self._var_shapes = {v.name: v.shape for v in self._vars}
        self.wrt = self._find_wrt(wrt)
        self._data = data
        self._spectrum_mode = spectrum
        self.max_heatmap = int(max_heatmap)
        self.max_dense = int(max_dense)
        self.top_k = max(1, int(top_k))
        user = dict(arrays or {})
        user.update(more_arrays)
        unknown = sorted(set(user) - set(self._var_shapes))
        if unknown:
            raise tcnb.BindingError(f"no variable named {', '.join(unknown)} in this Hessian",
                                    expected=f"arrays for {', '.join(self._var_shapes)}")
        self._user = {k: np.asarray(v, dtype=np.float64) for k, v in user.items()}
        self._fixed, self._derived, self._initial = self._size_plan(sizes or {})
        self._H_fn = H.compile()
        self._diag_fn, self._trace_fn = self._part_functions(H)
        self._f_fn = f.compile() if f is not None else None
        self._g_fn = None
        if f is not None and self.wrt is not None:
            self._g_fn = tcnb.grad(f, self.wrt).compile()
        self._structured_hint = None        # whether H.structured() keeps a δ (decided once)
        self._busy = False
        self._cache: dict = {}
        self.timings: dict = {}
        self.error: str | None = None
        self._build_controls(size_max or {}, seed)
        self._build_figure()
        self.summary = W.HTML(layout=W.Layout(min_width="300px", max_width="460px"))
        self.pattern = W.HTML()
        self.heatmap_caption = W.HTML()
        self.heatmap = W.Image(format="png", layout=W.Layout(max_width="480px"))
        self.heatmap.add_class("tcnb-hessian-heatmap")
        self.image = W.Image(format="png", layout=W.Layout(width="792px", min_width="792px"))
        self.image.add_class("tcnb-hessian-spectrum")
        self._titles, self._xlabels = W.HTML(), W.HTML()
        self._set_titles()
        heat = W.VBox([self.heatmap_caption, self.heatmap], layout=W.Layout(margin="0 16px 0 0"))
        plots = W.VBox([self._titles, self.image, self._xlabels], layout=W.Layout(margin="8px 0 0 0"))
        super().__init__([self._controls, W.HBox([heat, self.summary]), plots, self.pattern])
        self.add_class("tcnb-hessian-explorer")
        self.refresh()

    @staticmethod
    def _part_functions(H):
        """Compiled H.diagonal() and H.trace(), or (None, None) for an H that is not a derivative."""
        try:
            return H.diagonal().compile(), H.trace().compile()
        except tcnb.DerivativeError:
            return None, None

    @classmethod
    def from_function(cls, f: tcnb.Expr, wrt, *, mode: str | None = None, compress: bool = True, **kw):
        """The explorer of ``tcnb.hessian(f, wrt, mode, compress)``, knowing f and wrt (other keywords:
        as for the constructor)."""
        H = tcnb.hessian(f, wrt, mode=mode, compress=compress)
        return cls(H, f=f, wrt=wrt, **kw)

    # ------------------------------------------------------------------ state
    @property
    def sizes(self) -> dict:
        """The current dimension sizes (ints), derived ones included."""
        out = {d: w.value for d, w in self.size_sliders.items()}
        for d, e in self._derived.items():
            out[d] = int(e.subs({sympy.Symbol(k, integer=True, positive=True): v for k, v in out.items()}))
        return out

    @property
    def seed(self) -> int:
        """The random seed of the evaluation point (its slider's value)."""
        return self.seed_slider.value

    @property
    def arrays(self) -> dict:
        """The arrays of the current evaluation point."""
        return self._cache["point"][1]

    @property
    def base_arrays(self) -> dict:
        """The arrays before moving the point (step 0)."""
        return self._cache["base"][1]

    @property
    def structured(self):
        """The compressed Hessian (tcnb.Structured) at the current point, or None when H has no δ."""
        return self._cache["hessian"][1]["structured"]

    @property
    def matrix(self) -> np.ndarray:
        """The matricised dense Hessian (rows = H's first ``split`` axes flattened); refused with a
        MemoryBudgetError when the explorer is matrix-free."""
        h = self._cache["hessian"][1]
        if h["operator"] is not None:
            raise tcnb.MemoryBudgetError(f"the explorer is matrix-free here: {self.size_note}",
                                         expected=".diagonal, .trace, .top_eigenvalues, or H.as_linear_operator(...)")
        if h["dense"] is None:
            h["dense"] = matricise(h["structured"].dense(), self.split)
        return h["dense"]

    @property
    def matrix_free(self) -> bool:
        """Whether the Hessian is past the dense limit here and only seen through products."""
        return self._cache["hessian"][1]["operator"] is not None

    @property
    def size_note(self) -> str:
        """What the matrix-free view shows and why ("" when the explorer is not matrix-free)."""
        h = self._cache["hessian"][1]
        if h["operator"] is None:
            return ""
        return size_label(h["operator"].shape[0], self.top_eigenvalues.size, h["why"])

    @property
    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, ascending (with multiplicity); matrix-free, the top ones Lanczos found."""
        return self._cache["spectrum"][1]["eigenvalues"]

    @property
    def top_eigenvalues(self) -> np.ndarray:
        """The ``top_k`` largest eigenvalues, largest first (by Lanczos when matrix-free)."""
        spec = self._cache["spectrum"][1]
        return spec["top"] if "top" in spec else spec["eigenvalues"][::-1][:self.top_k]

    @property
    def diagonal(self) -> np.ndarray | None:
        """The diagonal of the matrix (flat), from ``H.diagonal()``; None for a matrix-free H that has none."""
        return self._cache["parts"][1]["diagonal"]

    @property
    def trace(self) -> float | None:
        """The trace, from ``H.trace()`` (the Laplacian of f for a Hessian)."""
        return self._cache["parts"][1]["trace"]

    @property
    def size(self) -> int:
        """The side of the matrix (the number of rows and columns)."""
        return self._cache["spectrum"][1]["n"]

    @property
    def core_eigenvalues(self) -> np.ndarray | None:
        """Eigenvalues of the distinct blocks when the spectrum came from the core, else None."""
        return self._cache["spectrum"][1]["core_eigenvalues"]

    @property
    def multiplicity(self) -> int:
        """How often each core eigenvalue repeats (1 for a dense spectrum)."""
        return self._cache["spectrum"][1]["repeat"]

    @property
    def spectrum_source(self) -> str:
        """"core" (eigenvalues of the core blocks, repeated), "dense" (of the whole matrix) or
        "lanczos" (the top ``top_k``, matrix-free)."""
        return self._cache["spectrum"][1]["source"]

    @property
    def tolerance(self) -> float:
        """Eigenvalues within ±tolerance of 0 count as zero: N · eps · max|λ| (as numpy's matrix_rank)."""
        ev = self.eigenvalues
        return float(self.size * _EPS * np.abs(ev).max()) if ev.size else 0.0

    @property
    def negative_count(self) -> int | None:
        """How many eigenvalues are below minus the tolerance (negative curvature directions); None
        when matrix-free (the top eigenvalues say nothing about the bottom ones)."""
        if self.spectrum_source == "lanczos":
            return None
        return int((self.eigenvalues < -self.tolerance).sum())

    @property
    def condition_number(self) -> float:
        """max|λ| / min|λ| (the 2-norm condition number of a symmetric matrix); inf when singular, nan
        when matrix-free."""
        a = np.abs(self.eigenvalues)
        if a.size == 0 or self.spectrum_source == "lanczos":
            return float("nan")
        lo = a.min()
        return float("inf") if lo == 0 else float(a.max() / lo)

    @property
    def direction_vector(self) -> np.ndarray:
        """The unit direction d of the curvature panel, shaped like the Hessian's columns."""
        return self._cache["curvature"][1]["d"]

    @property
    def curvature(self) -> float:
        """dᵀ H d for the unit direction d (the Rayleigh quotient: between the extreme eigenvalues)."""
        return self._cache["curvature"][1]["kappa"]

    @property
    def last_update_s(self) -> float:
        """Seconds the last update took in all (nan before the first)."""
        return self.timings.get("total", float("nan"))


    def _repr_mimebundle_(self, **kwargs):
        """The widget view, plus the heatmap, summary and spectrum shown now (inline PNGs) for viewers
        without widgets."""
        controls = ", ".join([f"{d} = {v}" for d, v in self.sizes.items()] + [f"seed {self.seed}"]
                             + ([f"step {self.step_slider.value:+.2f}"] if self.wrt is not None else [])
                             + [f"curvature along {self.direction.value}", f"heatmap of {self.view.value}"])
        body = (f"<div style='color:{MUTED};font-size:90%'>Hessian explorer (static view; interactive with "
                f"ipywidgets): {html.escape(controls)}</div>"
                f"<div style='display:flex;gap:16px;align-items:flex-start'>"
                f"<div style='flex:none'><div>{self.heatmap_caption.value}</div><div>{_img(self.heatmap.value, 'heatmap of the Hessian')}"
                f"</div></div>"
                f"<div>{self.summary.value}</div></div>"
                f"<div>{self._titles.value}{_img(self.image.value, 'eigenvalue spectrum')}"
                f"{self._xlabels.value}</div>{self.pattern.value}")
        n = self.size if "spectrum" in self._cache else 0
        at = ', '.join(f'{d}={v}' for d, v in self.sizes.items())
        if self.error:
            text = f"HessianExplorer: {self.error}"
        elif self.matrix_free:
            text = (f"HessianExplorer: {n}×{n} Hessian at {at}, matrix-free — {self.size_note}: top eigenvalues "
                    f"{', '.join(map(_fmt, self.top_eigenvalues))}, trace {_fmt(self.trace)}")
        else:
            text = (f"HessianExplorer: {n}×{n} Hessian at {at}, {self.negative_count} negative eigenvalues, "
                    f"condition number {_fmt(self.condition_number)}, trace {_fmt(self.trace)}")
        return bundle(self, kwargs, "hessian-explorer", body, text)

    def refresh(self):
        """Recompute everything for the current control values and redraw (called on every change)."""
        self._busy = True
        try:
            self._refresh()
        finally:
            self._busy = False

    def _refresh(self):
        t0, c0 = time.perf_counter(), time.thread_time()
        sizes, seed = self.sizes, self.seed
        key_base = (tuple(sorted(sizes.items())), seed)
        try:
            base = self._cached("base", key_base, lambda: self._base(sizes, seed))
            key_point = key_base + (self.move.value, self.step_slider.value)
            point = self._cached("point", key_point, lambda: self._point(base, self.move.value,
                                                                         self.step_slider.value))
            h = self._cached("hessian", key_point, lambda: self._hessian(point))
            spec = self._cached("spectrum", key_point, lambda: self._spectrum(h))
            self._cached("parts", key_point, lambda: self._parts(point, h))
            t1 = time.perf_counter()
            n_cols = math.prod(self._cols_shape())
            with self.coordinate.hold_trait_notifications():
                self.coordinate.max = max(n_cols - 1, 0)
            key_curv = key_point + (self.direction.value, self.coordinate.value)
            self._cached("curvature", key_curv,
                         lambda: self._curvature(point, self.direction.value, self.coordinate.value))
            self.coordinate.disabled = self.direction.value != "coordinate axis"
            t2 = time.perf_counter()
            self.view.disabled = self.structured is None
            if self.structured is None and self.view.value == "core":
                self.view.value = "Hessian"
            self._draw()                                 # a core view may be over the memory budget
            t3 = time.perf_counter()
            self.error = None
        except (tcnb.TcnbError, np.linalg.LinAlgError, MemoryError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.summary.value = (f"<div style='color:{ERROR}'><b>cannot show this point</b><br>"
                                  f"{html.escape(self.error)}</div>")
            return
        self._render()
        t4 = time.perf_counter()
        (self.add_class if self.matrix_free else self.remove_class)("tcnb-hessian-matrix-free")
        self.timings = {"compute": t2 - t0, "spectrum": t1 - t0, "draw": t3 - t2, "png": t4 - t3,
                        "total": t4 - t0, "cpu": time.thread_time() - c0}
        self._write_summary()

    # ------------------------------------------------------------------ events
    def _on_change(self, change=None):
        if not self._busy:               # changes made by refresh itself (clamped sliders) are part of it
            self.refresh()

