"""Special element-wise functions (issue 13): log1p expm1 sinh cosh arcsin arccos arctan arcsinh
arccosh arctanh erf erfc ndtr gelu logsigmoid gammaln digamma.

For each: values against NumPy/SciPy (and mpmath in the tails, where stable evaluation matters);
gradient, Hessian and Jacobian of ``g(A x + b)`` objectives in all three modes, compressed or not,
against JAX (x64) and central finite differences, inputs inside the function's domain; LaTeX and
text spellings. Formulas in programs and define_elementwise may use the names; a formula whose
derivative has no array code is refused when it is defined. Then a port of autograd's unary
gradient checks (tests/test_systematic.py's unary_ufunc_check calls, tests/test_scipy.py's
special functions), with autograd's input limits and shapes.
"""
from __future__ import annotations

import re

import mpmath
import numpy as np
import pytest
import scipy.special as ss

import tcnb
from tcnb.functions import USER_FUNCTIONS, define_elementwise
from tcnb.primitives import ELEMENTWISE_FUNCTIONS
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsp = jax.scipy.special

MODES = ("forward", "reverse", "cross-country")

# name -> (NumPy/SciPy implementation, JAX implementation): neither is the record's reference
FUNCTIONS = {
    "log1p": (np.log1p, jnp.log1p),
    "expm1": (np.expm1, jnp.expm1),
    "sinh": (np.sinh, jnp.sinh),
    "cosh": (np.cosh, jnp.cosh),
    "arcsin": (np.arcsin, jnp.arcsin),
    "arccos": (np.arccos, jnp.arccos),
    "arctan": (np.arctan, jnp.arctan),
    "arcsinh": (np.arcsinh, jnp.arcsinh),
    "arccosh": (np.arccosh, jnp.arccosh),
    "arctanh": (np.arctanh, jnp.arctanh),
    "erf": (ss.erf, jsp.erf),
    "erfc": (ss.erfc, jsp.erfc),
    "ndtr": (ss.ndtr, jsp.ndtr),
    "gelu": (lambda t: t * ss.ndtr(t), lambda t: jax.nn.gelu(t, approximate=False)),
    "logsigmoid": (ss.log_expit, jax.nn.log_sigmoid),
    "gammaln": (ss.gammaln, jsp.gammaln),
    "digamma": (ss.digamma, jsp.digamma),
}
NAMES = sorted(FUNCTIONS)


def _inside(name, size, rng, margin=0.05):
    """Points inside the record's domain, away from its ends (finite differences step around them)."""
    lo, hi = ELEMENTWISE_FUNCTIONS[name].domain
    return rng.uniform(lo + margin, hi - margin, size)


def test_every_requested_function_is_a_record():
    assert set(NAMES) <= set(ELEMENTWISE_FUNCTIONS)


@pytest.mark.parametrize("name", NAMES)
def test_value_matches_numpy_scipy(name):
    rng = np.random.default_rng(0)
    x = _inside(name, (4, 3), rng)
    prog = tcnb.parse(f"X: R[m, n]\nY = {name}(X)")
    np.testing.assert_allclose(prog["Y"].evaluate(X=x), FUNCTIONS[name][0](x), rtol=1e-13, atol=1e-15)
    prog32 = tcnb.parse(f"X: R[m, n]\nY = {name}(X)")
    y32 = prog32["Y"].evaluate(X=x.astype(np.float32))
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, FUNCTIONS[name][0](x), rtol=2e-6, atol=1e-6)


# (name, argument, value with mpmath at 30 digits): where the textbook formula loses every digit
TAILS = [
    ("log1p", 1e-12, lambda: mpmath.log1p(mpmath.mpf("1e-12"))),
    ("expm1", 1e-12, lambda: mpmath.expm1(mpmath.mpf("1e-12"))),
    ("logsigmoid", -800.0, lambda: -mpmath.log1p(mpmath.exp(800))),
    ("logsigmoid", 40.0, lambda: -mpmath.log1p(mpmath.exp(-40))),
    ("gelu", -20.0, lambda: -20 * mpmath.ncdf(-20)),
    ("ndtr", -30.0, lambda: mpmath.ncdf(-30)),
    ("erfc", 20.0, lambda: mpmath.erfc(20)),
    ("gammaln", 1e5, lambda: mpmath.loggamma(100000)),
    ("arctanh", 1e-10, lambda: mpmath.atanh(mpmath.mpf("1e-10"))),
]


