"""The widgets, headless: which SVG is shown after each toggle, slider steps, the labels in the SVG."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("ipywidgets")

import tcnb  # noqa: E402
from tcnb.notebook import display as D  # noqa: E402
from tcnb.widgets import GraphExplorer, Stepper  # noqa: E402

LOGREG = """X: R[m, n]
y: R[m]
w: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
"""

needs_dot = pytest.mark.skipif(not D.dot_available(), reason="Graphviz 'dot' is not installed")


def labels(svg: str) -> list[str]:
    """The text of every label in a Graphviz SVG (entities decoded)."""
    import html
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def node_titles(svg: str) -> list[str]:
    """Graph node names (n<IR id>) of a Graphviz SVG, one per drawn node."""
    return re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>', svg)


@pytest.fixture(scope="module")
def prog():
    return tcnb.parse(LOGREG)


@pytest.fixture
def explorer(prog):
    return GraphExplorer(prog["f"], prog["w"], order=2, sizes={"m": 2000, "n": 1000})


# ------------------------------------------------------------------------------------ explorer

def test_explorer_initial_state(explorer, prog):
    assert explorer.key == ("derivative", 2, "cross-country", True)
    assert explorer.current == tcnb.hessian(prog["f"], prog["w"])
    assert explorer.size_values == {"m": 2000, "n": 1000}


@needs_dot
def test_explorer_svg_has_einstein_labels_and_shared_nodes(explorer, prog):
    svg = explorer.svg
    assert svg.lstrip().startswith("<svg") and explorer.graph.value == svg
    text = labels(svg)
    assert "X" in text and "y" in text and "w" in text
    assert any(t.startswith("*(") and "->" in t for t in text)   # einsum nodes in Einstein notation
    assert "*(ki,kj,k,k,k->ij)" in text                          # the Hessian's product, X used twice
    assert "ki" in text and "kj" in text                          # edge labels: operand index sets
    titles = node_titles(svg)
    x = f"n{prog['X'].node.id}"
    assert titles.count(x) == 1                                   # X shared: one node, several edges
    assert len(re.findall(rf"<title>{x}&#45;&gt;", svg)) >= 3
    assert not any(t.startswith("δ") for t in text)               # compressed: no unit tensor left


@needs_dot
def test_explorer_toggles_change_the_svg(explorer):
    seen = {explorer.key: explorer.svg}
    explorer.view.value = "expression"
    assert explorer.key == ("expression",)
    assert any("softplus" in l for l in labels(explorer.svg)) and "f =" in labels(explorer.svg)
    seen[explorer.key] = explorer.svg
    explorer.view.value = "derivative"
    explorer.compression.value = "uncompressed"
    assert explorer.key == ("derivative", 2, "cross-country", False)
    assert "δ dense" in labels(explorer.svg)                      # the unit tensor, marked
    seen[explorer.key] = explorer.svg
    explorer.mode.value = "forward"
    seen[explorer.key] = explorer.svg
    explorer.compression.value = "compressed"
    seen[explorer.key] = explorer.svg
    explorer.order.value = 1
    assert explorer.key == ("derivative", 1, "forward", True)
    seen[explorer.key] = explorer.svg
    assert len(set(seen.values())) == len(seen) == 6               # every view draws its own graph
    assert explorer.graph.value == explorer.svg
    assert "forward mode, compressed" in explorer.caption.value


def test_explorer_stats_panel(explorer):
    table = explorer.table.value
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table)
    assert len(rows) == 1 + 1 + 6                                  # header, expression, 3 modes × 2
    assert "m=2000, n=1000" in table
    highlighted = re.findall(r"<tr class='tcnb-current'[^>]*>(.*?)</tr>", table)
    assert len(highlighted) == 1 and "cross-country, compressed" in highlighted[0]
    explorer.mode.value = "reverse"
    highlighted = re.findall(r"<tr class='tcnb-current'[^>]*>(.*?)</tr>", explorer.table.value)
    assert "reverse, compressed" in highlighted[0]
    # compression is seen, not claimed: fewer nodes and fewer FLOPs than the dense-δ variant
    on = explorer.stats_for(("derivative", 2, "reverse", True))
    off = explorer.stats_for(("derivative", 2, "reverse", False))
    assert on["nodes"] < off["nodes"] and on["flops"] < off["flops"] and off["dense_unit_tensors"] == 1


def test_explorer_sizes_update_the_table(explorer):
    before = explorer.table.value
    explorer.sizes["n"].value = 10
    assert "m=2000, n=10" in explorer.table.value and explorer.table.value != before
    assert explorer.stats_for(("expression",))["flops"] < 10**6


def test_explorer_without_dot(prog, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    ex = GraphExplorer(prog["f"], prog["w"], order=1)
    assert ex.svg == ""
    assert "apt install graphviz" in ex.graph.value and "<svg" not in ex.graph.value
    ex.view.value = "expression"                                   # toggling still works
    assert "apt install graphviz" in ex.graph.value


def test_explorer_reports_impossible_derivative():
    p = tcnb.parse("A: R[n, n]\nw: R[n]\nB = A * 2")
    ex = GraphExplorer(p["B"], p["w"], order=1)                     # B does not depend on w
    assert "nodes" in ex.caption.value or "cannot" in ex.caption.value


# ------------------------------------------------------------------------------------ stepper

def relevant_count(prog):
    """Nodes of f's DAG that depend on w (the ones a sweep visits), counted independently."""
    dep = set()
    for n in tcnb.ir.topological([prog["f"].node]):
        if n is prog["w"].node or any(c.id in dep for c in n.children):
            dep.add(n.id)
    return len(dep)


