"""What programs mean: einsum letters are local, index notation sums term by term (the Einstein
convention), and broadcasting follows NumPy for new axes and size-1 axes wherever they go.

Every case is checked by value against NumPy written out by hand, and by a gradient in each mode
(``forward``, ``reverse``, ``cross-country``) against a hand-derived formula: the loss is
``L = sum(W * Y)`` with a random weight W, so dL/dY = W.
"""
from __future__ import annotations

import ast
import itertools
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tcnb
from tcnb import ShapeError, TensorSyntaxError

from conftest import assert_matches, random_inputs
from helpers_calculus import central_diff
from tcnb.terms import plan_sums

MODES = ("forward", "reverse", "cross-country")
SIZES = {"m": 3, "n": 4, "p": 2, "q": 5}


def _arrays(prog, rng, positive=()):
    return random_inputs(prog, SIZES, rng, positive=positive)


def check(src, want, grads, rng, name="Y", positive=()):
    """``name`` of ``src`` equals ``want(a)``; d sum(W * name) / d v equals ``grads[v](a, W)`` in every mode."""
    prog = tcnb.parse(src)
    a = _arrays(prog, rng, positive)
    y = prog[name]
    value = want(a)
    assert_matches(y.evaluate(**a), value)
    W = rng.standard_normal(np.shape(value))
    loss = tcnb.parse(src + f"\nW__: R[{', '.join(map(str, y.shape))}]\nL__ = sum(W__ * {name})\n")
    for v, ref in grads.items():
        want_g = ref(a, W)
        for mode in MODES:
            assert_matches(tcnb.grad(loss["L__"], loss[v], mode=mode).evaluate(**a, W__=W), want_g)


# =============================================================== 3. einsum letters are local

def test_einsum_results_compose_under_matmul(rng):
    """einsum("ab->ab", A) @ einsum("ab->ab", B) was A *(ij,jj->ij) B: both used the letters a, b."""
    check("A: R[m, n]\nB: R[n, q]\nY = einsum(\"ab->ab\", A) @ einsum(\"ab->ab\", B)",
          lambda a: a["A"] @ a["B"],
          {"A": lambda a, W: W @ a["B"].T, "B": lambda a, W: a["A"].T @ W}, rng)


def test_einsum_summed_letter_does_not_capture_a_later_output(rng):
    """(A @ x) written with j summed, then @ a matrix whose einsum also calls an axis j."""
    check('A: R[m, n]\nx: R[n]\nB: R[m, q]\nY = einsum("ij,j->i", A, x) @ einsum("kj->kj", B)',
          lambda a: (a["A"] @ a["x"]) @ a["B"],
          {"x": lambda a, W: a["A"].T @ (a["B"] @ W), "B": lambda a, W: np.outer(a["A"] @ a["x"], W)}, rng)


def test_einsum_inside_einsum_and_products(rng):
    check('A: R[m, n]\nB: R[n, m]\nC: R[m, m]\n'
          'Y = einsum("ij,jk->ik", einsum("ij->ij", A), einsum("jk->jk", B)) * einsum("ij->ji", C)',
          lambda a: (a["A"] @ a["B"]) * a["C"].T,
          {"C": lambda a, W: (W * (a["A"] @ a["B"])).T, "A": lambda a, W: (W * a["C"].T) @ a["B"].T}, rng)


def test_einsum_implicit_output_sorts_letters_as_numpy(rng):
    prog = tcnb.parse('A: R[m, n]\nY = einsum("bA", A)\nZ = einsum("Ab", A)\n')
    a = _arrays(prog, rng)
    assert_matches(prog["Y"].evaluate(**a), np.einsum("bA", a["A"]))
    assert_matches(prog["Z"].evaluate(**a), np.einsum("Ab", a["A"]))


# =============================================================== 4. Einstein convention per term

DECL = "A: R[m, n]\nB: R[n, q]\nC: R[m, q]\nx: R[n]\ny: R[n]\nz: R[m]\nu: R[m]\n"


def test_issue_example_sums_within_the_product_term(rng):
    """Y[i, j] = A[i, k] * B[k, j] + C[i, j] was A @ B + |k|·C."""
    check(DECL + "Y[i, j] = A[i, k] * B[k, j] + C[i, j]",
          lambda a: a["A"] @ a["B"] + a["C"],
          {"A": lambda a, W: W @ a["B"].T, "C": lambda a, W: W, "B": lambda a, W: a["A"].T @ W}, rng)


