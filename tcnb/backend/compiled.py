"""A compiled function of named arrays: binding checks, per-size code cache, execution.

Binding resolves every dimension symbol from the arrays passed (and checks that equal symbols got
equal sizes), so generated code is specialised to concrete sizes: contraction paths are planned
once per size binding and cached, like opt_einsum's ``contract_expression``.
"""
from __future__ import annotations

import functools
import numbers

import numpy

from .. import ir
from ..dims import resolve, shape_str
from ..errors import BindingError
from .bounded import Bounded
from .codegen import generate, load, shape_symbols
from .namespace import backend_of, get_backend
from .solves import inverses_as_solves


class Compiled:
    """``fn(**arrays) -> value`` (or a tuple for several roots) on one backend."""

    def __init__(self, roots, backend: str = "numpy", known_names=(), names=None, single=True):
        self.roots = tuple(roots)
        # what the code computes: the same values, with inverses that are only applied as solves
        self.code_roots = tuple(inverses_as_solves(self.roots))
        self.backend = backend
        self.record = get_backend(backend)
        self.xp = self.record.namespace()
        self.runtime = self.record.runtime()  # the _rt of generated code, with this backend's primitives
        self.vars = sorted({v.name: v for r in self.roots for v in ir.variables(r)}.values(),
                           key=lambda v: v.name)
        # variables of the program that this expression does not use: their arrays still fix sizes
        self.extra = [v for v in known_names if isinstance(v, ir.Var) and v.name not in
                      {u.name for u in self.vars}]
        self.known = {getattr(v, "name", v) for v in known_names} | {v.name for v in self.vars}
        self.names = names or {}
        self.single = single
        self._cache = Bounded(16)  # (sizes, dtype) -> generated code
        self._names = tuple(v.name for v in self.vars)
        self._needed = {s.name for n in ir.topological(list(self.roots)) for d in n.shape
                        for s in d.free_symbols}
        self._fast = Bounded(16)  # (name, type, shape, dtype) of each array -> (generated, dtype, xp, dtype there)
        self._dim_names = self._needed | {s.name for v in self.vars + self.extra for d in v.shape
                                          for s in d.free_symbols}
        self._bind_cache = Bounded(64)
        self._array_type = type(self.xp.zeros(0))

    def bind(self, arrays: dict):
        """Arrays on the backend and the sizes of every dimension symbol (memoised per shapes)."""
        key = binding_key(arrays)
        hit = self._bind_cache.get(key) if key is not None else None
        if hit is not None:
            return {n: arrays[n] for n in hit[2]}, hit[0], hit[1]
        bound, sizes, dtype = self._bind(arrays)
        if key is not None and all(bound[n] is arrays[n] for n in bound):
            self._bind_cache.put(key, (sizes, dtype, tuple(bound)))
        return bound, sizes, dtype

    def _bind(self, arrays: dict):
        xp = self.xp
        unknown = sorted(set(arrays) - self.known)
        sizes: dict[str, int] = {}
        dim_names = self._dim_names
        for name in unknown:  # sizes may be passed directly: n=100
            if name in dim_names:
                sizes[name] = _size(name, arrays[name])
        unknown = [u for u in unknown if u not in sizes]
        if unknown:
            raise BindingError(f"unknown name{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}",
                               expected=f"arrays for {', '.join(v.name for v in self.vars) or 'no variables'}"
                                        + (f", or sizes for {', '.join(sorted(dim_names))}" if dim_names else ""))
        record = self.record
        bound, origin, float32 = {}, {}, True
        for v in self.vars + [u for u in self.extra if u.name in arrays]:
            if v.name not in arrays:
                raise BindingError(f"no array for variable '{v.name}' of shape {shape_str(v.shape)}",
                                   expected=f"{v.name}=<array of shape {shape_str(v.shape)}>")
            a = arrays[v.name]
            owner = backend_of(a)
            if owner is not None and owner is not self.record and not owner.host:
                a = owner.to_host(a)  # another library's device array comes through the host
            try:
                a = xp.asarray(a)
            except (ValueError, TypeError) as exc:
                raise BindingError(f"variable '{v.name}' is not a rectangular array of numbers: {exc}",
                                   expected=f"an array of shape {shape_str(v.shape)}") from None
            kind = record.dtype_of(a).kind
            if kind in "biu":
                a = record.astype(xp, a, _FLOAT64)
            elif kind not in "f":
                raise BindingError(f"variable '{v.name}' has dtype {a.dtype}", expected="real numbers")
            if record.dtype_of(a) != _FLOAT32:
                float32 = False
            if a.ndim != len(v.shape):
                raise BindingError(f"variable '{v.name}' has {a.ndim} axes (shape {tuple(a.shape)})",
                                   expected=f"{len(v.shape)} axes, shape {shape_str(v.shape)}")
            for axis, d in enumerate(v.shape):
                if d.is_Symbol:
                    size = int(a.shape[axis])
                    if size < 1:
                        raise BindingError(f"axis {axis} of '{v.name}' has size {size}",
                                           expected=f"a positive size for the dimension symbol {d}")
                    if d.name in sizes and sizes[d.name] != size:
                        where = origin.get(d.name, "the sizes passed")
                        raise BindingError(
                            f"axis {axis} of '{v.name}' has size {size}, but {d} = {sizes[d.name]} from {where}",
                            expected=f"equal sizes for the dimension symbol {d}")
                    sizes[d.name] = size
                    origin.setdefault(d.name, f"axis {axis} of '{v.name}'")
            bound[v.name] = a
        _solve_compound(self.vars + self.extra, bound, sizes, origin)
        # compound dimensions (n + 1, 2*n) are checked once their symbols are known; those still
        # unknown are reported below if the expression needs them (an unused array's need not be)
        for v in [u for u in self.vars + self.extra if u.name in bound]:
            for axis, d in enumerate(v.shape):
                if not d.is_Symbol and all(s.name in sizes for s in d.free_symbols):
                    want = resolve(d, sizes)
                    if want != bound[v.name].shape[axis]:
                        raise BindingError(f"axis {axis} of '{v.name}' has size {bound[v.name].shape[axis]}",
                                           expected=f"{d} = {want}")
        missing = sorted(self.sizes_needed() - set(sizes))
        if missing:
            raise BindingError(f"the size of {', '.join(missing)} is not known from the arrays passed",
                               expected=f"pass it as {missing[0]}=<int>")
        dtype = _FLOAT32 if (float32 and bound) or not record.float64() else _FLOAT64
        for name in bound:
            if record.dtype_of(bound[name]) != dtype:
                bound[name] = record.astype(xp, bound[name], dtype)
        return bound, sizes, dtype

    def sizes_needed(self) -> set:
        """Names of the dimension symbols the roots' shapes (and their subexpressions') use."""
        return self._needed

    def generated(self, sizes: dict, dtype):
        """The generated function for these sizes and dtype, loaded on the backend, cached per (sizes, dtype)."""
        key = (tuple(sorted(sizes.items())), str(dtype))
        gen = self._cache.get(key)
        if gen is None:
            itemsize = 4 if "float32" in str(dtype) else 8
            gen = generate(self.code_roots, self.vars, sizes, itemsize=itemsize, names=self.names,
                           traceable=self.record.traceable, check_budget=not self.record.chunked,
                           symmetric=self.record.symmetric)
            gen.fn = load(gen, self.backend)
            gen.call = functools.partial(gen.fn, self.xp, self.runtime, dtype)  # a function of the arrays
            if self.record.jit is not None:
                gen.call = self.record.jit(gen.call)
            self._cache.put(key, gen)
        return gen

    def __call__(self, /, **arrays):
        # fast path: the same names, types, shapes and dtypes as a previous call whose arrays needed
        # no conversion: no checks at all (arrays the code does not read, which only fix sizes, too)
        try:
            dims = self._dim_names  # a size (n=5, or a NumPy integer) is keyed by its value
            key = tuple([(k, a) if k in dims else (k, type(a), tuple(a.shape), a.dtype)
                         for k, a in arrays.items()])
            hit = self._fast.get(key)
        except (AttributeError, TypeError):  # a size passed as an int, an unhashable dtype
            hit = key = None
        if hit is not None:
            gen, dtype, xp, native = hit
            out = gen.call(*[arrays[n] for n in gen.arg_names])
            if self.single:
                o = out[0]
                return o if type(o) is self._array_type and o.dtype == native else xp.asarray(o, dtype=dtype)
            return tuple(xp.asarray(o, dtype=dtype) for o in out)
        bound, sizes, dtype = self.bind(arrays)
        gen = self.generated(sizes, dtype)
        if key is not None and all(arrays.get(n) is bound[n] for n in gen.arg_names):
            native = self.xp.zeros(0, dtype=dtype).dtype  # the dtype as the backend's arrays spell it
            self._fast.put(key, (gen, dtype, self.xp, native))
        out = gen.call(*[bound[n] for n in gen.arg_names])
        out = tuple(self.xp.asarray(o, dtype=dtype) for o in out)
        return out[0] if self.single else out

    def source(self, sizes: dict | None = None, dtype=None) -> str:
        """The generated source, planned for ``sizes`` (100 for the others), without the memory-budget check."""
        return generate(self.code_roots, self.vars, self._planning(sizes), check_budget=False,
                        traceable=self.record.traceable, symmetric=self.record.symmetric).source

    def standalone_source(self, sizes: dict | None = None, name: str = "tcnb_fn", doc: str = "") -> str:
        """A self-contained module computing the (single) root from its arrays at any sizes, with
        the contraction order planned for ``sizes`` (see standalone.py); ``doc`` heads its docstring."""
        from .standalone import module_source
        return module_source(self.code_roots, self.vars, self._planning(sizes), name, doc)

    def _planning(self, sizes) -> dict:
        """The sizes given, and 100 for every other dimension symbol (display and planning only)."""
        sizes = dict(sizes or {})
        for s in self.sizes_needed() | set(shape_symbols(self.roots, self.vars)):
            sizes.setdefault(s, 100)
        return sizes


