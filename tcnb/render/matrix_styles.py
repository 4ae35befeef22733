"""The spellings of matrix notation: plain Unicode text (``Xᵀ diag(s) X``) and LaTeX.

matrix.py finds the chains, traces and Hadamard factors of a product; a style here says how each
piece is written (a test subclasses Text to spell NumPy code, as an oracle for that search).
"""
from __future__ import annotations

import re
from fractions import Fraction

import sympy
from sympy.printing.str import StrPrinter

from .. import ir
from ..functions import elementwise_name, print_formula
from ..primitives import lookup
from .spelling import _MARKS, apply_elementwise, number_latex, paren as latex_paren, symbol_latex, tidy_formula

ADD, NEG, HAD, PROD, ATOM = 0, 1, 2, 3, 4


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class _UnicodePrinter(StrPrinter):
    """SymPy's str printer with σ, |t| and superscript integer powers (products become ⊙ later)."""

    def _print_Function(self, e):
        name = {"sigmoid": "σ", "absval": "abs"}.get(type(e).__name__)
        if name:
            return f"{name}({self._print(e.args[0])})"
        return super()._print_Function(e)

    def _print_Pow(self, e, rational=False):
        b, x = e.args
        base = self._print(b)
        if not (b.is_Symbol or b.is_Function or (b.is_Number and b >= 0)):
            base = "(" + base + ")"
        if x.is_Integer and 2 <= int(x) <= 9:
            return base + str(int(x)).translate(_SUPERSCRIPT)
        if x == sympy.Rational(1, 2):
            return f"sqrt({self._print(b)})"
        if x == -1:
            return "1/" + base
        if x.is_Number and x < 0:
            return "1/" + self._print_Pow(sympy.Pow(b, -x, evaluate=False))
        ex = self._print(x)
        return base + "^" + (ex if x.is_Symbol or (x.is_Integer and x > 0) else "(" + ex + ")")


class Text:
    """Plain-text (Unicode) spelling."""
    had = " ⊙ "      # Hadamard product
    prod = " "       # matrix product
    scalar_prod = " "  # a scalar times the rest
    ones = "1"
    identity = "I"
    _NAMES = {"sigmoid": "σ"}

    def paren(self, s):
        """``s`` in parentheses."""
        return "(" + s + ")"

    def ones_vec(self, dim):
        """The ones-vector of a dimension (the dimension is for spellings that need it)."""
        return self.ones

    def identity_mat(self, dim):
        """The identity matrix of a dimension."""
        return self.identity

    def transpose(self, s):
        """The transpose of ``s``."""
        return s + "ᵀ"

    def inverse(self, s):
        """The inverse of ``s``."""
        return s + "⁻¹"

    def call(self, name, arg):
        """A function applied: ``name(arg)``."""
        return f"{name}({arg})"

    def diag(self, s):
        """The diagonal matrix of a vector."""
        return self.call("diag", s)

    def diagonal(self, s):
        """The diagonal vector of a matrix."""
        return self.call("diagonal", s)

    def trace(self, s):
        """The trace of a matrix."""
        return self.call("tr", s)

    def num(self, v):
        """A number: an integer, a small fraction, or ``%g``."""
        v = float(v)
        frac = Fraction(v).limit_denominator(100)
        if not v.is_integer() and float(frac) == v:
            return f"{frac.numerator}/{frac.denominator}"
        return f"{v:g}"

    def var(self, name):
        """A variable's name."""
        return name

    def scaled(self, c, s):
        """The scalar ``c`` times ``s``, with a dot between them where ``s`` starts with a digit."""
        return f"{c} · {s}" if s[:1].isdigit() else f"{c} {s}"

    def elementwise(self, fn, arg, arg_prec):
        """(text, precedence) of an element-wise function of ``arg`` (or of a list of arguments,
        with their precedences): a call where it is one, else its formula with entry-wise products
        as the Hadamard sign.
        """
        args = [arg] if isinstance(arg, str) else list(arg)
        precs = [arg_prec] if isinstance(arg, str) else list(arg_prec)
        name = elementwise_name(fn)
        if name is not None and isinstance(fn, sympy.Function) and fn.args == tuple(ir.ARGS[:len(args)]):
            return self.call(self._NAMES.get(name, name), ", ".join(args)), ATOM
        fn = tidy_formula(fn)
        marks = _MARKS[:len(args)]
        text = print_formula(_UnicodePrinter(), fn, list(marks))
        text = re.sub(r"(?<![\w.])(\d+(?:\.\d+)?(?:/\d+)?)\*", r"\1 ", text)  # 2*x: a scalar multiple
        text = text.replace("*", " ⊙ ")  # every other product of entries is entry-wise
        for m, a, p in zip(marks, args, precs):
            text = text.replace(f"({m})", "(" + a + ")").replace(m, a if p >= ATOM else self.paren(a))
        prec = ADD if isinstance(fn, sympy.Add) else (
            NEG if fn.could_extract_minus_sign() else (
                HAD if isinstance(fn, sympy.Mul) or (fn.is_Pow and fn.exp.is_negative) else ATOM))
        return text, prec

    style = "matrix"  # the spelling a primitive's record gives for this notation

    def wrap(self, arg, prec):
        """An operand as it may stand before a superscript or next to another factor."""
        return arg if prec >= ATOM else self.paren(arg)

    def general(self, name, args, params):
        """(text, precedence) of a whole-matrix function, spelled as its record says."""
        texts = [a for a, _ in args]
        wrapped = [self.wrap(a, p) for a, p in args]
        return lookup(name).spell(self.style, texts, wrapped, params), ATOM


class Latex(Text):
    """LaTeX spelling (for MathJax)."""
    had = r" \odot "
    ones = r"\mathbf{1}"

    def paren(self, s):
        """``s`` in LaTeX parentheses that grow with their content."""
        return latex_paren(s)

    def transpose(self, s):
        """The transpose of ``s`` as a superscript."""
        return _script(s, r"^{\top}")

    def inverse(self, s):
        """The inverse of ``s`` as a superscript -1."""
        return _script(s, "^{-1}")

    def call(self, name, arg):
        """A function applied, its name upright."""
        return rf"\operatorname{{{name}}}\left({arg}\right)"

    def trace(self, s):
        """The trace of a matrix."""
        return self.call("tr", s)

    def num(self, v):
        """A number as LaTeX."""
        return number_latex(v)

    def var(self, name):
        """A variable's name as a LaTeX symbol."""
        return symbol_latex(name)

    def elementwise(self, fn, arg, arg_prec):
        """(text, precedence) of an element-wise function of ``arg``, products as Hadamard."""
        atom = arg_prec >= ATOM if isinstance(arg, str) else [p >= ATOM for p in arg_prec]
        text, prec = apply_elementwise(fn, arg, atom, hadamard=True)
        return text, {0: ADD, 1: NEG, 2: HAD, 3: HAD}.get(prec, ATOM)

    style = "matrix_latex"

    def wrap(self, arg, prec):
        """An operand as it may stand before a superscript (grouped if it ends in one already)."""
        a = arg if prec >= ATOM else self.paren(arg)
        return _script(a, "")


def _script(base: str, script: str) -> str:
    """base with a superscript, grouped when base already ends in a script (no double ^)."""
    if base.endswith("}") and not base.endswith(r"\right)}") and ("^" in base or "_" in base):
        return "{" + base + "}" + script
    return base + script


# ----------------------------------------------------------------------------------------- factors