def test_each_term_sums_its_own_index_even_with_one_name(rng):
    """k is a different index in each term (with a different range)."""
    check("A: R[m, n]\nx: R[n]\nP: R[m, p]\nv: R[p]\nz: R[m]\nY[i] = A[i, k] * x[k] + P[i, k] * v[k] - z[i]",
          lambda a: a["A"] @ a["x"] + a["P"] @ a["v"] - a["z"],
          {"x": lambda a, W: a["A"].T @ W, "v": lambda a, W: a["P"].T @ W, "z": lambda a, W: -W}, rng)


def test_product_of_a_sum_sums_over_the_whole_product(rng):
    check("A: R[m, n]\nB: R[n, q]\nD: R[n, q]\nY[i, j] = A[i, k] * (B[k, j] + D[k, j])",
          lambda a: a["A"] @ (a["B"] + a["D"]),
          {"A": lambda a, W: W @ (a["B"] + a["D"]).T, "D": lambda a, W: a["A"].T @ W}, rng)


def test_a_sum_inside_a_factor_keeps_a_product_to_itself(rng):
    """x[i] * (A[i, k] * y[k] + z[i]): k is summed in A*y, not over the whole term (no |k|·z)."""
    check(DECL + "Y[i] = z[i] * (A[i, k] * y[k] + u[i])",
          lambda a: a["z"] * (a["A"] @ a["y"] + a["u"]),
          {"y": lambda a, W: a["A"].T @ (W * a["z"]), "u": lambda a, W: W * a["z"],
           "z": lambda a, W: W * (a["A"] @ a["y"] + a["u"])}, rng)


def test_function_of_a_product_sums_inside_the_function(rng):
    """exp(A[i, k] * B[k, j]) is exp(A @ B): k is repeated within the product inside exp."""
    check(DECL + "Y[i, j] = tanh(A[i, k] * B[k, j])",
          lambda a: np.tanh(a["A"] @ a["B"]),
          {"A": lambda a, W: (W * (1 - np.tanh(a["A"] @ a["B"]) ** 2)) @ a["B"].T}, rng)


def test_function_of_one_access_keeps_its_indices(rng):
    """exp(A[i, k]) has the indices i, k; k is used once and the right side is one term: summed."""
    check(DECL + "Y[i] = exp(A[i, k])", lambda a: np.exp(a["A"]).sum(axis=1),
          {"A": lambda a, W: W[:, None] * np.exp(a["A"])}, rng)


def test_index_shared_by_a_function_and_a_factor(rng):
    check(DECL + "Y[i] = exp(y[k]) * A[i, k] + z[i]", lambda a: a["A"] @ np.exp(a["y"]) + a["z"],
          {"y": lambda a, W: (a["A"].T @ W) * np.exp(a["y"]), "A": lambda a, W: np.outer(W, np.exp(a["y"]))}, rng)


def test_product_in_a_divisor_sums_in_the_divisor(rng):
    check(DECL + "Y[i] = z[i] / (x[k] * y[k])", lambda a: a["z"] / (a["x"] @ a["y"]),
          {"x": lambda a, W: -(W @ a["z"]) / (a["x"] @ a["y"]) ** 2 * a["y"],
           "z": lambda a, W: W / (a["x"] @ a["y"])}, rng)


def test_scalar_term_broadcasts_and_is_counted_once(rng):
    """x[i] + y[k] * z[k] was Σ_k (x_i + y_k z_k) = n·x + y·z."""
    check(DECL + "Y[j] = x[j] + x[k] * y[k] + 2", lambda a: a["x"] + a["x"] @ a["y"] + 2,
          {"x": lambda a, W: W + W.sum() * a["y"], "y": lambda a, W: W.sum() * a["x"]}, rng)


def test_repeated_index_in_one_access_is_a_trace_in_its_term(rng):
    check("S: R[n, n]\nx: R[n]\nY[j] = S[i, i] * x[j] + x[j]", lambda a: (np.trace(a["S"]) + 1) * a["x"],
          {"S": lambda a, W: (W @ a["x"]) * np.eye(4), "x": lambda a, W: W * (np.trace(a["S"]) + 1)}, rng)


