"""A compiled function of named arrays: binding checks, per-size code cache, execution.

Binding resolves every dimension symbol from the arrays passed (and checks that equal symbols got
equal sizes), so generated code is specialised to concrete sizes: contraction paths are planned
once per size binding and cached, like opt_einsum's ``contract_expression``.
"""
from __future__ import annotations

import numbers

from .. import ir
from ..dims import as_dim, shape_str
from ..errors import BindingError
from . import runtime
from .codegen import generate
from .namespace import get_namespace


class Compiled:
    """``fn(**arrays) -> value`` (or a tuple for several roots) on one backend."""

    def __init__(self, roots, backend: str = "numpy", known_names=(), names=None, single=True):
        self.roots = tuple(roots)
        self.backend = backend
        self.xp = get_namespace(backend)
        self.vars = sorted({v.name: v for r in self.roots for v in ir.variables(r)}.values(),
                           key=lambda v: v.name)
        # variables of the program that this expression does not use: their arrays still fix sizes
        self.extra = [v for v in known_names if isinstance(v, ir.Var) and v.name not in
                      {u.name for u in self.vars}]
        self.known = {getattr(v, "name", v) for v in known_names} | {v.name for v in self.vars}
        self.names = names or {}
        self.single = single
        self._cache: dict = {}
        self._names = tuple(v.name for v in self.vars)
        self._needed = {s.name for n in ir.topological(list(self.roots)) for d in n.shape
                        for s in d.free_symbols}
        self._fast: dict = {}  # (shape, dtype) of each array -> (generated, dtype): skips re-checking
        self._bind_cache: dict = {}
        self._array_type = type(self.xp.zeros(0))

    def bind(self, arrays: dict):
        """Arrays on the backend and the sizes of every dimension symbol (memoised per shapes)."""
        try:
            key = tuple((k, type(a), a.shape, a.dtype) if hasattr(a, "shape") else (k, a)
                        for k, a in sorted(arrays.items()))
            hit = self._bind_cache.get(key)
        except TypeError:
            key, hit = None, None
        if hit is not None:
            return {n: arrays[n] for n in hit[2]}, hit[0], hit[1]
        bound, sizes, dtype = self._bind(arrays)
        if key is not None and all(bound[n] is arrays[n] for n in bound):
            if len(self._bind_cache) > 64:
                self._bind_cache.clear()
            self._bind_cache[key] = (sizes, dtype, tuple(bound))
        return bound, sizes, dtype

    def _bind(self, arrays: dict):
        xp = self.xp
        unknown = sorted(set(arrays) - self.known)
        sizes: dict[str, int] = {}
        dim_names = self._needed | {s.name for v in self.vars + self.extra for d in v.shape
                                    for s in d.free_symbols}
        for name in unknown:  # sizes may be passed directly: n=100
            if isinstance(arrays[name], numbers.Integral) and name in dim_names:
                sizes[name] = int(arrays[name])
        unknown = [u for u in unknown if u not in sizes]
        if unknown:
            raise BindingError(f"unknown name{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                               expected=f"arrays for {', '.join(v.name for v in self.vars) or 'no variables'}"
                                        + (f", or sizes for {', '.join(sorted(dim_names))}" if dim_names else ""))
        bound, origin, float32 = {}, {}, True
        for v in self.vars + [u for u in self.extra if u.name in arrays]:
            if v.name not in arrays:
                raise BindingError(f"no array for variable '{v.name}' of shape {shape_str(v.shape)}",
                                   expected=f"{v.name}=<array of shape {shape_str(v.shape)}>")
            a = arrays[v.name]
            if type(a).__module__.startswith("cupy") and xp.__name__ == "numpy":
                a = a.get()
            try:
                a = xp.asarray(a)
            except (ValueError, TypeError) as exc:
                raise BindingError(f"variable '{v.name}' is not a rectangular array of numbers: {exc}",
                                   expected=f"an array of shape {shape_str(v.shape)}") from None
            if a.dtype.kind in "biu":
                a = a.astype(xp.float64)
            elif a.dtype.kind not in "f":
                raise BindingError(f"variable '{v.name}' has dtype {a.dtype}", expected="real numbers")
            if a.dtype != xp.float32:
                float32 = False
            if a.ndim != len(v.shape):
                raise BindingError(f"variable '{v.name}' has {a.ndim} axes (shape {tuple(a.shape)})",
                                   expected=f"{len(v.shape)} axes, shape {shape_str(v.shape)}")
            for axis, d in enumerate(v.shape):
                if d.is_Symbol:
                    size = int(a.shape[axis])
                    if d.name in sizes and sizes[d.name] != size:
                        where = origin.get(d.name, "the sizes passed")
                        raise BindingError(
                            f"axis {axis} of '{v.name}' has size {size}, but {d} = {sizes[d.name]} from {where}",
                            expected=f"equal sizes for the dimension symbol {d}")
                    sizes[d.name] = size
                    origin.setdefault(d.name, f"axis {axis} of '{v.name}'")
            bound[v.name] = a
        _solve_compound(self.vars + self.extra, bound, sizes, origin)
        for v in [u for u in self.vars + self.extra if u.name in bound]:  # compound dimensions (n + 1, 2*n) are checked once symbols are known
            for axis, d in enumerate(v.shape):
                if not d.is_Symbol:
                    from ..dims import resolve
                    want = resolve(d, sizes)
                    if want != bound[v.name].shape[axis]:
                        raise BindingError(f"axis {axis} of '{v.name}' has size {bound[v.name].shape[axis]}",
                                           expected=f"{d} = {want}")
        missing = sorted(self.sizes_needed() - set(sizes))
        if missing:
            raise BindingError(f"the size of {', '.join(missing)} is not known from the arrays passed",
                               expected=f"pass it as {missing[0]}=<int>")
        dtype = xp.float32 if (float32 and bound) else xp.float64
        for name in bound:
            if bound[name].dtype != dtype:
                bound[name] = bound[name].astype(dtype)
        return bound, sizes, dtype

    def sizes_needed(self) -> set:
        """Names of the dimension symbols the roots' shapes (and their subexpressions') use."""
        return self._needed

    def generated(self, sizes: dict, dtype):
        key = (tuple(sorted(sizes.items())), str(dtype))
        gen = self._cache.get(key)
        if gen is None:
            itemsize = 4 if "float32" in str(dtype) else 8
            gen = generate(self.roots, self.vars, sizes, itemsize=itemsize, names=self.names)
            namespace: dict = {}
            exec(compile(gen.source, f"<tcnb generated {self.backend}>", "exec"), namespace)
            gen.fn = namespace["tcnb_fn"]
            self._cache[key] = gen
        return gen

    def __call__(self, **arrays):
        # fast path: the same shapes and dtypes as a previous call need no checks at all
        try:
            vals = [arrays[n] for n in self._names]
            hit = self._fast.get(tuple([(type(a), a.shape, a.dtype.char) for a in vals])) \
                if len(vals) == len(arrays) else None
        except (KeyError, AttributeError, TypeError):
            hit = None
        if hit is not None:
            gen, dtype, xp = hit
            out = gen.fn(xp, runtime, dtype, *vals)
            if self.single:
                o = out[0]
                return o if type(o) is self._array_type and o.dtype == dtype else xp.asarray(o, dtype=dtype)
            return tuple(xp.asarray(o, dtype=dtype) for o in out)
        bound, sizes, dtype = self.bind(arrays)
        gen = self.generated(sizes, dtype)
        if len(arrays) == len(self._names) and all(arrays[n] is bound[n] for n in self._names):
            key = tuple([(type(a), a.shape, a.dtype.char) for a in (bound[n] for n in self._names)])
            self._fast[key] = (gen, dtype, self.xp)
        out = gen.fn(self.xp, runtime, dtype, *[bound[n] for n in gen.arg_names])
        out = tuple(self.xp.asarray(o, dtype=dtype) for o in out)
        return out[0] if self.single else out

    def source(self, sizes: dict | None = None, dtype=None) -> str:
        sizes = dict(sizes or {})
        for s in self.sizes_needed():
            sizes.setdefault(s, 100)  # planning sizes for display only
        return generate(self.roots, self.vars, sizes, check_budget=False).source


