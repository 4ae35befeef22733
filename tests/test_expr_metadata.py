"""What a derivative is travels as fields on tcnb.Expr (kind, of, wrt, order, mode), never parsed
back from its name: the derivative functions set them, every copy keeps them, the docstring of a
standalone module and the LaTeX read them, and a user's expression merely *named* like a
derivative is not taken for one."""
from __future__ import annotations

import re

import pytest

import tcnb
from tcnb import diff
from tcnb.expr import DERIVATIVE_KINDS, _describe
from tcnb.notebook import display as D
from tcnb.render.dot import merged_digraph, to_digraph

MODES = diff.MODES
SRC = """X: R[m, n]
y: R[m]
w: R[n]
v: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
"""
FIELDS = ("kind", "of", "wrt", "order", "mode")


@pytest.fixture(scope="module")
def p():
    return tcnb.parse(SRC)


def fields(e) -> tuple:
    return tuple(getattr(e, k) for k in FIELDS)


def test_plain_expressions_have_no_derivative_fields(p):
    for e in list(p.values()) + [tcnb.Expr(p["f"].node)]:
        assert fields(e) == (None, None, None, 0, None)
        assert "with respect to" not in _describe(e)


@pytest.mark.parametrize("mode", MODES)
def test_each_derivative_function_sets_its_fields(p, mode):
    f, z, w, v = p["f"], p["z"], p["w"], p["v"]
    assert fields(tcnb.grad(f, w, mode=mode)) == ("gradient", "f", "w", 1, mode)
    assert fields(tcnb.jacobian(z, "w", mode=mode)) == ("jacobian", "z", "w", 1, mode)
    assert fields(tcnb.hessian(f, w, mode=mode)) == ("hessian", "f", "w", 2, mode)
    assert fields(tcnb.hvp(f, w, v, mode=mode)) == ("hvp", "f", "w", 2, mode)
    for k in (1, 2, 3):
        assert fields(tcnb.derivative(f, w, k, mode=mode)) == ("derivative", "f", "w", k, mode)
    assert tcnb.derivative(f, w, 0, mode=mode) is f  # order 0 is f itself, a plain expression


def test_the_default_mode_is_recorded(p):
    assert tcnb.grad(p["f"], p["w"]).mode == tcnb.api.DEFAULT_MODE
    assert tcnb.hvp(p["f"], p["w"], p["v"]).mode == tcnb.api.DEFAULT_MODE


@pytest.mark.parametrize("outer", MODES)
@pytest.mark.parametrize("inner", MODES)
def test_nested_derivatives_name_the_inner_expression(p, inner, outer):
    g = tcnb.grad(p["f"], p["w"], mode=inner)
    J = tcnb.jacobian(g, p["w"], mode=outer)
    assert fields(J) == ("jacobian", "grad_w f", "w", 1, outer)
    assert J.name == "dgrad_w f/dw"
    JJ = tcnb.jacobian(tcnb.jacobian(p["z"], p["w"], mode=inner), p["w"], mode=outer)
    assert fields(JJ) == ("jacobian", "dz/dw", "w", 1, outer)
    D2 = tcnb.derivative(J, p["w"], 2, mode=outer)
    assert fields(D2) == ("derivative", "dgrad_w f/dw", "w", 2, outer)


def test_names_stay_as_they_were(p):
    f, z, w, v = p["f"], p["z"], p["w"], p["v"]
    assert tcnb.grad(f, w).name == "grad_w f"
    assert tcnb.hessian(f, w).name == "Hessian_w f"
    assert tcnb.hvp(f, w, v).name == "Hv_w f"
    assert tcnb.derivative(f, w, 3).name == "D3_w f"
    assert tcnb.jacobian(z, w).name == "dz/dw"
    unnamed = tcnb.Expr(f.node, known_names=f.known_names)
    g = tcnb.grad(unnamed, "w")
    assert g.name == "grad_w f" and g.of is None and "gradient of f" in _describe(g)


