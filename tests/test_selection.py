"""Selection and piecewise functions: max/min (reductions), maximum/minimum, where, clip.

Values against NumPy; gradients and Hessians of scalar objectives through each function against
JAX (x64) and central finite differences (inputs away from ties) in every mode, compressed or not;
the conventions at exact ties against JAX (maximum(a, a), x = [1, 3, 3], clip at a bound, ...);
random small programs against JAX (hypothesis); the parse-time errors; the printed forms; and a
port of autograd's own tests of these functions (tests/test_numpy.py, tests/test_systematic.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcnb
from tcnb import ir
from tcnb.errors import ShapeError, TcnbError, TensorSyntaxError
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

MODES = ("forward", "reverse", "cross-country")
N, M = 4, 3


def _rng(seed):
    return np.random.default_rng(seed)


def _evaluate(expr, arrays):
    return np.asarray(expr.evaluate(**arrays), dtype=np.float64)


# ------------------------------------------------------------------------------------ values

DECLS = "x: R[n]\ny: R[n]\nA: R[m, n]\nB: R[m, n]\nc: R\n"

VALUES = [
    ("maximum(x, y)", lambda v: np.maximum(v["x"], v["y"])),
    ("minimum(x, y)", lambda v: np.minimum(v["x"], v["y"])),
    ("maximum(x, 0)", lambda v: np.maximum(v["x"], 0.0)),
    ("minimum(-0.5, x)", lambda v: np.minimum(-0.5, v["x"])),
    ("maximum(A, x)", lambda v: np.maximum(v["A"], v["x"])),          # broadcast as + does
    ("minimum(A, c)", lambda v: np.minimum(v["A"], v["c"])),
    ("maximum(x.T, c * y)", lambda v: np.maximum(v["x"], v["c"] * v["y"])),
    ("max(x)", lambda v: np.max(v["x"])),
    ("min(A)", lambda v: np.min(v["A"])),
    ("max(A, axis=0)", lambda v: np.max(v["A"], axis=0)),
    ("max(A, 1)", lambda v: np.max(v["A"], axis=1)),
    ("min(A, axis=-1)", lambda v: np.min(v["A"], axis=-1)),
    ("min(A @ x)", lambda v: np.min(v["A"] @ v["x"])),
    ("max(c)", lambda v: np.max(v["c"])),
    ("where(x > y, x, y)", lambda v: np.where(v["x"] > v["y"], v["x"], v["y"])),
    ("where(x >= 0, exp(x), 0)", lambda v: np.where(v["x"] >= 0, np.exp(v["x"]), 0.0)),
    ("where(x < y, A, B)", lambda v: np.where(v["x"] < v["y"], v["A"], v["B"])),
    ("where(A <= c, 1, B * 2)", lambda v: np.where(v["A"] <= v["c"], 1.0, 2 * v["B"])),
    ("where(0.2 > x, x * y, sin(y))", lambda v: np.where(0.2 > v["x"], v["x"] * v["y"], np.sin(v["y"]))),
    ("clip(x, -0.5, 0.5)", lambda v: np.clip(v["x"], -0.5, 0.5)),
    ("clip(A, x, 1)", lambda v: np.clip(v["A"], v["x"], 1.0)),
    ("clip(x, c, y)", lambda v: np.minimum(np.maximum(v["x"], v["c"]), v["y"])),
    ("clip(x, 1, -1)", lambda v: np.minimum(np.maximum(v["x"], 1.0), -1.0)),  # lo > hi gives hi
    ("maximum(minimum(x, y), clip(y, -0.1, 0.1))",
     lambda v: np.maximum(np.minimum(v["x"], v["y"]), np.clip(v["y"], -0.1, 0.1))),
]


def _arrays(seed=0):
    rng = _rng(seed)
    return {"x": rng.normal(size=N), "y": rng.normal(size=N), "A": rng.normal(size=(M, N)),
            "B": rng.normal(size=(M, N)), "c": np.float64(rng.normal())}


@pytest.mark.parametrize("text, ref", VALUES, ids=[t for t, _ in VALUES])
def test_values_match_numpy(text, ref):
    f = tcnb.parse(DECLS + f"f = {text}")["f"]
    v = _arrays()
    np.testing.assert_allclose(_evaluate(f, v), ref(v), rtol=1e-13, atol=1e-14)


# ----------------------------------------------------------------- derivatives vs JAX and FD

OBJECTIVES = {
    "maximum": ("s = sum(maximum(A @ x, y2) ** 2) + sum(maximum(x, 0.3) * x) + sum(maximum(c * x, A))",
                lambda x, y2, A, c: jnp.sum(jnp.maximum(A @ x, y2) ** 2) + jnp.sum(jnp.maximum(x, 0.3) * x)
                + jnp.sum(jnp.maximum(c * x, A))),
    "minimum": ("s = sum(minimum(tanh(x), sin(x)) * exp(x)) + sum(minimum(A, c) * A) + sum(minimum(y2, A @ x) ** 3)",
                lambda x, y2, A, c: jnp.sum(jnp.minimum(jnp.tanh(x), jnp.sin(x)) * jnp.exp(x))
                + jnp.sum(jnp.minimum(A, c) * A) + jnp.sum(jnp.minimum(y2, A @ x) ** 3)),
    "max": ("s = max(A @ x) ** 2 + sum(max(A * x, axis=0) ** 2) + sum(max(tanh(A), axis=1) * y2) + c * max(x)",
            lambda x, y2, A, c: jnp.max(A @ x) ** 2 + jnp.sum(jnp.max(A * x, axis=0) ** 2)
            + jnp.sum(jnp.max(jnp.tanh(A), axis=1) * y2) + c * jnp.max(x)),
    "min": ("s = min(exp(x)) * sum(x) + sum(min(A * c, axis=-1) ** 3 * y2) + sum(min(A.T, 1) * x)",
            lambda x, y2, A, c: jnp.min(jnp.exp(x)) * jnp.sum(x) + jnp.sum(jnp.min(A * c, axis=-1) ** 3 * y2)
            + jnp.sum(jnp.min(A.T, 1) * x)),
    "where": ("s = sum(where(A @ x > y2, sin(A @ x), y2 * y2)) + sum(where(x <= 0.1, x ** 2, c * x))"
              " + sum(where(A >= c, A * A, 2 * A) * x)",
              lambda x, y2, A, c: jnp.sum(jnp.where(A @ x > y2, jnp.sin(A @ x), y2 * y2))
              + jnp.sum(jnp.where(x <= 0.1, x ** 2, c * x)) + jnp.sum(jnp.where(A >= c, A * A, 2 * A) * x)),
    "clip": ("s = sum(clip(A @ x, -0.5, y2) ** 2) + sum(clip(x, c, 1.0) * x) + sum(clip(A, x * x, 2) * A)",
             lambda x, y2, A, c: jnp.sum(jnp.clip(A @ x, -0.5, y2) ** 2) + jnp.sum(jnp.clip(x, c, 1.0) * x)
             + jnp.sum(jnp.clip(A, x * x, 2) * A)),
}
OBJ_DECLS = "x: R[n]\ny2: R[m]\nA: R[m, n]\nc: R\n"
OBJ_VARS = ("x", "y2", "A", "c")


def _objective_inputs(seed):
    rng = _rng(seed)
    return {"x": rng.normal(size=N), "y2": rng.normal(size=M), "A": rng.normal(size=(M, N)),
            "c": np.float64(rng.uniform(0.3, 1.0))}


def _jax_args(v):
    return [jnp.asarray(v[k]) for k in OBJ_VARS]


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_gradient_matches_jax_and_finite_differences(name, mode, compress):
    text, ref = OBJECTIVES[name]
    prog = tcnb.parse(OBJ_DECLS + text)
    v = _objective_inputs(seed=len(name))
    np.testing.assert_allclose(_evaluate(prog["s"], v), float(ref(*_jax_args(v))), rtol=1e-12)
    for k, var in enumerate(OBJ_VARS):
        g = _evaluate(tcnb.grad(prog["s"], prog[var], mode=mode, compress=compress), v)
        expected = np.asarray(jax.grad(ref, argnums=k)(*_jax_args(v)))
        np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-11, err_msg=f"d s / d {var}")
        fd = central_diff(lambda t, var=var: _evaluate(prog["s"], {**v, var: t}), v[var])
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-6, err_msg=f"d s / d {var} vs FD")


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_hessian_matches_jax_and_finite_differences(name, mode, compress):
    text, ref = OBJECTIVES[name]
    prog = tcnb.parse(OBJ_DECLS + text)
    v = _objective_inputs(seed=10 + len(name))
    for k, var in enumerate(("x", "A")):
        k = OBJ_VARS.index(var)
        H = _evaluate(tcnb.hessian(prog["s"], var, mode=mode, compress=compress), v)
        expected = np.asarray(jax.hessian(ref, argnums=k)(*_jax_args(v)))
        np.testing.assert_allclose(H, expected, rtol=1e-8, atol=1e-10, err_msg=f"d² s / d {var}²")
        g = tcnb.grad(prog["s"], var, mode=mode, compress=compress)
        fd = central_diff(lambda t, var=var: _evaluate(g, {**v, var: t}), v[var])
        np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-6, err_msg=f"d² s / d {var}² vs FD")


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_elementwise_selection_stays_diagonal(mode):
    """The local partials are masks on δ: the Jacobian is diagonal, and a gradient through a
    selection never forms an n x n array (no unit tensor in its code)."""
    prog = tcnb.parse("x: R[n]\ny: R[n]\nf = clip(where(x > y, maximum(x, y), minimum(x, 0)), -1, 1)\n"
                      "s = sum(f ** 2) + max(x) * min(y)")
    v = {"x": _rng(3).normal(size=N), "y": _rng(4).normal(size=N)}
    J = _evaluate(tcnb.jacobian(prog["f"], "x", mode=mode), v)
    np.testing.assert_allclose(J, np.diag(np.diag(J)), atol=0)
    code = tcnb.grad(prog["s"], "x", mode=mode).to_source(n=1000)
    assert "1000, 1000" not in code and "_rt.delta" not in code and "embed_diagonal" not in code, code


# ------------------------------------------------------------------------------ exact ties

def _tcnb_grads(text, decls, values, wrt):
    prog = tcnb.parse(decls + text)
    return {mode: _evaluate(tcnb.grad(prog["s"], wrt, mode=mode), values) for mode in MODES}


TIES = [
    # (objective text, declarations, inputs, variable, JAX function of that variable)
    ("s = max(x)", "x: R[n]\n", {"x": np.array([1.0, 3.0, 3.0])}, "x", jnp.max),
    ("s = min(x)", "x: R[n]\n", {"x": np.array([1.0, 1.0, 3.0])}, "x", jnp.min),
    ("s = sum(max(A, axis=1) * w)", "A: R[m, n]\nw: R[m]\n",
     {"A": np.array([[2.0, 2.0, 2.0], [1.0, 5.0, 5.0]]), "w": np.array([1.0, 2.0])}, "A",
     lambda A: jnp.sum(jnp.max(A, axis=1) * jnp.array([1.0, 2.0]))),
    ("s = sum(min(A, axis=0) * w)", "A: R[m, n]\nw: R[n]\n",
     {"A": np.array([[0.0, 4.0, 1.0], [0.0, 4.0, 2.0]]), "w": np.array([1.0, 2.0, 3.0])}, "A",
     lambda A: jnp.sum(jnp.min(A, axis=0) * jnp.array([1.0, 2.0, 3.0]))),
    ("s = sum(maximum(x, y) * w)", "x: R[n]\ny: R[n]\nw: R[n]\n",
     {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 0.0, 3.0]), "w": np.array([1.0, 2.0, 3.0])}, "x",
     lambda x: jnp.sum(jnp.maximum(x, jnp.array([1.0, 0.0, 3.0])) * jnp.array([1.0, 2.0, 3.0]))),
    ("s = sum(minimum(x, y) * w)", "x: R[n]\ny: R[n]\nw: R[n]\n",
     {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 0.0, 3.0]), "w": np.array([1.0, 2.0, 3.0])}, "y",
     lambda y: jnp.sum(jnp.minimum(jnp.array([1.0, 2.0, 3.0]), y) * jnp.array([1.0, 2.0, 3.0]))),
    ("s = sum(maximum(x, 0) * w)", "x: R[n]\nw: R[n]\n",
     {"x": np.array([0.0, -1.0, 2.0]), "w": np.array([1.0, 2.0, 3.0])}, "x",
     lambda x: jnp.sum(jnp.maximum(x, 0.0) * jnp.array([1.0, 2.0, 3.0]))),
    ("s = sum(clip(x, -1, 1) * w)", "x: R[n]\nw: R[n]\n",
     {"x": np.array([-1.0, 1.0, 0.5, 2.0]), "w": np.array([1.0, 2.0, 3.0, 4.0])}, "x",
     lambda x: jnp.sum(jnp.clip(x, -1.0, 1.0) * jnp.array([1.0, 2.0, 3.0, 4.0]))),
    ("s = sum(clip(x, lo, hi) * w)", "x: R[n]\nlo: R[n]\nhi: R[n]\nw: R[n]\n",
     {"x": np.array([0.0, 1.0, 1.0, 3.0]), "lo": np.array([0.0, 0.0, 1.0, 2.0]),
      "hi": np.array([1.0, 1.0, 1.0, 1.0]), "w": np.array([1.0, 2.0, 3.0, 4.0])}, "lo",
     lambda lo: jnp.sum(jnp.clip(jnp.array([0.0, 1.0, 1.0, 3.0]), lo, jnp.ones(4)) * jnp.array([1.0, 2.0, 3.0, 4.0]))),
    ("s = sum(clip(x, lo, hi) * w)", "x: R[n]\nlo: R[n]\nhi: R[n]\nw: R[n]\n",
     {"x": np.array([0.0, 1.0, 1.0, 3.0]), "lo": np.array([0.0, 0.0, 1.0, 2.0]),
      "hi": np.array([1.0, 1.0, 1.0, 1.0]), "w": np.array([1.0, 2.0, 3.0, 4.0])}, "hi",
     lambda hi: jnp.sum(jnp.clip(jnp.array([0.0, 1.0, 1.0, 3.0]), jnp.array([0.0, 0.0, 1.0, 2.0]), hi)
                        * jnp.array([1.0, 2.0, 3.0, 4.0]))),
    ("s = sum(where(x > y, x * x, 3 * x))", "x: R[n]\ny: R[n]\n",
     {"x": np.array([1.0, 2.0]), "y": np.array([1.0, 0.0])}, "x",
     lambda x: jnp.sum(jnp.where(x > jnp.array([1.0, 0.0]), x * x, 3 * x))),
    ("s = sum(where(x >= y, x * x, 3 * x))", "x: R[n]\ny: R[n]\n",
     {"x": np.array([1.0, 2.0]), "y": np.array([1.0, 0.0])}, "x",
     lambda x: jnp.sum(jnp.where(x >= jnp.array([1.0, 0.0]), x * x, 3 * x))),
    ("s = sum(where(x < y, x * x, 3 * x))", "x: R[n]\ny: R[n]\n",
     {"x": np.array([1.0, 2.0]), "y": np.array([1.0, 0.0])}, "x",
     lambda x: jnp.sum(jnp.where(x < jnp.array([1.0, 0.0]), x * x, 3 * x))),
    ("s = sum(where(x <= y, x * x, 3 * x))", "x: R[n]\ny: R[n]\n",
     {"x": np.array([1.0, 2.0]), "y": np.array([1.0, 0.0])}, "x",
     lambda x: jnp.sum(jnp.where(x <= jnp.array([1.0, 0.0]), x * x, 3 * x))),
]


@pytest.mark.parametrize("case", range(len(TIES)))
def test_ties_follow_jax(case):
    text, decls, values, wrt, ref = TIES[case]
    expected = np.asarray(jax.grad(ref)(jnp.asarray(values[wrt])))
    for mode, g in _tcnb_grads(text, decls, values, wrt).items():
        np.testing.assert_allclose(g, expected, rtol=0, atol=1e-15, err_msg=f"{text} ({mode})")


def test_documented_tie_values():
    """The numbers the docs state: ½–½ for maximum(a, a), an even split among tied maxima, ½ to x
    and ½ to lo for clip at x == lo."""
    g = _tcnb_grads("s = max(x)", "x: R[n]\n", {"x": np.array([1.0, 3.0, 3.0])}, "x")
    np.testing.assert_array_equal(g["reverse"], [0.0, 0.5, 0.5])
    prog = tcnb.parse("a: R[n]\nb: R[n]\nf = maximum(a, b)")
    v = {"a": np.array([2.0, 1.0]), "b": np.array([2.0, 0.0])}
    np.testing.assert_array_equal(_evaluate(tcnb.jacobian(prog["f"], "a"), v), np.diag([0.5, 1.0]))
    np.testing.assert_array_equal(_evaluate(tcnb.jacobian(prog["f"], "b"), v), np.diag([0.5, 0.0]))
    prog = tcnb.parse("x: R\nlo: R\nf = clip(x, lo, 1)")
    v = {"x": np.float64(0.0), "lo": np.float64(0.0)}
    assert float(_evaluate(tcnb.grad(prog["f"], "x"), v)) == 0.5 == float(jax.grad(jnp.clip)(0.0, 0.0, 1.0))
    assert float(_evaluate(tcnb.grad(prog["f"], "lo"), v)) == 0.5


@pytest.mark.parametrize("mode", MODES)
def test_maximum_of_a_tensor_with_itself(mode):
    """maximum(a, a) = a: the two halves of the derivative add up to 1 (JAX: ½ + ½)."""
    prog = tcnb.parse("a: R[n]\nf = maximum(a, a)\ng = minimum(a, a)\ns = sum(f * g * a)")
    a = _rng(5).normal(size=N)
    for name in ("f", "g"):
        np.testing.assert_array_equal(_evaluate(tcnb.jacobian(prog[name], "a", mode=mode), {"a": a}), np.eye(N))
    np.testing.assert_allclose(_evaluate(tcnb.grad(prog["s"], "a", mode=mode), {"a": a}),
                               jax.grad(lambda a: jnp.sum(jnp.maximum(a, a) * jnp.minimum(a, a) * a))(a), rtol=1e-14)


def test_relu_keeps_its_own_convention():
    """relu'(0) = 0 (a record of its own), maximum(x, 0)'s derivative at 0 is ½ (JAX's jnp.maximum)."""
    prog = tcnb.parse("x: R[n]\nr = sum(relu(x))\nm = sum(maximum(x, 0))")
    x = np.array([0.0, 1.0])
    np.testing.assert_array_equal(_evaluate(tcnb.grad(prog["r"], "x"), {"x": x}), [0.0, 1.0])
    np.testing.assert_array_equal(_evaluate(tcnb.grad(prog["m"], "x"), {"x": x}), [0.5, 1.0])
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.sum(jax.nn.relu(x)))(x), [0.0, 1.0])
    np.testing.assert_array_equal(jax.grad(lambda x: jnp.sum(jnp.maximum(x, 0.0)))(x), [0.5, 1.0])