def _solve_compound(variables, bound, sizes, origin):
    """Sizes of symbols that only occur in compound dimensions (x: R[m + n - 1] with n known)."""
    import sympy
    progress = True
    while progress:
        progress = False
        for v in variables:
            if v.name not in bound:
                continue
            for axis, d in enumerate(v.shape):
                unknown = [s for s in d.free_symbols if s.name not in sizes]
                if d.is_Symbol or len(unknown) != 1:
                    continue
                sol = sympy.solve(sympy.Eq(d.subs({s: sizes[s.name] for s in d.free_symbols if s.name in sizes}),
                                           int(bound[v.name].shape[axis])), unknown[0])
                if len(sol) == 1 and sol[0].is_Integer and int(sol[0]) > 0:
                    sizes[unknown[0].name] = int(sol[0])
                    origin.setdefault(unknown[0].name, f"axis {axis} of '{v.name}'")
                    progress = True


_COMPILED: dict = {}


def compiled(roots, backend="numpy", known_names=(), names=None, single=True) -> Compiled:
    # the program's variables by node (name and shape): a1: R[m, 1] and a1: R[1, n] fix sizes differently
    key = (tuple(r.id for r in roots), backend,
           tuple(sorted((getattr(v, "name", v), getattr(v, "id", -1)) for v in known_names)), single)
    c = _COMPILED.get(key)
    if c is None:
        if len(_COMPILED) > 512:
            _COMPILED.clear()
        c = _COMPILED[key] = Compiled(roots, backend, known_names, names, single)
    return c