def test_descriptions_read_the_fields(p):
    f, z, w, v = p["f"], p["z"], p["w"], p["v"]
    assert _describe(tcnb.hessian(f, w)) == "Hessian_w f: the Hessian of f with respect to w."
    assert _describe(tcnb.grad(f, w)) == "grad_w f: the gradient of f with respect to w."
    assert _describe(tcnb.hvp(f, w, v)) == "Hv_w f: the Hessian-vector product of f with respect to w."
    assert _describe(tcnb.derivative(f, w, 3)) == "D3_w f: the derivative of order 3 of f with respect to w."
    assert _describe(tcnb.jacobian(z, w)) == "dz/dw: the derivative (Jacobian) of z with respect to w."
    nested = tcnb.jacobian(tcnb.grad(f, w), w)
    assert _describe(nested) == "dgrad_w f/dw: the derivative (Jacobian) of grad_w f with respect to w."
    doc = tcnb.hessian(f, w).to_source(standalone=True)
    assert "the Hessian of f with respect to w" in doc


@pytest.mark.parametrize("name", ["Hessian_w f", "grad_w f", "Hv_w f", "D3_w f", "df/dw",
                                  "d f / d w", "a/b/c", "Hessian of f"])
def test_a_name_like_a_derivative_is_not_a_derivative(p, name):
    e = tcnb.Expr(p["f"].node, name, known_names=p["f"].known_names)
    assert fields(e) == (None, None, None, 0, None)
    assert _describe(e) == f"{name}."
    tex = e.latex()
    assert r"\nabla" not in tex and r"\partial" not in tex and r"\operatorname{Hv}" not in tex
    assert tex.startswith(r"\text{")
    assert "with respect to" not in e.to_source(standalone=True).split("Formula")[0]
    assert "with respect to" in _describe(tcnb.grad(e, "w"))  # its own derivatives are derivatives
    assert tcnb.grad(e, "w").of == name


def test_program_definitions_named_like_derivatives_are_plain():
    prog = tcnb.parse("w: R[n]\nHessian_w = sum(w * w)\ngrad_w = Hessian_w * 2\nD2_w = grad_w + 1")
    for name in ("Hessian_w", "grad_w", "D2_w"):
        e = prog[name]
        assert e.kind is None and _describe(e) == f"{name}."
        assert r"\nabla" not in e.latex()
    assert all(r"\nabla" not in tex for tex in prog.definitions_latex().values())
    H = tcnb.hessian(prog["Hessian_w"], "w")
    assert fields(H)[:4] == ("hessian", "Hessian_w", "w", 2) and H.name == "Hessian_w Hessian_w"


def test_tensor_cell_named_like_a_derivative():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    if "TensorMagics" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "tcnb")
    saved = dict(shell.user_ns)
    try:
        assert shell.run_cell("%%tensor grad_w\nw: R[n]\nHessian_w = sum(w * w)",
                              store_history=False).success
        assert shell.run_cell("%%derive --show none\nH = hessian(Hessian_w, w)",
                              store_history=False).success
        plain, H = shell.user_ns["Hessian_w"], shell.user_ns["H"]
        assert plain.kind is None and r"\nabla" not in plain.latex()
        assert fields(H)[:4] == ("hessian", "Hessian_w", "w", 2)
    finally:
        shell.user_ns.clear()
        shell.user_ns.update(saved)
        magics = shell.magics_manager.registry["TensorMagics"]
        magics.last_program = magics.last_program_name = magics.last_failure = None


