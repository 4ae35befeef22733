"""The traceable backends: JAX (``jax.jit`` of tcnb's generated code) and PyTorch give NumPy's numbers.

- The derivative corpus (tests/corpus.py): every entry's value and its derivatives of every order the
  entry lists, in forward, reverse and cross-country mode, compressed and not, equal the NumPy
  backend's (rtol 1e-10, float64). On JAX all of an entry's expressions are one compiled program (one
  XLA compilation per entry: XLA's compile time is this file's cost), compiled by XLA with its
  cheapest pipeline (``FAST_XLA``: LLVM at -O0, about 6x faster to compile; the traced code, the
  jax.numpy calls and jax.jit's constraints are those of ``backend="jax"``), and the paper's entries
  again on ``backend="jax"`` itself. On PyTorch every derivative is evaluated on its own through
  ``Expr.evaluate`` with torch tensors as inputs.
- The index-map corpus (tests/corpus_index_maps.py): value, Jacobians and loss Hessians, likewise.
- Every function of the language (the registries of tcnb/primitives: general records, element-wise
  and binary functions, functions of several results, the lowered functions): value and first
  derivative on both backends equal NumPy's.
- dtypes: float32 inputs stay float32; JAX with x64 off computes in float32 from float64 inputs.
- Inputs as NumPy arrays or as the backend's own arrays; outputs are the backend's arrays.
- ``structured()``, ``hvp``, ``as_linear_operator`` and ``diagonal()`` on both backends.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")

import corpus  # noqa: E402  (switches JAX to float64)
import corpus_index_maps as cm  # noqa: E402
import helpers_calculus as hc  # noqa: E402
from conftest import concrete_shape, random_array  # noqa: E402

import tcnb  # noqa: E402
from tcnb.backend.compiled import compiled  # noqa: E402
from tcnb.backend.registry import get_backend, register_backend, unregister_backend  # noqa: E402
from tcnb.primitives import BINARY_FUNCTIONS, ELEMENTWISE_FUNCTIONS, LOWERED, REGISTRY, TUPLE_FUNCTIONS  # noqa: E402

jnp = jax.numpy
MODES = ("forward", "reverse", "cross-country")
BACKENDS = ("jax", "torch")
RTOL = 1e-10


# ------------------------------------------------------------------ helpers

# XLA's cheapest compile: the same HLO, with LLVM's -O0 and the loop emitters (6x less compile time)
FAST_XLA = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
            "xla_cpu_use_fusion_emitters": False}


@pytest.fixture(scope="module")
def jax_fast():
    """backend="jax" with FAST_XLA as jax.jit's compiler options, registered for this module."""
    record = dataclasses.replace(get_backend("jax"), name="jax-fast-compile", aliases=(),
                                 jit=lambda fn: jax.jit(fn, compiler_options=FAST_XLA))
    register_backend(record, replace=True)
    yield record.name
    unregister_backend(record.name)


def host(x) -> np.ndarray:
    """A backend's array as a NumPy array (float64 for comparisons)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def native(backend: str, arrays: dict) -> dict:
    """The arrays (sizes pass through) as the backend's own: jax arrays or torch tensors."""
    conv = {"jax": jnp.asarray, "torch": lambda a: torch.tensor(np.array(a))}[backend]
    return {k: conv(v) if isinstance(v, np.ndarray) else v for k, v in arrays.items()}


def own_type(backend: str):
    return {"jax": jax.Array, "torch": torch.Tensor}[backend]


def derivative(f, w, order: int, mode: str, compress: bool):
    """grad / jacobian / hessian / derivative, whichever the order and f's rank call for."""
    if order == 1:
        return (tcnb.grad if f.rank == 0 else tcnb.jacobian)(f, w, mode=mode, compress=compress)
    if order == 2 and f.rank == 0:
        return tcnb.hessian(f, w, mode=mode, compress=compress)
    return tcnb.derivative(f, w, order=order, mode=mode, compress=compress)


def all_derivatives(f, wrt: dict) -> list:
    """[(label, Expr)]: f itself, then its derivatives w.r.t. each variable up to its order, in every
    mode, compressed and not."""
    out = [("value", f)]
    for w, order in wrt.items():
        for k in range(1, order + 1):
            for mode in MODES:
                for compress in (True, False):
                    label = f"d^{k}/d{w}^{k} {mode} {'compressed' if compress else 'dense'}"
                    out.append((label, derivative(f, w, k, mode, compress)))
    return out