# -------------------------------------------------------------------------- printed forms

def test_printed_forms_name_the_functions():
    prog = tcnb.parse("x: R[n]\ny: R[n]\nA: R[m, n]\na = maximum(x, y)\nb = min(A, axis=1)\n"
                      "c = where(x >= y, x, 0)\nd = clip(x, -1, 1)\ne = max(x)\nf = minimum(x, 2)")
    assert prog["a"].latex().endswith(r"\max\left(x, y\right)_{i}")
    assert r"\min\left(A;\ \text{axis } 1\right)" in prog["b"].latex()
    assert r"\operatorname{where}\left(x \geq y, x, 0\right)" in prog["c"].latex()
    assert r"\operatorname{clip}\left(x, -1, 1\right)" in prog["d"].latex()
    assert prog["e"].latex().endswith(r"\max\left(x\right)")
    assert prog["a"].einstein() == "maximum(x, y)"
    assert prog["b"].einstein() == "min(A, axis=1)"
    assert prog["c"].einstein() == "where(x >= y, x, 0)"
    assert prog["f"].einstein() == "minimum(x, 2)"
    for name in "abcdef":
        assert "step" not in prog[name].latex() and "sign" not in prog[name].latex()


# ------------------------------------------------------------------------------------ errors

ERRORS = [
    ("f = maximum(x, z)", ShapeError, "maximum: shapes"),
    ("f = clip(A, z, 1)", ShapeError, "clip: shapes"),
    ("f = where(x > z, x, x)", ShapeError, "where: shapes"),
    ("f = max(A, axis=2)", ShapeError, "axis 2 is out of range"),
    ("f = min(x, axis=-2)", ShapeError, "axis -2 is out of range"),
    ("f = max(A, axis=(0, 0))", TensorSyntaxError, "repeated axis"),
    ("f = cumsum(A, axis=(0, 1))", TensorSyntaxError, "takes one axis"),
    ("f = max(x, y)", TensorSyntaxError, "integer axis"),
    ("f = maximum(x)", TensorSyntaxError, "takes 2 arguments"),
    ("f = clip(x, 1)", TensorSyntaxError, "takes 3 arguments"),
    ("f = where(x > y, x)", TensorSyntaxError, "takes 3 arguments"),
    ("f = where(x, x, y)", TensorSyntaxError, "needs a comparison"),
    ("f = where(x > y > 0, x, y)", TensorSyntaxError, "chained comparison"),
    ("f = where(x == y, x, y)", TensorSyntaxError, "'=='"),
    ("f = where(x != y, x, y)", TensorSyntaxError, "'!='"),
    ("f = x > y", TensorSyntaxError, "only allowed as the condition of where"),
    ("f = maximum(x > y, x)", TensorSyntaxError, "only allowed as the condition of where"),
    ("f = where(x > y, x > 0, y)", TensorSyntaxError, "only allowed as the condition of where"),
    ("f = where(x > y and y > 0, x, y)", TensorSyntaxError, "needs a comparison"),
    ("f[i] = maximum(x, y)", TensorSyntaxError, "not available in index notation"),
    ("f = maximum(x, y, axis=0)", TensorSyntaxError, "no keyword"),
]


