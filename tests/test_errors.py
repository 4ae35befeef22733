"""Errors a user can act on: every bad program or bad array raises a TcnbError subclass naming the
line and column of the offending source (parse errors) or the variable, axis and sizes (binding
errors), with what was expected — never a bare Python exception from inside tcnb.
"""
from __future__ import annotations

import numpy as np
import pytest

import tcnb
from tcnb import BindingError, ShapeError, TcnbError, TensorSyntaxError

# (source, error class, line, column or None when not meaningful, words the message must contain)
PARSE_ERRORS = [
    # undeclared names
    ("x: R[n]\ny = x + z", TensorSyntaxError, 2, 8, ["undeclared", "z"]),
    ("x: R[n]\ny = exp(x)\nq = y * w2", TensorSyntaxError, 3, 8, ["w2"]),
    ("x: R[n]\nG[i] = x[i] * v[i]", TensorSyntaxError, 2, 14, ["v"]),
    ('x: R[n]\nz = einsum("i,i->", x, u)', TensorSyntaxError, 2, 23, ["u"]),
    # unknown functions
    ("x: R[n]\ny = foo(x)", TensorSyntaxError, 2, 4, ["unknown function", "foo"]),
    ("x: R[n]\ny = 2 * np.exp(x)", TensorSyntaxError, 2, 8, []),
    ("def f(t): return sum(t)", TensorSyntaxError, 1, None, ["sum"]),
    ("x: R[n]\ny = x(x)", TensorSyntaxError, 2, 4, ["x"]),
    # rank / dimension mismatch in @
    ("c: R\nx: R[n]\ny = c @ x", ShapeError, 3, 4, ["@"]),
    ("X: R[m, n]\ny: R[m]\nz = X @ y", ShapeError, 3, 4, ["@", "m", "n"]),
    ("X: R[m, n]\nY: R[m, n]\nz = X @ Y", ShapeError, 3, 4, ["@"]),
    ("X: R[m, n]\nw: R[n]\n\nz = exp(X @ w) @ w", ShapeError, 4, 4, ["@"]),
    ("x: R[n]\ny: R[m]\nz = dot(x, outer(x, y) @ x)", ShapeError, 3, 11, ["@"]),
    # broadcasting mismatch
    ("X: R[m, n]\ny: R[m]\nz = X + y", ShapeError, 3, 4, ["broadcast", "m", "n"]),
    ("X: R[m, n]\ny: R[m]\nz = X * y", ShapeError, 3, 4, ["m", "n"]),
    ("X: R[m, n]\nY: R[n, m]\nz = X - Y", ShapeError, 3, 4, ["m", "n"]),
    ("X: R[m, n]\ny: R[m]\nz = 1 + exp(X / y)", ShapeError, 3, 12, ["m", "n"]),
    # other shape errors
    ("x: R[n]\ny = sum(x, 3)", ShapeError, 2, None, ["axis"]),
    ("X: R[m, n]\nz = trace(X)", ShapeError, 2, 4, ["square"]),
    ("x: R[n]\nz = inv(x)", ShapeError, 2, 4, ["inv"]),
    ("X: R[m, n]\nz = det(X)", ShapeError, 2, 4, ["det"]),
    ("X: R[m, n]\nG[i, j] = X[i]", ShapeError, 2, None, ["indices"]),
    ('X: R[m, n]\nz = einsum("ijk->i", X)', ShapeError, 2, None, ["rank"]),
    ('X: R[m, n]\nz = einsum("ij,j->i", X)', TensorSyntaxError, 2, None, ["einsum"]),
    ('X: R[m, n]\nw: R[m]\nz = einsum("ij,j->i", X, w)', ShapeError, 3, None, []),
    ("X: R[m, n]\nG[i, j] = X[i, j] * X[j, i]", ShapeError, 2, None, []),
    # unsupported syntax
    ("import numpy", TensorSyntaxError, 1, 0, ["import"]),
    ("x: R[n]\nfrom numpy import exp", TensorSyntaxError, 2, 0, ["import"]),
    ("x: R[n]\nfor i in x:\n    pass", TensorSyntaxError, 2, 0, ["for"]),
    ("x: R[n]\nwhile x:\n    pass", TensorSyntaxError, 2, 0, ["while"]),
    ("x: R[n]\ny = lambda t: t", TensorSyntaxError, 2, 4, ["lambda"]),
    ("x: R[n]\nc: R\ny = x if c else x", TensorSyntaxError, 3, 4, []),
    ("x: R[n]\nif x:\n    y = x", TensorSyntaxError, 2, 0, ["if"]),
    ("x: R[n]\nclass C:\n    pass", TensorSyntaxError, 2, 0, ["class"]),
    ("x: R[n]\ny = [x, x]", TensorSyntaxError, 2, 4, []),
    ("x: R[n]\ny = x < x", TensorSyntaxError, 2, 4, []),
    ("x: R[n]\ny = x.shape", TensorSyntaxError, 2, 4, ["shape"]),
    ("x: R[n]\ny = x[j]", TensorSyntaxError, 2, 4, ["index notation"]),
    ("x: R[n]\ny = 'abc'", TensorSyntaxError, 2, 4, []),
    ("x: R[n]\nx += 1", TensorSyntaxError, 2, 0, []),
    ("x: R[n]\ny = z = x", TensorSyntaxError, 2, 0, []),
    ("x: R[n]\nx", TensorSyntaxError, 2, 0, []),
    # redefinition
    ("x: R[n]\nx = exp(x)", TensorSyntaxError, 2, 0, ["x", "already", "line 1"]),
    ("x: R[n]\nx: R[m]", TensorSyntaxError, 2, 0, ["x", "already"]),
    ("x: R[n]\ny = exp(x)\ny = sin(x)", TensorSyntaxError, 3, 0, ["y", "already", "line 2"]),
    ("x: R[n]\nexp = x", TensorSyntaxError, 2, 0, ["exp"]),
    ("x: R[n]\ndef x(t): return t", TensorSyntaxError, 2, None, ["x"]),
    # bad declarations
    ("x: int[n]", TensorSyntaxError, 1, 3, ["declaration"]),
    ("x: R[0]", TensorSyntaxError, 1, 5, ["positive"]),
    ("x: R[n] = 3", TensorSyntaxError, 1, None, ["declaration"]),
    ("x: R['a']", TensorSyntaxError, 1, 5, ["dimension"]),
    ("x: R[n]\ny: R[x]", TensorSyntaxError, 2, 5, ["x"]),
    ("x: R[n]\nx[0]: R[n]", TensorSyntaxError, 2, None, []),
    # index notation
    ("x: R[n]\nG[i] = x[j]", TensorSyntaxError, 2, None, ["i"]),
    ("x: R[n]\nG[i, i] = x[i]", TensorSyntaxError, 2, None, []),
    ("X: R[m, n]\nG[i, j] = X[i, j] @ X[j, i]", TensorSyntaxError, 2, None, ["@"]),
    # index notation: every term of a sum has the left side's indices (Einstein convention per term)
    ("A: R[m, n]\nB: R[n, m]\nC: R[m, n]\nY[i, j] = A[i, k] * B[k, j] + C[i, k]", ShapeError, 4, 30,
     ["C[i, k]", "'k'"]),
    ("x: R[m]\ny: R[n]\nY[i, j] = x[i] + y[j]", ShapeError, 3, 10, ["x[i]", "'j'"]),
    ("X: R[m, n]\ny[i, j] = X.T[i, j]", TensorSyntaxError, 2, 10, ["named tensor"]),
    ("x: R[n]\nY[i:m] = x[i]", ShapeError, 2, 11, ["'i'", "m", "n"]),
    ("x: R[n]\nY[i] = x[i] * ones(n)", TensorSyntaxError, 2, 14, ["ones"]),
    ('A: R[m, n]\nY = einsum("αβ->βα", A)', TensorSyntaxError, 2, 11, ["einsum"]),
    # element-wise function definitions
    ("def f(a, *b): return a", TensorSyntaxError, 1, None, []),
    ("def f(a, a): return a", TensorSyntaxError, 1, None, ["repeated"]),
    ("x: R[n]\ndef f(a, b): return a * b\ny = f(x)", TensorSyntaxError, 3, 4, ["2 arguments"]),
    ("def f(t):\n    y = t\n    return y", TensorSyntaxError, 1, None, []),
    ("def f(t): return t * q", TensorSyntaxError, 1, 21, ["q"]),
    # Python syntax errors
    ("x: R[n\n", TensorSyntaxError, 1, None, []),
    ("x: R[n]\ny = (x +", TensorSyntaxError, 2, None, []),
    ("x: R[n]\n  y = x", TensorSyntaxError, 2, None, []),
]


