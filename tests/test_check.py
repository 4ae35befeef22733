"""tcnb.check, the exercise checker: right answers pass, and the usual mistakes are named —
sign, factor 2, transposed layouts (also of 4th-order Hessians, where the shapes differ)."""
from __future__ import annotations

import numpy as np
import pytest

import tcnb

LSQ = tcnb.parse("X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum((X @ w - y) ** 2)\n")
MF = tcnb.parse("T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)\n")
TR = tcnb.parse("A: R[n, n]\nB: R[n, n]\nf = trace(A @ B)\n")
SIZES = {"m": 7, "n": 4}


def test_right_answers_pass():
    r = tcnb.check("2 * X.T @ (X @ w - y)", LSQ["f"], LSQ["w"], sizes=SIZES)
    assert r.ok and bool(r) and "agrees" in r.message and "✓" in r._repr_html_()
    assert tcnb.check("2 * X.T @ X", LSQ["f"], LSQ["w"], order=2, sizes=SIZES)
    hess = lambda T, U, V: 2 * np.einsum("ij,ab->iajb", np.eye(len(U)), V.T @ V)  # noqa: E731
    assert tcnb.check(hess, MF["f"], MF["U"], order=2, sizes={"n": 5, "k": 3})


def test_sign_and_factor_mistakes_are_named():
    r = tcnb.check("-2 * X.T @ (X @ w - y)", LSQ["f"], LSQ["w"], sizes=SIZES)
    assert not r.ok and "sign error" in r.message and "✗" in r._repr_html_()
    assert "factor of 2" in tcnb.check("X.T @ (X @ w - y)", LSQ["f"], LSQ["w"], sizes=SIZES).message


def test_transposes_are_named():
    r = tcnb.check("B", TR["f"], TR["A"], sizes={"n": 4})                # square: same shape
    assert not r.ok and "transpose" in r.message
    r = tcnb.check("(X @ w - y) * 0 + 1", LSQ["f"], LSQ["w"], sizes=SIZES)  # wrong shape, no match
    assert not r.ok and "shape (7,)" in r.message and "(4,)" in r.message
    J = tcnb.parse("A: R[m, n]\nx: R[n]\nz = tanh(A @ x)\n")
    r = tcnb.check("A.T * (1 - tanh(A @ x) ** 2)", J["z"], J["x"], sizes=SIZES)   # (n, m) for (m, n)
    assert not r.ok and "order (1, 0)" in r.message and r.max_abs_error == float("inf")
    wrong = lambda T, U, V: 2 * np.einsum("ij,ab->iabj", np.eye(len(U)), V.T @ V)  # noqa: E731
    r = tcnb.check(wrong, MF["f"], MF["U"], order=2, sizes={"n": 5, "k": 3})
    assert not r.ok and "order (0, 1, 3, 2)" in r.message


def test_needs_inputs():
    with pytest.raises(tcnb.DerivativeError, match="arrays or sizes"):
        tcnb.check("2 * X.T @ X", LSQ["f"], LSQ["w"])


def test_errors_in_the_formula_point_into_the_formula():
    with pytest.raises(tcnb.TensorSyntaxError) as info:
        tcnb.check("X.T @ (X @ w - y", LSQ["f"], LSQ["w"], sizes=SIZES)
    err = info.value
    assert err.line is None and err.source_line == "X.T @ (X @ w - y" and err.col == 6
    assert str(err).startswith("in your formula:")
    sm = tcnb.parse("x: R[n]\np = softmax(x, 0)\n")
    with pytest.raises(tcnb.TensorSyntaxError, match="undeclared name 'p'.*only the variables x"):
        tcnb.check("diag(p) - outer(p, p)", sm["p"], sm["x"], sizes={"n": 4})
