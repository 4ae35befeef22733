"""The tensor language: programs, declarations, shapes, indices, and hash-consing.

Index notation, einsum and array syntax that mean the same thing must build the *same* node
(``is``), so common subexpressions are shared by construction.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

import tcnb

from conftest import assert_matches, random_inputs

DECLS = """\
X: R[m, n]
Y: R[m, n]
A: R[n, n]
w: R[n]
x: R[n]
y: R[n]
s: R[m]
"""

# groups of definitions (one name each) that mean the same thing
SAME = {
    "matvec": ["z1 = X @ w", 'z2 = einsum("ij,j->i", X, w)', "z3[i] = X[i, j] * w[j]", "z4 = dot(X, w)",
               'z5 = einsum("j,ij->i", w, X)', "z6[a] = w[b] * X[a, b]"],
    "gram": ["G1 = X.T @ X", "G2[i, j] = X[k, i] * X[k, j]", 'G3 = einsum("ki,kj->ij", X, X)',
             "G4 = (X.T @ X).T"],
    "dot": ["d1 = sum(x * y)", "d2 = dot(x, y)", 'd3 = einsum("i,i->", x, y)', "d4 = x @ y",
            'd5 = einsum("i,i", x, y)'],
    "trace": ["t1 = trace(A)", 't2 = einsum("ii->", A)', 't3 = einsum("ii", A)', "t4 = trace(A.T)"],
    "diagonal": ["g1[i] = A[i, i]", "g2 = diagonal(A)", 'g3 = einsum("ii->i", A)'],
    "outer": ["o1 = outer(x, y)", 'o2 = einsum("i,j->ij", x, y)', "o3[i, j] = x[i] * y[j]"],
    "transpose": ["T1 = A.T", 'T2 = einsum("ij->ji", A)', "T3[i, j] = A[j, i]"],
    "column sums": ["s1 = sum(X, 0)", 's2 = einsum("ij->j", X)', "s3[j] = X[i, j]", "s4 = sum(X, axis=0)"],
    "total sum": ["S1 = sum(X)", 'S2 = einsum("ij->", X)', "S3 = sum(sum(X, 0))", "S4 = sum(X, (0, 1))"],
    "weighted gram": ["H1[i, j] = X[k, i] * s[k] * X[k, j]", 'H2 = einsum("ki,k,kj->ij", X, s, X)',
                      "H3 = X.T @ diag(s) @ X"],
    "chain": ["a1 = X @ A @ w", 'a2 = einsum("ij,jk,k->i", X, A, w)', "a3[i] = X[i, j] * A[j, k] * w[k]",
              "a4 = X @ (A @ w)"],
    "frobenius inner": ["f1 = sum(X * Y)", 'f2 = einsum("ij,ij->", X, Y)', "f3 = trace(X.T @ Y)"],
    "elementwise of a product": ["e1 = exp(X @ w)", 'e2 = exp(einsum("ij,j->i", X, w))',
                                 "e3 = exp(dot(X, w))"],
    "scaled": ["c1 = 2 * X", "c2 = X * 2", "c4[i, j] = 2 * X[i, j]", "c5 = X / 0.5"],
    # einsum letters are local to each call; index notation sums each product term on its own
    "composed einsums": ["q1 = X @ A", 'q2 = einsum("ab->ab", X) @ einsum("ab->ab", A)',
                         'q3 = einsum("ij,jk->ik", X, A)', "q4[i, k] = X[i, j] * A[j, k]"],
    "product plus matrix": ["P1 = X @ A + Y", "P2[i, j] = X[i, k] * A[k, j] + Y[i, j]",
                            "P3[i, j] = Y[i, j] + A[k, j] * X[i, k]"],
    "contraction under a function": ["F1 = exp(X @ w)", "F2[i] = exp(X[i, k] * w[k])"],
}


@pytest.mark.parametrize("group", list(SAME), ids=list(SAME))
def test_same_meaning_same_node(group):
    defs = SAME[group]
    prog = tcnb.parse(DECLS + "\n".join(defs))
    names = [d.split("=")[0].split("[")[0].strip() for d in defs]
    first = prog[names[0]].node
    for name in names[1:]:
        assert prog[name].node is first, f"{names[0]} and {name} ({group}) are different nodes"
        assert prog[name] == prog[names[0]]


def test_same_meaning_same_value(rng):
    """The groups above really are equal in value (so the node identity is not a coincidence)."""
    defs = [d for group in SAME.values() for d in group]
    prog = tcnb.parse(DECLS + "\n".join(defs))
    arrays = random_inputs(prog, {"m": 4, "n": 3}, rng)
    for group in SAME.values():
        names = [d.split("=")[0].split("[")[0].strip() for d in group]
        ref = prog[names[0]].evaluate(**arrays)
        for name in names[1:]:
            assert_matches(prog[name].evaluate(**arrays), ref)


@pytest.mark.parametrize("a,b", [
    ("r1 = X.T @ X", "r2 = X @ X.T"),
    ("r1 = A @ A.T", "r2 = A.T @ A"),
    ("r1 = A", "r2 = A.T"),
    ("r1 = sum(X, 0)", "r2 = sum(X, 1)"),
    ("r1 = X + Y", "r2 = X - Y"),
    ("r1 = exp(X)", "r2 = log(X)"),
    ("r1 = 2 * X", "r2 = 3 * X"),
    ("r1 = outer(x, y)", "r2 = outer(y, x)"),
    ('r1 = einsum("ij,jk->ik", A, A)', 'r2 = einsum("ij,kj->ik", A, A)'),
])
def test_different_meaning_different_node(a, b):
    prog = tcnb.parse(DECLS + a + "\n" + b)
    assert prog["r1"].node is not prog["r2"].node


def test_hash_consing_across_programs():
    src = DECLS + "f = sum(log(1 + exp(-s * (X @ w))))\n"
    assert tcnb.parse(src)["f"].node is tcnb.parse(src)["f"].node
    other = tcnb.parse("X: R[m, n]\nw: R[n]\ns: R[m]\ng = sum(log(1 + exp(-s * (X @ w))))")
    assert other["g"].node is tcnb.parse(src)["f"].node


def test_common_subexpressions_are_shared():
    prog = tcnb.parse(DECLS + "a = exp(X @ w)\nb = exp(X @ w)\nc = X @ w\nd = exp(c)")
    assert prog["a"].node is prog["b"].node is prog["d"].node


def test_program_is_a_mapping_of_declarations_and_definitions():
    prog = tcnb.parse("X: R[m, n]\nw: R[n]\nc: R\nz = X @ w\nf = sum(z) * c\n")
    assert isinstance(prog, Mapping)
    assert list(prog) == ["X", "w", "c", "z", "f"]
    assert len(prog) == 5
    assert set(prog.variables) == {"X", "w", "c"}
    assert set(prog.definitions) == {"z", "f"}
    assert isinstance(prog["z"], tcnb.Expr)
    assert "z" in prog and "q" not in prog
    with pytest.raises(KeyError):
        prog["q"]


def _shape(e):
    return tuple(str(d) for d in e.shape)


def test_declared_and_inferred_shapes():
    prog = tcnb.parse("""
