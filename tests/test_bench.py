"""tcnb.bench: generated framework baselines agree with tcnb; compare() records, budgets, plots, files.

CPU only, except the tests marked ``gpu`` (CuPy and a CUDA device; skipped with the reason otherwise).
"""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

import tcnb
from tcnb.bench import baselines as B
from tcnb.bench import magic, paper, shims, timing
from tcnb.bench.compare import compare, expand_sizes, make_inputs

C = sys.modules["tcnb.bench.compare"]  # the module (tcnb.bench.compare, the attribute, is the function)

HAS_TORCH = importlib.util.find_spec("torch") is not None
FRAMEWORKS = ["autograd", "jax"] + (["torch"] if HAS_TORCH else [])


def _gpu_reason():
    try:
        from tcnb.backend.namespace import get_namespace
        get_namespace("cupy")
        return None
    except tcnb.BackendUnavailableError as exc:
        return str(exc)


GPU_REASON = _gpu_reason()
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=f"no CuPy GPU: {GPU_REASON}")

# ------------------------------------------------------------------------------- the small corpus
CONV = "w: R[p]\nz: R[m + p - 1]\nt: R[m]\nc[i:m] = w[k] * z[i + k]\nL = sum(tanh(c - t) ** 2)"

# (id, source, expression, variable, kinds, sizes, inputs)
CASES = [
    ("logreg", "X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(exp(-y * (X @ w)) + 1))",
     "f", "w", ("grad", "hessian", "hvp"), dict(m=6, n=4), {"y": "pm1"}),
    ("least_squares", "A: R[m, n]\nb: R[m]\nx: R[n]\nf = sum((A @ x - b) ** 2)",
     "f", "x", ("grad", "hessian"), dict(m=5, n=3), {}),
    ("matfac", "T: R[n, m]\nU: R[n, k]\nV: R[m, k]\nf = sum((T - U @ V.T) ** 2)",
     "f", "U", ("grad", "hessian"), dict(n=4, m=3, k=2), {}),
    ("matfac_norm2_V", "T: R[n, m]\nU: R[n, k]\nV: R[m, k]\nf = norm2(T - U @ V.T)",
     "f", "V", ("grad", "hessian"), dict(n=4, m=3, k=2), {}),
    ("softmax_ce", "X: R[b, d]\nY: R[b, c]\nW: R[c, d]\nf = -sum(Y * log(softmax(X @ W.T, 1)))",
     "f", "W", ("grad", "hessian"), dict(b=3, d=3, c=3), {"Y": "onehot"}),
    ("tanh_chain", "A: R[n, n]\nx: R[n]\nf = sum(tanh(A @ tanh(A @ x)))",
     "f", "x", ("grad", "hessian", "hvp"), dict(n=4), {}),
    ("tanh_jacobian", "A: R[n, n]\nx: R[n]\nz = tanh(A @ x) * x",
     "z", "x", ("jacobian",), dict(n=4), {}),
    ("trace_inv_logdet", "A: R[n, n]\nB: R[n, n]\nf = trace(inv(A) @ B) + logdet(A)",
     "f", "A", ("grad", "hessian"), dict(n=3), {"A": "spd"}),
    ("relu_net_lse", "X: R[b, d]\nY: R[b, c]\nW1: R[h, d]\nW2: R[c, h]\nZ = relu(X @ W1.T) @ W2.T\n"
     "f = sum(logsumexp(Z, 1)) - sum(Y * Z)",
     "f", "W1", ("grad", "hessian"), dict(b=3, d=3, h=4, c=2), {"Y": "onehot"}),
    ("ridge_scalar", "X: R[m, n]\ny: R[m]\nw: R[n]\nlam: R\nf = sum(softplus(-y * (X @ w))) + lam * dot(w, w) / 2",
     "f", "lam", ("grad", "hessian"), dict(m=5, n=3), {"lam": "positive"}),
    ("sigmoid_jacobian_X", "X: R[m, n]\nw: R[n]\np = sigmoid(X @ w)",
     "p", "X", ("jacobian",), dict(m=3, n=2), {}),
    ("eye_lse", "A: R[n, n]\nx: R[n]\nf = sum((A + eye(n)) @ tanh(x)) + sum(logsumexp(A * x, 1))",
     "f", "x", ("grad", "hessian"), dict(n=3), {}),
    ("diag_out", "x: R[n]\nD = diag(tanh(x))",
     "D", "x", ("jacobian",), dict(n=3), {}),
    # linear index maps (gathers in the traced code)
    ("conv1d_w", CONV, "L", "w", ("grad", "hessian", "hvp"), dict(m=5, p=3), {}),
    ("conv1d_z", CONV, "L", "z", ("grad", "hessian"), dict(m=5, p=3), {}),
    ("conv2d_K", "K: R[p, q]\nimg: R[m + p - 1, n + q - 1]\nout[i:m, j:n] = K[a, b] * img[i + a, j + b]\n"
     "L = sum(tanh(out))", "L", "K", ("grad", "hessian"), dict(m=3, n=2, p=2, q=2), {}),
    ("constant_index", "x: R[n]\ny[j:n] = x[0] * x[j] + sin(x[n - 1])\nL = sum(y * y)",
     "L", "x", ("grad", "hessian"), dict(n=4), {}),
]
CASE_IDS = [c[0] for c in CASES]
PARAMS = [pytest.param(case, kind, fw, id=f"{case[0]}-{kind}-{fw}")
          for case in CASES for kind in case[4] for fw in FRAMEWORKS]


