"""Every language construct and every function evaluates equal to an independent NumPy reference.

Each case is one definition ``r = ...`` (or an index-notation / multi-line definition of ``r``) over a
fixed set of declared variables, and a reference written directly in NumPy. Each case runs in
float64 (rtol 1e-12) and float32 (the result stays float32; looser tolerance), through
``evaluate``, ``compile`` and the code ``to_source`` prints.
"""
from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

import tcnb
from tcnb.backend import runtime

from conftest import assert_matches, random_inputs

HEADER = """\
X: R[m, n]
Y: R[m, n]
P: R[m, n]
A: R[n, n]
B: R[n, n]
S: R[n, n]
x: R[n]
v: R[n]
q: R[n]
y: R[m]
u: R[m]
c: R
d: R
T3: R[k, m, n]
Z: R[n, k]
"""
SIZES = {"m": 5, "n": 4, "k": 3}
POSITIVE = {"P", "q", "d"}   # entries in [0.5, 2]: for log, sqrt, fractional powers, division
SPD = {"S"}                  # symmetric positive definite: for inv, logdet


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def _softmax(a, axis):
    e = np.exp(a - np.max(a, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _logsumexp(a, axis=None):
    mx = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - mx), axis=axis, keepdims=True)) + mx
    return out.reshape(()) if axis is None else np.squeeze(out, axis=axis)


# (definition of r, NumPy reference as a function of the float64 arrays)
ARRAY_SYNTAX = [
    ("r = X + Y", lambda a: a["X"] + a["Y"]),
    ("r = X - Y", lambda a: a["X"] - a["Y"]),
    ("r = X * Y", lambda a: a["X"] * a["Y"]),
    ("r = X / P", lambda a: a["X"] / a["P"]),
    ("r = X ** 2", lambda a: a["X"] ** 2),
    ("r = X ** 3", lambda a: a["X"] ** 3),
    ("r = P ** 0.5", lambda a: a["P"] ** 0.5),
    ("r = P ** -1.5", lambda a: a["P"] ** -1.5),
    ("r = P ** 2.7", lambda a: a["P"] ** 2.7),
    ("r = 2 ** X", lambda a: 2.0 ** a["X"]),
    ("r = P ** X", lambda a: a["P"] ** a["X"]),
    ("r = -X", lambda a: -a["X"]),
    ("r = +X", lambda a: a["X"]),
    ("r = 3 - X", lambda a: 3.0 - a["X"]),
    ("r = X - 3", lambda a: a["X"] - 3.0),
    ("r = 2.5 * X", lambda a: 2.5 * a["X"]),
    ("r = X * 2.5", lambda a: a["X"] * 2.5),
    ("r = X / 4", lambda a: a["X"] / 4.0),
    ("r = 1 / P", lambda a: 1.0 / a["P"]),
    ("r = 1e-3 * X + 7", lambda a: 1e-3 * a["X"] + 7.0),
    ("r = (2 + 3) * X - 4 / 2", lambda a: 5.0 * a["X"] - 2.0),
    ("r = X + x", lambda a: a["X"] + a["x"]),
    ("r = x + X", lambda a: a["x"] + a["X"]),
    ("r = X * x - x", lambda a: a["X"] * a["x"] - a["x"]),
    ("r = X * c", lambda a: a["X"] * a["c"]),
    ("r = c + X", lambda a: a["c"] + a["X"]),
    ("r = X / d", lambda a: a["X"] / a["d"]),
    ("r = c * d - c", lambda a: a["c"] * a["d"] - a["c"]),
    ("r = T3 + X", lambda a: a["T3"] + a["X"]),
    ("r = T3 * x", lambda a: a["T3"] * a["x"]),
    ("r = X.T", lambda a: a["X"].T),
    ("r = X.T * Y.T", lambda a: a["X"].T * a["Y"].T),
    ("r = X @ x", lambda a: a["X"] @ a["x"]),
    ("r = X.T @ y", lambda a: a["X"].T @ a["y"]),
    ("r = y @ X", lambda a: a["y"] @ a["X"]),
    ("r = x @ v", lambda a: a["x"] @ a["v"]),
    ("r = A @ B", lambda a: a["A"] @ a["B"]),
    ("r = X @ A", lambda a: a["X"] @ a["A"]),
    ("r = X @ Z", lambda a: a["X"] @ a["Z"]),
    ("r = X.T @ X", lambda a: a["X"].T @ a["X"]),
    ("r = X @ A @ x", lambda a: a["X"] @ a["A"] @ a["x"]),
    ("r = T3 @ x", lambda a: a["T3"] @ a["x"]),
    ("r = T3 @ Z", lambda a: a["T3"] @ a["Z"]),
    ("r = (X @ A).T @ (X @ B)", lambda a: (a["X"] @ a["A"]).T @ (a["X"] @ a["B"])),
    ("z = X @ x\nr = tanh(z) * y", lambda a: np.tanh(a["X"] @ a["x"]) * a["y"]),
    ("z = X @ x\nf = sum(log(1 + exp(-y * z)))\nr = f * 2 + z",
     lambda a: 2 * np.sum(np.log(1 + np.exp(-a["y"] * (a["X"] @ a["x"])))) + a["X"] @ a["x"]),
    ("r = sum(log(1 + exp(-y * (X @ x))))", lambda a: np.sum(np.log(1 + np.exp(-a["y"] * (a["X"] @ a["x"]))))),
    ("r = X @ x + y * 2 - u / 3", lambda a: a["X"] @ a["x"] + a["y"] * 2 - a["u"] / 3),
]


