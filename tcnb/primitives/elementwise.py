"""Element-wise primitives: SymPy formulas in one symbol ``t``, one record each.

A formula is its own derivative rule (``sympy.diff``) and its own code (SymPy's NumPy/SciPy printers,
tcnb/primitives/printing.py), so a record only names the formula, a reference implementation for the
tests and the domain the tests draw inputs from. Functions SymPy lacks, or whose textbook form is
numerically fragile, are SymPy functions defined here that print themselves stably (``_numpycode``)
and in LaTeX (``_latex``). Non-smooth functions use JAX's conventions: relu'(0) = 0, |t|' = sign(t)
with sign(0) = 0, sign' = 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy
from sympy.printing.precedence import PRECEDENCE

from .. import ir
from .special_functions import (arccos, arccosh, arcsin, arcsinh, arctan, arctanh, digamma, expm1, gammaln, gelu,
                                log1p, ndtr, polygamma)

T = ir.T


def _call_latex(name: str, printer, arg, exp=None) -> str:
    body = rf"{name}\left({printer._print(arg)}\right)"
    return body if exp is None else rf"{body}^{{{exp}}}"


class sigmoid(sympy.Function):
    """1 / (1 + exp(-t)), evaluated as exp(-logaddexp(0, -t)): accurate in both tails."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: sigmoid(t) (1 - sigmoid(t))."""
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return 1 / (1 + sympy.exp(-x))

    def _numpycode(self, printer):
        c, rest = self.args[0].as_coeff_Mul()  # σ(c·u): the sign folds into -c
        body = printer.parenthesize(rest, PRECEDENCE["Mul"], strict=True)
        inner = f"-{body}" if c == 1 else body if c == -1 else f"{printer._print(-c)} * {body}"
        return f"{printer.xp}.exp(-{printer.xp}.logaddexp(0.0, {inner}))"

    def _latex(self, printer, exp=None):
        return _call_latex(r"\sigma", printer, self.args[0], exp)


class softplus(sympy.Function):
    """log(1 + exp(t)), evaluated stably as logaddexp(0, t)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: sigmoid(t)."""
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return sympy.log(1 + sympy.exp(x))

    def _numpycode(self, printer):
        return f"{printer.xp}.logaddexp(0.0, {printer._print(self.args[0])})"

    def _latex(self, printer, exp=None):
        return _call_latex(r"\operatorname{softplus}", printer, self.args[0], exp)


class logsigmoid(sympy.Function):
    """log σ(t) = -log(1 + exp(-t)), evaluated as -logaddexp(0, -t): finite for every t (the log
    of a computed σ(t) is -inf below t ≈ -745); derivative σ(-t)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: sigmoid(-t)."""
        return sigmoid(-self.args[0])

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return -sympy.log(1 + sympy.exp(-x))

    def _numpycode(self, printer):
        return f"(-{printer._module_format('numpy.logaddexp')}(0.0, {printer._print(-self.args[0])}))"

    def _latex(self, printer, exp=None):
        body = _call_latex(r"\log\sigma", printer, self.args[0])
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"


class step(sympy.Function):
    """1 for t > 0, else 0: the derivative of relu (subgradient 0 at 0)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: 0."""
        return sympy.Integer(0)

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: 1 or 0 for a number argument, else unevaluated."""
        if x.is_Number:
            return sympy.Integer(1) if x > 0 else sympy.Integer(0)

    def _numpycode(self, printer):
        return f"{printer.xp}.heaviside({printer._print(self.args[0])}, 0.0)"

    def _latex(self, printer, exp=None):
        return _call_latex(r"\operatorname{step}", printer, self.args[0], exp)


class relu(sympy.Function):
    """max(t, 0), with derivative step(t) (subgradient 0 at 0)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: step(t)."""
        return step(self.args[0])

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return sympy.Max(x, 0)

    def _numpycode(self, printer):
        return f"{printer.xp}.maximum({printer._print(self.args[0])}, 0.0)"

    def _latex(self, printer, exp=None):
        return _call_latex(r"\operatorname{relu}", printer, self.args[0], exp)


class sign(sympy.Function):
    """sign(t) with sign(0) = 0 and derivative 0 everywhere (a.e. exact, a subgradient at 0)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: 0."""
        return sympy.Integer(0)

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return sympy.sign(x)

    def _numpycode(self, printer):
        return f"{printer.xp}.sign({printer._print(self.args[0])})"

    def _latex(self, printer, exp=None):
        return _call_latex(r"\operatorname{sign}", printer, self.args[0], exp)


class absval(sympy.Function):
    """abs(t), with derivative sign(t) (subgradient 0 at 0)."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: sign(t)."""
        return sign(self.args[0])

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return abs(x)

    def _numpycode(self, printer):
        return f"{printer.xp}.abs({printer._print(self.args[0])})"

    def _latex(self, printer, exp=None):
        body = rf"\left|{printer._print(self.args[0])}\right|"
        return body if exp is None else rf"{body}^{{{exp}}}"


@dataclass(frozen=True)
class ElementwiseFunction:
    """A named element-wise function: its formula in ``t``, a reference ``(xp, special, t) -> array``
    on NumPy/SciPy or jax.numpy/jax.scipy.special for the tests, the interval the tests draw inputs
    from, and the convention the formula alone does not tell (for the docs)."""
    name: str
    formula: sympy.Expr
    reference: Callable
    domain: tuple = (-2.0, 2.0)
    note: str = ""


ELEMENTWISE_FUNCTIONS: dict[str, ElementwiseFunction] = {}


