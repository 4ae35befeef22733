"""Element-wise functions of several tensors: the built-in records (logaddexp, arctan2), a program's
``def f(a, b): ...``, and the IR node they share (one formula in t, t1, ...).

Each is checked as a user would use it: values against NumPy, gradients, Jacobians and Hessians
against JAX (x64) and central finite differences in every mode with compression on and off,
broadcasting as NumPy broadcasts, ties (logaddexp's derivative is ½ each at a = b), the printed
forms, and the errors for wrong arities.
"""
from __future__ import annotations

import numpy as np
import pytest
import sympy
from hypothesis import given, settings, strategies as st

import tcnb
from tcnb import ir
from tcnb.errors import ShapeError, TensorSyntaxError
from tcnb.primitives import BINARY_FUNCTIONS
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

MODES = ("forward", "reverse", "cross-country")
N = 5

# program, the same function in JAX of (x, y, A), variables drawn in (0.3, 2) unless noted
CASES = {
    "logaddexp": ("f = sum(logaddexp(x, y) * x)", lambda x, y, A: jnp.sum(jnp.logaddexp(x, y) * x)),
    "arctan2": ("f = sum(arctan2(y, x) * y)", lambda x, y, A: jnp.sum(jnp.arctan2(y, x) * y)),
    "def2": ("def g(a, b): return a * b + exp(a) * sin(b)\nf = sum(g(x, y) ** 2)",
             lambda x, y, A: jnp.sum((x * y + jnp.exp(x) * jnp.sin(y)) ** 2)),
    "def3": ("def g(a, b, c): return a * b / c + log(c)\nf = sum(g(x, y, x + y))",
             lambda x, y, A: jnp.sum(x * y / (x + y) + jnp.log(x + y))),
    "matrix_broadcast": ("f = sum(logaddexp(A, x) * A)",  # x: a row broadcast over A's rows
                         lambda x, y, A: jnp.sum(jnp.logaddexp(A, x[None, :]) * A)),
    "scalar_arg": ("f = sum(arctan2(x, 1.5) + logaddexp(2, y))",
                   lambda x, y, A: jnp.sum(jnp.arctan2(x, 1.5) + jnp.logaddexp(2.0, y))),
    "through_matmul": ("f = sum(logaddexp(A @ x, y - x) ** 2)",
                       lambda x, y, A: jnp.sum(jnp.logaddexp(A @ x, y - x) ** 2)),
}
DECLS = f"x: R[n]\ny: R[n]\nA: R[n, n]\n"


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.uniform(0.3, 2.0, N), "y": rng.uniform(0.3, 2.0, N), "A": rng.uniform(0.3, 2.0, (N, N))}


def _program(case):
    return tcnb.parse(DECLS + CASES[case][0])