@pytest.mark.parametrize("text, cls, words", ERRORS, ids=[t for t, _, _ in ERRORS])
def test_errors_name_line_and_column(text, cls, words):
    src = "x: R[n]\ny: R[n]\nz: R[m]\nA: R[m, n]\n" + text
    with pytest.raises(cls) as info:
        tcnb.parse(src)
    err = info.value
    assert words in str(err), str(err)
    assert err.line == 5 and err.col is not None, str(err)


def test_chained_comparison_points_at_the_condition():
    with pytest.raises(TensorSyntaxError) as info:
        tcnb.parse("x: R[n]\ny: R[n]\nf = where(x < y <= x, x, y)")
    assert info.value.line == 3 and info.value.col == len("f = where(")
    assert "<, <=, > or >=" in str(info.value)


def test_record_refuses_bad_input_directly():
    """Primitive.make, the parser's back door, checks too (shapes; the comparison)."""
    from tcnb.primitives import lookup
    x, z = ir.Var.make("x", ("n",)), ir.Var.make("z", ("m",))
    with pytest.raises(ShapeError):
        lookup("maximum").make((x, z))
    with pytest.raises(TcnbError):
        lookup("where").make((x, x, x, x), {"cmp": "=="})
    assert lookup("where").signature() == "where(x > y, a, b)"


