"""Standalone generated code (issue 16): ``expr.to_source(standalone=True)``.

The module must need only NumPy (or CuPy), read every size from its arguments (no planning size
such as 100 baked in), carry the runtime helpers it calls and a docstring with the formula. The
main test writes the modules of the whole derivative corpus and of the index-map corpus (values,
Jacobians, Hessians) to a temporary folder and runs them in one ``python -I -S`` process whose path
holds the standard library and NumPy only — so ``import tcnb`` fails there, which the test checks —
at sizes different from the planning sizes, and compares with ``expr.evaluate``.
"""
from __future__ import annotations

import ast
import functools
import inspect
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

sys.path.insert(0, os.path.dirname(__file__))

import corpus  # noqa: E402
import corpus_index_maps as cim  # noqa: E402
import helpers_calculus as hc  # noqa: E402
import test_hypothesis_programs as hp  # noqa: E402  (its random-program strategy)

import tcnb  # noqa: E402
from tcnb.backend import available_backends, standalone  # noqa: E402

# scipy: only inside runtime._scipy_linalg's try/except ImportError (LU solves, expm), so a module
# runs without it on NumPy alone
ALLOWED_IMPORTS = {"math", "operator", "numpy", "cupyx", "scipy"}


# ------------------------------------------------------------------ the expressions under test

def _bump(sizes: dict, by: int) -> dict:
    return {k: v + by for k, v in sizes.items()}


def _corpus_cases():
    """(id, program getter, expression getter, kinds, accept, run sizes 1, run sizes 2) per corpus
    entry: its value, its derivative by the first variable, and the Hessian when it is a scalar."""
    out = []
    for e in corpus.CORPUS:
        w = next(iter(e.wrt))
        kinds = ["value", "jacobian"] + (["hessian"] if corpus.is_scalar(e.name) else [])
        for kind in kinds:
            out.append((f"corpus-{e.name}-{kind}-{w}", "corpus", e.name, kind, w))
    for c in cim.CASES:
        out.append((f"maps-{c.name}-value", "maps", c.name, "value", None))
        for w in c.wrt:
            out.append((f"maps-{c.name}-jacobian-{w}", "maps", c.name, "jacobian", w))
        for w in c.hess_wrt:
            out.append((f"maps-{c.name}-hessian-{w}", "maps", c.name, "hessian", w))
    return out


CASES = _corpus_cases()


@functools.lru_cache(maxsize=None)
def _map_program(name):
    return tcnb.parse(cim.by_name(name).src)


def _setup(source, name, kind, w):
    """(program, expression, input kinds, accept, planning sizes)."""
    if source == "corpus":
        e = corpus.by_name(name)
        prog, of, kinds, accept, sizes = corpus.program(name), e.of, e.inputs, e.accept, e.all_sizes
    else:
        c = cim.by_name(name)
        prog, kinds, accept, sizes = _map_program(name), c.kinds, None, c.sizes
        of = c.loss if kind == "hessian" else c.of
    f = prog[of]
    expr = {"value": lambda: f, "jacobian": lambda: tcnb.jacobian(f, w),
            "hessian": lambda: tcnb.hessian(f, w)}[kind]()
    return prog, expr, kinds, accept, sizes


def _inputs(prog, expr, kinds, accept, sizes, seed):
    """Random arrays for the expression's variables at ``sizes`` and the sizes evaluate needs."""
    rng = np.random.default_rng(hc.seed_for("standalone", seed))
    shapes = {v: hc.resolve_shape(prog[v].shape, sizes) for v in prog.variables}
    arrays = hc.random_inputs(shapes, kinds or {}, rng, accept=accept)
    names = set(prog.dims)
    for x in prog.values():
        names |= {str(s) for d in x.shape for s in getattr(d, "free_symbols", ())}
    dims = {d: sizes[d] for d in names if d in sizes}
    return {v: arrays[v] for v in expr.variables}, dims


