"""The linear-algebra functions of issue 13 through scalar objectives: gradients and Hessians in every
mode, compressed or not, against JAX (x64) and central finite differences; shape errors at parse
time; and cases ported from autograd's tests/test_linalg.py.

Convention under test: cholesky, eigvalsh and eigh_vectors read the symmetric part of A, so their
derivatives w.r.t. the full matrix are JAX's (which symmetrizes); the JAX oracle below is the
plain jnp.linalg function, not a symmetrized copy of it.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import tcnb
from tcnb import ShapeError, TcnbError
from conftest import random_array
from helpers_calculus import central_diff

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jsl = jax.scipy.linalg

MODES = ("forward", "reverse", "cross-country")


def _check(src, wrt, arrays, oracle, hessian=True, rtol=1e-7, fd_rtol=1e-5):
    """grad (and Hessian) of the scalar ``f`` of ``src`` w.r.t. ``wrt``, every mode, compress on/off,
    against JAX's grad (hessian) of ``oracle`` and central differences of JAX's value (gradient)."""
    prog = tcnb.parse(src)
    f = prog["f"]
    names = sorted(arrays)
    args = [jnp.asarray(arrays[n]) for n in names]
    k = names.index(wrt)

    def at(x, fn):
        a = list(args)
        a[k] = jnp.asarray(x)
        return np.asarray(fn(*a))

    value = float(oracle(*args))
    np.testing.assert_allclose(f.evaluate(**arrays), value, rtol=1e-10, atol=1e-12)
    g_ref = np.asarray(jax.grad(oracle, argnums=k)(*args))
    g_fd = central_diff(lambda x: at(x, oracle), arrays[wrt])
    np.testing.assert_allclose(g_ref, g_fd, rtol=fd_rtol, atol=1e-6)   # the oracle itself is right
    H_ref = np.asarray(jax.hessian(oracle, argnums=k)(*args)) if hessian else None
    if hessian:
        H_fd = central_diff(lambda x: at(x, jax.grad(oracle, argnums=k)), arrays[wrt])
        np.testing.assert_allclose(H_ref, H_fd, rtol=fd_rtol, atol=1e-5)
    for mode in MODES:
        for compress in (True, False):
            g = tcnb.grad(f, wrt, mode=mode, compress=compress).evaluate(**arrays)
            np.testing.assert_allclose(g, g_ref, rtol=rtol, atol=1e-9, err_msg=f"grad, {mode}, {compress}")
            if hessian:
                H = tcnb.hessian(f, wrt, mode=mode, compress=compress).evaluate(**arrays)
                np.testing.assert_allclose(H, H_ref, rtol=rtol, atol=1e-8, err_msg=f"Hessian, {mode}, {compress}")


def _rng(seed):
    return np.random.default_rng(seed)


N = 4


# ------------------------------------------------------------------ one objective per function

def test_cholesky_logdet_objective_equals_logdet():
    P = random_array((N, N), _rng(0), kind="spd")
    src = "P: R[n, n]\nf = 2 * sum(log(diagonal(cholesky(P))))\ng = logdet(P)"
    prog = tcnb.parse(src)
    np.testing.assert_allclose(prog["f"].evaluate(P=P), prog["g"].evaluate(P=P), rtol=1e-12)
    for mode in MODES:
        np.testing.assert_allclose(tcnb.grad(prog["f"], "P", mode=mode).evaluate(P=P), np.linalg.inv(P),
                                   rtol=1e-10, atol=1e-12)   # symmetric: = P⁻ᵀ
    _check(src, "P", {"P": P}, lambda P: 2 * jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(P)))))


def test_cholesky_weighted_sum():
    A = random_array((N, N), _rng(1), kind="spd")
    C = _rng(2).standard_normal((N, N))
    _check("A: R[n, n]\nC: R[n, n]\nf = sum(cholesky(A) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.linalg.cholesky(A) * C))


def test_cholesky_derivative_along_symmetric_directions_is_numpys():
    """NumPy reads only the lower triangle; along a symmetric direction both conventions agree."""
    A = random_array((N, N), _rng(3), kind="spd")
    C = _rng(4).standard_normal((N, N))
    S = _rng(5).standard_normal((N, N))
    S = S + S.T
    g = tcnb.grad(tcnb.parse("A: R[n, n]\nC: R[n, n]\nf = sum(cholesky(A) * C)")["f"], "A").evaluate(A=A, C=C)
    h = 1e-6
    fd = (np.sum(np.linalg.cholesky(A + h * S) * C) - np.sum(np.linalg.cholesky(A - h * S) * C)) / (2 * h)
    np.testing.assert_allclose(np.sum(g * S), fd, rtol=1e-6)


@pytest.mark.parametrize("lower", [True, False])
def test_solve_triangular(lower):
    L = random_array((N, N), _rng(6), kind="triangular")
    L = L if lower else L.T
    B = _rng(7).standard_normal((N, 3))
    C = _rng(8).standard_normal((N, 3))
    src = f"L: R[n, n]\nB: R[n, k]\nC: R[n, k]\nf = sum(solve_triangular(L, B, lower={lower}) ** 2 * C)"

    def oracle(B, C, L):
        return jnp.sum(jsl.solve_triangular(L, B, lower=lower) ** 2 * C)
    arrays = {"L": L, "B": B, "C": C}
    _check(src, "L", arrays, oracle)
    _check(src, "B", arrays, oracle)


def test_solve_triangular_vector():
    L = random_array((N, N), _rng(9), kind="triangular")
    b = _rng(10).standard_normal(N)
    _check("L: R[n, n]\nb: R[n]\nf = sum(exp(solve_triangular(L, b)))", "L", {"L": L, "b": b},
           lambda L, b: jnp.sum(jnp.exp(jsl.solve_triangular(L, b, lower=True))))


def test_eigvalsh_weighted_and_squared():
    A = random_array((N, N), _rng(11), kind="symmetric")
    c = _rng(12).standard_normal(N)
    _check("A: R[n, n]\nc: R[n]\nf = sum(eigvalsh(A) ** 2 * c)", "A", {"A": A, "c": c},
           lambda A, c: jnp.sum(jnp.linalg.eigvalsh(A) ** 2 * c))


def test_eigvalsh_of_a_nonsymmetric_input_reads_its_symmetric_part():
    A = _rng(13).standard_normal((N, N))
    c = _rng(14).standard_normal(N)
    _check("A: R[n, n]\nc: R[n]\nf = sum(eigvalsh(A) * c)", "A", {"A": A, "c": c},
           lambda A, c: jnp.sum(jnp.linalg.eigvalsh(A) * c))


def test_eigh_vectors_sign_invariant_objective():
    A = random_array((N, N), _rng(15), kind="symmetric")
    C = _rng(16).standard_normal((N, N))
    _check("A: R[n, n]\nC: R[n, n]\nf = sum((eigh_vectors(A) ** 2) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.linalg.eigh(A)[1] ** 2 * C))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (4, 4)])
def test_svdvals(shape):
    A = _rng(17).standard_normal(shape)
    c = _rng(18).standard_normal(min(shape))
    _check(f"A: R[{shape[0]}, {shape[1]}]\nc: R[{min(shape)}]\nf = sum(svdvals(A) ** 2 * c)", "A", {"A": A, "c": c},
           lambda A, c: jnp.sum(jnp.linalg.svd(A, compute_uv=False) ** 2 * c))


def test_pinv():
    A = _rng(19).standard_normal((N, 3))
    C = _rng(20).standard_normal((3, N))
    _check("A: R[n, k]\nC: R[k, n]\nf = sum(pinv(A) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.linalg.pinv(A) * C))


def test_expm():
    A = _rng(21).standard_normal((3, 3)) / 2
    C = _rng(22).standard_normal((3, 3))
    _check("A: R[n, n]\nC: R[n, n]\nf = sum(expm(A) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jsl.expm(A) * C))


def test_expm_value_is_scipys():
    import scipy.linalg
    A = _rng(23).standard_normal((5, 5))
    np.testing.assert_allclose(tcnb.parse("A: R[n, n]\nf = expm(A)")["f"].evaluate(A=A), scipy.linalg.expm(A),
                               rtol=1e-12)


@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_matrix_power(k):
    A = _rng(24).standard_normal((N, N)) / 2
    C = _rng(25).standard_normal((N, N))
    _check(f"A: R[n, n]\nC: R[n, n]\nf = sum(matrix_power(A, {k}) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.linalg.matrix_power(A, k) * C))


def test_kron():
    A = _rng(26).standard_normal((2, 3))
    B = _rng(27).standard_normal((3, 2))
    C = _rng(28).standard_normal((6, 6))
    src = "A: R[m, n]\nB: R[p, q]\nC: R[m * p, n * q]\nf = sum(kron(A, B) ** 2 * C)"
    oracle = lambda A, B, C: jnp.sum(jnp.kron(A, B) ** 2 * C)  # noqa: E731
    _check(src, "A", {"A": A, "B": B, "C": C}, oracle)
    _check(src, "B", {"A": A, "B": B, "C": C}, oracle)


@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
def test_kron_derivatives_are_reshapes_not_selection_matrices(mode):
    # ∂ kron(A, B): the reshape of A[i,j] B[k,l] — applied as a reshape, no (mp x m) 0/1 factor
    prog = tcnb.parse("A: R[m, n]\nB: R[p, q]\nC: R[m * p, n * q]\nf = sum(sin(kron(A, B)) * C)")
    for w in ("A", "B"):
        src = tcnb.grad(prog["f"], w, mode=mode).to_source(m=4, n=5, p=3, q=2)
        body = src.split("\n", 1)[1]
        assert body.count("kron(") == 1 and "eye(" not in body and "delta" not in body, src
        assert "reshape(" in body, src


def test_tril_and_triu():
    A = _rng(29).standard_normal((N, N))
    C = _rng(30).standard_normal((N, N))
    _check("A: R[n, n]\nC: R[n, n]\nf = sum(tril(A, -1) ** 2 * C + triu(A, 1) * C)", "A", {"A": A, "C": C},
           lambda A, C: jnp.sum(jnp.tril(A, -1) ** 2 * C + jnp.triu(A, 1) * C))


# ------------------------------------------------------------------ bad input, refused at parse time

@pytest.mark.parametrize("src, words", [
    ("A: R[m, n]\nf = cholesky(A)", ["cholesky", "square"]),
    ("A: R[m, n]\nf = eigvalsh(A)", ["eigvalsh", "square"]),
    ("A: R[m, n]\nf = expm(A)", ["expm", "square"]),
    ("A: R[m, n]\nf = matrix_power(A, 2)", ["matrix_power", "square"]),
    ("A: R[n, n]\nf = matrix_power(A, -1)", ["k must be an integer >= 0"]),
    ("A: R[n, n]\nf = matrix_power(A)", ["k must be an integer"]),
    ("L: R[n, n]\nB: R[m, k]\nf = solve_triangular(L, B)", ["B has m rows"]),
    ("L: R[n, m]\nB: R[n]\nf = solve_triangular(L, B)", ["square"]),
    ("x: R[n]\nf = svdvals(x)", ["rank 1"]),
    ("x: R[n]\nf = pinv(x)", ["rank 1"]),
    ("x: R[n]\nB: R[n, n]\nf = kron(x, B)", ["rank 1"]),
    ("A: R[n, n]\nf = expm_derivative(A, order=0)", ["order must be a positive integer"]),
])
def test_shape_errors_at_parse_time(src, words):
    with pytest.raises(ShapeError) as err:
        tcnb.parse(src)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_lower_must_be_a_bool():
    with pytest.raises(TcnbError, match="True or False"):
        tcnb.parse("L: R[n, n]\nb: R[n]\nf = solve_triangular(L, b, lower=1)")


def test_not_positive_definite_is_a_numerical_error():
    f = tcnb.parse("A: R[n, n]\nf = cholesky(A)")["f"]
    with pytest.raises(tcnb.NumericalError, match="positive definite"):
        f.evaluate(A=-np.eye(3))


def test_zero_diagonal_is_a_numerical_error():
    f = tcnb.parse("L: R[n, n]\nb: R[n]\nf = solve_triangular(L, b)")["f"]
    with pytest.raises(tcnb.NumericalError, match="diagonal"):
        f.evaluate(L=np.tril(np.ones((3, 3))) - np.diag([0.0, 1.0, 1.0]), b=np.ones(3))


# ------------------------------------------------------------------ ported from autograd's tests/test_linalg.py
# (HIPS/autograd, 2-D cases only: tcnb has no batched linear algebra). autograd's check_grads checks
# reverse-mode first and second derivatives against numerical ones; here every output's Jacobian
# (all modes) is checked against JAX and central differences, and a Hessian of a random projection.

def _symmetrized(fun):
    """autograd's check_symmetric_matrix_grads: the function of (tril(A) + tril(A)ᵀ)/2."""
    return lambda A: fun((jnp.tril(A) + jnp.tril(A).T) / 2)