def together(exprs, backend: str, known_names=()):
    """All of ``exprs`` as one compiled program on ``backend`` (one jit compilation)."""
    nodes = list({e.node.id: e.node for e in exprs}.values())
    fn = compiled(nodes, backend, known_names, single=False)
    index = {n.id: k for k, n in enumerate(nodes)}
    return lambda **arrays: (lambda out: [out[index[e.node.id]] for e in exprs])(fn(**arrays))


def check_together(labelled, args: dict, backend: str, what: str, known_names=(), rtol=RTOL, own=None):
    """Every expression of ``labelled`` on ``backend`` (one program) equals NumPy's (one program);
    each result is an array of ``own`` (default: the backend's own library)."""
    exprs = [e for _, e in labelled]
    want = together(exprs, "numpy", known_names)(**args)
    got = together(exprs, backend, known_names)(**args)
    for (label, _), g, w in zip(labelled, got, want):
        assert isinstance(g, own_type(own or backend)), f"{what} {label}: {type(g).__name__} from {backend}"
        hc.assert_close(host(g), w, rtol, f"{what} {label} on {backend}")


# ------------------------------------------------------------------ the derivative corpus

ENTRIES = [e.name for e in corpus.CORPUS]


@functools.lru_cache(maxsize=None)
def corpus_derivatives(name: str) -> tuple:
    e = corpus.by_name(name)
    return tuple(all_derivatives(corpus.program(name)[e.of], e.wrt))


@pytest.mark.parametrize("name", ENTRIES)
def test_corpus_entry_on_jax(name, jax_fast):
    """One XLA program per entry: the value and every derivative (orders, modes, compression)."""
    labelled = corpus_derivatives(name)
    f = labelled[0][1]
    check_together(labelled, corpus.eval_args(name), jax_fast, name, f.known_names, own="jax")


@pytest.mark.parametrize("name", [e.name for e in corpus.CORPUS if "paper" in e.tags])
def test_paper_entries_on_jax_as_shipped(name):
    """The paper's problems on backend="jax" itself (XLA's default pipeline)."""
    labelled = corpus_derivatives(name)
    check_together(labelled, corpus.eval_args(name), "jax", name, labelled[0][1].known_names)


@pytest.mark.parametrize("name", ENTRIES)
def test_corpus_entry_on_torch(name):
    """Each derivative through Expr.evaluate(backend="torch"), torch tensors in, tensors out."""
    args = corpus.eval_args(name)
    labelled = corpus_derivatives(name)
    want = together([e for _, e in labelled], "numpy", labelled[0][1].known_names)(**args)
    targs = native("torch", args)
    for (label, D), w in zip(labelled, want):
        got = D.evaluate(backend="torch", **targs)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.float64, (label, type(got))
        hc.assert_close(host(got), w, RTOL, f"{name} {label} on torch")


# ------------------------------------------------------------------ the index-map corpus

@functools.lru_cache(maxsize=None)
def map_case(name: str):
    c = cm.by_name(name)
    p = tcnb.parse(c.src)
    shapes = {v: cm.resolve_shape(e.shape, c.sizes) for v, e in p.variables.items()}
    rng = np.random.default_rng(cm.seed_for("index_maps", name))
    arrays = {v: cm.random_array(c.kinds.get(v, "normal"), shape, rng) for v, shape in shapes.items()}
    labelled = all_derivatives(p[c.of], {w: 1 for w in c.wrt})
    if c.loss:
        labelled += [(f"{c.loss}: {label}", D) for label, D in
                     all_derivatives(p[c.loss], {w: 2 for w in c.hess_wrt})]
    return p, {**c.sizes, **arrays}, tuple(labelled)


@pytest.fixture(params=BACKENDS)
def backend(request):
    """"jax" (as jax_fast: XLA's cheapest compile) and "torch": (name to run on, library)."""
    if request.param == "jax":
        return request.getfixturevalue("jax_fast"), "jax"
    return request.param, request.param


@pytest.mark.parametrize("name", [c.name for c in cm.CASES])
def test_index_map_case(name, backend):
    p, args, labelled = map_case(name)
    check_together(labelled, args, backend[0], name, labelled[0][1].known_names, own=backend[1])


# ------------------------------------------------------------------ every function of the language

SIZES = {"n": 4, "k": 3, "m": 3}