def test_row_norms_from_a_contraction_under_sqrt(rng):
    check("X: R[m, n]\nN[i] = sqrt(X[i, k] * X[i, k])", lambda a: np.linalg.norm(a["X"], axis=1),
          {"X": lambda a, W: (W / np.linalg.norm(a["X"], axis=1))[:, None] * a["X"]}, rng, name="N")


def test_index_map_term_plus_bias(rng):
    """conv[i:m] = w[p] * z[i + p] + b[i]: p summed in the first term only (was conv + |p|·b)."""
    def conv(a):
        w, z = a["w"], a["z"]
        return np.array([sum(w[p] * z[i + p] for p in range(len(w))) for i in range(3)])
    check("w: R[p]\nz: R[m + p - 1]\nb: R[m]\nY[i:m] = w[k] * z[i + k] + b[i]",
          lambda a: conv(a) + a["b"],
          {"b": lambda a, W: W, "w": lambda a, W: np.array([W @ a["z"][k:k + 3] for k in range(2)])}, rng)


def test_ranges_on_the_left_broadcast_terms():
    prog = tcnb.parse("x: R[m]\nv: R[n]\nY[i:m, j:n] = x[i] + v[j] + 1\n")
    x, v = np.arange(3.0), np.arange(4.0) * 10
    assert_matches(prog["Y"].evaluate(x=x, v=v), x[:, None] + v[None, :] + 1)


@pytest.mark.parametrize("src,term,index", [
    ("Y[i, j] = A[i, k] * B[k, j] + C[i, k]", "C[i, k]", "k"),
    ("Y[i] = A[i, k] + z[i]", "A[i, k]", "k"),
    ("Y[i, j] = z[i] + C[i, j]", "z[i]", "j"),
    ("Y[i] = -(z[i] + x[k])", "x[k]", "k"),
    ("Y[i, j] = A[i, k] * B[k, j] - exp(C[i, p])", "exp(C[i, p])", "p"),
])
def test_a_term_whose_free_indices_differ_from_the_left_is_a_shape_error(src, term, index):
    with pytest.raises(ShapeError) as info:
        tcnb.parse(DECL + src)
    err = info.value
    assert term in err.message and f"'{index}'" in err.message, err.message
    assert err.line == DECL.count("\n") + 1 and err.col == src.index(term) and err.expected


# =============================================================== 5./6. broadcasting

def test_new_axis_through_division(rng):
    check("X: R[m, n]\nv: R[m]\nY = X / v[:, None]", lambda a: a["X"] / a["v"][:, None],
          {"v": lambda a, W: -(W * a["X"]).sum(axis=1) / a["v"] ** 2, "X": lambda a, W: W / a["v"][:, None]},
          rng, positive=("v",))


def test_new_axis_through_a_function(rng):
    check("X: R[m, n]\nv: R[m]\nY = X * exp(v[:, None])", lambda a: a["X"] * np.exp(a["v"])[:, None],
          {"v": lambda a, W: (W * a["X"]).sum(axis=1) * np.exp(a["v"])}, rng)


def test_new_axis_through_a_power(rng):
    check("X: R[m, n]\nv: R[m]\nY = X ** v[:, None]", lambda a: a["X"] ** a["v"][:, None],
          {"v": lambda a, W: (W * a["X"] ** a["v"][:, None] * np.log(a["X"])).sum(axis=1)},
          rng, positive=("X",))


def test_softmax_from_primitives(rng):
    def softmax(x):
        e = np.exp(x)
        return e / e.sum(axis=1, keepdims=True)
    check("X: R[m, n]\nE = exp(X)\nY = E / sum(E, axis=1)[:, None]", lambda a: softmax(a["X"]),
          {"X": lambda a, W: softmax(a["X"]) * (W - (W * softmax(a["X"])).sum(axis=1, keepdims=True))}, rng)


