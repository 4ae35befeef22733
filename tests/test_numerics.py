"""Numerical failure is a NumericalError, never garbage; element-wise functions are accurate in their tails.

Regression tests for issue 11, items 8, 10 and 11 (sigmoid tails, log σ, define_elementwise refusals).
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy

import tcnb
from tcnb.functions import USER_FUNCTIONS

SINGULAR = {
    "rank-1 ones": np.ones((3, 3)),
    "rank-2 (LAPACK returns 1e16 garbage)": np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]),
    "zero": np.zeros((3, 3)),
}
NONFINITE = {"nan": np.full((3, 3), np.nan), "inf": np.diag([1.0, np.inf, 1.0])}

PROG = tcnb.parse("A: R[n, n]\nB = inv(A)\nd = det(A)\nl = logdet(A)\ns = sum(inv(A))\n")


@pytest.mark.parametrize("case", list(SINGULAR))
def test_inv_of_a_singular_matrix_is_a_numerical_error(case):
    with pytest.raises(tcnb.NumericalError, match=r"inv\(A\).*singular"):
        PROG["B"].evaluate(A=SINGULAR[case])


@pytest.mark.parametrize("case", list(SINGULAR))
def test_logdet_of_a_singular_matrix_is_a_numerical_error(case):
    with pytest.raises(tcnb.NumericalError, match=r"logdet\(A\).*-inf"):
        PROG["l"].evaluate(A=SINGULAR[case])


@pytest.mark.parametrize("case", list(SINGULAR))
def test_det_of_a_singular_matrix_is_zero_but_its_gradient_refuses(case):
    assert abs(float(PROG["d"].evaluate(A=SINGULAR[case]))) < 1e-12
    with pytest.raises(tcnb.NumericalError, match="singular"):
        tcnb.grad(PROG["d"], PROG["A"]).evaluate(A=SINGULAR[case])


@pytest.mark.parametrize("name", ["B", "d", "l", "s"])
@pytest.mark.parametrize("case", list(NONFINITE))
def test_nonfinite_inputs_to_linear_algebra_are_named(name, case):
    with pytest.raises(tcnb.NumericalError, match="NaN or infinite"):
        PROG[name].evaluate(A=NONFINITE[case])


@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
def test_derivatives_through_inv_refuse_singular_points(mode):
    H = tcnb.hessian(PROG["s"], PROG["A"], mode=mode)
    with pytest.raises(tcnb.NumericalError):
        H.evaluate(A=SINGULAR["rank-2 (LAPACK returns 1e16 garbage)"])


def test_well_conditioned_inputs_are_unchanged():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4)) + 4 * np.eye(4)
    np.testing.assert_allclose(PROG["B"].evaluate(A=A), np.linalg.inv(A), rtol=1e-12)
    np.testing.assert_allclose(PROG["d"].evaluate(A=A), np.linalg.det(A), rtol=1e-12)


def test_logdet_is_log_abs_det_for_a_negative_determinant():
    A = np.diag([2.0, -3.0, 1.0])
    assert float(PROG["d"].evaluate(A=A)) == pytest.approx(-6.0)
    assert float(PROG["l"].evaluate(A=A)) == pytest.approx(math.log(6.0))
    # d log|det A| / dA = A^{-T}, whatever the sign
    g = tcnb.grad(PROG["l"], PROG["A"]).evaluate(A=A)
    np.testing.assert_allclose(g, np.linalg.inv(A).T, rtol=1e-12)


MATFAC = tcnb.parse("U: R[n, k]\nV: R[m, k]\nT: R[n, m]\nf = sum((T - U @ V.T)**2)\n")


def test_structured_solve_on_a_singular_core_is_a_numerical_error():
    V = np.zeros((4, 3))
    V[:, 0] = 1.0  # V^T V has rank 1
    S = tcnb.hessian(MATFAC["f"], MATFAC["U"]).structured(V=V, n=5)
    with pytest.raises(tcnb.NumericalError, match="compressed core"):
        S.solve(np.ones((5, 3)))


def test_structured_solve_dense_fallback_refuses_singular():
    p = tcnb.parse("x: R[n]\nf = sum(x)**2\n")  # Hessian 2·11ᵀ: rank 1, not block-diagonal
    S = tcnb.hessian(p["f"], p["x"]).structured(x=np.ones(3))
    with pytest.raises(tcnb.NumericalError, match="singular"):
        S.solve(np.ones(3))


def test_structured_solve_still_solves():
    rng = np.random.default_rng(1)
    V = rng.normal(size=(4, 3))
    S = tcnb.hessian(MATFAC["f"], MATFAC["U"]).structured(V=V, n=5)
    b = rng.normal(size=(5, 3))
    np.testing.assert_allclose(S @ S.solve(b), b, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- sigmoid and log σ

Z = np.array([-800.0, -745.0, -200.0, -40.0, -25.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 25.0, 40.0, 200.0, 800.0])


def _exact(f, z):
    """f evaluated with 800 significant digits (exp(-800) next to 1 needs them), rounded to float."""
    x = sympy.Symbol("x")
    with mpmath.workdps(800):
        fn = sympy.lambdify(x, f(x), "mpmath")
        return np.array([float(fn(mpmath.mpf(v))) for v in z])


def test_sigmoid_is_accurate_in_both_tails():
    p = tcnb.parse("z: R[n]\ns = sigmoid(z)\n")
    got = p["s"].evaluate(z=Z)
    want = _exact(lambda x: 1 / (1 + sympy.exp(-x)), Z)
    tiny = want < 1e-300  # below the smallest normal double: only absolute accuracy is possible
    np.testing.assert_allclose(got[~tiny], want[~tiny], rtol=1e-13)
    assert np.all(np.abs(got[tiny]) < 1e-300)


def test_log_sigmoid_is_finite_and_accurate_far_left():
    # log(1 - σ) inside one element-wise formula (a def) is -softplus(u) as well
    p = tcnb.parse("z: R[n]\nl = log(sigmoid(z))\ndef ls1(t): return log(1 - sigmoid(t))\nm = ls1(z)\n")
    want = _exact(lambda x: -sympy.log(1 + sympy.exp(-x)), Z)
    np.testing.assert_allclose(p["l"].evaluate(z=Z), want, rtol=1e-13)
    assert float(p["l"].evaluate(z=np.array([-40.0]))[0]) == pytest.approx(-40.0, rel=1e-15)
    want_m = _exact(lambda x: -sympy.log(1 + sympy.exp(x)), Z)
    np.testing.assert_allclose(p["m"].evaluate(z=Z), want_m, rtol=1e-13)


def test_log_sigmoid_gradient_is_finite_in_the_tails():
    p = tcnb.parse("z: R[n]\nf = sum(log(sigmoid(z)))\n")
    g = tcnb.grad(p["f"], p["z"]).evaluate(z=Z)
    want = _exact(lambda x: 1 / (1 + sympy.exp(x)), Z)  # d/dz log σ(z) = σ(-z)
    tiny = want < 1e-300
    np.testing.assert_allclose(g[~tiny], want[~tiny], rtol=1e-12)


def test_scaled_sigmoid_folds_the_scale_and_stays_accurate():
    p = tcnb.parse("z: R[n]\ns = sigmoid(-3 * z)\n")
    want = _exact(lambda x: 1 / (1 + sympy.exp(3 * x)), Z / 10)
    np.testing.assert_allclose(p["s"].evaluate(z=Z / 10), want, rtol=1e-13)


# ------------------------------------------------------------------------------ define_elementwise

@pytest.fixture
def clean_user_functions():
    before = dict(USER_FUNCTIONS)
    yield
    USER_FUNCTIONS.clear()
    USER_FUNCTIONS.update(before)


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "abs", "inv", "softmax", "sum", "einsum", "step"])
def test_define_elementwise_refuses_builtin_names(name, clean_user_functions):
    with pytest.raises(tcnb.TensorSyntaxError, match="built-in"):
        tcnb.define_elementwise(name, "t")
    p = tcnb.parse("x: R[n]\ny = exp(x)\n")
    np.testing.assert_allclose(p["y"].evaluate(x=np.array([1.0])), [math.e])


@pytest.mark.parametrize("name", ["for", "1x", "a-b", "", None])
def test_define_elementwise_refuses_bad_names(name, clean_user_functions):
    with pytest.raises(tcnb.TensorSyntaxError):
        tcnb.define_elementwise(name, "t")


@pytest.mark.parametrize("formula,why", [
    ("t.foo", "cannot read"), ("[t, t]", "not a scalar"), ("oo", "finite"), ("nan", "finite"),
    ("zoo", "finite"), ("t > 0", "not a scalar"), ("I * t", "finite real"), ("li(t)", "no array code"),
    ("t +", "cannot read"), ("x", "only use the symbol t"), ("__import__('os').getcwd()", "cannot read"),
    (lambda t: 1 / 0, "cannot read"), (lambda t: [t], "not a scalar"),
])
def test_define_elementwise_refuses_bad_formulas(formula, why, clean_user_functions):
    with pytest.raises(tcnb.TensorSyntaxError, match=why):
        tcnb.define_elementwise("badfn", formula)
    assert "badfn" not in USER_FUNCTIONS


def test_define_elementwise_accepts_a_good_formula(clean_user_functions):
    tcnb.define_elementwise("swish2", "t * sigmoid(t)")
    p = tcnb.parse("x: R[n]\nf = sum(swish2(x))\n")
    x = np.array([-1.0, 0.5, 2.0])
    g = tcnb.grad(p["f"], p["x"]).evaluate(x=x)
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(g, s + x * s * (1 - s), rtol=1e-12)
