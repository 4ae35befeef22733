"""The ReLU net's Hessian by its first layer, kept in the paper's third-order form.

For the softmax cross-entropy of an L-layer ReLU net (batch b, width n), ∇²_{W1} f has entries
H[i,j,k,l] = Σ_b X[b,i] X[b,k] M[b,j,l] (relu'' = 0, so H = Jᵀ S J per sample). ``H.structured``
must store exactly that: two data factors and a b×n×n core, at most b n² + 2 b n numbers (+ a few
scalars) — a 4th-order core, or the chain's (n, n, b, n) Jacobian, fails the size test. Its
``dense()``, ``@``, ``rmatmul``, ``diagonal()`` and top eigenvalues (``tcnb.top_eigenvalues`` on the
compressed form) are compared with ``jax.hessian`` (float64) of the same net, for 3 and 10 layers,
in every mode, with compression on. The data are drawn until every pre-activation is at least 10⁻³
from the ReLU kink (both sides then take the same branch; the values are exact, no differences),
with near-identity layers I + 0.8 G/√n so that units stay alive through 10 layers. Then the diagonal of other compressed forms (unit-tensor patterns) against the
dense diagonal, and a net whose loss sums two data sets (two data factors that must not be merged).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402,F401  (switches JAX to float64)
import helpers_calculus as hc  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import tcnb  # noqa: E402

MODES = ["forward", "reverse", "cross-country"]
B, N = 8, 5
RTOL = 1e-10
SMALL = 8  # stored numbers allowed beyond b n² + 2 b n (scalars)


def net_program(L: int) -> str:
    """benchmarks/paper.py's net: L layers of width n, softmax cross-entropy against one-hot Y."""
    lines = ["X: R[b, n]", "Y: R[b, n]"] + [f"W{i}: R[n, n]" for i in range(1, L + 1)]
    lines.append("h1 = relu(X @ W1)")
    lines += [f"h{i} = relu(h{i - 1} @ W{i})" for i in range(2, L)]
    lines += [f"z = h{L - 1} @ W{L}", "f = sum(logsumexp(z, 1)) - sum(Y * z)"]
    return "\n".join(lines)


def jax_loss(W1, X, Y, *Ws):
    h = jax.nn.relu(X @ W1)
    for W in Ws[:-1]:
        h = jax.nn.relu(h @ W)
    z = h @ Ws[-1]
    return jnp.sum(jax.scipy.special.logsumexp(z, axis=1)) - jnp.sum(Y * z)


def pre_activations(X, Ws):
    h, out = X, []
    for W in Ws[:-1]:
        out.append(h @ W)
        h = np.maximum(out[-1], 0.0)
    return out


def net_data(L: int, seed: int) -> dict:
    """Arrays whose pre-activations all stay 10⁻³ away from 0 (ReLU's kink), some units alive."""
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        Ws = [np.eye(N) + 0.8 * rng.standard_normal((N, N)) / np.sqrt(N) for _ in range(L)]
        X = rng.standard_normal((B, N))
        pre = pre_activations(X, Ws)
        if min(np.min(np.abs(a)) for a in pre) > 1e-3 and np.all(np.sum(pre[-1] > 0, axis=1) > 0):
            arrays = {"X": X, "Y": np.eye(N)[rng.integers(0, N, size=B)]}
            arrays.update({f"W{i + 1}": W for i, W in enumerate(Ws)})
            return arrays
    raise AssertionError("test setup: no data away from the ReLU kink")


_cache: dict = {}


def case(L: int, mode: str):
    """(Structured, JAX's dense Hessian, arrays) for an L-layer net, cached."""
    if (L, mode) not in _cache:
        if L not in _cache:
            arrays = net_data(L, hc.seed_for("structured_relu", L))
            args = [arrays["W1"], arrays["X"], arrays["Y"]] + [arrays[f"W{i}"] for i in range(2, L + 1)]
            _cache[L] = (tcnb.parse(net_program(L)), arrays, np.asarray(jax.jit(jax.hessian(jax_loss))(*args)))
        prog, arrays, H = _cache[L]
        S = tcnb.hessian(prog["f"], prog["W1"], mode=mode, compress=True).structured(**arrays)
        _cache[(L, mode)] = (S, H, arrays)
    return _cache[(L, mode)]


PARAMS = [pytest.param(L, m, id=f"L{L}-{m}") for L in (3, 10) for m in MODES]


