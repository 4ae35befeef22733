"""Compressed derivatives: ``H.structured(**arrays)`` against the uncompressed evaluation.

For the paper's problems (matrix factorisation with its k×k core, the masked variant with a
block-diagonal core, a diagonal Hessian, the ReLU net's first layer, logistic regression without any
unit tensor) in every mode: ``.dense()`` equals ``evaluate`` with ``compress=False``, ``S @ v`` and
``S.solve(b)`` agree with dense NumPy on the (N, N) matrix, and the matrix-factorisation core at
n = 50, k = 5 really is k×k. Then every corpus derivative: ``.dense()`` and ``@`` of the compressed
form against the dense form.
"""
from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402
import helpers_calculus as hc  # noqa: E402

import tcnb  # noqa: E402

MODES = ["forward", "reverse", "cross-country"]
RTOL = 1e-10


# ------------------------------------------------------------------ the named problems

PROBLEMS = {
    "matfac": dict(src=corpus.by_name("matfac").src, of="f", wrt="U", sizes=dict(n=50, m=40, k=5), inputs={}),
    "matfac_masked": dict(src=corpus.by_name("matfac_masked").src, of="f", wrt="U",
                          sizes=dict(n=12, m=9, k=3), inputs={"M": "mask"}),
    "elementwise_diagonal": dict(src="x: R[n]\nf = sum(exp(x))\n", of="f", wrt="x", sizes=dict(n=7), inputs={}),
    "relu_net_first_layer": dict(src=corpus.by_name("relu_net").src, of="f", wrt="W1",
                                 sizes=dict(b=8, d=3, h=4, c=3), inputs={"Y": "onehot"},
                                 accept=corpus.by_name("relu_net").accept),
    "relu_net_single_hidden_layer": dict(src=corpus.by_name("relu_net_bias_lse").src, of="f", wrt="W1",
                                         sizes=dict(b=8, d=3, h=4, c=3), inputs={"Y": "onehot"},
                                         accept=corpus.by_name("relu_net_bias_lse").accept),
    "logreg": dict(src=corpus.by_name("logreg").src, of="f", wrt="w", sizes=dict(m=12, n=5), inputs={"y": "pm1"}),
    # the net's loss is piecewise Gauss-Newton in W1 and its Hessian singular (softmax shift invariance,
    # ReLU dead zones); a damping term 0.5 |W1|² (a unit-tensor term next to the dense core) makes the
    # Newton step well posed
    "relu_net_first_layer_damped": dict(src=corpus.by_name("relu_net").src + "fd = f + 0.5 * sum(W1 * W1)\n",
                                        of="fd", wrt="W1", sizes=dict(b=8, d=3, h=4, c=3), inputs={"Y": "onehot"},
                                        accept=corpus.by_name("relu_net").accept),
}
NO_NEWTON = {"relu_net_first_layer", "relu_net_single_hidden_layer"}  # singular Hessians (see above)

_cache: dict = {}


def problem(name):
    """(program, arrays, dense Hessian per mode) for a named problem, cached."""
    if name not in _cache:
        spec = PROBLEMS[name]
        p = tcnb.parse(spec["src"])
        shapes = {v: hc.resolve_shape(x.shape, spec["sizes"]) for v, x in p.variables.items()}
        rng = np.random.default_rng(hc.seed_for("structured", name))
        arrays = hc.random_inputs(shapes, spec["inputs"], rng, accept=spec.get("accept"))
        _cache[name] = (p, arrays)
    return _cache[name]


def hessians(name, mode):
    key = (name, mode)
    if key not in _cache:
        spec = PROBLEMS[name]
        p, arrays = problem(name)
        f, w = p[spec["of"]], p[spec["wrt"]]
        Hc = tcnb.hessian(f, w, mode=mode, compress=True)
        S = Hc.structured(**arrays)
        dense = np.asarray(tcnb.hessian(f, w, mode=mode, compress=False).evaluate(**arrays))
        _cache[key] = (S, dense, Hc)
    return _cache[key]


def _params(exclude=()):
    return [pytest.param(n, m, id=f"{n}-{m}") for n in PROBLEMS for m in MODES if n not in exclude]