# ------------------------------------------------------------------ random programs vs JAX

_CMP = {">": jnp.greater, ">=": jnp.greater_equal, "<": jnp.less, "<=": jnp.less_equal}
_UNARY = [("tanh({})", jnp.tanh), ("sin({})", jnp.sin), ("0.5 * square({})", lambda t: 0.5 * t * t),
          ("exp(tanh({}))", lambda t: jnp.exp(jnp.tanh(t)))]
_LEAVES = [("x", lambda e: e["x"]), ("y", lambda e: e["y"]), ("z", lambda e: e["z"]),
           ("c", lambda e: e["c"]), ("0.3", lambda e: 0.3), ("-0.5", lambda e: -0.5)]


@st.composite
def _vector_expr(draw, depth=0):
    """(text, jax function of the environment) of an expression of shape (n,) or a scalar."""
    if depth >= 3 or (depth and draw(st.integers(0, 3)) == 0):
        return draw(st.sampled_from(_LEAVES))
    selections = ["maximum", "minimum", "where", "clip"]  # the top of the tree is one of them
    kind = draw(st.sampled_from(selections if depth == 0 else ["unary", "arith"] + selections))
    sub = lambda: draw(_vector_expr(depth + 1))  # noqa: E731
    if kind == "unary":
        (t, f), (ut, uf) = sub(), draw(st.sampled_from(_UNARY))
        return ut.format(t), lambda e: uf(f(e))
    if kind == "arith":
        (a, fa), (b, fb), op = sub(), sub(), draw(st.sampled_from("+-*"))
        fn = {"+": lambda u, v: u + v, "-": lambda u, v: u - v, "*": lambda u, v: u * v}[op]
        return f"({a} {op} {b})", lambda e: fn(fa(e), fb(e))
    if kind in ("maximum", "minimum"):
        (a, fa), (b, fb) = sub(), sub()
        jf = getattr(jnp, kind)
        return f"{kind}({a}, {b})", lambda e: jf(fa(e), fb(e))
    if kind == "where":
        (u, fu), (v, fv), (a, fa), (b, fb) = sub(), sub(), sub(), sub()
        op = draw(st.sampled_from(sorted(_CMP)))
        return f"where({u} {op} {v}, {a}, {b})", lambda e: jnp.where(_CMP[op](fu(e), fv(e)), fa(e), fb(e))
    (t, f), (lo, flo), (hi, fhi) = sub(), sub(), sub()
    return f"clip({t}, {lo}, {hi})", lambda e: jnp.clip(f(e), flo(e), fhi(e))


