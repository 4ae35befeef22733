"""Shared test fixtures: a seeded random generator and random arrays for a program's variables.

    def test_something(rng, random_inputs):
        prog = tcnb.parse("X: R[m, n]\\nw: R[n]\\nz = X @ w")
        arrays = random_inputs(prog, {"m": 5, "n": 3}, rng)              # float64, standard normal
        arrays = random_inputs(prog, sizes, rng, np.float32, positive={"X"}, spd={"A"})

The helpers are plain functions too (``from conftest import random_inputs``) for places where a
fixture does not fit, such as inside a hypothesis test.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import sympy

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, _ROOT)


def concrete_shape(shape, sizes: dict) -> tuple:
    """The integer shape of a symbolic shape (SymPy dimensions) under ``sizes`` (name -> int)."""
    out = []
    for d in shape:
        d = sympy.sympify(d)
        val = d.subs({s: sizes[s.name] for s in d.free_symbols})
        out.append(int(val))
    return tuple(out)


def random_array(shape, rng, dtype=np.float64, kind: str = "normal"):
    """A random array: kind 'normal' (standard normal), 'positive' (uniform in [0.5, 2]),
    'spd' (symmetric positive definite, well conditioned: B Bᵀ / n + I), 'symmetric' (eigenvalues
    about 1, ..., n, well separated), 'triangular' (a well-conditioned lower triangle)."""
    shape = tuple(shape)
    if kind == "normal":
        a = rng.standard_normal(shape)
    elif kind == "positive":
        a = rng.uniform(0.5, 2.0, shape)
    elif kind == "spd":
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"an spd array needs a square shape, got {shape}")
        b = rng.standard_normal(shape)
        a = b @ b.T / shape[0] + np.eye(shape[0])
    elif kind == "symmetric":  # well-separated eigenvalues 1, 2, ..., n (jittered), random eigenvectors
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"a symmetric array needs a square shape, got {shape}")
        n = shape[0]
        q, _ = np.linalg.qr(rng.standard_normal(shape))
        w = np.arange(1, n + 1) + rng.uniform(-0.2, 0.2, n)
        a = (q * w) @ q.T
        a = (a + a.T) / 2
    elif kind == "triangular":  # a well-conditioned lower triangle; the upper one is noise (never read)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"a triangular array needs a square shape, got {shape}")
        a = rng.standard_normal(shape) / np.sqrt(shape[0]) + np.diag(rng.uniform(1.0, 2.0, shape[0]))
    else:
        raise ValueError(kind)
    return np.asarray(a, dtype=dtype)


def random_inputs(prog, sizes: dict, rng, dtype=np.float64, positive=(), spd=()) -> dict:
    """Random arrays for every declared variable of ``prog`` (a tcnb Program), shaped by ``sizes``.

    Scalars (``c: R``) become 0-d arrays. Names in ``positive`` get entries in [0.5, 2], names in
    ``spd`` symmetric positive-definite matrices.
    """
    out = {}
    for name, expr in prog.variables.items():
        kind = "spd" if name in spd else "positive" if name in positive else "normal"
        out[name] = random_array(concrete_shape(expr.shape, sizes), rng, dtype, kind)
    return out


def tolerances(dtype) -> dict:
    """assert_allclose tolerances for results computed in ``dtype`` against a float64 reference."""
    if np.dtype(dtype) == np.float32:
        return {"rtol": 2e-4, "atol": 2e-5}
    return {"rtol": 1e-12, "atol": 1e-13}


def assert_matches(actual, expected, dtype=np.float64, scale: float | None = None):
    """``actual`` has dtype ``dtype``, the expected shape, and equals ``expected`` (rtol 1e-12 in
    float64); atol is relative to the largest entry of the reference (``scale``)."""
    expected = np.asarray(expected, dtype=np.float64)
    actual_arr = np.asarray(actual)
    assert actual_arr.dtype == np.dtype(dtype), f"dtype {actual_arr.dtype}, expected {np.dtype(dtype)}"
    assert actual_arr.shape == expected.shape, f"shape {actual_arr.shape}, expected {expected.shape}"
    tol = tolerances(dtype)
    if scale is None:
        scale = float(np.max(np.abs(expected))) if expected.size and np.all(np.isfinite(expected)) else 1.0
    np.testing.assert_allclose(actual_arr.astype(np.float64), expected, rtol=tol["rtol"],
                               atol=tol["atol"] * max(1.0, scale))


@pytest.fixture
def rng():
    return np.random.default_rng(20240607)


@pytest.fixture(name="random_inputs")
def random_inputs_fixture():
    return random_inputs


@pytest.fixture(name="assert_matches")
def assert_matches_fixture():
    return assert_matches