def _keyword_sizes(source: str, fn: str) -> list:
    namespace: dict = {}
    exec(compile(source, f"<standalone {fn}>", "exec"), namespace)
    sig = inspect.signature(namespace[fn])
    return [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY and p.name != "xp"]


# ------------------------------------------------------------------ a process without tcnb

RUNNER = r'''
import importlib.util, json, sys, traceback
sys.path.append(sys.argv[2])          # the standard library and NumPy, nothing else
try:
    import tcnb
    importable = tcnb.__file__
except ImportError:
    importable = None
import numpy
results = {"tcnb": importable, "numpy": numpy.__file__, "jobs": {}}
for job in json.load(open(sys.argv[1])):
    try:
        spec = importlib.util.spec_from_file_location(job["module"], job["path"])
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        data = numpy.load(job["inputs"])
        args = [data["a%d" % k] for k in range(job["nargs"])]
        out = getattr(mod, job["fn"])(*args, **job["sizes"])
        numpy.save(job["output"], out)
        results["jobs"][job["id"]] = "ok"
    except Exception:
        results["jobs"][job["id"]] = traceback.format_exc()
results["tcnb_loaded"] = sorted(m for m in sys.modules if m == "tcnb" or m.startswith("tcnb."))
json.dump(results, open(sys.argv[3], "w"))
'''


def numpy_only_path(folder: pathlib.Path) -> str:
    """A folder holding (links to) NumPy and its bundled libraries only."""
    folder.mkdir()
    root = pathlib.Path(np.__file__).resolve().parent
    for p in [root, *root.parent.glob("numpy.libs")]:
        (folder / p.name).symlink_to(p, target_is_directory=True)
    return str(folder)


def run_isolated(folder: pathlib.Path, jobs: list) -> dict:
    """Run each job (module source, function, arrays, keyword sizes) in one ``python -I -S``
    process; returns the runner's results (outputs loaded back as arrays)."""
    specs = []
    for k, job in enumerate(jobs):
        path = folder / f"mod_{k}.py"
        path.write_text(job["source"], encoding="utf-8")
        np.savez(folder / f"in_{k}.npz", **{f"a{q}": a for q, a in enumerate(job["args"])})
        specs.append({"id": job["id"], "module": f"mod_{k}", "path": str(path), "fn": job["fn"],
                      "inputs": str(folder / f"in_{k}.npz"), "nargs": len(job["args"]),
                      "sizes": job["sizes"], "output": str(folder / f"out_{k}.npy")})
    (folder / "jobs.json").write_text(json.dumps(specs))
    (folder / "runner.py").write_text(RUNNER)
    site = numpy_only_path(folder / "site")
    proc = subprocess.run([sys.executable, "-I", "-S", str(folder / "runner.py"), str(folder / "jobs.json"),
                           site, str(folder / "results.json")], capture_output=True, text=True,
                          cwd=str(folder), timeout=900)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((folder / "results.json").read_text())
    for k, spec in enumerate(specs):
        if results["jobs"].get(spec["id"]) == "ok":
            results["jobs"][spec["id"]] = np.load(spec["output"])
    return results