@st.composite
def _program(draw):
    (t, f) = draw(_vector_expr())
    top = draw(st.sampled_from(["sum", "max", "min", "rows"]))
    if top == "rows":  # a reduction along an axis of a matrix built from the vector
        fn = draw(st.sampled_from(["max", "min"]))
        axis = draw(st.sampled_from([0, 1, -1]))
        text = f"sum({fn}(A * {t}, axis={axis}) * {fn}(A * {t}, axis={axis}))"
        jf = getattr(jnp, fn)
        return text, lambda e: jnp.sum(jf(e["A"] * f(e), axis=axis) ** 2)
    if top == "sum":
        return f"sum(({t}) * x)", lambda e: jnp.sum(f(e) * e["x"])
    jf = getattr(jnp, top)
    return f"{top}(({t}) * x + y)", lambda e: jf(f(e) * e["x"] + e["y"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=_program(), seed=st.integers(0, 2 ** 16), mode=st.sampled_from(MODES), compress=st.booleans())
def test_random_programs_match_jax(prog, seed, mode, compress):
    text, ref = prog
    p = tcnb.parse("x: R[n]\ny: R[n]\nz: R[n]\nc: R\nA: R[m, n]\ns = " + text)
    rng = _rng(seed)
    env = {"x": rng.normal(size=N), "y": rng.normal(size=N), "z": rng.normal(size=N),
           "c": np.float64(rng.normal()), "A": rng.normal(size=(M, N))}
    jenv = {k: jnp.asarray(v) for k, v in env.items()}
    np.testing.assert_allclose(_evaluate(p["s"], env), float(ref(jenv)), rtol=1e-10, atol=1e-12, err_msg=text)
    for var in ("x", "c"):
        g = _evaluate(tcnb.grad(p["s"], p[var], mode=mode, compress=compress), env)
        expected = jax.grad(lambda t, var=var: ref({**jenv, var: t}))(jenv[var])
        np.testing.assert_allclose(g, expected, rtol=1e-8, atol=1e-10, err_msg=f"{text}, d/d{var}, {mode}")


# ----------------------------------------------- autograd's tests (tests/test_numpy.py), ported
# autograd's check_grads compares forward and reverse derivatives, to second order, with finite
# differences; here: the Jacobian in every mode against central differences, and the Hessian of a
# scalar objective against JAX. Constant arrays autograd builds from a scalar x are inputs here.

AUTOGRAD = {
    "test_max": ("x: R[m, n]\nf = max(x)", {"x": (10, 11)}),
    "test_max_axis": ("x: R[m, n, k]\nf = max(x, axis=1)", {"x": (3, 4, 5)}),
    "test_max_axis_keepdims": ("x: R[m, n, k]\nf = max(x, axis=1)[:, None, :]", {"x": (3, 4, 5)}),
    "test_min": ("x: R[m, n]\nf = min(x)", {"x": (10, 11)}),
    "test_min_axis": ("x: R[m, n, k]\nf = min(x, axis=1)", {"x": (3, 4, 5)}),
    "test_min_axis_keepdims": ("x: R[m, n, k]\nf = min(x, axis=1)[:, None, :]", {"x": (3, 4, 5)}),
    "test_clip": ("x: R[m, n]\nf = clip(x, 0.1, 1.1)", {"x": (5, 5)}),
    "test_where": ("x: R[m, n]\ny: R[m, n]\nC: R[m, n]\nf = where(C > 0, x, y)",
                   {"x": (4, 5), "y": (4, 5), "C": (4, 5)}),
    # test_systematic.py: combo_check(np.maximum / np.minimum) over shapes (1,), (1, 4), (3, 4)
    "test_maximum[(1,),(3,4)]": ("x: R[1]\ny: R[m, n]\nf = maximum(x, y)", {"x": (1,), "y": (3, 4)}),
    "test_maximum[(1,4),(3,4)]": ("x: R[1, n]\ny: R[m, n]\nf = maximum(x, y)", {"x": (1, 4), "y": (3, 4)}),
    "test_maximum[(3,4),(1,)]": ("x: R[m, n]\ny: R[1]\nf = maximum(x, y)", {"x": (3, 4), "y": (1,)}),
    "test_maximum[(1,4),(1,)]": ("x: R[1, n]\ny: R[1]\nf = maximum(x, y)", {"x": (1, 4), "y": (1,)}),
    "test_minimum[(1,),(3,4)]": ("x: R[1]\ny: R[m, n]\nf = minimum(x, y)", {"x": (1,), "y": (3, 4)}),
    "test_minimum[(3,4),(1,4)]": ("x: R[m, n]\ny: R[1, n]\nf = minimum(x, y)", {"x": (3, 4), "y": (1, 4)}),
    "test_minimum[(3,4),(3,4)]": ("x: R[m, n]\ny: R[m, n]\nf = minimum(x, y)", {"x": (3, 4), "y": (3, 4)}),
}
_NP = {"max": np.max, "min": np.min}


def _check_grads(prog, arrays, wrt):
    f = prog["f"]
    for var in wrt:
        fd = central_diff(lambda t, var=var: _evaluate(f, {**arrays, var: t}), arrays[var])
        for mode in MODES:
            J = _evaluate(tcnb.jacobian(f, var, mode=mode), arrays)
            np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7, err_msg=f"{var}, {mode}")