INDEX_NOTATION = [
    ("r[i, j] = X[k, i] * u[k] * X[k, j]", lambda a: np.einsum("ki,k,kj->ij", a["X"], a["u"], a["X"])),
    ("r[i] = X[i, j] * x[j]", lambda a: a["X"] @ a["x"]),
    ("r[j, i] = X[i, j]", lambda a: a["X"].T),
    ("r[i] = A[i, i]", lambda a: np.diagonal(a["A"]).copy()),
    ("r[i] = X[i, j]", lambda a: a["X"].sum(axis=1)),
    ("r[j] = X[i, j]", lambda a: a["X"].sum(axis=0)),
    ("r[i, j] = y[i] * x[j]", lambda a: np.outer(a["y"], a["x"])),
    ("r[i, j] = X[i, j] + Y[i, j]", lambda a: a["X"] + a["Y"]),
    ("r[i, j] = exp(X[i, j]) * x[j] - Y[i, j]", lambda a: np.exp(a["X"]) * a["x"] - a["Y"]),
    ("r[i, l] = T3[l, i, j] * x[j]", lambda a: np.einsum("lij,j->il", a["T3"], a["x"])),
    ("r[i, j:k] = y[i]", lambda a: np.repeat(a["y"][:, None], SIZES["k"], axis=1)),
    ("r[i] = A[i, j] * B[j, l] * x[l]", lambda a: a["A"] @ a["B"] @ a["x"]),
    ("r[a, b] = X[a, b] * 2 + 1", lambda a: 2 * a["X"] + 1),
    ("r[i] = c * y[i]", lambda a: a["c"] * a["y"]),
    ("r[i, j] = tanh(X[i, l] * Z[l, j])", lambda a: np.tanh(a["X"] @ a["Z"])),  # l summed in its product
    ("r[i, j] = X[i, j] * P[i, j] / q[j]", lambda a: a["X"] * a["P"] / a["q"]),
    ("z = X @ x\nr[i, j] = z[i] * X[i, j]", lambda a: (a["X"] @ a["x"])[:, None] * a["X"]),
    ("G[i, j] = X[k, i] * X[k, j]\nr = G @ x", lambda a: a["X"].T @ a["X"] @ a["x"]),
]

EINSUM = [
    ('r = einsum("ij,j->i", X, x)', lambda a: a["X"] @ a["x"]),
    ('r = einsum("ij,ij->", X, Y)', lambda a: np.sum(a["X"] * a["Y"])),
    ('r = einsum("ij->ji", X)', lambda a: a["X"].T),
    ('r = einsum("ii->i", A)', lambda a: np.diagonal(a["A"]).copy()),
    ('r = einsum("ii", A)', lambda a: np.trace(a["A"])),
    ('r = einsum("ij,kj", X, Y)', lambda a: a["X"] @ a["Y"].T),
    ('r = einsum("abc,c->ab", T3, x)', lambda a: a["T3"] @ a["x"]),
    ('r = einsum("ij,jk,kl->il", X, A, Z)', lambda a: a["X"] @ a["A"] @ a["Z"]),
    ('r = einsum("i,j->ij", y, x)', lambda a: np.outer(a["y"], a["x"])),
    ('r = einsum("ij->", X)', lambda a: np.sum(a["X"])),
    ('r = einsum("ij -> j", X)', lambda a: a["X"].sum(axis=0)),
    ('r = einsum("ij,j->i", exp(X), x + v)', lambda a: np.exp(a["X"]) @ (a["x"] + a["v"])),
]