def test_layer_norm_from_primitives(rng):
    eps = 1e-5

    def norm(x):
        d = x - x.mean(axis=1, keepdims=True)
        return d / np.sqrt((d ** 2).mean(axis=1, keepdims=True) + eps)

    def grad(a, W):
        x = a["X"]
        y = norm(x)
        s = np.sqrt(((x - x.mean(axis=1, keepdims=True)) ** 2).mean(axis=1, keepdims=True) + eps)
        return (W - W.mean(axis=1, keepdims=True) - y * (W * y).mean(axis=1, keepdims=True)) / s
    check("X: R[m, n]\nmu = mean(X, axis=1)\nD = X - mu[:, None]\n"
          "Y = D / sqrt(mean(D ** 2, axis=1) + 1e-5)[:, None]", lambda a: norm(a["X"]),
          {"X": grad}, rng)


@pytest.mark.parametrize("op", ["+", "-", "*"])
def test_declared_size_one_axis_broadcasts(op, rng):
    f = {"+": np.add, "-": np.subtract, "*": np.multiply}[op]
    dB = {"+": lambda a, W: W.sum(axis=0, keepdims=True), "-": lambda a, W: -W.sum(axis=0, keepdims=True),
          "*": lambda a, W: (W * a["A"]).sum(axis=0, keepdims=True)}[op]
    check(f"A: R[3, n]\nB: R[1, n]\nY = A {op} B", lambda a: f(a["A"], a["B"]), {"B": dB}, rng)


def test_size_one_axes_on_both_sides_make_an_outer_shape(rng):
    check("a: R[m, 1]\nb: R[1, n]\nY = a * b + a", lambda a: a["a"] * a["b"] + a["a"],
          {"a": lambda a, W: (W * (a["b"] + 1)).sum(axis=1, keepdims=True),
           "b": lambda a, W: (W * a["a"]).sum(axis=0, keepdims=True)}, rng)


def test_batch_of_one_in_matmul(rng):
    check("A: R[1, m, p]\nB: R[q, p, n]\nY = A @ B", lambda a: a["A"] @ a["B"],
          {"A": lambda a, W: (W @ np.swapaxes(a["B"], 1, 2)).sum(axis=0, keepdims=True),
           "B": lambda a, W: np.swapaxes(a["A"], 1, 2) @ W}, rng)


def test_size_one_axis_in_einsum(rng):
    check('A: R[m, n]\nb: R[1, n]\nY = einsum("ij,ij->ij", A, b)', lambda a: a["A"] * a["b"],
          {"b": lambda a, W: (W * a["A"]).sum(axis=0, keepdims=True)}, rng)


def test_other_sizes_still_refuse_to_broadcast():
    for src in ("A: R[3, n]\nB: R[2, n]\nY = A + B", "A: R[2, m, p]\nB: R[3, p, n]\nY = A @ B",
                "X: R[m, n]\nv: R[n]\nY = X / v[:, None]"):
        with pytest.raises(ShapeError):
            tcnb.parse(src)


# =============================================================== 12. refused inputs

@pytest.mark.parametrize("src,cls,col,words", [
    ("X: R[m, n]\ny[i, j] = X.T[i, j]", TensorSyntaxError, 10, ["named tensor"]),
    ("X: R[m, n]\nw: R[n]\ny[i] = (X @ w)[i]", TensorSyntaxError, 8, ["named tensor"]),
    ("X: R[n, n]\ny[i, j] = eye(n)[i, j] + X[i, j]", TensorSyntaxError, 10, ["named tensor"]),
    ('A: R[m, n]\nY = einsum("αβ->βα", A)', TensorSyntaxError, 11, ["αβ"]),
    ('A: R[m, n]\nY = einsum("ié->éi", A)', TensorSyntaxError, 11, ["ié"]),
    ("x: R[n]\nY[i:m] = x[i]", ShapeError, 11, ["'i'", "m", "n"]),
    ("X: R[m, n]\nY[i, j:p] = X[i, j]", ShapeError, 17, ["'j'", "p", "n"]),
    ("X: R[m, n]\nY[i] = norm2(X[i, k])", TensorSyntaxError, 7, ["norm2"]),
    ("x: R[n]\nY[i] = x[i] + ones(n)", TensorSyntaxError, 14, ["ones"]),
])
def test_refused_inputs(src, cls, col, words):
    with pytest.raises(cls) as info:
        tcnb.parse(src)
    err = info.value
    assert err.line == src.count("\n") + 1 and err.col == col and err.expected, str(err)
    for w in words:
        assert w in err.message, err.message