def _caret_points_at(text: str, source_line: str, col: int) -> bool:
    """str(err) shows the source line and, on the next line, a caret under column ``col``."""
    lines = text.splitlines()
    want = source_line.rstrip()
    for k, shown in enumerate(lines[:-1]):
        shown = shown.rstrip()
        if want and shown.endswith(want) and not shown[:len(shown) - len(want)].strip():
            indent = len(shown) - len(want)
            if lines[k + 1].rstrip() == " " * (indent + col) + "^":
                return True
    return False


@pytest.mark.parametrize("src,cls,line,col,words", PARSE_ERRORS, ids=[c[0].replace("\n", "; ") for c in PARSE_ERRORS])
def test_parse_error_names_line_column_and_expectation(src, cls, line, col, words):
    with pytest.raises(TcnbError) as info:
        tcnb.parse(src)
    err = info.value
    if cls is not None:
        assert isinstance(err, cls), f"{type(err).__name__}: {err}"
    assert isinstance(err, (TensorSyntaxError, ShapeError))
    assert err.line == line, str(err)
    text = str(err)
    assert f"line {line}" in text
    for word in words:
        assert word.lower() in err.message.lower(), err.message
    assert err.message and err.message in text
    syntax = err.message.startswith("invalid syntax")
    if not syntax:  # Python's own syntax errors carry no 'expected'; everything tcnb checks does
        assert err.expected, f"no 'expected' in: {text}"
        assert str(err.expected) in text
    if col is not None:
        assert err.col == col, text
    if err.col is not None:
        source_line = src.splitlines()[line - 1]
        assert 0 <= err.col <= len(source_line)
        assert _caret_points_at(text, source_line, err.col), text


