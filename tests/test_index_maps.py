"""Element-wise definitions with linear index maps (issue 7, Urban & van der Smagt 2017).

- The corpus (tests/corpus_index_maps.py: the issue's three examples and more — convolutions, strided,
  dilated, diagonals, anti-diagonals, reversal, broadcasts, shifts, a 2-D convolution, Toeplitz,
  diagonal sums, products of maps, maps in element-wise chains, maps feeding a scalar loss):
  value vs a NumPy reference written with explicit loops; the Jacobian w.r.t. every argument in
  forward, reverse and cross-country mode (compressed and not) vs jax.jacobian of a hand-written
  vectorised JAX version and vs central differences of the loop reference; Hessians of scalar losses
  built from the maps (a subset) vs jax.hessian and vs central differences of tcnb's gradient.
- Hypothesis generates random affine index maps as program text (random small integer coefficient
  matrices and offsets, with the target's size computed from the ranges so every access is valid) and
  checks the value and the Jacobian against a loop reference and finite differences.
- Malformed maps (non-integer coefficients, products of indices, indices whose range cannot be
  inferred, indices that appear nowhere, accesses the ranges prove out of bounds) raise a TcnbError
  naming the line and the index; accesses that only the sizes decide raise a BindingError when bound.
- Evaluation is vectorised: evaluating a map over tens of thousands of entries runs a bounded number
  of Python lines inside tcnb.
"""
from __future__ import annotations

import functools
import re
import sys

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import corpus_index_maps as cm  # also enables JAX x64
from corpus_index_maps import assert_close, central_diff, fd_of, resolve_shape, seed_for
import jax
import jax.numpy as jnp
import tcnb
from tcnb import BindingError, ShapeError, TcnbError, TensorSyntaxError

MODES = ("forward", "reverse", "cross-country")
RTOL_JAX = 1e-10
RTOL_FD = 1e-6
H_FD = 1e-6


# ------------------------------------------------------------------ helpers

@functools.lru_cache(maxsize=None)
def program(name: str):
    return tcnb.parse(cm.by_name(name).src)


@functools.lru_cache(maxsize=None)
def arrays_of(name: str) -> dict:
    c = cm.by_name(name)
    p = program(name)
    shapes = {v: resolve_shape(e.shape, c.sizes) for v, e in p.variables.items()}
    rng = np.random.default_rng(seed_for("index_maps", name))
    return {v: cm.random_array(c.kinds.get(v, "normal"), shape, rng) for v, shape in shapes.items()}


def eval_args(name: str) -> dict:
    return {**cm.by_name(name).sizes, **arrays_of(name)}


def ref_value(name: str, **override) -> np.ndarray:
    c = cm.by_name(name)
    return np.asarray(c.ref(c.sizes, **{**arrays_of(name), **override}), dtype=np.float64)


def jnp_args(name: str) -> dict:
    return {k: jnp.asarray(v) for k, v in arrays_of(name).items()}


@functools.lru_cache(maxsize=None)
def jax_oracle(name: str) -> dict:
    """Everything JAX computes for a case, in one jitted function (one XLA compilation per case):
    the value, jax.jacobian w.r.t. every argument and, for cases with a loss, jax.grad of the loss
    w.r.t. every argument and jax.hessian w.r.t. the Hessian subset."""
    c = cm.by_name(name)

    def oracle(arrs):
        def fix(fn, w):
            return lambda x: fn(c.sizes, **{**arrs, w: x})
        out = {"value": c.jax(c.sizes, **arrs),
               "jac": {w: jax.jacobian(fix(c.jax, w))(arrs[w]) for w in c.wrt}}
        if c.loss_jax is not None:
            out["loss"] = c.loss_jax(c.sizes, **arrs)
            out["grad"] = {w: jax.grad(fix(c.loss_jax, w))(arrs[w]) for w in c.wrt}
            out["hess"] = {w: jax.hessian(fix(c.loss_jax, w))(arrs[w]) for w in c.hess_wrt}
        return out
    res = jax.jit(oracle)(jnp_args(name))
    return jax.tree_util.tree_map(np.asarray, res)


