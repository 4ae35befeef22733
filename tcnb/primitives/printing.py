"""Element-wise formulas as array code and LaTeX, by SymPy's own printers.

Array code is SymPy's SciPy printer with the module spelled as the generated code's namespace
(``xp.exp``, and ``_rt.special(xp).erf`` for scipy.special functions, which CuPy has under
cupyx) and a few forms tcnb prefers (``xp.square``, ``1.0 / u``). Functions defined by tcnb print
themselves (``_numpycode``/``_latex`` in elementwise.py). A function no printer knows is an error
here, which define_elementwise reports when the function is defined.
"""
from __future__ import annotations

import functools
import itertools

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.numpy import SciPyPrinter
from sympy.printing.precedence import PRECEDENCE

from .. import ir
from ..errors import TensorSyntaxError

T = ir.T


class ArrayPrinter(SciPyPrinter):
    """SymPy's SciPy code printer writing ``xp.`` for NumPy and ``_rt.special(xp).`` for SciPy's
    special functions; ``names`` maps symbols (t, common subexpressions) to code."""

    def __init__(self, xp: str, names: dict):
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self.xp = xp
        self.names = names

    def _module_format(self, fqn, register=True):
        for prefix, spelled in (("numpy.", f"{self.xp}."), ("scipy.special.", f"_rt.special({self.xp}).")):
            if fqn.startswith(prefix):
                return spelled + fqn[len(prefix):]
        raise TensorSyntaxError(f"no array code for {fqn} (only NumPy and scipy.special functions)")

    def _print_Symbol(self, e):
        if e in self.names:
            return self.names[e]
        raise TensorSyntaxError(f"no array code for the symbol {e} (a formula is in t only)")

    def _print_Float(self, e):
        return _num(e)

    def _print_NumberSymbol(self, e):  # π, e, γ as numbers (SymPy would write scipy.constants.pi)
        return _num(e)

    _print_Pi = _print_Exp1 = _print_EulerGamma = _print_GoldenRatio = _print_Catalan = _print_NumberSymbol

    def _print_Pow(self, e, rational=False):
        b, x = e.args
        if e.is_number and not b.is_Rational and e.is_positive:  # sqrt(pi), 2**(1/2): a constant
            return _num(e)
        if x == 2:
            return f"{self.xp}.square({self._print(b)})"
        if x == -1:
            return f"(1.0 / {self.parenthesize(b, PRECEDENCE['Mul'], strict=True)})"
        if x == sympy.Rational(1, 2):
            return f"{self.xp}.sqrt({self._print(b)})"
        if x == -sympy.Rational(1, 2):
            return f"(1.0 / {self.xp}.sqrt({self._print(b)}))"
        if b == sympy.E:
            return f"{self.xp}.exp({self._print(x)})"
        return super()._print_Pow(e, rational=rational)  # SymPy parenthesises base and exponent

    def _print_Abs(self, e):
        return f"{self.xp}.abs({self._print(e.args[0])})"

    def _print_Function(self, e):  # an undefined function (sympy.Function("f")): no code exists
        raise TensorSyntaxError(f"no array code for the scalar function {type(e).__name__}")

    def _print_Derivative(self, e):  # SymPy left it unevaluated (besselj's order, an undefined f)
        raise TensorSyntaxError(f"no array code for the scalar function derivative of {e.expr}")

    def _print_Subs(self, e):
        raise TensorSyntaxError(f"no array code for the scalar function derivative of {e.expr}")

    def _print_Integral(self, e):
        raise TensorSyntaxError(f"no array code for the scalar function integral of {e.function}")


def _num(x) -> str:
    f = float(x)
    return repr(int(f)) + ".0" if f.is_integer() and abs(f) < 1e15 else repr(f)


@functools.lru_cache(maxsize=1024)
def _cse(fn: sympy.Expr):
    """sympy.cse of a formula, once per formula (a deep network has thousands of nodes, few formulas)."""
    subs, (main,) = sympy.cse(fn, symbols=sympy.numbered_symbols("_cse_tmp"))
    return tuple(subs), main


def elementwise_code(fn: sympy.Expr, arg, module: str = "np", temp="_e") -> tuple[list, str]:
    """Python source computing fn(arg) entry by entry: (temporary assignments, final expression).
    ``arg`` is the code of the argument, or a list of the codes of the arguments t, t1, t2, ...

    Repeated subexpressions (sigmoid inside its own derivative, say) become temporaries via
    ``sympy.cse`` so each is computed once. ``temp`` is a prefix, or an iterator of fresh names
    (the code generator's allocator, so temporaries never collide with the user's names).
    """
    subs, main = _cse(fn)
    names = {T: arg} if isinstance(arg, str) else {ir.arg_symbol(k): a for k, a in enumerate(arg)}
    printer = ArrayPrinter(module, names)
    fresh = (f"{temp}{k}" for k in itertools.count()) if isinstance(temp, str) else iter(temp)
    lines = []
    try:
        for sym, expr in subs:
            code = printer.doprint(expr)
            name = next(fresh)
            lines.append((name, code))
            names[sym] = name
        return lines, printer.doprint(main)
    except sympy.printing.codeprinter.PrintMethodNotImplementedError as exc:
        raise TensorSyntaxError(f"no array code for the scalar function {str(exc).split(': ')[-1].split()[0]}") from None


def print_formula(printer, fn: sympy.Expr, mark) -> str:
    """``printer.doprint(fn)`` with the argument symbol t printed as ``mark`` (or, ``mark`` a list,
    the arguments t, t1, t2, ... as its items).

    Not ``fn.subs(t, Symbol(mark))``: substituting rebuilds the formula, and SymPy re-evaluates every
    function of the new symbol (which, unlike t, is not known to be real) — exponential in the depth
    of tanh(tanh(...)). Printing is one pass over the tree.
    """
    plain = printer._print_Symbol
    marks = {T: mark} if isinstance(mark, str) else {ir.arg_symbol(k): m for k, m in enumerate(mark)}

    def symbol(e, *a, **k):
        return marks[e] if e in marks else plain(e, *a, **k)
    printer._print_Symbol = symbol
    return printer.doprint(fn)


def elementwise_latex(fn: sympy.Expr, arg_latex: str) -> str:
    """LaTeX of fn applied to an argument already in LaTeX (SymPy's printer; tcnb's functions print
    their own names)."""
    text = print_formula(LatexPrinter(), fn, "ARGPLACEHOLDER")
    return text.replace("ARGPLACEHOLDER", "{" + arg_latex + "}")