@pytest.mark.parametrize("name,mode", _params())
def test_structured_dense_equals_uncompressed(name, mode):
    S, dense, Hc = hessians(name, mode)
    p, arrays = problem(name)
    w = arrays[PROBLEMS[name]["wrt"]]
    assert tuple(S.shape) == w.shape + w.shape == dense.shape
    hc.assert_close(S.dense(), dense, RTOL, f"{name} {mode}: structured().dense() vs compress=False")
    # the compressed expression evaluates densely to the same tensor too
    hc.assert_close(Hc.evaluate(**arrays), dense, RTOL, f"{name} {mode}: evaluate() compressed vs not")


@pytest.mark.parametrize("name,mode", _params())
def test_structured_matvec(name, mode):
    S, dense, _ = hessians(name, mode)
    p, arrays = problem(name)
    w = arrays[PROBLEMS[name]["wrt"]]
    rng = np.random.default_rng(hc.seed_for("matvec", name, mode))
    for _ in range(2):
        v = rng.normal(size=w.shape)
        got = np.asarray(S @ v)
        want = (hc.as_matrix(dense, w.ndim) @ v.reshape(-1)).reshape(w.shape)
        hc.assert_close(got, want, RTOL, f"{name} {mode}: S @ v")


@pytest.mark.parametrize("name,mode", _params(exclude=NO_NEWTON))
def test_structured_solve(name, mode):
    S, dense, _ = hessians(name, mode)
    p, arrays = problem(name)
    w = arrays[PROBLEMS[name]["wrt"]]
    Hm = hc.as_matrix(dense, w.ndim)
    cond = np.linalg.cond(Hm)
    assert cond < 1e6, f"test setup: the {name} Hessian should be well conditioned here (cond {cond:.2e})"
    rng = np.random.default_rng(hc.seed_for("solve", name, mode))
    b = rng.normal(size=w.shape)
    x = np.asarray(S.solve(b))
    assert x.shape == w.shape
    want = np.linalg.solve(Hm, b.reshape(-1)).reshape(w.shape)
    hc.assert_close(x, want, 1e-8, f"{name} {mode}: S.solve(b) vs numpy.linalg.solve")
    hc.assert_close((Hm @ x.reshape(-1)).reshape(w.shape), b, 1e-8, f"{name} {mode}: H @ solve(b) = b")


@pytest.mark.parametrize("mode", MODES)
def test_matfac_core_is_k_by_k(mode):
    """hessian(sum((T - U Vᵀ)²), U) = 2 (VᵀV) ⊗ δ: the core is k×k, not (n, k, n, k)."""
    S, dense, _ = hessians("matfac", mode)
    n, k = PROBLEMS["matfac"]["sizes"]["n"], PROBLEMS["matfac"]["sizes"]["k"]
    assert tuple(S.shape) == (n, k, n, k)
    for core in S.cores:
        assert np.asarray(core).size <= k * k, f"a core of shape {np.shape(core)}; expected at most {k}x{k}"
    assert S.nbytes <= 8 * k * k * len(S.cores)
    assert S.dense_nbytes == 8 * (n * k) ** 2
    assert S.nbytes * 1000 < S.dense_nbytes
    # and the core is the closed form 2 VᵀV
    _, arrays = problem("matfac")
    V = arrays["V"]
    hc.assert_close(S @ np.eye(n, k), 2 * np.eye(n, k) @ (V.T @ V), RTOL, "matfac: S @ e = 2 e VᵀV")


@pytest.mark.parametrize("mode", MODES)
def test_masked_matfac_core_is_block_diagonal(mode):
    """With a mask every row of U has its own k×k block: an (n, k, k) core, not (n, k, n, k)."""
    S, dense, _ = hessians("matfac_masked", mode)
    sz = PROBLEMS["matfac_masked"]["sizes"]
    n, k = sz["n"], sz["k"]
    assert sum(np.asarray(c).size for c in S.cores) <= n * k * k * len(S.cores)
    assert S.nbytes < S.dense_nbytes


@pytest.mark.parametrize("mode", MODES)
def test_elementwise_hessian_core_is_a_vector(mode):
    S, dense, _ = hessians("elementwise_diagonal", mode)
    n = PROBLEMS["elementwise_diagonal"]["sizes"]["n"]
    assert all(np.asarray(c).size <= n for c in S.cores)
    _, arrays = problem("elementwise_diagonal")
    hc.assert_close(S.dense(), np.diag(np.exp(arrays["x"])), RTOL, "diag(exp(x))")


