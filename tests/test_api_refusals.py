"""Inputs the public API must refuse with a TcnbError instead of accepting (or hanging on): orders that
are not plain integers or are too high, variables and hvp directions of another program, and bad
arguments of tcnb.check (including garbage formulas: only TcnbError may escape)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcnb
from tcnb import api

LOGREG = """X: R[m, n]
y: R[m]
w: R[n]
v: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
"""
OTHER = """w: R[m, n]
k: R[n]
X: R[n]
d: R[n]
g = sum(w)
"""
SAME = "w: R[n]\nd2: R[n]\nh = sum(w)\n"
SIZES = {"m": 4, "n": 3}


@pytest.fixture(scope="module")
def p():
    return tcnb.parse(LOGREG)


@pytest.fixture(scope="module")
def other():
    return tcnb.parse(OTHER)


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.normal(size=(4, 3)), "y": rng.normal(size=4), "w": rng.normal(size=3), "v": rng.normal(size=3)}


# ------------------------------------------------------------------------------------ orders

@pytest.mark.parametrize("order", [True, False, 1.0, 2.5, -1, "2", None, np.True_, np.float64(2.0)])
def test_order_must_be_a_plain_nonnegative_integer(p, order):
    with pytest.raises(tcnb.DerivativeError, match="order must be a non-negative integer"):
        tcnb.derivative(p["f"], p["w"], order=order)


def test_numpy_integer_orders_are_integers(p):
    assert tcnb.derivative(p["f"], p["w"], order=np.int64(2)) == tcnb.derivative(p["f"], p["w"], order=2)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("order", [api.MAX_ORDER + 1, 100_000])
def test_order_is_bounded_and_says_the_maximum(p, order):
    with pytest.raises(tcnb.DerivativeError) as info:
        tcnb.derivative(p["f"], p["w"], order=order)
    text = str(info.value)
    assert f"order {order} is too high" in text and f"up to {api.MAX_ORDER}" in text
    assert "tcnb.jacobian" in text  # the way to go further on purpose


def test_the_maximum_order_itself_is_derived():
    p = tcnb.parse("c: R\nh = exp(c)\n")
    D = tcnb.derivative(p["h"], p["c"], order=api.MAX_ORDER)
    assert np.isclose(float(D.evaluate(c=np.array(0.3))), np.exp(0.3))


def test_rank_past_what_arrays_hold_is_refused():
    dims = ", ".join(f"a{k}" for k in range(8))
    p = tcnb.parse(f"A: R[{dims}]\ns = sum(A)\n")
    assert tcnb.derivative(p["s"], p["A"], order=1).shape == p["A"].shape
    with pytest.raises(tcnb.DerivativeError, match="72 axes.*at most 64"):
        tcnb.derivative(p["s"], p["A"], order=9)


# ------------------------------------------------------------------------------------ variables of another program

@pytest.mark.parametrize("fn", ["grad", "jacobian", "hessian", "derivative"])
def test_same_name_other_shape_is_refused_naming_both(p, other, fn):
    with pytest.raises(tcnb.DerivativeError) as info:
        getattr(tcnb, fn)(p["f"], other["w"])
    text = str(info.value)
    assert "w: R[m, n]" in text and "w: R[n]" in text and "different programs" in text


def test_variable_not_declared_in_fs_program_is_refused(p, other):
    with pytest.raises(tcnb.DerivativeError, match="'k'.*not a variable of f's program"):
        tcnb.grad(p["f"], other["k"])


def test_unused_variable_of_the_same_program_gives_zero(p):
    g = tcnb.grad(p["f"], p["v"])
    assert g.shape == p["v"].shape
    assert np.array_equal(g.evaluate(**_arrays()), np.zeros(3))


def test_identical_declaration_in_another_program_is_the_same_variable(p):
    w_same = tcnb.parse(SAME)["w"]
    assert w_same.node is p["w"].node  # hash-consing: same name and shape, one variable
    assert tcnb.grad(p["f"], w_same) == tcnb.grad(p["f"], p["w"])


def test_string_wrt_still_works(p):
    assert tcnb.grad(p["f"], "w") == tcnb.grad(p["f"], p["w"])


# ------------------------------------------------------------------------------------ hvp directions

def test_hvp_direction_that_f_uses_is_refused(p):
    with pytest.raises(tcnb.DerivativeError, match="direction w is a variable of f"):
        tcnb.hvp(p["f"], p["w"], p["w"])


def test_hvp_direction_named_like_a_variable_of_f_is_refused(p, other):
    with pytest.raises(tcnb.DerivativeError) as info:
        tcnb.hvp(p["f"], p["w"], other["X"])  # shaped like w, but named like f's data X
    text = str(info.value)
    assert "X: R[n]" in text and "X: R[m, n]" in text


def test_hvp_direction_of_another_shape_is_a_shape_error(p, other):
    with pytest.raises(tcnb.ShapeError, match="direction"):
        tcnb.hvp(p["f"], p["w"], other["w"])


@pytest.mark.parametrize("source,name", [(LOGREG, "v"), (OTHER, "d"), (SAME, "d2")])
def test_hvp_direction_of_its_own_is_accepted_and_right(p, source, name):
    v = p[name] if source is LOGREG else tcnb.parse(source)[name]
    Hv = tcnb.hvp(p["f"], p["w"], v)
    arrays = _arrays()
    arrays[name] = arrays.pop("v")
    H = tcnb.hessian(p["f"], p["w"]).evaluate(**{k: a for k, a in arrays.items() if k in "Xyw"})
    assert np.allclose(Hv.evaluate(**arrays), H @ arrays[name])


# ------------------------------------------------------------------------------------ tcnb.check arguments

GRAD = "-X.T @ (y * sigmoid(-y * (X @ w)))"


@pytest.mark.parametrize("kwargs,error,fragment", [
    ({"sizes": {"m": -3, "n": 2}}, tcnb.ShapeError, "positive integer"),
    ({"sizes": {"m": "a", "n": 2}}, tcnb.ShapeError, "positive integer"),
    ({"sizes": {"m": 2.5, "n": 2}}, tcnb.ShapeError, "positive integer"),
    ({"sizes": {"m": True, "n": 2}}, tcnb.ShapeError, "positive integer"),
    ({"sizes": [4, 3]}, tcnb.ShapeError, "must map dimension names"),
    ({"sizes": {"m": 10**12, "n": 3}}, tcnb.MemoryBudgetError, "random inputs"),
    ({"sizes": SIZES, "rtol": "a"}, tcnb.DerivativeError, "rtol"),
    ({"sizes": SIZES, "atol": -1.0}, tcnb.DerivativeError, "atol"),
    ({"sizes": SIZES, "seed": "a"}, tcnb.DerivativeError, "seed"),
    ({"sizes": SIZES, "order": True}, tcnb.DerivativeError, "order"),
])
def test_check_refuses_bad_arguments(p, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        tcnb.check(GRAD, p["f"], p["w"], **kwargs)


def test_check_refuses_a_non_expression_function(p):
    with pytest.raises(tcnb.DerivativeError, match="the function must be an expression"):
        tcnb.check(GRAD, "f", p["w"], sizes=SIZES)


@pytest.mark.parametrize("candidate,fragment", [
    (lambda X: X, "cannot take the arrays as keyword arguments"),
    (lambda **a: "x", "returned str"),
    (lambda **a: None, "returned NoneType"),
])
def test_check_refuses_candidate_functions_that_do_not_fit(p, candidate, fragment):
    with pytest.raises(tcnb.DerivativeError, match=fragment):
        tcnb.check(candidate, p["f"], p["w"], sizes=SIZES)


def test_check_lets_the_candidates_own_errors_through(p):
    def mine(**arrays):
        raise ZeroDivisionError("the student's bug")
    with pytest.raises(ZeroDivisionError, match="student's bug"):
        tcnb.check(mine, p["f"], p["w"], sizes=SIZES)


def test_check_random_inputs_do_not_depend_on_set_order(p):
    """The inputs are drawn in name order, so a seed means the same arrays in every process."""
    r = tcnb.check(GRAD, p["f"], p["w"], sizes=SIZES, seed=3)
    rng = np.random.default_rng(3)
    arrays = {name: rng.normal(size=shape) for name, shape in
              sorted({"X": (4, 3), "v": (3,), "w": (3,), "y": (4,)}.items())}
    ref = tcnb.grad(p["f"], p["w"]).evaluate(**{k: a for k, a in arrays.items() if k != "v"})
    assert r.ok and np.allclose(r.expected, ref)


def test_check_locates_errors_in_a_multi_line_formula(p):
    with pytest.raises(tcnb.TcnbError) as info:
        tcnb.check("(X.T @\n  qq)", p["f"], p["w"], sizes=SIZES)
    err = info.value
    assert err.line == 2 and "qq" in err.source_line and "in your formula" in err.message


FORMULA_TOKENS = ["X", "y", "w", "z", "f", ".T", "@", "*", "+", "-", "/", "**", "(", ")", "[", "]", "i", "j",
                  ",", ":", "sigmoid", "exp", "log", "sum", "einsum", "'ij,j->i'", "1", "0", "2.5", "1e308",
                  "=", "\n", " ", "#", "\x00", "lambda", "diag", "outer", "eye(n)", "ones(m)", "n", "m", "inv",
                  "axis=0", "softmax", "'", "\\", "\ufeff", "é", "R[n]", "x: R[n]", "if", "%", "//", "<",
                  "_candidate", "...", "None"]
GARBAGE = st.one_of(st.text(max_size=30), st.lists(st.sampled_from(FORMULA_TOKENS), max_size=12).map("".join))


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=GARBAGE, order=st.sampled_from([1, 2]))
def test_check_garbage_formulas_raise_only_tcnb_errors(p, text, order):
    try:
        tcnb.check(text, p["f"], p["w"], order=order, sizes={"m": 3, "n": 2})
    except tcnb.TcnbError:
        pass
