"""The pieces of LaTeX spelling shared by index notation (latex.py) and matrix notation (matrix.py):

precedence levels, parentheses, symbols and numbers, and element-wise formulas applied to an
argument. Both notations import this module; neither imports the other's module-level names.
"""
from __future__ import annotations

import re
from fractions import Fraction

import sympy
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter

from .. import ir
from ..functions import elementwise_latex, print_formula

# precedence of a printed entry: what it may stand next to without parentheses
ADD, NEG, SUM, MUL, ATOM = 0, 1, 2, 3, 4
T_SYMBOL = ir.T

_INDEX_POOL = "ijklpqrsuvabcdegh"
_GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
          "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
          "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi",
          "Omega", "varepsilon", "vartheta", "varphi", "varrho", "varsigma"}
_MARK = "ARGMARKQZ"
# deepest chain of operands written inside one line; a deeper node gets a t_k line of its own, so
# printing a DAG thousands of nodes deep recurses a bounded depth (and lines stay readable)
MAX_INLINE_DEPTH = 40
MATRIX_ARG_NODES = 64  # a general function's argument in matrix notation: at most this many nodes
# contexts in which the argument needs no parentheses of its own: already delimited
_SAFE_FORMS = (r"\left({%s} \right)", r"\left({%s}\right)", r"\left|{%s}\right|", r"{{%s}}")
_SAFE_ARG = [re.escape(s % _MARK) for s in _SAFE_FORMS]
# the placeholders of the arguments t, t1, t2, ... of a formula (none a prefix of another)
_MARKS = (_MARK,) + tuple(f"ARGMARKX{chr(ord('A') + k)}" for k in range(ir.MAX_ARGS - 1))


# ------------------------------------------------------------------------------------ small helpers

def escape_text(s: str) -> str:
    """s inside ``\\text{...}``: LaTeX specials escaped."""
    out = []
    for ch in s:
        if ch in "\\":
            out.append(r"\backslash ")
        elif ch in "{}_^#$%&~":
            out.append("\\" + ch if ch in "{}_#$%&" else {"^": r"\^{}", "~": r"\~{}"}[ch])
        else:
            out.append(ch)
    return "".join(out)


def symbol_latex(name: str) -> str:
    """A variable name as a LaTeX symbol that may take a subscript (``X``, ``\\alpha``, ``{w_{1}}``)."""
    base, primes = name.rstrip("'"), "'" * (len(name) - len(name.rstrip("'")))
    if base in _GREEK:
        return "\\" + base + primes
    if len(base) == 1:
        return base + primes
    m = re.fullmatch(r"([A-Za-z])(\d+)", base)
    if m:
        return "{" + m.group(1) + "_{" + m.group(2) + "}" + primes + "}"
    m = re.fullmatch(r"([A-Za-z]+)(\d+)", base)
    if m and m.group(1) in _GREEK:
        return "{\\" + m.group(1) + "_{" + m.group(2) + "}" + primes + "}"
    return r"\mathit{" + escape_text(base) + "}" + primes


def _derivative_latex(d) -> str | None:
    """LaTeX of a derivative's name from its fields (``d.kind``, ``of``, ``wrt``, ``order``), or None."""
    kind = getattr(d, "kind", None)
    if kind is None:
        return None
    of = d.of or "f"
    f = symbol_latex(of) if not re.search(r"\s", of) else r"\text{" + escape_text(of) + "}"
    w = symbol_latex(d.wrt)
    if kind == "jacobian":
        return rf"\frac{{\partial {f}}}{{\partial {w}}}"
    top = {"gradient": "", "hessian": "^{2}", "derivative": f"^{{{d.order}}}"}.get(kind)
    if top is not None:
        return rf"\nabla{top}_{{{w}}} {f}"
    return rf"\operatorname{{Hv}}_{{{w}}} {f}"  # hvp


def name_latex(name: str, derivative=None) -> tuple[str, bool]:
    """(LaTeX of an expression's display name, whether it needs parentheses before a subscript).

    ``derivative``: an object with the derivative fields of tcnb.Expr (kind, of, wrt, order), so a
    gradient is written ``\\nabla_{w} f``; the name itself is never parsed for them.
    """
    tex = _derivative_latex(derivative)
    if tex is not None:
        return tex, True
    if re.fullmatch(r"[^\W\d]\w*'*", name):
        return symbol_latex(name), False
    return r"\text{" + escape_text(name) + "}", True