_FLOAT32, _FLOAT64 = numpy.dtype("float32"), numpy.dtype("float64")


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
                # solved for an unconstrained stand-in: the symbol itself is positive, so SymPy
                # would silently find no solution where the array implies a size below 1
                free = sympy.Symbol("free")
                known = {s: sizes[s.name] for s in d.free_symbols if s.name in sizes}
                sol = sympy.solve(sympy.Eq(d.subs(known).subs(unknown[0], free),
                                           int(bound[v.name].shape[axis])), free)
                if len(sol) == 1 and sol[0].is_Integer and int(sol[0]) < 1:
                    raise BindingError(
                        f"axis {axis} of '{v.name}' has size {int(bound[v.name].shape[axis])}, which makes "
                        f"{unknown[0]} = {int(sol[0])}", expected=f"a positive size for the dimension symbol {unknown[0]}")
                if len(sol) == 1 and sol[0].is_Integer:
                    sizes[unknown[0].name] = int(sol[0])
                    origin.setdefault(unknown[0].name, f"axis {axis} of '{v.name}'")
                    progress = True


def _size(name: str, value) -> int:
    """A size passed by keyword (n=100): a positive integer, or an error naming the symbol."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1:
        return int(value)
    raise BindingError(f"the size {name} = {value!r} is not a positive integer",
                       expected=f"{name}=<int, at least 1>")


def binding_key(arrays: dict):
    """What of the arguments decides a binding: each array's type, shape and dtype, and each size's
    value (a NumPy integer has a shape too, but its value is what counts). None when unhashable."""
    try:
        key = tuple((k, type(a), a) if isinstance(a, numbers.Number) else (k, type(a), a.shape, a.dtype)
                    for k, a in sorted(arrays.items()))
        hash(key)
    except (TypeError, AttributeError):
        return None
    return key


_COMPILED = Bounded(256)


def compiled(roots, backend="numpy", known_names=(), names=None, single=True) -> Compiled:
    """One Compiled per distinct (roots, backend, known variables, display names): keyed by the
    nodes themselves (ids are never reused), not by names — a second program declaring the same
    names with other shapes has other Var nodes, and so other code."""
    key = (tuple(r.id for r in roots), backend,
           frozenset(v.id if isinstance(v, ir.Node) else ("name", v) for v in known_names),
           tuple(sorted((names or {}).items())), single)
    c = _COMPILED.get_fresh(key)
    if c is None:
        c = _COMPILED.put(key, Compiled(roots, backend, known_names, names, single))
    return c
