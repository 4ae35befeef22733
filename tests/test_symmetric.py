"""Symmetric declarations (``S: Sym[n]``, ``P: SPD[n]``) and functions of several results (eigh, svd).

Derivatives by a symmetric variable are taken along symmetric directions: they must equal JAX's
derivatives of f(sym(X)), sym(X) = (X + Xᵀ)/2, and central differences of X -> f(sym(X)), in every
mode, compressed or not. logdet / solve of an SPD variable go through Cholesky and must agree with
the general forms in value and derivatives. Promises are checked when arrays are bound.
"""
from __future__ import annotations

import numpy as np
import pytest

import tcnb
from tcnb.primitives import lookup
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

MODES = ("forward", "reverse", "cross-country")
N, K, M = 4, 3, 5


def sym(X):
    return (X + X.T) / 2


def _spd(rng, n=N):
    B = rng.standard_normal((n, n))
    return B @ B.T / n + np.eye(n)


def _sym(rng, n=N):
    return sym(rng.standard_normal((n, n)))


def _arrays(prog, seed=0):
    """Random arrays for a program's variables: symmetric for Sym, SPD for SPD, normal otherwise."""
    rng = np.random.default_rng(seed)
    sizes = {"n": N, "k": K, "m": M}
    out = {}
    for name, v in prog._parsed.variables.items():
        if v.structure == "spd":
            out[name] = _spd(rng)
        elif v.structure == "sym":
            out[name] = _sym(rng)
        else:
            out[name] = rng.standard_normal(tuple(sizes[str(d)] for d in v.shape))
    return out


def _fd(expr, arrays, wrt):
    """Central differences of X -> expr(wrt = sym(X)): the derivative along symmetric directions."""
    return central_diff(lambda X: expr.evaluate(**{**arrays, wrt: sym(X)}), arrays[wrt], 1e-6)


# program, variable, the same function in JAX (of a dict of arrays)
SCALAR_CASES = [
    ("S: Sym[n]\na: R[n]\nb: R[n]\nf = a @ S @ b + sum(S * S * S)", "S",
     lambda d: d["a"] @ d["S"] @ d["b"] + jnp.sum(d["S"] ** 3)),
    ("S: Sym[n]\nA: R[n, n]\nf = trace(S @ A @ S @ A)", "S",
     lambda d: jnp.trace(d["S"] @ d["A"] @ d["S"] @ d["A"])),
    ("S: Sym[n]\nA: R[n, n]\nf = sum(exp(S) * A) + sum(S @ A)", "S",
     lambda d: jnp.sum(jnp.exp(d["S"]) * d["A"]) + jnp.sum(d["S"] @ d["A"])),
    ("S: Sym[n]\nc: R[n]\nf = sum(eigvalsh(S) * c)", "S",
     lambda d: jnp.sum(jnp.linalg.eigvalsh(sym(d["S"])) * d["c"])),
    ("P: SPD[n]\nA: R[n, n]\nf = logdet(P) + sum(inv(P) * A)", "P",
     lambda d: jnp.linalg.slogdet(d["P"])[1] + jnp.sum(jnp.linalg.inv(d["P"]) * d["A"])),
    ("P: SPD[n]\nB: R[n, k]\nf = sum(solve(P, B) * B)", "P",
     lambda d: jnp.sum(jnp.linalg.solve(d["P"], d["B"]) * d["B"])),
    ("P: SPD[n]\nx: R[n]\nf = x @ solve(P, x) + logdet(P) ** 2", "P",
     lambda d: d["x"] @ jnp.linalg.solve(d["P"], d["x"]) + jnp.linalg.slogdet(d["P"])[1] ** 2),
    ("S: Sym[n]\nA: R[n, n]\ng[i] = A[i, j] * S[j, k] * S[k, i]\nf = sum(g * g)", "S",
     lambda d: jnp.sum(jnp.einsum("ij,jk,ki->i", d["A"], d["S"], d["S"]) ** 2)),
]


def _jax_of_sym(fn, arrays, wrt):
    def g(X):
        return fn({**{k: jnp.asarray(v) for k, v in arrays.items()}, wrt: sym(X)})
    return g