def _general_inputs(rec, f, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for arg, op in zip(f.node.args, rec.operands):
        kind = {"invertible": "spd", "spd": "spd", "symmetric": "symmetric",
                "triangular": "triangular"}.get(op.sample, "normal")
        out[arg.name] = random_array(concrete_shape(arg.shape, SIZES), rng, kind=kind)
    return out


def _first_derivatives(f, names) -> list:
    return [("value", f)] + [(f"d/d{v} {mode}", derivative(f, v, 1, mode, True))
                             for v in names for mode in ("forward", "reverse")]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_general_function(name, backend):
    """A general record's example: value and its Jacobian w.r.t. every operand."""
    rec = REGISTRY[name]
    prog = tcnb.parse(rec.example)
    f = prog["f"]
    arrays = _general_inputs(rec, f)
    check_together(_first_derivatives(f, list(arrays)), arrays, backend[0], name, f.known_names, own=backend[1])


def _points(rec, size, seed):
    lo, hi = rec.domain
    return np.random.default_rng(seed).uniform(lo, hi, size)


def test_elementwise_functions(backend):
    """Every element-wise function and every binary one: value and gradient (one program)."""
    decl, body, arrays = [], [], {}
    for k, name in enumerate(sorted(ELEMENTWISE_FUNCTIONS)):
        decl.append(f"x{k}: R[n]")
        body.append(f"f{k} = sum({name}(x{k}) * c)")
        arrays[f"x{k}"] = _points(ELEMENTWISE_FUNCTIONS[name], 5, k)
    for k, name in enumerate(sorted(BINARY_FUNCTIONS)):
        decl.append(f"a{k}: R[n]\nb{k}: R[n]")
        body.append(f"g{k} = sum({name}(a{k}, b{k}) * c)")
        arrays[f"a{k}"] = _points(BINARY_FUNCTIONS[name], 5, 100 + k)
        arrays[f"b{k}"] = _points(BINARY_FUNCTIONS[name], 5, 200 + k)
    arrays["c"] = np.linspace(0.5, 1.5, 5)
    prog = tcnb.parse("\n".join(decl + ["c: R[n]"] + body))
    labelled = []
    for k, name in enumerate(sorted(ELEMENTWISE_FUNCTIONS)):
        f = prog[f"f{k}"]
        labelled += [(f"{name}", f), (f"{name}'", tcnb.grad(f, f"x{k}"))]
    for k, name in enumerate(sorted(BINARY_FUNCTIONS)):
        g = prog[f"g{k}"]
        labelled += [(name, g), (f"d{name}/da", tcnb.grad(g, f"a{k}")), (f"d{name}/db", tcnb.grad(g, f"b{k}"))]
    check_together(labelled, arrays, backend[0], "element-wise", prog["c"].known_names, own=backend[1])


# the language's other functions (lowered to products, several results, SPD forms): one program
# each; every registered name must have one here, so a new function is tested on these backends
PROGRAMS = {
    "concatenate": "x: R[n]\ny: R[k]\nf = concatenate([x, y * y, x[1:]])",
    "diag": "x: R[n]\nf = diag(x) * 2",
    "diagonal": "A: R[n, n]\nf = diagonal(A @ A)",
    "dot": "x: R[n]\ny: R[n]\nf = dot(x, y * x)",
    "einsum": "A: R[n, k]\nx: R[k]\nf = einsum('ij,j,ij->i', A, x, A)",
    "eye": "A: R[n, n]\nf = A * eye(n) + A @ A",
    "flip": "A: R[n, k]\nf = flip(A, 0) * A",
    "mean": "A: R[n, k]\nf = mean(A * A, 0)",
    "norm2": "A: R[n, k]\nf = norm2(A)",
    "ones": "x: R[n]\nf = ones(n) * dot(x, x)",
    "outer": "x: R[n]\ny: R[k]\nf = outer(x, y * y)",
    "ravel": "A: R[n, k]\nf = ravel(A * A)",
    "repeat": "x: R[n]\nf = repeat(x * x, 2)",
    "roll": "x: R[n]\nf = roll(x, 2) * x",
    "stack": "x: R[n]\ny: R[n]\nf = stack([x, x * y], 1)",
    "std": "A: R[n, k]\nf = std(A, 1)",
    "sum": "A: R[n, k]\nf = sum(exp(A), 1)",
    "tile": "x: R[n]\nf = tile(x * x, 2)",
    "trace": "A: R[n, n]\nf = trace(A @ A)",
    "var": "A: R[n, k]\nf = var(A)",
    "eigh": "A: Sym[n]\nw, V = eigh(A)\nf = w[0] * V",
    "svd": "A: R[n, k]\nU, s, V = svd(A)\nf = U * s",
    "logdet": "P: SPD[n]\nf = logdet(P)",
    "solve": "P: SPD[n]\nB: R[n, k]\nf = solve(P, B)",
}


def test_every_function_has_a_program_here():
    names = set(LOWERED) | set(TUPLE_FUNCTIONS)
    assert not names - set(PROGRAMS), f"add programs for {sorted(names - set(PROGRAMS))}"


def _program_inputs(prog):
    rng = np.random.default_rng(7)
    out = {}
    for v, x in prog.variables.items():
        shape = concrete_shape(x.shape, SIZES)
        structure = getattr(x.node, "structure", None)
        out[v] = random_array(shape, rng, kind={"spd": "spd", "sym": "symmetric"}.get(structure, "normal"))
    return out


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_language_function(name, backend):
    prog = tcnb.parse(PROGRAMS[name])
    f = prog["f"]
    arrays = _program_inputs(prog)
    check_together(_first_derivatives(f, list(arrays)), arrays, backend[0], name, f.known_names, own=backend[1])


# ------------------------------------------------------------------ array types and dtypes

LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(exp(-y * (X @ w)) + 1))"


