"""backend="dask": lazy, chunked evaluation on a real dask.distributed cluster, against NumPy.

A LocalCluster (2 worker processes, 1 thread each, 1 GiB each) runs for the module. Checked:
- the derivative corpus (values, gradients, Hessians): every value and a fourth of the entries'
  derivatives on the cluster (the mode and compression rotating), and every case of orders 1
  and 2 in every mode, compressed (and dense in one mode each, rotating), on
  Dask's synchronous scheduler (the same graphs, without the cluster's per-task cost);
- every function of the language (records, element-wise, binary, tuple, SPD forms, functions
  written as products, slices): value and first derivative, inputs chunked on every axis; every
  value again on the cluster; Hessian-vector products; structured() factors, cores and matvec;
- that results are lazy (a dask array, nothing computed until .compute()), and that the logistic
  Hessian's graph contracts the chunked rows with matmul/tensordot/symmetric-product blocks and a
  tree reduction, with no einsum layer;
- the record (ownership, to-host, cluster description) and the clear error for what dask lacks.
"""
from __future__ import annotations

import functools
import os
import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

sys.path.insert(0, os.path.dirname(__file__))

import dask  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

import corpus  # noqa: E402  (JAX in float64; the corpus' programs and inputs)
import tcnb  # noqa: E402
from conftest import concrete_shape, random_array  # noqa: E402
from tcnb.backend.namespace import get_backend, get_namespace  # noqa: E402
from tcnb.primitives import BINARY_FUNCTIONS, ELEMENTWISE_FUNCTIONS, LOWERED, REGISTRY, TUPLE_FUNCTIONS  # noqa: E402

MODES = ("forward", "reverse", "cross-country")
COMBOS = [(m, c) for m in MODES for c in (True, False)]
RTOL, ATOL = 1e-9, 1e-11
LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nv: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))\n"


@pytest.fixture(scope="module")
def client():
    """A real cluster: two worker processes with bounded memory; shut down after the module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's start-up notes (ports, resource limits)
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           memory_limit="1GiB", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", da.PerformanceWarning)  # tiny test arrays split in tiny chunks
        yield


def rows(a):
    """A corpus array as a dask array in two chunks along its first axis (0-d arrays stay NumPy)."""
    if isinstance(a, np.ndarray) and a.ndim and a.shape[0] >= 2:
        return da.from_array(a, chunks=((a.shape[0] + 1) // 2,) + a.shape[1:])
    return a


def every_axis(a):
    """A dask array in two chunks along every axis of length 2 or more."""
    if isinstance(a, np.ndarray) and a.ndim:
        return da.from_array(a, chunks=tuple((s + 1) // 2 for s in a.shape))
    return a


def derivative(name, w, order, mode, compress):
    e = corpus.by_name(name)
    p = corpus.program(name)
    f, wv = p[e.of], p[w]
    if order == 1:
        return (tcnb.grad if f.rank == 0 else tcnb.jacobian)(f, wv, mode=mode, compress=compress)
    if f.rank == 0:
        return tcnb.hessian(f, wv, mode=mode, compress=compress)
    return tcnb.derivative(f, wv, order=2, mode=mode, compress=compress)


def compare(cases, **compute):
    """cases: [(label, expr, numpy arrays, dask arrays)]; every lazy result computed in one call,
    each checked against the numpy backend; a list of the failures' labels and reasons."""
    lazy, want, labels = [], [], []
    for label, expr, arrays, chunked in cases:
        out = expr.compile("dask")(**chunked)
        assert isinstance(out, da.Array), f"{label}: {type(out).__name__}, not a lazy dask array"
        lazy.append(out)
        want.append(expr.evaluate(**arrays))
        labels.append(label)
    got = dask.compute(*lazy, **compute)
    bad = []
    for label, g, w in zip(labels, got, want):
        try:
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
        except AssertionError as exc:
            bad.append(f"{label}: {str(exc).splitlines()[3] if len(str(exc).splitlines()) > 3 else exc}")
    return bad