@pytest.mark.parametrize("case", range(len(SCALAR_CASES)))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("compress", [True, False])
def test_gradient_and_hessian_match_jax_of_f_of_sym_and_finite_differences(case, mode, compress):
    src, wrt, fn = SCALAR_CASES[case]
    prog = tcnb.parse(src)
    arrays = _arrays(prog, seed=case)
    f = prog["f"]
    assert np.isclose(f.evaluate(**arrays), fn(arrays))
    g = _jax_of_sym(fn, arrays, wrt)
    G = tcnb.grad(f, wrt, mode=mode, compress=compress)
    H = tcnb.hessian(f, wrt, mode=mode, compress=compress)
    got_g, got_h = G.evaluate(**arrays), H.evaluate(**arrays)
    np.testing.assert_allclose(got_g, jax.grad(g)(jnp.asarray(arrays[wrt])), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got_h, jax.hessian(g)(jnp.asarray(arrays[wrt])), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(got_g, _fd(f, arrays, wrt), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_h, _fd(G, arrays, wrt), rtol=1e-5, atol=1e-6)
    # symmetric in the variable's axes: a gradient in the space of symmetric matrices
    np.testing.assert_allclose(got_g, got_g.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_h, got_h.transpose(1, 0, 2, 3), rtol=0, atol=1e-10)
    np.testing.assert_allclose(got_h, got_h.transpose(0, 1, 3, 2), rtol=0, atol=1e-10)
    if compress:
        np.testing.assert_allclose(H.structured(**arrays).dense(), got_h, rtol=1e-12, atol=1e-12)


def test_the_unconstrained_gradient_differs_so_the_test_can_fail():
    """a Sᵀ b with a ≠ b: R[n, n] gives a bᵀ, Sym[n] gives (a bᵀ + b aᵀ)/2."""
    src = "a: R[n]\nb: R[n]\nf = a @ S @ b"
    rng = np.random.default_rng(3)
    a, b, S = rng.standard_normal(N), rng.standard_normal(N), _sym(rng)
    plain = tcnb.grad(tcnb.parse("S: R[n, n]\n" + src)["f"], "S").evaluate(a=a, b=b, S=S)
    symmetric = tcnb.grad(tcnb.parse("S: Sym[n]\n" + src)["f"], "S").evaluate(a=a, b=b, S=S)
    np.testing.assert_allclose(plain, np.outer(a, b))
    np.testing.assert_allclose(symmetric, sym(np.outer(a, b)))
    assert not np.allclose(plain, symmetric)


JACOBIAN_CASES = [
    ("S: Sym[n]\nA: R[n, k]\nF = S @ A", "S", lambda d: d["S"] @ d["A"]),
    ("P: SPD[n]\nB: R[n, k]\nF = solve(P, B)", "P", lambda d: jnp.linalg.solve(d["P"], d["B"])),
    ("P: SPD[n]\nB: R[n, k]\nF = solve(P, B)", "B", lambda d: jnp.linalg.solve(d["P"], d["B"])),
    ("S: Sym[n]\nF = S @ S", "S", lambda d: d["S"] @ d["S"]),
]


@pytest.mark.parametrize("case", range(len(JACOBIAN_CASES)))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("compress", [True, False])
def test_jacobians_are_symmetrized_in_the_variables_axes_only(case, mode, compress):
    src, wrt, fn = JACOBIAN_CASES[case]
    prog = tcnb.parse(src)
    arrays = _arrays(prog, seed=10 + case)
    F = prog["F"]
    J = tcnb.jacobian(F, wrt, mode=mode, compress=compress).evaluate(**arrays)
    structured = prog._parsed.variables[wrt].structure is not None
    if structured:
        expected = jax.jacfwd(_jax_of_sym(fn, arrays, wrt))(jnp.asarray(arrays[wrt]))
        np.testing.assert_allclose(J, _fd(F, arrays, wrt), rtol=1e-5, atol=1e-6)
    else:
        expected = jax.jacfwd(lambda X: fn({**arrays, wrt: X}))(jnp.asarray(arrays[wrt]))
    np.testing.assert_allclose(J, expected, rtol=1e-9, atol=1e-10)
    D2 = tcnb.derivative(F, wrt, order=2, mode=mode, compress=compress).evaluate(**arrays)
    if structured:
        np.testing.assert_allclose(D2, jax.jacfwd(jax.jacfwd(_jax_of_sym(fn, arrays, wrt)))(
            jnp.asarray(arrays[wrt])), rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_hvp_along_a_general_direction_is_that_of_f_of_sym(mode):
    prog = tcnb.parse("S: Sym[n]\nA: R[n, n]\nv: R[n, n]\nf = trace(S @ A @ S @ S)")
    rng = np.random.default_rng(5)
    S, A, v = _sym(rng), rng.standard_normal((N, N)), rng.standard_normal((N, N))
    got = tcnb.hvp(prog["f"], "S", prog["v"], mode=mode).evaluate(S=S, A=A, v=v)
    g = jax.grad(lambda X: jnp.trace(sym(X) @ A @ sym(X) @ sym(X)))
    expected = jax.jvp(g, (jnp.asarray(S),), (jnp.asarray(v),))[1]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------- SPD through Cholesky

SPD_CASES = ["f = logdet(P)", "f = logdet(P) * sum(P)", "a: R[n]\nf = a @ solve(P, a)",
             "B: R[n, k]\nf = sum(solve(P, B) ** 2)", "a: R[n]\nf = sum(exp(solve(P, a))) + logdet(P)"]


@pytest.mark.parametrize("case", SPD_CASES)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("compress", [True, False])
def test_spd_forms_through_cholesky_equal_the_general_forms(case, mode, compress):
    spd = tcnb.parse("P: SPD[n]\n" + case)["f"]
    general = tcnb.parse("P: Sym[n]\n" + case)["f"]
    assert "cholesky" in spd.einstein() and "cholesky" not in general.einstein()
    arrays = _arrays(tcnb.parse("P: SPD[n]\n" + case), seed=7)
    np.testing.assert_allclose(spd.evaluate(**arrays), general.evaluate(**arrays), rtol=1e-12)
    for name in [n for n in arrays]:
        for d in (tcnb.jacobian, tcnb.hessian if name == "P" else tcnb.jacobian):
            a = d(spd, name, mode=mode, compress=compress).evaluate(**arrays)
            b = d(general, name, mode=mode, compress=compress).evaluate(**arrays)
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_spd_solve_with_a_vector_and_other_operands_stay_general():
    prog = tcnb.parse("P: SPD[n]\nA: R[n, n]\nb: R[n]\nx = solve(P, b)\ny = solve(A, b)\nz = logdet(P + A)")
    assert "cholesky" in prog["x"].einstein()
    assert "cholesky" not in prog["y"].einstein() and "cholesky" not in prog["z"].einstein()
    rng = np.random.default_rng(2)
    P, b = _spd(rng), rng.standard_normal(N)
    np.testing.assert_allclose(prog["x"].evaluate(P=P, b=b), np.linalg.solve(P, b), rtol=1e-12)


# ----------------------------------------------------------------- promises checked

def test_a_non_symmetric_array_for_a_sym_variable_is_a_binding_error_naming_it():
    f = tcnb.parse("S: Sym[n]\nf = sum(S * S * S)")["f"]
    rng = np.random.default_rng(0)
    S = _sym(rng)
    assert np.isclose(f.evaluate(S=S), np.sum(S * S * S))
    bad = S.copy()
    bad[0, 1] += 0.1
    with pytest.raises(tcnb.BindingError, match=r"'S' is declared S: Sym\[n\] but its array is not symmetric"):
        f.evaluate(S=bad)  # the same shapes as the good call: the fast path checks too
    with pytest.raises(tcnb.BindingError, match="not symmetric"):
        tcnb.grad(f, "S").evaluate(S=bad)
    with pytest.raises(tcnb.BindingError, match="not symmetric"):
        tcnb.hessian(f, "S").structured(S=bad)
    near = S.copy()
    near[0, 1] += 1e-14  # rounding-level asymmetry is accepted
    f.evaluate(S=near)
    assert np.isfinite(f.evaluate(S=S.astype(np.float32)))


def test_a_symmetric_indefinite_array_for_an_spd_variable_is_a_numerical_error():
    f = tcnb.parse("P: SPD[n]\nf = sum(P)")["f"]
    rng = np.random.default_rng(1)
    f.evaluate(P=_spd(rng))
    with pytest.raises(tcnb.NumericalError, match=r"'P' is declared P: SPD\[n\] but its array is not positive definite"):
        f.evaluate(P=_sym(rng) - 5 * np.eye(N))
    with pytest.raises(tcnb.BindingError, match="not symmetric"):
        f.evaluate(P=rng.standard_normal((N, N)) + 5 * np.eye(N))
    with pytest.raises(tcnb.NumericalError, match="NaN or infinite"):
        f.evaluate(P=np.full((N, N), np.nan))


def test_the_standalone_module_checks_the_promise_too():
    src = tcnb.parse("S: Sym[n]\nf = sum(S @ S)")["f"].to_source(standalone=True)
    assert "S: Sym[n]" in src
    ns: dict = {}
    exec(compile(src, "<standalone>", "exec"), ns)
    rng = np.random.default_rng(0)
    S = _sym(rng)
    assert np.isclose(ns["f"](S), np.sum(S @ S))
    with pytest.raises(ValueError, match="not symmetric"):
        ns["f"](rng.standard_normal((N, N)))


def test_declarations_print_and_refuse_bad_forms():
    prog = tcnb.parse("S: Sym[n]\nP: SPD[n + 1]\nf = sum(S)")
    assert repr(prog).splitlines()[:2] == ["S: Sym[n]", "P: SPD[n + 1]"]
    assert prog["S"].shape == prog["S"].shape[:1] * 2
    for text, message, col in [("S: Sym[n, n]", r"Sym\[...\] takes one dimension", 7),
                               ("S: SPD", "SPD needs its size", 3),
                               ("S: Sym[0]", "a dimension must be positive", 7),
                               ("Sym = 1", "'Sym' is reserved", 0),
                               ("S: Matrix[n]", "unknown type in a declaration", 3)]:
        with pytest.raises(tcnb.TensorSyntaxError, match=message) as err:
            tcnb.parse(text)
        assert (err.value.line, err.value.col) == (1, col)
    # two programs declaring S differently have different variables
    a = tcnb.parse("S: Sym[n]\nf = sum(S)")
    b = tcnb.parse("S: R[n, n]\nf = sum(S)")
    assert a["S"].node is not b["S"].node
    with pytest.raises(tcnb.DerivativeError, match="S: Sym"):
        tcnb.grad(b["f"], a["S"])


# ----------------------------------------------------------------- eigh, svd

def _eigh_ref(xp, A):
    return lookup("eigvalsh").reference(xp, A), lookup("eigh_vectors").reference(xp, A)


def _svd_ref(xp, B):
    return lookup("svd_u").reference(xp, B), lookup("svdvals").reference(xp, B), lookup("svd_v").reference(xp, B).T


def test_unpacked_values_match_numpy():
    prog = tcnb.parse("A: R[n, n]\nB: R[m, k]\nw, V = eigh(A)\nU, s, Vt = svd(B)\n_, W = eigh(A)")
    rng = np.random.default_rng(4)
    A, B = _sym(rng), rng.standard_normal((M, K))
    w, V = prog["w"].evaluate(A=A), prog["V"].evaluate(A=A)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(A), rtol=1e-12)
    np.testing.assert_allclose(A @ V, V * w, atol=1e-12)
    np.testing.assert_allclose(np.abs(V), np.abs(np.linalg.eigh(A)[1]), atol=1e-12)
    np.testing.assert_allclose(prog["W"].evaluate(A=A), V)
    U, s, Vt = (prog[k].evaluate(B=B) for k in ("U", "s", "Vt"))
    assert U.shape == (M, K) and s.shape == (K,) and Vt.shape == (K, K)
    np.testing.assert_allclose(s, np.linalg.svd(B, compute_uv=False), rtol=1e-12)
    np.testing.assert_allclose((U * s) @ Vt, B, atol=1e-12)
    np.testing.assert_allclose(Vt @ Vt.T, np.eye(K), atol=1e-12)
    assert "_" not in prog and list(prog.definitions) == ["w", "V", "U", "s", "Vt", "W"]
    assert prog.line_of("s") == 4


TUPLE_CASES = [
    ("A: R[n, n]\nc: R[n]\nC: R[n, n]\nw, V = eigh(A)\nf = sum(w * c) + sum(V * C)", "A",
     lambda d: (lambda w, V: jnp.sum(w * d["c"]) + jnp.sum(V * d["C"]))(*_eigh_ref(jnp, d["A"]))),
    ("S: Sym[n]\nC: R[n, n]\nw, V = eigh(S)\nf = sum(w ** 3) + sum((V @ C) * V)", "S",
     lambda d: (lambda w, V: jnp.sum(w ** 3) + jnp.sum((V @ d["C"]) * V))(*_eigh_ref(jnp, sym(d["S"])))),
    ("B: R[m, k]\nC: R[m, k]\nc: R[k]\nU, s, Vt = svd(B)\nf = sum(C.T @ U) + sum(s ** 3) + sum((Vt @ c) * s)", "B",
     lambda d: (lambda U, s, Vt: jnp.sum(d["C"].T @ U) + jnp.sum(s ** 3) + jnp.sum((Vt @ d["c"]) * s))(
         *_svd_ref(jnp, d["B"]))),
]


@pytest.mark.parametrize("case", range(len(TUPLE_CASES)))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("compress", [True, False])
def test_derivatives_through_unpacked_results_match_jax_and_finite_differences(case, mode, compress):
    src, wrt, fn = TUPLE_CASES[case]
    prog = tcnb.parse(src)
    arrays = _arrays(prog, seed=20 + case)
    if wrt == "A":
        arrays["A"] = sym(arrays["A"])
    f = prog["f"]
    assert np.isclose(f.evaluate(**arrays), fn(arrays))
    if wrt == "S":
        g = _jax_of_sym(fn, arrays, wrt)
    else:
        g = lambda X: fn({**arrays, wrt: X})  # noqa: E731
    x = jnp.asarray(arrays[wrt])
    G = tcnb.grad(f, wrt, mode=mode, compress=compress)
    got = G.evaluate(**arrays)
    np.testing.assert_allclose(got, jax.grad(g)(x), rtol=1e-8, atol=1e-9)
    fd = _fd(f, arrays, wrt) if wrt == "S" else central_diff(lambda X: f.evaluate(**{**arrays, wrt: X}),
                                                              arrays[wrt])
    np.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)
    H = tcnb.hessian(f, wrt, mode=mode, compress=compress).evaluate(**arrays)
    np.testing.assert_allclose(H, jax.hessian(g)(x), rtol=1e-7, atol=1e-8)


