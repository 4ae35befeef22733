"""The IR visitor: dispatch by node class, a clear error for an unhandled kind, children first."""
from __future__ import annotations

import pytest
import sympy

import tcnb
from tcnb import ir
from tcnb.visit import Visitor, bottom_up


class _Kinds(Visitor):
    def visit_Var(self, n, results):
        return n.name

    def visit_Einsum(self, n, results):
        return "*(" + ",".join(results[o.id] for o in n.operands) + ")"

    def visit_Elementwise(self, n, results):
        return f"f({results[n.arg.id]})"


def test_bottom_up_gives_each_node_its_childrens_results():
    p = tcnb.parse("X: R[m, n]\nw: R[n]\nz = tanh(X @ w)")
    out = bottom_up(_Kinds(), [p["z"].node])
    assert out[p["z"].node.id] == "f(*(X,w))" or out[p["z"].node.id] == "f(*(w,X))"


def test_an_unhandled_kind_is_named():
    p = tcnb.parse("x: R[n]\nf = sum(x) + 1")
    with pytest.raises(TypeError, match=r"_Kinds has no rule for (Add|Const) nodes"):
        bottom_up(_Kinds(), [p["f"].node])


class _Depth(Visitor):
    def generic_visit(self, n, results):
        return 1 + max((results[c.id] for c in n.children), default=0)


def test_bottom_up_needs_no_recursion_on_deep_dags():
    x = ir.Var.make("x", ("n",))
    node = x
    for _ in range(3000):
        node = ir.add(ir.Elementwise.make(sympy.tanh(ir.T), node), x)
    depth = bottom_up(_Depth(), [node])[node.id]
    assert depth > 3000  # far past Python's recursion limit


def _corpus_nodes():
    from corpus import CORPUS
    for entry in CORPUS:
        prog = tcnb.parse(entry.src)
        for expr in prog.values():
            yield from ir.topological([expr.node])
        yield from ir.topological([tcnb.jacobian(prog[entry.of], next(iter(entry.wrt))).node])


def test_with_children_rebuilds_every_kind_identically():
    """n.with_children(n.children) is n itself (hash-consing), for every node of the corpus; with a
    child replaced, the node keeps its kind and fields."""
    seen = set()
    for n in _corpus_nodes():
        assert n.with_children(n.children) is n
        seen.add(type(n).__name__)
    assert {"Var", "Einsum", "Add", "Elementwise", "General"} <= seen
    p = tcnb.parse("A: R[n, n]\nB: R[n, n]\nx: R[n]\nf = tanh(inv(A) @ x) + x")
    A, B = p["A"].node, p["B"].node
    inv_a = next(n for n in ir.topological([p["f"].node]) if isinstance(n, ir.General))
    inv_b = inv_a.with_children([B])
    assert isinstance(inv_b, ir.General) and inv_b.name == "inv" and inv_b.args == (B,)
    with pytest.raises(TypeError, match="no children"):
        A.with_children([B])
