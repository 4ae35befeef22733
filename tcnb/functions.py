"""The function table: every primitive declared once, with its evaluation, printing and derivative.

Element-wise functions are SymPy formulas in one symbol ``t``; their derivatives of any order come
from ``sympy.diff`` and their NumPy code and LaTeX from small printers over the formula, so a user
function (``def swish(t): return t * sigmoid(t)``) is as good as a built-in. Non-smooth functions use
the usual subgradient convention: relu'(0) = 0, |t|' = sign(t) with sign(0) = 0, sign' = 0.

General unary functions (a function of a whole tensor) declare their output shape, NumPy code, LaTeX
and *local derivative* dC/dA as a tensor expression over IR nodes; forward, reverse and
cross-country mode all combine these same local partials (reference §3–5).
"""
from __future__ import annotations

import functools
import itertools
import keyword
from dataclasses import dataclass
from typing import Callable

import sympy
from sympy.printing.latex import LatexPrinter

from . import ir
from .dims import shape_str
from .errors import ShapeError, TensorSyntaxError

T = ir.T


# ------------------------------------------------------------------ non-elementary scalar functions

class sigmoid(sympy.Function):
    """1 / (1 + exp(-t)), evaluated stably as (1 + tanh(t/2)) / 2."""
    def fdiff(self, argindex=1):
        """Derivative for SymPy: sigmoid(t) (1 - sigmoid(t))."""
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x):
        """SymPy's evaluation hook: a number for a number argument, else unevaluated."""
        if x.is_Number:
            return 1 / (1 + sympy.exp(-x))


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


ELEMENTWISE: dict[str, sympy.Expr] = {
    "exp": sympy.exp(T), "log": sympy.log(T), "sin": sympy.sin(T), "cos": sympy.cos(T),
    "tan": sympy.tan(T), "tanh": sympy.tanh(T), "sigmoid": sigmoid(T), "softplus": softplus(T),
    "relu": relu(T), "abs": absval(T), "sign": sign(T), "sqrt": sympy.sqrt(T), "square": T ** 2,
}
_SYMPY_NAMES = {"exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan,
                "tanh": sympy.tanh, "sigmoid": sigmoid, "softplus": softplus, "relu": relu, "abs": absval,
                "sign": sign, "sqrt": sympy.sqrt, "step": step}
USER_FUNCTIONS: dict[str, sympy.Expr] = {}


_W = sympy.Wild("w")


@functools.lru_cache(maxsize=4096)  # SymPy's pattern matching costs ms; programs repeat formulas
def canonical_formula(fn: sympy.Expr) -> sympy.Expr:
    """Rewrite numerically fragile compositions into stable named functions.

    ``log(1 + exp(u))`` overflows for large u and its derivatives (exp(u)/(1 + exp(u)), ...) give
    inf/inf; as ``softplus(u)`` it is evaluated with logaddexp and differentiates to sigmoid.
    """
    fn = fn.replace(sympy.log(sympy.exp(_W) + 1), softplus(_W))
    fn = fn.replace(1 / (1 + sympy.exp(-_W)), sigmoid(_W))
    # log σ(u) underflows to -inf for u < -745 (and loses digits long before); it is -softplus(-u)
    fn = fn.replace(sympy.log(sigmoid(_W)), -softplus(-_W))
    fn = fn.replace(sympy.log(1 - sigmoid(_W)), -softplus(_W))
    return fn


def sympy_namespace() -> dict:
    """Names usable inside an element-wise formula (built-ins and user definitions)."""
    ns = dict(_SYMPY_NAMES)
    ns["square"] = lambda x: x ** 2
    for name, formula in USER_FUNCTIONS.items():
        ns[name] = (lambda f: (lambda x: f.subs(T, x)))(formula)
    return ns


# Names the language itself gives a meaning to: define_elementwise may not take them over, since a
# redefinition would silently change every later program that uses them.
LANGUAGE_FUNCTIONS = frozenset({"sum", "mean", "trace", "diag", "diagonal", "norm2", "dot", "outer", "eye",
                                "ones", "einsum"})
