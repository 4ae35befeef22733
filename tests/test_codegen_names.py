"""Generated code never confuses its own names with the user's (issue 11).

Generated functions called their temporaries ``t1, t2, ...`` and their fixed parameters ``xp``,
``_rt``, ``dtype`` regardless of the program, so a tensor named ``t1`` was overwritten by the first
temporary (a wrong number; a logistic-regression Hessian came out (m, m)) and one named ``xp`` made
a duplicate parameter (a bare SyntaxError). Every generated name now comes from one allocator that
knows the user's names (tcnb/backend/names.py), last uses are read from the syntax tree, and the
source is registered with ``linecache``.

The property test renames every variable of the random programs of
tests/test_hypothesis_derivatives.py (on the source text, token by token) to names such as ``t3``,
``xp``, ``e2_0``, ``dtype`` and checks identical values and derivatives in every mode.
"""
from __future__ import annotations

import ast
import gc
import inspect
import io
import linecache
import os
import sys
import tokenize
import traceback

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

import helpers_calculus as hc  # noqa: E402
import test_hypothesis_derivatives as hd  # noqa: E402  (its random-program strategy)

import tcnb  # noqa: E402
from tcnb.backend.codegen import generate, load  # noqa: E402

# names generated code uses or used, Python's reserved words and builtins, and plain ones
CANDIDATES = ["t1", "t2", "t3", "t4", "t7", "t10", "e1", "e2", "e1_0", "e2_0", "e3_1", "xp", "_rt",
              "dtype", "np", "tcnb_fn", "v_xp", "v_dtype", "v_xp2", "sum", "exp", "print", "id", "type",
              "len", "None", "True", "lambda", "class", "match", "case", "_", "out", "x", "A", "c", "T",
              "R", "e", "pi", "self", "fn", "v_x", "t", "del_", "__x", "xp_", "float", "object", "backend",
              "arrays", "sizes", "kw"]
FIXED_IN_PROGRAMS = {"i", "j", "k", "n"}   # the random programs' index letters and dimension


def _accepted(name: str) -> bool:
    """Whether the parser takes ``name`` as a declared and as a defined name (if it refuses, it
    must say so with a TcnbError)."""
    try:
        tcnb.parse(f"{name}: R[n]\nzz_result = sum({name} * {name})")
        tcnb.parse(f"z: R[n]\n{name} = sum(z)\nzz_result = {name} * 2")
        return True
    except tcnb.TcnbError:
        return False


ACCEPTED = [n for n in CANDIDATES if _accepted(n)]


@pytest.mark.parametrize("name", sorted(set(CANDIDATES) - set(ACCEPTED)))
def test_names_the_parser_refuses_raise_a_tcnb_error(name):
    with pytest.raises(tcnb.TcnbError):
        tcnb.parse(f"{name}: R[n]\nzz_result = sum({name} * {name})")
    with pytest.raises(tcnb.TcnbError):
        tcnb.parse(f"z: R[n]\n{name} = sum(z)\nzz_result = {name} * 2")


def test_the_accepted_pool_holds_the_dangerous_names():
    for name in ("t1", "t3", "xp", "_rt", "dtype", "e1_0", "e2_0", "tcnb_fn", "np"):
        assert name in ACCEPTED, name


# ------------------------------------------------------------------------------- the regressions

def test_a_tensor_named_t1_is_not_overwritten():
    prog = tcnb.parse("t1: R[3]\nout = sum(exp(t1) * t1)")
    x = np.array([0.1, 0.2, 0.3])
    hc.assert_close(prog["out"].evaluate(t1=x), np.sum(np.exp(x) * x), 1e-14, "value")


def test_logistic_hessian_with_data_matrix_named_t1():
    prog = tcnb.parse("t1: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (t1 @ w))))")
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(5, 3)), rng.choice([-1.0, 1.0], 5), rng.normal(size=3)
    s = 1 / (1 + np.exp(-y * (X @ w)))
    want = X.T @ np.diag(s * (1 - s)) @ X
    for mode in hd.MODES:
        H = tcnb.hessian(prog["f"], prog["w"], mode=mode)
        hc.assert_close(H.evaluate(t1=X, y=y, w=w), want, 1e-12, mode)


@pytest.mark.parametrize("name", ["xp", "dtype", "_rt", "np", "tcnb_fn", "e1_0", "e1", "t3", "v_xp",
                                  "self", "backend", "arrays"])