def jax_jacobian(name: str, w: str) -> np.ndarray:
    return jax_oracle(name)["jac"][w]


@functools.lru_cache(maxsize=None)
def fd_jacobian(name: str, w: str) -> np.ndarray:
    return central_diff(lambda x: ref_value(name, **{w: x}), arrays_of(name)[w], H_FD)


def jax_hessian(name: str, w: str) -> np.ndarray:
    return jax_oracle(name)["hess"][w]


def concrete(shape, sizes) -> tuple:
    return resolve_shape(shape, sizes)


# ------------------------------------------------------------------ the corpus itself

def test_corpus_covers_the_issue():
    assert len(cm.CASES) >= 18, "the issue's three examples and at least 15 more"
    tags = set().union(*(c.tags for c in cm.CASES))
    required = {"issue", "convolution", "strided", "dilated", "diagonal", "antidiagonal", "reversal",
                "broadcast", "shift", "conv2d", "toeplitz", "trace", "product_of_maps", "chain",
                "scalar_loss", "summed_index", "dim_offset"}
    assert not required - tags, f"corpus lacks {sorted(required - tags)}"
    assert sum(1 for c in cm.CASES if "issue" in c.tags) == 3
    assert len(cm.HESSIAN_CASES) >= 8


@pytest.mark.parametrize("name", [c.name for c in cm.CASES])
def test_value_matches_loop_reference(name):
    c = cm.by_name(name)
    expr = program(name)[c.of]
    want = ref_value(name)
    got = np.asarray(expr.evaluate(**eval_args(name)))
    assert concrete(expr.shape, c.sizes) == want.shape
    assert_close(got, want, 1e-12, f"{name}: value vs loops")
    # the derivative oracle computes the same function
    assert_close(jax_oracle(name)["value"], want, 1e-12, f"{name}: JAX twin vs loops")


def _jac_params():
    out = []
    for c, w in cm.JACOBIAN_CASES:
        for mode in MODES:
            for compress in (True, False):
                out.append(pytest.param(c.name, w, mode, compress,
                                        id=f"{c.name}-{w}-{mode}-{'compressed' if compress else 'dense'}"))
    return out


@pytest.mark.parametrize("name,w,mode,compress", _jac_params())
def test_jacobian(name, w, mode, compress):
    c = cm.by_name(name)
    p = program(name)
    J = tcnb.jacobian(p[c.of], w, mode=mode, compress=compress)
    got = np.asarray(J.evaluate(**eval_args(name)))
    want_shape = concrete(p[c.of].shape, c.sizes) + concrete(p[w].shape, c.sizes)
    assert concrete(J.shape, c.sizes) == want_shape
    assert_close(got, jax_jacobian(name, w), RTOL_JAX, f"{name} d/d{w} ({mode}) vs jax.jacobian")
    assert_close(got, fd_jacobian(name, w), RTOL_FD, f"{name} d/d{w} ({mode}) vs finite differences")


@pytest.mark.parametrize("name,w", [pytest.param(c.name, w, id=f"{c.name}-{w}")
                                    for c in cm.CASES if c.loss for w in c.wrt])
def test_grad_of_scalar_loss(name, w):
    """grad of a scalar built from the map, reverse mode, vs JAX and vs the Jacobian of the map."""
    c = cm.by_name(name)
    p = program(name)
    L = p[c.loss]
    want_value = jax_oracle(name)["loss"]
    assert_close(np.asarray(L.evaluate(**eval_args(name))), want_value, 1e-12, f"{name}: loss value")
    g = np.asarray(tcnb.grad(L, w, mode="reverse").evaluate(**eval_args(name)))
    assert_close(g, jax_oracle(name)["grad"][w], RTOL_JAX, f"{name}: grad of {c.loss} w.r.t. {w} vs jax.grad")


