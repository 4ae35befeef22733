"""Random well-typed tensor programs: forward == reverse == cross-country == oracle.

A recursive strategy writes a program over ``x: R[n]``, ``A: R[n, n]`` and ``c: R`` using
+ - * exp tanh sin sigmoid square sum @ .T and index notation (named intermediate definitions such as
``t3[i] = A[i, j] * t2[j]``). Every program is generated twice, in parallel: as tcnb source and as the
equivalent jax.numpy code (index definitions become jnp.einsum calls), so JAX is an independent
oracle; central finite differences of tcnb's own evaluation are a second one.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402,F401  (switches JAX to float64)
import helpers_calculus as hc  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import tcnb  # noqa: E402

N = 3
MODES = ["forward", "reverse", "cross-country"]
DECLS = "x: R[n]\nA: R[n, n]\nc: R\n"
EXAMPLES = int(os.environ.get("TCNB_HYPOTHESIS_EXAMPLES", "30"))  # raise it for a deeper search


def _settings(examples):
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
                    derandomize=True, print_blob=True)

# scalar functions: tcnb name -> jax.numpy code template
UNARY = {"exp": "jnp.exp({})", "tanh": "jnp.tanh({})", "sin": "jnp.sin({})",
         "sigmoid": "(1.0 / (1.0 + jnp.exp(-({}))))", "square": "(({}) ** 2)"}


class Builder:
    """Collects named definitions in both languages."""

    def __init__(self):
        self.tcnb: list[str] = []
        self.py: list[str] = []
        self.count = 0

    def name(self) -> str:
        self.count += 1
        return f"t{self.count}"

    def define(self, tcnb_rhs: str, py_rhs: str) -> str:
        n = self.name()
        self.tcnb.append(f"{n} = {tcnb_rhs}")
        self.py.append(f"{n} = {py_rhs}")
        return n

    def define_index(self, lhs_idx: str, tcnb_rhs: str, py_rhs: str) -> tuple:
        """An index-notation definition; returns the (tcnb, jax) pair naming it."""
        n = self.name()
        self.tcnb.append(f"{n}[{lhs_idx}] = {tcnb_rhs}")
        self.py.append(f"{n} = {py_rhs}")
        return n, n


def _named(b: Builder, e):
    """A name for the expression pair e (a definition unless it already is a bare name)."""
    t, p = e
    if t.isidentifier():
        return t
    return b.define(t, p)


def gen(draw, b: Builder, kind: str, depth: int, leaf_ok: bool = True):
    """(tcnb text, jax text) of a random expression of kind 's' (scalar), 'v' (n) or 'm' (n, n)."""
    if depth <= 0 or (leaf_ok and draw(st.integers(0, 3)) == 0):
        if kind == "s":
            return draw(st.sampled_from([("c", "c"), ("0.5", "0.5"), ("sum(x)", "jnp.sum(x)")]))
        if kind == "v":
            return ("x", "x")
        return draw(st.sampled_from([("A", "A"), ("A.T", "A.T")]))
    sub = depth - 1
    choices = ["binary", "unary", "scale"]
    if kind == "s":
        choices += ["sum_v", "sum_m", "dot", "sum_v", "sum_m"]
    elif kind == "v":
        choices += ["matvec", "vecmat", "index_v", "index_v"]
    else:
        choices += ["matmul", "transpose", "index_m", "index_m"]
    how = draw(st.sampled_from(choices))
    if how == "binary":
        op = draw(st.sampled_from(["+", "-", "*"]))
        a, bb = gen(draw, b, kind, sub), gen(draw, b, kind, sub)
        return f"({a[0]} {op} {bb[0]})", f"({a[1]} {op} {bb[1]})"
    if how == "unary":
        fn = draw(st.sampled_from(sorted(UNARY)))
        a = gen(draw, b, kind, sub)
        return f"{fn}({a[0]})", UNARY[fn].format(a[1])
    if how == "scale":  # scalar times a tensor: broadcasting
        s = gen(draw, b, "s", sub)
        a = gen(draw, b, kind, sub)
        return f"({s[0]} * {a[0]})", f"({s[1]} * {a[1]})"
    if how == "sum_v":
        a = gen(draw, b, "v", sub)
        return f"sum({a[0]})", f"jnp.sum({a[1]})"
    if how == "sum_m":
        a = gen(draw, b, "m", sub)
        return f"sum({a[0]})", f"jnp.sum({a[1]})"
    if how == "dot":
        a, bb = gen(draw, b, "v", sub), gen(draw, b, "v", sub)
        return f"({a[0]} @ {bb[0]})", f"({a[1]} @ {bb[1]})"
    if how == "matvec":
        m, v = gen(draw, b, "m", sub), gen(draw, b, "v", sub)
        return f"({m[0]} @ {v[0]})", f"({m[1]} @ {v[1]})"
    if how == "vecmat":
        v, m = gen(draw, b, "v", sub), gen(draw, b, "m", sub)
        return f"({v[0]} @ {m[0]})", f"({v[1]} @ {m[1]})"
    if how == "matmul":
        m1, m2 = gen(draw, b, "m", sub), gen(draw, b, "m", sub)
        return f"({m1[0]} @ {m2[0]})", f"({m1[1]} @ {m2[1]})"
    if how == "transpose":
        m = gen(draw, b, "m", sub)
        return f"({m[0]}).T", f"({m[1]}).T"
    if how == "index_v":
        template = draw(st.integers(0, 4))
        M = _named(b, gen(draw, b, "m", sub))
        V = _named(b, gen(draw, b, "v", sub))
        if template == 0:
            return b.define_index("i", f"{M}[i, j] * {V}[j]", f'jnp.einsum("ij,j->i", {M}, {V})')
        if template == 1:
            return b.define_index("i", f"{M}[j, i] * {V}[j]", f'jnp.einsum("ji,j->i", {M}, {V})')
        if template == 2:
            return b.define_index("i", f"{M}[i, i] * {V}[i]", f'jnp.einsum("ii,i->i", {M}, {V})')
        if template == 3:
            return b.define_index("i", f"tanh({M}[i, j]) * {V}[j]", f'jnp.einsum("ij,j->i", jnp.tanh({M}), {V})')
        W = _named(b, gen(draw, b, "v", sub))
        return b.define_index("i", f"{V}[i] * {W}[i] * {M}[i, j]", f'jnp.einsum("i,i,ij->i", {V}, {W}, {M})')
    if how == "index_m":
        template = draw(st.integers(0, 2))
        if template == 0:
            V = _named(b, gen(draw, b, "v", sub))
            W = _named(b, gen(draw, b, "v", sub))
            return b.define_index("i, j", f"{V}[i] * {W}[j]", f'jnp.einsum("i,j->ij", {V}, {W})')
        M1 = _named(b, gen(draw, b, "m", sub))
        if template == 1:
            M2 = _named(b, gen(draw, b, "m", sub))
            return b.define_index("i, j", f"{M1}[i, k] * {M2}[k, j]", f'jnp.einsum("ik,kj->ij", {M1}, {M2})')
        V = _named(b, gen(draw, b, "v", sub))
        return b.define_index("i, j", f"{M1}[j, i] * {V}[j]", f'jnp.einsum("ji,j->ij", {M1}, {V})')
    raise AssertionError(how)


@st.composite
def programs(draw, kind="s"):
    b = Builder()
    depth = draw(st.integers(2, 4))
    t, p = gen(draw, b, kind, depth, leaf_ok=False)
    tcnb_src = DECLS + "\n".join(b.tcnb + [f"out = {t}"]) + "\n"
    py_src = "\n".join(b.py + [f"out = {p}"]) + "\n"
    return tcnb_src, py_src


def jax_function(py_src: str):
    code = compile(py_src, "<generated jax>", "exec")

    def fn(x, A, c):
        ns = {"jnp": jnp, "x": x, "A": A, "c": c, "sum": jnp.sum}
        exec(code, ns)
        return ns["out"]
    return fn


def inputs(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"x": 0.6 * rng.normal(size=N), "A": 0.6 * rng.normal(size=(N, N)), "c": np.asarray(0.6 * rng.normal())}


def _jax_derivatives(py_src, arrays, w, order):
    """[d1, ..., d_order] of the JAX program w.r.t. w (nested jacrev/jacfwd).

    Run eagerly on purpose: every example is a new function, so jit would compile each one
    (~1-3 s); eager primitives are compiled once per shape and reused by all examples.
    """
    fn = jax_function(py_src)
    base = {k: jnp.asarray(v) for k, v in arrays.items()}

    def g(v):
        return fn(**{**base, w: v})
    d = jax.jacrev(g)
    out = []
    for k in range(order):
        out.append(np.asarray(d(base[w])))
        d = jax.jacfwd(d)
    return out


def _report(src):
    return "\nprogram:\n" + src


def _finite(arrays_value):
    return np.all(np.isfinite(arrays_value)) and np.max(np.abs(arrays_value)) < 1e6


def _check(tcnb_src, py_src, order):
    prog = tcnb.parse(tcnb_src)
    out = prog["out"]
    arrays = inputs(hc.seed_for(tcnb_src))
    args = {**arrays, "n": N}
    value = np.asarray(out.evaluate(**args))
    want_value = np.asarray(jax_function(py_src)(**{k: jnp.asarray(v) for k, v in arrays.items()}))
    hc.assert_close(value, want_value, 1e-11, "value vs JAX" + _report(tcnb_src))
    if not _finite(value):
        return
    for w in ("x", "A", "c"):
        jx = _jax_derivatives(py_src, arrays, w, order)
        if not all(_finite(v) for v in jx):
            continue
        results = {}
        for mode in MODES:
            for compress in (True, False):
                tag = f"{mode}, compress={compress}, wrt {w}"
                try:
                    D1 = tcnb.jacobian(out, prog[w], mode=mode, compress=compress)
                    got1 = np.asarray(D1.evaluate(**args))
                except Exception as exc:
                    raise AssertionError(f"order 1, {tag}: {type(exc).__name__}: {exc}{_report(tcnb_src)}") from exc
                hc.assert_close(got1, jx[0], 1e-8, f"order 1 vs JAX, {tag}{_report(tcnb_src)}")
                results[(1, mode, compress)] = got1
                if order >= 2:
                    try:
                        D2 = tcnb.derivative(out, prog[w], order=2, mode=mode, compress=compress)
                        got2 = np.asarray(D2.evaluate(**args))
                    except Exception as exc:
                        raise AssertionError(f"order 2, {tag}: {type(exc).__name__}: {exc}{_report(tcnb_src)}") from exc
                    hc.assert_close(got2, jx[1], 1e-8, f"order 2 vs JAX, {tag}{_report(tcnb_src)}")
                    results[(2, mode, compress)] = got2
        # the modes agree with each other (tighter than with the oracle)
        for (k, mode, compress), v in results.items():
            hc.assert_close(v, results[(k, "reverse", False)], 1e-10,
                            f"order {k}: {mode}/compress={compress} vs reverse/dense, wrt {w}{_report(tcnb_src)}")
        # and with finite differences of tcnb's own value
        fd = hc.fd_of(lambda **a: np.asarray(out.evaluate(**a)), args, w, 1e-6)
        hc.assert_close(results[(1, "reverse", False)], fd, 1e-5, f"order 1 vs finite differences, wrt {w}"
                        + _report(tcnb_src))


@_settings(EXAMPLES)
@given(programs("s"))
def test_random_scalar_programs_gradient_and_hessian(pair):
    tcnb_src, py_src = pair
    _check(tcnb_src, py_src, order=2)


@_settings(max(1, EXAMPLES * 2 // 3))
@given(programs("v"))
def test_random_vector_programs_jacobian(pair):
    tcnb_src, py_src = pair
    _check(tcnb_src, py_src, order=1)


@_settings(max(1, EXAMPLES // 2))
@given(programs("m"))
def test_random_matrix_programs_jacobian(pair):
    tcnb_src, py_src = pair
    _check(tcnb_src, py_src, order=1)


def test_generator_smoke():
    """The generator itself: both languages compute the same value on a fixed example."""
    src = DECLS + "t1[i] = A[i, j] * x[j]\nout = sum(tanh(t1) * x) + c * (x @ x)\n"
    py = 't1 = jnp.einsum("ij,j->i", A, x)\nout = jnp.sum(jnp.tanh(t1) * x) + c * (x @ x)\n'
    _check(src, py, order=2)


if __name__ == "__main__":  # print a few generated programs
    for ex in [programs("s").example() for _ in range(3)]:
        print(ex[0], "---", ex[1], "=====", sep="\n")
    pytest.main([__file__, "-q"])