def test_a_part_of_an_axis_is_an_explicit_index_map():
    """Y[i:m] = x[i] with x: R[n] is refused; x[i + 0] says 'the first m entries' and is checked."""
    prog = tcnb.parse("x: R[n]\nY[i:m] = x[i + 0]\n")
    assert_matches(prog["Y"].evaluate(x=np.arange(5.0), m=3), np.arange(3.0))
    with pytest.raises(tcnb.BindingError):
        prog["Y"].evaluate(x=np.arange(2.0), m=3)


# =============================================================== hypothesis: sums of products

LHS = ("i", "j")
EXTRA = ("k", "l")
DIM = {"i": "m", "j": "n", "k": "p", "l": "q"}
FUNCS = [("{}", lambda v: v), ("tanh({})", np.tanh), ("sin({})", np.sin)]


@st.composite
def index_sums(draw):
    """Y[i, j] = t1 + t2 + ...: each term a product of indexed factors that uses i and j (or no
    index at all) and repeats every other index, optionally under a function."""
    tensors, terms = {}, []
    for t in range(draw(st.integers(1, 3))):
        if t and draw(st.integers(0, 5)) == 0:  # a scalar term (not the only one)
            terms.append(("c", "c", lambda env: env["c"]))
            continue
        extra = list(EXTRA[:draw(st.integers(0, 2))])
        need = list(LHS) + extra * 2
        factors = []
        while need or not factors:
            rank = draw(st.integers(1, 2))
            labs = []
            for _ in range(rank):
                pool = need or list(LHS) + extra
                lab = draw(st.sampled_from(pool))
                if lab in labs:
                    continue
                labs.append(lab)
                if lab in need:
                    need.remove(lab)
            name = f"T{len(tensors)}"
            tensors[name] = labs
            factors.append((name, labs))
        for lab in extra:  # a repeated index must sit in two factors: add a second use if needed
            if sum(lab in f[1] for f in factors) < 2:
                name = f"T{len(tensors)}"
                tensors[name] = [lab]
                factors.append((name, [lab]))
        ftext, fn = draw(st.sampled_from(FUNCS))
        coef = draw(st.sampled_from([1.0, -2.0, 0.5]))
        text = ftext.format(" * ".join(f"{n}[{', '.join(l)}]" for n, l in factors))
        spec = ",".join("".join(l) for _, l in factors) + "->ij"

        def value(env, factors=factors, spec=spec, fn=fn, coef=coef):
            return coef * fn(np.einsum(spec, *[env[n] for n, _ in factors]))
        terms.append((f"{coef!r} * {text}", text, value))
    decls = [f"{n}: R[{', '.join(DIM[l] for l in labs)}]" for n, labs in tensors.items()] + ["c: R"]
    src = "\n".join(decls) + "\nY[i, j] = " + " + ".join(t for t, _, _ in terms) + "\n"
    sizes = {"m": draw(st.integers(1, 3)), "n": draw(st.integers(1, 3)), "p": draw(st.integers(1, 3)),
             "q": draw(st.integers(2, 3))}
    return src, sizes, tensors, terms


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=index_sums(), mode=st.sampled_from(MODES), seed=st.integers(0, 2**16))
def test_random_index_sums_match_einsum_term_by_term(case, mode, seed):
    src, sizes, tensors, terms = case
    rng = np.random.default_rng(seed)
    env = {n: rng.standard_normal(tuple(sizes[DIM[l]] for l in labs)) for n, labs in tensors.items()}
    env["c"] = np.asarray(rng.standard_normal())
    prog = tcnb.parse(src)

    def reference(e):
        shape = (sizes["m"], sizes["n"])
        return sum(np.broadcast_to(v(e), shape) for _, _, v in terms)
    used = {n: env[n] for n in prog["Y"].variables}
    assert_matches(prog["Y"].evaluate(**used), reference(env))
    var = sorted(tensors)[seed % len(tensors)]
    J = tcnb.jacobian(prog["Y"], prog[var], mode=mode).evaluate(**used)
    fd = central_diff(lambda v: reference({**env, var: v}), env[var], 1e-6)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7, err_msg=f"d Y / d {var} ({mode}) of\n{src}")


# =============================================================== hypothesis: broadcasting

BASE = ("m", "n")  # result axes; operands use each, 1, or a new axis
UNARY = [("exp({})", np.exp), ("tanh({})", np.tanh), ("sigmoid({})", lambda v: 1 / (1 + np.exp(-v))),
         ("({}) ** 2", np.square)]


