"""Parts of a derivative without the whole: D.diagonal(), D.trace(), tcnb.laplacian.

Every corpus entry with a Hessian: the diagonal and the trace equal those of the dense Hessian, in
every mode, compressed or not; a matrix variable's (m, k, m, k) Hessian, third derivatives and the
Jacobians of element-wise maps likewise. The diagonal must cost what the part costs: at n = 1000
its generated code holds no n×n array. Asking for the diagonal of something that has none is a
DerivativeError.
"""
from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402
from corpus import eval_args, program  # noqa: E402

import tcnb  # noqa: E402
from tcnb.errors import DerivativeError  # noqa: E402

MODES = ["forward", "reverse", "cross-country"]
HESSIAN_CASES = [(e.name, w) for e in corpus.CORPUS for w, order in e.wrt.items()
                 if order >= 2 and e.name in {x.name for x in corpus.CORPUS}
                 and program(e.name)[e.of].rank == 0]


def _dense_diagonal(D, r):
    """Entries D[s, s] of an array whose last two groups of r axes are the variable's."""
    k = D.ndim - 2 * r
    shape = D.shape[k:k + r]
    flat = D.reshape(D.shape[:k] + (int(np.prod(shape)),) * 2)
    return np.diagonal(flat, axis1=-2, axis2=-1).reshape(D.shape[:k] + shape)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, w", HESSIAN_CASES)
def test_hessian_diagonal_and_trace_match_the_dense_hessian(name, w, mode, compress):
    e = corpus.by_name(name)
    p = program(name)
    H = tcnb.hessian(p[e.of], p[w], mode=mode, compress=compress)
    args = eval_args(name)
    dense = np.asarray(H.evaluate(**args))
    r = p[w].rank
    want = _dense_diagonal(dense, r)
    scale = max(1.0, float(np.max(np.abs(dense))))
    np.testing.assert_allclose(H.diagonal().evaluate(**args), want, rtol=1e-9, atol=1e-11 * scale)
    np.testing.assert_allclose(H.trace().evaluate(**args), np.sum(want), rtol=1e-9, atol=1e-10 * scale)
    lap = tcnb.laplacian(p[e.of], p[w], mode=mode, compress=compress)
    np.testing.assert_allclose(lap.evaluate(**args), np.sum(want), rtol=1e-9, atol=1e-10 * scale)


@pytest.mark.parametrize("mode", MODES)
def test_matrix_variable_diagonal_has_the_variables_shape(mode):
    p = tcnb.parse("T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2) + sum(exp(U) * U)")
    rng = np.random.default_rng(0)
    args = {"T": rng.standard_normal((5, 5)), "U": rng.standard_normal((5, 3)), "V": rng.standard_normal((5, 3))}
    H = tcnb.hessian(p["f"], "U", mode=mode)
    d = H.diagonal()
    assert d.shape == p["U"].shape
    np.testing.assert_allclose(d.evaluate(**args), _dense_diagonal(np.asarray(H.evaluate(**args)), 2), rtol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_third_derivative_and_elementwise_jacobian_diagonals(mode):
    p = tcnb.parse("X: R[m, n]\nw: R[n]\nf = sum(tanh(X @ w) ** 2)\ng = sin(w) * w + w ** 3")
    rng = np.random.default_rng(1)
    args = {"X": rng.standard_normal((6, 4)), "w": rng.standard_normal(4)}
    D3 = tcnb.derivative(p["f"], "w", order=3, mode=mode)
    dense = np.asarray(D3.evaluate(**args))
    np.testing.assert_allclose(D3.diagonal().evaluate(**args), np.einsum("iii->i", dense), rtol=1e-9, atol=1e-12)
    J = tcnb.jacobian(p["g"], "w", mode=mode)
    np.testing.assert_allclose(J.diagonal().evaluate(**args), np.diag(np.asarray(J.evaluate(w=args["w"]))),
                               rtol=1e-12)
    np.testing.assert_allclose(J.trace().evaluate(w=args["w"]), np.trace(np.asarray(J.evaluate(w=args["w"]))),
                               rtol=1e-12)
    # the Hessian of a vector map: diagonal over the derivative axes, output axes kept
    Hg = tcnb.derivative(tcnb.parse("A: R[k, n]\nw: R[n]\ng = tanh(A @ w)")["g"], "w", order=2, mode=mode)
    A = rng.standard_normal((3, 4))
    dense = np.asarray(Hg.evaluate(A=A, w=args["w"]))
    np.testing.assert_allclose(Hg.diagonal().evaluate(A=A, w=args["w"]), np.einsum("kii->ki", dense), rtol=1e-10)


@pytest.mark.parametrize("mode", ["cross-country", "forward"])
def test_the_diagonal_costs_the_part_not_the_whole(mode):
    p = tcnb.parse("X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))")
    d = tcnb.hessian(p["f"], "w", mode=mode).diagonal()
    src = d.to_source(m=2000, n=1000)
    shapes = [tuple(int(x) for x in m.split(",") if x.strip()) for m in re.findall(r"\(([\d, ]+)\)", src)]
    assert not any(s.count(1000) >= 2 for s in shapes), src
    # O(mn) work against the Hessian's O(mn²): the tie reached into the contraction
    H = tcnb.hessian(p["f"], "w", mode=mode)
    part, whole = d.stats(m=2000, n=1000), H.stats(m=2000, n=1000)
    assert part["flops"] * 100 < whole["flops"], (part, whole)


def test_parts_of_things_without_a_diagonal_are_refused():
    p = tcnb.parse("X: R[m, n]\nw: R[n]\nv: R[n]\nz = X @ w\nf = sum(z * z)")
    with pytest.raises(DerivativeError, match="no diagonal"):
        tcnb.jacobian(p["z"], "w").diagonal()
    with pytest.raises(DerivativeError, match="not a derivative"):
        p["z"].diagonal()
    with pytest.raises(DerivativeError, match="not a derivative"):
        tcnb.hvp(p["f"], "w", p["v"]).trace()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["tanh", "sin", "exp", "sigmoid", "square"]), min_size=1, max_size=3),
       st.sampled_from(MODES), st.booleans(), st.integers(0, 10_000))
def test_random_programs_diagonal_equals_dense(fns, mode, matrix_layer, seed):
    """f = sum(g_k(...g_1(A @ w)...) * c), optionally through a second layer B @ (.)."""
    inner = "A @ w"
    for fn in fns:
        inner = f"({inner}) ** 2" if fn == "square" else f"{fn}({inner})"
    if matrix_layer:
        inner = f"B @ {inner}"
    src = f"A: R[m, n]\nB: R[k, m]\nw: R[n]\nc: R[{'k' if matrix_layer else 'm'}]\nf = sum(({inner}) * c)"
    p = tcnb.parse(src)
    rng = np.random.default_rng(seed)
    args = {"A": rng.standard_normal((4, 3)) / 2, "w": rng.standard_normal(3), "c": rng.standard_normal(2 if matrix_layer else 4)}
    if matrix_layer:
        args["B"] = rng.standard_normal((2, 4))
    H = tcnb.hessian(p["f"], "w", mode=mode)
    dense = np.asarray(H.evaluate(**args))
    np.testing.assert_allclose(H.diagonal().evaluate(**args), np.diag(dense), rtol=1e-9,
                               atol=1e-11 * max(1.0, float(np.abs(dense).max())))