ELEMENTWISE = [
    ("r = exp(X)", lambda a: np.exp(a["X"])),
    ("r = log(P)", lambda a: np.log(a["P"])),
    ("r = sin(X)", lambda a: np.sin(a["X"])),
    ("r = cos(X)", lambda a: np.cos(a["X"])),
    ("r = tan(X)", lambda a: np.tan(a["X"])),
    ("r = tanh(X)", lambda a: np.tanh(a["X"])),
    ("r = sigmoid(X)", lambda a: _sigmoid(a["X"])),
    ("r = softplus(X)", lambda a: np.log1p(np.exp(a["X"]))),
    ("r = relu(X)", lambda a: np.maximum(a["X"], 0.0)),
    ("r = abs(X)", lambda a: np.abs(a["X"])),
    ("r = sign(X)", lambda a: np.sign(a["X"])),
    ("r = sqrt(P)", lambda a: np.sqrt(a["P"])),
    ("r = square(X)", lambda a: a["X"] ** 2),
    ("r = exp(c)", lambda a: np.exp(a["c"])),
    ("r = log(q) + sqrt(d)", lambda a: np.log(a["q"]) + np.sqrt(a["d"])),
    ("def swish(t): return t * sigmoid(t)\nr = swish(X)", lambda a: a["X"] * _sigmoid(a["X"])),
    ("def f(t): return log(1 + t ** 2) / 2 - 3 * t\nr = f(X)", lambda a: np.log(1 + a["X"] ** 2) / 2 - 3 * a["X"]),
    ("def g(t): return tanh(t)\ndef h(t): return g(t) * 2 + square(t)\nr = h(X @ x)",
     lambda a: 2 * np.tanh(a["X"] @ a["x"]) + (a["X"] @ a["x"]) ** 2),
]

REDUCTIONS_AND_GENERAL = [
    ("r = sum(X)", lambda a: np.sum(a["X"])),
    ("r = sum(X, 0)", lambda a: np.sum(a["X"], axis=0)),
    ("r = sum(X, axis=1)", lambda a: np.sum(a["X"], axis=1)),
    ("r = sum(X, -1)", lambda a: np.sum(a["X"], axis=-1)),
    ("r = sum(T3, (0, 2))", lambda a: np.sum(a["T3"], axis=(0, 2))),
    ("r = sum(x)", lambda a: np.sum(a["x"])),
    ("r = mean(X)", lambda a: np.mean(a["X"])),
    ("r = mean(X, 0)", lambda a: np.mean(a["X"], axis=0)),
    ("r = mean(X, axis=1)", lambda a: np.mean(a["X"], axis=1)),
    ("r = mean(T3, (0, 1))", lambda a: np.mean(a["T3"], axis=(0, 1))),
    ("r = logsumexp(X)", lambda a: _logsumexp(a["X"])),
    ("r = logsumexp(X, 0)", lambda a: _logsumexp(a["X"], 0)),
    ("r = logsumexp(X, axis=1)", lambda a: _logsumexp(a["X"], 1)),
    ("r = logsumexp(x)", lambda a: _logsumexp(a["x"])),
    ("r = softmax(X, 0)", lambda a: _softmax(a["X"], 0)),
    ("r = softmax(X, axis=1)", lambda a: _softmax(a["X"], 1)),
    ("r = softmax(x, 0)", lambda a: _softmax(a["x"], 0)),
    ("r = inv(S)", lambda a: np.linalg.inv(a["S"])),
    ("r = inv(S) @ x", lambda a: np.linalg.solve(a["S"], a["x"])),
    ("r = det(A)", lambda a: np.linalg.det(a["A"])),
    ("r = det(S)", lambda a: np.linalg.det(a["S"])),
    ("r = logdet(S)", lambda a: np.linalg.slogdet(a["S"])[1]),
    ("r = trace(A)", lambda a: np.trace(a["A"])),
    ("r = trace(X.T @ X)", lambda a: np.trace(a["X"].T @ a["X"])),
    ("r = diag(x)", lambda a: np.diag(a["x"])),
    ("r = diag(x) @ A", lambda a: np.diag(a["x"]) @ a["A"]),
    ("r = diagonal(A)", lambda a: np.diagonal(a["A"]).copy()),
    ("r = norm2(X)", lambda a: np.linalg.norm(a["X"])),
    ("r = norm2(x)", lambda a: np.linalg.norm(a["x"])),
    ("r = dot(x, v)", lambda a: np.dot(a["x"], a["v"])),
    ("r = dot(X, x)", lambda a: np.dot(a["X"], a["x"])),
    ("r = dot(A, B)", lambda a: np.dot(a["A"], a["B"])),
    ("r = outer(y, x)", lambda a: np.outer(a["y"], a["x"])),
    ("r = A + eye(n)", lambda a: a["A"] + np.eye(SIZES["n"])),
    ("r = eye(n)", lambda a: np.eye(SIZES["n"])),
    ("r = eye(n) @ x * 3", lambda a: 3 * a["x"]),
    ("r = X + ones(m, n)", lambda a: a["X"] + 1.0),
    ("r = ones(n)", lambda a: np.ones(SIZES["n"])),
    ("r = ones(m, n) * 3", lambda a: np.full((SIZES["m"], SIZES["n"]), 3.0)),
    ("r = sum(ones(k) * 2)", lambda a: 2.0 * SIZES["k"]),
]