def test_names_generated_code_uses_evaluate_correctly(name):
    """Also names of evaluate's own parameters: every variable name is a keyword argument."""
    prog = tcnb.parse(f"{name}: R[3]\nout = sum(exp({name}) * {name})")
    x = np.array([0.1, 0.2, 0.3])
    hc.assert_close(prog["out"].evaluate(**{name: x}), np.sum(np.exp(x) * x), 1e-14, name)
    g = tcnb.grad(prog["out"], prog[name])
    hc.assert_close(g.evaluate(**{name: x}), np.exp(x) * (1 + x), 1e-14, name)
    hc.assert_close(g.compile()(**{name: x}), np.exp(x) * (1 + x), 1e-14, name)
    hc.assert_close(g.structured(**{name: x}).dense(), np.exp(x) * (1 + x), 1e-14, name)


def test_a_user_name_equal_to_a_dummy_is_not_captured():
    """xp becomes a dummy; the dummy must not be the name another tensor already has."""
    prog = tcnb.parse("xp: R[3]\nv_xp: R[3]\nout = sum(xp * 2 + v_xp * 3)")
    a, b = np.arange(3.0), np.ones(3)
    assert float(prog["out"].evaluate(xp=a, v_xp=b)) == float(np.sum(a * 2 + b * 3))
    src = prog["out"].to_source(n=3)
    params = [a.arg for a in ast.parse(src).body[0].args.args]
    assert params[:3] == ["xp", "_rt", "dtype"] and len(set(params)) == len(params) and "v_xp" in params


def test_to_source_keeps_safe_names_and_runs():
    prog = tcnb.parse("X: R[m, n]\ny: R[m]\nt1: R[n]\nf = sum(log(1 + exp(-y * (X @ t1))))")
    H = tcnb.hessian(prog["f"], prog["t1"])
    src = H.to_source(m=5, n=3)
    fn = ast.parse(src).body[0]
    assert [a.arg for a in fn.args.args] == ["xp", "_rt", "dtype", "X", "t1", "y"]
    assigned = {t.id for s in ast.walk(fn) if isinstance(s, ast.Assign) for t in s.targets}
    assert not assigned & {"X", "t1", "y"}, src


def test_deletes_never_touch_parameters_and_free_every_temporary():
    prog = tcnb.parse("t2: R[n]\nA: R[n, n]\nt4 = A @ t2\nout = sum(exp(t4) * t2) + sum(tanh(A @ t4))")
    src = tcnb.hessian(prog["out"], prog["t2"]).to_source(n=4)
    fn = ast.parse(src).body[0]
    params = {a.arg for a in fn.args.args}
    deleted = [t.id for s in fn.body if isinstance(s, ast.Delete) for t in s.targets]
    assigned = [t.id for s in fn.body if isinstance(s, ast.Assign) for t in s.targets]
    returned = {n.id for n in ast.walk(fn.body[-1]) if isinstance(n, ast.Name)}
    assert not set(deleted) & params, src
    assert len(deleted) == len(set(deleted)), src
    assert set(assigned) == set(deleted) | returned, src   # every temporary is freed or returned


def test_names_inside_einsum_specs_are_not_uses():
    """An einsum spec is a string: its letters are never names (the old regex scan saw through
    nothing, but a structural scan must not see into strings either)."""
    prog = tcnb.parse("T: R[n, n, n]\nx: R[n]\nr[i] = T[i, j, k] * x[j] * x[k] * T[k, j, i]")
    rng = np.random.default_rng(1)
    T, x = rng.normal(size=(3, 3, 3)), rng.normal(size=3)
    hc.assert_close(prog["r"].evaluate(T=T, x=x), np.einsum("ijk,j,k,kji->i", T, x, x, T), 1e-12, "r")


# ------------------------------------------------------------------------------- source and tracebacks

def test_generated_source_is_registered_with_linecache():
    prog = tcnb.parse("x: R[n]\nf = sum(exp(x) * x)")
    fn = prog["f"].compile()
    fn(x=np.ones(3))
    gen = next(iter(fn._cache.values()))
    assert inspect.getsource(gen.fn) == gen.source
    assert inspect.getsource(gen.fn).startswith("def tcnb_fn(")


def test_tracebacks_show_the_generated_line():
    prog = tcnb.parse("A: R[n, n]\nf = sum(inv(A) * A)")   # a singular A is found when the code runs
    with pytest.raises(tcnb.NumericalError) as info:
        prog["f"].evaluate(A=np.zeros((3, 3)))
    text = "".join(traceback.format_exception(info.value))
    assert "<tcnb generated numpy" in text and "_rt.inv(" in text, text


def test_an_index_map_out_of_range_is_found_before_running():
    prog = tcnb.parse("x: R[k]\nY[i:n] = x[i + 0]\nf = sum(Y)")
    with pytest.raises(tcnb.BindingError, match=r"reaches index 4 on an axis of size k = 3"):
        prog["f"].evaluate(x=np.ones(3), n=5)


