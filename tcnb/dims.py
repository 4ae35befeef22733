"""Dimension symbols: the sizes of axes, kept symbolic (``n``, ``2*n``, ``m + n - 1``) until arrays are bound.

SymPy does the arithmetic so that ``R[m + n - 1]`` and the shapes inferred for index maps compare
structurally; binding resolves every symbol to an int once per call.
"""
from __future__ import annotations

from functools import lru_cache

import sympy

from .errors import BindingError

Dim = sympy.Expr


@lru_cache(maxsize=None)
def symbol(name: str) -> sympy.Symbol:
    """The SymPy symbol of a dimension name: an integer, positive, one object per name (cached)."""
    return sympy.Symbol(name, integer=True, positive=True)


def as_dim(value) -> Dim:
    """A dimension from an int, a symbol name, or a SymPy expression."""
    if isinstance(value, sympy.Expr):
        return value
    if isinstance(value, bool):
        raise TypeError("a dimension cannot be a bool")
    if isinstance(value, int):
        return sympy.Integer(value)
    if isinstance(value, str):
        if value.isidentifier():
            return symbol(value)
        return sympy.sympify(value, locals={s: symbol(s) for s in _names_in(value)})
    raise TypeError(f"not a dimension: {value!r}")


def _names_in(text: str) -> list[str]:
    import re
    return re.findall(r"[A-Za-z_]\w*", text)


def dim_str(d: Dim) -> str:
    """A dimension as text."""
    return str(d)


def shape_str(shape) -> str:
    """A shape as text, ``(n, m)``."""
    return "(" + ", ".join(dim_str(d) for d in shape) + ")"


def free_symbols(shape) -> set[str]:
    """Names of the dimension symbols a shape uses."""
    out: set[str] = set()
    for d in shape:
        out |= {s.name for s in d.free_symbols}
    return out


def resolve(d: Dim, sizes: dict[str, int]) -> int:
    """The integer size of a dimension under bound sizes (raises BindingError naming what is missing)."""
    if d.is_Integer:
        return int(d)
    if d.is_Symbol:
        try:
            return sizes[d.name]
        except KeyError:
            raise BindingError(f"dimension '{d}' is not bound: pass an array that has it, "
                               f"or its size as {d}=...") from None
    missing = [s.name for s in d.free_symbols if s.name not in sizes]
    if missing:
        raise BindingError(f"dimension '{d}' needs sizes for {', '.join(sorted(missing))}")
    return int(d.subs({symbol(k): v for k, v in sizes.items() if symbol(k) in d.free_symbols}))


def resolve_shape(shape, sizes: dict[str, int]) -> tuple[int, ...]:
    """Integer sizes of a shape; an axis of no (or negative) length is an error, not something for
    NumPy to refuse (negative) or to sum silently (zero). Offsets, which may be 0, use resolve."""
    out = tuple(resolve(d, sizes) for d in shape)
    for d, val in zip(shape, out):
        if val < 1:
            at = ", ".join(f"{s.name} = {sizes[s.name]}" for s in sorted(d.free_symbols, key=lambda s: s.name))
            raise BindingError(f"dimension '{d}' is {val}" + (f" at {at}" if at else ""),
                               expected=f"sizes that make {d} at least 1")
    return out
