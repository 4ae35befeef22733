"""The expression DAG as a graphviz graph: one graph node per DAG node, edges from operands to results.

Graph extraction (``trace``) is separate from drawing (``to_digraph``), so widgets can reuse the
node list and labels. Graph node names are ``n<id>`` with the IR node's id, which is what
``highlight`` refers to (a step-through widget highlights the nodes of the current step).
"""
from __future__ import annotations

import shutil

import graphviz
import sympy
from sympy.printing.str import StrPrinter

from .. import ir
from ..visit import Visitor
from ..dims import resolve_shape
from ..einstein import index_map_text, spec_of
from ..errors import BackendUnavailableError, TcnbError
from ..functions import elementwise_name, print_formula

INSTALL_HINT = ("Graphviz's 'dot' program is not installed: install it with "
                "'apt install graphviz', 'conda install graphviz' or 'brew install graphviz'")

_STYLE = {  # kind -> node attributes
    "var": dict(shape="box", style="rounded,filled", fillcolor="#dbe9f6", color="#4a7ab0"),
    "const": dict(shape="box", style="filled", fillcolor="#eeeeee", color="#888888", fontsize="10"),
    "delta": dict(shape="diamond", style="filled", fillcolor="#ffd966", color="#b8860b"),
    "delta_dense": dict(shape="diamond", style="filled", fillcolor="#f4a261", color="#b5541c",
                        peripheries="2"),
    "einsum": dict(shape="ellipse", style="filled", fillcolor="#e2f0d9", color="#548235"),
    "add": dict(shape="circle", style="filled", fillcolor="#fce4d6", color="#c55a11"),
    "elementwise": dict(shape="ellipse", style="filled", fillcolor="#ede2f6", color="#7030a0"),
    "general": dict(shape="hexagon", style="filled", fillcolor="#f8cbad", color="#843c0c"),
    "indexmap": dict(shape="diamond", style="filled", fillcolor="#d9ead3", color="#38761d"),
}
_HIGHLIGHT = dict(color="#d00000", penwidth="3", fontcolor="#d00000")
MAX_FORMULA = 40


def _shape_text(node: ir.Node, sizes) -> str:
    if sizes:
        try:
            return "(" + ", ".join(str(s) for s in resolve_shape(node.shape, sizes)) + ")"
        except TcnbError:
            pass
    return "(" + ", ".join(str(d) for d in node.shape) + ")"


def _formula(fn: sympy.Expr) -> str:
    name = elementwise_name(fn)
    if name is not None:
        return name
    if isinstance(fn, sympy.Function) and fn.args == (ir.T,):
        return type(fn).__name__
    text = print_formula(StrPrinter(), fn, "t")
    return text if len(text) <= MAX_FORMULA else text[:MAX_FORMULA - 1] + "…"


class _Label(Visitor):
    """The first line of a node's box, by kind; ``shape`` is the second line (or empty)."""

    def __init__(self, sizes):
        self.sizes = sizes

    def visit_Var(self, node, shape):
        return node.name + shape

    def visit_Const(self, node, shape):
        if not node.shape:
            return f"{node.value:g}"
        return ("1" if node.value == 1.0 else f"{node.value:g}") + shape

    def visit_Delta(self, node, shape):
        return ("δ dense" if node.dense else "δ") + "\n" + _shape_text(node, self.sizes)

    def visit_IndexMap(self, node, shape):
        return index_map_text(node)

    def visit_Einsum(self, node, shape):
        return f"*({spec_of(node)})" + shape

    def visit_Add(self, node, shape):
        return "+" + shape

    def visit_Elementwise(self, node, shape):
        return _formula(node.fn) + shape

    def visit_General(self, node, shape):
        params = "".join(f", {k}={v}" for k, v in node.params)
        return node.name + (f"({params[2:]})" if params else "") + shape

    def generic_visit(self, node, shape):
        return type(node).__name__


def label(node: ir.Node, sizes=None) -> str:
    """The text of a node's box (first line: what it is; second: its shape, when it has one)."""
    shape = "\n" + _shape_text(node, sizes) if node.shape else ""
    return _Label(sizes).visit(node, shape)


def kind(node: ir.Node) -> str:
    """The node's kind for styling the graph (a dense unit tensor apart from a compressed one)."""
    if isinstance(node, ir.Delta) and node.dense:
        return "delta_dense"
    return node.kind


def trace(root: ir.Node):
    """(nodes in topological order, edges as (operand, result, operand position))."""
    nodes = ir.topological([root])
    edges = [(ch, n, k) for n in nodes for k, ch in enumerate(n.children)]
    return nodes, edges