# ---------------------------------------------------------------------------- the corpus

def test_corpus_sample_on_the_cluster(client):
    """Every entry's value, and for every fourth entry a derivative (its first variable, order 2
    where asked; the mode and the compression rotating), computed by the workers."""
    cases = []
    for k, e in enumerate(corpus.CORPUS):
        args = corpus.eval_args(e.name)
        chunked = {n: rows(a) for n, a in args.items()}
        cases.append((f"{e.name} value", corpus.program(e.name)[e.of], args, chunked))
        if k % 4 == 0:
            w = next(iter(e.wrt))
            mode, compress = COMBOS[(k // 4) % len(COMBOS)]
            order = min(2, e.wrt[w])
            cases.append((f"{e.name} d{order}/d{w}^{order} {mode} {compress}",
                          derivative(e.name, w, order, mode, compress), args, chunked))
    assert not compare(cases)


@pytest.mark.parametrize("mode", MODES)
def test_corpus_every_case(mode):
    """Every corpus case in this mode, inputs chunked along their rows: first derivatives and
    Hessians compressed, and dense in one of the three modes (rotating over the cases, so each
    dense derivative is checked once). Dask's synchronous scheduler: the graphs the cluster
    runs, without its per-task cost."""
    cases = []
    for k, (e, w) in enumerate(corpus.CASES):
        args = corpus.eval_args(e.name)
        chunked = {n: rows(a) for n, a in args.items()}
        for order in range(1, min(2, e.wrt[w]) + 1):
            for compress in (True, False):
                if not compress and (k + order) % len(MODES) != MODES.index(mode):
                    continue
                cases.append((f"{e.name} d{order}/d{w}^{order} {compress}",
                              derivative(e.name, w, order, mode, compress), args, chunked))
    assert len(cases) > 250
    assert not compare(cases, scheduler="sync")


def test_hvp_matches_numpy(client):
    """tcnb.hvp on dask, for the corpus' scalar entries (a sample) and the logistic loss."""
    cases = []
    for e in [e for e in corpus.CORPUS if corpus.is_scalar(e.name)][::4]:
        p = corpus.hvp_program(e.name)
        w = next(iter(e.wrt))
        args = corpus.eval_args(e.name, with_directions=True)
        chunked = {n: rows(a) for n, a in args.items()}
        cases.append((f"{e.name} hvp", tcnb.hvp(p[e.of], p[w], p[corpus.direction(w)]), args, chunked))
    assert len(cases) >= 8
    assert not compare(cases)


# ---------------------------------------------------------------------------- every function

# functions written as products, binary, tuple and SPD forms, slices: one program each
PROGRAMS = {
    "sum": "x: R[n, k]\nf = sum(x, 1)", "mean": "x: R[n, k]\nf = mean(x, 0)",
    "trace": "A: R[n, n]\nf = trace(A)", "diag": "v: R[n]\nf = diag(v)",
    "diagonal": "A: R[n, n]\nf = diagonal(A)", "norm2": "A: R[n, k]\nf = norm2(A)",
    "dot": "a: R[n]\nb: R[n]\nf = dot(a, b)", "outer": "a: R[n]\nb: R[k]\nf = outer(a, b)",
    "eye": "A: R[n, n]\nf = A - eye(n)", "ones": "x: R[n]\nf = sum(x * ones(n))",
    "einsum": 'A: R[n, k]\nx: R[k]\nf = einsum("ij,j->i", A, x)', "ravel": "A: R[n, k]\nf = ravel(A)",
    "repeat": "x: R[n]\nf = repeat(x, 2)", "tile": "x: R[n]\nf = tile(x, 2)",
    "var": "x: R[n, k]\nf = var(x, 0)", "std": "x: R[n, k]\nf = std(x, 1)",
    "flip": "x: R[n, k]\nf = flip(x, 0)", "roll": "x: R[n]\nf = roll(x, 1)",
    "concatenate": "a: R[n]\nb: R[k]\nf = concatenate([a, b])", "stack": "a: R[n]\nb: R[n]\nf = stack([a, b])",
    "logaddexp": "a: R[n]\nb: R[n]\nf = logaddexp(a, b)", "arctan2": "a: R[n]\nb: R[n]\nf = arctan2(a, b)",
    "eigh": "S: R[n, n]\nw, V = eigh(S)\nf = V * w", "svd": "A: R[n, k]\nU, s, Vt = svd(A)\nf = (U * s) @ Vt + U @ Vt",
    "logdet (SPD)": "P: SPD[n]\nf = logdet(P)", "solve (SPD)": "P: SPD[n]\nb: R[n]\nf = solve(P, b)",
    "slices": "x: R[n]\nf = x[1:] * x[:-1]",
}
KINDS = {"S": "symmetric", "P": "spd"}
SIZES = {"n": 4, "k": 3, "m": 3}


def _language_cases():
    out = []  # (label, program, kinds of the variables)
    for name in sorted(REGISTRY):
        rec = REGISTRY[name]
        prog = tcnb.parse(rec.example)
        kinds = {arg.name: {"invertible": "spd", "spd": "spd", "symmetric": "symmetric",
                            "triangular": "triangular"}.get(op.sample, "normal")
                 for arg, op in zip(prog["f"].node.args, rec.operands)}
        out.append((name, prog, kinds))
    for name in sorted(ELEMENTWISE_FUNCTIONS):
        out.append((name, tcnb.parse(f"x: R[n]\nf = {name}(x)"), {"x": ELEMENTWISE_FUNCTIONS[name].domain}))
    for name, src in PROGRAMS.items():
        out.append((name, tcnb.parse(src), KINDS))
    return out


def _inputs(prog, kinds, seed):
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, v in prog.variables.items():
        shape = concrete_shape(v.shape, SIZES)
        kind = kinds.get(name, "spd" if v.node.structure else "normal")
        if isinstance(kind, tuple):  # inside an element-wise function's domain
            arrays[name] = rng.uniform(*kind, shape)
        else:
            arrays[name] = random_array(shape, rng, kind=kind)
    return arrays


def _function_cases(derivatives: bool, chunk):
    names = set(REGISTRY) | set(ELEMENTWISE_FUNCTIONS) | set(LOWERED) | set(BINARY_FUNCTIONS) | set(TUPLE_FUNCTIONS)
    cases, covered = [], set()
    for k, (name, prog, kinds) in enumerate(_language_cases()):
        covered.add(name.split(" ")[0])
        arrays = _inputs(prog, kinds, k)
        chunked = {n: chunk(a) for n, a in arrays.items()}
        f = prog["f"]
        cases.append((f"{name} value", f, arrays, chunked))
        for w in prog.variables if derivatives else ():
            d = (tcnb.grad if f.rank == 0 else tcnb.jacobian)(f, prog[w])
            cases.append((f"{name} d/d{w}", d, arrays, chunked))
    assert names <= covered, f"functions without a case: {sorted(names - covered)}"
    return cases


def test_every_function_of_the_language():
    """Value and first derivative (w.r.t. every variable) of every function, inputs chunked on
    every axis (synchronous scheduler)."""
    assert not compare(_function_cases(True, every_axis), scheduler="sync")


def test_every_function_runs_on_the_cluster(client):
    """Every function's value computed by the workers (tcnb's own block functions — linear
    algebra, special functions, take_along_axis — travel to them and run there)."""
    assert not compare(_function_cases(False, rows))


def test_structured_factors_cores_and_matvec(client):
    """structured() on dask: lazy factors whose cores and matvec equal NumPy's; dense() equals
    NumPy's too (a pattern with a diagonal through the functional embed_diagonal: no write in place)."""
    prog = tcnb.parse("T: R[n, m]\nU: R[n, k]\nV: R[m, k]\ng = sum((T - U @ V.T) ** 2)\n" + LOGREG)
    rng = np.random.default_rng(3)
    arrays = {"T": rng.standard_normal((6, 8)), "U": rng.standard_normal((6, 2)),
              "V": rng.standard_normal((8, 2)), "X": rng.standard_normal((8, 3)),
              "y": rng.choice([-1.0, 1.0], 8), "w": rng.standard_normal(3)}
    for of, wrt, names in (("g", "U", "TUV"), ("g", "V", "TUV"), ("f", "w", "Xyw")):
        H = tcnb.hessian(prog[of], prog[wrt])
        args = {n: arrays[n] for n in names}
        want = H.structured(**args)
        got = H.structured(backend="dask", **{n: rows(a) for n, a in args.items()})
        assert all(isinstance(a, da.Array) for t in got.factors for a, _ in t)
        v = rng.standard_normal(want.shape[want.split:])
        computed = dask.compute(got.cores, got @ v)
        for c_got, c_want in zip(computed[0], want.cores):
            np.testing.assert_allclose(c_got, c_want, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(computed[1], want @ v, rtol=RTOL, atol=ATOL)
        dense = got.dense()
        assert isinstance(dense, da.Array)
        np.testing.assert_allclose(dense.compute(), want.dense(), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------- lazy, and how

@functools.lru_cache(maxsize=None)
def _logreg(m=400, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"X": rng.standard_normal((m, n)), "y": rng.choice([-1.0, 1.0], m), "w": rng.standard_normal(n),
            "v": rng.standard_normal(n)}


def test_results_are_lazy_until_compute(client):
    """Calling the compiled function builds a graph and runs nothing (no task on Dask's local
    scheduler, no key on the cluster's); .compute() then runs it, on the cluster."""
    prog = tcnb.parse(LOGREG)
    a = _logreg()
    X, y = da.from_array(a["X"], chunks=(100, 6)), da.from_array(a["y"], chunks=100)
    H = tcnb.hessian(prog["f"], prog["w"])
    ran = []
    with dask.config.set(scheduler="sync"), Callback(pretask=lambda key, dsk, state: ran.append(key)):
        out = H.compile("dask")(X=X, y=y, w=a["w"])  # w: a small NumPy operand
        assert isinstance(out, da.Array) and out.shape == (6, 6)
        assert ran == []
        out.compute()
        assert ran  # the counter does see computations
    out = H.compile("dask")(X=X, y=y, w=a["w"])
    on_scheduler = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.tasks)))
    assert not on_scheduler & {str(k) for k in out.__dask_graph__()} and not on_scheduler & set(out.__dask_graph__())
    np.testing.assert_allclose(out.compute(), H.evaluate(X=a["X"], y=a["y"], w=a["w"]), rtol=RTOL)


@pytest.mark.parametrize("mode,compress", COMBOS)
def test_logistic_hessian_graph_is_blockwise_products(client, mode, compress):
    """The logistic Hessian over row chunks: matmul / tensordot — or, for Xᵀ diag(d) X, one
    symmetric product (syrk) — per block and a tree reduction over the chunked rows (partial
    sums, then an aggregate), no einsum layer; chunks along the columns too give the same values."""
    prog = tcnb.parse(LOGREG)
    a = _logreg()
    H = tcnb.hessian(prog["f"], prog["w"], mode=mode, compress=compress)
    X, y = da.from_array(a["X"], chunks=(50, 6)), da.from_array(a["y"], chunks=50)
    out = H.compile("dask")(X=X, y=y, w=a["w"])
    layers = [name.rsplit("-", 1)[0] for name in out.__dask_graph__().layers]
    assert not [l for l in layers if "einsum" in l], layers
    assert {"matmul", "tensordot", "gram_block"} & set(layers), layers
    assert any("aggregate" in l for l in layers) or any(l == "sum" for l in layers), layers
    both = H.compile("dask")(X=da.from_array(a["X"], chunks=(100, 4)), y=y, w=a["w"])
    want = H.evaluate(X=a["X"], y=a["y"], w=a["w"])
    got, got_both = dask.compute(out, both)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    np.testing.assert_allclose(got_both, want, rtol=RTOL)


def test_float32_stays_float32(client):
    prog = tcnb.parse(LOGREG)
    a = {k: v.astype(np.float32) for k, v in _logreg().items() if k != "v"}
    g = tcnb.grad(prog["f"], prog["w"])
    out = g.compile("dask")(X=da.from_array(a["X"], chunks=(100, 6)), y=da.from_array(a["y"], chunks=100), w=a["w"])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.compute(), g.evaluate(**a), rtol=1e-4)