CASES = ARRAY_SYNTAX + INDEX_NOTATION + EINSUM + ELEMENTWISE + REDUCTIONS_AND_GENERAL


def _id(case):
    return case[0].replace("\n", "; ")


def _setup(src, dtype, seed=0):
    prog = tcnb.parse(HEADER + src + "\n")
    rng = np.random.default_rng(seed)
    arrays = random_inputs(prog, SIZES, rng, dtype, positive=POSITIVE, spd=SPD)
    as64 = {k: v.astype(np.float64) for k, v in arrays.items()}
    return prog, arrays, as64


def test_every_listed_function_has_a_case():
    names = ["exp", "log", "sin", "cos", "tan", "tanh", "sigmoid", "softplus", "relu", "abs", "sign",
             "sqrt", "square", "sum", "mean", "logsumexp", "softmax", "inv", "det", "logdet", "trace",
             "diag", "diagonal", "norm2", "dot", "outer", "eye", "ones", "einsum"]
    text = " ".join(src for src, _ in CASES)
    missing = [f for f in names if f + "(" not in text]
    assert not missing


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("src,ref", CASES, ids=[_id(c) for c in CASES])
def test_evaluate_matches_numpy(src, ref, dtype):
    prog, arrays, as64 = _setup(src, dtype)
    got = prog["r"].evaluate(**arrays)
    assert_matches(got, ref(as64), dtype)


@pytest.mark.parametrize("src,ref", CASES, ids=[_id(c) for c in CASES])
def test_compile_matches_evaluate_and_reference(src, ref):
    prog, arrays, as64 = _setup(src, np.float64, seed=1)
    fn = prog["r"].compile()
    assert callable(fn)
    got = fn(**arrays)
    assert_matches(got, ref(as64))
    np.testing.assert_array_equal(got, prog["r"].evaluate(**arrays))


@pytest.mark.parametrize("src,ref", CASES, ids=[_id(c) for c in CASES])
def test_to_source_is_python_that_reproduces_evaluate(src, ref):
    prog, arrays, as64 = _setup(src, np.float64, seed=2)
    expr = prog["r"]
    code = expr.to_source(**SIZES)
    assert isinstance(code, str)
    ast.parse(code)  # valid Python
    namespace: dict = {}
    exec(compile(code, "<to_source>", "exec"), namespace)  # self-contained: needs no imports
    fn = namespace["tcnb_fn"]
    used = sorted(expr.variables)
    assert list(inspect.signature(fn).parameters) == ["xp", "_rt", "dtype"] + used
    out = fn(np, runtime, np.float64, *[arrays[name] for name in used])
    if isinstance(out, tuple):
        assert len(out) == 1
        out = out[0]
    out = np.asarray(out, dtype=np.float64)
    np.testing.assert_allclose(out, prog["r"].evaluate(**arrays), rtol=1e-13, atol=1e-14)
    assert_matches(out, ref(as64))


@pytest.mark.parametrize("src", ["r = X @ x", "r = sum(log(1 + exp(-y * (X @ x))))",
                                 "r[i, j] = X[k, i] * u[k] * X[k, j]", "r = ones(m, n) * 3"])
