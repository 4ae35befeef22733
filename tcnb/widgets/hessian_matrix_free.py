"""The Hessian explorer past the size where the dense Hessian fits: when it switches, and the numbers
it shows instead — the top eigenvalues by Lanczos (SciPy's ``eigsh``) on an operator whose products
``H @ v`` never form H, a leading window of the matrix (one product per column) and the diagonal
binned for a plot. The diagonal and the trace themselves come from the parts API (``H.diagonal()``,
``H.trace()``), which costs what the part costs, not what the whole Hessian does.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

from tcnb.config import config, human_bytes
from tcnb.errors import NumericalError

ITEM = 8                 # bytes of a float64 entry
V0_SEED = 20240611       # Lanczos starts from the same vector every time: the numbers do not flicker
# ARPACK's relative tolerance, on eigenvalues shifted into [ρ, 3ρ] (ρ ≈ max|λ|): the top ones to about
# 1e-10 ρ; the smallest to 1e-8 ρ (a singular Hessian's bottom is a cluster that finer takes 20× longer)
TOL_TOP, TOL_BOTTOM = 1e-10, 1e-8
MAX_RESTARTS = 300


def why_not_dense(n: int, max_dense: int) -> str | None:
    """Why an n×n Hessian is not formed densely (None when it may be): over ``tcnb.config.memory_budget``,
    or over the explorer's ``max_dense`` rows (a dense eigen-decomposition of that size takes seconds)."""
    if n * n * ITEM > config.memory_budget:
        return f"over the memory budget of {human_bytes(config.memory_budget)}"
    if n > max_dense:
        return f"over the explorer's limit of max_dense = {max_dense} rows"
    return None


def size_label(n: int, k: int, why: str) -> str:
    """The one line that says what the matrix-free view shows and why."""
    side = f"{n:,}".replace(",", " ")
    return (f"{side} × {side}: dense would be {human_bytes(n * n * ITEM)} ({why}); showing the diagonal, "
            f"the trace and the top {k} eigenvalues by Lanczos")


class Counted(LinearOperator):
    """An operator that counts its products (how much the Lanczos run cost); ``symmetrise`` makes it
    (A + Aᵀ)/2, for square derivatives that are not Hessians."""

    def __init__(self, op, symmetrise: bool = False):
        super().__init__(dtype=np.float64, shape=op.shape)
        self.op, self.symmetrise, self.products = op, symmetrise, 0
        self.memo: dict = {}

    def _matvec(self, x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        self.products += 1
        y = np.asarray(self.op.matvec(x)).reshape(-1)
        if self.symmetrise:
            self.products += 1
            y = 0.5 * (y + np.asarray(self.op.rmatvec(x)).reshape(-1))
        return y

    def _rmatvec(self, x):
        return self._matvec(x) if self.symmetrise else np.asarray(self.op.rmatvec(x)).reshape(-1)


class Shifted(LinearOperator):
    """sign · A + shift · I: moves the spectrum away from 0, where ARPACK's test (residual below tol
    times |θ|) cannot be met — a singular Hessian's zero eigenvalues would never converge."""

    def __init__(self, op, sign: float, shift: float):
        super().__init__(dtype=np.float64, shape=op.shape)
        self.op, self.sign, self.shift = op, sign, shift

    def _matvec(self, x):
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        return self.sign * np.asarray(self.op.matvec(x)).reshape(-1) + self.shift * x


def _eigsh(op, k: int, which: str, tol: float):
    n = op.shape[0]
    v0 = np.random.default_rng(V0_SEED).standard_normal(n)
    try:
        return eigsh(op, k=min(k, n - 1), which=which, v0=v0, tol=tol, maxiter=MAX_RESTARTS,
                     ncv=min(n, max(2 * k + 1, 20)))
    except ArpackNoConvergence as exc:       # what converged is still right
        if len(exc.eigenvalues) == 0:
            raise NumericalError(f"Lanczos (eigsh) found no eigenvalue of this {n}×{n} operator in "
                                 f"{MAX_RESTARTS} restarts", expected="other sizes or another point") from None
        return exc.eigenvalues, exc.eigenvectors


def _spread(op: Counted) -> float:
    """About the largest |eigenvalue| (to 0.1%): the shift that keeps the other runs away from 0."""
    if "spread" not in op.memo:
        vals, _ = _eigsh(op, 1, "LM", 1e-3)
        op.memo["spread"] = float(np.abs(vals).max())
    return op.memo["spread"]


def _extreme(op: Counted, k: int, sign: float, tol: float):
    """The k eigenvalues largest (sign +1) or smallest (sign −1), most extreme first, and their unit
    eigenvectors (columns), by Lanczos on sign · A + 2ρ I with ρ ≈ max|λ| (eigenvalues in [ρ, 3ρ])."""
    n = op.shape[0]
    if n == 1:
        return np.array([float(op.matvec(np.ones(1))[0])]), np.ones((1, 1))
    shift = 2.0 * _spread(op)
    if shift == 0.0:                          # H = 0
        return np.zeros(min(k, n - 1)), np.eye(n, min(k, n - 1))
    vals, vecs = _eigsh(Shifted(op, sign, shift), k, "LA", tol)
    order = np.argsort(vals)[::-1]
    return sign * (vals[order] - shift), vecs[:, order]


def top(op: Counted, k: int):
    """The k largest eigenvalues (largest first) and their unit eigenvectors (columns)."""
    return _extreme(op, k, 1.0, TOL_TOP)


def bottom(op: Counted):
    """The smallest eigenvalue and its unit eigenvector (asked for only when a direction needs it)."""
    vals, vecs = _extreme(op, 1, -1.0, TOL_BOTTOM)
    return float(vals[0]), vecs[:, 0]


def leading_window(matvec, n: int, win: int) -> np.ndarray:
    """H[:win, :win] from ``win`` products with unit vectors (column j is H e_j, cut to its first rows)."""
    out = np.empty((win, win))
    e = np.zeros(n)
    for j in range(win):
        e[j] = 1.0
        out[:, j] = np.asarray(matvec(e)).reshape(-1)[:win]
        e[j] = 0.0
    return out


def binned(values: np.ndarray, bins: int):
    """(edges, heights) of ``values`` against their index in at most ``bins`` runs, each run shown by
    its entry of largest magnitude (so a spike survives the binning, sign included)."""
    n = values.size
    if n <= bins:
        return np.arange(n + 1, dtype=np.float64), values
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    heights = np.empty(bins)
    for b in range(bins):
        run = values[edges[b]:edges[b + 1]]
        heights[b] = run[np.argmax(np.abs(run))]
    return edges.astype(np.float64), heights