PARSE_ERRORS = [
    ("A: R[n, n]\nf = eigh(A)", r"eigh\(\) has 2 results \(w, V\): unpack them.*or use eigvalsh", 2, 4),
    ("A: R[n, n]\nf = sum(svd(A))", r"svd\(\) has 3 results \(U, s, Vt\).*svdvals", 2, 8),
    ("A: R[n, n]\nw, V, X = eigh(A)", "eigh\\(\\) has 2 results, but 3 names are given", 2, 0),
    ("A: R[n, n]\nw = 1\nU, s = svd(A)", "svd\\(\\) has 3 results, but 2 names", 3, 0),
    ("A: R[n, n]\nw, *V = eigh(A)", "a starred target is not supported", 2, 3),
    ("A: R[n, n]\nw[i], V = eigh(A)", "index notation cannot unpack several results", 2, 0),
    ("A: R[n, n]\nG[i, j] = eigh(A)", "not available in index notation", 2, 10),
    ("A: R[n, n]\nw, V = inv(A)", "only a function of several results can be unpacked", 2, 7),
    ("A: R[n, n]\nw, V = A, A", "only a function of several results can be unpacked", 2, 7),
    ("A: R[n, n]\nw, w = eigh(A)", "a name is repeated", 2, 0),
    ("A: R[n, n]\nA, V = eigh(A)", "'A' is already defined on line 1", 2, 0),
    ("A: R[n, n]\nw, V = eigh(A, A)", "eigh takes 1 argument, got 2", 2, 7),
    ("A: R[n, n]\nw, (V, X) = eigh(A)", "cannot assign to this", 2, 3),
    ("x: R[n]\nw, V = eigh(x)", "eigh: A has rank 1", 2, 7),
    ("A: R[n, n]\neigh = A", "'eigh' is the name of a function", 2, 0),
]