@pytest.mark.parametrize("name,w,mode", [pytest.param(c.name, w, mode, id=f"{c.name}-{w}-{mode}")
                                         for c, w in cm.HESSIAN_CASES for mode in MODES])
def test_hessian_of_scalar_loss(name, w, mode):
    c = cm.by_name(name)
    p = program(name)
    L = p[c.loss]
    H = tcnb.hessian(L, w, mode=mode)
    got = np.asarray(H.evaluate(**eval_args(name)))
    assert_close(got, jax_hessian(name, w), 1e-9, f"{name} d2{c.loss}/d{w}2 ({mode}) vs jax.hessian")
    g = tcnb.grad(L, w, mode=mode)
    fd = fd_of(lambda **a: np.asarray(g.evaluate(**a)), eval_args(name), w, H_FD)
    assert_close(got, fd, RTOL_FD, f"{name} d2{c.loss}/d{w}2 ({mode}) vs finite differences of the grad")


# ------------------------------------------------------------------ results are ordinary expressions

@pytest.mark.parametrize("name", ["urban_exp_sum", "urban_diag_sq", "kjolstad", "conv2d", "toeplitz"])
def test_results_print_and_draw(name):
    """Definitions and their derivatives print in Einstein notation and LaTeX and draw as graphs."""
    c = cm.by_name(name)
    p = program(name)
    J = tcnb.jacobian(p[c.of], c.wrt[-1], mode="reverse")
    for e in (p[c.of], J):
        text = repr(e)
        assert isinstance(text, str) and text
        assert isinstance(e.einstein(), str) and e.einstein()
        latex = e.latex()
        assert isinstance(latex, str) and latex
        assert e.graph() is not None


def test_einstein_text_shows_the_map_and_its_ranges():
    text = program("urban_exp_sum")["Y"].einstein()
    assert re.search(r"\+", text), text       # the map i + j
    assert "m" in text and "n" in text, text  # with its ranges


def test_compound_dimensions_solved_from_the_arrays():
    """conv: k from w, m from z (R[m + p - 1]); Y = exp(x[i + j]) needs one size as a keyword."""
    a = arrays_of("conv1d")
    got = program("conv1d")["y"].evaluate(w=a["w"], z=a["z"])
    assert_close(got, ref_value("conv1d"), 1e-12, "conv1d without sizes")
    x = arrays_of("urban_exp_sum")["x"]
    got = program("urban_exp_sum")["Y"].evaluate(x=x, m=3)
    assert_close(got, ref_value("urban_exp_sum"), 1e-12, "exp(x[i + j]) with m given")
    s2 = np.arange(6.0)
    st_ = program("strided")["st"].evaluate(s2=s2)  # R[2*m]: m = 3
    assert_close(st_, s2[1::2] ** 3, 1e-12, "strided without sizes")


# ------------------------------------------------------------------ evaluation is vectorised

def _tcnb_lines(fn) -> int:
    """The number of Python lines executed inside the tcnb package while running fn()."""
    count = 0
    marker = "/tcnb/"

    def tracer(frame, event, arg):
        nonlocal count
        if marker not in frame.f_code.co_filename.replace("\\", "/"):
            return None
        if event == "line":
            count += 1
        return tracer

    old = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(old)
    return count


def test_evaluation_has_no_python_loop_over_entries():
    m = n = 200  # 40 000 entries of Y, 399 of x
    p = tcnb.parse("x: R[m + n - 1]\nY[i:m, j:n] = exp(x[i + j])\nL = sum(log(1 + Y))\n")
    x = 0.1 * np.random.default_rng(1).standard_normal(m + n - 1)
    g = tcnb.grad(p["L"], "x", mode="reverse")
    fY, fg = p["Y"].compile(), g.compile()
    fY(x=x, m=m, n=n)
    fg(x=x, m=m, n=n)  # compile and warm up outside the count
    lines = _tcnb_lines(lambda: (fY(x=x, m=m, n=n), fg(x=x, m=m, n=n)))
    assert lines < 2000, f"{lines} Python lines inside tcnb for {m * n} entries"
    # and the values are right
    i, j = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    Y = np.exp(x[i + j])
    assert_close(fY(x=x, m=m, n=n), Y, 1e-12, "large Y")
    want = np.zeros(m + n - 1)
    np.add.at(want, i + j, Y / (1 + Y))
    assert_close(fg(x=x, m=m, n=n), want, 1e-12, "large grad")