@st.composite
def broadcast_programs(draw):
    """A few operands shaped (m|1, n|1) or built with [:, None] / [None, :], combined with
    + - * / and element-wise functions; NumPy's broadcasting is the reference."""
    decls, exprs = [], []
    for k in range(draw(st.integers(2, 4))):
        how = draw(st.sampled_from(["full", "one_row", "one_col", "new_col", "new_row", "vector_n"]))
        name = f"a{k}"
        shape, text, ref = {
            "full": ("m, n", name, lambda e, name=name: e[name]),
            "one_row": ("1, n", name, lambda e, name=name: e[name]),
            "one_col": ("m, 1", name, lambda e, name=name: e[name]),
            "new_col": ("m", f"{name}[:, None]", lambda e, name=name: e[name][:, None]),
            "new_row": ("n", f"{name}[None, :]", lambda e, name=name: e[name][None, :]),
            "vector_n": ("n", name, lambda e, name=name: e[name]),
        }[how]
        decls.append(f"{name}: R[{shape}]")
        if draw(st.booleans()):
            ftext, fn = draw(st.sampled_from(UNARY))
            text, ref = ftext.format(text), (lambda e, ref=ref, fn=fn: fn(ref(e)))
        exprs.append((text, ref))
    text, ref = exprs[0]
    for t2, r2 in exprs[1:]:
        op = draw(st.sampled_from(["+", "-", "*", "/"]))
        f = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": lambda a, b: a / (1.5 + np.tanh(b))}[op]
        t2 = f"(1.5 + tanh({t2}))" if op == "/" else t2
        text, ref = f"({text}) {op} {t2}", (lambda e, ref=ref, r2=r2, f=f: f(ref(e), r2(e)))
    return "\n".join(decls) + f"\nY = {text}\n", ref


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=broadcast_programs(), mode=st.sampled_from(MODES), seed=st.integers(0, 2**16))
def test_random_broadcasting_matches_numpy(case, mode, seed):
    src, ref = case
    rng = np.random.default_rng(seed)
    prog = tcnb.parse(src)
    sizes = {"m": 3, "n": 2}
    env = {n: rng.standard_normal(tuple(1 if str(d) == "1" else sizes[str(d)] for d in e.shape))
           for n, e in prog.variables.items()}
    assert_matches(prog["Y"].evaluate(**env), ref(env))
    var = sorted(env)[seed % len(env)]
    J = tcnb.jacobian(prog["Y"], prog[var], mode=mode).evaluate(**env)
    fd = central_diff(lambda v: ref({**env, var: v}), env[var], 1e-6)
    np.testing.assert_allclose(J, fd, rtol=1e-6, atol=1e-7, err_msg=f"d Y / d {var} ({mode}) of\n{src}")


def test_compiled_cache_tells_programs_apart_by_their_variables_shapes():
    """d(a0 + a1)/d a0 is δ in both programs; the compiled function must bind a1 by its own shape
    (the cache keyed the program's variables by name only: a BindingError, or sizes from a stale shape)."""
    for decl, shape in (("a1: R[m, 1]", (3, 1)), ("a1: R[1, n]", (1, 2)), ("a1: R[m, n]", (3, 2))):
        prog = tcnb.parse(f"a0: R[m, n]\n{decl}\nY = a0 + a1\n")
        J = tcnb.jacobian(prog["Y"], prog["a0"], mode="forward")
        got = J.evaluate(a0=np.ones((3, 2)), a1=np.ones(shape))
        assert_matches(got, np.einsum("ik,jl->ijkl", np.eye(3), np.eye(2)))


def test_latex_shows_sums_per_term_and_size_one_axes_as_their_entry():
    prog = tcnb.parse(DECL + "Y[i, j] = A[i, k] * B[k, j] + C[i, j]\nP: R[1, q]\nZ = C + P\n")
    terms = prog["Y"].latex().removeprefix("Y_{ij} = ").split(" + ")  # (term order is the DAG's)
    assert sorted(terms) == sorted([r"C_{ij}", r"\sum_{k} A_{ik} B_{kj}"]), terms
    assert prog["Z"].latex() == r"Z_{ij} = C_{ij} + P_{0j}"  # not a sum over an axis of size 1