def _setup(case, kind):
    _, src, of, wrt, _, sizes, inputs = case
    prog = tcnb.parse(src)
    f = prog[of]
    direction = C._direction(f, wrt, None) if kind == "hvp" else None
    variables = C._variables(f)
    if direction is not None:
        variables.update(C._variables(direction))
    arrays = make_inputs(variables, sizes, seed=1, inputs=inputs)
    D = C._derive(f, wrt, kind, None, True, direction)
    used = C._variables(D)
    ref = np.asarray(D.evaluate(**{n: arrays[n] for n in used}, **{k: v for k, v in sizes.items()
                                                                   if k not in _fixed(used)}))
    return f, wrt, sizes, arrays, ref, direction


def _fixed(used):
    return {s.name for v in used.values() for d in v.shape for s in d.free_symbols}


@pytest.mark.parametrize("case,kind,framework", PARAMS)
def test_generated_baseline_matches_tcnb(case, kind, framework):
    f, wrt, sizes, arrays, ref, direction = _setup(case, kind)
    b = B.Baseline(framework, f, wrt, kind, sizes, direction=direction.variables[0] if direction else None,
                   out_size=int(ref.size))
    out = b.to_numpy(b.prepare(arrays)())
    assert out.shape == ref.shape
    scale = max(1.0, float(np.max(np.abs(ref))))
    np.testing.assert_allclose(out, ref, rtol=1e-9, atol=1e-10 * scale)


def test_baseline_value_kind_and_source():
    f = tcnb.parse(CASES[0][1])["f"]
    sizes = dict(m=6, n=4)
    arrays = make_inputs(C._variables(f), sizes)
    b = B.Baseline("jax", f, None, "value", sizes)
    assert "def tcnb_fn(xp, _rt, dtype, X, w, y)" in b.source
    assert b.compile_s is None
    run = b.prepare(arrays)
    assert b.compile_s is not None and b.compile_s >= 0
    np.testing.assert_allclose(b.to_numpy(run()), f.evaluate(**arrays), rtol=1e-12)
    assert B.devices("autograd", "auto") == ["cpu"]


def test_unknown_and_missing_frameworks(monkeypatch):
    assert B.available("tensorflow")[0] is False
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    ok, note = B.available("torch")
    assert not ok and "not installed" in note and "torch==2.13.0" in note
    with pytest.raises(B.BaselineUnavailable):
        B.Baseline("torch", tcnb.parse(CASES[0][1])["f"], "w", "grad", dict(m=6, n=4))


# ------------------------------------------------------------------------------- shims

def test_functional_embed_diagonal_matches_runtime():
    from tcnb.backend import runtime
    rng = np.random.default_rng(0)
    vals = rng.standard_normal((2, 3, 4))
    for out_labels, shape in [((0, 1, 0, 3), (2, 3, 2, 4)), ((0, 1, 1, 3), (2, 3, 3, 4)),
                              ((3, 0, 1, 0, 1), (4, 2, 3, 2, 3))]:
        want = runtime.embed_diagonal(np, vals, out_labels, (0, 1, 3), shape)
        got = shims.RUNTIME.embed_diagonal(np, vals, out_labels, (0, 1, 3), shape)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(shims.RUNTIME.delta(np, (2, 3), np.float64), runtime.delta(np, (2, 3), np.float64))
    a = rng.standard_normal((3, 4))
    np.testing.assert_allclose(shims.RUNTIME.softmax(np, a, 1), runtime.softmax(np, a, 1))
    np.testing.assert_allclose(shims.RUNTIME.logsumexp(np, a, None), runtime.logsumexp(np, a, None))