def test_error_hierarchy():
    for cls in (TensorSyntaxError, ShapeError, BindingError, tcnb.MemoryBudgetError):
        assert issubclass(cls, TcnbError)
    assert issubclass(TcnbError, Exception)


def test_error_attributes():
    with pytest.raises(TensorSyntaxError) as info:
        tcnb.parse("x: R[n]\ny = foo(x)")
    err = info.value
    assert err.line == 2 and err.col == 4
    assert "foo" in err.message
    assert "exp" in err.expected  # lists the known functions
    text = str(err)
    assert "y = foo(x)" in text
    assert "\n" in text and "^" in text.splitlines()[-1]


def test_program_must_be_text():
    with pytest.raises(TcnbError):
        tcnb.parse(None)
    with pytest.raises(TcnbError):
        tcnb.parse(b"x: R[n]")


def test_error_in_later_statement_reports_its_own_line():
    src = "X: R[m, n]\nw: R[n]\nz = X @ w\n\n# comment\nf = sum(z)\ng = f @ w\n"
    with pytest.raises(ShapeError) as info:
        tcnb.parse(src)
    assert info.value.line == 7


def test_deeply_nested_input_is_a_tcnb_error():
    for src in ("x: R[n]\ny = " + "(" * 5000 + "x" + ")" * 5000,
                "x: R[n]\ny = " + "exp(" * 3000 + "x" + ")" * 3000,
                "x: R[n]\ny = x" + " + x" * 3000):
        try:
            tcnb.parse(src)
        except TcnbError as err:
            assert err.line is not None


# ------------------------------------------------------------------------------- binding errors

PROG = "X: R[m, n]\nw: R[n]\nA: R[n, n]\nv: R[n + 1]\nz = X @ w\nt = trace(A)\nq = sum(v) + sum(w)\n"