@pytest.mark.parametrize("L,mode", PARAMS)
def test_stored_as_data_data_core(L, mode):
    """O(b n² + b n) numbers: Σ_b X[b,i] X[b,k] M[b,j,l], not an n⁴ (or (n, n, b, n)) core."""
    S, _, arrays = case(L, mode)
    stored = sum(a.size for f in S.factors for a, _ in f)
    assert stored <= B * N * N + 2 * B * N + SMALL, f"{mode}, {L} layers: {S!r}"
    assert S.nbytes == 8 * stored < S.dense_nbytes
    assert len(S.factors) == 1
    # two (b, n) data factors and one per-sample (b, n, n) core, in some axis order
    shapes = sorted((a.ndim, sorted(a.shape)) for a, _ in S.factors[0])
    assert shapes == [(2, sorted((B, N))), (2, sorted((B, N))), (3, sorted((B, N, N)))], S.pattern_str()
    # the data factors are X itself
    assert sum(np.array_equal(a, arrays["X"]) for a, _ in S.factors[0]) == 2, S.pattern_str()


@pytest.mark.parametrize("L,mode", PARAMS)
def test_dense_equals_jax(L, mode):
    S, H, _ = case(L, mode)
    hc.assert_close(S.dense(), H, RTOL, f"{mode}, {L} layers: structured().dense() vs jax.hessian")


@pytest.mark.parametrize("L,mode", PARAMS)
def test_matvec_and_rmatvec_equal_jax(L, mode):
    S, H, _ = case(L, mode)
    Hm = H.reshape(N * N, N * N)
    rng = np.random.default_rng(hc.seed_for("structured_relu matvec", L, mode))
    for _ in range(2):
        v = rng.standard_normal((N, N))
        hc.assert_close(np.asarray(S @ v), (Hm @ v.reshape(-1)).reshape(N, N), RTOL, f"{mode}: S @ v")
        hc.assert_close(np.asarray(S.rmatmul(v)), (v.reshape(-1) @ Hm).reshape(N, N), RTOL, f"{mode}: vᵀ S")


@pytest.mark.parametrize("L,mode", PARAMS)
def test_diagonal_equals_jax(L, mode):
    S, H, _ = case(L, mode)
    hc.assert_close(np.asarray(S.diagonal()), np.einsum("ijij->ij", H), RTOL, f"{mode}: S.diagonal()")


@pytest.mark.parametrize("L,mode", PARAMS)
def test_top_eigenvalues_equal_jax(L, mode):
    S, H, _ = case(L, mode)
    want = np.sort(np.linalg.eigvalsh(H.reshape(N * N, N * N)))[::-1][:3]
    got = tcnb.top_eigenvalues(S, 3)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-10 * abs(want[0]))
    vals, vecs = tcnb.top_eigenvalues(S, 2, return_vectors=True)
    assert vecs.shape == (N, N, 2)
    Hm = H.reshape(N * N, N * N)
    for k in range(2):
        x = vecs[..., k].reshape(-1)
        np.testing.assert_allclose(Hm @ x, vals[k] * x, atol=1e-8 * abs(want[0]))


@pytest.mark.parametrize("mode", MODES)
def test_deep_chain_keeps_the_form(mode):
    """70 layers (a chain ~200 nodes deep: the peel walks it without recursion). Positive data and
    layers I + 0.1 |G| keep every pre-activation positive, so the Hessian is the softmax's, nonzero."""
    L, n = 70, N
    rng = np.random.default_rng(hc.seed_for("structured_relu deep", mode))
    Ws = [np.eye(n) + 0.1 * np.abs(rng.standard_normal((n, n))) for _ in range(L)]
    Ws = [W / np.linalg.norm(W, 2) for W in Ws]  # the activations neither blow up nor vanish
    a = {"X": np.abs(rng.standard_normal((B, n))) + 0.1, "Y": np.eye(n)[rng.integers(0, n, size=B)]}
    a.update({f"W{i + 1}": W for i, W in enumerate(Ws)})
    assert min(np.min(x) for x in pre_activations(a["X"], Ws)) > 1e-3
    p = tcnb.parse(net_program(L))
    S = tcnb.hessian(p["f"], p["W1"], mode=mode).structured(**a)
    assert sum(x.size for f in S.factors for x, _ in f) <= B * n * n + 2 * B * n + SMALL, repr(S)
    H = np.asarray(jax.jit(jax.hessian(jax_loss))(a["W1"], a["X"], a["Y"], *Ws[1:]))
    assert np.max(np.abs(H)) > 1e-6
    hc.assert_close(S.dense(), H, 1e-9, f"{mode}: 70 layers, dense")