def _index_maps():
    """(A, c, I_shape, J_shape): a convolution (not injective), a stride (injective, gaps in J), a
    2-D window, a constant index (no I at all), a reversal with an offset."""
    return [(((1, 1),), (0,), (4, 3), (6,)), (((2,),), (1,), (3,), (7,)),
            (((1, 0, 1, 0), (0, 1, 0, 1)), (0, 0), (3, 2, 2, 2), (4, 3)), (((),), (2,), (), (5,)),
            (((-1,),), (4,), (5,), (5,))]


def test_functional_index_maps_match_runtime():
    """gather / scatter / the dense selection tensor without in-place writes, against tcnb's."""
    from tcnb.backend import runtime
    rng = np.random.default_rng(3)
    for A, c, I, J in _index_maps():
        r = len(I)
        injective = r == 0 or np.linalg.matrix_rank(np.array(A, dtype=float).reshape(len(A), r)) == r
        t = rng.standard_normal((2,) + tuple(J) + (3,))
        axes = tuple(range(1, 1 + len(J)))
        np.testing.assert_allclose(shims.RUNTIME.gather(np, t, axes, A, c, I, J),
                                   runtime.gather(np, t, axes, A, c, I, J))
        u = rng.standard_normal(tuple(I) + (2,))
        axes = tuple(range(r))
        np.testing.assert_allclose(shims.RUNTIME.scatter(np, u, axes, A, c, I, J, injective),
                                   runtime.scatter(np, u, axes, A, c, I, J, injective))
        np.testing.assert_array_equal(shims.RUNTIME.index_map_dense(np, A, c, I, J, np.float64),
                                      runtime.index_map_dense(np, A, c, I, J, np.float64))
    with pytest.raises(tcnb.BindingError):
        shims.RUNTIME.gather(np, np.ones(4), (0,), ((1, 1),), (0,), (3, 3), (4,))


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_baselines_of_derivatives_with_scatters_and_selection_tensors(framework):
    """The traced code of tcnb's own derivatives of a convolution holds scatters (grad by z) and
    dense selection tensors (the Jacobian by z); the frameworks evaluate and differentiate them."""
    prog = tcnb.parse(CONV)
    sizes = dict(m=5, p=3)
    arrays = make_inputs(C._variables(prog["L"]), sizes, seed=2)
    g = tcnb.grad(prog["L"], "z")
    J = tcnb.jacobian(prog["c"], "z")
    src = B.traced_source(g, sizes)[0].source + B.traced_source(J, sizes)[0].source
    assert "_rt.scatter" in src and "_rt.index_map_dense" in src
    for expr, kind, wrt, ref in ((g, "value", None, g.evaluate(**arrays)),
                                 (g, "jacobian", "w", tcnb.jacobian(g, "w").evaluate(**arrays)),
                                 (g, "jacobian", "z", tcnb.hessian(prog["L"], "z").evaluate(**arrays)),
                                 (J, "value", None, J.evaluate(w=arrays["w"], m=5)),
                                 (J, "jacobian", "w", tcnb.jacobian(J, "w").evaluate(w=arrays["w"], m=5))):
        b = B.Baseline(framework, expr, wrt, kind, sizes, out_size=int(np.size(ref)))
        out = b.to_numpy(b.prepare({n: arrays[n] for n in b.arg_names})())
        np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12, err_msg=f"{expr.name} {kind} {wrt}")