def _job(expr, prog, kinds, accept, plan_sizes, run_sizes, job_id, seed):
    """The standalone module planned at ``plan_sizes`` (None: the default) and its run at ``run_sizes``,
    with the reference value from evaluate."""
    src = expr.to_source(standalone=True) if plan_sizes is None else expr.to_source(standalone=True, **plan_sizes)
    fn = standalone.function_name(expr.name or "tcnb_fn")
    arrays, dims = _inputs(prog, expr, kinds, accept, run_sizes, seed)
    order = [v.name for v in expr.compile("numpy").vars]
    keywords = _keyword_sizes(src, fn)
    return {"id": job_id, "source": src, "fn": fn, "args": [arrays[n] for n in order],
            "sizes": {k: run_sizes[k] for k in keywords}, "expected": expr.evaluate(**arrays, **dims)}


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """Every case twice — planned at the default sizes (100) and run at the corpus sizes, planned at
    the corpus sizes and run at larger ones — all in one process without tcnb."""
    jobs, failures = [], {}
    for case_id, source, name, kind, w in CASES:
        try:
            prog, expr, kinds, accept, sizes = _setup(source, name, kind, w)
            jobs.append(_job(expr, prog, kinds, accept, None, sizes, case_id + "@default", case_id))
            jobs.append(_job(expr, prog, kinds, accept, sizes, _bump(sizes, 2), case_id + "@bumped", case_id))
        except Exception as exc:  # noqa: BLE001 - reported by the case's own test
            failures[case_id] = exc
    results = run_isolated(tmp_path_factory.mktemp("standalone"), jobs)
    return results, {j["id"]: j for j in jobs}, failures


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("case_id", [c[0] for c in CASES])
def test_standalone_module_matches_evaluate_without_tcnb(isolated, case_id):
    results, jobs, failures = isolated
    if case_id in failures:
        raise failures[case_id]
    for run in ("@default", "@bumped"):
        job = jobs[case_id + run]
        got = results["jobs"][job["id"]]
        assert not isinstance(got, str), f"{job['id']} failed in the isolated process:\n{got}"
        assert got.dtype == job["expected"].dtype
        hc.assert_close(got, job["expected"], 1e-9, job["id"])


def test_the_isolated_process_has_no_tcnb(isolated):
    results, jobs, _ = isolated
    assert results["tcnb"] is None, f"tcnb was importable in the isolated process: {results['tcnb']}"
    assert results["tcnb_loaded"] == []
    assert len(jobs) >= 2 * 200  # every corpus entry's value, derivative, Hessian; every map case


def test_modules_import_only_numpy_and_the_standard_library(isolated):
    _, jobs, _ = isolated
    for job in jobs.values():
        tree = ast.parse(job["source"])
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert names <= ALLOWED_IMPORTS, (job["id"], names)
        assert not any(isinstance(n, ast.ImportFrom) and n.level for n in ast.walk(tree)), job["id"]


def test_no_planning_size_is_baked_into_the_code(isolated):
    """Planned at 100 (the default), no module's code holds the number 100 (docstrings aside)."""
    _, jobs, _ = isolated
    for job in jobs.values():
        if not job["id"].endswith("@default"):
            continue
        tree = ast.parse(job["source"])
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        baked = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docs
                 and (n.value == 100 or n.value in (99, 199, 101))]
        assert not baked, f"{job['id']}: planning sizes at lines {baked}\n{job['source']}"


# ------------------------------------------------------------------ one module, looked at closely

LOGREG = """
X: R[m, n]
y: R[m]
w: R[n]
f = sum(log(exp(-y * (X @ w)) + 1))
"""


def _load(source: str, fn: str):
    namespace: dict = {"__name__": "standalone_under_test"}
    exec(compile(source, f"<standalone {fn}>", "exec"), namespace)
    return namespace[fn], namespace


def test_docstring_carries_the_formula_the_derivative_and_the_planning_sizes():
    prog = tcnb.parse(LOGREG)
    H = tcnb.hessian(prog["f"], "w")
    src = H.to_source(standalone=True, m=40, n=7)
    doc = ast.get_docstring(ast.parse(src))
    assert "the Hessian of f with respect to w" in doc
    assert H.einstein().splitlines()[-1] in doc
    assert H.matrix() in doc
    assert "Contraction order planned for sizes m = 40, n = 7; correct for any sizes." in doc
    assert "m = X.shape[0]" in doc and "n = X.shape[1]" in doc
    assert "Hessian_w_f(X, w, y, *, xp=None)" in doc
    assert "Contraction order planned for sizes m = 100, n = 100" in H.to_source(standalone=True)