def _edge_label(parent: ir.Node, k: int) -> str:
    if isinstance(parent, ir.Einsum):
        spec = spec_of(parent).split("->")[0].split(",")
        return spec[k] if k < len(spec) else ""
    return ""


def to_digraph(node: ir.Node, name: str | None = None, highlight=None, sizes=None,
               title: str | None = None, rankdir: str = "BT") -> graphviz.Digraph:
    """The DAG of ``node`` as a ``graphviz.Digraph`` (operands below, results above by default).

    ``name`` labels the root (drawn with a double border); ``highlight`` is a collection of IR node
    ids (or nodes) drawn in red; ``sizes`` (dimension name -> int) shows concrete shapes;
    ``title`` is written above the graph.
    """
    hl = {getattr(h, "id", h) for h in (highlight or ())}
    g = graphviz.Digraph(name=(name or "expression").replace(" ", "_"))
    g.attr(rankdir=rankdir, fontname="Helvetica")
    g.attr("node", fontname="Helvetica", fontsize="11")
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555", arrowsize="0.6")
    if title:
        g.attr(label=title, labelloc="t", fontsize="14")
    nodes, edges = trace(node)
    for n in nodes:
        attrs = dict(_STYLE.get(kind(n), {}))
        text = label(n, sizes)
        if n is node:
            attrs["peripheries"] = "2"
            if name:
                text = f"{name} =\n{text}"
        if n.id in hl:
            attrs.update(_HIGHLIGHT)
        text = text.replace("\\", "\\\\").replace("\n", "\\n")  # DOT escapes: one line per node
        g.node(f"n{n.id}", text, tooltip=f"node {n.id}: {n.kind}", **attrs)
    for ch, parent, k in edges:
        lab = _edge_label(parent, k)
        attrs = dict(label=lab) if lab else {}
        if ch.id in hl and parent.id in hl:
            attrs.update(color="#d00000", penwidth="2")
        g.edge(f"n{ch.id}", f"n{parent.id}", **attrs)
    return g


def merged_digraph(roots, highlight=None, sizes=None, title: str | None = None, rankdir: str = "BT",
                   graph_name: str = "program") -> graphviz.Digraph:
    """One graph of several DAGs, drawn like ``to_digraph``: a node they share appears once.

    ``roots`` is a sequence of ``(node, name)`` (name may be None), in order; each root is drawn
    with a double border and labelled with its name (the first name given, where several roots are
    the same node). The nodes come from ``trace`` of every root, never from another graph's text.
    """
    hl = {getattr(h, "id", h) for h in (highlight or ())}
    roots = list(roots)
    root_name: dict = {}
    for node, name in roots:
        root_name.setdefault(node.id, name)
    g = graphviz.Digraph(name=graph_name)
    g.attr(rankdir=rankdir, fontname="Helvetica")
    g.attr("node", fontname="Helvetica", fontsize="11")
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#555555", arrowsize="0.6")
    if title:
        g.attr(label=title, labelloc="t", fontsize="14")
    nodes = ir.topological([node for node, _ in roots])
    for n in nodes:
        attrs = dict(_STYLE.get(kind(n), {}))
        text = label(n, sizes)
        if n.id in root_name:
            attrs["peripheries"] = "2"
            if root_name[n.id]:
                text = f"{root_name[n.id]} =\n{text}"
        if n.id in hl:
            attrs.update(_HIGHLIGHT)
        text = text.replace("\\", "\\\\").replace("\n", "\\n")  # DOT escapes: one line per node
        g.node(f"n{n.id}", text, tooltip=f"node {n.id}: {n.kind}", **attrs)
    for parent in nodes:
        for k, ch in enumerate(parent.children):
            lab = _edge_label(parent, k)
            attrs = dict(label=lab) if lab else {}
            if ch.id in hl and parent.id in hl:
                attrs.update(color="#d00000", penwidth="2")
            g.edge(f"n{ch.id}", f"n{parent.id}", **attrs)
    return g


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on PATH (needed to draw SVG)."""
    return shutil.which("dot") is not None


def to_svg(node: ir.Node, **kw) -> str:
    """SVG text of ``to_digraph(node, **kw)``, drawn by Graphviz's ``dot`` program.

    Raises BackendUnavailableError (a TcnbError) saying how to install Graphviz when ``dot`` is missing.
    """
    if not dot_available():
        raise BackendUnavailableError(INSTALL_HINT)
    try:
        return to_digraph(node, **kw).pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise BackendUnavailableError(INSTALL_HINT) from None
