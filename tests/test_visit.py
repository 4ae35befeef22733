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