def test_sizes_come_from_the_arguments_and_shapes_are_checked():
    prog = tcnb.parse(LOGREG)
    H = tcnb.hessian(prog["f"], "w")
    fn, ns = _load(H.to_source(standalone=True), "Hessian_w_f")
    rng = np.random.default_rng(0)
    for m, n in ((3, 2), (17, 5)):
        X, y, w = rng.normal(size=(m, n)), rng.choice([-1.0, 1.0], size=m), rng.normal(size=n)
        np.testing.assert_allclose(fn(X, w, y), H.evaluate(X=X, y=y, w=w), rtol=1e-12)
        np.testing.assert_allclose(fn(X=X, y=y, w=w), H.evaluate(X=X, y=y, w=w), rtol=1e-12)
    with pytest.raises(ns["BindingError"], match=r"w has shape \(4,\), expected \(n\) = \(5,\)"):
        fn(X, rng.normal(size=4), y)
    with pytest.raises(ValueError, match="2 axes"):  # BindingError is a ValueError
        fn(X, w[:, None], y)


def test_float32_in_float32_out():
    prog = tcnb.parse(LOGREG)
    g = tcnb.grad(prog["f"], "w")
    fn, _ = _load(g.to_source(standalone=True), standalone.function_name(g.name))
    rng = np.random.default_rng(1)
    arrays = {"X": rng.normal(size=(6, 3)).astype(np.float32), "y": np.ones(6, np.float32),
              "w": rng.normal(size=3).astype(np.float32)}
    out = fn(**arrays)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, g.evaluate(**arrays), rtol=1e-5)
    assert fn(**{k: v.astype(np.float64) for k, v in arrays.items()}).dtype == np.float64


def test_contraction_order_is_planned_for_the_given_sizes_and_correct_at_any():
    """A @ B @ C: (A @ B) @ C or A @ (B @ C) depending on the planning sizes; both modules give
    the value at sizes neither was planned for."""
    prog = tcnb.parse("A: R[a, b]\nB: R[b, c]\nC: R[c, d]\nr = A @ B @ C\n")
    r = prog["r"]
    left = r.to_source(standalone=True, a=2, b=400, c=2, d=400)   # (A @ B) first: 2 x 2
    right = r.to_source(standalone=True, a=400, b=2, c=400, d=2)  # (B @ C) first: 2 x 2
    assert "t1 = A @ B" in left and "t1 = B @ C" in right
    rng = np.random.default_rng(2)
    A, B, C = rng.normal(size=(5, 7)), rng.normal(size=(7, 4)), rng.normal(size=(4, 3))
    for src in (left, right):
        fn, _ = _load(src, "r")
        np.testing.assert_allclose(fn(A, B, C), r.evaluate(A=A, B=B, C=C), rtol=1e-12)


def test_sizes_no_argument_has_are_keyword_arguments():
    """x: R[m + n - 1] with Y[i:m, j:n]: m is passed, n is solved from x's length."""
    prog = _map_program("urban_exp_sum")
    J = tcnb.jacobian(prog["Y"], "x")
    src = J.to_source(standalone=True)
    fn, ns = _load(src, "dY_dx")
    assert _keyword_sizes(src, "dY_dx") == ["m"]
    x = np.random.default_rng(3).normal(size=8)
    np.testing.assert_allclose(fn(x, m=3), J.evaluate(x=x, m=3, n=6), rtol=1e-12)
    with pytest.raises(ns["BindingError"], match="not positive"):
        fn(x, m=9)  # n = 8 - 9 + 1 = 0
    with pytest.raises(TypeError):
        fn(x)


def test_checked_linear_algebra_raises_the_modules_own_errors():
    prog = tcnb.parse("A: R[n, n]\nf = trace(inv(A))\n")
    g = tcnb.grad(prog["f"], "A")
    src = g.to_source(standalone=True)
    fn, ns = _load(src, standalone.function_name(g.name))
    A = np.eye(3) + 0.1 * np.random.default_rng(4).normal(size=(3, 3))
    np.testing.assert_allclose(fn(A), g.evaluate(A=A), rtol=1e-12)
    with pytest.raises(ns["NumericalError"], match="singular") as info:
        fn(np.ones((3, 3)))
    assert isinstance(info.value, np.linalg.LinAlgError)
    assert "tcnb" not in type(info.value).__module__


