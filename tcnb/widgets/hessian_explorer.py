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
* for a compressed Hessian (``core ⊗ δ``, reference §6) the core, the unit-tensor pattern in words, and
  the spectrum computed from the core: a Hessian H[i,a,i',a'] = C[a,a'] δ[i,i'] is, as a matrix,
  I ⊗ C, whose eigenvalues are C's, each repeated n times — no (n·k)² matrix is ever formed for it.

Everything shown is readable from Python — ``.eigenvalues`` (ascending), ``.negative_count``,
``.condition_number``, ``.curvature``, ``.matrix`` (the matricised dense Hessian), ``.spectrum_source``
("core" or "dense"), ``.figure`` (the matplotlib Figure), ``.image`` (the PNG widget) — and the
controls are plain ipywidgets (``.size_sliders``, ``.seed_slider``, ``.step_slider``, ``.move``,
``.direction``, ``.coordinate``, ``.view``), so the explorer can be scripted and tested headless.

Data: arrays passed in are used while the size sliders stay at the sizes they imply; every variable
without an array (and all of them once a size changes) is drawn from ``numpy.random.default_rng(seed)``
— standard normal, or whatever ``data(sizes, rng) -> {name: array}`` returns for the names it knows.
"""
from __future__ import annotations

import base64
import html
import io
import math
import re
import time
from dataclasses import dataclass

import ipywidgets as W
import numpy as np
import sympy

import tcnb
from tcnb.dims import resolve_shape

from ._style import ERROR, MUTED, bundle

MOVES = ("−gradient", "random direction")
DIRECTIONS = ("−gradient", "random", "smallest eigenvector", "largest eigenvector", "coordinate axis")
VIEWS = ("Hessian", "core")
SCALES = ("linear", "signed log")
_EPS = np.finfo(np.float64).eps


# ============================================================================ structure of a Hessian

def matricise(a, split: int) -> np.ndarray:
    """The (rows × columns) matrix of a tensor whose first ``split`` axes are its rows."""
    a = np.asarray(a)
    return a.reshape(math.prod(a.shape[:split]), math.prod(a.shape[split:]))


@dataclass
class BlockStructure:
    """A single-term compressed Hessian core ⊗ δ seen as a block-diagonal matrix.

    With the axis positions reordered to (block positions, repeated positions, free positions) for
    rows and columns alike (a symmetric permutation, so the spectrum is unchanged), the matrix is
    ⊕_s I_repeat ⊗ B_s: ``blocks`` holds the B_s (n_blocks, size, size), each block appearing
    ``repeat`` times on the diagonal.
    """
    blocks: np.ndarray          # (n_blocks, b, b)
    repeat: int                 # how often each block repeats (product of the δ-only axes)
    perm: tuple                 # positions of the variable's axes in (block, repeated, free) order
    axis_sizes: tuple           # sizes of the variable's axes (rows = columns)
    n_block_axes: int           # how many leading entries of perm index the blocks
    n_repeat_axes: int

    @property
    def n(self) -> int:
        """The Hessian's side length: blocks times copies times block size."""
        return self.blocks.shape[0] * self.repeat * self.blocks.shape[1]

    def eigh(self):
        """Eigenvalues of every block (n_blocks, b) and eigenvectors (n_blocks, b, b)."""
        sym = 0.5 * (self.blocks + np.swapaxes(self.blocks, 1, 2))
        return np.linalg.eigh(sym)

    def embed(self, block: int, vec: np.ndarray) -> np.ndarray:
        """The full vector (shaped like the variable) that is ``vec`` in the first copy of ``block``."""
        sizes = [self.axis_sizes[p] for p in self.perm]
        out = np.zeros(sizes)
        nb, nr = self.n_block_axes, self.n_repeat_axes
        bidx = np.unravel_index(block, sizes[:nb]) if nb else ()
        idx = tuple(bidx) + (0,) * nr
        out[idx] = np.reshape(vec, sizes[nb + nr:])
        return np.transpose(out, np.argsort(self.perm))


