"""Matrix-free curvature: derivatives as SciPy LinearOperators, Lanczos eigenvalues, Newton–CG,
and the compressed form's operator and sparse matrix — each against the dense derivative."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from scipy.sparse.linalg import LinearOperator

import tcnb
from tcnb.errors import DerivativeError

MODES = ["forward", "reverse", "cross-country"]
LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w)))) + 0.5 * sum(w * w)"


def _logreg(m=30, n=12, seed=0):
    rng = np.random.default_rng(seed)
    return tcnb.parse(LOGREG), dict(X=rng.standard_normal((m, n)), y=np.sign(rng.standard_normal(m)),
                                    w=rng.standard_normal(n) / 3)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_operator_matches_the_dense_hessian(mode):
    p, a = _logreg()
    H = tcnb.hessian(p["f"], "w", mode=mode)
    dense = H.evaluate(**a)
    op = H.as_linear_operator(**a)
    assert isinstance(op, LinearOperator) and op.shape == (12, 12)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = rng.standard_normal(12)
        np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(op.rmatvec(v), dense.T @ v, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_jacobian_operator_of_a_matrix_valued_map(mode):
    p = tcnb.parse("W: R[k, n]\nx: R[n]\nA: R[n, k]\nZ = tanh(W @ A) * sum(x)")
    rng = np.random.default_rng(2)
    a = dict(W=rng.standard_normal((3, 4)), x=rng.standard_normal(4), A=rng.standard_normal((4, 3)))
    J = tcnb.jacobian(p["Z"], "W", mode=mode)                     # (k, k, k, n): rows k·k, columns k·n
    dense = np.asarray(J.evaluate(**a)).reshape(9, 12)
    op = J.as_linear_operator(**a)
    assert op.shape == (9, 12)
    v, u = rng.standard_normal(12), rng.standard_normal(9)
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(op.rmatvec(u), dense.T @ u, rtol=1e-11, atol=1e-12)


def test_the_product_never_forms_the_hessian():
    p, _ = _logreg()
    from tcnb.operators import products
    mv, rmv, vname, uname = products(tcnb.hessian(p["f"], "w"))
    src = mv.to_source(m=2000, n=1000)
    assert "(1000, 1000)" not in src and "X.T @" in src, src
    assert mv.stats(m=2000, n=1000)["flops"] < 20 * 2000 * 1000


def test_top_eigenvalues_and_vectors_by_lanczos():
    p, a = _logreg(m=60, n=25)
    H = tcnb.hessian(p["f"], "w")
    dense = H.evaluate(**a)
    want = np.sort(np.linalg.eigvalsh(dense))[::-1][:4]
    np.testing.assert_allclose(tcnb.top_eigenvalues(H, 4, **a), want, rtol=1e-9)
    vals, vecs = tcnb.top_eigenvalues(H, 2, return_vectors=True, **a)
    assert vecs.shape == (25, 2)
    np.testing.assert_allclose(dense @ vecs, vecs * vals, rtol=1e-7, atol=1e-8)
    with pytest.raises(DerivativeError, match="1 <= k"):
        tcnb.top_eigenvalues(H, 25, **a)


def test_newton_cg_step_solves_the_newton_system():
    p, a = _logreg()
    H, g = tcnb.hessian(p["f"], "w").evaluate(**a), tcnb.grad(p["f"], "w").evaluate(**a)
    step = tcnb.newton_cg_step(p["f"], "w", rtol=1e-12, **a)
    np.testing.assert_allclose(step, np.linalg.solve(H, -g), rtol=1e-8, atol=1e-10)


def test_hostile_names_do_not_collide_with_the_operators_own():
    p = tcnb.parse("direction: R[n]\ncotangent: R[n]\nbackend: R[n]\n"
                   "f = sum(exp(direction * cotangent)) + sum(backend * direction ** 2)")
    rng = np.random.default_rng(3)
    a = {k: rng.standard_normal(5) for k in ("direction", "cotangent", "backend")}
    H = tcnb.hessian(p["f"], "direction")
    op = H.as_linear_operator(**a)
    v = rng.standard_normal(5)
    np.testing.assert_allclose(op @ v, H.evaluate(**a) @ v, rtol=1e-12)


def test_structured_operator_and_sparse_matrix():
    p = tcnb.parse("T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)")
    rng = np.random.default_rng(4)
    a = dict(T=rng.standard_normal((6, 6)), U=rng.standard_normal((6, 2)), V=rng.standard_normal((6, 2)))
    H = tcnb.hessian(p["f"], "U")
    S = H.structured(**a)
    dense = np.asarray(H.evaluate(**a)).reshape(12, 12)
    op = S.as_linear_operator()
    v = rng.standard_normal(12)
    np.testing.assert_allclose(op @ v, dense @ v, rtol=1e-12)
    np.testing.assert_allclose(op.rmatvec(v), dense.T @ v, rtol=1e-12)
    sp = S.to_sparse()
    assert scipy.sparse.issparse(sp) and sp.shape == (12, 12)
    assert sp.nnz == 6 * 2 * 2  # 2 (VᵀV) ⊗ I: n blocks of k × k
    np.testing.assert_allclose(sp.toarray(), dense, rtol=1e-12)
    coo = S.to_sparse("coo")
    assert coo.format == "coo"


def test_operators_of_scalars_are_refused():
    p, a = _logreg()
    with pytest.raises(DerivativeError, match="scalar"):
        p["f"].as_linear_operator(**a)