# ------------------------------------------------------------------ malformed maps

# (source, error class, line, words the message must contain, indices the message must name)
MALFORMED = [
    ("x: R[n]\nY[i:n] = x[0.5*i]", TensorSyntaxError, 2, ["integer"], ["i"]),
    ("x: R[n]\nY[i:n] = x[i + 0.5]", TensorSyntaxError, 2, ["integer"], []),
    ("x: R[n]\nY[i:n, j:n] = x[i*j]", TensorSyntaxError, 2, ["product"], ["i", "j"]),
    ("x: R[n]\nY[i:n] = x[i / 2]", TensorSyntaxError, 2, ["linear"], []),
    ("x: R[n]\nY[i:n] = x[i ** 2]", TensorSyntaxError, 2, ["linear"], []),
    # ranges that cannot be inferred
    ("x: R[n]\nY[i:n] = x[i + q]", TensorSyntaxError, 2, ["range", "inferred"], ["q"]),
    ("x: R[n]\nY[i] = x[i + 1]", TensorSyntaxError, 2, ["range"], ["i"]),
    ("x: R[n]\nw: R[p]\n\nz[i:n] = exp(x[i]) * w[k]\nu[i:n] = x[i + k] * 2", TensorSyntaxError, 5,
     ["range", "inferred"], ["k"]),
    # an index that appears nowhere on the right
    ("x: R[n]\nY[i, j] = x[i]", TensorSyntaxError, 2, ["range"], ["j"]),
    # accesses the ranges prove out of bounds (no zero padding)
    ("x: R[n]\nY[i:n] = x[i + 1]", ShapeError, 2, [], ["i"]),
    ("x: R[n]\nY[i:n] = x[i - 1]", ShapeError, 2, [], ["i"]),
    ("x: R[n]\nY[i:n] = x[n - i]", ShapeError, 2, [], ["i"]),
    ("X: R[n, n]\nY[i:n] = X[i, i + 1]", ShapeError, 2, [], ["i"]),
    ("t: R[2*n - 1]\nT[i:n, j:n] = t[i - j + n]", ShapeError, 2, [], ["i", "j"]),
    ("x: R[n]\nw: R[p]\ny[i:n] = x[i] * 2\nz[i:n] = w[k] * x[i + k + 1]", ShapeError, 4, [], ["i", "k"]),
    ("s2: R[2*m]\nst[i:m] = s2[2*i + 2]", ShapeError, 2, [], ["i"]),
    # a plain index whose range on the left is not its axis (a part of x is x[i + 0])
    ("x: R[n]\nY[i:m] = exp(x[i])", ShapeError, 2, ["range"], ["i"]),
    # sums are per term: k used once in the second term is summed by nothing
    ("w: R[p]\nz: R[m + p - 1]\ny[i:m] = w[k] * z[i + k] + z[i + k]", ShapeError, 3, ["term"], ["k"]),
]


@pytest.mark.parametrize("src,cls,line,words,indices", MALFORMED,
                         ids=[s.splitlines()[-1] for s, *_ in MALFORMED])