@pytest.mark.parametrize("case", sorted(CASES))
def test_value_matches_numpy(case):
    arrays = _arrays()
    f = _program(case)["f"]
    got = f.evaluate(**{n: a for n, a in arrays.items() if n in f.variables})
    np.testing.assert_allclose(got, CASES[case][1](**{k: jnp.asarray(v) for k, v in arrays.items()}),
                               rtol=1e-12)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradient_and_hessian_match_jax_and_finite_differences(case, mode, compress):
    prog, ref = _program(case), CASES[case][1]
    full = _arrays(1)
    arrays = {n: a for n, a in full.items() if n in prog["f"].variables}
    for k, var in enumerate(("x", "y", "A")):
        if var not in prog["f"].variables:
            continue
        args = lambda: [jnp.asarray(full[n]) for n in ("x", "y", "A")]
        g = tcnb.grad(prog["f"], var, mode=mode, compress=compress).evaluate(**arrays)
        np.testing.assert_allclose(g, jax.grad(ref, argnums=k)(*args()), rtol=1e-9, atol=1e-11)

        def moved(v, var=var):
            return np.asarray(ref(**{**{n: jnp.asarray(a) for n, a in full.items()}, var: jnp.asarray(v)}))
        np.testing.assert_allclose(g, central_diff(moved, arrays[var]), rtol=1e-5, atol=1e-6)
        if var == "A":
            continue  # an (n, n, n, n) Hessian: the vectors' Hessians cover the rule
        H = tcnb.hessian(prog["f"], var, mode=mode, compress=compress).evaluate(**arrays)
        np.testing.assert_allclose(H, jax.hessian(ref, argnums=k)(*args()), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_of_a_vector_result_stays_elementwise(mode):
    prog = tcnb.parse("x: R[n]\ny: R[n]\nf = logaddexp(x, y) + arctan2(x, y)")
    arrays = {n: a for n, a in _arrays(2).items() if n != "A"}
    J = tcnb.jacobian(prog["f"], "x", mode=mode)
    expected = jax.jacfwd(lambda x: jnp.logaddexp(x, arrays["y"]) + jnp.arctan2(x, arrays["y"]))(arrays["x"])
    np.testing.assert_allclose(J.evaluate(**arrays), expected, rtol=1e-10, atol=1e-12)
    # compressed: the result is a unit tensor times an n-vector, no n x n core
    structured = J.structured(**arrays)
    assert structured.nbytes <= 2 * N * 8 < structured.dense_nbytes, structured
    np.testing.assert_allclose(structured.dense(), expected, rtol=1e-10, atol=1e-12)
    src = tcnb.grad(tcnb.parse("x: R[n]\ny: R[n]\nf = sum(logaddexp(x, y))")["f"], "x", mode=mode).to_source(n=1000)
    assert "1000, 1000" not in src and "embed_diagonal" not in src, src


def test_ties_split_the_derivative_like_jax():
    prog = tcnb.parse("x: R[n]\ny: R[n]\nf = sum(logaddexp(x, y))")
    x = np.array([0.0, 1.0, -2.0, 700.0, -700.0])
    for mode in MODES:
        g = tcnb.grad(prog["f"], "x", mode=mode).evaluate(x=x, y=x.copy())
        np.testing.assert_allclose(g, jax.grad(lambda a: jnp.sum(jnp.logaddexp(a, jnp.asarray(x))))(x))
        np.testing.assert_allclose(g, 0.5)


def test_logaddexp_is_stable_in_the_tails():
    prog = tcnb.parse("x: R[n]\ny: R[n]\nf = sum(logaddexp(x, y))")
    x, y = np.array([800.0, -800.0, 30.0]), np.array([-800.0, 800.0, -30.0])
    np.testing.assert_allclose(prog["f"].evaluate(x=x, y=y), np.sum(np.logaddexp(x, y)))
    H = tcnb.hessian(prog["f"], "x").evaluate(x=x, y=y)
    assert np.all(np.isfinite(H))
    np.testing.assert_allclose(H, jax.hessian(lambda a: jnp.sum(jnp.logaddexp(a, y)))(x), atol=1e-300)


def test_printed_forms():
    prog = tcnb.parse(DECLS + "def g(a, b): return a * b + exp(a)\nf = logaddexp(x, y) + arctan2(y, x) + g(x, y)")
    f = prog["f"]
    assert "logaddexp(x, y)" in f.einstein() and "atan2(y, x)" in f.einstein()
    tex = f.latex()
    assert r"\operatorname{logaddexp}\left({x_{i}}, {y_{i}}\right)" in tex, tex
    assert "atan" in tex and r"e^{{x_{i}}}" in tex
    assert "logaddexp(x, y)" in f.matrix() and "arctan2(y, x)" in f.matrix()
    from tcnb.render.dot import label
    node = next(n for n in ir.topological([f.node]) if isinstance(n, ir.Elementwise) and len(n.args) == 2)
    assert label(node).split("\n")[0] in ("logaddexp", "atan2(t, t1)", "arctan2") or "(" in label(node)
    assert f.graph().source.count("->") >= 4   # the DOT graph draws both arguments' edges


def test_the_node_merges_repeated_and_drops_unused_arguments():
    x, y = ir.Var.make("x", ["n"]), ir.Var.make("y", ["n"])
    t, t1 = ir.ARGS[:2]
    same = ir.Elementwise.make(sympy.atan2(t, t1), (x, x))
    assert same.args == (x,) and same.fn == sympy.atan2(t, t)
    unused = ir.Elementwise.make(sympy.exp(t1), (x, y))
    assert unused.args == (y,) and unused.fn == sympy.exp(t)
    folded = ir.Elementwise.make(t * t1, (x, ir.Const.make(3.0, ["n"])))
    assert folded.args == (x,)
    scaled = ir.Elementwise.make(t * t1, (x, ir.scale(y, 2.0)))
    assert scaled.args == (x, y) and scaled.fn == 2 * t * t1
    assert ir.Elementwise.make(sympy.atan2(t, t1), (x, y)) is ir.Elementwise.make(sympy.atan2(t, t1), [x, y])
    with pytest.raises(ShapeError):
        ir.Elementwise.make(t * t1, (x, ir.Var.make("z", ["m"])))


@pytest.mark.parametrize("src, words", [
    ("x: R[n]\ny = logaddexp(x)", ["logaddexp takes 2 arguments"]),
    ("x: R[n]\ny = arctan2(x, x, x)", ["arctan2 takes 2 arguments"]),
    ("x: R[n]\ndef g(a, b): return a * b\ny = g(x)", ["g takes 2 arguments"]),
    ("x: R[n]\ndef g(a, b): return a * c\ny = g(x, x)", ["unknown name 'c'"]),
    ("x: R[n]\ndef g(a, b): return logaddexp(a)\ny = g(x, x)", ["logaddexp takes 2 arguments"]),
    ("x: R[n]\nz: R[m]\ny = logaddexp(x, z)", ["broadcast"]),
])
def test_errors_name_the_function_and_the_arity(src, words):
    with pytest.raises((TensorSyntaxError, ShapeError)) as info:
        tcnb.parse(src)
    for w in words:
        assert w in str(info.value), str(info.value)


def test_a_def_of_several_arguments_calls_others_and_builtins():
    prog = tcnb.parse("x: R[n]\ny: R[n]\ndef h(a, b): return logaddexp(a, b) * b\n"
                      "def g(a, b): return h(b, a) + arctan2(a, b)\nf = sum(g(x, y))")
    x, y = _arrays(3)["x"], _arrays(3)["y"]
    np.testing.assert_allclose(prog["f"].evaluate(x=x, y=y), np.sum(np.logaddexp(y, x) * x + np.arctan2(x, y)))
    g = tcnb.grad(prog["f"], "y").evaluate(x=x, y=y)
    ref = jax.grad(lambda b: jnp.sum(jnp.logaddexp(b, x) * x + jnp.arctan2(x, b)))(y)
    np.testing.assert_allclose(g, ref, rtol=1e-10)


def test_registry_records_have_references_and_notes():
    assert {"logaddexp", "arctan2"} <= set(BINARY_FUNCTIONS)
    rng = np.random.default_rng(4)
    import scipy.special
    for name, rec in BINARY_FUNCTIONS.items():
        lo, hi = rec.domain
        a, b = rng.uniform(lo, hi, 6), rng.uniform(lo, hi, 6)
        prog = tcnb.parse(f"a: R[n]\nb: R[n]\nf = {name}(a, b)")
        np.testing.assert_allclose(prog["f"].evaluate(a=a, b=b), rec.reference(np, scipy.special, a, b), rtol=1e-12)
        assert rec.note


_FUNCS = {"logaddexp": jnp.logaddexp, "arctan2": jnp.arctan2, "mul": jnp.multiply}


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(sorted(_FUNCS)), st.integers(0, 2), st.integers(0, 2)),
                min_size=1, max_size=4),
       st.sampled_from(MODES))