def register_elementwise(name, formula, reference, domain=(-2.0, 2.0), note="") -> ElementwiseFunction:
    """Add a built-in element-wise function (once per name)."""
    if name in ELEMENTWISE_FUNCTIONS:
        raise ValueError(f"element-wise function {name!r} is already registered")
    rec = ElementwiseFunction(name, sympy.sympify(formula), reference, domain, note)
    ELEMENTWISE_FUNCTIONS[name] = rec
    return rec


_E = register_elementwise
_E("exp", sympy.exp(T), lambda xp, sp, t: xp.exp(t))
_E("log", sympy.log(T), lambda xp, sp, t: xp.log(t), (0.2, 3.0),
   "u > 0; `log(1 + exp(u))` is rewritten to `softplus(u)`, `log(sigmoid(u))` to `-softplus(-u)`")
_E("sin", sympy.sin(T), lambda xp, sp, t: xp.sin(t))
_E("cos", sympy.cos(T), lambda xp, sp, t: xp.cos(t))
_E("tan", sympy.tan(T), lambda xp, sp, t: xp.tan(t), (-1.2, 1.2))
_E("tanh", sympy.tanh(T), lambda xp, sp, t: xp.tanh(t))
_E("sigmoid", sigmoid(T), lambda xp, sp, t: 1 / (1 + xp.exp(-t)), note=
   "1 / (1 + e^(-u)), evaluated as `exp(-softplus(-u))`: accurate in both tails")
_E("softplus", softplus(T), lambda xp, sp, t: xp.log1p(xp.exp(t)), note="log(1 + e^u), evaluated as `logaddexp(0, u)`")
_E("relu", relu(T), lambda xp, sp, t: xp.maximum(t, 0), note="max(u, 0); relu'(0) = 0 (step(0) = 0, a subgradient)")
_E("abs", absval(T), lambda xp, sp, t: xp.abs(t), note="abs'(0) = sign(0) = 0 (a subgradient)")
_E("sign", sign(T), lambda xp, sp, t: xp.sign(t), note="sign(0) = 0; derivative 0 everywhere (exact except at 0)")
_E("sqrt", sympy.sqrt(T), lambda xp, sp, t: xp.sqrt(t), (0.2, 3.0), "u ≥ 0; the derivative is +inf at 0")
_E("square", T ** 2, lambda xp, sp, t: t * t, note="u²")
# special functions (issue 13): NumPy's names; scipy.special ones run as cupyx.scipy.special on CuPy
_E("log1p", log1p(T), lambda xp, sp, t: xp.log(1 + t), (-0.7, 2.0), "log(1 + u) for u > -1, accurate for small u")
_E("expm1", expm1(T), lambda xp, sp, t: xp.exp(t) - 1, note="e^u - 1, accurate for small u")
_E("sinh", sympy.sinh(T), lambda xp, sp, t: (xp.exp(t) - xp.exp(-t)) / 2)
_E("cosh", sympy.cosh(T), lambda xp, sp, t: (xp.exp(t) + xp.exp(-t)) / 2)
_E("arcsin", arcsin(T), lambda xp, sp, t: xp.arcsin(t), (-0.9, 0.9), "-1 ≤ u ≤ 1 (derivative infinite at ±1)")
_E("arccos", arccos(T), lambda xp, sp, t: xp.arccos(t), (-0.9, 0.9), "-1 ≤ u ≤ 1 (derivative infinite at ±1)")
_E("arctan", arctan(T), lambda xp, sp, t: xp.arctan(t))
_E("arcsinh", arcsinh(T), lambda xp, sp, t: xp.arcsinh(t))
_E("arccosh", arccosh(T), lambda xp, sp, t: xp.arccosh(t), (1.2, 3.0), "u ≥ 1 (derivative infinite at 1)")
_E("arctanh", arctanh(T), lambda xp, sp, t: xp.arctanh(t), (-0.9, 0.9), "-1 < u < 1")
_E("erf", sympy.erf(T), lambda xp, sp, t: sp.erf(t), note="2/√π ∫₀ᵘ e^(-s²) ds")
_E("erfc", sympy.erfc(T), lambda xp, sp, t: sp.erfc(t), note="1 - erf(u), accurate for large u")
_E("ndtr", ndtr(T), lambda xp, sp, t: (1 + sp.erf(t / 2 ** 0.5)) / 2, note=
   "Φ(u), the standard normal distribution function (scipy.special.ndtr), accurate in both tails")
_E("gelu", gelu(T), lambda xp, sp, t: t * (1 + sp.erf(t / 2 ** 0.5)) / 2, note=
   "u Φ(u), the exact GELU (jax.nn.gelu(approximate=False)); evaluated as u * ndtr(u)")
_E("logsigmoid", logsigmoid(T), lambda xp, sp, t: xp.log(1 / (1 + xp.exp(-t))), note=
   "log σ(u), evaluated as `-logaddexp(0, -u)`: finite for every u")
_E("gammaln", gammaln(T), lambda xp, sp, t: sp.gammaln(t), (0.3, 4.0), "ln Γ(u) for u > 0 (log|Γ(u)| elsewhere, as SciPy's)")
_E("digamma", digamma(T), lambda xp, sp, t: sp.digamma(t), (0.3, 4.0), "ψ(u) = Γ'(u)/Γ(u), u > 0; ψ' is polygamma(1, u)")
del _E

# the names a formula may use (define_elementwise, def f(t): ...): the records, and helpers that
# appear in derivatives (step) or are spelled differently in SymPy
FORMULA_NAMES = {"step": step, "polygamma": polygamma,
                 # SymPy's spellings of the records' functions, so a formula reads and renders the same
                 "asin": arcsin, "acos": arccos, "atan": arctan, "asinh": arcsinh, "acosh": arccosh,
                 "atanh": arctanh, "loggamma": gammaln}