def test_compare_times_a_convolution_against_every_baseline():
    """tcnb.bench.compare on an index-map program: every baseline runs and agrees with tcnb."""
    res = compare(CONV, wrt="z", kind="hessian", sizes={"m": [6], "p": 3}, backends=("numpy",),
                  baselines=FRAMEWORKS, baseline_devices="cpu", time_budget_s=2.0, target_s=0.01,
                  progress=False)
    by_tool = {r["tool"]: r for r in res.records}
    assert set(FRAMEWORKS) <= set(by_tool), by_tool.keys()
    for fw in FRAMEWORKS:
        assert by_tool[fw]["status"] == "ok", (fw, by_tool[fw]["status"], by_tool[fw]["reason"])
        assert by_tool[fw]["checked"], fw


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (pip install torch==2.13.0)")
def test_torch_namespace_speaks_numpy():
    import torch
    ns = shims.TorchNamespace(torch)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4))
    b = rng.standard_normal((4, 3))
    ta, tb = torch.tensor(a), torch.tensor(b)
    np.testing.assert_allclose(ns.sum(ta, axis=(0, 2)).numpy(), a.sum(axis=(0, 2)))
    np.testing.assert_allclose(ns.sum(ta).numpy(), a.sum())
    np.testing.assert_allclose(ns.max(ta, axis=1, keepdims=True).numpy(), a.max(axis=1, keepdims=True))
    np.testing.assert_allclose(ns.transpose(ta, (2, 0, 1)).numpy(), np.transpose(a, (2, 0, 1)))
    np.testing.assert_allclose(ns.tensordot(ta, tb, axes=((1, 2), (1, 0))).numpy(),
                               np.tensordot(a, b, axes=((1, 2), (1, 0))))
    np.testing.assert_allclose(ns.logaddexp(0.0, ta).numpy(), np.logaddexp(0.0, a))
    np.testing.assert_allclose(ns.maximum(ta, 0.0).numpy(), np.maximum(a, 0.0))
    np.testing.assert_allclose(ns.heaviside(ta, 0.0).numpy(), np.heaviside(a, 0.0))
    assert ns.zeros((2, 2), np.float64).dtype == torch.float64
    assert ns.full((2,), 3.0, torch.float32).dtype == torch.float32


# ------------------------------------------------------------------------------- sizes and inputs

def test_expand_sizes():
    pts, x = expand_sizes({"n": [30, 10], "m": "2*n", "k": 5})
    assert x == "n"
    assert pts == [{"n": 10, "m": 20, "k": 5}, {"n": 30, "m": 60, "k": 5}]
    pts, x = expand_sizes({"n": [1, 2], "d": [3, 4]})
    assert pts == [{"n": 1, "d": 3}, {"n": 2, "d": 4}]
    with pytest.raises(ValueError, match="equal lengths"):
        expand_sizes({"n": [1, 2], "d": [3]})
    with pytest.raises(ValueError, match="no size for k"):
        expand_sizes({"n": [1, 2]}, needed={"n", "k"})
    pts, x = expand_sizes([{"n": 3, "k": 1}, {"n": 5, "k": 1}])
    assert x == "n" and len(pts) == 2


def test_make_inputs_kinds_are_reproducible():
    prog = tcnb.parse("A: R[n, n]\nY: R[b, c]\ny: R[n]\nW1: R[c, n]\nf = sum(A @ y) + sum(Y @ W1)")
    variables = C._variables(prog["f"])
    sizes = dict(n=4, b=3, c=2)
    a1 = make_inputs(variables, sizes, seed=3, inputs={"A": "spd", "Y": "onehot", "y": "pm1", "W*": "scaled"})
    a2 = make_inputs(variables, sizes, seed=3, inputs={"A": "spd", "Y": "onehot", "y": "pm1", "W*": "scaled"})
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k])
    assert np.all(np.linalg.eigvalsh(a1["A"]) > 0)
    np.testing.assert_array_equal(a1["Y"].sum(axis=1), np.ones(3))
    assert set(np.unique(a1["y"])) <= {-1.0, 1.0}


# ------------------------------------------------------------------------------- timing

def test_measure_syncs_and_reports_spread():
    calls = {"n": 0, "sync": 0}

    def call():
        calls["n"] += 1
        return calls["n"]

    def sync(out):
        calls["sync"] += 1
        return out
    t = timing.measure(call, sync=sync, target_s=0.01, min_repeats=5)
    assert t.repeats >= 5 and t.number >= 1
    assert t.min_s <= t.q1_s <= t.median_s <= t.q3_s <= t.max_s
    assert calls["sync"] == t.repeats + 3  # first call, two warm-ups (a cheap call), one per sample
    slow = timing.measure(lambda: sum(range(20000)), budget_s=0.0)
    assert slow.repeats == 1


# ------------------------------------------------------------------------------- compare()

LOGREG = CASES[0][1]


@pytest.fixture(scope="module")
def logreg_result():
    f = tcnb.parse(LOGREG)["f"]
    return compare(f, wrt="w", kind="hessian", sizes={"n": [4, 8], "m": "2*n"},
                   backends=["numpy", "cupy"], baselines=["autograd", "jax"], time_budget_s=5,
                   target_s=0.01, progress=False)