@pytest.mark.parametrize("name, x, exact", TAILS, ids=[f"{n}({x:g})" for n, x, _ in TAILS])
def test_stable_in_the_tails(name, x, exact):
    mpmath.mp.dps = 30
    prog = tcnb.parse(f"x: R[n]\ny = {name}(x)")
    got = prog["y"].evaluate(x=np.array([x]))[0]
    assert got != 0 and np.isfinite(got)
    np.testing.assert_allclose(got, float(exact()), rtol=1e-13)


@pytest.mark.parametrize("name", ["logsigmoid", "gelu"])
def test_derivatives_stable_in_the_tails(name):
    """logsigmoid' = σ(-u), gelu' = Φ(u) + u φ(u): finite, and right, far out in both tails."""
    x = np.array([-800.0, -30.0, 30.0, 800.0])
    prog = tcnb.parse(f"x: R[n]\nf = sum({name}(x))")
    g = tcnb.grad(prog["f"], "x").evaluate(x=x)
    h = np.diag(tcnb.hessian(prog["f"], "x").evaluate(x=x))
    jf = FUNCTIONS[name][1]
    want_g = np.array([jax.grad(jf)(t) for t in x])
    want_h = np.array([jax.grad(jax.grad(jf))(t) for t in x])
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    np.testing.assert_allclose(g, want_g, rtol=1e-12, atol=1e-300)
    # the second derivative goes through sigmoid' = σ(1 - σ), which keeps absolute (not relative)
    # accuracy where σ → 1 (here logsigmoid'' at u ≪ 0); JAX's log_sigmoid has the same 1 - σ
    np.testing.assert_allclose(h, want_h, rtol=1e-10, atol=2e-15)