def test_to_source_without_sizes_is_valid_python(src):
    prog = tcnb.parse(HEADER + src)
    ast.parse(prog["r"].to_source())


def test_compiled_function_serves_several_sizes():
    src = "r = sum(log(1 + exp(-y * (X @ x)))) + trace(X.T @ X)"
    prog = tcnb.parse(HEADER + src)
    fn = prog["r"].compile()
    rng = np.random.default_rng(3)
    for m, n in [(5, 4), (2, 7), (5, 4), (1, 1)]:
        X, x, y = rng.standard_normal((m, n)), rng.standard_normal(n), rng.standard_normal(m)
        want = np.sum(np.log(1 + np.exp(-y * (X @ x)))) + np.trace(X.T @ X)
        assert_matches(fn(X=X, x=x, y=y), want)


def test_program_definitions_all_evaluate():
    src = HEADER + """
z = X @ x
p = sigmoid(z)
g = X.T @ (p - y)
H[i, j] = X[k, i] * p[k] * (1 - p[k]) * X[k, j]
f = sum(softplus(z)) - dot(y, z)
"""
    prog = tcnb.parse(src)
    rng = np.random.default_rng(4)
    arrays = random_inputs(prog, SIZES, rng)
    X, x, y = arrays["X"], arrays["x"], arrays["y"]
    z = X @ x
    p = _sigmoid(z)
    want = {"z": z, "p": p, "g": X.T @ (p - y), "H": X.T @ ((p * (1 - p))[:, None] * X),
            "f": np.sum(np.log1p(np.exp(z))) - y @ z}
    for name, value in want.items():
        assert_matches(prog[name].evaluate(**arrays), value)
        # only the arrays the expression uses are needed
        used = {k: arrays[k] for k in prog[name].variables}
        assert_matches(prog[name].evaluate(**used), value)


def test_ints_become_float64():
    prog = tcnb.parse("X: R[m, n]\nx: R[n]\nr = X @ x * 0.5")
    X = np.arange(6).reshape(2, 3)
    x = np.array([1, 2, 3])
    got = prog["r"].evaluate(X=X, x=x)
    assert_matches(got, (X @ x) * 0.5, np.float64)
    got = prog["r"].evaluate(X=X.tolist(), x=x.tolist())  # nested lists of ints too
    assert_matches(got, (X @ x) * 0.5, np.float64)


def test_python_scalars_and_lists_are_accepted():
    prog = tcnb.parse("c: R\nx: R[n]\nr = c * x")
    assert_matches(prog["r"].evaluate(c=2.0, x=[1.0, 2.0]), [2.0, 4.0])


def test_float32_stays_float32_and_mixed_promotes():
    prog = tcnb.parse("X: R[m, n]\nx: R[n]\nr = tanh(X @ x)")
    rng = np.random.default_rng(5)
    X, x = rng.standard_normal((3, 2)), rng.standard_normal(2)
    got32 = prog["r"].evaluate(X=X.astype(np.float32), x=x.astype(np.float32))
    assert got32.dtype == np.float32
    assert_matches(got32, np.tanh(X.astype(np.float32).astype(np.float64) @ x.astype(np.float32)), np.float32)
    got = prog["r"].evaluate(X=X.astype(np.float32), x=x)
    assert got.dtype == np.float64


def test_float32_scalar_result_is_float32():
    prog = tcnb.parse("X: R[m, n]\nr = logsumexp(X) + norm2(X) + 1")
    X = np.random.default_rng(6).standard_normal((3, 4)).astype(np.float32)
    got = prog["r"].evaluate(X=X)
    assert np.asarray(got).dtype == np.float32
    X64 = X.astype(np.float64)
    assert_matches(got, _logsumexp(X64) + np.linalg.norm(X64) + 1, np.float32)


def test_inputs_are_not_modified():
    prog = tcnb.parse("X: R[m, n]\nr = softmax(X, 0) + exp(X)")
    X = np.random.default_rng(7).standard_normal((3, 4))
    keep = X.copy()
    prog["r"].evaluate(X=X)
    np.testing.assert_array_equal(X, keep)


def test_shared_subexpression_evaluates_once_in_generated_code():
    prog = tcnb.parse("X: R[m, n]\nx: R[n]\nz = X @ x\nr = exp(z) * z + sin(z)")
    code = prog["r"].to_source(m=5, n=4)
    assert code.count("@") == 1, code