def test_malformed_map_is_a_located_error(src, cls, line, words, indices):
    with pytest.raises(TcnbError) as info:
        tcnb.parse(src)
    err = info.value
    assert isinstance(err, cls), f"{type(err).__name__}: {err}"
    assert err.line == line, f"line {err.line}, expected {line}: {err}"
    assert f"line {line}" in str(err)
    for w in words:
        assert w in err.message.lower(), f"{w!r} not in {err.message!r}"
    for idx in indices:
        assert re.search(rf"\b{idx}\b", err.message), f"index {idx!r} not named in {err.message!r}"


def test_each_term_of_a_map_definition_sums_its_own_index():
    """y[i:m] = w[k] * z[i + k] + v[j] * z[i + j]: k and j are summed in their own terms (before,
    both sums spanned the right side: each term was counted |j| or |k| times)."""
    p = tcnb.parse("w: R[p]\nv: R[q]\nz: R[m + p + q]\ny[i:m] = w[k] * z[i + k] + v[j] * z[i + j + 1] - z[i + 0]\n")
    rng = np.random.default_rng(7)
    w, v, z = rng.standard_normal(2), rng.standard_normal(3), rng.standard_normal(4 + 2 + 3)
    want = np.array([w @ z[i:i + 2] + v @ z[i + 1:i + 4] - z[i] for i in range(4)])
    assert_close(p["y"].evaluate(w=w, v=v, z=z, m=4), want, 1e-12, "value")
    for mode in MODES:
        J = tcnb.jacobian(p["y"], p["v"], mode=mode).evaluate(w=w, v=v, z=z, m=4)
        assert_close(J, np.array([z[i + 1:i + 4] for i in range(4)]), 1e-12, f"dy/dv ({mode})")


def test_out_of_range_decided_by_the_sizes_is_a_binding_error():
    """x[2*i] with x: R[n], i < n is in range only for n = 1: refused when bound, never padded."""
    p = tcnb.parse("x: R[n]\nY[i:n] = x[2*i]\nL = sum(Y * Y)\n")
    with pytest.raises(BindingError):
        p["Y"].evaluate(x=np.arange(3.0))
    for mode in MODES:
        with pytest.raises(BindingError):
            tcnb.jacobian(p["Y"], "x", mode=mode).evaluate(x=np.arange(3.0))
        with pytest.raises(BindingError):
            tcnb.grad(p["L"], "x", mode=mode).evaluate(x=np.arange(3.0))
    assert_close(p["Y"].evaluate(x=np.array([2.5])), np.array([2.5]), 1e-15, "n = 1")


# ------------------------------------------------------------------ random affine maps (hypothesis)

IDX = (("i", "m"), ("j", "n"))     # result indices and their dimension symbols
SUM = ("k", "p")                   # a summed index, its range from a plain use w[k]
FUNCS = [("sin({})", np.sin), ("tanh({})", np.tanh), ("({}) ** 2", np.square), ("{}", lambda t: t),
         ("exp({})", np.exp)]


def affine_text(coeffs, names, offset) -> str:
    """'2*i - j + (n - 1)' from coefficients, index names and a SymPy offset."""
    text = ""
    for a, idx in zip(coeffs, names):
        if a == 0:
            continue
        term = idx if abs(a) == 1 else f"{abs(a)}*{idx}"
        if not text:
            text = term if a > 0 else f"-{term}"
        else:
            text += f" + {term}" if a > 0 else f" - {term}"
    if not text:
        return str(offset)
    return f"{text} + ({offset})" if offset.free_symbols else f"{text} + {offset}"


