"""Campaign (issue 11, item 12): bad input never escapes as anything but a tcnb.TcnbError.

- random text and mutated random programs into tcnb.parse (and, where they still parse, into
  evaluate and the derivatives): a TcnbError naming a line and a column, with a short message;
- bad arrays into evaluate (wrong shapes, dtypes, missing and extra names, lists, views, NaN,
  empty axes, sizes passed as bad values): a BindingError, or the right value where the input is
  valid after all (views, ints, lists, NaN);
- bad arguments to the API (grad of a tensor, an unknown mode, orders, backends, directions).
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

import campaign_strategies as cs  # noqa: E402

import tcnb  # noqa: E402

MAX_MESSAGE = 500


def _first_line(err) -> str:
    return str(err).split("\n", 1)[0]


def assert_good_error(err: tcnb.TcnbError, source: str | None = None, what=""):
    """A short message; with source text, a line and a column inside it."""
    first = _first_line(err)
    assert len(first) < MAX_MESSAGE, f"{what}: message of {len(first)} characters: {first[:300]}..."
    if source is not None:
        assert isinstance(err.line, int) and err.line >= 1, f"{what}: no line in {type(err).__name__}: {err}"
        assert isinstance(err.col, int) and err.col >= 0, f"{what}: no column in {type(err).__name__}: {err}"
        n_lines = max(1, len(source.splitlines()))
        assert err.line <= n_lines + 1, f"{what}: line {err.line} of a {n_lines}-line program: {err}"


def guarded(fn, what, case=None, source=None, test="badinput"):
    """Run fn(); a TcnbError is checked and swallowed, any other exception is a failure."""
    try:
        return True, fn()
    except tcnb.TcnbError as err:
        try:
            assert_good_error(err, source, what)
        except AssertionError as exc:
            cs.failed(test, case if case is not None else source, exc, what)
        return False, err
    except Exception as exc:
        cs.failed(test, case if case is not None else source, exc, what)
        return False, exc


# ------------------------------------------------------------------------------- parse

ALPHABET = list("xwyAnmijk RT[](),:=+-*/@.\n\"'#0123456789_e") + ["None", "def ", "einsum(", "sum(",
                                                                     "exp(", "**", "->", "λ", "\t"]


@cs.campaign_settings(150, share=1.0)
@given(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join))
def test_random_text(source):
    guarded(lambda: tcnb.parse(source), "parse", source=source)


TOKENS = ["@", ".T", "[", "]", "(", ")", ",", ":", "=", "+", "-", "*", "/", "**", "[:, None]", "[None]",
          "None", "...", "exp(", "sum(", "einsum(", '"ij->"', '"ii->i"', '"i,i"', '"->"', '",->"', "i", "j",
          "k", "R", "R[", "R[1]", "R[0]", "R[-1]", "R[n + 1]", "R[2 * n]", "\n", "    ", "0", "1", "-1",
          "1e400", "1e-400", "nan", "inf", "0.0", "lambda t: ", " if ", "for ", "def ", "return ", "#",
          "'", '"', "\\", "axis=", "axis=None", "eye(", "ones(", "inv(", "x[i + j]", "x[2 * i]", ";",
          "@@", "\t", "λ", "import ", "*x", "**x", " and ", "[i, i]", "[]", "()", "{}", ": R", " = ",
          "[i, j] = ", "def f(t): return ", "softmax(", "logsumexp(", "diag(", "trace(", "det(",
          ", axis=5", ", 0", ", -4", "1/0", "0 ** -1", "2 ** 2000", "(-8) ** 0.5", "x.T.T", "x[:, :, :]",
          "mean(", "norm2(", "outer(", "dot(", "true", "True", "[i:n]", "[i:0]", "[i:n, j:m]", "t1", "xp",
          "dtype", "self", "__import__('os')", "print(", "x +", "+ +", "- -", "x[i]", "x[i, j, k, l]",
          "A[i, k] * B[k, j]", "sigmoid(", "1 / (", "*(", "a: R[n]\n", "b = a\n", "def g(t): return t\n"]


@st.composite
def mutated_programs(draw):
    case = draw(cs.programs(depth=(1, 3), max_rank=2))
    src = case.source
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "dup_line", "swap_lines", "truncate",
                                     "rename", "redim", "drop_line"]))
        pos = draw(st.integers(0, len(src)))
        lines = src.split("\n")
        if kind == "insert":
            src = src[:pos] + draw(st.sampled_from(TOKENS)) + src[pos:]
        elif kind == "delete":
            src = src[:pos] + src[draw(st.integers(pos, min(len(src), pos + 8))):]
        elif kind == "replace":
            src = src[:pos] + draw(st.sampled_from(TOKENS)) + src[draw(st.integers(pos, min(len(src), pos + 3))):]
        elif kind in ("dup_line", "swap_lines", "drop_line"):
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if kind == "dup_line":
                lines.insert(a, lines[a])
            elif kind == "swap_lines":
                lines[a], lines[b] = lines[b], lines[a]
            else:
                del lines[a]
            src = "\n".join(lines)
        elif kind == "truncate":
            src = src[:pos]
        elif kind == "rename":   # one identifier becomes another one of the program (or a new one)
            names = sorted(set(case.var_shapes) | set(case.defs) | set(case.sizes) - {"1", "2"})
            a = draw(st.sampled_from(names))
            b = draw(st.sampled_from(names + ["zz", "exp", "sum", "R", "None", "i"]))
            src = cs._rename_names(src, {a: b}) if a != b else src
        else:                    # a declaration gets other dimensions
            decl = [k for k, l in enumerate(lines) if ": R" in l]
            if decl:
                k = draw(st.sampled_from(decl))
                head = lines[k].split(":", 1)[0]
                dims = draw(st.lists(st.sampled_from(list(case.sizes) + ["1", "0", "n + 1", "zz"]), max_size=3))
                lines[k] = f"{head}: R[{', '.join(dims)}]" if dims else f"{head}: R"
                src = "\n".join(lines)
    return case, src


@cs.campaign_settings(120, share=1.0)
@given(mutated_programs())
def test_mutated_programs(pair):
    """A mutated program parses or raises a located TcnbError; what parses evaluates (with the
    original arrays, which may no longer fit) and differentiates, or raises a TcnbError."""
    case, src = pair
    ok, prog = guarded(lambda: tcnb.parse(src), "parse", case, source=src)
    if not ok:
        return
    rep = cs.Case(src, "", {}, "", case.sizes, {}, {}, case.features, case.seed)
    names = list(prog.definitions)
    if not names:
        return
    out = prog[names[-1]]
    with np.errstate(all="ignore"):
        guarded(lambda: out.evaluate(**case.arrays), "evaluate", rep)
        variables = out.variables
        if variables:
            w = prog[variables[0]]
            guarded(lambda: tcnb.jacobian(out, w).evaluate(**case.arrays), "jacobian", rep)


# ------------------------------------------------------------------------------- bad arrays

def _views(a):
    """The same values in other memory layouts: a transposed copy viewed back, a negative stride."""
    if a.ndim == 0:
        return a
    if a.ndim >= 2 and a.shape[0] > 0:
        return np.ascontiguousarray(a.T).T
    return a[::-1].copy()[::-1]


ARRAY_MUTATIONS = ["extra_axis", "drop_axis", "resize", "complex", "object", "str", "bool", "int",
                   "float16", "float32_one", "nan", "inf", "missing", "extra_name", "list", "scalar",
                   "none", "ragged", "view", "readonly", "empty_axis", "size_kwarg", "huge_size_kwarg",
                   "bad_size_kwarg", "masked", "matrix", "tuple_of_arrays", "datetime"]
VALID_AFTER_ALL = {"int", "bool", "float32_one", "nan", "inf", "list", "view", "readonly", "masked",
                   "float16", "matrix", "tuple_of_arrays"}


def mutate_arrays(arrays: dict, kind: str, name: str, draw):
    a = dict(arrays)
    x = np.asarray(a[name])
    if kind == "extra_axis":
        a[name] = x[..., None]
    elif kind == "drop_axis":
        a[name] = x.reshape(-1)[:1].reshape(()) if x.ndim == 1 else (x[0] if x.ndim else x.reshape(1))
    elif kind == "resize":
        if x.ndim == 0:
            a[name] = np.zeros(2)
        else:
            ax = draw(st.integers(0, x.ndim - 1))
            a[name] = np.concatenate([x, np.take(x, [0], axis=ax)], axis=ax)
    elif kind == "complex":
        a[name] = x + 1j
    elif kind == "object":
        a[name] = x.astype(object)
    elif kind == "str":
        a[name] = x.astype(str)
    elif kind == "bool":
        a[name] = x > 0
    elif kind == "int":
        a[name] = np.round(x * 3).astype(np.int64)
    elif kind == "float16":
        a[name] = x.astype(np.float16)
    elif kind == "float32_one":   # one float32 array among float64 ones
        a[name] = x.astype(np.float32)
    elif kind == "nan":
        y = x.copy()
        y.reshape(-1)[:1] = np.nan
        a[name] = y
    elif kind == "inf":
        y = x.copy()
        y.reshape(-1)[:1] = np.inf
        a[name] = y
    elif kind == "missing":
        del a[name]
    elif kind == "extra_name":
        a[draw(st.sampled_from(["zz", "xp", "backend", "self", "R", "1x", ""]))] = x
    elif kind == "list":
        a[name] = x.tolist()
    elif kind == "scalar":
        a[name] = 1.5
    elif kind == "none":
        a[name] = None
    elif kind == "ragged":
        a[name] = [[1.0, 2.0], [3.0]]
    elif kind == "view":
        a[name] = _views(x)
    elif kind == "readonly":
        y = x.copy()
        y.setflags(write=False)
        a[name] = y
    elif kind == "empty_axis":
        a[name] = np.zeros((0,) + x.shape[1:]) if x.ndim else np.zeros(0)
    elif kind == "size_kwarg":
        a[draw(st.sampled_from(["m", "n", "k", "N", "zz"]))] = draw(st.sampled_from([2, 3, 0, -1]))
    elif kind == "huge_size_kwarg":
        a[draw(st.sampled_from(["m", "n", "k", "N"]))] = 10 ** draw(st.sampled_from([6, 12, 30]))
    elif kind == "bad_size_kwarg":
        a[draw(st.sampled_from(["m", "n", "k"]))] = draw(st.sampled_from([2.5, "3", True, None, np.int32(2)]))
    elif kind == "masked":
        a[name] = np.ma.masked_array(x)
    elif kind == "matrix":
        a[name] = np.asmatrix(x) if x.ndim == 2 else x
    elif kind == "tuple_of_arrays":
        a[name] = tuple(x) if x.ndim else (x,)
    elif kind == "datetime":
        a[name] = np.zeros(x.shape, dtype="datetime64[s]")
    return a


@cs.campaign_settings(120, share=1.0)
@given(cs.programs(depth=(1, 3), max_rank=2), st.data())
def test_bad_arrays(case, data):
    ok, prog = guarded(lambda: tcnb.parse(case.source), "parse a valid program", case)
    if not ok:
        return
    names = sorted(case.var_shapes)
    name = data.draw(st.sampled_from(names), label="variable")
    kind = data.draw(st.sampled_from(ARRAY_MUTATIONS), label="mutation")
    arrays = mutate_arrays(case.arrays, kind, name, data.draw)
    out = prog[case.out]
    rep = cs.Case(case.source + f"# mutation {kind} of {name}\n", case.oracle, case.defs, case.out,
                  case.sizes, case.var_shapes, case.arrays, case.features | {kind}, case.seed)
    with np.errstate(all="ignore"):
        ok, got = guarded(lambda: out.evaluate(**arrays), f"evaluate with {kind} {name}", rep)
        if ok and kind in VALID_AFTER_ALL and kind not in ("float16", "float32_one", "masked"):
            try:   # valid input after all: the right value
                plain = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
                want = np.asarray(case.run_oracle(np, plain)[case.out], dtype=np.float64)
                got = np.asarray(got, dtype=np.float64)
                assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
                # where NaN/inf entries make NumPy's value non-finite, tcnb may have simplified
                # them away (x - x is 0); where NumPy's value is finite, tcnb's must equal it
                fin = np.isfinite(want)
                np.testing.assert_allclose(got[fin], want[fin], rtol=1e-9, atol=1e-9)
            except AssertionError as exc:
                cs.failed("badinput", rep, exc, f"value with {kind} {name}")
        if ok and kind in ("extra_axis", "complex", "object", "str", "none", "ragged", "datetime",
                           "missing") and name in out.variables:
            cs.failed("badinput", rep, AssertionError(f"accepted {kind} for {name}: {got!r}"[:300]),
                      f"evaluate accepted {kind}")
        variables = out.variables
        if variables and data.draw(st.booleans(), label="derivative too"):
            w = prog[data.draw(st.sampled_from(variables), label="wrt")]
            guarded(lambda: tcnb.jacobian(out, w).evaluate(**arrays), f"jacobian with {kind} {name}", rep)
            guarded(lambda: tcnb.jacobian(out, w).structured(**arrays).dense(), f"structured with {kind} {name}", rep)


# ------------------------------------------------------------------------------- bad API arguments

def _api_calls(prog, case):
    """(description, call, must_fail) for bad and odd uses of the public API."""
    out = prog[case.out]
    var = prog[sorted(case.var_shapes)[0]]
    tensor = next((prog[n] for n in case.defs if prog[n].rank > 0), None)
    no_backend = {k: v for k, v in case.arrays.items() if k != "backend"}   # (a variable may be named so)
    calls = [
        ("grad of a function that is not an Expr", lambda: tcnb.grad(3.0, var), True),
        ("grad wrt an int", lambda: tcnb.grad(out, 3), True),
        ("grad wrt an unknown name", lambda: tcnb.grad(out, "zz_unknown"), True),
        ("jacobian wrt a definition", lambda: tcnb.jacobian(out, out), out.node is not var.node),
        ("jacobian wrt None", lambda: tcnb.jacobian(out, None), True),
        ("jacobian mode='bogus'", lambda: tcnb.jacobian(out, var, mode="bogus"), True),
        ("jacobian mode=3", lambda: tcnb.jacobian(out, var, mode=3), True),
        ("jacobian mode=''", lambda: tcnb.jacobian(out, var, mode=""), False),  # '' reads as the default
        ("derivative order=-1", lambda: tcnb.derivative(out, var, order=-1), True),
        ("derivative order=1.5", lambda: tcnb.derivative(out, var, order=1.5), True),
        ("derivative order='2'", lambda: tcnb.derivative(out, var, order="2"), True),
        ("derivative order=None", lambda: tcnb.derivative(out, var, order=None), True),
        ("derivative order=True", lambda: tcnb.derivative(out, var, order=True), False),
        ("derivative order=0", lambda: tcnb.derivative(out, var, order=0).evaluate(**case.arrays), False),
        ("hvp with itself as direction", lambda: tcnb.hvp(out, var, var), out.rank != 0),
        ("hvp with a direction that is not an Expr", lambda: tcnb.hvp(out, var, np.ones(3)), True),
        ("evaluate backend='bogus'", lambda: out.evaluate(backend="bogus", **no_backend), True),
        ("compile backend='cupy' (maybe absent)", lambda: out.compile(backend="cupy"), False),
        ("compile backend=3", lambda: out.compile(backend=3), True),
        # (sizes of dimensions the expression does not use may be ignored, so these need not fail)
        ("to_source with a string size", lambda: out.to_source(**{d: "x" for d in case.sizes if not d.isdigit()}),
         False),
        ("to_source with a None size", lambda: out.to_source(**{d: None for d in case.sizes if not d.isdigit()}),
         False),
        ("to_source with a negative size", lambda: out.to_source(**{d: -3 for d in case.sizes if not d.isdigit()}),
         False),
        ("stats with a float size", lambda: out.stats(**{d: 2.5 for d in case.sizes if not d.isdigit()}), False),
        ("standalone to_source with a string size",
         lambda: out.to_source(standalone=True, **{d: "x" for d in case.sizes if not d.isdigit()}), False),
        ("stats with no sizes", lambda: out.stats(), False),
        ("structured backend='bogus'", lambda: out.structured(backend="bogus", **no_backend), True),
        ("evaluate positional array", lambda: out.evaluate(np.ones(2)), True),
        ("check with garbage text", lambda: tcnb.check("((", out, var, sizes={d: 2 for d in case.sizes}), True),
        ("check with no sizes", lambda: tcnb.check("0", out, var), True),
        ("check with an unknown wrt", lambda: tcnb.check("0", out, "zz_unknown", sizes={d: 2 for d in case.sizes}),
         True),
        ("parse(None)", lambda: tcnb.parse(None), True),
        ("parse(bytes)", lambda: tcnb.parse(case.source.encode()), True),
        ("define_elementwise('exp')", lambda: tcnb.define_elementwise("exp", "t"), True),
        ("define_elementwise with another symbol", lambda: tcnb.define_elementwise("zz_f", "t + s"), True),
        ("define_elementwise with garbage", lambda: tcnb.define_elementwise("zz_g", "(("), True),
        ("define_elementwise with a number name", lambda: tcnb.define_elementwise("1f", "t"), True),
    ]
    if out.rank > 0:
        calls.append(("grad of a tensor", lambda: tcnb.grad(out, var), True))
        calls.append(("hvp of a tensor", lambda: tcnb.hvp(out, var, var), True))
    if tensor is not None and tensor.shape != var.shape and out.rank == 0:
        calls.append(("hvp with a direction of another shape", lambda: tcnb.hvp(out, var, tensor), True))
    return calls


@cs.campaign_settings(25, share=0.3)
@given(cs.programs(depth=(1, 2), max_rank=2), st.data())
def test_bad_api_arguments(case, data):
    ok, prog = guarded(lambda: tcnb.parse(case.source), "parse a valid program", case)
    if not ok:
        return
    calls = _api_calls(prog, case)
    for what, call, must_fail in data.draw(st.lists(st.sampled_from(calls), min_size=1, max_size=6,
                                                     unique_by=lambda c: c[0]), label="calls"):
        ok, res = guarded(call, what, case)
        if ok and must_fail:
            cs.failed("badinput", case, AssertionError(f"{what} was accepted: {res!r}"[:300]), what)


@cs.campaign_settings(25, share=0.3)
@given(cs.programs(depth=(1, 3), max_rank=2), st.sampled_from([8, 64, 200, 1000, 5000]), st.data())
def test_tiny_memory_budget(case, budget, data):
    """With a tiny memory budget, evaluation, derivatives and structured results either fit or
    raise MemoryBudgetError (a TcnbError) before allocating; never another exception."""
    old = tcnb.config.memory_budget
    tcnb.config.memory_budget = budget
    try:
        ok, prog = guarded(lambda: tcnb.parse(case.source), "parse a valid program", case)
        if not ok:
            return
        out = prog[case.out]
        with np.errstate(all="ignore"):
            guarded(lambda: out.evaluate(**case.arrays), f"evaluate under a budget of {budget} B", case)
            w = prog[data.draw(st.sampled_from(sorted(case.var_shapes)), label="wrt")]
            D = tcnb.jacobian(out, w)
            guarded(lambda: D.evaluate(**case.arrays), f"jacobian under a budget of {budget} B", case)
            ok, S = guarded(lambda: D.structured(**case.arrays), f"structured under a budget of {budget} B", case)
            if ok:
                guarded(lambda: S.dense(), f"structured().dense() under a budget of {budget} B", case)
                guarded(lambda: S.cores, f"structured().cores under a budget of {budget} B", case)
    finally:
        tcnb.config.memory_budget = old


# ------------------------------------------------------------------------------- regressions
# Deterministic reproducers of bugs the campaign found (they stay after the fixes).


@pytest.mark.parametrize("name", ["x", "λ", "λλλ", "δx", "x_1", "Ω2"])
@pytest.mark.parametrize("template, bad", [
    ("{n}: R[n]\nz = {n} + foo({n})\n", "foo"),                       # unknown function
    ("{n}: R[n]\nz = {n} * {n} + q\n", "q"),                          # undeclared name
    ("{n}: R[n]\nz = sum({n}, 3) + {n}\n", "3"),                      # axis out of range
    ("{n}: R[n]\nA: R[m, m]\nz = {n} + A @ {n}\n", "A @"),            # shapes
])
def test_error_column_counts_characters_not_bytes(name, template, bad):
    """Found by the campaign: the column (and the caret) came from ast's col_offset, which counts
    UTF-8 bytes, so every non-ASCII character before the error moved it one place right per extra
    byte ('λ: R[n]\\nz = λ + foo(λ)' said column 10, the caret under 'o'). Expected: the character
    column of the offending token."""
    source = template.format(n=name)
    with pytest.raises(tcnb.TcnbError) as info:
        tcnb.parse(source)
    err = info.value
    line = source.splitlines()[err.line - 1]
    assert err.col == line.index(bad), f"column {err.col + 1}, expected {line.index(bad) + 1}: {err}"
    caret_line = str(err).splitlines()[-1]
    assert caret_line.index("^") - 4 == line.index(bad), str(err)


@cs.campaign_settings(60, share=0.2)
@given(st.lists(st.sampled_from(["x", "λ", "é", "ß", "Ж", "_", "x1", "δ", "ü", "ﬀ"]), min_size=1, max_size=4)
       .map("".join).filter(str.isidentifier),
       st.sampled_from(["foo({n})", "q", "{n}[i]", "{n} @ 2"]))
def test_error_column_after_unicode_names(name, bad):
    """The column names the character where the bad token starts, whatever the names before it."""
    import unicodedata
    name = unicodedata.normalize("NFKC", name)   # (what Python's parser makes of an identifier)
    expr = bad.format(n=name)
    source = f"{name}: R[n]\nzz = {name} + {name} * ({expr})\n"   # parenthesised: @ and * bind alike
    try:
        tcnb.parse(source)
    except tcnb.TcnbError as err:
        line = source.splitlines()[err.line - 1]
        assert err.col == line.index(expr), f"column {err.col + 1}, expected {line.index(expr) + 1}: {err}"
    else:
        raise AssertionError(f"accepted {source!r}")


@pytest.mark.parametrize("standalone", [False, True])
@pytest.mark.parametrize("size", ["x", None, 2.5, -3, 0, [2]])
def test_to_source_refuses_bad_sizes(size, standalone):
    """Found by the campaign: to_source(n="x") and to_source(n=None) raised a bare TypeError
    ('<' not supported between 'str' and 'int', from dims.resolve_shape), to_source(n=2.5)
    printed code for a size of 2.5, and the standalone variant raised TypeError 'Cannot convert
    symbols to int' for an index map; stats() refuses all of them with a TcnbError. Expected: a
    TcnbError naming the size, as stats() does."""
    prog = tcnb.parse("x: R[n]\nA: R[2*n, n]\ny = A @ x\nr[i:n] = x[n - 1 - i]\nd[i:n] = A[2*i + 1, i]\n")
    for name in ("y", "r", "d"):
        with pytest.raises(tcnb.TcnbError) as info:
            prog[name].to_source(standalone=standalone, n=size)
        assert "n" in str(info.value)
        with pytest.raises(tcnb.TcnbError):
            prog[name].stats(n=size)
