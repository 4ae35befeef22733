"""Every corpus entry differentiated in every mode, compressed and not, against JAX and finite differences.

- order 1 (grad / jacobian): vs jax.jacrev (rtol 1e-9) and vs central differences of the
  expression's own value (step 1e-6, rtol 1e-5);
- order 2 (hessian / derivative(order=2)): vs jax.jacfwd(jax.jacrev) (rtol 1e-9) and vs central
  differences of tcnb's order-1 result in the same mode and compression (rtol 1e-5);
- order 3 (derivative(order=3)): vs jax.jacfwd(jax.jacfwd(jax.jacrev)) (rtol 1e-9), for the entries
  whose variable asks for it;
- hvp vs H @ v, derivative(order=k) vs grad/hessian, and the JAX twins vs tcnb's own evaluation.
"""
from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402  (also switches JAX to float64)
import helpers_calculus as hc  # noqa: E402
from corpus import arrays, call_args, eval_args, hvp_program, program  # noqa: E402,F401
from corpus import direction as _direction  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import tcnb  # noqa: E402

MODES = ["forward", "reverse", "cross-country"]
COMPRESS = [True, False]
RTOL_JAX = 1e-9
RTOL_FD = 1e-5
H_FD = 1e-6


# ------------------------------------------------------------------ cached building blocks

def tcnb_derivative(name: str, w: str, order: int, mode: str, compress: bool, prog=None):
    e = corpus.by_name(name)
    p = prog or program(name)
    f, wv = p[e.of], p[w]
    if order == 1:
        if f.rank == 0:
            return tcnb.grad(f, wv, mode=mode, compress=compress)
        return tcnb.jacobian(f, wv, mode=mode, compress=compress)
    if order == 2 and f.rank == 0:
        return tcnb.hessian(f, wv, mode=mode, compress=compress)
    return tcnb.derivative(f, wv, order=order, mode=mode, compress=compress)


@functools.lru_cache(maxsize=None)
def tcnb_value(name: str, w: str, order: int, mode: str, compress: bool) -> np.ndarray:
    D = tcnb_derivative(name, w, order, mode, compress)
    return np.asarray(D.evaluate(**eval_args(name)))


@functools.lru_cache(maxsize=None)
def jax_derivatives(name: str, w: str) -> tuple:
    """(d1, ..., dK) of the JAX twin with respect to w, K = the entry's order for w: nested
    jax.jacrev / jax.jacfwd, all orders in one jitted call (eager nesting is many times slower)."""
    e = corpus.by_name(name)
    base = {k: jnp.asarray(v) for k, v in call_args(name).items()}

    def fn(x):
        return e.jax(**{**base, w: x})
    ds = [jax.jacrev(fn)]
    for _ in range(e.wrt[w] - 1):
        ds.append(jax.jacfwd(ds[-1]))
    out = jax.jit(lambda x: tuple(d(x) for d in ds))(base[w])
    return tuple(np.asarray(o) for o in out)


def jax_value(name: str, w: str, order: int) -> np.ndarray:
    return jax_derivatives(name, w)[order - 1]


def _params(order_filter):
    out = []
    for e, w in corpus.CASES:
        for order in range(1, e.wrt[w] + 1):
            if not order_filter(order):
                continue
            for mode in MODES:
                for compress in COMPRESS:
                    out.append(pytest.param(e.name, w, order, mode, compress,
                                            id=f"{e.name}-{w}-{mode}-{'compressed' if compress else 'dense'}"))
    return out


# ------------------------------------------------------------------ the corpus itself

def test_corpus_size_and_coverage():
    assert len(corpus.CORPUS) >= 45
    tags = set().union(*(e.tags for e in corpus.CORPUS))
    missing = corpus.REQUIRED_TAGS - tags
    assert not missing, f"corpus lacks {sorted(missing)}"
    assert sum(1 for e in corpus.CORPUS if e.order >= 3) >= 15
    assert len({e.name for e in corpus.CORPUS}) == len(corpus.CORPUS)


@pytest.mark.parametrize("name", [e.name for e in corpus.CORPUS])
def test_value_matches_jax_twin(name):
    """The oracle is the same function: tcnb's evaluation of the expression equals the JAX twin."""
    e = corpus.by_name(name)
    got = program(name)[e.of].evaluate(**eval_args(name))
    want = np.asarray(e.jax(**{k: jnp.asarray(v) for k, v in call_args(name).items()}))
    hc.assert_close(got, want, 1e-12, f"{name}: value")


# ------------------------------------------------------------------ order 1