LANGUAGE_NAMES = LANGUAGE_FUNCTIONS | {"R"}  # R: the type of declarations (x: R[n])


def define_elementwise(name: str, formula) -> sympy.Expr:
    """Register an element-wise function from a SymPy formula in ``t`` (str or expr) or a callable.

    >>> define_elementwise("swish", "t * sigmoid(t)")   # then swish(x) works in programs

    Built-in names are refused (redefining ``exp`` would change every later program), and so is a
    formula that is not a finite real expression in ``t`` or that has no array code.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise TensorSyntaxError(f"{name!r} is not a valid function name", expected="a Python identifier")
    if name in ELEMENTWISE or name in _SYMPY_NAMES or name in GENERAL or name in LANGUAGE_NAMES:
        raise TensorSyntaxError(f"'{name}' is a built-in function of the language and cannot be redefined",
                                expected="a new function name")
    expr = _read_formula(name, formula)
    if expr.free_symbols - {T}:
        raise TensorSyntaxError(f"formula of '{name}' may only use the symbol t, "
                                f"found {', '.join(sorted(map(str, expr.free_symbols - {T})))}")
    _check_formula(name, expr)
    USER_FUNCTIONS[name] = expr
    return expr


def _read_formula(name, formula) -> sympy.Expr:
    """The formula as a SymPy expression, or a TensorSyntaxError saying why it is not one."""
    try:
        if callable(formula) and not isinstance(formula, sympy.Basic):
            expr = formula(T)
        elif isinstance(formula, str):
            ns = sympy_namespace()
            ns["t"] = T
            expr = sympy.sympify(formula, locals=ns)
        else:
            expr = sympy.sympify(formula)
        expr = sympy.sympify(expr)
    except Exception as exc:  # sympify evaluates the text: any error means "not a formula"
        raise TensorSyntaxError(f"cannot read the formula of '{name}': {type(exc).__name__}: {exc}",
                                expected="a formula in t such as 't * sigmoid(t)'") from None
    if not isinstance(expr, sympy.Expr) or isinstance(expr, (sympy.core.relational.Relational,
                                                              sympy.logic.boolalg.BooleanFunction)):
        raise TensorSyntaxError(f"the formula of '{name}' is not a scalar expression: {expr}",
                                expected="a formula in t such as 't * sigmoid(t)'")
    return expr


def _check_formula(name, expr):
    """Refuse what could only fail later: infinities/NaN, complex numbers, functions with no array code."""
    if expr.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan, sympy.I):
        raise TensorSyntaxError(f"the formula of '{name}' is not a finite real expression: {expr}",
                                expected="a finite real formula in t")
    for order in range(3):  # the function and the derivatives a Hessian needs must all have code
        f = sympy.diff(expr, T, order) if order else expr
        try:
            elementwise_code(f, "x")
        except TensorSyntaxError as exc:
            what = "the formula" if order == 0 else f"its derivative of order {order}"
            raise TensorSyntaxError(f"'{name}' cannot be evaluated: {what} uses {exc.message.split('function ')[-1]}, "
                                    "which has no array code", expected="built-in element-wise functions only") from None


def elementwise_formula(name: str):
    """The formula in T of an element-wise function name (user-defined first, then built-in); None if unknown."""
    return USER_FUNCTIONS.get(name, ELEMENTWISE.get(name))


# ---------------------------------------------------------------------------- element-wise printing

_CODE = {"exp": "{m}.exp({a})", "log": "{m}.log({a})", "sin": "{m}.sin({a})", "cos": "{m}.cos({a})",
         "tan": "{m}.tan({a})", "tanh": "{m}.tanh({a})", "sigmoid": "{m}.exp(-{m}.logaddexp(0.0, -{a}))",
         "softplus": "{m}.logaddexp(0.0, {a})", "relu": "{m}.maximum({a}, 0.0)",
         "step": "{m}.heaviside({a}, 0.0)", "absval": "{m}.abs({a})", "sign": "{m}.sign({a})",
         "sqrt": "{m}.sqrt({a})", "log1p": "{m}.log1p({a})", "cosh": "{m}.cosh({a})",
         "sinh": "{m}.sinh({a})", "atan": "{m}.arctan({a})"}


def _num(x) -> str:
    f = float(x)
    return repr(int(f)) + ".0" if f.is_integer() and abs(f) < 1e15 else repr(f)


def elementwise_code(fn: sympy.Expr, arg: str, module: str = "np", temp="_e") -> tuple[list, str]:
    """Python source computing fn(arg) entry by entry: (temporary assignments, final expression).

    Repeated subexpressions (sigmoid inside its own derivative, say) become temporaries via
    ``sympy.cse`` so each is computed once. ``temp`` is a prefix, or an iterator of fresh names
    (the code generator's allocator, so temporaries never collide with the user's names).
    """
    subs, main = _cse(fn)
    names = {}

    def p(e) -> str:
        if e == T:
            return arg
        if e in names:
            return names[e]
        if e.is_Number:
            return _num(e)
        if isinstance(e, sympy.Add):
            text = " + ".join(p(a) for a in e.args)
            return "(" + text.replace("+ -", "- ") + ")"
        if isinstance(e, sympy.Mul):
            coeff, rest = e.as_coeff_mul()
            num, den = [], []
            for a in rest:
                if isinstance(a, sympy.Pow) and a.exp.is_Number and a.exp < 0:
                    den.append(p(a.base ** -a.exp))
                else:
                    num.append(p(a))
            if coeff not in (1, -1):
                num.insert(0, _num(abs(coeff)))
            text = " * ".join(num) if num else "1.0"
            if den:
                text = f"{text} / " + (den[0] if len(den) == 1 else "(" + " * ".join(den) + ")")
            return ("-" if coeff < 0 else "") + "(" + text + ")"
        if isinstance(e, sympy.Pow):
            b, x = e.args
            if x == 2:
                return f"{module}.square({p(b)})"
            if x == -1:
                return f"(1.0 / {p(b)})"
            if x == sympy.Rational(1, 2):
                return f"{module}.sqrt({p(b)})"
            if x == -sympy.Rational(1, 2):
                return f"(1.0 / {module}.sqrt({p(b)}))"
            if b == sympy.E:
                return f"{module}.exp({p(x)})"
            return f"({p(b)} ** {p(x)})"
        if isinstance(e, sympy.Function):
            name = type(e).__name__
            if name == "sigmoid":  # σ(u) = exp(-softplus(-u)): accurate in both tails; σ(c·u) folds -c in
                c, rest = e.args[0].as_coeff_Mul()
                inner = f"-{p(rest)}" if c == 1 else f"{_num(-c)} * {p(rest)}"
                return f"{module}.exp(-{module}.logaddexp(0.0, {inner}))"
            if name in _CODE and len(e.args) == 1:
                return _CODE[name].format(m=module, a=p(e.args[0]))
        raise TensorSyntaxError(f"no array code for the scalar function {e}")

    fresh = (f"{temp}{k}" for k in itertools.count()) if isinstance(temp, str) else iter(temp)
    lines = []
    for sym, expr in subs:
        name = next(fresh)
        lines.append((name, p(expr)))
        names[sym] = name
    return lines, p(main)


@functools.lru_cache(maxsize=1024)
def _cse(fn: sympy.Expr):
    """sympy.cse of a formula, once per formula (a deep network has thousands of nodes, few formulas)."""
    subs, (main,) = sympy.cse(fn, symbols=sympy.numbered_symbols("_cse_tmp"))
    return tuple(subs), main


_LATEX_NAMES = {sigmoid: r"\sigma", softplus: r"\operatorname{softplus}", relu: r"\operatorname{relu}",
                step: r"\operatorname{step}", sign: r"\operatorname{sign}"}


def print_formula(printer, fn: sympy.Expr, mark: str) -> str:
    """``printer.doprint(fn)`` with the argument symbol t printed as ``mark``.

    Not ``fn.subs(t, Symbol(mark))``: substituting rebuilds the formula, and SymPy re-evaluates every
    function of the new symbol (which, unlike t, is not known to be real) — exponential in the depth
    of tanh(tanh(...)). Printing is one pass over the tree.
    """
    plain = printer._print_Symbol

    def symbol(e, *a, **k):
        return mark if e == T else plain(e, *a, **k)
    printer._print_Symbol = symbol
    return printer.doprint(fn)


def elementwise_latex(fn: sympy.Expr, arg_latex: str) -> str:
    """LaTeX of fn applied to an argument already in LaTeX (SymPy's printer, our names)."""

    class Printer(LatexPrinter):
        def _print_Function(self, e, exp=None):
            f = type(e)
            if f in _LATEX_NAMES:
                body = rf"{_LATEX_NAMES[f]}\left({self._print(e.args[0])}\right)"
                return body if exp is None else rf"{body}^{{{exp}}}"
            if f is absval:
                body = rf"\left|{self._print(e.args[0])}\right|"
                return body if exp is None else rf"{body}^{{{exp}}}"
            return super()._print_Function(e, exp)

    text = print_formula(Printer(), fn, "ARGPLACEHOLDER")
    return text.replace("ARGPLACEHOLDER", "{" + arg_latex + "}")


def elementwise_name(fn: sympy.Expr) -> str | None:
    """The name of an element-wise formula (user-defined first, then built-in); None if it has none."""
    for table in (USER_FUNCTIONS, ELEMENTWISE):
        for name, formula in table.items():
            if formula == fn:
                return name
    return None


# ------------------------------------------------------------------------- general unary functions

@dataclass(frozen=True)
class GeneralFunction:
    """A tensor-valued function of a whole tensor, declared once: shape, code, LaTeX and derivative."""
    name: str
    shape: Callable        # (arg_shape, params) -> out shape
    code: str              # format string with {m} (module), {a} (argument) and params
    latex: str             # format string with {a}
    derivative: Callable   # (node) -> IR node dC/dA with axes (C axes, A axes)


def _square_matrix(name):
    def shape(s, params):
        if len(s) != 2:
            raise ShapeError(f"{name} needs a matrix, got rank {len(s)}", expected="a matrix (rank 2)")
        if s[0] != s[1]:
            raise ShapeError(f"{name} needs a square matrix, got dimensions {s[0]} x {s[1]}",
                             expected="equal dimension symbols")
        return s
    return shape


def _d_inv(node):
    # dC[i,j]/dA[k,l] = -C[i,k] C[l,j]
    C = node
    return ir.Einsum.make([C, C, ir.Const.make(-1.0)], [("i", "k"), ("l", "j"), ()], ("i", "j", "k", "l"))


def _d_det(node):
    # d det(A) / dA[k,l] = det(A) inv(A)[l,k]
    inv = make_general("inv", node.arg)
    return ir.Einsum.make([node, inv], [(), ("l", "k")], ("k", "l"))


def _d_logdet(node):
    inv = make_general("inv", node.arg)
    return ir.transpose(inv, (1, 0))


def _axis(params):
    return dict(params).get("axis")


def _softmax_shape(s, params):
    ax = _axis(params)
    if ax is not None and not -len(s) <= ax < len(s):
        raise ShapeError(f"axis {ax} is out of range for rank {len(s)}")
    return s


def _lse_shape(s, params):
    ax = _axis(params)
    if ax is None:
        return ()
    if not -len(s) <= ax < len(s):
        raise ShapeError(f"axis {ax} is out of range for rank {len(s)}")
    return tuple(d for k, d in enumerate(s) if k != ax % len(s))


def _d_softmax(node):
    # s = softmax(x, axis a): ds[o]/dx[p] = s[o] (δ[o_a,p_a] - s[p'])  ·  Π_{b≠a} δ[o_b,p_b]
    # (axis None: every axis plays the role of a)
    s, r = node, node.rank
    ax = _axis(node.params)
    soft_axes = set(range(r)) if ax is None else {ax % r}
    o = [("o", b) for b in range(r)]
    p = [("p", b) for b in range(r)]
    full = ir.Einsum.make([s, ir.Delta.make(s.shape)], [tuple(o), tuple(o + p)], tuple(o + p))
    # second term: s[o] s[p with p_b = o_b for b not in soft_axes], deltas for b not in soft axes
    p_tied = [p[b] if b in soft_axes else o[b] for b in range(r)]
    ops, ins = [s, s], [tuple(o), tuple(p_tied)]
    for b in range(r):
        if b not in soft_axes:
            ops.append(ir.Delta.make([s.shape[b]]))
            ins.append((o[b], p[b]))
    outer = ir.Einsum.make(ops + [ir.Const.make(-1.0)], ins + [()], tuple(o + p))
    return ir.add(full, outer)


def _d_logsumexp(node):
    # d lse(x, a)[o] / dx[p] = softmax(x, a)[p] Π_{b≠a} δ
    x = node.arg
    ax = _axis(node.params)
    sm = make_general("softmax", x, node.params)
    r = x.rank
    if ax is None:
        return sm
    ax %= r
    kept = [b for b in range(r) if b != ax]
    o = [("o", b) for b in kept]
    p = [("p", b) for b in range(r)]
    ops, ins = [sm], [tuple(p)]
    for b, ob in zip(kept, o):
        ops.append(ir.Delta.make([x.shape[b]]))
        ins.append((ob, p[b]))
    return ir.Einsum.make(ops, ins, tuple(o + p))


GENERAL: dict[str, GeneralFunction] = {
    "inv": GeneralFunction("inv", _square_matrix("inv"), "_rt.inv({m}, {a}, {what!r})", r"{a}^{{-1}}", _d_inv),
    "det": GeneralFunction("det", lambda s, p: (_square_matrix("det")(s, p), ())[1],
                           "_rt.det({m}, {a}, {what!r})", r"\det\left({a}\right)", _d_det),
    "logdet": GeneralFunction("logdet", lambda s, p: (_square_matrix("logdet")(s, p), ())[1],
                              "_rt.logdet({m}, {a}, {what!r})", r"\log\left|\det {a}\right|", _d_logdet),
    "softmax": GeneralFunction("softmax", _softmax_shape, "_rt.softmax({m}, {a}, {axis})",
                               r"\operatorname{{softmax}}\left({a}\right)", _d_softmax),
    "logsumexp": GeneralFunction("logsumexp", _lse_shape, "_rt.logsumexp({m}, {a}, {axis})",
                                 r"\operatorname{{logsumexp}}\left({a}\right)", _d_logsumexp),
}


def make_general(name: str, arg: ir.Node, params: tuple = ()) -> ir.Node:
    """A General node (softmax, logsumexp, inv, ...) of ``arg``, with its shape and a normalised axis."""
    spec = GENERAL[name]
    params = tuple(sorted(params))
    shape = spec.shape(arg.shape, params)
    if name in ("softmax", "logsumexp") and _axis(params) is not None:
        params = (("axis", _axis(params) % max(arg.rank, 1)),)
    return ir.General.make(name, arg, params, shape)


def general_code(node: ir.General, arg: str, module: str = "np") -> str:
    """Array code of a General node applied to the code ``arg``, on array module ``module``."""
    spec = GENERAL[node.name]
    params = dict(node.params)
    params.setdefault("axis", None)
    return spec.code.format(m=module, a=arg, what=_label(node), **params)


def _label(node: ir.General) -> str:
    """A short name of the node for error messages (cheap: no printing of the whole argument)."""
    arg = node.arg
    inner = arg.name if isinstance(arg, ir.Var) else f"an expression of shape {shape_str(arg.shape)}"
    return f"{node.name}({inner})"