@st.composite
def affine_map(draw, avail):
    """A random affine map of the indices ``avail`` into a tensor whose every access is valid.

    Axis q reads Σ_r A[q, r]·I_r + c_q; the declared size is 1 + Σ_r |A[q, r]|·(N_r - 1) + slack and
    c_q = Σ_{A[q, r] < 0} |A[q, r]|·(N_r - 1) + e with 0 ≤ e ≤ slack, so the accesses span exactly
    [e, e + Σ|A|(N - 1)]. Returns (subscript texts, declared sizes, A, c)."""
    rank = draw(st.integers(1, 2))
    texts, sizes, A, c = [], [], [], []
    for _ in range(rank):
        row = [draw(st.integers(-2, 2)) for _ in avail]
        e = draw(st.integers(0, 2))
        slack = e + draw(st.integers(0, 1))
        size = sympy.Integer(1 + slack)
        off = sympy.Integer(e)
        for a, (_, dim) in zip(row, avail):
            size += abs(a) * (sympy.Symbol(dim) - 1)
            if a < 0:
                off += abs(a) * (sympy.Symbol(dim) - 1)
        texts.append(affine_text(row, [i for i, _ in avail], off))
        sizes.append(sympy.expand(size))
        A.append(row)
        c.append(off)
    return texts, sizes, A, c


@st.composite
def affine_programs(draw):
    """y[i:m(, j:n)] = (w[k] *) F(x[map 1]) (* v[map 2]) with random affine maps."""
    result = list(IDX[:draw(st.integers(1, 2))])
    summed = draw(st.booleans())
    avail = result + ([SUM] if summed else [])
    sizes = {dim: draw(st.integers(1, 3)) for _, dim in avail}
    maps = {"x": draw(affine_map(avail))}
    if draw(st.booleans()):
        maps["v"] = draw(affine_map(avail))
    fn_text, fn = draw(st.sampled_from(FUNCS))
    lines = [f"{name}: R[{', '.join(str(d) for d in m[1])}]" for name, m in maps.items()]
    rhs = fn_text.format(f"x[{', '.join(maps['x'][0])}]")
    if "v" in maps:
        rhs = f"{rhs} * v[{', '.join(maps['v'][0])}]"
    if summed:
        lines.append("w: R[p]")
        rhs = f"w[k] * {rhs}"
    lines.append(f"y[{', '.join(f'{i}:{d}' for i, d in result)}] = {rhs}")
    return {"src": "\n".join(lines) + "\n", "sizes": sizes, "result": result, "avail": avail,
            "summed": summed, "maps": maps, "fn": fn}


def _reference(info, arrays):
    """y by loops over the entries, evaluating the maps from their coefficients."""
    sizes, avail = info["sizes"], info["avail"]
    subs = {sympy.Symbol(k): v for k, v in sizes.items()}

    def target(name, env):
        _, _, A, c = info["maps"][name]
        return tuple(int(cq.subs(subs)) + sum(a * env[idx] for a, (idx, _) in zip(row, avail))
                     for row, cq in zip(A, c))

    def entry(*I):
        env = {idx: v for (idx, _), v in zip(info["result"], I)}
        total = 0.0
        for kv in (range(sizes["p"]) if info["summed"] else [None]):
            env["k"] = kv
            t = info["fn"](arrays["x"][target("x", env)])
            if "v" in info["maps"]:
                t = t * arrays["v"][target("v", env)]
            total += arrays["w"][kv] * t if info["summed"] else t
        return total
    return cm.loop(tuple(sizes[d] for _, d in info["result"]), entry)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(info=affine_programs(), mode=st.sampled_from(MODES), compress=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_affine_maps_jacobian_matches_finite_differences(info, mode, compress, seed):
    src, sizes = info["src"], info["sizes"]
    p = tcnb.parse(src)
    rng = np.random.default_rng(seed)
    arrays = {name: 0.5 * rng.standard_normal(resolve_shape(e.shape, sizes))
              for name, e in p.variables.items()}
    y = p["y"]
    assert_close(np.asarray(y.evaluate(**arrays, **sizes)), _reference(info, arrays), 1e-12,
                    f"value of\n{src}")
    for var in arrays:
        J = np.asarray(tcnb.jacobian(y, var, mode=mode, compress=compress).evaluate(**arrays, **sizes))
        fd = central_diff(lambda v, var=var: _reference(info, {**arrays, var: v}), arrays[var], H_FD)
        assert_close(J, fd, RTOL_FD, f"d y / d {var} ({mode}, compress={compress}) of\n{src}")