def number_latex(v: float) -> str:
    """A number as LaTeX: an integer, a small fraction, or a mantissa times a power of 10."""
    v = float(v)
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    frac = Fraction(v).limit_denominator(1000)
    if float(frac) == v and frac.denominator <= 1000:
        sign = "-" if frac < 0 else ""
        return rf"{sign}\frac{{{abs(frac.numerator)}}}{{{frac.denominator}}}"
    text = f"{v:.6g}"
    if "e" in text:
        mant, exp = text.split("e")
        return rf"{mant} \cdot 10^{{{int(exp)}}}"
    return text


def sub(idx) -> str:
    """A subscript group for index names (``{ij}``, or ``{i_{1},j}`` once names are long)."""
    if all(len(i) == 1 for i in idx):
        return "{" + "".join(idx) + "}"
    return "{" + ",".join(idx) + "}"


def indexed(symbol: str, idx) -> str:
    """``symbol`` with the index names as a subscript (none for a scalar)."""
    return symbol + ("_" + sub(idx) if idx else "")


def paren(text: str) -> str:
    """``text`` in LaTeX parentheses that grow with their content."""
    return r"\left(" + text + r"\right)"


def _sympy_prec(fn: sympy.Expr) -> int:
    if isinstance(fn, sympy.Add):
        return ADD
    if isinstance(fn, sympy.Mul):
        return NEG if fn.could_extract_minus_sign() else MUL
    return ATOM


def tidy_formula(fn: sympy.Expr) -> sympy.Expr:
    """Whole-number floats as integers (``1.0 + t`` -> ``1 + t``) for printing."""
    try:
        floats = {f: sympy.Integer(int(f)) for f in fn.atoms(sympy.Float) if float(f).is_integer()}
        return fn.xreplace(floats) if floats else fn
    except Exception:  # pragma: no cover - printing must not fail on odd formulas
        return fn


def _hadamard_template(fn: sympy.Expr, marks=(_MARK,)) -> str:
    """Like ``elementwise_latex(fn, MARK)``, with products of entries written ``\\odot`` (for matrix
    notation, where juxtaposition would read as a matrix product)."""
    text = print_formula(SympyLatexPrinter({"mul_symbol": r" \odot "}), fn, list(marks))
    text = re.sub(r"(^|[{(\s-])(\d+(?:\.\d+)?) \\odot ", r"\1\2 ", text)  # 2 ⊙ x: a scalar multiple
    for m in marks:
        text = text.replace(m, "{" + m + "}")
    return text


def apply_elementwise(fn: sympy.Expr, arg, arg_is_atom, hadamard: bool = False) -> tuple[str, int]:
    """LaTeX of fn applied to an argument in LaTeX; parentheses only where the formula needs them.

    ``arg``/``arg_is_atom`` may be lists, one item per argument t, t1, ... of the formula.
    ``hadamard``: the argument is a whole vector/matrix, so products of entries are written ``\\odot``.
    """
    args = [arg] if isinstance(arg, str) else list(arg)
    atoms = [arg_is_atom] if isinstance(arg, str) else list(arg_is_atom)
    marks = _MARKS[:len(args)]
    fn = tidy_formula(fn)
    try:
        if hadamard:
            template = _hadamard_template(fn, marks)
        else:
            template = print_formula(SympyLatexPrinter(), fn, list(marks))
            for m in marks:
                template = template.replace(m, "{" + m + "}")
    except Exception:
        template = r"\operatorname{f}\left(" + ", ".join("{" + m + "}" for m in marks) + r"\right)"
    out = template
    for m, text, atom in zip(marks, args, atoms):
        rest = template
        for form in _SAFE_FORMS:
            rest = rest.replace(form % m, "")
        if m in rest and not atom:
            text = paren(text)
        out = out.replace(m, text)
    return out, _sympy_prec(fn)


def affine_latex(row, offset, names) -> str:
    """Σ_q row[q]·names[q] + offset as a subscript (``i+j``, ``2i-j+1``, ``n-1-i``)."""
    parts = []
    for a, nm in zip(row, names):
        if a:
            parts.append(("-" if a < 0 else "+", ("" if abs(a) == 1 else str(abs(a))) + nm))
    off = sympy.sympify(offset)
    if off != 0:
        neg = off.could_extract_minus_sign()
        body = -off if neg else off
        text = sympy.latex(body)
        if neg and isinstance(body, sympy.Add):
            text = paren(text)
        parts.append(("-" if neg else "+", text))
    if not parts:
        return "0"
    parts.sort(key=lambda p: p[0] == "-")  # n-1-i rather than -i+n-1
    out = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, t in parts[1:]:
        out += sign + t
    return out