def test_stepper_reverse_steps(prog):
    s = Stepper(prog["f"], prog["w"], mode="reverse")
    n = relevant_count(prog)
    assert len(s.steps) == n + 1                 # seed, every node above w, result
    assert s.slider.max == len(s.steps) and s.slider.value == s.slider.min == 1   # counted from 1
    first = s.current
    assert first.node is prog["f"].node and first.highlight == {prog["f"].node.id}
    assert first.formulas == [r"\bar{f} = 1"]
    s.slider.value = len(s.steps) - 1             # the last pullback reaches w
    step = s.current
    assert step.highlight >= {prog["w"].node.id, prog["X"].node.id}
    assert r"\bar{w}_{i} \mathrel{+}=" in step.formulas[0] and "X_{ji}" in step.formulas[0]
    assert r"\sum_{j}" in step.formulas[0] and "Theorem 8" in step.rule
    s.slider.value = s.slider.max
    assert s.current.title.startswith("result") and "X" in s.current.note
    assert r"\frac{\partial f}{\partial w}" in s.current.formulas[0]


def test_stepper_forward_and_mode_toggle(prog):
    s = Stepper(prog["f"], prog["w"], mode="reverse")
    s.slider.value = 4
    s.mode.value = "forward"
    assert s.slider.value == 1                   # a new walk starts at its seed, step 1
    assert s.current.node is prog["w"].node
    assert s.current.formulas == [r"\dot{w}_{i i'} = \delta_{i i'}"]
    s.slider.value = 2
    step = s.current
    assert r"\dot{v}^{(1)}_{i i'} = \sum_{j} X_{ij} \, \dot{w}_{j i'}" == step.formulas[0]
    assert "Theorem 5" in step.rule and step.note.endswith("X")
    kinds = [st.title for st in s.steps]
    assert any("element-wise" in t for t in kinds) and kinds[-1].startswith("result")
    assert any("Theorem 7" in st.rule for st in s.steps)


@needs_dot
def test_stepper_highlights_in_svg(prog):
    s = Stepper(prog["f"], prog["w"])
    svgs = []
    for k in range(1, len(s.steps) + 1):
        s.slider.value = k
        assert s.graph.value == s.svg
        assert "#d00000" in s.svg                # the current node in red
        nodes = re.findall(r"<title>(n\d+)</title>(.*?)(?=<!--|</svg>)", s.svg, re.S)
        red = {name for name, body in nodes if 'stroke="#d00000"' in body}
        assert red == {f"n{i}" for i in s.current.highlight}
        svgs.append(s.svg)
    assert len(set(svgs)) == len(svgs)           # every step draws a different picture
    s.slider.value = 2
    assert "\\bar" in s.formula.value and "$$" in s.formula.value and "step 2 of" in s.title.value


def test_stepper_play_is_linked(prog):
    s = Stepper(prog["f"], prog["w"])
    s.play.value = 2
    assert s.slider.value == 2 and s.play.max == s.slider.max and s.play.min == s.slider.min == 1


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_stepper_slider_reads_what_the_title_says(prog, mode):
    """The slider's readout is the step number of the title: "step k of n" with the slider at k."""
    s = Stepper(prog["f"], prog["w"], mode=mode)
    n = len(s.steps)
    assert (s.slider.min, s.slider.max) == (1, n)
    for k in range(1, n + 1):
        s.slider.value = k
        assert f"step {k} of {n}</b>" in s.title.value
        assert s.current is s.steps[k - 1] and s.index == k - 1
    assert s.current.title.startswith("result")    # the last slider position is the last step


def test_stepper_needs_a_variable(prog):
    with pytest.raises(tcnb.TcnbError):
        Stepper(prog["f"], prog["z"])


def test_stepper_independent_variable():
    p = tcnb.parse("A: R[n]\nw: R[n]\nB = sum(A * 2)")
    s = Stepper(p["B"], p["w"])
    assert len(s.steps) == 1 and "does not depend" in s.current.title