X: R[m, n]
w: R[n]
c: R
v: R[n + 1]
B: R[3, n]
T: R[k, m, n]
z = X @ w
G = X.T @ X
f = sum(z)
o = outer(z, w)
b = T @ w
u = T + X
s = sum(T, 1)
h[i, j] = X[k, i] * X[k, j]
q = c * X
e = eye(n)
one = ones(k, m)
dg = diag(w)
""")
    assert _shape(prog["X"]) == ("m", "n")
    assert _shape(prog["c"]) == ()
    assert _shape(prog["v"]) == ("n + 1",)
    assert _shape(prog["B"]) == ("3", "n")
    assert _shape(prog["z"]) == ("m",)
    assert _shape(prog["G"]) == ("n", "n")
    assert _shape(prog["f"]) == ()
    assert _shape(prog["o"]) == ("m", "n")
    assert _shape(prog["b"]) == ("k", "m")
    assert _shape(prog["u"]) == ("k", "m", "n")
    assert _shape(prog["s"]) == ("k", "n")
    assert _shape(prog["h"]) == ("n", "n")
    assert _shape(prog["q"]) == ("m", "n")
    assert _shape(prog["e"]) == ("n", "n")
    assert _shape(prog["one"]) == ("k", "m")
    assert _shape(prog["dg"]) == ("n", "n")
    assert prog["f"].rank == 0 and prog["u"].rank == 3


def test_index_notation_keeps_its_index_names():
    prog = tcnb.parse("X: R[m, n]\nG[a, b] = X[k, a] * X[k, b]\nz[i] = X[i, j]\n")
    assert prog["G"].indices == ("a", "b")
    assert prog["z"].indices == ("i",)
    assert len(prog["X"].indices) == 2


def test_index_range_on_the_left_broadcasts():
    prog = tcnb.parse("x: R[n]\nY[i, j:m] = x[i]\n")
    assert _shape(prog["Y"]) == ("n", "m")
    x = np.arange(3.0)
    assert_matches(prog["Y"].evaluate(x=x, m=2), np.stack([x, x], axis=1))


def test_linear_index_map_from_the_design():
    """DESIGN.md: ``Y[i:m, j:n] = exp(x[i + j])`` — linear index maps, ranges as slices."""
    prog = tcnb.parse("x: R[m + n - 1]\nY[i:m, j:n] = exp(x[i + j])\n")
    assert _shape(prog["Y"]) == ("m", "n")
    x = np.random.default_rng(0).standard_normal(4)
    want = np.exp(np.array([[x[i + j] for j in range(3)] for i in range(2)]))
    assert_matches(prog["Y"].evaluate(x=x, m=2, n=3), want)


def test_comments_blank_lines_and_strings_are_ignored():
    prog = tcnb.parse('''
"""A logistic regression objective."""
# data
X: R[m, n]     # features

y: R[m]
w: R[n]
z = X @ w      # margins
f = sum(softplus(-y * z))
''')
    assert set(prog.definitions) == {"z", "f"}


def test_empty_program():
    prog = tcnb.parse("")
    assert len(prog) == 0
    assert len(tcnb.parse("# nothing here\n\n")) == 0


def test_user_function_definition():
    prog = tcnb.parse("x: R[n]\ndef swish(t): return t * sigmoid(t)\ny = swish(x)\nz = swish(swish(x))\n")
    assert "swish" in prog.functions
    x = np.linspace(-3, 3, 7)
    sw = x / (1 + np.exp(-x))
    assert_matches(prog["y"].evaluate(x=x), sw)
    assert_matches(prog["z"].evaluate(x=x), sw / (1 + np.exp(-sw)))


def test_user_function_is_local_to_its_program():
    tcnb.parse("x: R[n]\ndef myfun(t): return t * 3\ny = myfun(x)\n")
    with pytest.raises(tcnb.TensorSyntaxError):
        tcnb.parse("x: R[n]\ny = myfun(x)\n")


def test_definitions_may_use_earlier_definitions():
    prog = tcnb.parse("X: R[m, n]\nw: R[n]\nz = X @ w\np = sigmoid(z)\ng = X.T @ (p * (1 - p))\n")
    rng = np.random.default_rng(1)
    X, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    p = 1 / (1 + np.exp(-(X @ w)))
    assert_matches(prog["g"].evaluate(X=X, w=w), X.T @ (p * (1 - p)))


def test_broadcasting_aligns_dimension_symbols_from_the_right():
    prog = tcnb.parse("A: R[n, n]\nx: R[n]\nT: R[k, m, n]\nM: R[m, n]\nr = A + x\nu = T * M - x\n")
    rng = np.random.default_rng(2)
    A, x, T, M = rng.standard_normal((3, 3)), rng.standard_normal(3), rng.standard_normal((2, 4, 3)), \
        rng.standard_normal((4, 3))
    assert_matches(prog["r"].evaluate(A=A, x=x), A + x)
    assert_matches(prog["u"].evaluate(T=T, M=M, x=x), T * M - x)


def test_sizes_can_be_passed_for_dimensions_without_arrays():
    prog = tcnb.parse("E = eye(n)\nO = ones(n, m)\nS = sum(ones(n, m))\n")
    assert_matches(prog["E"].evaluate(n=3), np.eye(3))
    assert_matches(prog["S"].evaluate(n=3, m=4), 12.0)
    assert_matches(prog["O"].evaluate(n=3, m=4), np.ones((3, 4)))


def test_integer_and_compound_dimensions_evaluate():
    prog = tcnb.parse("v: R[n + 1]\nB: R[3, n]\nr = B @ ones(n) \nq = sum(v)\n")
    B = np.arange(6.0).reshape(3, 2)
    assert_matches(prog["r"].evaluate(B=B), B.sum(axis=1))
    assert_matches(prog["q"].evaluate(v=np.arange(3.0), n=2), 3.0)


def test_constant_only_definition():
    """``r = 2 + 3`` is a constant: either a scalar expression worth 5, or a TcnbError, never a crash."""
    for src in ("r = 2 + 3", "x: R[n]\nr = 5.0"):
        try:
            prog = tcnb.parse(src)
        except tcnb.TcnbError:
            continue
        assert float(prog["r"].evaluate()) == 5.0


def test_einstein_string_form():
    prog = tcnb.parse("X: R[m, n]\nw: R[n]\nz = X @ w\n")
    assert "*(ij,j->i)" in prog["z"].einstein()
    text = repr(prog["z"])
    assert "X" in text and "w" in text and "z" in text
