"""The numbers behind the Hessian explorer: the variable and size plan it starts from, the arrays of
the evaluation point, the Hessian there (compressed, dense, or past the dense limit an operator), its
spectrum (whole, or the top eigenvalues by Lanczos), its diagonal and trace, and the curvature along
a direction. A part of :class:`~tcnb.widgets.HessianExplorer`, which reads its controls' values.
"""
from __future__ import annotations

import math

import numpy as np
import sympy

import tcnb
from tcnb.dims import resolve_shape

from .hessian_matrix_free import Counted, bottom, top, why_not_dense
from .hessian_structure import block_structure, is_compressed, matricise


class HessianComputing:
    """The explorer's computing methods (a mixin of HessianExplorer): each result is cached under the
    control values it depends on, so a slider move recomputes only what it changes."""

    def _find_wrt(self, wrt):
        if wrt is not None:
            name = wrt if isinstance(wrt, str) else getattr(wrt, "name", None)
            if name not in self._var_shapes:
                raise tcnb.DerivativeError(f"'{name}' is not a variable of this Hessian",
                                           expected=f"one of {', '.join(self._var_shapes)}")
            return name
        name = getattr(self.H, "wrt", None)              # the derivative says which variable it is for
        if name in self._var_shapes:
            return name
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
        out = {"structured": None, "dense": None, "block": None, "operator": None, "why": None}
        why = "spectrum='lanczos'" if self._spectrum_mode == "lanczos" else why_not_dense(rows, self.max_dense)
        if why is not None and self._structured_hint is None:
            self._structured_hint = self._probe_structure()       # never H.structured at this size blind
        if self._structured_hint is None or self._structured_hint:
            try:
                S = self.H.structured(**arrays)
            except tcnb.MemoryBudgetError:
                if why is None:
                    raise
                S = None                          # its factors do not fit either: products of H itself
            if S is not None:
                self._structured_hint = is_compressed(S)
            if S is not None and self._structured_hint:
                out["structured"] = S
                out["block"] = block_structure(S)
                core_spectrum = out["block"] is not None and self._spectrum_mode == "auto"
                if why is not None and not core_spectrum:
                    out["operator"], out["why"] = S.as_linear_operator(), why
                elif why is None and S.dense_nbytes <= 64 * 2**20 and (not core_spectrum
                                                                       or S.dense_nbytes <= 8 * 2**20):
                    out["dense"] = matricise(S.dense(), self.split)
                return out
        if why is not None:
            out["operator"], out["why"] = self.H.as_linear_operator(**arrays), why
            return out
        out["dense"] = matricise(self._H_fn(**arrays), self.split)
        return out

    def _probe_structure(self) -> bool:
        """Whether H.structured() keeps a unit tensor, read at sizes of at most 3 (the pattern does not
        depend on the sizes), so that a first look at a large size does not evaluate it there."""
        fixed = {d: min(v, 3) for d, v in ((d, w.value) for d, w in self.size_sliders.items())}
        sizes = dict(fixed)
        for d, e in self._derived.items():
            sizes[d] = int(e.subs({sympy.Symbol(k, integer=True, positive=True): v for k, v in fixed.items()}))
        return is_compressed(self.H.structured(**self._base(sizes, self.seed)))

    def _spectrum(self, h):
        block = h["block"]
        if h["operator"] is not None:
            return self._lanczos(h)
        if block is not None and (self._spectrum_mode == "auto" or h["dense"] is None):
            vals, vecs = block.eigh()
            ev = np.sort(np.repeat(vals.ravel(), block.repeat))
            return {"eigenvalues": ev, "core_eigenvalues": np.sort(vals.ravel()), "repeat": block.repeat,
                    "source": "core", "vecs": vecs, "block_vals": vals, "n": ev.size}
        M = self.matrix
        sym = 0.5 * (M + M.T)
        asym = float(np.abs(M - M.T).max()) if M.size else 0.0
        ev = np.linalg.eigvalsh(sym)
        return {"eigenvalues": ev, "core_eigenvalues": None, "repeat": 1,
                "source": "dense", "asymmetry": asym, "sym": sym, "n": ev.size}

    def _lanczos(self, h):
        """The top eigenvalues by Lanczos on the operator (symmetrised unless H is a Hessian)."""
        op = Counted(h["operator"], symmetrise=getattr(self.H, "kind", None) != "hessian")
        vals, vecs = top(op, self.top_k)
        return {"eigenvalues": np.sort(vals), "top": vals, "top_vecs": vecs, "core_eigenvalues": None,
                "repeat": 1, "source": "lanczos", "n": op.shape[0], "op": op, "products": op.products}

    def _parts(self, arrays, h):
        """The diagonal (flat, as the matrix's) and the trace: from H.diagonal() and H.trace() where H
        has them (a derivative), else read off the dense matrix when there is one."""
        diag = trace = None
        if self._diag_fn is not None:
            diag = np.asarray(self._diag_fn(**arrays), dtype=np.float64).reshape(-1)
        elif h["dense"] is not None:
            diag = np.diagonal(h["dense"]).copy()
        if self._trace_fn is not None:
            trace = float(self._trace_fn(**arrays))
        elif diag is not None:
            trace = float(diag.sum())
        return {"diagonal": diag, "trace": trace}

    def _extreme_vector(self, spec, which):
        if spec["source"] == "lanczos":
            if which == "largest":
                vec = spec["top_vecs"][:, 0]
            else:
                if "bottom" not in spec:
                    spec["bottom"] = bottom(spec["op"])
                vec = spec["bottom"][1]
            return vec.reshape(self._cols_shape())
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
        if h["operator"] is not None:                  # matrix-free: a Hessian-vector product
            return np.asarray(h["operator"].matvec(d.ravel())).reshape(d.shape)
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