# ---------------------------------------------------------------------------- the record, errors

def test_record_and_helpers(client):
    b = get_backend("dask")
    assert b.traceable and b.chunked and not b.host
    x = da.ones((4, 3), chunks=2)
    assert b.owns(x) and not b.owns(np.ones(3)) and tcnb.backend.namespace.backend_of(x) is b
    host = b.to_host(x)
    assert type(host) is np.ndarray and host.shape == (4, 3)
    assert "2 workers" in b.describe() and client.scheduler.address in b.describe()
    persisted = (x * 2).persist()
    b.sync(persisted)  # waits for the persisted futures
    assert all(f.status == "finished" for f in distributed.futures_of(persisted))
    ran = []
    from dask.callbacks import Callback
    with dask.config.set(scheduler="sync"), Callback(pretask=lambda key, dsk, state: ran.append(key)):
        b.sync(x.sum())  # a lazy graph: computed, so a timing that syncs measures the work
    assert ran


def test_what_dask_lacks_is_a_clear_error():
    xp = get_namespace("dask")
    assert not hasattr(xp, "no_such_function")  # an AttributeError, so probing namespaces works
    with pytest.raises(tcnb.errors.BackendUnavailableError, match="backend 'dask' has no 'no_such_function'"):
        xp.no_such_function
    with pytest.raises(tcnb.errors.BackendUnavailableError, match="backend 'dask' has no linalg.qr"):
        xp.linalg.qr
    with pytest.raises(tcnb.errors.BackendUnavailableError, match="thin SVD"):
        xp.linalg.svd(da.ones((4, 3)), full_matrices=True)
    with pytest.raises(tcnb.errors.BackendUnavailableError, match="in place"):
        xp.lib.stride_tricks


