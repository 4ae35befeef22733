"""Tests generated over the primitive registries: a function is tested by being registered.

For every general record (tcnb/primitives): its example program evaluates like the record's own
reference; its Jacobian with respect to every operand, in every mode, compressed or not, matches
JAX's (x64) derivative of the reference and central finite differences; the Hessian of a scalar
objective through it matches JAX; every spelling renders. For every element-wise record: value,
first and second derivatives against the reference under JAX, and its generated code against
SymPy's own lambdify (an independent printer).
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import sympy

import tcnb
from tcnb import ir
from tcnb.primitives import ELEMENTWISE_FUNCTIONS, REGISTRY
from tcnb.primitives.printing import elementwise_code
from tcnb.render.dot import label
from conftest import concrete_shape, random_array
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = jax.scipy.special

MODES = ("forward", "reverse", "cross-country")
SIZES = {"n": 4, "k": 3, "m": 3}
GENERAL = sorted(REGISTRY)
ELEMENTWISE = sorted(ELEMENTWISE_FUNCTIONS)


def _example(name):
    rec = REGISTRY[name]
    prog = tcnb.parse(rec.example)
    f = prog["f"]
    assert isinstance(f.node, ir.General) and f.node.name == name, "the example must end in f = <call>"
    return rec, prog, f


def _inputs(rec, f, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for arg, op in zip(f.node.args, rec.operands):
        shape = concrete_shape(arg.shape, SIZES)
        kind = {"invertible": "spd", "spd": "spd", "symmetric": "symmetric",
                "triangular": "triangular"}.get(op.sample, "normal")
        arrays[arg.name] = random_array(shape, rng, kind=kind)
    return arrays


def _reference(rec, f, xp):
    names = [a.name for a in f.node.args]
    params = dict(f.node.params)
    return lambda *xs: rec.reference(xp, *xs, **params), names


@pytest.mark.parametrize("name", GENERAL)
def test_record_is_complete(name):
    rec = REGISTRY[name]
    assert rec.arity == len(rec.derivatives) >= 1
    call, rule, _ = rec.doc
    assert call and rule, f"{name}: the docs row (call, rule) is empty"
    assert rec.example, f"{name}: no example program"
    assert rec.signature().startswith(f"{name}(")


@pytest.mark.parametrize("name", GENERAL)
def test_value_matches_reference(name):
    rec, prog, f = _example(name)
    arrays = _inputs(rec, f)
    ref, names = _reference(rec, f, np)
    np.testing.assert_allclose(f.evaluate(**arrays), ref(*[arrays[n] for n in names]), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", GENERAL)
def test_jacobian_of_every_operand_matches_jax_and_finite_differences(name, mode, compress):
    rec, prog, f = _example(name)
    arrays = _inputs(rec, f, seed=1)
    ref, names = _reference(rec, f, jnp)
    ref_np, _ = _reference(rec, f, np)
    for k, var in enumerate(names):
        J = tcnb.jacobian(f, prog[var], mode=mode, compress=compress).evaluate(**arrays)
        expected = jax.jacfwd(ref, argnums=k)(*[jnp.asarray(arrays[n]) for n in names])
        np.testing.assert_allclose(J, expected, rtol=1e-8, atol=1e-10, err_msg=f"d{name}/d{var} ({mode})")

        def moved(x, k=k):
            args = [arrays[n] for n in names]
            args[k] = x
            return ref_np(*args)
        fd = central_diff(moved, arrays[var])
        np.testing.assert_allclose(J, fd, rtol=1e-5, atol=1e-6, err_msg=f"d{name}/d{var} ({mode}) vs FD")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", GENERAL)
def test_hessian_through_the_primitive_matches_jax(name, mode):
    rec, prog, f = _example(name)
    arrays = _inputs(rec, f, seed=2)
    ref, names = _reference(rec, f, jnp)
    src = rec.example + "\ns = sum(f * f)"
    prog = tcnb.parse(src)
    for k, var in enumerate(names):
        H = tcnb.hessian(prog["s"], prog[var], mode=mode).evaluate(**arrays)
        expected = jax.hessian(lambda *xs: jnp.sum(ref(*xs) ** 2), argnums=k)(
            *[jnp.asarray(arrays[n]) for n in names])
        np.testing.assert_allclose(H, expected, rtol=1e-7, atol=1e-9, err_msg=f"{name}, {var}, {mode}")


@pytest.mark.parametrize("name", GENERAL)
def test_every_spelling_renders(name):
    rec, prog, f = _example(name)
    names = [a.name for a in f.node.args]
    for style in ("latex", "matrix_latex", "matrix", "text"):
        text = rec.spell(style, names, names, f.node.params)
        assert all(n in text for n in names), (style, text)
    assert not f.latex().startswith(r"\text{"), f.latex()   # the LaTeX printer's failure form
    assert name in f.einstein()
    assert name in label(f.node)
    g = tcnb.grad(tcnb.parse(rec.example + "\ns = sum(f * f)")["s"], names[0])
    assert not g.latex().startswith(r"\text{"), g.latex()
    stats = f.stats(**SIZES)
    assert stats["flops"] > 0 if isinstance(stats, dict) else stats.flops > 0


@pytest.mark.parametrize("name", GENERAL)
def test_generated_code_calls_what_the_record_says(name):
    rec, prog, f = _example(name)
    code = f.to_source(**SIZES)
    head = rec.code.split("(")[0].replace("{m}", "xp")
    assert head in code, code


# ------------------------------------------------------------------------------- element-wise records

def _points(rec, size=7, seed=0):
    lo, hi = rec.domain
    return np.random.default_rng(seed).uniform(lo, hi, size)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_value_and_derivatives_match_jax(name):
    rec = ELEMENTWISE_FUNCTIONS[name]
    prog = tcnb.parse(f"x: R[n]\nf = sum({name}(x))")
    x = _points(rec)
    np.testing.assert_allclose(prog["f"].evaluate(x=x), np.sum(rec.reference(np, scipy.special, x)), rtol=1e-12)
    scalar = lambda t: rec.reference(jnp, jsp, t)  # noqa: E731
    d1 = np.array([jax.grad(scalar)(t) for t in x])
    d2 = np.array([jax.grad(jax.grad(scalar))(t) for t in x])
    for mode in MODES:
        np.testing.assert_allclose(tcnb.grad(prog["f"], "x", mode=mode).evaluate(x=x), d1, rtol=1e-9, atol=1e-12)
        H = tcnb.hessian(prog["f"], "x", mode=mode).evaluate(x=x)
        np.testing.assert_allclose(H, np.diag(d2), rtol=1e-8, atol=1e-10, err_msg=f"{name}'' ({mode})")


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_code_agrees_with_sympy_lambdify(name):
    rec = ELEMENTWISE_FUNCTIONS[name]
    x = _points(rec, seed=3)
    for order in range(3):
        f = sympy.diff(rec.formula, ir.T, order) if order else rec.formula
        lines, expr = elementwise_code(f, "x", module="np")
        scope = {"np": np, "x": x, "_rt": _Special}
        for tmp, code in lines:
            scope[tmp] = eval(code, scope)
        ours = eval(expr, scope)
        plain = f.replace(lambda e: type(e).__name__ in _TEXTBOOK,
                          _textbook)
        theirs = sympy.lambdify(ir.T, plain, modules=["scipy", "numpy"])(x)
        np.testing.assert_allclose(ours, np.broadcast_to(theirs, x.shape), rtol=1e-11, atol=1e-13,
                                   err_msg=f"{name}, order {order}")


_TEXTBOOK = {  # tcnb's own functions in SymPy's textbook forms (so lambdify prints them its own way)
    "sigmoid": lambda u: 1 / (1 + sympy.exp(-u)), "softplus": lambda u: sympy.log(1 + sympy.exp(u)),
    "relu": lambda u: sympy.Max(u, 0), "step": lambda u: sympy.Piecewise((1, u > 0), (0, True)),
    "sign": sympy.sign, "absval": sympy.Abs, "logsigmoid": lambda u: -sympy.log(1 + sympy.exp(-u)),
    "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan, "arcsinh": sympy.asinh,
    "arccosh": sympy.acosh, "arctanh": sympy.atanh, "log1p": lambda u: sympy.log(1 + u),
    "expm1": lambda u: sympy.exp(u) - 1, "gammaln": sympy.loggamma, "digamma": lambda u: sympy.polygamma(0, u),
    "ndtr": lambda u: (1 + sympy.erf(u / sympy.sqrt(2))) / 2,
    "gelu": lambda u: u * (1 + sympy.erf(u / sympy.sqrt(2))) / 2,
    "polygamma": lambda n, u: sympy.polygamma(n, u),  # tcnb's subclass -> SymPy's own
}


def _textbook(e):
    """A tcnb function in its textbook form, for lambdify (an independent printer)."""
    return _TEXTBOOK[type(e).__name__](*e.args)


class _Special:
    """The ``_rt`` the generated element-wise code sees: only ``special(xp)``."""
    @staticmethod
    def special(xp):
        return scipy.special


FORMULAS = ["1/(t**2 + 1)", "t/(t + 1)", "(t + 1)**(3/2)", "(t**2 + 1)**(-3/2)", "sigmoid(-2*(t + 1))",
            "sigmoid(t**2 + t)", "exp(-(t - 1)**2/2)", "1/(2*t + 3) - 1/(t + 3)**2", "sqrt(t**2 + 1) * tanh(3*t)",
            "log(1 + t**2) / (1 + exp(t))", "2**t + t**3", "softplus(1 - t) * relu(t - 0.5)"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_composed_formulas_print_with_the_right_precedence(formula):
    f = tcnb.functions._read_formula("f", formula)
    x = np.linspace(-1.5, 2.0, 9)
    for order in range(3):
        g = sympy.diff(f, ir.T, order) if order else f
        lines, expr = elementwise_code(g, "x", module="np")
        scope = {"np": np, "x": x, "_rt": _Special}
        for tmp, code in lines:
            scope[tmp] = eval(code, scope)
        plain = g.replace(lambda e: type(e).__name__ in _TEXTBOOK,
                          _textbook)
        theirs = sympy.lambdify(ir.T, plain, modules=["scipy", "numpy"])(x)
        np.testing.assert_allclose(eval(expr, scope), theirs, rtol=1e-10, atol=1e-12, err_msg=f"{g}")
