"""Element-wise functions by name: the built-in records, the user's definitions, and the formula

namespace both are read in.

Built-ins are records in tcnb/primitives/elementwise.py; ``define_elementwise`` (and ``def f(t):`` in
a program) adds a user function, checked when it is defined so that it cannot fail later: a formula
must be a finite real expression in ``t`` whose value and first two derivatives have array code.
General functions (inv, solve, softmax, ...) are records in tcnb/primitives; ``GENERAL`` is their
registry under its old name.
"""
from __future__ import annotations

import functools
import keyword

import sympy

from . import ir
from .errors import TensorSyntaxError
from .primitives import BINARY_FUNCTIONS, ELEMENTWISE_FUNCTIONS, FORMULA_NAMES, LOWERED, REGISTRY, TUPLE_FUNCTIONS, lookup
from .primitives.elementwise import absval, relu, sigmoid, sign, softplus, step  # noqa: F401
from .primitives.printing import _cse, elementwise_code, elementwise_latex, print_formula  # noqa: F401

T = ir.T

ELEMENTWISE: dict[str, sympy.Expr] = {name: rec.formula for name, rec in
                                      list(ELEMENTWISE_FUNCTIONS.items()) + list(BINARY_FUNCTIONS.items())}


def formula_arity(formula) -> int:
    """Number of arguments of an element-wise function: a ``sympy.Lambda`` (a program's
    ``def f(a, b)``) says it; a formula in ir.ARGS takes t and every t_k up to the last it uses."""
    if isinstance(formula, sympy.Lambda):
        return len(formula.variables)
    used = [k for k, s in enumerate(ir.ARGS) if s in sympy.sympify(formula).free_symbols]
    return max(used, default=0) + 1


def formula_body(formula) -> sympy.Expr:
    """The formula in ir.ARGS of an element-wise function (a Lambda's body, or the formula)."""
    return formula.expr if isinstance(formula, sympy.Lambda) else formula


def apply_formula(formula, *args) -> sympy.Expr:
    """The formula with SymPy expressions for its arguments (for formulas built of formulas)."""
    if formula_arity(formula) == 1 and not isinstance(formula, sympy.Lambda):
        return formula.subs(T, args[0])
    body = formula_body(formula)
    return body.xreplace(dict(zip(ir.ARGS, args)))
GENERAL = REGISTRY


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
    ns = dict(FORMULA_NAMES)
    for name, formula in list(ELEMENTWISE.items()) + list(USER_FUNCTIONS.items()):
        ns[name] = (lambda f: (lambda *xs: apply_formula(f, *xs)))(formula)
    return ns


# Names the language itself gives a meaning to (the functions it writes as products: records in
# primitives/lowered.py): define_elementwise may not take them over, since a redefinition would
# silently change every later program that uses them.
LANGUAGE_FUNCTIONS = frozenset(LOWERED) | frozenset(TUPLE_FUNCTIONS)  # and eigh, svd: several results
LANGUAGE_NAMES = LANGUAGE_FUNCTIONS | {"R", "Sym", "SPD"}  # the types of declarations (x: R[n], S: Sym[n])


def define_elementwise(name: str, formula) -> sympy.Expr:
    """Register an element-wise function from a SymPy formula in ``t`` (str or expr) or a callable.

    >>> define_elementwise("swish", "t * sigmoid(t)")   # then swish(x) works in programs

    Built-in names are refused (redefining ``exp`` would change every later program), and so is a
    formula that is not a finite real expression in ``t`` or that has no array code.
    """
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise TensorSyntaxError(f"{name!r} is not a valid function name", expected="a Python identifier")
    if name in ELEMENTWISE or name in FORMULA_NAMES or name in REGISTRY or name in LANGUAGE_NAMES:
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


def elementwise_name(fn: sympy.Expr) -> str | None:
    """The name of an element-wise formula (user-defined first, then built-in); None if it has none."""
    for table in (USER_FUNCTIONS, ELEMENTWISE):
        for name, formula in table.items():
            if formula == fn:
                return name
    return None


def make_general(name: str, arg: ir.Node, params: tuple = ()) -> ir.Node:
    """The General node ``name(arg)`` (a unary record applied; see Primitive.make for n-ary)."""
    return lookup(name).make((arg,), dict(params))
