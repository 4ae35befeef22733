"""Forward mode compresses like the others: the seed's unit tensor is multiplied in last, so a
forward-mode Hessian never forms a tangent larger than the result's factors (the paper's
forward-mode compression; issue 15). Checked on the cost model (deterministic, not timed): peak
memory and FLOPs of forward mode within 2× of cross-country on the paper's three problems, and the
values equal (the corpus tests check every mode against JAX)."""
from __future__ import annotations

import numpy as np
import pytest

import tcnb

PROBLEMS = {
    "logreg": ("X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))", "w", dict(m=2000, n=1000)),
    "matfac": ("T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)", "U", dict(n=1000, k=5)),
    "relu": ("X: R[b, n]\nY: R[b, n]\nW1: R[n, n]\nW2: R[n, n]\nW3: R[n, n]\nh1 = relu(X @ W1)\n"
             "h2 = relu(h1 @ W2)\nz = h2 @ W3\nf = sum(logsumexp(z, 1)) - sum(Y * z)", "W1", dict(b=8, n=32)),
}


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_forward_hessian_costs_about_what_cross_country_costs(name):
    src, w, sizes = PROBLEMS[name]
    f = tcnb.parse(src)["f"]
    fwd = tcnb.hessian(f, w, mode="forward").stats(**sizes)
    cc = tcnb.hessian(f, w, mode="cross-country").stats(**sizes)
    assert fwd["peak_bytes"] <= 2 * cc["peak_bytes"], (fwd, cc)
    assert fwd["flops"] <= 2 * cc["flops"], (fwd, cc)


def test_no_tangent_of_the_samples_times_the_hessian():
    f = tcnb.parse(PROBLEMS["logreg"][0])["f"]
    src = tcnb.hessian(f, "w", mode="forward").to_source(m=2000, n=1000)
    assert "[:, :, None]" not in src and "(2000, 1000, 1000)" not in src, src


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_forward_values_equal_cross_country(name):
    src, w, _ = PROBLEMS[name]
    prog = tcnb.parse(src)
    rng = np.random.default_rng(0)
    small = {"m": 7, "n": 4, "k": 2, "b": 3}
    arrays = {}
    for v in prog.variables:
        shape = tuple(small[str(d)] for d in prog[v].shape)
        arrays[v] = rng.standard_normal(shape) if v != "Y" else np.eye(4)[rng.integers(0, 4, 3)]
    a = tcnb.hessian(prog["f"], w, mode="forward").evaluate(**arrays)
    b = tcnb.hessian(prog["f"], w, mode="cross-country").evaluate(**arrays)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