# =============================================================== hypothesis: nested right sides

NEST_DIMS = {"i": 2, "j": 3, "k": 2, "l": 3}
NEST_FUN = {"exp": np.exp, "tanh": np.tanh, "sin": np.sin}


def _nested(r: random.Random, depth: int, tensors: dict) -> str:
    """A random right side: products, sums, differences, divisions and functions of accesses."""
    c = r.random()
    if depth <= 0 or c < 0.3:
        if r.random() < 0.1:
            return repr(round(r.uniform(0.5, 2), 2))
        labs = r.sample("ijkl", r.randint(1, 2))
        labs = [labs[0], labs[0]] if r.random() < 0.1 else labs
        name = f"T{len(tensors)}"
        tensors[name] = labs
        return f"{name}[{', '.join(labs)}]"
    a, b = _nested(r, depth - 1, tensors), _nested(r, depth - 1, tensors)
    if c < 0.55:
        return f"{a} * {b}"
    if c < 0.7:
        return f"({a} + {b})"
    if c < 0.8:
        return f"{a} / (2.5 + tanh({b}))"
    if c < 0.9:
        return f"{r.choice(list(NEST_FUN))}({a})"
    return f"({a} - {b})"


def _loops(rhs, lhs, arrays, summed_at):
    """Y by loops over every index: each node sums the indices the plan gives it; a one-term right
    side sums its leftover indices over everything."""
    def ev(n, env):
        here = sorted(summed_at.get(id(n), ()))
        return sum(plain(n, {**env, **dict(zip(here, v))})
                   for v in itertools.product(*[range(NEST_DIMS[d]) for d in here]))

    def plain(n, env):
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Subscript):
            elts = n.slice.elts if isinstance(n.slice, ast.Tuple) else [n.slice]
            return arrays[n.value.id][tuple(env[x.id] for x in elts)]
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left, env), ev(n.right, env)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.Div: a / b if b else np.nan}[type(n.op)]
        if isinstance(n, ast.UnaryOp):
            return -ev(n.operand, env)
        return NEST_FUN[n.func.id](ev(n.args[0], env))
    used = {x.id for x in ast.walk(rhs) if isinstance(x, ast.Name) and len(x.id) == 1}
    one_term = not (isinstance(rhs, ast.BinOp) and isinstance(rhs.op, (ast.Add, ast.Sub)))
    bound = set().union(*summed_at.values()) if summed_at else set()
    left = sorted(used - set(lhs) - bound) if one_term else []
    out = np.zeros(tuple(NEST_DIMS[x] for x in lhs))
    for idx in itertools.product(*[range(NEST_DIMS[x]) for x in lhs]):
        env = dict(zip(lhs, idx))
        out[idx] = sum(ev(rhs, {**env, **dict(zip(left, v))})
                       for v in itertools.product(*[range(NEST_DIMS[d]) for d in left]))
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_nested_right_sides_match_a_loop_interpreter(seed):
    """Whatever the parser accepts evaluates like loops that sum where terms.plan_sums says (the
    plan itself is pinned down by the tests above); whatever it refuses is a TcnbError."""
    r = random.Random(seed)
    tensors: dict = {}
    rhs_text = _nested(r, 3, tensors)
    lhs = sorted(set(r.sample("ijkl", r.randint(1, 2))))
    sym = {"i": "m", "j": "n", "k": "p", "l": "q"}
    src = "\n".join(f"{t}: R[{', '.join(sym[x] for x in labs)}]" for t, labs in tensors.items())
    src += f"\nY[{', '.join(lhs)}] = {rhs_text}\n"
    try:
        prog = tcnb.parse(src)
    except tcnb.TcnbError:
        return
    rng = np.random.default_rng(seed % 2**16)
    arrays = {t: rng.standard_normal(tuple(NEST_DIMS[x] for x in labs)) for t, labs in tensors.items()}
    rhs = ast.parse(src).body[-1].value
    summed_at = plan_sums(rhs, lhs, set(), lambda name: True, src, lambda *a: None)
    got = prog["Y"].evaluate(**{k: v for k, v in arrays.items() if k in prog["Y"].variables})
    np.testing.assert_allclose(got, _loops(rhs, lhs, arrays, summed_at), rtol=1e-10, atol=1e-10, err_msg=src)
