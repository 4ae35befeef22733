"""How generated code writes sizes: integers at the planning sizes, or expressions of variables
holding the sizes (standalone modules, correct at any sizes)."""
from __future__ import annotations

import sympy

from ..dims import resolve


def tuple_code(items) -> str:
    """A tuple display of code strings, written as Python writes a tuple of ints: (3,), (2, 3)."""
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def dim_code(d, local: dict) -> str:
    """Python code of a dimension (``m + n - 1``) in the local variables holding the sizes."""
    d = sympy.sympify(d)
    if d.is_Integer:
        return str(int(d))
    if d.is_Symbol:
        return local[d.name]
    renamed = d.xreplace({s: sympy.Symbol(local[s.name]) for s in d.free_symbols})
    if d.is_polynomial() and all(c.is_Integer for c in sympy.Poly(d).coeffs()):
        return str(renamed)
    return f"int({sympy.pycode(renamed, fully_qualified_modules=True)})"  # (math is imported)


class Spell:
    """How generated code writes a size: its integer at the planning sizes, or (``local`` given:
    standalone code, correct at any sizes) an expression of the variables holding the sizes.
    Either way the contraction order is the one planned for ``sizes``."""

    def __init__(self, sizes: dict, local: dict | None = None):
        self.sizes = sizes
        self.local = local

    @property
    def symbolic(self) -> bool:
        """True when sizes are written as expressions (standalone code), not integers."""
        return self.local is not None

    def dim(self, d) -> str:
        """Code for one dimension: its integer, or its expression in the size variables."""
        return str(int(resolve(d, self.sizes))) if self.local is None else dim_code(d, self.local)

    def shape(self, dims) -> str:
        """Code for a shape tuple, each dimension spelled by dim()."""
        return tuple_code(self.dim(d) for d in dims)