SYM = "S = (tril(A) + tril(A).T) / 2\n"
PORTED = [
    # name, tcnb outputs (A the argument), oracle outputs, input
    ("test_inv", ["inv(A)"], lambda A: [jnp.linalg.inv(A)], "inv"),
    ("test_solve_arg1", ["solve(A, B)"], lambda A: [jnp.linalg.solve(A, jnp.asarray(_B))], "solve"),
    ("test_solve_arg1_1d", ["solve(A, b)"], lambda A: [jnp.linalg.solve(A, jnp.asarray(_b))], "solve"),
    ("test_det", ["det(A)"], lambda A: [jnp.linalg.det(A)], "randn"),
    ("test_slogdet", ["logdet(A)"], lambda A: [jnp.linalg.slogdet(A)[1]], "randn"),
    ("test_slogdet (-mat)", ["logdet(-A)"], lambda A: [jnp.linalg.slogdet(-A)[1]], "randn"),
    ("test_eigvalh_lower", [SYM + "eigvalsh(S)", SYM + "eigh_vectors(S)"],
     lambda A: [_symmetrized(jnp.linalg.eigvalsh)(A), _symmetrized(_eigh_signed)(A)], "psd"),
    ("test_eigvalh_upper", ["eigvalsh((triu(A) + triu(A).T) / 2)"],
     lambda A: [jnp.linalg.eigvalsh((jnp.triu(A) + jnp.triu(A).T) / 2)], "psd"),
    ("test_cholesky", [SYM + "cholesky(S)"], lambda A: [_symmetrized(jnp.linalg.cholesky)(A)], "psd"),
    ("test_cholesky_reparameterization_trick", [SYM + "norm2(cholesky(S) @ z)"],
     lambda A: [jnp.linalg.norm(_symmetrized(jnp.linalg.cholesky)(A) @ jnp.asarray(_z))], "psd"),
    ("test_svd_wide_2d", ["svd_u(A)", "svdvals(A)", "svd_v(A)"], None, (3, 5)),
    ("test_svd_square_2d", ["svd_u(A)", "svdvals(A)", "svd_v(A)"], None, (4, 4)),
    ("test_svd_tall_2d", ["svd_u(A)", "svdvals(A)", "svd_v(A)"], None, (5, 3)),
    ("test_svd_only_s_2d", ["svdvals(A)"], lambda A: [jnp.linalg.svd(A, compute_uv=False)], (5, 3)),
    ("test_norm_nuclear", ["sum(svdvals(A))"], lambda A: [jnp.sum(jnp.linalg.svd(A, compute_uv=False))], (6, 5)),
]
_R = np.random.default_rng(1)
_D = 6
_B = _R.standard_normal((_D, _D - 1))
_b = _R.standard_normal(_D)
_z = _R.standard_normal(_D)