@pytest.mark.parametrize("name", sorted(AUTOGRAD))
def test_autograd_port(name):
    src, shapes = AUTOGRAD[name]
    rng = _rng(1)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    prog = tcnb.parse(src)
    _check_grads(prog, arrays, [k for k in shapes if k != "C"])


# autograd's tie tests, the scalar x fed through constant patterns (x * P + Q builds autograd's
# np.array([...]) of x and constants)
AUTOGRAD_TIES = {
    "test_max_equal_values": ("f = max(x * P)", {"P": [1.0, 1.0]}, {}, [1.0]),
    "test_max_equal_values_2d": ("f = max(x * P + Q, axis=1)", {"P": [[1, 1], [1, 0]]}, {"Q": [[0, 0], [0, 0.5]]},
                                 [1.0, -1.0]),
    "test_min_3_way_equality": ("f = min(x * P + Q, axis=0)",
                                {"P": [[1, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0]]},
                                {"Q": [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 0.5]]}, [1.0, -1.0]),
    "test_maximum_equal_values": ("f = maximum(x, x)", {}, {}, [1.0]),
    "test_maximum_equal_values_2d": ("f = maximum(x * p + q, x * P + Q)",
                                     {"p": [1, 1, 0], "P": [[1, 0, 1], [1, 1, 0]]},
                                     {"q": [0, 0, 0.5], "Q": [[0, 0.5, 0], [0, 0, 0.5]]}, [1.0, -1.0, 2.0]),
}


