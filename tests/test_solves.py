"""An inverse that is only applied is computed as solves (tcnb/backend/solves.py).

Checked: the generated code has no explicit inverse where every use is a contraction, keeps it where
it is a result or meets a non-product; values equal the explicit-inverse code and JAX (x64) in every
mode; the singularity check of the LU path refuses what the inverse check refused.
"""
from __future__ import annotations

import numpy as np
import pytest

import tcnb
from tcnb.backend.codegen import generate, load
from tcnb.backend.solves import inverses_as_solves

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

MODES = ("forward", "reverse", "cross-country")
N = 6

PROG = """
A: R[n, n]
b: R[n]
c: R[n]
V: R[n, n]
x = solve(A, b)
f = sum(sin(x) * c)
g = logdet(A)
h = b @ inv(A) @ b
k = sum(inv(A) * V)
q = sum(sin(inv(A) + V))
"""

JAX = {
    "f": lambda a: jnp.sum(jnp.sin(jnp.linalg.solve(a["A"], a["b"])) * a["c"]),
    "g": lambda a: jnp.linalg.slogdet(a["A"])[1],
    "h": lambda a: a["b"] @ jnp.linalg.inv(a["A"]) @ a["b"],
    "k": lambda a: jnp.sum(jnp.linalg.inv(a["A"]) * a["V"]),
    "q": lambda a: jnp.sum(jnp.sin(jnp.linalg.inv(a["A"]) + a["V"])),
}


@pytest.fixture(scope="module")
def prog():
    return tcnb.parse(PROG)


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return dict(A=rng.normal(size=(N, N)) + 3 * np.eye(N), b=rng.normal(size=N), c=rng.normal(size=N),
                V=rng.normal(size=(N, N)))


def _jax_grad(name, wrt, a):
    def f(w):
        return JAX[name]({**{k: jnp.asarray(v) for k, v in a.items()}, wrt: w})
    return np.asarray(jax.grad(f)(jnp.asarray(a[wrt])))


def _explicit(expr, arrays):
    """The value computed by code generated without the lowering (explicit inverses)."""
    fn = expr.compile()
    gen = generate([expr.node], fn.vars, {"n": N})
    return load(gen)(np, fn.runtime, np.float64, *[arrays[v] for v in gen.arg_names])[0]