def block_structure(S) -> BlockStructure | None:
    """The block-diagonal structure of a compressed result ``S`` (tcnb.Structured), or None.

    Needs one term (or terms of one and the same pattern, whose cores add up) whose pattern ties row
    axis p to column axis p (δ) or leaves them free; labels tied by δ that the core also carries make
    the blocks differ (block diagonal), labels the core lacks repeat each block (⊗ I). Anything else
    (different patterns, broadcast axes, δ across positions) is None.
    """
    r = S.split
    shape = S.shape
    if 2 * r != len(shape) or tuple(shape[:r]) != tuple(shape[r:]):
        return None
    merged = _merge_terms(S.terms)
    if merged is None:
        return None
    core, labels, pattern = merged
    rows, cols = pattern[:r], pattern[r:]
    if len(set(rows)) != r or len(set(cols)) != r:
        return None
    shared = set(rows) & set(cols)
    if any((rows[p] in shared or cols[p] in shared) and rows[p] != cols[p] for p in range(r)):
        return None
    if any(l not in shared and l not in labels for l in rows + cols):
        return None                       # broadcast axes: a rank-deficient, non-block structure
    block_pos = [p for p in range(r) if rows[p] == cols[p] and rows[p] in labels]
    repeat_pos = [p for p in range(r) if rows[p] == cols[p] and rows[p] not in labels]
    free_pos = [p for p in range(r) if rows[p] != cols[p]]
    order = [rows[p] for p in block_pos] + [rows[p] for p in free_pos] + [cols[p] for p in free_pos]
    core = np.asarray(core, dtype=np.float64)
    if tuple(sorted(order, key=repr)) != tuple(sorted(labels, key=repr)):
        return None
    core = np.transpose(core, [labels.index(l) for l in order]) if order else core.reshape(())
    nb = math.prod(shape[p] for p in block_pos)
    nf = math.prod(shape[p] for p in free_pos)
    blocks = np.reshape(core, (nb, nf, nf))
    return BlockStructure(blocks, math.prod(shape[p] for p in repeat_pos),
                          tuple(block_pos + repeat_pos + free_pos), tuple(shape[:r]),
                          len(block_pos), len(repeat_pos))


def _merge_terms(terms):
    """One (core, labels, pattern) for terms that share their pattern up to renaming, else None."""
    canon = []
    for core, labels, pattern in terms:
        names = {l: k for k, l in enumerate(dict.fromkeys(pattern))}
        key = (tuple(names[l] for l in pattern), tuple(sorted(names[l] for l in labels)))
        order = sorted(range(len(labels)), key=lambda a: names[labels[a]])
        canon.append((key, np.transpose(np.asarray(core, dtype=np.float64), order) if labels else
                      np.asarray(core, dtype=np.float64)))
    if not canon or any(k != canon[0][0] for k, _ in canon):
        return None
    (pattern, labels), total = canon[0][0], sum(c for _, c in canon)
    return total, labels, pattern


def is_compressed(S) -> bool:
    """Whether some term of ``S`` keeps a unit tensor or a broadcast axis symbolic."""
    for _, labels, pattern in S.terms:
        if len(set(pattern)) != len(pattern) or any(l not in labels for l in pattern):
            return True
    return False


def pattern_explanation(S, indices, name: str = "H") -> str:
    """The compressed form of S in index notation, in words (plain text, one term per line)."""
    r = S.split
    lines = []
    for k, (_, labels, pattern) in enumerate(S.terms):
        axis_name = {}
        for pos, l in enumerate(pattern):
            axis_name.setdefault(l, indices[pos] if pos < len(indices) else f"a{pos}")
        core_name = "C" if len(S.factors) == 1 else f"C{k + 1}"
        core = f"{core_name}[{', '.join(axis_name[l] for l in labels)}]" if labels else core_name
        deltas, broadcast = [], []
        for l in dict.fromkeys(pattern):
            where = [indices[p] if p < len(indices) else f"a{p}" for p, m in enumerate(pattern) if m == l]
            if len(where) > 1:
                deltas.append(f"δ[{', '.join(where)}]")
            if l not in labels:
                broadcast.extend(where if len(where) == 1 else [])
        term = " · ".join([core] + deltas)
        lines.append(term + (f"   (constant along {', '.join(broadcast)})" if broadcast else ""))
    head = f"{name}[{', '.join(indices[:r])} | {', '.join(indices[r:])}] = "
    return head + "\n    + ".join(lines)


