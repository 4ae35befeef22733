"""SymPy functions under tcnb's names, for the element-wise records of elementwise.py.

Each prints its own array code through the printer's ``_module_format`` (so the code is
``xp.arcsin`` or ``_rt.special(xp).gammaln`` in tcnb's printer, and the plain NumPy/SciPy name
in SymPy's own, e.g. lambdify) and its own LaTeX (``\\arcsin``, ``\\ln\\Gamma``, ``\\psi``). They
exist where SymPy spells a function differently (asin, loggamma: then text and LaTeX would not show
the name the user wrote), where SymPy lacks it (ndtr, gelu; logsigmoid is next to sigmoid in elementwise.py), or where SymPy's form is
fragile (digamma(t) becomes polygamma(0, t); gelu keeps its stable evaluation).
"""
from __future__ import annotations

import sympy
from sympy.codegen import cfunctions
from sympy.core.function import ArgumentIndexError
from sympy.printing.precedence import PRECEDENCE

_SQRT_2PI = sympy.sqrt(2 * sympy.pi)


def _call(name: str, printer, *args) -> str:
    """Array code ``name(args)``, ``name`` fully qualified (numpy.x or scipy.special.x)."""
    return f"{printer._module_format(name)}({', '.join(printer._print(a) for a in args)})"


def _latex_call(name: str, printer, arg, exp=None) -> str:
    r"""``name\left(arg\right)``, raised to ``exp`` inside parentheses (``\ln\Gamma(x)^2`` would be
    ambiguous)."""
    body = rf"{name}\left({printer._print(arg)}\right)"
    return body if exp is None else rf"\left({body}\right)^{{{exp}}}"


def _renamed(base, name: str, code: str, latex: str):
    """SymPy's function ``base`` under tcnb's ``name`` (its evaluation rules and derivative), printing
    as the array function ``code`` and the LaTeX operator ``latex``."""
    def _numpycode(self, printer):
        return _call(code, printer, self.args[0])

    def _latex(self, printer, exp=None):
        return _latex_call(latex, printer, self.args[0], exp)
    doc = f"{base.__name__} as tcnb names it ({name}): array code {code}, LaTeX {latex}."
    return type(base)(name, (base,), {"__doc__": doc, "__module__": __name__,
                                      "_numpycode": _numpycode, "_latex": _latex})


arcsin = _renamed(sympy.asin, "arcsin", "numpy.arcsin", r"\arcsin")
arccos = _renamed(sympy.acos, "arccos", "numpy.arccos", r"\arccos")
arctan = _renamed(sympy.atan, "arctan", "numpy.arctan", r"\arctan")
arcsinh = _renamed(sympy.asinh, "arcsinh", "numpy.arcsinh", r"\operatorname{arcsinh}")
arccosh = _renamed(sympy.acosh, "arccosh", "numpy.arccosh", r"\operatorname{arccosh}")
arctanh = _renamed(sympy.atanh, "arctanh", "numpy.arctanh", r"\operatorname{arctanh}")
log1p = _renamed(cfunctions.log1p, "log1p", "numpy.log1p", r"\operatorname{log1p}")
expm1 = _renamed(cfunctions.expm1, "expm1", "numpy.expm1", r"\operatorname{expm1}")


class polygamma(sympy.polygamma):
    """ψ⁽ⁿ⁾(t), the n-th derivative of the digamma function (SymPy's, printed as scipy.special's
    ``polygamma``, or ``digamma`` for n = 0; LaTeX ψ⁽ⁿ⁾)."""

    def fdiff(self, argindex=2):
        """Derivative for SymPy in t: polygamma(n + 1, t) (this class, so it prints as this one)."""
        n, z = self.args
        if argindex != 2:
            raise ArgumentIndexError(self, argindex)
        return polygamma(n + 1, z)

    def _numpycode(self, printer):
        n, z = self.args
        if n == 0:
            return _call("scipy.special.digamma", printer, z)
        return _call("scipy.special.polygamma", printer, n, z)

    def _latex(self, printer, exp=None):
        n, z = self.args
        name = r"\psi" if n == 0 else rf"\psi^{{({printer._print(n)})}}"
        return _latex_call(name, printer, z, exp)


class digamma(sympy.Function):
    """ψ(t) = Γ'(t)/Γ(t), with derivative polygamma(1, t) (SymPy's own digamma(t) turns into
    polygamma(0, t), which would print and read as a two-argument function)."""

    def fdiff(self, argindex=1):
        """Derivative for SymPy: polygamma(1, t)."""
        return polygamma(1, self.args[0])

    def _numpycode(self, printer):
        return _call("scipy.special.digamma", printer, self.args[0])

    def _latex(self, printer, exp=None):
        return _latex_call(r"\psi", printer, self.args[0], exp)


class gammaln(sympy.Function):
    """ln Γ(t) for t > 0 (scipy.special.gammaln: log|Γ(t)| elsewhere), with derivative digamma(t)."""

    def fdiff(self, argindex=1):
        """Derivative for SymPy: digamma(t)."""
        return digamma(self.args[0])

    def _numpycode(self, printer):
        return _call("scipy.special.gammaln", printer, self.args[0])

    def _latex(self, printer, exp=None):
        return _latex_call(r"\ln\Gamma", printer, self.args[0], exp)


class ndtr(sympy.Function):
    """Φ(t), the standard normal distribution function (scipy.special.ndtr: accurate in both tails,
    unlike (1 + erf(t/√2))/2 for t ≪ 0), with derivative φ(t) = exp(-t²/2)/√(2π)."""

    def fdiff(self, argindex=1):
        """Derivative for SymPy: the normal density exp(-t²/2)/√(2π)."""
        return sympy.exp(-self.args[0] ** 2 / 2) / _SQRT_2PI

    def _numpycode(self, printer):
        return _call("scipy.special.ndtr", printer, self.args[0])

    def _latex(self, printer, exp=None):
        return _latex_call(r"\Phi", printer, self.args[0], exp)


class gelu(sympy.Function):
    """t Φ(t), the exact GELU (jax.nn.gelu(approximate=False), torch's gelu(approximate='none'));
    evaluated as t * ndtr(t), accurate in the left tail where 1 + erf(t/√2) cancels."""

    def fdiff(self, argindex=1):
        """Derivative for SymPy: Φ(t) + t φ(t)."""
        u = self.args[0]
        return ndtr(u) + u * sympy.exp(-u ** 2 / 2) / _SQRT_2PI

    def _numpycode(self, printer):
        u = printer.parenthesize(self.args[0], PRECEDENCE["Mul"], strict=True)
        return f"({u} * {_call('scipy.special.ndtr', printer, self.args[0])})"

    def _latex(self, printer, exp=None):
        return _latex_call(r"\operatorname{gelu}", printer, self.args[0], exp)