# ------------------------------------------------------------------------------- memory budget

def test_memory_budget_refuses_big_outer_product_before_allocating(monkeypatch):
    import tracemalloc

    monkeypatch.setattr(tcnb.config, "memory_budget", 1_000_000)
    prog = tcnb.parse("x: R[n]\ny: R[m]\no = outer(x, y)")
    x, y = np.ones(20_000), np.ones(30_000)  # the outer product would take 4.8 GB
    tracemalloc.start()
    try:
        with pytest.raises(tcnb.MemoryBudgetError) as info:
            prog["o"].evaluate(x=x, y=y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100_000_000, f"{peak} bytes were allocated before refusing"
    err = info.value
    assert isinstance(err, tcnb.TcnbError)
    text = str(err)
    assert "20000" in text and "30000" in text, text  # the shape
    nbytes = 20_000 * 30_000 * 8
    assert any(s in text for s in (str(nbytes), f"{nbytes:,}", "4.5 GiB", "4.8 GB", "4.47 GiB")), text


def test_memory_budget_refuses_big_intermediate(monkeypatch):
    monkeypatch.setattr(tcnb.config, "memory_budget", 1_000_000)
    prog = tcnb.parse("x: R[n]\ny: R[m]\nf = sum(exp(outer(x, y)))")
    with pytest.raises(tcnb.MemoryBudgetError) as info:
        prog["f"].evaluate(x=np.zeros(1000), y=np.zeros(2000))
    assert "1000" in str(info.value) and "2000" in str(info.value)


def test_memory_budget_counts_float32_itemsize(monkeypatch):
    prog = tcnb.parse("x: R[n]\ny: R[m]\no = outer(x, y)")
    x, y = np.ones(100), np.ones(200)
    monkeypatch.setattr(tcnb.config, "memory_budget", 100 * 200 * 4 + 16)
    with pytest.raises(tcnb.MemoryBudgetError):
        prog["o"].evaluate(x=x, y=y)          # float64: 160000 bytes
    got = prog["o"].evaluate(x=x.astype(np.float32), y=y.astype(np.float32))  # float32: 80000 bytes
    assert got.dtype == np.float32 and got.shape == (100, 200)


def test_memory_budget_allows_what_fits(monkeypatch):
    monkeypatch.setattr(tcnb.config, "memory_budget", 10_000_000)
    prog = tcnb.parse("x: R[n]\ny: R[m]\no = outer(x, y)")
    x, y = np.arange(3.0), np.arange(4.0)
    assert_matches(prog["o"].evaluate(x=x, y=y), np.outer(x, y))


def test_default_memory_budget_is_positive():
    assert isinstance(tcnb.config.memory_budget, int) and tcnb.config.memory_budget > 0


# ------------------------------------------------------------------------------- size binding

SIZED = tcnb.parse("x: R[n]\nf = sum(ones(n, m))\ng = sum(x) * sum(ones(m))\nz: R[m + n - 1]\nh = sum(z)")


@pytest.mark.parametrize("bad", [-3, 0, 2.5, 3.0, True, "3", np.int64(-1), None], ids=repr)
def test_sizes_must_be_positive_integers(bad):
    """n = -3 used to give sum(ones(n, m)) = -6.0; now every non-positive or non-integer size is a
    BindingError naming the symbol."""
    for call in (lambda: SIZED["f"].evaluate(n=bad, m=2), lambda: SIZED["f"].structured(n=bad, m=2),
                 lambda: SIZED["g"].evaluate(x=np.ones(3), m=bad)):
        with pytest.raises(tcnb.BindingError) as info:
            call()
        assert "positive integer" in str(info.value) and ("n =" in str(info.value) or "m =" in str(info.value))


def test_numpy_integer_sizes_are_accepted():
    assert float(SIZED["f"].evaluate(n=np.int64(3), m=np.int32(2))) == 6.0


def test_zero_length_axis_is_refused():
    with pytest.raises(tcnb.BindingError) as info:
        SIZED["g"].evaluate(x=np.ones(0), m=2)
    assert "'x'" in str(info.value) and "n" in str(info.value)


def test_compound_dimension_that_makes_a_size_non_positive_is_refused():
    # z: R[m + n - 1] with m = 4 and 2 entries would need n = -1
    with pytest.raises(tcnb.BindingError) as info:
        SIZED["h"].evaluate(z=np.ones(2), m=4)
    assert "n = -1" in str(info.value)
    assert float(SIZED["h"].evaluate(z=np.ones(5), m=4)) == 5.0


COMPOUND = tcnb.parse("f = ones(n - 3)\nx: R[n]\nY[i:n-2] = x[i + 2]\ng = sum(Y)\nz: R[m - 1]\nh = sum(z)")


@pytest.mark.parametrize("name,args", [("f", dict(n=2)), ("f", dict(n=3)), ("g", dict(x=np.ones(2))),
                                       ("g", dict(x=np.ones(1))), ("h", dict(m=1, z=np.ones(0)))])
def test_compound_dimensions_below_one_are_binding_errors(name, args):
    """ones(n - 3) at n = 2 reached NumPy ('negative dimensions are not allowed'); at n = 3 it
    silently summed nothing."""
    with pytest.raises(tcnb.BindingError) as info:
        COMPOUND[name].evaluate(**args)
    assert "dimension '" in str(info.value) and "at least 1" in str(info.value)


HUGE = tcnb.parse("a = det(eye(n))\nb = ones(n, m)\nx: R[3]\nc = sum(outer(x, ones(n)) ** 2)\n"
                  "d = logdet(2 * eye(n))\ne = trace(eye(n) + eye(n))")


@pytest.mark.parametrize("size", [2**17, 2**33, 2**62, 2**64, 10**30])
@pytest.mark.parametrize("name", ["a", "b", "c", "d"])
def test_huge_sizes_are_refused_by_the_memory_budget(name, size, monkeypatch):
    """Byte counts are Python ints and every array generated code makes is counted, including a
    constant or unit tensor materialised as a function's argument (det(eye(n)) used to reach
    NumPy: MemoryError or 'array is too big')."""
    monkeypatch.setattr(tcnb.config, "memory_budget", 1_000_000)
    with pytest.raises(tcnb.MemoryBudgetError) as info:
        HUGE[name].evaluate(x=np.ones(3), n=size, **({"m": size} if name == "b" else {}))
    assert str(size) in str(info.value)


# ------------------------------------------------------------------------------- convolutions

import corpus_index_maps  # noqa: E402,F401  (JAX in float64)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from helpers_calculus import assert_close  # noqa: E402

CONV2 = "K: R[p, q]\nZ: R[m + p - 1, n + q - 1]\nY[i:m, j:n] = K[p, q] * Z[i + p, j + q]\n"
CONV1 = "k: R[q]\nz: R[m + q - 1]\nY[i:m] = k[p] * z[i + p]\n"
LOSSES = {"sum": ("L = sum(Y)", jnp.sum), "square": ("L = sum(Y * Y)", lambda y: jnp.sum(y * y)),
          "tanh": ("L = sum(tanh(Y))", lambda y: jnp.sum(jnp.tanh(y)))}


def _conv2(K, Z, m, n):
    p, q = K.shape
    return sum(K[a, b] * Z[a:a + m, b:b + n] for a in range(p) for b in range(q))


def _conv1(k, z, m):
    return sum(k[a] * z[a:a + m] for a in range(k.shape[0]))


def _conv_case(dim, sizes, loss):
    rng = np.random.default_rng(hash((dim, tuple(sizes.items()), loss)) % 2**32)
    if dim == 2:
        src, names = CONV2, ("K", "Z")
        arrays = {"K": rng.normal(size=(sizes["p"], sizes["q"])),
                  "Z": rng.normal(size=(sizes["m"] + sizes["p"] - 1, sizes["n"] + sizes["q"] - 1))}
        ref = lambda K, Z: LOSSES[loss][1](_conv2(K, Z, sizes["m"], sizes["n"]))  # noqa: E731
    else:
        src, names = CONV1, ("k", "z")
        arrays = {"k": rng.normal(size=sizes["q"]), "z": rng.normal(size=sizes["m"] + sizes["q"] - 1)}
        ref = lambda k, z: LOSSES[loss][1](_conv1(k, z, sizes["m"]))  # noqa: E731
    return tcnb.parse(src + LOSSES[loss][0] + "\n"), names, arrays, ref


CONV_SHAPES = [(2, dict(p=2, q=3, m=4, n=5)), (2, dict(p=1, q=2, m=3, n=1)), (2, dict(p=3, q=3, m=2, n=2)),
               (1, dict(q=3, m=5)), (1, dict(q=1, m=2))]


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("dim,sizes", CONV_SHAPES, ids=[f"{d}d-" + "".join(f"{k}{v}" for k, v in s.items())
                                                        for d, s in CONV_SHAPES])
def test_convolution_gradients_and_hessians_in_every_mode(dim, sizes, loss):
    """grad(sum(conv), z) raised a ValueError inside the code generator for the README's
    convolution: an index of the map (i) that no other operand carries was looked up among the
    operand's labels. Checked against jax.grad / jax.hessian of a slicing reference."""
    prog, names, arrays, ref = _conv_case(dim, sizes, loss)
    L = prog["L"]
    assert_close(L.evaluate(**arrays), ref(**arrays), 1e-12, "value")
    jargs = {k: jnp.asarray(v) for k, v in arrays.items()}
    for w in names:
        pos = names.index(w)
        want_g = np.asarray(jax.grad(ref, argnums=pos)(*[jargs[n] for n in names]))
        want_h = np.asarray(jax.hessian(ref, argnums=pos)(*[jargs[n] for n in names]))
        for mode in ("forward", "reverse", "cross-country"):
            for compress in (True, False):
                tag = f"wrt {w}, {mode}, compress={compress}"
                g = tcnb.grad(L, prog[w], mode=mode, compress=compress)
                assert_close(g.evaluate(**arrays), want_g, 1e-11, "gradient " + tag)
                H = tcnb.hessian(L, prog[w], mode=mode, compress=compress)
                assert_close(H.evaluate(**arrays), want_h, 1e-11, "Hessian " + tag)


@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
def test_gradient_of_a_sum_of_a_bare_shifted_access(mode):
    """Σ_{i,p} z[i + p]: an index map with no other operand at all is a scatter of ones (counts),
    not a dense (m·q) x (m + q - 1) selection tensor."""
    prog = tcnb.parse("z: R[m + q - 1]\nY[i:m, p:q] = z[i + p]\nL = sum(Y)")
    z = np.arange(6.0)
    g = tcnb.grad(prog["L"], prog["z"], mode=mode)
    m, q = 4, 3
    want = np.array([sum(1 for i in range(m) for p in range(q) if i + p == j) for j in range(6)], float)
    np.testing.assert_array_equal(g.evaluate(z=z, m=m, q=q), want)
    assert "index_map_dense" not in g.to_source(m=m, q=q)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import test_index_maps as tim  # noqa: E402  (its random affine-map programs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(info=tim.affine_programs(), loss=st.sampled_from(["sum(y)", "sum(y * y)"]),
       mode=st.sampled_from(["forward", "reverse", "cross-country"]), compress=st.booleans(),
       seed=st.integers(0, 2**16))
