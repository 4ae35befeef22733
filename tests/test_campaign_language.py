"""Campaign (issue 11, item 12): values of random programs equal an independent NumPy oracle.

The programs (tests/campaign_strategies.py) use hostile names, random dimension symbols,
broadcasting with [:, None] and size-1 axes, index notation with sums of products, einsum, user
functions, reductions and linear algebra; a second family re-declares the same names with other
shapes, a third nests deeply. Every definition of a program is checked, not only the last one.

Some examples hit bugs that are being fixed elsewhere (names clashing with generated code, the
compile cache on re-declared names, einsum composition, per-term summation in index notation,
new axes through / ** and functions, size-1 axes, deep nesting); those tests fail until the fixes
merge. Explicit regression cases for bugs the campaign found are parametrized at the bottom.
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


def assert_value(got, want, what):
    want = np.asarray(want, dtype=np.float64)
    got = np.asarray(got)
    assert got.dtype == np.float64, f"{what}: dtype {got.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
    scale = 1.0 + (float(np.max(np.abs(want[np.isfinite(want)]))) if np.isfinite(want).any() else 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * scale, equal_nan=True, err_msg=what)


def check_values(case, test: str, prog=None, arrays=None) -> bool:
    """Every definition of ``case`` against the oracle; False when a failure was recorded."""
    arrays = case.arrays if arrays is None else arrays
    cs.fresh_caches()
    with np.errstate(all="ignore"):
        want = case.run_oracle(np, arrays)
    try:
        prog = tcnb.parse(case.source) if prog is None else prog
    except Exception as exc:  # a valid program must parse
        cs.failed(test, case, exc, "parse")
        return False
    for name, dims in case.defs.items():
        where = f"value of {name}"
        try:
            expr = prog[name]
            assert tuple(str(d) for d in expr.shape) == tuple(dims), f"symbolic shape {expr.shape}, expected {dims}"
            with np.errstate(all="ignore"):
                got = expr.evaluate(**arrays)
            assert_value(got, want[name], where)
        except Exception as exc:
            cs.failed(test, case, exc, where)
            return False
    return True


@cs.campaign_settings(60, share=1.0)
@given(cs.programs())
def test_random_programs_match_oracle(case):
    check_values(case, "language")


@cs.campaign_settings(25, share=0.4)
@given(cs.programs(depth=(1, 4)), st.data())
def test_same_program_at_other_sizes_and_minimal_arrays(case, data):
    """One parsed program evaluated at two size bindings (the per-size code cache), then each
    definition with only the arrays it uses plus the sizes it cannot get from them as integers."""
    try:
        prog = tcnb.parse(case.source)
    except Exception as exc:
        cs.failed("sizes", case, exc, "parse")
        return
    if not check_values(case, "sizes", prog):
        return
    sizes2 = {d: data.draw(st.integers(1, 4), label=f"size {d}") for d in case.sizes}
    case2 = case.at_sizes(sizes2, case.seed + 5)
    if not check_values(case2, "sizes", prog):
        return
    with np.errstate(all="ignore"):
        want = case2.run_oracle(np)
    for name in case.defs:
        expr = prog[name]
        used = expr.variables
        covered = {d for n in used for dims in [case.var_shapes[n]] for d in dims}
        arrays = {n: case2.arrays[n] for n in used}
        arrays.update({d: v for d, v in case2.sizes.items() if not d.isdigit() and d not in covered})
        try:
            with np.errstate(all="ignore"):
                got = expr.evaluate(**arrays)
            assert_value(got, want[name], f"value of {name} from its own arrays and integer sizes")
        except Exception as exc:
            cs.failed("sizes", case2, exc, f"minimal arrays for {name}")
            return


@cs.campaign_settings(25, share=0.3)
@given(cs.programs())
def test_random_programs_display_and_source(case):
    """Display never raises on a valid program, and the printed NumPy code computes the value."""
    try:
        prog = tcnb.parse(case.source)
        repr(prog)
        out = prog[case.out]
        out.latex()
        repr(out)
        src = out.to_source(**case.sizes)
    except Exception as exc:
        cs.failed("display", case, exc, "display")
        return
    try:
        from tcnb.backend import runtime
        ns: dict = {}
        exec(src, ns)
        args = [case.arrays[n] for n in sorted(out.variables)]
        res = ns["tcnb_fn"](np, runtime, np.float64, *args)
        res = res[0] if isinstance(res, tuple) else res
        with np.errstate(all="ignore"):
            want = case.run_oracle(np)[case.out]
        assert_value(np.asarray(res, dtype=np.float64), want, "to_source() code")
    except Exception as exc:
        cs.failed("display", case, exc, "to_source")
        return
    try:
        with np.errstate(all="ignore"):
            got = cs.run_standalone(out, case.arrays, case.sizes)
        assert_value(np.asarray(got, dtype=np.float64), want, "to_source(standalone=True) module")
    except Exception as exc:
        cs.failed("display", case, exc, "standalone")


@cs.campaign_settings(20, share=0.3)
@given(cs.redeclared_same_text())
def test_same_names_redeclared_with_other_shapes(pair):
    """The same text with the dimension symbols permuted (known bug: the compile cache reuses code
    when names are re-declared with other shapes). P1, P2, then P1 again."""
    case1, case2 = pair
    if "redeclare" in cs.AVOID:
        return
    if check_values(case1, "redeclare"):
        if check_values(case2, "redeclare"):
            check_values(case1, "redeclare")


@cs.campaign_settings(15, share=0.3)
@given(cs.redeclared_pairs())
def test_two_programs_sharing_names(cases):
    """Two different programs whose variables and definitions share names (interleaved)."""
    if "redeclare" in cs.AVOID:
        return
    progs = []
    for case in cases:
        try:
            progs.append(tcnb.parse(case.source))
        except Exception as exc:
            cs.failed("redeclare", case, exc, "parse")
            return
    for case, prog in zip(cases + cases, progs + progs):
        if not check_values(case, "redeclare", prog):
            return


@pytest.mark.timeout(240)
@cs.campaign_settings(6, share=0.05)
@given(cs.deep_programs())
def test_deep_nesting(case):
    """Long chains of functions, long sums and products, long chains of definitions: the right
    value (known bug: deep nesting is slow; the timeout is generous on purpose)."""
    if check_values(case, "deep") and "defs" in case.features:
        try:
            repr(tcnb.parse(case.source)[case.out])
        except Exception as exc:
            cs.failed("deep", case, exc, "repr")


@pytest.mark.timeout(60)
def test_display_of_nested_functions():
    """Known bug (deep nesting/slow display): repr of f(f(...f(x))) took ~10x longer per two levels
    (8 levels: 1.7 s). 14 levels must display well within the timeout."""
    depth = 14
    prog = tcnb.parse("x: R[n]\nout = sum(" + "tanh(" * depth + "x" + ")" * depth + ")\n")
    out = prog["out"]
    assert "tanh" in repr(out) and "tanh" in out.latex()


# ------------------------------------------------------------------------------- regressions
# Deterministic reproducers of bugs the campaign found (they stay after the fixes).


@pytest.mark.parametrize("name", ["tuple", "range", "len", "int", "enumerate", "all", "zip", "isinstance",
                                  "float", "round", "print", "slice", "type", "str", "list", "dict", "ValueError"])
@pytest.mark.parametrize("body", ["{name} = x * 2", "{name}[i:n] = x[n - 1 - i] * 2"])
def test_standalone_module_named_like_a_builtin(name, body):
    """Found by the campaign: expr.to_source(standalone=True) names the module's function after the
    definition, and a definition named like a builtin the module itself calls (tuple, range, len,
    int, enumerate, all, ...) shadowed it: RecursionError, TypeError or a bogus BindingError when
    the module runs. Expected: the module computes the value."""
    from tcnb.backend import standalone
    prog = tcnb.parse("x: R[n]\n" + body.format(name=name) + "\n")
    expr = prog[name]
    ns: dict = {"__name__": "campaign_standalone"}
    exec(compile(expr.to_source(standalone=True), "<standalone>", "exec"), ns)
    x = np.arange(3.0)
    got = ns[standalone.function_name(name)](x)
    np.testing.assert_allclose(got, expr.evaluate(x=x), rtol=1e-12)
