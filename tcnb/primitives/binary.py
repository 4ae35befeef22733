"""Element-wise functions of several tensors: SymPy formulas in ``t, t1, ...`` (ir.ARGS), one record each.

Like the unary ones (elementwise.py), a formula is its own derivative rule (``sympy.diff`` by each
argument) and its own code (SymPy's printers); the arguments are broadcast to one shape by the
parser, and a derivative by one of them is a unit tensor times the partial, entry by entry, so it
stays compressed. ``logaddexp`` is defined here so that its derivatives are the stable sigmoid
(SymPy's own ``1/(exp(b - a) + 1)`` overflows, and its second derivative gives inf/inf).
"""
from __future__ import annotations

import sympy

from .. import ir
from .elementwise import ElementwiseFunction, sigmoid

T, T1 = ir.ARGS[0], ir.ARGS[1]


class logaddexp(sympy.Function):
    """log(e^a + e^b), evaluated as NumPy's logaddexp: no overflow for large arguments."""
    nargs = 2

    def fdiff(self, argindex=1):
        """Derivative for SymPy: sigmoid(a - b) by a, sigmoid(b - a) by b."""
        a, b = self.args
        return sigmoid(a - b) if argindex == 1 else sigmoid(b - a)

    @classmethod
    def eval(cls, a, b):
        """SymPy's evaluation hook: a number for number arguments, else unevaluated."""
        if a.is_Number and b.is_Number:
            return sympy.log(sympy.exp(a) + sympy.exp(b))

    def _numpycode(self, printer):
        a, b = (printer._print(x) for x in self.args)
        return f"{printer.xp}.logaddexp({a}, {b})"

    def _latex(self, printer, exp=None):
        body = rf"\operatorname{{logaddexp}}\left({printer._print(self.args[0])}, {printer._print(self.args[1])}\right)"
        return body if exp is None else rf"{body}^{{{exp}}}"


BINARY_FUNCTIONS: dict[str, ElementwiseFunction] = {}


def register_binary(name, formula, reference, domain=(-2.0, 2.0), note="") -> ElementwiseFunction:
    """Add a built-in element-wise function of several tensors (once per name); ``reference`` is
    ``(xp, special, *arrays) -> array``, ``domain`` the interval the tests draw every argument from."""
    if name in BINARY_FUNCTIONS:
        raise ValueError(f"element-wise function {name!r} is already registered")
    rec = ElementwiseFunction(name, sympy.sympify(formula), reference, domain, note)
    BINARY_FUNCTIONS[name] = rec
    return rec


_B = register_binary
_B("logaddexp", logaddexp(T, T1), lambda xp, sp, a, b: xp.logaddexp(a, b), (-3.0, 3.0),
   "log(e^a + e^b) without overflow; its derivatives are sigmoid(a - b) and sigmoid(b - a) (½ each at a = b)")
_B("arctan2", sympy.atan2(T, T1), lambda xp, sp, y, x: xp.arctan2(y, x), (0.3, 2.0),
   "the angle of (x, y) in (-π, π], NumPy's argument order `arctan2(y, x)`; no derivative at (0, 0)")
del _B