def test_random_compositions_match_jax(steps, mode):
    """Programs v3 = f(v_i, v_j), ... over x, y, z (hostile names t, t1 included as variables)."""
    names = ["t", "t1", "x"]
    lines = [f"{n}: R[n]" for n in names]
    exprs = {n: n for n in names}
    jax_vals = {}
    for k, (fname, i, j) in enumerate(steps):
        a, b = names[i % len(names)], names[j % len(names)]
        new = f"v{k}"
        call = f"{a} * {b}" if fname == "mul" else f"{fname}({a}, {b})"
        lines.append(f"{new} = {call}")
        exprs[new] = (fname, a, b)
        names.append(new)
    lines.append(f"s = sum({names[-1]} * {names[-1]})")
    prog = tcnb.parse("\n".join(lines))
    rng = np.random.default_rng(len(steps))
    arrays = {n: rng.uniform(0.3, 1.5, 3) for n in ("t", "t1", "x")}

    def ref(t):
        vals = {"t": t, "t1": jnp.asarray(arrays["t1"]), "x": jnp.asarray(arrays["x"])}
        for n in names[3:]:
            fname, a, b = exprs[n]
            vals[n] = _FUNCS[fname](vals[a], vals[b])
        return jnp.sum(vals[names[-1]] ** 2)
    if "t" not in prog["s"].variables:
        return
    g = tcnb.grad(prog["s"], "t", mode=mode).evaluate(**arrays)
    np.testing.assert_allclose(g, jax.grad(ref)(jnp.asarray(arrays["t"])), rtol=1e-8, atol=1e-10)
    H = tcnb.hessian(prog["s"], "t", mode=mode).evaluate(**arrays)
    np.testing.assert_allclose(H, jax.hessian(ref)(jnp.asarray(arrays["t"])), rtol=1e-7, atol=1e-9)