def test_compare_records_are_well_formed(logreg_result):
    res = logreg_result
    gpu_lines = 0 if GPU_REASON else len(B.devices("jax", "gpu"))  # "auto": jax also on the GPU
    assert len(res.records) == 2 * (2 + 2 + gpu_lines)  # 2 sizes x (2 tcnb backends + baselines)
    for r in res.records:
        assert set(C.FIELDS) <= set(r)
        assert r["kind"] == "hessian" and r["wrt"] == "w" and r["x_name"] == "n"
        assert r["sizes"] == {"n": r["x"], "m": 2 * r["x"]}
        assert r["status"] in ("ok", "mismatch", "skipped", "error", "unavailable")
        assert r["out_shape"] == [r["x"], r["x"]]
        if r["status"] == "ok":
            assert r["median_s"] > 0 and r["min_s"] <= r["median_s"] <= r["max_s"]
            assert r["repeats"] >= 1 and r["first_s"] > 0 and r["compile_s"] >= 0
        else:
            assert r["median_s"] is None and r["reason"]
    by = {(r["label"], r["x"]): r for r in res.records}
    for x in (4, 8):
        assert by[("tcnb (numpy)", x)]["status"] == "ok"
        assert by[("tcnb (numpy)", x)]["derive_s"] > 0
        for lab in ("autograd (cpu)", "jax (cpu)"):
            assert by[(lab, x)]["status"] == "ok", by[(lab, x)]
            assert by[(lab, x)]["checked"] and by[(lab, x)]["max_err"] < 1e-10
        if GPU_REASON is not None:
            assert by[("tcnb (cupy)", x)]["status"] == "unavailable"
    assert by[("jax (cpu)", 4)]["how"] == "jax.jit(jax.hessian)"


def test_compare_tables_and_pandas(logreg_result, tmp_path):
    res = logreg_result
    df = res.to_pandas()
    assert {"tool", "backend", "median_s", "status", "reason", "n", "m"} <= set(df.columns)
    assert len(df) == len(res.records)
    rat = res.ratios()
    assert rat["tcnb (numpy)"][4] == pytest.approx(1.0)
    text = res.table()
    assert "tcnb (numpy)" in text and "jax (cpu)" in text
    html = res._repr_html_()
    assert "<table" in html and "<img src='data:image/png;base64," in html
    path = res.to_csv(tmp_path / "r.csv")
    import csv
    rows = list(csv.DictReader(open(path)))
    assert len(rows) == len(res.records) and "size_n" in rows[0]
    back = C.BenchResult.from_csv(path)
    assert back.records == res.records
    assert back.table() == res.table()


def test_plot_has_one_line_per_tool(logreg_result, tmp_path):
    res = logreg_result
    fig = res.plot()
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    want = ["tcnb (numpy)", "autograd (cpu)", "jax (cpu)"] + ([] if GPU_REASON else ["tcnb (cupy)"])
    if not GPU_REASON and B.devices("jax", "gpu"):
        want.append("jax (gpu)")
    assert sorted(labels) == sorted(want)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    for line in ax.get_lines():
        assert list(line.get_xdata()) == [4, 8]
    out = tmp_path / "plot.png"
    fig.savefig(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_over_budget_points_are_skipped_with_a_reason():
    f = tcnb.parse(LOGREG)["f"]
    res = compare(f, "w", "hessian", sizes={"n": [4, 64], "m": "2*n"}, backends=["numpy"],
                  baselines=["autograd"], memory_budget=10_000, target_s=0.01, progress=False)
    big = [r for r in res.records if r["x"] == 64]
    assert {r["status"] for r in big} == {"skipped"}
    assert all("dense Hessian 32.0 KiB > budget 9.8 KiB" in r["reason"] for r in big)
    assert {r["status"] for r in res.records if r["x"] == 4} == {"ok"}
    # the time budget: after a point slower than the budget, larger sizes are predicted and skipped
    res = compare(f, "w", "hessian", sizes={"n": [4, 8, 16], "m": "2*n"}, backends=["numpy"],
                  baselines=[], time_budget_s=1e-9, progress=False)
    st = [r["status"] for r in res.records]
    assert st == ["ok", "skipped", "skipped"]
    assert "> time budget" in res.records[1]["reason"]
    assert "skipped at a smaller size" in res.records[2]["reason"]
    assert res.records[0]["repeats"] == 1


def test_mismatch_is_reported_not_timed_nor_plotted(monkeypatch):
    orig = B.Baseline.prepare

    def wrong(self, arrays):
        run = orig(self, arrays)
        return lambda: self.to_numpy(run()) * 2.0
    monkeypatch.setattr(B.Baseline, "prepare", wrong)
    f = tcnb.parse(LOGREG)["f"]
    res = compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"],
                  baselines=["autograd"], target_s=0.01, progress=False)
    r = [r for r in res.records if r["tool"] == "autograd"][0]
    assert r["status"] == "mismatch" and r["median_s"] is None
    assert "differs from tcnb (numpy)" in r["reason"]
    labels = [line.get_label() for line in res.plot().axes[0].get_lines()]
    assert labels == ["tcnb (numpy)"]
    assert any("mismatch" in n for n in res.notes)