def test_latex_of_derivatives_reads_the_fields(p):
    f, z, w, v = p["f"], p["z"], p["w"], p["v"]
    assert r"\left(\nabla_{w} f\right)_{" in tcnb.grad(f, w).latex()
    assert r"\left(\nabla^{2}_{w} f\right)_{" in tcnb.hessian(f, w).latex()
    assert r"\left(\nabla^{3}_{w} f\right)_{" in tcnb.derivative(f, w, 3).latex()
    assert r"\left(\operatorname{Hv}_{w} f\right)_{" in tcnb.hvp(f, w, v).latex()
    assert r"\left(\frac{\partial z}{\partial w}\right)_{" in tcnb.jacobian(z, w).latex()
    # a nested derivative: the inner name as text (it was all one \text{...} while names were parsed)
    nested = tcnb.jacobian(tcnb.grad(f, w), w).latex()
    assert r"\frac{\partial \text{grad\_w f}}{\partial w}" in nested


def test_copies_keep_the_fields(p):
    H = tcnb.hessian(p["f"], p["w"], mode="forward")
    for copy in (H._replace(name="H"), H._replace(indices=("a", "b")), H._replace(split=0),
                 H._replace(known_names=())):
        assert fields(copy) == fields(H) == ("hessian", "f", "w", 2, "forward")
    renamed = H._replace(name="H")
    assert renamed.name == "H" and renamed.node is H.node and renamed.indices == H.indices
    assert renamed.split == H.split and renamed.known_names == H.known_names
    assert r"\nabla^{2}_{w} f" in renamed.latex()  # still a Hessian, whatever it is called
    assert _describe(renamed) == "H: the Hessian of f with respect to w."
    plain = H._replace(kind=None, of=None, wrt=None, order=0, mode=None)
    assert fields(plain) == (None, None, None, 0, None) and r"\nabla" not in plain.latex()


def test_the_fields_are_immutable_and_checked(p):
    H = tcnb.hessian(p["f"], p["w"])
    for k in FIELDS:
        with pytest.raises(AttributeError):
            setattr(H, k, None)
    with pytest.raises(ValueError, match="kind"):
        tcnb.Expr(p["f"].node, kind="laplacian", order=2)
    with pytest.raises(ValueError, match="order"):
        tcnb.Expr(p["f"].node, kind="hessian")
    with pytest.raises(ValueError, match="order"):
        tcnb.Expr(p["f"].node, order=2)
    assert set(DERIVATIVE_KINDS) == {"jacobian", "gradient", "hessian", "hvp", "derivative"}


# ------------------------------------------------------------------------------ the program graph

def _statements(g):
    """(node name -> merged attributes text, sorted edge statements) of a graph's DOT body."""
    nodes, edges = {}, []
    for line in g.body:
        line = line.strip()
        if " -> " in line:
            edges.append(line)
        elif re.match(r"n\d+ \[", line):
            nodes[line.split(" ", 1)[0]] = line
    return nodes, sorted(edges)


def test_one_root_is_drawn_like_to_digraph(p):
    H = tcnb.hessian(p["f"], p["w"])
    one = merged_digraph([(H.node, H.name)], graph_name="x")
    assert _statements(one) == _statements(to_digraph(H.node, name=H.name))


def test_program_graph_shares_nodes_and_names_each_definition_once():
    prog = tcnb.parse("x: R[n]\na = x * x\nb = x * x\nc = sum(a * b)\nd = c")
    g = D.program_graph(prog)
    nodes, edges = _statements(g)
    assert g.name == "program"
    a, c = prog["a"].node, prog["c"].node
    assert prog["b"].node is a and prog["d"].node is c
    assert r"a =\n" in nodes[f"n{a.id}"] and r"b =\n" not in g.source  # the first name wins
    assert r"c =\n" in nodes[f"n{c.id}"] and r"d =\n" not in g.source
    assert "peripheries=2" in nodes[f"n{a.id}"] and "peripheries=2" in nodes[f"n{c.id}"]
    assert len(nodes) == len({n.id for n in tcnb.ir.topological([e.node for e in prog.definitions.values()])})
    assert len(edges) == sum(len(n.children) for n in tcnb.ir.topological([c]))  # x*x: both operands
    assert sum(e.startswith(f"n{prog['x'].node.id} -> n{a.id}") for e in edges) == 2