def _logreg(dtype=np.float64):
    rng = np.random.default_rng(3)
    arrays = {"X": rng.standard_normal((6, 4)), "y": np.sign(rng.standard_normal(6)), "w": rng.standard_normal(4)}
    return tcnb.hessian(tcnb.parse(LOGREG)["f"], "w"), {k: v.astype(dtype) for k, v in arrays.items()}


def _dtype_name(a) -> str:
    return str(a.dtype).removeprefix("torch.")


@pytest.mark.parametrize("given", ["numpy", "native"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_numpy_or_native_outputs_native(backend, given):
    H, arrays = _logreg()
    want = H.evaluate(**arrays)
    args = arrays if given == "numpy" else native(backend, arrays)
    fn = H.compile(backend)
    for got in (H.evaluate(backend=backend, **args), H.evaluate(backend=backend, **args), fn(**args)):
        assert isinstance(got, own_type(backend)) and _dtype_name(got) == "float64", type(got)
        hc.assert_close(host(got), want, RTOL, f"logistic Hessian on {backend} from {given} arrays")


@pytest.mark.parametrize("given", ["numpy", "native"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_stays_float32(backend, given):
    H, arrays = _logreg(np.float32)
    want = H.evaluate(**_logreg()[1])
    args = arrays if given == "numpy" else native(backend, arrays)
    got = H.evaluate(backend=backend, **args)
    assert isinstance(got, own_type(backend)) and _dtype_name(got) == "float32", got.dtype
    hc.assert_close(host(got), want, 1e-5, f"float32 logistic Hessian on {backend}")


def _x64(on: bool):
    """JAX's x64 switch as a context (jax.enable_x64, or jax.experimental's in older JAX)."""
    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:
        from jax.experimental import enable_x64 as ctx
    return ctx(on)


def test_jax_without_x64_computes_in_float32():
    """float64 inputs, x64 off: JAX cannot hold float64, so tcnb binds float32 and says so in the
    result's dtype (and x64 back on gives float64 again, from the same compiled expression)."""
    H, arrays = _logreg()
    want = H.evaluate(**arrays)
    with _x64(False):
        got = H.evaluate(backend="jax", **arrays)
        assert str(got.dtype) == "float32"
        assert str(tcnb.grad(tcnb.parse(LOGREG)["f"], "w").evaluate(backend="jax", **arrays).dtype) == "float32"
    hc.assert_close(host(got), want, 1e-5, "logistic Hessian on JAX without x64")
    assert str(H.evaluate(backend="jax", **arrays).dtype) == "float64"


# ------------------------------------------------------------------ structured, hvp, operators, diagonals

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,w", [("logreg", "w"), ("chain_tanh_sin_exp", "x"), ("matfac", "U")])
def test_structured_hvp_operator_and_diagonal(name, w, backend):
    """Every way to use a Hessian without forming it gives NumPy's numbers on the backend."""
    e = corpus.by_name(name)
    p = corpus.hvp_program(name)
    args = corpus.call_args(name)
    H = tcnb.hessian(p[e.of], w)
    rng = np.random.default_rng(5)
    v = rng.standard_normal(np.shape(args[w]))

    S, S_np = H.structured(backend=backend, **args), H.structured(**args)
    dense = S.dense()
    assert isinstance(dense, own_type(backend))
    hc.assert_close(host(dense), H.evaluate(**args), RTOL, f"{name}: structured().dense() on {backend}")
    hc.assert_close(host(S @ v), S_np @ v, RTOL, f"{name}: structured() @ v on {backend}")
    if name == "logreg":  # (the others are singular)
        hc.assert_close(host(S.solve(v)), S_np.solve(v), 1e-8, f"{name}: structured().solve on {backend}")

    d = H.diagonal().evaluate(backend=backend, **args)
    assert isinstance(d, own_type(backend))
    hc.assert_close(host(d), H.diagonal().evaluate(**args), RTOL, f"{name}: diagonal() on {backend}")

    op, op_np = H.as_linear_operator(backend=backend, **args), H.as_linear_operator(**args)
    hc.assert_close(op.matvec(v.ravel()), op_np.matvec(v.ravel()), RTOL, f"{name}: operator on {backend}")
    hc.assert_close(op.rmatvec(v.ravel()), op_np.rmatvec(v.ravel()), RTOL, f"{name}: rmatvec on {backend}")

    Hv = tcnb.hvp(p[e.of], w, p[corpus.direction(w)])
    with_dir = corpus.call_args(name, with_directions=True)
    got = Hv.evaluate(backend=backend, **with_dir)
    assert isinstance(got, own_type(backend))
    hc.assert_close(host(got), Hv.evaluate(**with_dir), RTOL, f"{name}: hvp on {backend}")


def test_a_backend_that_cannot_run_here_says_which():
    """torch-cuda on a machine without CUDA: a tcnb error naming the backend's problem."""
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    H, arrays = _logreg()
    with pytest.raises(tcnb.BackendUnavailableError, match="CUDA"):
        H.evaluate(backend="torch-cuda", **arrays)


# ------------------------------------------------------------------ torch.compile, tcnb.bench.compare

@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("TCNB_TEST_TORCH_COMPILE") != "1",
                    reason="TorchInductor compiles C++ for 10-40 s per program: TCNB_TEST_TORCH_COMPILE=1 runs it")
def test_torch_compile_backend():
    H, arrays = _logreg()
    why = get_backend("torch-compile").why_unavailable()
    if why:
        pytest.skip(why)
    got = H.evaluate(backend="torch-compile", **native("torch", arrays))
    assert isinstance(got, torch.Tensor)
    hc.assert_close(host(got), H.evaluate(**arrays), RTOL, "logistic Hessian through torch.compile")


def test_compare_times_tcnb_on_jax_and_torch():
    """compare(..., backends=("numpy", "jax", "torch")): rows "tcnb (jax)" and "tcnb (torch)", checked
    against tcnb on NumPy, timed, with the threads of their library."""
    from tcnb.bench import compare
    res = compare(LOGREG, wrt="w", kind="hessian", sizes={"n": [3, 5], "m": "2*n"},
                  backends=("numpy", "jax", "torch"), baselines=(), target_s=0.005, progress=False)
    by = {(r["label"], r["x"]): r for r in res.records}
    assert {label for label, _ in by} == {"tcnb (numpy)", "tcnb (jax)", "tcnb (torch)"}
    for x in (3, 5):
        for label in ("tcnb (jax)", "tcnb (torch)"):
            r = by[(label, x)]
            assert r["status"] == "ok" and r["checked"] and r["max_err"] < 1e-12, r
            assert r["median_s"] > 0 and r["how"] == f"tcnb H.compile({r['backend']!r})"
    assert by[("tcnb (torch)", 3)]["threads"] == 1  # compare()'s default: one thread per library
    assert res.ratios()["tcnb (jax)"][3] > 0


def test_singular_matrices_on_the_traced_backends():
    """JAX cannot read a value back inside jit: inv of a singular matrix is inf there, as JAX's own;
    PyTorch runs eagerly and its LinAlgError reaches the user as tcnb's NumericalError."""
    f = tcnb.parse("A: R[n, n]\nb: R[n]\nf = solve(A, b)")["f"]
    A, b = np.array([[1.0, 2.0], [2.0, 4.0]]), np.ones(2)
    with pytest.raises(tcnb.NumericalError, match="PyTorch.*singular"):
        f.evaluate(backend="torch", A=A, b=b)
    assert not np.all(np.isfinite(host(f.evaluate(backend="jax", A=A, b=b))))