def test_symmetric_product_per_block(client):
    """_rt.gram on dask: aᵀ diag(d) a per row block (syrk where the block's d >= 0, the check made
    inside the task), summed; d of mixed signs, non-negative, or None; a chunked on both axes."""
    rt = get_backend("dask").runtime()
    xp = get_namespace("dask")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 7))
    ad = da.from_array(a, chunks=(70, 4))
    for d in (rng.standard_normal(300), rng.uniform(0, 2, 300), None):
        want = a.T @ a if d is None else a.T @ (a * d[:, None])
        out = rt.gram(xp, ad, None if d is None else da.from_array(d, chunks=50))
        assert isinstance(out, da.Array)
        assert "gram_block" in {k.rsplit("-", 1)[0] for k in out.__dask_graph__().layers}
        np.testing.assert_allclose(out.compute(), want, rtol=1e-12, atol=1e-12)


def test_compare_has_a_dask_row_that_times_the_computation():
    """compare(..., backends=("numpy", "dask")): a "tcnb (dask)" row, checked against NumPy; its
    time includes computing the graph (the record's sync computes a lazy result), so it is not the
    microseconds of building one."""
    from tcnb.bench import compare
    f = tcnb.parse(LOGREG)["f"]
    with dask.config.set(scheduler="sync"):
        res = compare(f, wrt="w", kind="hessian", sizes={"n": [3], "m": "2*n"}, backends=("numpy", "dask"),
                      baselines=(), target_s=0.005, progress=False)
    by = {r["label"]: r for r in res.records}
    r = by["tcnb (dask)"]
    assert r["status"] == "ok" and r["checked"] and r["max_err"] < 1e-12, r
    assert r["median_s"] > 0