def test_compare_hvp_modes_value_and_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    f = tcnb.parse(CASES[5][1])["f"]  # tanh chain
    res = compare(f, "x", "hvp", sizes={"n": [3]}, backends=["numpy"], baselines=["jax", "torch"],
                  modes=["forward", "reverse"], target_s=0.01, progress=False)
    by = {r["label"]: r for r in res.records}
    assert set(by) == {"tcnb[forward] (numpy)", "tcnb[reverse] (numpy)", "jax (cpu)", "torch (cpu)"}
    assert by["tcnb[reverse] (numpy)"]["status"] == "ok" and by["tcnb[reverse] (numpy)"]["checked"]
    assert by["jax (cpu)"]["status"] == "ok" and by["jax (cpu)"]["checked"]
    assert by["torch (cpu)"]["status"] == "unavailable" and "not installed" in by["torch (cpu)"]["reason"]
    # kind "value" from a program's source; default sizes drop the "m" the expression lacks
    res = compare("x: R[n]\nf = sum(tanh(x))", backends=["numpy"], baselines=["autograd"],
                  sizes={"n": [5]}, target_s=0.01, progress=False)
    assert [r["status"] for r in res.records] == ["ok", "ok"] and res.meta["kind"] == "value"
    with pytest.raises(ValueError, match="scalar"):
        compare(tcnb.parse(CASES[6][1])["z"], "x", "hessian", progress=False)


# ------------------------------------------------------------------------------- magic and paper

class _FakeShell:
    def __init__(self):
        self.user_ns = {}
        self.magics = {}

    def register_magic_function(self, fn, magic_kind, magic_name):
        self.magics[(magic_kind, magic_name)] = fn


def test_tensor_bench_magic():
    assert magic.parse_sizes("n=10,30 m=2*n k=5") == {"n": [10, 30], "m": "2*n", "k": 5}
    shell = _FakeShell()
    magic.register(shell)
    fn = shell.magics[("line", "tensor_bench")]
    shell.user_ns["f"] = tcnb.parse(LOGREG)["f"]
    fn('f --wrt w --kind grad --sizes "n=3,5 m=2*n" --backends numpy --baselines autograd '
       '--repeat-time 0.01 --no-progress --quiet --as res')
    res = shell.user_ns["res"]
    assert isinstance(res, C.BenchResult) and len(res.records) == 4
    assert {r["status"] for r in res.records} == {"ok"}
    with pytest.raises(magic.BenchMagicError, match="no expression named"):
        fn("nope --quiet")


def test_paper_experiments_write_files(tmp_path):
    res = paper.run(names=["matfac", "relu_net"], out=str(tmp_path), backends=["numpy"], baselines=["jax"],
                    sizes={"matfac": {"n": [3, 4], "k": 2}, "relu_net": {"n": [2, 3], "b": 2, "c": 2}},
                    time_budget_s=5, target_s=0.01, progress=False)
    for name in ("matfac", "relu_net"):
        assert {r["status"] for r in res[name].records} == {"ok"}, res[name]
        assert (tmp_path / f"bench_{name}.csv").exists() and (tmp_path / f"bench_{name}.png").exists()
    assert (tmp_path / "bench_paper.png").exists() and (tmp_path / "bench_machine.txt").exists()
    text = paper.ratio_table(res)
    assert "matfac" in text and "jax (cpu)" in text
    assert paper.EXPERIMENTS["relu_net"]["source"].count("relu(") == paper.LAYERS - 1


# ------------------------------------------------------------------------------- GPU (CuPy)

