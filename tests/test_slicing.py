"""Slicing, flip, roll, concatenate and stack (issue 13): pure index maps.

- Values of every form (constant and symbolic bounds, negative constants, steps, integer indices,
  ``...``, new axes, flip/roll/concatenate/stack with their axes) against NumPy.
- Jacobians in forward, reverse and cross-country mode, compressed or not, against jax.jacobian
  (x64) and central differences; gradients and Hessians of scalar losses through them against
  jax.grad / jax.hessian.
- The generated code of a gradient through a slice or a concatenation at n = 1000 has gathers and
  scatters, never a dense selection matrix.
- Bad input: a located TcnbError (line, column) naming what is allowed; bounds only the sizes
  decide are a BindingError naming the index and the size when bound.
- A hypothesis property test: random chains of slices/flips/rolls/concatenations vs JAX.
- A sample of autograd's tests/test_numpy.py (indexing, concatenate, flip, roll) ported.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers_calculus import assert_close, central_diff

import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import tcnb  # noqa: E402
from tcnb import BindingError, ShapeError, TcnbError, TensorSyntaxError  # noqa: E402

MODES = ("forward", "reverse", "cross-country")
DECL = "x: R[n]\nX: R[n, m]\ny: R[m]\nT: R[n, m, p]\nz: R[7]\n"
SIZES = dict(n=6, m=5, p=3)

# (id, array-syntax expression, reference on a NumPy-like namespace)
CASES = [
    ("from1", "x[1:]", lambda xp, a: a["x"][1:]),
    ("to_n1", "x[:n - 1]", lambda xp, a: a["x"][:5]),
    ("mid", "x[2:n-1]", lambda xp, a: a["x"][2:5]),
    ("cols", "X[:, 1:]", lambda xp, a: a["X"][:, 1:]),
    ("row0", "X[0]", lambda xp, a: a["X"][0]),
    ("col2", "X[:, 2]", lambda xp, a: a["X"][:, 2]),
    ("block", "X[1:, :m-1]", lambda xp, a: a["X"][1:, :4]),
    ("last", "x[-1]", lambda xp, a: a["x"][-1]),
    ("but_last", "x[:-1]", lambda xp, a: a["x"][:-1]),
    ("neg_start", "x[-3:]", lambda xp, a: a["x"][-3:]),
    ("step2", "x[::2]", lambda xp, a: a["x"][::2]),
    ("step3", "x[1::3]", lambda xp, a: a["x"][1::3]),
    ("reverse", "x[::-1]", lambda xp, a: a["x"][::-1]),
    ("rev_step", "X[::-2, 1]", lambda xp, a: a["X"][::-2, 1]),
    ("ellipsis", "T[..., 0]", lambda xp, a: a["T"][..., 0]),
    ("mixed3", "T[::-1, 2:4, :]", lambda xp, a: a["T"][::-1, 2:4, :]),
    ("ints3", "T[3, 0, 1]", lambda xp, a: a["T"][3, 0, 1]),
    ("newaxis", "x[1:, None] * y[None, :m - 1]", lambda xp, a: a["x"][1:, None] * a["y"][None, :4]),
    ("int_dim", "z[2:10]", lambda xp, a: a["z"][2:10]),
    ("int_dim_neg", "z[-10:-2:2]", lambda xp, a: a["z"][-10:-2:2]),
    ("int_index", "z[-7]", lambda xp, a: a["z"][-7]),
    ("sliced_twice", "x[1:][1:n-2]", lambda xp, a: a["x"][1:][1:4]),
    ("of_product", "(X @ y)[1:] * x[:-1]", lambda xp, a: (a["X"] @ a["y"])[1:] * a["x"][:-1]),
    ("diff", "x[1:] - x[:-1]", lambda xp, a: a["x"][1:] - a["x"][:-1]),
    ("flip_all", "flip(X)", lambda xp, a: xp.flip(a["X"])),
    ("flip0", "flip(X, 0)", lambda xp, a: xp.flip(a["X"], 0)),
    ("flip_axes", "flip(T, axis=(0, 2))", lambda xp, a: xp.flip(a["T"], (0, 2))),
    ("roll", "roll(x, 2)", lambda xp, a: xp.roll(a["x"], 2)),
    ("roll_neg", "roll(x, -1)", lambda xp, a: xp.roll(a["x"], -1)),
    ("roll_axis", "roll(X, 2, axis=1)", lambda xp, a: xp.roll(a["X"], 2, axis=1)),
    ("roll_int", "roll(z, 9)", lambda xp, a: xp.roll(a["z"], 9)),
    ("roll_two", "roll(X, (1, -2), axis=(0, 1))", lambda xp, a: xp.roll(a["X"], (1, -2), axis=(0, 1))),
    ("concat", "concatenate([x, y])", lambda xp, a: xp.concatenate([a["x"], a["y"]])),
    ("concat3", "concatenate([x[1:], y, x * x])", lambda xp, a: xp.concatenate([a["x"][1:], a["y"], a["x"] ** 2])),
    ("concat_ax1", "concatenate([X, X[:, :2]], axis=1)", lambda xp, a: xp.concatenate([a["X"], a["X"][:, :2]], 1)),
    ("concat_row", "concatenate([X, y[None, :]])", lambda xp, a: xp.concatenate([a["X"], a["y"][None, :]])),
    ("stack0", "stack([x, x * 2])", lambda xp, a: xp.stack([a["x"], 2 * a["x"]])),
    ("stack_last", "stack([X, sin(X)], axis=-1)", lambda xp, a: xp.stack([a["X"], xp.sin(a["X"])], -1)),
    ("stack1", "stack([y, y[::-1], exp(y)], 1)", lambda xp, a: xp.stack([a["y"], a["y"][::-1], xp.exp(a["y"])], 1)),
]
IDS = [c[0] for c in CASES]
BY_ID = {c[0]: c for c in CASES}


@functools.lru_cache(maxsize=None)
def program(cid):
    return tcnb.parse(DECL + f"E = {BY_ID[cid][1]}\nL = sum(tanh(E) * E)\n")


def arrays():
    rng = np.random.default_rng(13)
    n, m, p = SIZES["n"], SIZES["m"], SIZES["p"]
    return dict(x=rng.normal(size=n), X=rng.normal(size=(n, m)), y=rng.normal(size=m),
                T=rng.normal(size=(n, m, p)), z=rng.normal(size=7))


ARR = arrays()


def used(e):
    return {v: ARR[v] for v in e.variables}


def ref(cid, **override):
    return np.asarray(BY_ID[cid][2](np, {**ARR, **override}))


@pytest.mark.parametrize("cid", IDS)
def test_value_matches_numpy(cid):
    e = program(cid)["E"]
    got = np.asarray(e.evaluate(**used(e)))
    assert_close(got, ref(cid), 1e-13, cid)


def _jax_fn(cid, w, loss=False):
    def f(v):
        a = {**{k: jnp.asarray(u) for k, u in ARR.items()}, w: v}
        E = BY_ID[cid][2](jnp, a)
        return jnp.sum(jnp.tanh(E) * E) if loss else E
    return f


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cid", IDS)
def test_jacobian(cid, mode, compress):
    e = program(cid)["E"]
    for w in e.variables:
        J = np.asarray(tcnb.jacobian(e, w, mode=mode, compress=compress).evaluate(**used(e)))
        assert_close(J, np.asarray(jax.jacobian(_jax_fn(cid, w))(jnp.asarray(ARR[w]))), 1e-12, f"{cid} d/d{w}")
        fd = central_diff(lambda v: ref(cid, **{w: v}), ARR[w])
        assert_close(J, fd, 1e-7, f"{cid} d/d{w} vs FD")


HESS = ["mid", "block", "step3", "rev_step", "mixed3", "newaxis", "of_product", "diff", "flip_all",
        "roll_two", "concat3", "concat_row", "stack_last", "stack1", "int_dim_neg"]


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cid", HESS)
def test_grad_and_hessian_of_a_loss(cid, mode, compress):
    L = program(cid)["L"]
    for w in L.variables:
        x0 = jnp.asarray(ARR[w])
        g = np.asarray(tcnb.grad(L, w, mode=mode, compress=compress).evaluate(**used(L)))
        assert_close(g, np.asarray(jax.grad(_jax_fn(cid, w, True))(x0)), 1e-12, f"{cid} grad {w}")
        H = np.asarray(tcnb.hessian(L, w, mode=mode, compress=compress).evaluate(**used(L)))
        assert_close(H, np.asarray(jax.hessian(_jax_fn(cid, w, True))(x0)), 1e-11, f"{cid} hessian {w}")
        grad_fn = tcnb.grad(L, w, mode=mode, compress=compress)
        fd = central_diff(lambda v: np.asarray(grad_fn.evaluate(**{**used(L), w: v})), ARR[w])
        assert_close(H, fd, 1e-6, f"{cid} hessian {w} vs FD of the gradient")


# ------------------------------------------------------------------ generated code: no dense selections

@pytest.mark.parametrize("src", [
    "L = sum(exp(x[1:]) * x[:n - 1])",
    "L = sum(sin(concatenate([x, x[::2], flip(x)])) ** 2)",
    "L = sum(roll(x, 3) * x)",
    "L = sum(stack([x, exp(x)]) ** 2)",
    "L = sum(tanh(X[1:, :m - 1]) * X[:n - 1, 1:])",
])
@pytest.mark.parametrize("mode", MODES)
def test_gradient_code_has_no_dense_selection(src, mode):
    p = tcnb.parse(DECL + src + "\n")
    w = "X" if "X" in src else "x"
    code = tcnb.grad(p["L"], w, mode=mode).to_source(n=1000, m=1000)
    assert "index_map_dense" not in code, code
    if w == "x":
        assert "(1000, 1000)" not in code, code
    assert "gather" in code and "scatter" in code, code
    # and it evaluates correctly at that size
    rng = np.random.default_rng(0)
    a = {"x": rng.normal(size=1000)} if w == "x" else {"X": rng.normal(size=(100, 90))}
    g = np.asarray(tcnb.grad(p["L"], w, mode=mode).evaluate(**a))
    assert g.shape == a[w].shape and np.all(np.isfinite(g))


def test_slices_print_readably():
    p = tcnb.parse(DECL + "L = sum(exp(x[1:]) * x[:n - 1])\nC = concatenate([x, y])\n")
    tex = p["L"].latex()
    assert "x_{i+1}" in tex.replace(" ", "") and "n - 1" in tex, tex
    assert "+ 1" in p["L"].einstein() or "+1" in p["L"].einstein()
    assert str(p["C"].shape[0]) == "m + n"
    assert p["C"].latex() and p["C"].einstein()


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("src, cls, col, words", [
    ("E = z[9]", ShapeError, 7, "out of range"),
    ("E = z[-8]", ShapeError, 7, "out of range"),
    ("E = z[7:]", ShapeError, 7, "empty"),
    ("E = x[::0]", ShapeError, 9, "zero"),
    ("E = x[::n]", TensorSyntaxError, 9, "constant integer step"),
    ("E = x[1.5]", TensorSyntaxError, 7, "integer"),
    ("E = x[n:]", ShapeError, 7, "empty"),
    ("E = x[:n + 1]", ShapeError, 7, "beyond"),
    ("E = x[n]", ShapeError, 7, "out of range"),
    ("E = x[i]", TensorSyntaxError, 5, "index notation"),
    ("E = x[y]", TensorSyntaxError, 7, "advanced indexing"),
    ("E = X[0, 0, 0]", ShapeError, 5, "3 indices for a tensor of rank 2"),
    ("E = T[..., 0, ...]", TensorSyntaxError, 5, "more than one ..."),
    ("E = concatenate([X, y])", ShapeError, 5, "rank"),
    ("E = concatenate([X, x], axis=1)", ShapeError, 5, "rank"),
    ("E = concatenate([X, T[:, :, 0][:, 1:]], axis=0)", ShapeError, 5, "axis 1 differs"),
    ("E = concatenate([X, X], axis=2)", ShapeError, 30, "axis 2 is out of range"),
    ("E = concatenate([X, X], axis=None)", TensorSyntaxError, 5, "one axis"),
    ("E = concatenate(X)", TensorSyntaxError, 17, "list of tensors"),
    ("E = concatenate([sum(x), sum(y)])", ShapeError, 5, "zero-dimensional"),
    ("E = stack([x, y])", ShapeError, 5, "shape"),
    ("E = stack([x, x], axis=2)", ShapeError, 24, "out of range"),
    ("E = roll(X, 1)", ShapeError, 5, "flattens"),
    ("E = roll(x, 1.5)", TensorSyntaxError, 13, "integer shift"),
    ("E = roll(X, (1, 2), axis=0)", TensorSyntaxError, 5, "2 shifts for 1 axes"),
    ("E = flip(x, 1)", ShapeError, 13, "out of range"),
])
def test_bad_input_is_a_located_error(src, cls, col, words):
    with pytest.raises(cls) as info:
        tcnb.parse(DECL + src + "\n")
    err = info.value
    assert err.line == DECL.count("\n") + 1, str(err)
    assert err.col + 1 == col, str(err)
    assert words in str(err), str(err)


@pytest.mark.parametrize("src, n, words", [
    ("E = x[5]", 4, "reaches index 5 on an axis of size n = 4"),
    ("E = x[-5]", 4, "reaches index -1"),
    ("E = x[2:n-1]", 3, "n - 3"),
    ("E = x[:m]", 4, "reaches index 4 on an axis of size n = 4"),
    ("E = roll(x, 4)", 4, "n - 4"),
])
@pytest.mark.parametrize("what", ["value", "jacobian"])
def test_bounds_only_the_sizes_decide_are_binding_errors(src, n, words, what):
    p = tcnb.parse(DECL + src + "\n")
    e = p["E"] if what == "value" else tcnb.jacobian(p["E"], "x", mode="reverse")
    a = {"x": np.arange(float(n))} if "x" in e.variables else {"n": n}
    if ":m" in src:
        a["m"] = 5
    with pytest.raises(BindingError) as info:
        e.evaluate(**a)
    assert words in str(info.value), str(info.value)


def test_index_notation_maps_still_work():
    p = tcnb.parse("x: R[n]\nY[i:n - 1] = x[i + 1] - x[i + 0]\nD = x[1:] - x[:n - 1]\n")
    a = np.arange(5.0) ** 2
    assert_close(p["Y"].evaluate(x=a), np.diff(a), 1e-14)
    assert p["Y"].node is p["D"].node or np.allclose(p["D"].evaluate(x=a), np.diff(a))


# ------------------------------------------------------------------ hypothesis: random slice programs

@st.composite
def slice_programs(draw):
    """A chain of 1 to 3 operations on x: R[8] (integer size: NumPy's clipping applies), each a
    random slice, flip, roll or concatenation with a slice of the input, and its JAX twin."""
    size = 8
    src, fn = "x", (lambda xp, v: v)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["slice", "flip", "roll", "concat"]))
        if kind == "slice":
            while True:
                lo = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
                hi = draw(st.one_of(st.none(), st.integers(-size - 2, size + 2)))
                step = draw(st.sampled_from([1, 1, 2, 3, -1, -2]))
                if len(range(size)[slice(lo, hi, step)]) > 0:
                    break
            text = f"{'' if lo is None else lo}:{'' if hi is None else hi}:{step}"
            src = f"({src})[{text}]"
            fn = (lambda f, s: lambda xp, v: f(xp, v)[s])(fn, slice(lo, hi, step))
            size = len(range(size)[slice(lo, hi, step)])
        elif kind == "flip":
            src, fn = f"flip({src})", (lambda f: lambda xp, v: xp.flip(f(xp, v)))(fn)
        elif kind == "roll":
            s = draw(st.integers(-10, 10))
            src, fn = f"roll({src}, {s})", (lambda f, s: lambda xp, v: xp.roll(f(xp, v), s))(fn, s)
        else:
            k = draw(st.integers(1, 8))
            src = f"concatenate([{src}, x[:{k}]])"
            fn = (lambda f, k: lambda xp, v: xp.concatenate([f(xp, v), v[:k]]))(fn, k)
            size += k
    return src, fn


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prog=slice_programs(), mode=st.sampled_from(MODES), compress=st.booleans())
def test_random_slice_programs_match_jax(prog, mode, compress):
    src, fn = prog
    p = tcnb.parse(f"x: R[8]\nE = {src}\nL = sum(sin(E) * E)\n")
    x = np.random.default_rng(len(src)).normal(size=8)
    assert_close(p["E"].evaluate(x=x), fn(np, x), 1e-14, src)
    J = np.asarray(tcnb.jacobian(p["E"], "x", mode=mode, compress=compress).evaluate(x=x))
    assert_close(J, np.asarray(jax.jacobian(lambda v: fn(jnp, v))(jnp.asarray(x))), 1e-13, src)
    H = np.asarray(tcnb.hessian(p["L"], "x", mode=mode, compress=compress).evaluate(x=x))
    want = jax.hessian(lambda v: jnp.sum(jnp.sin(fn(jnp, v)) * fn(jnp, v)))(jnp.asarray(x))
    assert_close(H, np.asarray(want), 1e-12, src)


# ------------------------------------------------------------------ autograd's tests/test_numpy.py, ported

# (autograd test name, declarations, expression, reference, wrt); check_grads there is a numerical
# gradient check of the function's VJP, here the full Jacobian vs central differences and JAX.
AUTOGRAD = [
    ("test_flipud", "x: R[10, 11]", "flip(x, 0)", lambda xp, x: xp.flipud(x)),
    ("test_fliplr", "x: R[10, 11]", "flip(x, 1)", lambda xp, x: xp.fliplr(x)),
    ("test_rot90", "x: R[10, 11]", "flip(x, 1).T", lambda xp, x: xp.rot90(x)),
    ("test_index_ints", "x: R[5, 6, 4]", "x[3, 0, 1]", lambda xp, x: x[3, 0, 1]),
    ("test_index_slice", "x: R[5, 6, 4]", "x[::-1, 2:4, :]", lambda xp, x: x[::-1, 2:4, :]),
    ("test_vector_slice", "x: R[5]", "x[2:4]", lambda xp, x: x[2:4]),
    ("test_index_slice_fanout", "x: R[5, 6, 4]", "x[::-1, 2:4, :] + x[::-1, 3:5, :]",
     lambda xp, x: x[::-1, 2:4, :] + x[::-1, 3:5, :]),
    ("test_index_multiple_slices", "x: R[7]", "x[2:6][1:3]", lambda xp, x: x[2:6][1:3]),
    ("test_simple_concatenate", "x: R[4, 6, 4]\nA: R[5, 6, 4]", "concatenate((A, x))",
     lambda xp, x, A: xp.concatenate((A, x))),
    ("test_concatenate_axis_0", "x: R[5, 6, 4]\nB: R[5, 6, 4]", "concatenate((B, x, B))",
     lambda xp, x, B: xp.concatenate((B, x, B))),
    ("test_concatenate_axis_1", "x: R[5, 6, 4]\nB: R[5, 6, 4]", "concatenate((B, x, B), axis=1)",
     lambda xp, x, B: xp.concatenate((B, x, B), axis=1)),
    ("test_concatenate_axis_1_unnamed", "x: R[5, 6, 4]\nB: R[5, 6, 4]", "concatenate((B, x, B), 1)",
     lambda xp, x, B: xp.concatenate((B, x, B), 1)),
    ("test_roll", "x: R[4, 5]", "roll(x, 2, axis=1)", lambda xp, x: xp.roll(x, 2, axis=1)),
    ("test_index_dot_slices", "x: R[4]", "dot(x[:2], x[2:])", lambda xp, x: xp.dot(x[:2], x[2:])),
    ("test_split (np.split(x, 2)[0])", "x: R[10]", "x[:5]", lambda xp, x: xp.split(x, 2)[0]),
    ("test_cast_to_int (W[:, :-1])", "x: R[5, 10]", "sum(x[:, :-1])", lambda xp, x: x[:, :-1].sum()),
    ("test_array_from_arrays (np.array([x, x]))", "x: R[3, 2]", "stack([x, x])", lambda xp, x: xp.array([x, x])),
]
AUTOGRAD_REFUSED = [  # advanced (integer-array) indexing is not an affine index map
    ("test_index_lists", "x: R[5, 6, 4]", "x[[0, 1, 2], :, :]"),
    ("test_index_mixed", "x: R[5, 6, 4]", "x[3, 2:, [1, 3]]"),
    ("test_multi_index", "x: R[3]", "sum(x[[0, 0]])"),
]


@pytest.mark.parametrize("name, decl, src, fn", AUTOGRAD, ids=[a[0] for a in AUTOGRAD])
@pytest.mark.parametrize("mode", MODES)
def test_autograd_port(name, decl, src, fn, mode):
    p = tcnb.parse(decl + f"\nE = {src}\n")
    rng = np.random.default_rng(1)
    a = {v: rng.normal(size=tuple(int(d) for d in e.shape)) for v, e in p.variables.items()}
    others = [a[v] for v in p.variables if v != "x"]
    assert_close(p["E"].evaluate(**a), fn(np, a["x"], *others), 1e-14, name)
    J = np.asarray(tcnb.jacobian(p["E"], "x", mode=mode).evaluate(**a))
    assert_close(J, central_diff(lambda v: fn(np, v, *others), a["x"]), 1e-7, name)
    want = jax.jacobian(lambda v: fn(jnp, v, *map(jnp.asarray, others)))(jnp.asarray(a["x"]))
    assert_close(J, np.asarray(want), 1e-13, name)


@pytest.mark.parametrize("name, decl, src", AUTOGRAD_REFUSED, ids=[a[0] for a in AUTOGRAD_REFUSED])
def test_autograd_advanced_indexing_is_refused_clearly(name, decl, src):
    with pytest.raises(TcnbError) as info:
        tcnb.parse(decl + f"\nE = {src}\n")
    assert "slices" in str(info.value) and info.value.line == 2