# ============================================================================ the widget

class HessianExplorer(W.VBox):
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
    spectrum: "auto" (from the core when the structure allows) or "dense".
    max_dense: the largest matrix (rows) whose dense spectrum is computed; past it the explorer says so
        (a compressed Hessian with block structure has no such limit).
    arrays / **arrays: the evaluation point (a dict, or keyword arguments by variable name).
    """

    def __init__(self, H: tcnb.Expr, *, f: tcnb.Expr | None = None, wrt=None, sizes: dict | None = None,
                 seed: int = 0, data=None, size_max: dict | None = None, max_heatmap: int = 400,
                 spectrum: str = "auto", max_dense: int = 4000, arrays: dict | None = None, **more_arrays):
        if not isinstance(H, tcnb.Expr):
            raise tcnb.DerivativeError(f"the Hessian explorer needs a tcnb expression, got {type(H).__name__}",
                                       expected="tcnb.hessian(f, w)")
        if spectrum not in ("auto", "dense"):
            raise ValueError(f"spectrum must be 'auto' or 'dense', not {spectrum!r}")
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
        user = dict(arrays or {})
        user.update(more_arrays)
        unknown = sorted(set(user) - set(self._var_shapes))
        if unknown:
            raise tcnb.BindingError(f"no variable named {', '.join(unknown)} in this Hessian",
                                    expected=f"arrays for {', '.join(self._var_shapes)}")
        self._user = {k: np.asarray(v, dtype=np.float64) for k, v in user.items()}
        self._fixed, self._derived, self._initial = self._size_plan(sizes or {})
        self._H_fn = H.compile()
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
        cell = "font-size:90%;padding:0 4px"
        self._titles = W.HTML("<div style='display:grid;grid-template-columns:1fr 1fr 1fr;width:792px'>"
                              + "".join(f"<div style='{cell}'><b>{html.escape(t)}</b></div>"
                                        for t, _ in self.plot_titles) + "</div>")
        self._xlabels = W.HTML("<div style='display:grid;grid-template-columns:1fr 1fr 1fr;width:792px;"
                               f"text-align:center;color:{MUTED}'>"
                               + "".join(f"<div style='{cell}'>{html.escape(x)}</div>"
                                         for _, x in self.plot_titles) + "</div>")
        heat = W.VBox([self.heatmap_caption, self.heatmap], layout=W.Layout(margin="0 16px 0 0"))
        plots = W.VBox([self._titles, self.image, self._xlabels], layout=W.Layout(margin="8px 0 0 0"))
        super().__init__([self._controls, W.HBox([heat, self.summary]), plots, self.pattern])
        self.add_class("tcnb-hessian-explorer")
        self.refresh()

    @classmethod
    def from_function(cls, f: tcnb.Expr, wrt, *, mode: str | None = None, compress: bool = True, **kw):
        """The explorer of ``tcnb.hessian(f, wrt, mode, compress)``, knowing f and wrt (other keywords:
        as for the constructor)."""
        H = tcnb.hessian(f, wrt, mode=mode, compress=compress)
        return cls(H, f=f, wrt=wrt, **kw)

    # ------------------------------------------------------------------ set-up
    def _find_wrt(self, wrt):
        if wrt is not None:
            name = wrt if isinstance(wrt, str) else getattr(wrt, "name", None)
            if name not in self._var_shapes:
                raise tcnb.DerivativeError(f"'{name}' is not a variable of this Hessian",
                                           expected=f"one of {', '.join(self._var_shapes)}")
            return name
        m = re.match(r"^(?:Hessian|D\d+)_(\S+)\s", self.H.name or "")
        if m and m.group(1) in self._var_shapes:
            return m.group(1)
        cols = tuple(self.H.shape[self.split:])
        same = [n for n, s in self._var_shapes.items() if tuple(s) == cols]
        return same[0] if len(same) == 1 else None

    def _size_plan(self, sizes):
        dims: dict = {}
        for v in self._vars:
            for d in v.shape:
                for s in sorted(d.free_symbols, key=str):
                    dims.setdefault(s.name, None)
        for name, arr in self._user.items():            # sizes implied by the arrays
            shape = self._var_shapes[name]
            if len(shape) != arr.ndim:
                raise tcnb.BindingError(f"the array for {name} has {arr.ndim} axes, the variable {len(shape)}")
            for d, n in zip(shape, arr.shape):
                if d.is_Symbol and dims.get(d.name) is None:
                    dims[d.name] = int(n)
        fixed, derived = {}, {}
        for name in dims:
            given = sizes.get(name)
            if isinstance(given, str):
                derived[name] = sympy.sympify(given, locals={s: sympy.Symbol(s, integer=True, positive=True)
                                                             for s in dims})
            elif given is not None:
                fixed[name] = int(given)
            else:
                fixed[name] = dims[name] if dims[name] is not None else 10
        return fixed, derived, dict(fixed)

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
        line_title = ("f(w + s·d) − f(w) (blue), its model s·gᵀd + ½κs² (orange)"
                      if self._f_fn is not None else "the quadratic model ½κs² along d (orange)")
        self.plot_titles = [("histogram of the eigenvalues", "eigenvalue"),
                            ("sorted eigenvalues (red: λ < 0; green: κ = dᵀHd)", "index, ascending"),
                            (line_title, "s, along the unit direction d")]
        for ax in (hx, sx, lx):
            ax.xaxis.set_major_locator(MaxNLocator(5))
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
        """The matricised dense Hessian (rows = H's first ``split`` axes flattened)."""
        h = self._cache["hessian"][1]
        if h["dense"] is None:
            h["dense"] = matricise(h["structured"].dense(), self.split)
        return h["dense"]

    @property
    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues, ascending (with multiplicity)."""
        return self._cache["spectrum"][1]["eigenvalues"]

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
        """"core" (eigenvalues of the core blocks, repeated) or "dense" (of the whole matrix)."""
        return self._cache["spectrum"][1]["source"]

    @property
    def tolerance(self) -> float:
        """Eigenvalues within ±tolerance of 0 count as zero: N · eps · max|λ| (as numpy's matrix_rank)."""
        ev = self.eigenvalues
        return float(ev.size * _EPS * np.abs(ev).max()) if ev.size else 0.0

    @property
    def negative_count(self) -> int:
        """How many eigenvalues are below minus the tolerance (negative curvature directions)."""
        return int((self.eigenvalues < -self.tolerance).sum())

    @property
    def condition_number(self) -> float:
        """max|λ| / min|λ| (the 2-norm condition number of a symmetric matrix); inf when singular."""
        a = np.abs(self.eigenvalues)
        if a.size == 0:
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

    # ------------------------------------------------------------------ computing
    def _cached(self, name, key, compute):
        hit = self._cache.get(name)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = compute()
        self._cache[name] = (key, value)
        return value

    def _base(self, sizes, seed):
        rng = np.random.default_rng(seed)
        arrays = {}
        for v in self._vars:
            arrays[v.name] = rng.standard_normal(resolve_shape(v.shape, sizes))
        if self._data is not None:
            extra = self._data(dict(sizes), rng) or {}
            arrays.update({k: np.asarray(a, dtype=np.float64) for k, a in extra.items() if k in arrays})
        if sizes == self._initial_sizes():
            arrays.update(self._user)
        return arrays

    def _initial_sizes(self):
        out = dict(self._initial)
        for d, e in self._derived.items():
            out[d] = int(e.subs({sympy.Symbol(k, integer=True, positive=True): v for k, v in out.items()}))
        return out

    def _unit(self, v):
        v = np.asarray(v, dtype=np.float64)
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    def _point(self, base, move, t):
        if self.wrt is None or t == 0:
            return dict(base)
        w0 = base[self.wrt]
        if move == "−gradient" and self._g_fn is not None:
            d = -np.asarray(self._g_fn(**base))
        else:
            d = np.random.default_rng(self.seed + 7919).standard_normal(w0.shape)
        scale = np.linalg.norm(w0) or math.sqrt(w0.size) or 1.0
        out = dict(base)
        out[self.wrt] = w0 + t * scale * self._unit(d)
        return out

    def _hessian(self, arrays):
        shape = resolve_shape(self.H.shape, self.sizes)
        rows, cols = math.prod(shape[:self.split]), math.prod(shape[self.split:])
        if rows != cols:
            raise tcnb.ShapeError(f"the Hessian explorer needs a square matrix, but H is {rows} × {cols} "
                                  f"with its first {self.split} axes as rows")
        out = {"structured": None, "dense": None, "block": None}
        if self._structured_hint is None or self._structured_hint:
            S = self.H.structured(**arrays)
            self._structured_hint = is_compressed(S)
            if self._structured_hint:
                out["structured"] = S
                out["block"] = block_structure(S)
                if S.dense_nbytes <= 64 * 2**20 and (out["block"] is None or self._spectrum_mode == "dense"
                                                     or S.dense_nbytes <= 8 * 2**20):
                    out["dense"] = matricise(S.dense(), self.split)
                return out
        self._check_dense(rows)
        out["dense"] = matricise(self._H_fn(**arrays), self.split)
        return out

    def _check_dense(self, n):
        if n > self.max_dense:
            raise tcnb.MemoryBudgetError(f"the spectrum of this {n}×{n} matrix needs a dense eigen-decomposition, "
                                         f"over the explorer's limit of {self.max_dense} rows",
                                         expected="smaller sizes, or HessianExplorer(..., max_dense=...)")

    def _spectrum(self, h):
        block = h["block"]
        if block is not None and (self._spectrum_mode == "auto" or h["dense"] is None):
            vals, vecs = block.eigh()
            ev = np.sort(np.repeat(vals.ravel(), block.repeat))
            return {"eigenvalues": ev, "core_eigenvalues": np.sort(vals.ravel()), "repeat": block.repeat,
                    "source": "core", "vecs": vecs, "block_vals": vals}
        self._check_dense(math.prod(resolve_shape(self.H.shape[:self.split], self.sizes)))
        M = self.matrix
        sym = 0.5 * (M + M.T)
        asym = float(np.abs(M - M.T).max()) if M.size else 0.0
        return {"eigenvalues": np.linalg.eigvalsh(sym), "core_eigenvalues": None, "repeat": 1,
                "source": "dense", "asymmetry": asym, "sym": sym}

    def _extreme_vector(self, spec, which):
        if spec["source"] == "core":
            vals = spec["block_vals"]
            flat = int(np.argmin(vals) if which == "smallest" else np.argmax(vals))
            b, k = divmod(flat, vals.shape[1])
            return self._cache["hessian"][1]["block"].embed(b, spec["vecs"][b][:, k])
        if "vecs" not in spec:
            spec["vals"], spec["vecs"] = np.linalg.eigh(spec["sym"])
        k = 0 if which == "smallest" else -1
        return spec["vecs"][:, k].reshape(self._cols_shape())

    def _cols_shape(self):
        return resolve_shape(self.H.shape[self.split:], self.sizes)

    def _matvec(self, d):
        h = self._cache["hessian"][1]
        if h["dense"] is not None:
            return (h["dense"] @ d.ravel()).reshape(d.shape)
        return np.asarray(h["structured"] @ d)

    def _curvature(self, arrays, direction, coord):
        shape = self._cols_shape()
        size = math.prod(shape)
        if direction == "−gradient" and self._g_fn is not None:
            d = -np.asarray(self._g_fn(**arrays), dtype=np.float64).reshape(shape)
            if not np.any(d):
                d = np.ones(shape)
        elif direction == "random":
            d = np.random.default_rng(self.seed + 104729).standard_normal(shape)
        elif direction in ("smallest eigenvector", "largest eigenvector"):
            d = self._extreme_vector(self._cache["spectrum"][1], direction.split()[0])
        else:
            d = np.zeros(size)
            d[min(coord, size - 1)] = 1.0
            d = d.reshape(shape)
        d = self._unit(d)
        Hd = self._matvec(d)
        kappa = float(np.vdot(d, Hd))
        out = {"d": d, "kappa": kappa, "s": None, "phi": None, "model": None}
        if self._f_fn is not None and self.wrt is not None and tuple(arrays[self.wrt].shape) == tuple(shape):
            w = arrays[self.wrt]
            base_w = self._cache["base"][1][self.wrt]   # the s-range follows the base point: stable axes
            radius = float(0.5 * max(np.linalg.norm(base_w), 1.0))
            s = np.linspace(-radius, radius, 41)
            f0 = float(self._f_fn(**arrays))
            phi = np.array([float(self._f_fn(**{**arrays, self.wrt: w + si * d})) - f0 for si in s])
            slope = float(np.vdot(np.asarray(self._g_fn(**arrays)), d)) if self._g_fn is not None else 0.0
            out.update(s=s, phi=phi, model=slope * s + 0.5 * kappa * s * s, slope=slope)
        return out

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
        n = self.eigenvalues.size if "spectrum" in self._cache else 0
        text = (f"HessianExplorer: {self.error}" if self.error else
                f"HessianExplorer: {n}×{n} Hessian at {', '.join(f'{d}={v}' for d, v in self.sizes.items())}, "
                f"{self.negative_count} negative eigenvalues, condition number {_fmt(self.condition_number)}")
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
            t1 = time.perf_counter()
            n_cols = math.prod(self._cols_shape())
            with self.coordinate.hold_trait_notifications():
                self.coordinate.max = max(n_cols - 1, 0)
            key_curv = key_point + (self.direction.value, self.coordinate.value)
            self._cached("curvature", key_curv,
                         lambda: self._curvature(point, self.direction.value, self.coordinate.value))
            self.coordinate.disabled = self.direction.value != "coordinate axis"
            t2 = time.perf_counter()
            self.error = None
        except (tcnb.TcnbError, np.linalg.LinAlgError, MemoryError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.summary.value = (f"<div style='color:{ERROR}'><b>cannot show this point</b><br>"
                                  f"{html.escape(self.error)}</div>")
            return
        self.view.disabled = self.structured is None
        if self.structured is None and self.view.value == "core":
            self.view.value = "Hessian"
        self._draw()
        t3 = time.perf_counter()
        self._render()
        t4 = time.perf_counter()
        self.timings = {"compute": t2 - t0, "spectrum": t1 - t0, "draw": t3 - t2, "png": t4 - t3,
                        "total": t4 - t0, "cpu": time.thread_time() - c0}
        self._write_summary()

    # ------------------------------------------------------------------ drawing
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
        win = min(n, self.max_heatmap)
        if h["dense"] is not None:
            mat = h["dense"][:win, :win]
        else:                                   # compressed and large: columns from matvecs
            S = h["structured"]
            cols = []
            for j in range(win):
                e = np.zeros(n)
                e[j] = 1.0
                cols.append(np.asarray(S @ e.reshape(shape[r:])).reshape(-1)[:win])
            mat = np.stack(cols, axis=1)
        inner = math.prod(shape[1:r]) if r >= 2 else 1
        dims = " · ".join(str(s) for s in shape[:r])
        title = f"H as a ({dims})×({dims}) matrix" if r >= 2 else f"H ({n}×{n})"
        note = f"leading {win}×{win} of {n}×{n}" if win < n else ""
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

        ev = self.eigenvalues
        lo, hi = (float(ev.min()), float(ev.max())) if ev.size else (0.0, 1.0)
        if hi - lo < 1e-12 * max(1.0, abs(hi)):
            lo, hi = lo - 0.5 * max(abs(lo), 1.0), hi + 0.5 * max(abs(hi), 1.0)
        pad = 0.02 * (hi - lo)
        hx = self._ax["hist"]
        xlim = self._limits("hist.x", lo - pad, hi + pad)
        bins = int(min(60, max(10, math.sqrt(ev.size) * 2)))
        counts, edges = np.histogram(ev, bins=bins, range=xlim)
        self._hist.set_data(counts, edges)
        self._set_lims(hx, xlim, self._limits("hist.y", 0.0, max(1, counts.max()) * 1.08, floor=True))

        sx = self._ax["sorted"]
        idx = np.arange(ev.size)
        neg = ev < -self.tolerance
        self._neg_line.set_data(idx[neg], ev[neg])
        self._pos_line.set_data(idx[~neg], ev[~neg])
        self._curv_line.set_ydata([self.curvature, self.curvature])
        ylo, yhi = min(lo, self.curvature, 0.0), max(hi, self.curvature, 0.0)
        pad = 0.05 * (yhi - ylo or 1.0)
        self._set_lims(sx, (-0.5, max(ev.size - 0.5, 0.5)), self._limits("sorted.y", ylo - pad, yhi + pad))

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
        n = ev.size
        rows = [("Hessian shape", " × ".join(map(str, shape)) or "scalar"),
                ("as a matrix", f"{n} × {n}"),
                ("λ min / λ max", f"{_fmt(ev.min())} / {_fmt(ev.max())}" if n else "–"),
                ("negative eigenvalues", f"{self.negative_count} of {n}"),
                ("condition number", _fmt(self.condition_number)
                 + (" (numerically singular)" if n and np.abs(ev).min() <= self.tolerance else "")),
                ("curvature dᵀHd", f"{_fmt(self.curvature)} (d: {self.direction.value})"),
                ("spectrum from", "the core: " + str(self.core_eigenvalues.size) + " eigenvalues, each ×"
                 + str(self.multiplicity) if self.spectrum_source == "core" else f"the dense {n}×{n} matrix"),
                ("update time", f"{1000 * self.timings['total']:.0f} ms (numbers "
                                f"{1000 * self.timings['compute']:.0f} ms)")]
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

    # ------------------------------------------------------------------ events
    def _on_change(self, change=None):
        if not self._busy:               # changes made by refresh itself (clamped sliders) are part of it
            self.refresh()


_LUT = None


def heatmap_rgb(mat, vmax: float, block: int | None = None, size: int = 360, log: bool = False) -> np.ndarray:
    """An RGB image (uint8) of ``mat`` on a diverging scale (blue −vmax, white 0, red +vmax): small
    matrices are enlarged by an integer factor to about ``size`` pixels, block boundaries drawn grey.
    ``log``: a signed logarithmic scale over three decades (entries below vmax/1000 look white)."""
    global _LUT
    if _LUT is None:
        import matplotlib
        _LUT = (matplotlib.colormaps["RdBu_r"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    mat = np.asarray(mat, dtype=np.float64)
    scaled = np.zeros(mat.shape) if vmax <= 0 or not np.isfinite(vmax) else mat / vmax
    if log:
        scaled = np.sign(scaled) * np.log10(1.0 + 999.0 * np.abs(scaled)) / 3.0
    idx = np.clip(np.rint((np.nan_to_num(scaled) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    rgb = _LUT[idx]
    k = max(1, size // max(mat.shape))
    if k > 1:
        rgb = np.repeat(np.repeat(rgb, k, axis=0), k, axis=1)
    if block:
        grey = np.array([90, 90, 90], dtype=np.uint8)
        for c in range(block, mat.shape[0], block):
            rgb[c * k, :] = grey
        for c in range(block, mat.shape[1], block):
            rgb[:, c * k] = grey
    return rgb


def _img(png: bytes, alt: str) -> str:
    """An inline <img> of PNG bytes ("" when there is none yet)."""
    if not png:
        return ""
    data = base64.b64encode(bytes(png)).decode("ascii")
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}' style='display:block;max-width:100%'>"


def png_bytes(rgb) -> bytes:
    """An RGB array encoded as PNG (fast, light compression; needs Pillow)."""
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def _fmt(x) -> str:
    x = float(x)
    if not math.isfinite(x):
        return "∞" if x > 0 else str(x)
    return f"{x:.4g}"


def _bytes(n) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