def _affine_problem(name, seed, m=5, n=3):
    """A, x, b with A x + b inside the domain of ``name`` (b absorbs the offset)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n) * 0.3
    x = rng.standard_normal(n)
    b = _inside(name, m, rng, margin=0.15) - A @ x
    return A, x, b


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_gradient_and_hessian_match_jax_and_finite_differences(name, mode, compress):
    A, x, b = _affine_problem(name, seed=len(name))
    prog = tcnb.parse(f"A: R[m, n]\nx: R[n]\nb: R[m]\nf = sum({name}(A @ x + b) * {name}(A @ x + b)) "
                      f"+ sum({name}(A @ x + b))")
    g_np, g_jax = FUNCTIONS[name]

    def obj(v, xp=jnp, g=g_jax):
        u = g(A @ v + b)
        return xp.sum(u * u) + xp.sum(u)
    args = dict(A=A, x=x, b=b)
    grad = tcnb.grad(prog["f"], "x", mode=mode, compress=compress)
    G = grad.evaluate(**args)
    H = tcnb.hessian(prog["f"], "x", mode=mode, compress=compress).evaluate(**args)
    np.testing.assert_allclose(G, jax.grad(obj)(jnp.asarray(x)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, jax.hessian(obj)(jnp.asarray(x)), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(G, central_diff(lambda v: obj(v, np, g_np), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, central_diff(lambda v: grad.evaluate(A=A, x=v, b=b), x, h=1e-5),
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(H, H.T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_jacobian_matches_jax_and_finite_differences(name, mode, compress):
    A, x, b = _affine_problem(name, seed=len(name) + 7)
    prog = tcnb.parse(f"A: R[m, n]\nx: R[n]\nb: R[m]\ny = {name}(A @ x + b)")
    g_np, g_jax = FUNCTIONS[name]
    J = tcnb.jacobian(prog["y"], "x", mode=mode, compress=compress).evaluate(A=A, x=x, b=b)
    np.testing.assert_allclose(J, jax.jacfwd(lambda v: g_jax(A @ v + b))(jnp.asarray(x)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(J, central_diff(lambda v: g_np(A @ v + b), x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
def test_hessian_with_respect_to_a_matrix(name, mode):
    """d²/dA² of sum(g(A x + b)): the derivative lands on the matrix (rank-4 Hessian)."""
    A, x, b = _affine_problem(name, seed=3, m=3, n=2)
    prog = tcnb.parse(f"A: R[m, n]\nx: R[n]\nb: R[m]\nf = sum({name}(A @ x + b))")
    H = tcnb.hessian(prog["f"], "A", mode=mode).evaluate(A=A, x=x, b=b)
    g_jax = FUNCTIONS[name][1]
    want = jax.hessian(lambda M: jnp.sum(g_jax(M @ x + b)))(jnp.asarray(A))
    np.testing.assert_allclose(H, want, rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------------------------ spellings

LATEX = {"log1p": r"\operatorname{log1p}", "expm1": r"\operatorname{expm1}", "sinh": r"\sinh",
         "cosh": r"\cosh", "arcsin": r"\arcsin", "arccos": r"\arccos", "arctan": r"\arctan",
         "arcsinh": r"\operatorname{arcsinh}", "arccosh": r"\operatorname{arccosh}",
         "arctanh": r"\operatorname{arctanh}", "erf": r"\operatorname{erf}", "erfc": r"\operatorname{erfc}",
         "ndtr": r"\Phi", "gelu": r"\operatorname{gelu}", "logsigmoid": r"\log\sigma",
         "gammaln": r"\ln\Gamma", "digamma": r"\psi"}


@pytest.mark.parametrize("name", NAMES)
def test_latex_and_text_name_the_function(name):
    prog = tcnb.parse(f"x: R[n]\nf = sum({name}(x))")
    assert LATEX[name] in prog["f"].latex(), prog["f"].latex()
    assert f"{name}(x)" in prog["f"].einstein()
    grad_tex = tcnb.grad(prog["f"], "x").latex()
    assert "operatorname{polygamma}" not in grad_tex and r"\text{" not in grad_tex, grad_tex


def test_latex_of_derivatives_of_gammaln():
    prog = tcnb.parse("x: R[n]\nf = sum(gammaln(x))")
    assert r"\psi\left(" in tcnb.grad(prog["f"], "x").latex()
    assert r"\psi^{(1)}\left(" in tcnb.hessian(prog["f"], "x").latex()
    prog = tcnb.parse("x: R[n]\nf = sum(digamma(x))")
    assert r"\psi^{(2)}\left(" in tcnb.hessian(prog["f"], "x").latex()


def test_generated_code_calls_scipy_special_through_the_runtime():
    prog = tcnb.parse("x: R[n]\nf = sum(gammaln(x) + erf(x))")
    value = prog["f"].to_source(n=3)
    hess = tcnb.hessian(prog["f"], "x").to_source(n=3)
    assert "_rt.special(xp).gammaln(" in value and "_rt.special(xp).erf(" in value, value
    assert "_rt.special(xp).polygamma(1, " in hess, hess
    assert "scipy" not in value + hess and "1.772453850905516" in hess, hess  # sqrt(pi), a number


def test_runtime_special_and_the_backend_seam():
    from tcnb.backend import registry, runtime
    assert runtime.special(np) is ss
    assert runtime.special(jnp) is jsp
    assert registry.get_backend("numpy").runtime().special(np) is ss
    with pytest.raises(tcnb.TcnbError, match="special functions"):
        runtime.special(object())


def test_standalone_module_with_special_functions():
    from tcnb.backend import standalone
    prog = tcnb.parse("A: R[m, n]\nx: R[n]\nf = sum(gammaln(exp(A @ x)) + erf(A @ x) + gelu(A @ x))")
    H = tcnb.hessian(prog["f"], "x")
    src = H.to_source(standalone=True)
    assert "def special(xp)" in src and not re.search(r"^\s*(from|import) tcnb", src, re.M)
    scope = {}
    exec(compile(src, "<standalone>", "exec"), scope)
    rng = np.random.default_rng(5)
    A, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(scope[standalone.function_name(H.name)](A, x), H.evaluate(A=A, x=x), rtol=1e-13)


# ----------------------------------------------------------------------- the names in formulas

@pytest.fixture
def clean_user_functions():
    before = dict(USER_FUNCTIONS)
    yield
    USER_FUNCTIONS.clear()
    USER_FUNCTIONS.update(before)


def test_define_elementwise_with_special_names(clean_user_functions):
    define_elementwise("sp_e", "erf(t)")
    define_elementwise("sp_mix", "erf(t) * gammaln(1 + t**2) + arctan(t) - logsigmoid(2*t)")
    define_elementwise("sp_tri", "polygamma(1, t)")
    define_elementwise("sp_pi", "sin(pi * t) / sqrt(2 * pi)")
    x = np.linspace(0.2, 1.8, 5)
    prog = tcnb.parse("x: R[n]\nf = sum(sp_e(x) + sp_mix(x) + sp_tri(x) + sp_pi(x))")

    def ref(v, xp=jnp, s=jsp):
        return xp.sum(s.erf(v) + s.erf(v) * s.gammaln(1 + v ** 2) + xp.arctan(v) + jax.nn.softplus(-2 * v)
                      + s.polygamma(1, v) + xp.sin(np.pi * v) / np.sqrt(2 * np.pi))
    np.testing.assert_allclose(prog["f"].evaluate(x=x), ref(x, np, ss), rtol=1e-12)
    for mode in MODES:
        np.testing.assert_allclose(tcnb.grad(prog["f"], "x", mode=mode).evaluate(x=x),
                                   jax.grad(ref)(jnp.asarray(x)), rtol=1e-10)
        np.testing.assert_allclose(tcnb.hessian(prog["f"], "x", mode=mode).evaluate(x=x),
                                   jax.hessian(ref)(jnp.asarray(x)), rtol=1e-9, atol=1e-12)


def test_def_in_a_program_with_special_names():
    prog = tcnb.parse("x: R[n]\ndef f(t): return erf(t) + gammaln(t)\ng = sum(f(x))")
    x = np.array([0.5, 1.5, 2.5])
    np.testing.assert_allclose(prog["g"].evaluate(x=x), np.sum(ss.erf(x) + ss.gammaln(x)), rtol=1e-13)
    ref = lambda v: jnp.sum(jsp.erf(v) + jsp.gammaln(v))  # noqa: E731
    for mode in MODES:
        np.testing.assert_allclose(tcnb.hessian(prog["g"], "x", mode=mode).evaluate(x=x),
                                   jax.hessian(ref)(jnp.asarray(x)), rtol=1e-10)


@pytest.mark.parametrize("formula, function", [("li(t)", "li"), ("zeta(t)", "zeta"), ("erfinv(t)", "erfinv"),
                                               ("t + lerchphi(t, 2, 3)", "lerchphi")])
def test_a_formula_without_array_code_is_refused_at_definition(clean_user_functions, formula, function):
    with pytest.raises(tcnb.TensorSyntaxError, match=rf"uses {function}, which has no array code"):
        define_elementwise("sp_bad", formula)
    assert "sp_bad" not in USER_FUNCTIONS


@pytest.mark.parametrize("formula", ["besselj(t, 2)", "polygamma(t, 2)"])
def test_a_derivative_without_array_code_is_refused_at_definition(clean_user_functions, formula):
    """The value prints (scipy.special.jv, polygamma) but the derivative in the order does not."""
    with pytest.raises(tcnb.TensorSyntaxError, match="its derivative of order 1 uses derivative of"):
        define_elementwise("sp_bad2", formula)


# ------------------------------------------------------------------- autograd's tests, ported
# From HIPS/autograd tests/test_systematic.py (unary_ufunc_check: the real-valued functions tcnb
# has, or can define as formulas) and tests/test_scipy.py (special functions). autograd's check:
# inputs lims[0] + u (lims[1] - lims[0]) for a scalar, shapes (2,), (3, 2), (1, 2); gradients to
# order 2 against finite differences. Here: value against NumPy/SciPy, gradient against central
# differences of NumPy/SciPy, the Hessian's diagonal against second differences (its off-diagonal
# exactly 0), in every mode. Complex inputs (test_complex=True) have no tcnb counterpart.

AUTOGRAD = [  # (autograd test, tcnb name or formula, lims, NumPy/SciPy function)
    ("test_systematic.test_abs", "abs", (0.1, 4.0), np.abs),
    ("test_systematic.test_absolute", "abs", (0.1, 4.0), np.absolute),
    ("test_systematic.test_arccosh", "arccosh", (1.1, 4.0), np.arccosh),
    ("test_systematic.test_arcsinh", "arcsinh", (-0.9, 0.9), np.arcsinh),
    ("test_systematic.test_arctanh", "arctanh", (-0.9, 0.9), np.arctanh),
    ("test_systematic.test_cos", "cos", (-2, 2), np.cos),
    ("test_systematic.test_cosh", "cosh", (-2, 2), np.cosh),
    ("test_systematic.test_deg2rad", "t * pi / 180", (-2, 2), np.deg2rad),
    ("test_systematic.test_degrees", "180 * t / pi / 50", (-2, 2), lambda x: np.degrees(x) / 50.0),
    ("test_systematic.test_exp", "exp", (-2, 2), np.exp),
    ("test_systematic.test_exp2", "2**t", (-2, 2), np.exp2),
    ("test_systematic.test_expm1", "expm1", (-2, 2), np.expm1),
    ("test_systematic.test_fabs", "abs", (-2, 2), np.fabs),
    ("test_systematic.test_log", "log", (0.2, 2.0), np.log),
    ("test_systematic.test_log10", "log(t) / log(10)", (0.2, 2.0), np.log10),
    ("test_systematic.test_log1p", "log1p", (0.2, 2.0), np.log1p),
    ("test_systematic.test_log2", "log(t) / log(2)", (0.2, 2.0), np.log2),
    ("test_systematic.test_rad2deg", "180 * t / pi / 50", (-2, 2), lambda x: np.rad2deg(x) / 50.0),
    ("test_systematic.test_radians", "t * pi / 180", (-2, 2), np.radians),
    ("test_systematic.test_sign", "sign", (-2, 2), np.sign),
    ("test_systematic.test_sin", "sin", (-2, 2), np.sin),
    ("test_systematic.test_sinh", "sinh", (-2, 2), np.sinh),
    ("test_systematic.test_sqrt", "sqrt", (1.0, 3.0), np.sqrt),
    ("test_systematic.test_square", "square", (-2, 2), np.square),
    ("test_systematic.test_tan", "tan", (-1.1, 1.1), np.tan),
    ("test_systematic.test_tanh", "tanh", (-2, 2), np.tanh),
    ("test_scipy.test_psi", "digamma", (0.3, 2.0), ss.psi),
    ("test_scipy.test_digamma", "digamma", (0.3, 2.0), ss.digamma),
    ("test_scipy.test_polygamma", "polygamma(0, t)", (0.3, 2.0), lambda x: ss.polygamma(0, x)),
    ("test_scipy.test_gamma", "gamma(t)", (0.3, 2.0), ss.gamma),
    ("test_scipy.test_gammaln", "gammaln", (0.3, 2.0), ss.gammaln),
    ("test_scipy.test_rgamma", "1 / gamma(t)", (0.3, 2.0), ss.rgamma),
    ("test_scipy.test_j0", "besselj(0, t)", (0.2, 20.0), ss.j0),
    ("test_scipy.test_j1", "besselj(1, t)", (0.2, 20.0), ss.j1),
    ("test_scipy.test_y0", "bessely(0, t)", (0.2, 20.0), ss.y0),
    ("test_scipy.test_y1", "bessely(1, t)", (0.2, 20.0), ss.y1),
    ("test_scipy.test_i0", "besseli(0, t)", (0.2, 20.0), ss.i0),
    ("test_scipy.test_i1", "besseli(1, t)", (0.2, 20.0), ss.i1),
    ("test_scipy.test_jn", "besselj(2, t)", (0.3, 3.3), lambda x: ss.jn(2, x)),  # R(4)**2 + 1.3
    ("test_scipy.test_yn", "bessely(2, t)", (1.3, 4.3), lambda x: ss.yn(2, x)),
    ("test_scipy.test_erf", "erf", (-3.0, 3.0), ss.erf),
    ("test_scipy.test_erfc", "erfc", (-3.0, 3.0), ss.erfc),
    ("test_scipy.test_logit", "log(t / (1 - t))", (0.10, 0.90), ss.logit),
    ("test_scipy.test_expit", "sigmoid", (-4.05, 4.95), ss.expit),
]
# autograd tests not ported: erfinv, erfcinv (SymPy has no SciPy printer for them: refused, tested
# above), gammasgn (no SymPy function), ceil/floor (not tcnb functions), iv/ive/multigammaln/betainc/
# gammainc (derivatives in several arguments), real/imag/conj/angle (complex).


def _autograd_inputs(lims, seed):
    """autograd's unary_ufunc_check inputs: a scalar (u = 0.4) and shapes (2,), (3, 2), (1, 2)."""
    rng = np.random.default_rng(seed)
    lo, hi = lims
    return [np.array(lo + 0.4 * (hi - lo))] + [lo + rng.random(s) * (hi - lo) for s in ((2,), (3, 2), (1, 2))]