def test_every_runtime_helper_can_be_copied():
    """Each helper (with the helpers it calls) copies without any import from tcnb."""
    names = [n for n in standalone._helper_table() if not n.startswith("_")]
    text = standalone._helpers_source("\n".join(f"x = _rt.{n}(xp)" for n in names))
    tree = ast.parse(text)
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert set(names) <= defined and "_error" not in defined


def test_names_the_module_uses_never_collide_with_the_users():
    prog = tcnb.parse("xp: R[n]\nnumpy: R[n]\ndtype: R[n]\nt1: R[n]\n_size: R[n]\n"
                      "f = sum(xp * numpy * dtype * t1 * exp(_size))\n")
    g = tcnb.grad(prog["f"], "t1")
    src = g.to_source(standalone=True)
    fn, _ = _load(src, standalone.function_name(g.name))
    rng = np.random.default_rng(5)
    arrays = {k: rng.normal(size=4) for k in ("xp", "numpy", "dtype", "t1", "_size")}
    order = [v.name for v in g.compile("numpy").vars]
    np.testing.assert_allclose(fn(*[arrays[k] for k in order]), g.evaluate(**arrays), rtol=1e-12)


def test_plain_to_source_is_unchanged():
    """Without standalone=True: the function evaluate runs, specialised to the planning sizes."""
    prog = tcnb.parse(LOGREG)
    src = tcnb.hessian(prog["f"], "w").to_source()
    assert src.startswith("def tcnb_fn(xp, _rt, dtype, X, w, y):")
    assert "import" not in src


@pytest.mark.skipif("cupy" not in available_backends(), reason="needs CuPy and a GPU")
def test_standalone_module_on_cupy():
    import cupy
    for source, name in (("corpus", "logreg"), ("maps", "conv1d"), ("maps", "two_maps_product")):
        prog, expr, kinds, accept, sizes = _setup(source, name, "hessian" if source == "corpus" else "jacobian",
                                                  "w" if source == "corpus" else "x" if name != "conv1d" else "z")
        arrays, dims = _inputs(prog, expr, kinds, accept, _bump(sizes, 1), name)
        src = expr.to_source(standalone=True, **sizes)
        fn_name = standalone.function_name(expr.name)
        fn, _ = _load(src, fn_name)
        order = [v.name for v in expr.compile("numpy").vars]
        kw = {k: _bump(sizes, 1)[k] for k in _keyword_sizes(src, fn_name)}
        out = fn(*[arrays[n] for n in order], xp=cupy, **kw)
        assert isinstance(out, cupy.ndarray)
        hc.assert_close(cupy.asnumpy(out), expr.evaluate(**arrays, **dims), 1e-9, name)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(hp.programs())
def test_random_programs_standalone(case):
    """Random programs (tests/test_hypothesis_programs.py) and the gradient of their sum by one
    variable: the module planned at 100 gives the reference value at the drawn sizes (1 to 3)."""
    source, arrays, values, _ = case
    prog = tcnb.parse(source)
    out = prog["out"]
    total = tcnb.parse(source + "total = sum(out)\n")["total"]
    exprs = [out] + [tcnb.grad(total, w) for w in sorted(total.variables)[:1]]
    for expr in exprs:
        fn_name = standalone.function_name(expr.name)
        fn, _ = _load(expr.to_source(standalone=True), fn_name)
        order = [v.name for v in expr.compile("numpy").vars]
        sizes = {d: arrays[hp.VECTORS[d]].shape[0] for d in hp.DIMS}
        kw = {k: sizes[k] for k in _keyword_sizes(expr.to_source(standalone=True), fn_name)}
        want = expr.evaluate(**{n: arrays[n] for n in order}, **{k: v for k, v in sizes.items()
                                                                 if k in expr.compile("numpy").sizes_needed()})
        hc.assert_close(fn(*[arrays[n] for n in order], **kw), want, 1e-9, f"{expr.name} in\n{source}")
