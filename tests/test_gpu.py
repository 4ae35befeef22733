"""The CuPy backend gives what NumPy gives: evaluation, derivatives in every mode, compressed results
and index maps, on the GPU. Skipped (with the reason) where CuPy or a GPU is missing."""
from __future__ import annotations

import numpy as np
import pytest

import tcnb
from tcnb.backend.namespace import get_namespace

pytestmark = pytest.mark.gpu

try:
    cp = get_namespace("cupy")
except tcnb.BackendUnavailableError as exc:  # no CuPy, or no device
    pytest.skip(f"CuPy backend unavailable: {exc}", allow_module_level=True)

LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nv: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))\n"
MATFAC = "T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)\n"
NET = ("X: R[b, n]\nY: R[b, n]\nW1: R[n, n]\nW2: R[n, n]\nW3: R[n, n]\n"
       "h1 = relu(X @ W1)\nh2 = relu(h1 @ W2)\nz = h2 @ W3\nf = sum(logsumexp(z, 1)) - sum(Y * z)\n")
MISC = ("A: R[n, n]\nx: R[n + k - 1]\nw: R[k]\n"
        "g = logdet(A @ A.T + eye(n)) + trace(inv(A @ A.T + eye(n))) + sum(softmax(A, 1) * A)\n"
        "c[i:n] = w[q] * x[i + q]\nh = sum(tanh(c) ** 2)\n")


def _arrays(prog, sizes, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, e in prog.variables.items():
        shape = tcnb.dims.resolve_shape(e.shape, sizes)
        out[name] = rng.standard_normal(shape) / np.sqrt(max(shape[-1], 1)) if shape else rng.standard_normal()
    return out


CASES = [
    (LOGREG, "f", "w", {"m": 64, "n": 32}),
    (MATFAC, "f", "U", {"n": 40, "k": 5}),
    (NET, "f", "W1", {"b": 8, "n": 12}),
    (MISC, "g", "A", {"n": 6, "k": 3}),
    (MISC, "h", "x", {"n": 6, "k": 3}),
    (MISC, "h", "w", {"n": 6, "k": 3}),
]


@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
@pytest.mark.parametrize("src,of,wrt,sizes", CASES, ids=[f"{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_cupy_matches_numpy(src, of, wrt, sizes, mode):
    prog = tcnb.parse(src)
    arrays = _arrays(prog, sizes)
    for expr in (prog[of], tcnb.grad(prog[of], wrt, mode=mode), tcnb.hessian(prog[of], wrt, mode=mode)):
        host = expr.evaluate(**arrays)
        dev = expr.evaluate(backend="cupy", **{k: cp.asarray(a) for k, a in arrays.items()})
        assert type(dev).__module__.startswith("cupy")
        np.testing.assert_allclose(cp.asnumpy(dev), host, rtol=1e-9, atol=1e-11)


def test_cupy_float32_stays_float32():
    prog = tcnb.parse(LOGREG)
    arrays = {k: cp.asarray(a, dtype=cp.float32) for k, a in _arrays(prog, {"m": 50, "n": 20}).items()}
    H = tcnb.hessian(prog["f"], "w").evaluate(backend="cupy", **arrays)
    assert H.dtype == cp.float32


def test_cupy_structured_and_hvp():
    prog = tcnb.parse(MATFAC + "U2: R[n, k]\n")
    arrays = _arrays(prog, {"n": 50, "k": 5})
    H = tcnb.hessian(prog["f"], "U")
    S_host = H.structured(**arrays)
    S_dev = H.structured(backend="cupy", **{k: cp.asarray(a) for k, a in arrays.items()})
    v = arrays["U2"]
    np.testing.assert_allclose(cp.asnumpy(S_dev.dense()), S_host.dense(), rtol=1e-10)
    np.testing.assert_allclose(cp.asnumpy(S_dev @ cp.asarray(v)), S_host @ v, rtol=1e-10)
    np.testing.assert_allclose(cp.asnumpy(S_dev.solve(cp.asarray(v))), S_host.solve(v), rtol=1e-8)
    Hv = tcnb.hvp(prog["f"], "U", prog["U2"])
    np.testing.assert_allclose(cp.asnumpy(Hv.evaluate(backend="cupy", **{k: cp.asarray(a) for k, a in arrays.items()})),
                               Hv.evaluate(**arrays), rtol=1e-10)