# ------------------------------------------------------------------ other forms

TWO_DATA = """
X: R[b, n]
Z: R[b, n]
W1: R[n, n]
W2: R[n, n]
f = sum(logsumexp(relu(X @ W1) @ W2, 1)) + sum(logsumexp(relu(Z @ W1) @ W2, 1))
"""


@pytest.mark.parametrize("mode", MODES)
def test_two_data_sets_keep_their_own_factors(mode):
    """Two samples' sums: each term peels its own data (X, Z), never one for the other."""
    rng = np.random.default_rng(hc.seed_for("structured_relu two data"))
    for _ in range(1000):
        a = {"X": rng.standard_normal((B, N)), "Z": rng.standard_normal((B, N)),
             "W1": rng.standard_normal((N, N)), "W2": rng.standard_normal((N, N))}
        if min(np.min(np.abs(a["X"] @ a["W1"])), np.min(np.abs(a["Z"] @ a["W1"]))) > 0.05:
            break

    def loss(W1, X, Z, W2):
        lse = jax.scipy.special.logsumexp
        return jnp.sum(lse(jax.nn.relu(X @ W1) @ W2, axis=1)) + jnp.sum(lse(jax.nn.relu(Z @ W1) @ W2, axis=1))
    H = np.asarray(jax.hessian(loss)(a["W1"], a["X"], a["Z"], a["W2"]))
    p = tcnb.parse(TWO_DATA)
    S = tcnb.hessian(p["f"], p["W1"], mode=mode).structured(**a)
    hc.assert_close(S.dense(), H, RTOL, f"{mode}: dense")
    hc.assert_close(np.asarray(S.diagonal()), np.einsum("ijij->ij", H), RTOL, f"{mode}: diagonal")
    v = rng.standard_normal((N, N))
    hc.assert_close(np.asarray(S @ v), np.einsum("ijkl,kl->ij", H, v), RTOL, f"{mode}: S @ v")
    assert S.nbytes <= 8 * 2 * (B * N * N + 2 * B * N + SMALL), repr(S)


DIAGONALS = {
    # (program, of, wrt, sizes): unit tensors in the pattern (matfac: 2 VᵀV ⊗ δ), a diagonal pattern
    # (exp: H[i,i] only), a Gram core (logreg), a matrix variable with a diagonal unit tensor
    "matfac": ("T: R[n, m]\nU: R[n, k]\nV: R[m, k]\nf = sum((T - U @ V.T) ** 2)\n", "f", "U",
               dict(n=6, m=4, k=3)),
    "elementwise": ("x: R[n]\nf = sum(exp(x))\n", "f", "x", dict(n=7)),
    "logreg": ("X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))\n", "f", "w", dict(m=9, n=4)),
    "matrix_elementwise": ("A: R[n, m]\nf = sum(exp(A) * A)\n", "f", "A", dict(n=3, m=4)),
}


@pytest.mark.parametrize("name", list(DIAGONALS))
@pytest.mark.parametrize("mode", MODES)
def test_diagonal_of_other_forms(name, mode):
    src, of, wrt, sizes = DIAGONALS[name]
    p = tcnb.parse(src)
    rng = np.random.default_rng(hc.seed_for("structured diagonal", name))
    a = {v: rng.standard_normal(hc.resolve_shape(x.shape, sizes)) for v, x in p.variables.items()}
    H = tcnb.hessian(p[of], p[wrt], mode=mode)
    S = H.structured(**a)
    dense = np.asarray(tcnb.hessian(p[of], p[wrt], mode=mode, compress=False).evaluate(**a))
    r = a[wrt].ndim
    letters = "abcdefgh"[:r]
    want = np.einsum(f"{letters}{letters}->{letters}", dense)
    hc.assert_close(np.asarray(S.diagonal()), want, RTOL, f"{name} {mode}: Structured.diagonal()")
    hc.assert_close(np.asarray(H.diagonal().evaluate(**a)), want, RTOL, f"{name} {mode}: Expr.diagonal()")


def test_diagonal_refuses_a_non_square_result():
    p = tcnb.parse("X: R[m, n]\nw: R[n]\nz = exp(X @ w)\n")
    rng = np.random.default_rng(0)
    S = tcnb.jacobian(p["z"], p["w"]).structured(X=rng.standard_normal((4, 3)), w=rng.standard_normal(3))
    with pytest.raises(tcnb.ShapeError, match="diagonal"):
        S.diagonal()