def _column_signs(v):
    """tcnb's sign convention: each column's entry of largest magnitude is positive."""
    idx = jnp.argmax(jnp.abs(v), axis=0)
    return jnp.sign(v[idx, jnp.arange(v.shape[1])])


def _eigh_signed(S):
    v = jnp.linalg.eigh(S)[1]
    return v * _column_signs(v)


def _svd_signed(A):
    u, s, vt = jnp.linalg.svd(A, full_matrices=False)
    sg = _column_signs(u)
    return [u * sg, s, vt.T * sg]


def _ported_input(kind, rng):
    if isinstance(kind, tuple):
        return rng.standard_normal(kind)
    mat = rng.standard_normal((_D, _D))
    return {"inv": mat @ mat + np.eye(_D), "solve": mat + 10 * np.eye(_D), "randn": mat,
            "psd": mat @ mat.T}[kind]


@pytest.mark.parametrize("case", PORTED, ids=[c[0] for c in PORTED])
def test_ported_from_autograd(case):
    name, outs, oracle, kind = case
    A = _ported_input(kind, np.random.default_rng(zlib.crc32(name.encode())))
    oracle = oracle or _svd_signed
    m, n = A.shape
    arrays = {"A": A, "B": _B, "b": _b, "z": _z}
    decl = f"A: R[{m}, {n}]\nB: R[{_D}, {_D - 1}]\nb: R[{_D}]\nz: R[{_D}]\n"
    expected = oracle(jnp.asarray(A))
    for k, out in enumerate(outs):
        *pre, last = out.split("\n")
        src = decl + "".join(p + "\n" for p in pre) + f"f = {last}"
        prog = tcnb.parse(src)
        f = prog["f"]
        np.testing.assert_allclose(f.evaluate(**arrays), expected[k], rtol=1e-9, atol=1e-11)
        J_ref = np.asarray(jax.jacfwd(lambda X: oracle(X)[k])(jnp.asarray(A)))
        J_fd = central_diff(lambda X: np.asarray(oracle(jnp.asarray(X))[k]), A)
        np.testing.assert_allclose(J_ref, J_fd, rtol=1e-5, atol=1e-5)
        for mode in MODES:
            J = tcnb.jacobian(f, "A", mode=mode).evaluate(**arrays)
            np.testing.assert_allclose(J, J_ref, rtol=1e-7, atol=1e-8, err_msg=f"{name}[{k}] {mode}")
        # second order: the Hessian of a random projection sum(C * out)
        if np.ndim(expected[k]):
            C = np.random.default_rng(k).standard_normal(np.shape(expected[k]))
            prog2 = tcnb.parse(src + f"\nC: R[{', '.join(map(str, np.shape(C)))}]\ng = sum(C * f)")
            arrays2 = dict(arrays, C=C)
        else:
            C, prog2, arrays2 = 0.7, tcnb.parse(src + "\ng = 0.7 * f"), arrays
        H_ref = np.asarray(jax.hessian(lambda X: jnp.sum(C * oracle(X)[k]))(jnp.asarray(A)))
        H = tcnb.hessian(prog2["g"], "A", mode="reverse").evaluate(**arrays2)
        np.testing.assert_allclose(H, H_ref, rtol=1e-6, atol=1e-7, err_msg=f"{name}[{k}] Hessian")