def test_linecache_entry_lives_as_long_as_the_function():
    prog = tcnb.parse("x: R[n]\nf = sum(x)")
    fn = prog["f"].compile()
    gen = generate([prog["f"].node], fn.vars, {"n": 3})
    f = load(gen, "test")
    name = f.__code__.co_filename
    assert linecache.getline(name, 1).startswith("def tcnb_fn(")
    del f
    gc.collect()
    assert name not in linecache.cache


# ------------------------------------------------------------------------------- renaming property

def _variables(source: str) -> list:
    """Declared and defined names of a program, in order (declarations, plain and index definitions)."""
    out = []
    for stmt in ast.parse(source).body:
        target = stmt.target if isinstance(stmt, ast.AnnAssign) else stmt.targets[0]
        if isinstance(target, ast.Subscript):
            target = target.value
        out.append(target.id)
    return list(dict.fromkeys(out))


def rename(source: str, mapping: dict) -> str:
    """The program with every NAME token in ``mapping`` replaced (all at once, so swaps work)."""
    lines = source.splitlines(keepends=True)
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type == tokenize.NAME and t.string in mapping]
    for t in reversed(toks):  # right to left: earlier columns stay valid
        row, col = t.start
        line = lines[row - 1]
        lines[row - 1] = line[:col] + mapping[t.string] + line[col + len(t.string):]
    return "".join(lines)


def test_rename_helper():
    src = "x: R[n]\nA: R[n, n]\nt1[i] = A[i, j] * x[j]\nout = sum(t1) + x @ x\n"
    got = rename(src, {"x": "A", "A": "x", "t1": "xp", "out": "dtype"})
    assert got == "A: R[n]\nx: R[n, n]\nxp[i] = x[i, j] * A[j]\ndtype = sum(xp) + A @ A\n"
    assert _variables(src) == ["x", "A", "t1", "out"]


@st.composite
def renamed_programs(draw, kind):
    tcnb_src, _ = draw(hd.programs(kind))
    names = _variables(tcnb_src)
    pool = [n for n in ACCEPTED if n not in FIXED_IN_PROGRAMS]
    new = draw(st.lists(st.sampled_from(pool), min_size=len(names), max_size=len(names), unique=True))
    return tcnb_src, dict(zip(names, new))


def _derivatives(prog, out, w, order):
    """Every derivative of ``out`` w.r.t. ``w`` in every mode, compressed or not, up to ``order``."""
    res = {}
    for mode in hd.MODES:
        for compress in (True, False):
            res[(1, mode, compress)] = tcnb.jacobian(out, prog[w], mode=mode, compress=compress)
            if order >= 2:
                res[(2, mode, compress)] = tcnb.hessian(out, prog[w], mode=mode, compress=compress)
    return res


def _check_renamed(tcnb_src, mapping, order):
    renamed = rename(tcnb_src, mapping)
    report = f"\noriginal:\n{tcnb_src}\nrenamed:\n{renamed}"
    p0, p1 = tcnb.parse(tcnb_src), tcnb.parse(renamed)
    arrays = hd.inputs(hc.seed_for(tcnb_src))
    args0 = {**arrays, "n": hd.N}
    args1 = {**{mapping[k]: v for k, v in arrays.items()}, "n": hd.N}
    for name in _variables(tcnb_src):
        if name in arrays:
            continue
        want = np.asarray(p0[name].evaluate(**args0))
        got = np.asarray(p1[mapping[name]].evaluate(**args1))
        hc.assert_close(got, want, 1e-12, f"value of {name} -> {mapping[name]}{report}")
    out0, out1 = p0["out"], p1[mapping["out"]]
    if not hd._finite(np.asarray(out0.evaluate(**args0))):
        return
    for w in arrays:
        d0 = _derivatives(p0, out0, w, order)
        d1 = _derivatives(p1, out1, mapping[w], order)
        for key, D in d0.items():
            hc.assert_close(np.asarray(d1[key].evaluate(**args1)), np.asarray(D.evaluate(**args0)), 1e-12,
                            f"{key} wrt {w} -> {mapping[w]}{report}")
        src = d1[(1, "reverse", True)].to_source(n=hd.N)
        compile(src, "<to_source>", "exec")


@hd._settings(hd.EXAMPLES)
@given(renamed_programs("s"))
def test_renaming_scalar_programs_changes_no_value_or_derivative(case):
    _check_renamed(*case, order=2)


@hd._settings(max(1, hd.EXAMPLES * 2 // 3))
@given(renamed_programs("v"))
def test_renaming_vector_programs_changes_no_jacobian(case):
    _check_renamed(*case, order=1)