@pytest.fixture
def prog():
    return tcnb.parse(PROG)


def test_binding_wrong_rank(prog):
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones(3), w=np.ones(2))
    text = str(info.value)
    assert "'X'" in text and "2" in text and "1" in text
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones((2, 1)))
    assert "'w'" in str(info.value)


def test_binding_inconsistent_sizes_names_variable_axis_expected_actual(prog):
    with pytest.raises(BindingError) as info:
        prog["t"].evaluate(A=np.ones((3, 2)))
    text = str(info.value)
    assert "'A'" in text and "axis 1" in text and "2" in text and "3" in text and "n" in text

    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones(4))
    text = str(info.value)
    # which of the two arrays is blamed is the implementation's choice; the message must be complete
    assert ("'w'" in text and "axis 0" in text) or ("'X'" in text and "axis 1" in text), text
    assert "2" in text and "4" in text and "n" in text


def test_binding_compound_dimension(prog):
    with pytest.raises(BindingError) as info:
        prog["q"].evaluate(v=np.ones(4), w=np.ones(2))
    text = str(info.value)
    assert "'v'" in text and "4" in text and "3" in text
    assert float(prog["q"].evaluate(v=np.ones(3), w=np.ones(2))) == 5.0


def test_binding_size_passed_conflicts_with_array(prog):
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones(2), n=5)
    assert "5" in str(info.value) and "2" in str(info.value)


def test_binding_unused_program_variable_still_checked(prog):
    with pytest.raises(BindingError):
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones(2), A=np.ones((3, 3)))


def test_binding_missing_array(prog):
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)))
    assert "'w'" in str(info.value) or "w" in info.value.message


def test_binding_unknown_name(prog):
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones(2), bogus=np.ones(2))
    assert "bogus" in str(info.value)


def test_binding_unknown_size_name(prog):
    """``nn=5`` (a typo for a dimension) must not be silently ignored."""
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=np.ones((3, 2)), w=np.ones(2), nn=5)
    assert "nn" in str(info.value)


def test_binding_missing_size():
    prog = tcnb.parse("E = eye(n)")
    with pytest.raises(BindingError) as info:
        prog["E"].evaluate()
    assert "n" in str(info.value)


@pytest.mark.parametrize("bad", [np.ones((3, 2)) + 1j, np.array([["a", "b"]] * 3), np.array([[None] * 2] * 3)])
def test_binding_non_real_arrays(prog, bad):
    with pytest.raises(BindingError) as info:
        prog["z"].evaluate(X=bad, w=np.ones(2))
    assert "'X'" in str(info.value)


def test_binding_ragged_list_is_a_binding_error(prog):
    with pytest.raises(BindingError):
        prog["z"].evaluate(X=[[1.0, 2.0], [3.0]], w=np.ones(2))


def test_binding_errors_through_compile(prog):
    fn = prog["z"].compile()
    with pytest.raises(BindingError):
        fn(X=np.ones((3, 2)), w=np.ones(3))
    assert fn(X=np.ones((3, 2)), w=np.ones(2)).shape == (3,)


def test_memory_budget_error_is_a_tcnb_error(monkeypatch):
    monkeypatch.setattr(tcnb.config, "memory_budget", 64)
    prog = tcnb.parse("x: R[n]\no = outer(x, x)")
    with pytest.raises(tcnb.MemoryBudgetError) as info:
        prog["o"].evaluate(x=np.ones(100))
    assert isinstance(info.value, TcnbError)
    assert "100" in str(info.value)


@pytest.mark.parametrize("src", ["y: R[n]\nf = sum(10E308 / y)", "y: R[n]\nf = sum(y * 1e309)",
                                 "def g(t): return 1e400 * t\ny: R[n]\nf = sum(g(y))"])
def test_a_literal_too_large_for_a_float_is_refused_where_it_is_written(src):
    # Python reads 1e309 as inf; generated code spelled it `inf` and failed with a NameError
    with pytest.raises(tcnb.TensorSyntaxError, match="too large for a float") as info:
        tcnb.parse(src)
    assert info.value.line is not None and info.value.col is not None