def test_random_affine_maps_gradient_of_a_sum(info, loss, mode, compress, seed):
    """Gradients and Hessians of a scalar loss of a random affine-map definition: the summed
    indices of a map (the result's, too) need not appear on any other operand."""
    src = info["src"] + f"L = {loss}\n"
    p = tcnb.parse(src)
    rng = np.random.default_rng(seed)
    arrays = {name: 0.5 * rng.standard_normal(tim.resolve_shape(e.shape, info["sizes"]))
              for name, e in p.variables.items()}

    def ref(**a):
        y = tim._reference(info, a)
        return np.sum(y) if loss == "sum(y)" else np.sum(y * y)

    def run(D, **a):  # sizes only for symbols D still has (a derivative may lose one, e.g. m)
        fn = D.compile()
        dims = fn.sizes_needed() | {s.name for v in fn.vars for d in v.shape for s in d.free_symbols}
        return np.asarray(fn(**a, **{k: v for k, v in info["sizes"].items() if k in dims}))

    for var in arrays:
        g = tcnb.grad(p["L"], var, mode=mode, compress=compress)
        got = run(g, **arrays)
        fd = tim.central_diff(lambda v, var=var: ref(**{**arrays, var: v}), arrays[var], tim.H_FD)
        assert_close(got, fd, tim.RTOL_FD, f"d L / d {var} ({mode}, compress={compress}) of\n{src}")
        H = tcnb.hessian(p["L"], var, mode=mode, compress=compress)
        got_h = run(H, **arrays)
        fd_h = tim.central_diff(lambda v, var=var: run(g, **{**arrays, var: v}), arrays[var], tim.H_FD)
        assert_close(got_h, fd_h, tim.RTOL_FD, f"d2 L / d {var}2 ({mode}, compress={compress}) of\n{src}")