CASES = [  # (expression, wrt, inverse kept in the code?)
    ("f", "A", False), ("f", "b", False), ("h", "b", False),
    ("k", "A", True),   # -A⁻ᵀ Vᵀ A⁻ᵀ: solves with n right-hand sides would cost more than the inverse
    ("k", "V", True),   # ∂k/∂V = A⁻¹ itself
    ("g", "A", True),   # ∇ log det A = A⁻ᵀ: the inverse is the result
    ("q", "V", True),   # inv(A) + V: the inverse meets a sum, not a product
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,wrt,kept", CASES, ids=[f"{c[0]}-d{c[1]}" for c in CASES])
def test_gradients_solve_instead_of_inverting(prog, name, wrt, kept, mode):
    a = _arrays()
    G = tcnb.grad(prog[name], wrt, mode=mode)
    src = G.to_source(n=N)
    if mode != "reverse":  # reverse mode forms each partial (-A⁻¹ ⊗ x) before it meets its adjoint
        assert ("_rt.inv(" in src) == kept, src
    got = G.evaluate(**{k: a[k] for k in G.compile()._names})
    np.testing.assert_allclose(got, _jax_grad(name, wrt, a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, _explicit(G, a), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_hvp_of_logdet_keeps_the_inverse(prog, mode):
    # A⁻ᵀ Vᵀ A⁻ᵀ applies the inverse to a matrix: inverting once is cheaper than LU solves with n columns
    a = _arrays(1)
    Hv = tcnb.hvp(prog["g"], "A", prog["V"], mode=mode)
    assert "_rt.inv(" in Hv.to_source(n=N)
    jg = jax.grad(lambda A: jnp.linalg.slogdet(A)[1])
    ref = jax.jvp(jg, (jnp.asarray(a["A"]),), (jnp.asarray(a["V"]),))[1]
    np.testing.assert_allclose(Hv.evaluate(A=a["A"], V=a["V"]), np.asarray(ref), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["forward", "cross-country"])
def test_the_gradient_of_a_quadratic_form_through_solve_is_two_solves(mode):
    p = tcnb.parse("A: R[n, n]\nb: R[n]\nc: R[n]\nf = c @ solve(A, b) + sum(solve(A, c) * b)")
    src = tcnb.grad(p["f"], "b", mode=mode).to_source(n=N)
    assert "_rt.inv(" not in src and src.count("_rt.solve(") == 2, src
    a = _arrays(4)
    g = tcnb.grad(p["f"], "b", mode=mode).evaluate(A=a["A"], b=a["b"], c=a["c"])
    np.testing.assert_allclose(g, np.linalg.solve(a["A"].T, a["c"]) + np.linalg.solve(a["A"], a["c"]), rtol=1e-10)


def test_a_user_inverse_applied_to_a_vector_is_a_solve(prog):
    a = _arrays(2)
    assert "_rt.inv(" not in prog["h"].to_source(n=N)
    np.testing.assert_allclose(prog["h"].evaluate(A=a["A"], b=a["b"]), a["b"] @ np.linalg.solve(a["A"], a["b"]),
                               rtol=1e-12)


def test_three_uses_keep_the_inverse():
    # one inverse applied three times: three solves would cost as much as inverting once
    p = tcnb.parse("A: R[n, n]\nb: R[n]\nc: R[n]\nd: R[n]\nf = b @ inv(A) @ b + c @ inv(A) @ c + d @ inv(A) @ d")
    assert "_rt.inv(" in p["f"].to_source(n=N)
    rng = np.random.default_rng(3)
    A, b, c, d = rng.normal(size=(N, N)) + 3 * np.eye(N), rng.normal(size=N), rng.normal(size=N), rng.normal(size=N)
    Ai = np.linalg.inv(A)
    np.testing.assert_allclose(p["f"].evaluate(A=A, b=b, c=c, d=d), b @ Ai @ b + c @ Ai @ c + d @ Ai @ d, rtol=1e-12)


def test_a_stack_keeps_its_batched_inverse():
    p = tcnb.parse("A: R[k, n, n]\nb: R[k, n]\nf = sum(einsum('kij,kj->ki', inv(A), b))")
    src = p["f"].to_source(n=N, k=2)
    assert "_rt.inv(" in src


def test_the_lowering_leaves_the_expression_alone(prog):
    G = tcnb.grad(prog["f"], "A")
    assert "A^{-1}" in G.latex()          # what the user reads keeps the inverse
    assert inverses_as_solves([G.node])[0] is not G.node
    assert inverses_as_solves([prog["g"].node])[0] is prog["g"].node  # nothing to lower: the same node


@pytest.mark.parametrize("A", [np.zeros((3, 3)), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 1.0]]),
                               np.diag([1.0, 1.0, 1e-18])], ids=["zero", "rank-2", "cond-1e18"])
def test_the_lu_check_refuses_singular_systems(prog, A):
    with pytest.raises(tcnb.NumericalError, match="singular"):
        tcnb.grad(prog["f"], "b").evaluate(A=A, b=np.ones(3), c=np.ones(3))
    with pytest.raises(tcnb.NumericalError, match=r"^inv\(A\) \(applied as a solve\): the matrix is singular"):
        prog["h"].evaluate(A=A, b=np.ones(3))  # the message names the inverse the user wrote


def test_a_well_conditioned_system_is_not_refused(prog):
    A = np.diag([1.0, 1.0, 1e-12])  # condition 1e12 < 1/eps: solvable, as numpy solves it
    b = np.ones(3)
    np.testing.assert_allclose(prog["h"].evaluate(A=A, b=b), b @ np.linalg.solve(A, b), rtol=1e-12)