@pytest.mark.parametrize("mode", MODES)
def test_no_delta_still_structured(mode):
    """Logistic regression's Hessian has no unit tensor: one full core, same numbers."""
    S, dense, _ = hessians("logreg", mode)
    assert S.nbytes <= S.dense_nbytes * len(S.cores)
    _, arrays = problem("logreg")
    X, y, w = arrays["X"], arrays["y"], arrays["w"]
    s = 1 / (1 + np.exp(y * (X @ w)))
    closed = X.T @ (X * (s * (1 - s))[:, None])  # y² = 1
    hc.assert_close(S.dense(), closed, RTOL, "logreg: closed form Xᵀ diag(s(1-s)) X")


def test_structured_relu_net_not_larger_than_dense():
    for mode in MODES:
        S, dense, _ = hessians("relu_net_first_layer", mode)
        assert S.nbytes <= S.dense_nbytes


# ------------------------------------------------------------------ every corpus derivative

def _corpus_params():
    out = []
    for e, w in corpus.CASES:
        for mode in MODES:
            out.append(pytest.param(e.name, w, mode, id=f"{e.name}-{w}-{mode}"))
    return out


def _highest(e, w):
    """The highest derivative order checked for (e, w), capped at 2 (dense order 3 is covered elsewhere)."""
    return min(e.wrt[w], 2)


@pytest.mark.parametrize("name,w,mode", _corpus_params())
def test_corpus_structured_dense_and_matvec(name, w, mode):
    e = corpus.by_name(name)
    p = corpus.program(name)
    order = _highest(e, w)
    f, wv = p[e.of], p[w]
    args = corpus.eval_args(name)
    Dc = tcnb.derivative(f, wv, order=order, mode=mode, compress=True)
    Dd = tcnb.derivative(f, wv, order=order, mode=mode, compress=False)
    dense = np.asarray(Dd.evaluate(**args))
    S = Dc.structured(**args)
    assert tuple(S.shape) == dense.shape
    hc.assert_close(S.dense(), dense, RTOL, f"{name} d^{order}/d{w}^{order} {mode}: structured().dense()")
    # S @ v contracts the trailing axes (the last copy of the variable's axes)
    wshape = corpus.call_args(name)[w].shape
    cols = len(wshape)
    rng = np.random.default_rng(hc.seed_for("corpus-matvec", name, w, mode))
    v = rng.normal(size=wshape)
    got = np.asarray(S @ v)
    rows = dense.shape[:dense.ndim - cols]
    want = (hc.as_matrix(dense, len(rows)) @ v.reshape(-1)).reshape(rows)
    hc.assert_close(got, want, RTOL, f"{name} d^{order}/d{w}^{order} {mode}: S @ v")


def _solve_params():
    out = []
    for e, w in corpus.CASES:
        if e.wrt[w] >= 2 and corpus.is_scalar(e.name):
            out.append(pytest.param(e.name, w, id=f"{e.name}-{w}"))
    return out


@pytest.mark.parametrize("name,w", _solve_params())
def test_corpus_hessian_solve(name, w):
    """Newton steps on every well-conditioned corpus Hessian (default mode)."""
    e = corpus.by_name(name)
    p = corpus.program(name)
    args = corpus.eval_args(name)
    dense = np.asarray(tcnb.hessian(p[e.of], p[w], compress=False).evaluate(**args))
    wshape = corpus.call_args(name)[w].shape
    N = math.prod(wshape)
    Hm = dense.reshape(N, N)
    if np.linalg.cond(Hm) > 1e6:
        pytest.skip("singular or ill-conditioned Hessian at this point: no Newton step to compare")
    S = tcnb.hessian(p[e.of], p[w], compress=True).structured(**args)
    b = np.random.default_rng(hc.seed_for("corpus-solve", name, w)).normal(size=wshape)
    x = np.asarray(S.solve(b))
    hc.assert_close(x, np.linalg.solve(Hm, b.reshape(-1)).reshape(wshape), 1e-7, f"{name} wrt {w}: solve")