_DECL = {0: "x: R", 1: "x: R[n]", 2: "x: R[m, n]"}


@pytest.mark.parametrize("test, fn, lims, ref", AUTOGRAD, ids=[a[0] for a in AUTOGRAD])
def test_autograd_unary_check(clean_user_functions, test, fn, lims, ref):
    name = fn
    if not fn.isidentifier():
        name = "ag_fn"
        define_elementwise(name, fn)
    for k, x in enumerate(_autograd_inputs(lims, seed=len(test))):
        prog = tcnb.parse(f"{_DECL[x.ndim]}\nf = sum({name}(x))")
        np.testing.assert_allclose(prog["f"].evaluate(x=x), np.sum(ref(x)), rtol=1e-12, err_msg=test)
        h = 1e-4 * max(1.0, float(np.max(np.abs(x))))
        want_g = (ref(x + h) - ref(x - h)) / (2 * h)
        want_h = (ref(x + h) - 2 * ref(x) + ref(x - h)) / h ** 2
        for mode in MODES:
            compress = k != 2 or mode != "forward"  # one shape per function also uncompressed
            g = tcnb.grad(prog["f"], "x", mode=mode, compress=compress).evaluate(x=x)
            np.testing.assert_allclose(g, want_g, rtol=1e-6, atol=1e-7, err_msg=f"{test} {x.shape} {mode}")
            H = np.asarray(tcnb.hessian(prog["f"], "x", mode=mode, compress=compress).evaluate(x=x))
            Hm = H.reshape(x.size, x.size)
            np.testing.assert_allclose(np.diag(Hm), want_h.reshape(-1), rtol=2e-5, atol=1e-5,
                                       err_msg=f"{test} {x.shape} {mode} Hessian")
            np.testing.assert_array_equal(Hm - np.diag(np.diag(Hm)), 0.0)