@pytest.mark.parametrize("name,w,order,mode,compress", _params(lambda o: o == 1))
def test_first_derivative(name, w, order, mode, compress):
    got = tcnb_value(name, w, 1, mode, compress)
    hc.assert_close(got, jax_value(name, w, 1), RTOL_JAX, f"{name} d/d{w} vs JAX")
    e = corpus.by_name(name)
    f = program(name)[e.of]
    fd = hc.fd_of(lambda **a: np.asarray(f.evaluate(**a)), eval_args(name), w, H_FD)
    hc.assert_close(got, fd, RTOL_FD, f"{name} d/d{w} vs finite differences")


# ------------------------------------------------------------------ order 2

@pytest.mark.parametrize("name,w,order,mode,compress", _params(lambda o: o == 2))
def test_second_derivative(name, w, order, mode, compress):
    got = tcnb_value(name, w, 2, mode, compress)
    hc.assert_close(got, jax_value(name, w, 2), RTOL_JAX, f"{name} d2/d{w}2 vs JAX")
    D1 = tcnb_derivative(name, w, 1, mode, compress)
    fd = hc.fd_of(lambda **a: np.asarray(D1.evaluate(**a)), eval_args(name), w, H_FD)
    hc.assert_close(got, fd, RTOL_FD, f"{name} d2/d{w}2 vs finite differences of the first derivative")


# ------------------------------------------------------------------ order 3

@pytest.mark.parametrize("name,w,order,mode,compress", _params(lambda o: o == 3))
def test_third_derivative(name, w, order, mode, compress):
    got = tcnb_value(name, w, 3, mode, compress)
    hc.assert_close(got, jax_value(name, w, 3), RTOL_JAX, f"{name} d3/d{w}3 vs JAX")


# ------------------------------------------------------------------ API consistency

def _scalar_cases(min_order=1):
    return [pytest.param(e.name, w, id=f"{e.name}-{w}") for e, w in corpus.CASES
            if corpus.is_scalar(e.name) and e.wrt[w] >= min_order]


@pytest.mark.parametrize("name,w", [pytest.param(e.name, w, id=corpus.case_id((e, w))) for e, w in corpus.CASES])
def test_derivative_order1_is_jacobian(name, w):
    e = corpus.by_name(name)
    p = program(name)
    D = tcnb.derivative(p[e.of], p[w], order=1)
    J = tcnb.jacobian(p[e.of], p[w])
    assert tuple(D.shape) == tuple(J.shape) == tuple(p[e.of].shape) + tuple(p[w].shape)
    hc.assert_close(D.evaluate(**eval_args(name)), J.evaluate(**eval_args(name)), 1e-12, f"{name}")


@pytest.mark.parametrize("name,w", _scalar_cases(2))
def test_derivative_order2_is_hessian(name, w):
    e = corpus.by_name(name)
    p = program(name)
    D = tcnb.derivative(p[e.of], p[w], order=2)
    H = tcnb.hessian(p[e.of], p[w])
    hc.assert_close(D.evaluate(**eval_args(name)), H.evaluate(**eval_args(name)), 1e-12, f"{name}")


def _hvp_params():
    out = []
    for e, w in corpus.CASES:
        if not corpus.is_scalar(e.name) or e.wrt[w] < 2:
            continue
        for mode in MODES:
            for compress in COMPRESS:
                out.append(pytest.param(e.name, w, mode, compress,
                                        id=f"{e.name}-{w}-{mode}-{'compressed' if compress else 'dense'}"))
    return out


@pytest.mark.parametrize("name,w,mode,compress", _hvp_params())
def test_hvp_equals_hessian_times_v(name, w, mode, compress):
    e = corpus.by_name(name)
    p = hvp_program(name)
    args = eval_args(name, with_directions=True)
    v = args[_direction(w)]
    Hv = tcnb.hvp(p[e.of], p[w], p[_direction(w)], mode=mode, compress=compress)
    got = np.asarray(Hv.evaluate(**args))
    assert got.shape == v.shape
    H = tcnb_value(name, w, 2, mode, compress)
    want = (hc.as_matrix(H, v.ndim) @ v.reshape(-1)).reshape(v.shape)
    hc.assert_close(got, want, RTOL_JAX, f"{name} hvp wrt {w}")
    # and against JAX's own Hessian, so a wrong H cannot hide a wrong hvp
    want_jax = (hc.as_matrix(jax_value(name, w, 2), v.ndim) @ v.reshape(-1)).reshape(v.shape)
    hc.assert_close(got, want_jax, RTOL_JAX, f"{name} hvp wrt {w} vs JAX")