@pytest.mark.parametrize("text, message, line, col", PARSE_ERRORS)
def test_unpacking_errors_are_clear_and_located(text, message, line, col):
    with pytest.raises(tcnb.TcnbError, match=message) as err:
        tcnb.parse(text)
    assert (err.value.line, err.value.col) == (line, col)


def test_tuple_functions_are_reserved_names():
    with pytest.raises(tcnb.TensorSyntaxError, match="built-in"):
        tcnb.define_elementwise("eigh", "t")


# ----------------------------------------------------------------- SymPy's matrix-derivative tests
# The Matrix Cookbook examples of sympy/matrices/expressions/tests/test_derivatives.py
# (test_matrix_derivative_of_determinant, _with_inverse, _of_traces): SymPy's d/dX of each, as
# NumPy. None of SymPy's tests takes X symmetric (nor eigen / SVD derivatives), so each is ported
# twice: X: R[n, n] must give SymPy's formula, X: Sym[n] its symmetric part (tcnb's convention,
# not the Cookbook's 2G - diag(G) for symmetric X).

inv, det = np.linalg.inv, np.linalg.det
SYMPY_COOKBOOK = [
    ("49", "f = det(X)", lambda X, A, B, C, a, b: det(X) * inv(X).T),
    ("51", "f = det(A @ X @ B)", lambda X, A, B, C, a, b: det(A @ X @ B) * inv(X).T),
    ("52", "f = det(X.T @ A @ X)", lambda X, A, B, C, a, b: 2 * det(X) ** 2 * det(A) * inv(X).T),
    ("55", "f = logdet(X.T @ X)", lambda X, A, B, C, a, b: 2 * inv(X).T),
    ("57", "f = logdet(X)", lambda X, A, B, C, a, b: inv(X).T),
    ("61", "f = a @ inv(X) @ b", lambda X, A, B, C, a, b: -inv(X).T @ np.outer(a, b) @ inv(X).T),
    ("62", "f = det(inv(X))", lambda X, A, B, C, a, b: -det(inv(X)) * inv(X).T),
    ("63", "f = trace(A @ inv(X) @ B)", lambda X, A, B, C, a, b: -(inv(X) @ B @ A @ inv(X)).T),
    ("64", "f = trace(inv(X + A))", lambda X, A, B, C, a, b: -inv(X + A).T @ inv(X + A).T),
    ("99", "f = trace(X)", lambda X, A, B, C, a, b: np.eye(len(X))),
    ("100", "f = trace(X @ A)", lambda X, A, B, C, a, b: A.T),
    ("101", "f = trace(A @ X @ B)", lambda X, A, B, C, a, b: A.T @ B.T),
    ("102", "f = trace(A @ X.T @ B)", lambda X, A, B, C, a, b: B @ A),
    ("103", "f = trace(X.T @ A)", lambda X, A, B, C, a, b: A),
    ("104", "f = trace(A @ X.T)", lambda X, A, B, C, a, b: A),
    ("106", "f = trace(X @ X)", lambda X, A, B, C, a, b: 2 * X.T),
    ("107", "f = trace(X @ X @ B)", lambda X, A, B, C, a, b: (X @ B + B @ X).T),
    ("108", "f = trace(X.T @ B @ X)", lambda X, A, B, C, a, b: B @ X + B.T @ X),
    ("111", "f = trace(X @ B @ X.T)", lambda X, A, B, C, a, b: X @ B.T + X @ B),
    ("114", "f = trace(A @ X @ B @ X)", lambda X, A, B, C, a, b: A.T @ X.T @ B.T + B.T @ X.T @ A.T),
    ("115", "f = trace(X.T @ X)", lambda X, A, B, C, a, b: 2 * X),
    ("116", "f = trace(B.T @ X.T @ C @ X @ B)", lambda X, A, B, C, a, b: C.T @ X @ B @ B.T + C @ X @ B @ B.T),
    ("117", "f = trace(X.T @ B @ X @ C)", lambda X, A, B, C, a, b: B @ X @ C + B.T @ X @ C.T),
    ("118", "f = trace(A @ X @ B @ X.T @ C)", lambda X, A, B, C, a, b: A.T @ C.T @ X @ B.T + C @ A @ X @ B),
    ("119", "f = trace((A @ X @ B + C) @ (A @ X @ B + C).T)",
     lambda X, A, B, C, a, b: 2 * A.T @ (A @ X @ B + C) @ B.T),
    ("124", "f = trace(A @ inv(X) @ B)", lambda X, A, B, C, a, b: -inv(X).T @ A.T @ B.T @ inv(X).T),
]


@pytest.mark.parametrize("example, body, formula", SYMPY_COOKBOOK, ids=[c[0] for c in SYMPY_COOKBOOK])
@pytest.mark.parametrize("declared", ["R[n, n]", "Sym[n]"])
def test_sympy_cookbook_examples(example, body, formula, declared):
    prog = tcnb.parse(f"X: {declared}\nA: R[n, n]\nB: R[n, n]\nC: R[n, n]\na: R[n]\nb: R[n]\n{body}")
    rng = np.random.default_rng(int(example))
    X = rng.standard_normal((N, N)) / 2 + 2 * np.eye(N)
    X = sym(X) if declared == "Sym[n]" else X
    others = {k: rng.standard_normal((N, N)) / 2 + np.eye(N) for k in "ABC"}
    others.update(a=rng.standard_normal(N), b=rng.standard_normal(N))
    expected = formula(X, **others)
    expected = sym(expected) if declared == "Sym[n]" else expected
    for mode in MODES:
        got = tcnb.grad(prog["f"], "X", mode=mode).evaluate(X=X, **others)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)
