"""Campaign (issue 11, item 12): derivatives of random programs in every mode × compression.

For a random smooth program (tests/campaign_strategies.py, the same generator as the language
campaign) and a random declared variable w, every mode ("forward", "reverse", "cross-country") ×
compress True/False is checked against jax.jacobian / jax.hessian of the independent jax.numpy
oracle (float64), against each other, and on a sample against central finite differences of tcnb's
own value. ``.structured(**arrays)`` must densify to the dense result and its matvec must equal
the dense contraction; hvp must equal H·v; solve() either solves or raises a TcnbError.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import campaign_strategies as cs  # noqa: E402
import helpers_calculus as hc  # noqa: E402

import tcnb  # noqa: E402

MODES = ("forward", "reverse", "cross-country")


def _finite(a) -> bool:
    a = np.asarray(a)
    return bool(np.all(np.isfinite(a))) and (a.size == 0 or float(np.max(np.abs(a))) < 1e8)


def _direction_name(case) -> str:
    taken = set(case.var_shapes) | set(case.defs) | set(case.sizes)
    return next(n for n in ("vdir", "v", "u", "dir_", "vv") if n not in taken and n not in case.source)


def _jax_derivs(case, w, order):
    """[d1 .. d_order] of out w.r.t. w from the oracle, eagerly (no jit: one program per example)."""
    fn = case.oracle_fn(jnp, w)
    x0 = jnp.asarray(case.arrays[w])
    out, d = [], jax.jacrev(fn)
    for _ in range(order):
        out.append(np.asarray(d(x0)))
        d = jax.jacfwd(d)
    return out


def check_derivatives(case, w, data, test="calculus"):
    cs.fresh_caches()
    dname = _direction_name(case)
    wdims = case.var_shapes[w]
    source = case.source.rstrip("\r\n") + "\n" + (f"{dname}: R[{', '.join(wdims)}]\n" if wdims else f"{dname}: R\n")
    rng = np.random.default_rng(case.seed + 7)
    arrays = {**case.arrays, dname: rng.standard_normal(case.arrays[w].shape)}
    try:
        prog = tcnb.parse(source)
        out, wv = prog[case.out], prog[w]
        value = np.asarray(out.evaluate(**arrays))
    except Exception as exc:
        cs.failed(test, case, exc, "value")
        return
    scalar = out.rank == 0
    order = 2 if scalar else 1
    with np.errstate(all="ignore"):
        try:
            jx = _jax_derivs(case, w, order)
        except Exception as exc:  # an oracle failure is a generator bug: report it as such
            raise AssertionError(f"oracle failed: {exc}{case.report()}") from exc
    if not _finite(value) or not all(_finite(j) for j in jx):
        return
    results = {}
    for mode in MODES:
        for compress in (True, False):
            tag = f"{mode}, compress={compress}, wrt {w}"
            try:
                D = tcnb.jacobian(out, wv, mode=mode, compress=compress)
                got = np.asarray(D.evaluate(**arrays))
                hc.assert_close(got, jx[0], 1e-8, f"jacobian vs JAX, {tag}")
                results[("J", mode, compress)] = got
                S = D.structured(**arrays)
                hc.assert_close(np.asarray(S.dense()), got, 1e-10, f"jacobian structured().dense(), {tag}")
                v = arrays[dname]
                mv = np.tensordot(got, v, axes=v.ndim) if v.ndim else got * v
                hc.assert_close(np.asarray(S @ v), mv, 1e-9, f"jacobian structured() @ v, {tag}")
                if scalar:
                    G = tcnb.grad(out, wv, mode=mode, compress=compress)
                    hc.assert_close(np.asarray(G.evaluate(**arrays)), jx[0], 1e-8, f"grad vs JAX, {tag}")
                    H = tcnb.hessian(out, wv, mode=mode, compress=compress)
                    Hd = np.asarray(H.evaluate(**arrays))
                    hc.assert_close(Hd, jx[1], 1e-7, f"hessian vs JAX, {tag}")
                    results[("H", mode, compress)] = Hd
                    SH = H.structured(**arrays)
                    hc.assert_close(np.asarray(SH.dense()), Hd, 1e-10, f"hessian structured().dense(), {tag}")
                    Hv = tcnb.hvp(out, wv, prog[dname], mode=mode, compress=compress)
                    hv_want = np.tensordot(Hd, v, axes=v.ndim) if v.ndim else Hd * v
                    hc.assert_close(np.asarray(Hv.evaluate(**arrays)), hv_want, 1e-8, f"hvp vs H v, {tag}")
                    check_solve(SH, Hd, v, tag)
            except Exception as exc:
                cs.failed(test, case, exc, tag)
                return
    for (kind, mode, compress), got in results.items():   # modes agree, tighter than with JAX
        ref = results[(kind, "reverse", False)]
        try:
            hc.assert_close(got, ref, 1e-9, f"{kind}: {mode}/compress={compress} vs reverse/dense")
        except AssertionError as exc:
            cs.failed(test, case, exc, f"{kind} modes disagree")
            return
    others = [n for n in sorted(case.var_shapes) if n != w]
    if others and data.draw(st.booleans(), label="mixed partials"):
        check_mixed(case, prog, arrays, w, data.draw(st.sampled_from(others), label="second variable"), data)
    if data.draw(st.integers(0, 3), label="display") == 0:
        check_display(case, tcnb.jacobian(out, wv, mode=data.draw(st.sampled_from(MODES), label="mode")),
                      arrays, results[("J", "reverse", False)])
    if data.draw(st.integers(0, 2), label="finite differences") == 0 and case.arrays[w].size <= 12:
        fd = hc.fd_of(lambda **a: np.asarray(out.evaluate(**a)), arrays, w, 1e-6)
        try:
            hc.assert_close(results[("J", "reverse", False)], fd, 1e-5, "jacobian vs finite differences")
        except AssertionError as exc:
            cs.failed(test, case, exc, "finite differences")
            return
    if scalar and data.draw(st.integers(0, 3), label="third order") == 0 and case.arrays[w].size <= 4:
        mode = data.draw(st.sampled_from(MODES), label="mode")
        compress = data.draw(st.booleans(), label="compress")
        try:
            with np.errstate(all="ignore"):
                j3 = _jax_derivs(case, w, 3)[2]
            if _finite(j3):
                D3 = tcnb.derivative(out, wv, order=3, mode=mode, compress=compress)
                hc.assert_close(np.asarray(D3.evaluate(**arrays)), j3, 1e-6,
                                f"third derivative vs JAX, {mode}, compress={compress}")
        except Exception as exc:
            cs.failed(test, case, exc, f"order 3, {mode}, compress={compress}")


def check_mixed(case, prog, arrays, w, v, data):
    """d/dv (d out/dw), the inner and the outer derivative in independently drawn modes."""
    m1, m2 = data.draw(st.sampled_from(MODES), label="inner mode"), data.draw(st.sampled_from(MODES), label="outer mode")
    c1, c2 = data.draw(st.booleans(), label="inner compress"), data.draw(st.booleans(), label="outer compress")
    tag = f"mixed d/d{v} d/d{w}: inner {m1}/compress={c1}, outer {m2}/compress={c2}"
    fn = case.oracle_fn2(jnp, w, v)
    a0, b0 = jnp.asarray(case.arrays[w]), jnp.asarray(case.arrays[v])
    with np.errstate(all="ignore"):
        want = np.asarray(jax.jacfwd(lambda b: jax.jacrev(lambda a: fn(a, b))(a0))(b0))
    if not _finite(want):
        return
    try:
        inner = tcnb.jacobian(prog[case.out], prog[w], mode=m1, compress=c1)
        D = tcnb.jacobian(inner, prog[v], mode=m2, compress=c2)
        hc.assert_close(np.asarray(D.evaluate(**arrays)), want, 1e-7, f"{tag} vs JAX")
    except Exception as exc:
        cs.failed("calculus", case, exc, tag)


def check_display(case, D, arrays, want):
    """A derivative displays (formula, LaTeX, matrix notation, graph, stats, code) without raising,
    and its standalone module computes its value."""
    try:
        repr(D)
        D.latex()
        D.matrix()
        D.graph()
        D.stats(**{d: n for d, n in case.sizes.items() if not d.isdigit()})
        D.to_source(**{d: n for d, n in case.sizes.items() if not d.isdigit()})
        got = cs.run_standalone(D, arrays, case.sizes)
        hc.assert_close(np.asarray(got), want, 1e-9, "standalone module of the jacobian")
    except Exception as exc:
        cs.failed("calculus", case, exc, "display of the jacobian")


def check_solve(SH, Hd, v, tag):
    """solve() solves a well-conditioned Hessian, or says why not (a TcnbError)."""
    n = int(np.prod(v.shape)) if v.ndim else 1
    M = Hd.reshape(n, n)
    try:
        x = np.asarray(SH.solve(v))
    except tcnb.TcnbError:
        return
    if np.linalg.cond(M) < 1e6:
        hc.assert_close(M @ x.reshape(n), v.reshape(n), 1e-6, f"structured().solve(), {tag}")


@cs.campaign_settings(14, share=0.5)
@given(cs.programs(smooth=True, ranks=(0, 0, 0, 1, 2), depth=(1, 3)), st.data())
def test_random_derivatives_match_jax(case, data):
    w = data.draw(st.sampled_from(sorted(case.var_shapes)), label="wrt")
    check_derivatives(case, w, data)


@cs.campaign_settings(6, share=0.2)
@given(cs.programs(smooth=True, ranks=(0,), depth=(2, 4), max_rank=2), st.data())
def test_random_scalar_programs_deeper(case, data):
    """Scalar programs, deeper trees: gradient, Hessian, hvp and solve in every mode."""
    w = data.draw(st.sampled_from(sorted(case.var_shapes)), label="wrt")
    check_derivatives(case, w, data)


FOCUS = ("linalg", "linalg", "softmax", "indexmap", "indexmap", "gram", "einsum", "index", "algebra",
         "reduce", "div", "pow")


@cs.campaign_settings(6, share=0.4)
@given(cs.programs(smooth=True, ranks=(0, 0, 1, 2), depth=(2, 4), focus=FOCUS), st.data())
def test_focused_derivatives(case, data):
    """Programs weighted towards the general functions (inv, det, logdet, softmax, logsumexp),
    index maps, symmetric products, einsum and what the simplifier folds."""
    w = data.draw(st.sampled_from(sorted(case.var_shapes)), label="wrt")
    check_derivatives(case, w, data)
