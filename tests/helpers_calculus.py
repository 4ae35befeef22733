"""Numerical helpers for the calculus tests: finite differences, random inputs, comparisons.

Nothing here imports tcnb's internals: the finite differences work on any callable
``array -> array`` and the input builder only needs concrete shapes.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

# ------------------------------------------------------------------------ finite differences


def central_diff(fn, x, h: float = 1e-6):
    """d fn / d x by central differences, for arrays of any rank (scalars included).

    ``fn`` maps an array shaped like ``x`` to an array of any shape ``S``; the result has shape
    ``S + x.shape`` — the jax.jacobian layout (output axes first, then the input's axes).
    """
    x = np.asarray(x, dtype=np.float64)
    cols = []
    out_shape = None
    for k in range(x.size):
        xp = x.copy().reshape(-1)
        xm = x.copy().reshape(-1)
        xp[k] += h
        xm[k] -= h
        fp = np.asarray(fn(xp.reshape(x.shape)), dtype=np.float64)
        fm = np.asarray(fn(xm.reshape(x.shape)), dtype=np.float64)
        out_shape = fp.shape
        cols.append(((fp - fm) / (2.0 * h)).reshape(-1))
    if out_shape is None:  # x has no entries
        out_shape = np.asarray(fn(x)).shape
        return np.zeros(out_shape + x.shape)
    J = np.stack(cols, axis=-1)  # (prod(S), x.size)
    return J.reshape(out_shape + x.shape)


def fd_of(evaluate, arrays: dict, wrt: str, h: float = 1e-6):
    """Central differences of ``evaluate(**arrays)`` with respect to ``arrays[wrt]``."""
    def fn(v):
        return evaluate(**{**arrays, wrt: v})
    return central_diff(fn, arrays[wrt], h)


# ------------------------------------------------------------------------ random inputs

def seed_for(*parts) -> int:
    """A stable seed from strings (so every test id gets its own reproducible inputs)."""
    return zlib.crc32("/".join(map(str, parts)).encode())


def resolve_shape(shape, sizes: dict) -> tuple:
    """Concrete shape from a symbolic one (dimension symbols substituted by name)."""
    out = []
    for d in shape:
        if isinstance(d, (int, np.integer)):
            out.append(int(d))
            continue
        free = getattr(d, "free_symbols", set())
        try:
            value = d.subs({s: sizes[s.name] for s in free})
        except KeyError as exc:
            raise KeyError(f"no size given for dimension {exc.args[0]!r} (sizes: {sizes})") from None
        out.append(int(value))
    return tuple(out)


def random_array(kind: str, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """One random float64 array of a given kind.

    kinds: normal, small (0.5·N), positive (U[0.5, 2]), unit (U[0.1, 0.9]), away (|x| in [0.3, 1.5],
    random sign: away from the kink of relu/abs/sign), pm1 (±1 labels), mask (0/1, mostly 1),
    onehot (one-hot along the last axis), spd (B Bᵀ/n + I), wellcond (1.5 I + 0.3·N, nonsymmetric).
    """
    shape = tuple(shape)
    if kind == "normal":
        return rng.normal(size=shape)
    if kind == "small":
        return 0.5 * rng.normal(size=shape)
    if kind == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if kind == "unit":
        return rng.uniform(0.1, 0.9, size=shape)
    if kind == "away":
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.5, size=shape)
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], size=shape)
    if kind == "mask":
        return (rng.uniform(size=shape) < 0.7).astype(np.float64)
    if kind == "onehot":
        if not shape:
            return np.ones(())
        out = np.zeros(shape)
        flat = out.reshape(-1, shape[-1])
        flat[np.arange(flat.shape[0]), rng.integers(0, shape[-1], size=flat.shape[0])] = 1.0
        return flat.reshape(shape)
    if kind in ("spd", "wellcond"):
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(f"{kind} needs a square matrix shape, got {shape}")
        n = shape[0]
        if kind == "spd":
            B = rng.normal(size=(n, n))
            return B @ B.T / n + np.eye(n)
        return 1.5 * np.eye(n) + 0.3 * rng.normal(size=(n, n))
    raise ValueError(f"unknown input kind {kind!r}")


def random_inputs(shapes: dict, kinds: dict, rng: np.random.Generator, accept=None,
                  tries: int = 200) -> dict:
    """Arrays for every name in ``shapes`` (kind from ``kinds``, default normal).

    ``accept(**arrays) -> bool`` is a constraint (e.g. pre-activations away from the ReLU kink);
    inputs are redrawn until it holds.
    """
    for _ in range(tries):
        arrays = {name: random_array(kinds.get(name, "normal"), shape, rng) for name, shape in shapes.items()}
        if accept is None or accept(**arrays):
            return arrays
    raise RuntimeError(f"could not draw inputs satisfying the constraint in {tries} tries")


# ------------------------------------------------------------------------ comparisons

def assert_close(actual, expected, rtol: float, what: str = "", atol_floor: float = 1e-12):
    """allclose with rtol and an absolute tolerance of rtol · max(1, max |expected|).

    The absolute part keeps entries that cancel to (almost) zero from failing on round-off while
    still holding every entry to a relative accuracy of rtol measured against the tensor's scale.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert np.all(np.isfinite(actual)), f"{what}: non-finite entries in the result"
    scale = max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    atol = max(rtol * scale, atol_floor)
    if not np.allclose(actual, expected, rtol=rtol, atol=atol):
        err = np.abs(actual - expected)
        k = np.unravel_index(int(np.argmax(err - rtol * np.abs(expected))), err.shape) if err.ndim else ()
        raise AssertionError(
            f"{what}: max abs error {float(np.max(err)):.3e} (rtol {rtol:g}, atol {atol:.1e}); "
            f"worst at {tuple(int(i) for i in k)}: got {float(actual[k]):.12g}, expected {float(expected[k]):.12g}")


def as_matrix(T, split: int) -> np.ndarray:
    """A tensor with ``split`` row axes as a 2-D matrix (rows, columns)."""
    T = np.asarray(T)
    return T.reshape(math.prod(T.shape[:split]), math.prod(T.shape[split:]))