def _decl(name, value):
    shape = np.shape(value)
    return f"{name}: R[{', '.join(map(str, shape))}]" if shape else f"{name}: R"


@pytest.mark.parametrize("name", sorted(AUTOGRAD_TIES))
def test_autograd_tie_port(name):
    text, patterns, offsets, points = AUTOGRAD_TIES[name]
    consts = {k: np.asarray(v, dtype=np.float64) for k, v in {**patterns, **offsets}.items()}
    decls = "\n".join(["x: R"] + [_decl(k, v) for k, v in consts.items()]) + "\n"
    prog = tcnb.parse(decls + text)
    for x in points:
        _check_grads(prog, {**consts, "x": np.float64(x)}, ["x"])


HESSIAN_TIES = [
    ("s = max(x) ** 2", "x: R[n]\n", np.array([1.0, 3.0, 3.0]), lambda x: jnp.max(x) ** 2),
    ("s = min(x) * sum(x * x)", "x: R[n]\n", np.array([1.0, 1.0, 3.0]), lambda x: jnp.min(x) * jnp.sum(x * x)),
    ("s = sum(maximum(x, 1) ** 2)", "x: R[n]\n", np.array([1.0, 2.0, 0.0]),
     lambda x: jnp.sum(jnp.maximum(x, 1.0) ** 2)),
    ("s = sum(clip(x, -1, 1) ** 3)", "x: R[n]\n", np.array([-1.0, 1.0, 0.5]),
     lambda x: jnp.sum(jnp.clip(x, -1.0, 1.0) ** 3)),
    ("s = sum(where(x >= 1, x ** 3, x * x))", "x: R[n]\n", np.array([1.0, 2.0, 0.5]),
     lambda x: jnp.sum(jnp.where(x >= 1, x ** 3, x * x))),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", range(len(HESSIAN_TIES)))
def test_hessians_at_ties_follow_jax(case, mode):
    text, decls, x, ref = HESSIAN_TIES[case]
    prog = tcnb.parse(decls + text)
    H = _evaluate(tcnb.hessian(prog["s"], "x", mode=mode), {"x": x})
    np.testing.assert_allclose(H, jax.hessian(ref)(jnp.asarray(x)), rtol=1e-14, atol=1e-14, err_msg=text)