def test_sympy_spellings_in_a_formula_are_the_records_functions(clean_user_functions):
    """asin, loggamma, ... (SymPy's names) in a formula are arcsin, gammaln: same code and LaTeX."""
    define_elementwise("sp_alias", "asin(t) + loggamma(t + 1) + atanh(t / 2)")
    prog = tcnb.parse("x: R[n]\nf = sum(sp_alias(x))")
    tex = prog["f"].latex() + tcnb.hessian(prog["f"], "x").latex()
    assert r"\arcsin" in tex and r"\ln\Gamma" in tex and r"\operatorname{arctanh}" in tex, tex
    assert "polygamma" not in tex and "asin" not in tex, tex
    x = np.array([-0.5, 0.1, 0.7])
    ref = lambda v: jnp.sum(jnp.arcsin(v) + jsp.gammaln(v + 1) + jnp.arctanh(v / 2))  # noqa: E731
    np.testing.assert_allclose(tcnb.hessian(prog["f"], "x").evaluate(x=x), jax.hessian(ref)(jnp.asarray(x)),
                               rtol=1e-10, atol=1e-13)
    with pytest.raises(tcnb.TensorSyntaxError, match="built-in"):
        define_elementwise("asin", "t")


@pytest.mark.parametrize("framework", ["jax", "autograd", "torch"])
def test_benchmark_baselines_run_special_functions(framework):
    """The traced code of the benchmarks' baselines calls _rt.special(xp) too (bench/shims.py)."""
    from tcnb.bench.baselines import _function_of, traced_source
    prog = tcnb.parse("A: R[m, n]\nx: R[n]\nf = sum(gammaln(exp(A @ x)) + erf(A @ x) + digamma(exp(A @ x)) "
                      "+ arcsinh(A @ x) + expm1(A @ x))")
    gen, names = traced_source(prog["f"], {"m": 4, "n": 3})
    rng = np.random.default_rng(0)
    A, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    want = tcnb.grad(prog["f"], "x").evaluate(A=A, x=x)
    if framework == "jax":
        f = _function_of(gen, jnp, jnp.float64)
        got = jax.grad(lambda v: f(*[jnp.asarray(A) if n == "A" else v for n in names]))(jnp.asarray(x))
    elif framework == "autograd":
        autograd = pytest.importorskip("autograd")
        f = _function_of(gen, autograd.numpy, np.float64)
        got = autograd.grad(lambda v: f(*[A if n == "A" else v for n in names]))(x)
    else:
        torch = pytest.importorskip("torch")
        from tcnb.bench.shims import TorchNamespace
        f = _function_of(gen, TorchNamespace(torch), torch.float64)
        v = torch.tensor(x, requires_grad=True)
        f(*[torch.tensor(A) if n == "A" else v for n in names]).backward()
        got = v.grad.detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8)