@pytest.mark.gpu
@needs_gpu
def test_cupy_backend_matches_numpy_and_is_timed():
    f = tcnb.parse(LOGREG)["f"]
    res = compare(f, "w", "hessian", sizes={"n": [8, 32], "m": "2*n"}, backends=["numpy", "cupy"],
                  baselines=[], target_s=0.05, progress=False)
    cupy_recs = [r for r in res.records if r["backend"] == "cupy"]
    assert cupy_recs and all(r["status"] == "ok" and r["checked"] for r in cupy_recs), cupy_recs
    assert "tcnb (cupy)" in [line.get_label() for line in res.plot().axes[0].get_lines()]


@pytest.mark.gpu
@needs_gpu
def test_gpu_baselines_run_on_the_gpu():
    f = tcnb.parse(LOGREG)["f"]
    res = compare(f, "w", "hessian", sizes={"n": [8], "m": "2*n"}, backends=["numpy", "cupy"],
                  baselines=["jax", "torch"], target_s=0.02, progress=False)
    gpu = [r for r in res.records if r["tool"] != "tcnb" and r["backend"] == "gpu"]
    for r in gpu:
        assert r["status"] in ("ok", "unavailable"), r
        if r["status"] == "ok":
            assert r["checked"]


# ------------------------------------------------------------------------------- threads, load, stability

def _blas_threads():
    return [lib["threads"] for lib in timing.blas_threads() if lib["user_api"] == "blas"]


def test_compare_runs_one_thread_per_tool_and_restores_the_libraries():
    """Multi-threaded BLAS on a loaded machine made tcnb look 24x slower than JAX: compare() now caps
    every tool at one thread by default, records it, and gives the libraries back their threads."""
    pytest.importorskip("threadpoolctl")
    f = tcnb.parse(LOGREG)["f"]
    before = _blas_threads()
    torch = pytest.importorskip("torch") if HAS_TORCH else None
    torch_before = torch.get_num_threads() if torch else None
    seen = {}
    orig = C._run_point

    def spy(tool, *a, **kw):  # the thread counts while each tool is timed
        seen[tool.tool] = (_blas_threads(), torch.get_num_threads() if torch else None)
        return orig(tool, *a, **kw)
    import unittest.mock
    with unittest.mock.patch.object(C, "_run_point", spy):
        res = compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"],
                      baselines=["autograd"] + (["torch"] if torch else []), target_s=0.01, progress=False)
    assert all(n == 1 for n in seen["tcnb"][0]) and seen["tcnb"][0]
    if torch:
        assert seen["torch"][1] == 1
        assert torch.get_num_threads() == torch_before
    assert _blas_threads() == before
    info = res.meta["threads"]
    assert info["requested"] == 1 and info["cores"] >= 1
    assert {r["tool"]: r["threads"] for r in res.records}["tcnb"] == 1
    assert "1 thread per tool" in res.context() and "load average" in res.context()
    load = res.meta["load"]
    assert len(load["before"]) == 3 and len(load["after"]) == 3


def test_threads_none_leaves_the_libraries_alone_and_says_so():
    pytest.importorskip("threadpoolctl")
    f = tcnb.parse(LOGREG)["f"]
    before = _blas_threads()
    res = compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"], baselines=[],
                  threads=None, target_s=0.01, progress=False)
    assert res.records[0]["threads"] == max(before)
    assert any("threads were not limited" in c for c in res.caveats)
    with pytest.raises(ValueError, match="threads"):
        compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"], baselines=[], threads=0,
                progress=False)


_XLA_PROBE = r"""
import glob, json, os, sys
from tcnb.bench.timing import ThreadLimits
import jax.numpy as jnp
with ThreadLimits({threads}, frameworks=["jax"]) as lim:
    pass
(jnp.ones((64, 64)) @ jnp.ones((64, 64))).block_until_ready()
names = [open(t + "/comm").read().strip() for t in glob.glob("/proc/self/task/*")]
masks = {{len(os.sched_getaffinity(int(t.rsplit("/", 1)[1]))) for t in glob.glob("/proc/self/task/*")}}
print(json.dumps({{"info": lim.info, "pool": names.count("tf_XLAEigen"), "masks": sorted(masks),
                  "cores": len(os.sched_getaffinity(0))}}))
"""


def _xla_probe(threads):
    import json
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", _XLA_PROBE.format(threads=threads)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(600)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread pools read from /proc (Linux)")
def test_xla_thread_pool_is_sized_by_the_limit_when_jax_starts_inside_it():
    limited, free = _xla_probe(1), _xla_probe(None)
    if free["pool"] == 0:
        pytest.skip("this jaxlib names no 'tf_XLAEigen' threads; cannot count its pool")
    if free["cores"] < 2:
        pytest.skip("one usable core: every pool has one thread")
    assert limited["info"]["xla"] == 1
    assert limited["pool"] == 1 and free["pool"] >= 2  # on this 2-core machine: 1 against 2
    assert free["info"]["xla"] is None and "not limited" in free["info"]["xla_note"]
    assert limited["masks"] == [limited["cores"]]  # every thread got all its cores back


def test_xla_limit_after_jax_started_is_reported_not_pretended(monkeypatch):
    jax = pytest.importorskip("jax")
    jax.devices()  # started (as in any process that used JAX before compare)
    f = tcnb.parse(LOGREG)["f"]

    def run():
        res = compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"], baselines=["jax"],
                      target_s=0.01, progress=False)
        rec = [r for r in res.records if r["tool"] == "jax"][0]
        assert rec["status"] == "ok"
        return res, rec
    monkeypatch.setattr(timing, "_XLA_STARTED_WITH", None)  # someone else started JAX
    res, rec = run()
    assert rec["threads"] is None
    assert any("JAX started before compare()" in c for c in res.caveats)
    monkeypatch.setattr(timing, "_XLA_STARTED_WITH", 1)  # an earlier compare() started it, limited
    res, rec = run()
    assert rec["threads"] == 1 and not any("XLA" in c for c in res.caveats)


def _fake_result(q1, med, q3, load=None, cores=2, threads=1):
    rec = {k: None for k in C.FIELDS}
    rec.update(tool="tcnb", backend="numpy", label="tcnb (numpy)", kind="grad", x_name="n", x=10,
               status="ok", median_s=med, min_s=q1, max_s=q3, q1_s=q1, q3_s=q3, repeats=5, number=1,
               first_s=med, sizes={"n": 10})
    meta = {"x_name": "n", "kind": "grad", "of": "f", "wrt": "w",
            "threads": {"requested": threads, "cores": cores}, "load": {"before": load, "after": load}}
    return C.BenchResult([rec], meta)


def test_unstable_timings_and_a_busy_machine_are_flagged_in_the_table():
    calm = _fake_result(0.98e-3, 1e-3, 1.02e-3, load=[0.2, 0.2, 0.2])
    assert calm.caveats == [] and "~" not in calm.table()
    shaky = _fake_result(0.5e-3, 1e-3, 2e-3, load=[3.0, 2.0, 1.0])
    text = shaky.table()
    assert "~1.00 ms" in text and "~ unstable: interquartile range > 25% of the median" in text
    cav = shaky.caveats
    assert any("the machine was busy: load average 3.0 on 2 usable cores" in c for c in cav)
    assert any("unstable timings" in c and "tcnb (numpy) at n=10 (150%)" in c for c in cav)
    assert "Caution" in shaky._repr_html_() and "caution: the machine was busy" in repr(shaky)


def test_missing_bench_extras_say_how_to_install_them(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "pandas", None)
    f = tcnb.parse(LOGREG)["f"]
    res = compare(f, "w", "grad", sizes={"n": [4], "m": "2*n"}, backends=["numpy"], baselines=["torch"],
                  target_s=0.01, progress=False)
    rec = [r for r in res.records if r["tool"] == "torch"][0]
    assert rec["status"] == "unavailable" and "pip install 'tcnb[bench]'" in rec["reason"]
    with pytest.raises(tcnb.TcnbError, match=r"pandas.*pip install 'tcnb\[bench\]'"):
        res.to_pandas()


def test_plot_goes_through_pyplot_and_files_do_not(logreg_result, tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    plt.close("all")
    fig = logreg_result.plot()
    assert plt.get_fignums() == [fig.number]  # a pyplot figure: the inline backend and plt.show() see it
    plt.close("all")
    logreg_result.savefig(tmp_path / "p.png")
    logreg_result._repr_html_()
    paper.figure({"a": logreg_result}, pyplot=False)
    assert plt.get_fignums() == []  # files and the HTML view leave nothing for pyplot to show
    big = paper.figure({"a": logreg_result, "b": logreg_result})
    assert len(big.axes) == 2 and plt.get_fignums() == [big.number]
    plt.close("all")
