"""A step-through of forward and reverse mode for teaching (reference/tensor-calculus.md §3–4).

    from tcnb.widgets import Stepper
    Stepper(prog["f"], prog["w"], mode="reverse")

A slider walks the DAG of ``f`` node by node: forward mode from the variable up (each node's
pushforward formed from its children's), reverse mode from the output down (each node's pullback
handed to its children). The current node and the nodes it combines with are highlighted in the
graph, and the theorem's formula is shown with this node's index sets filled in.

The local partial derivatives are the ones tcnb differentiates with (``tcnb.diff.PARTIALS``,
read only), so what the widget shows is what the library does.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import ipywidgets as W
import sympy

import tcnb
from tcnb import diff, ir
from tcnb.graph import reaching
from tcnb.render.spelling import apply_elementwise
from tcnb.visit import Visitor
from tcnb.notebook import display as D

from ._style import MUTED, bundle, plain

MODES = ("forward", "reverse")
_POOL = "ijklpqrsuvabcdegh"

KINDS = {"einsum": "multiplication", "add": "addition", "elementwise": "element-wise function",
         "general": "general function"}
RULES = {  # (node kind, mode) -> the theorem in the paper's notation
    ("einsum", "forward"): r"C = A *_{(s_1,s_2,s_3)} B:\quad \dot C = B *_{(s_2,\,s_1 s_4,\,s_3 s_4)} \dot A"
                           r" + A *_{(s_1,\,s_2 s_4,\,s_3 s_4)} \dot B \quad\text{(Theorem 5)}",
    ("general", "forward"): r"C = f(A):\quad \dot C = f'(A) *_{(s_3 s_1,\,s_1 s_4,\,s_3 s_4)} \dot A"
                            r"\quad\text{(Theorem 6)}",
    ("elementwise", "forward"): r"C = f(A):\quad \dot C = f'(A) *_{(s_1,\,s_1 s_4,\,s_1 s_4)} \dot A"
                                r"\quad\text{(Theorem 7)}",
    ("add", "forward"): r"C = A + B:\quad \dot C = \dot A + \dot B",
    ("einsum", "reverse"): r"C = A *_{(s_1,s_2,s_3)} B:\quad \bar A \mathrel{+}= \bar C *_{(s_4 s_3,\,s_2,\,s_4 s_1)} B,"
                           r"\ \ \bar B \mathrel{+}= \bar C *_{(s_4 s_3,\,s_1,\,s_4 s_2)} A\quad\text{(Theorem 8)}",
    ("general", "reverse"): r"C = f(A):\quad \bar A \mathrel{+}= \bar C *_{(s_4 s_3,\,s_3 s_1,\,s_4 s_1)} f'(A)"
                            r"\quad\text{(Theorem 9)}",
    ("elementwise", "reverse"): r"C = f(A):\quad \bar A \mathrel{+}= \bar C *_{(s_4 s_1,\,s_1,\,s_4 s_1)} f'(A)"
                                r"\quad\text{(Theorem 10)}",
    ("add", "reverse"): r"C = A + B:\quad \bar A \mathrel{+}= \bar C,\ \ \bar B \mathrel{+}= \bar C",
}


@dataclass
class Step:
    """One position of the slider."""
    node: object                      # the IR node this step is about
    title: str                        # plain text
    formulas: list = field(default_factory=list)   # LaTeX lines (index sets filled in)
    rule: str = ""                    # the general theorem (LaTeX)
    highlight: set = field(default_factory=set)    # IR node ids drawn in red
    note: str = ""                    # plain text under the formula


class Stepper(W.VBox):
    """Walk forward or reverse mode through the DAG of ``f`` with respect to ``wrt``."""

    def __init__(self, f: tcnb.Expr, wrt: tcnb.Expr, mode: str = "reverse"):
        if not isinstance(getattr(wrt, "node", None), ir.Var):
            raise tcnb.DerivativeError("the step-through needs a declared variable to differentiate by",
                                       expected="a name declared like  w: R[n]")
        self.f, self.wrt = f, wrt
        self._steps: dict = {}
        self._svgs: dict = {}
        self._names = self._node_names()
        self.mode = W.ToggleButtons(options=MODES, value=mode, description="mode")
        # Steps count from 1, on the slider as in the title ("step 5 of 6" with the slider at 5).
        self.slider = W.IntSlider(value=1, min=1, max=1, description="step", continuous_update=True)
        self.play = W.Play(value=1, min=1, max=1, interval=1500, description="play")
        W.link((self.play, "value"), (self.slider, "value"))
        self.graph = W.HTML(layout=W.Layout(overflow="auto", max_height="640px"))
        self.graph.add_class("tcnb-stepper-svg")
        self.title = W.HTML()
        self.formula = W.HTMLMath()
        self.mode.observe(self._on_mode, names="value")
        self.slider.observe(self._on_step, names="value")
        panel = W.VBox([self.title, self.formula], layout=W.Layout(min_width="360px"))
        super().__init__([W.HBox([self.mode, self.play, self.slider]), W.HBox([self.graph, panel])])
        self.add_class("tcnb-stepper")
        self._on_mode()

    # ---------------------------------------------------------------- state
    @property
    def steps(self) -> list:
        """The steps of the current mode."""
        mode = self.mode.value
        if mode not in self._steps:
            self._steps[mode] = self._build(mode)
        return self._steps[mode]

    @property
    def index(self) -> int:
        """The current step's position in ``steps`` (the slider shows it counted from 1)."""
        return self.slider.value - 1

    @property
    def current(self) -> Step:
        """The Step shown now."""
        return self.steps[self.index]

    @property
    def svg(self) -> str:
        """SVG of the DAG with this step's nodes highlighted ("" without Graphviz)."""
        key = (self.mode.value, self.index)
        if key not in self._svgs:
            try:
                self._svgs[key] = D.svg_of(self.f.graph(highlight=self.current.highlight))
            except Exception:  # noqa: BLE001 - the graph panel says why
                return ""
        return self._svgs[key]

    def _on_mode(self, change=None):
        n = len(self.steps)
        with self.slider.hold_trait_notifications():
            self.slider.max = n
            self.play.max = n
            self.slider.value = 1
        self._on_step()

    def _on_step(self, change=None):
        step = self.current
        self.title.value = (f"<b>step {self.slider.value} of {len(self.steps)}</b> "
                            f"({self.mode.value} mode): {html.escape(step.title)}")
        tex = lambda t: html.escape(t, quote=False)  # noqa: E731 - MathJax reads the text content
        lines = [f"$${tex(line)}$$" for line in step.formulas]
        if step.rule:
            lines.append(f"<div class='tcnb-stepper-rule' style='font-size:85%;color:{MUTED}'>"
                         f"rule: $${tex(step.rule)}$$</div>")
        if step.note:
            lines.append(f"<pre style='font-size:85%'>{html.escape(step.note)}</pre>")
        self.formula.value = "".join(f"<div>{x}</div>" for x in lines)
        if not D.dot_available():
            self.graph.value = D.note(D.INSTALL_HINT, "hint")
        else:
            self.graph.value = self.svg or D.graph_html(lambda: self.f.graph(highlight=step.highlight))

    def _repr_mimebundle_(self, **kwargs):
        """The widget view, plus this step's title, formula and highlighted DAG for viewers without
        widgets (nbviewer and JupyterLab typeset the $$…$$ in it)."""
        body = (f"<div style='color:{MUTED};font-size:90%'>step-through (static view; interactive with "
                f"ipywidgets)</div><div style='display:flex;gap:16px;align-items:flex-start'>"
                f"<div class='tcnb-graph'>{self.graph.value}</div>"
                f"<div><div>{self.title.value}</div>{self.formula.value}</div></div>")
        return bundle(self, kwargs, "stepper", body, f"Stepper: {plain(self.title.value)}")

    # ---------------------------------------------------------------- naming
    def _node_names(self) -> dict:
        """LaTeX names: variables by name, the root by the expression's name, others v^{(1)}, ..."""
        names, k = {}, 0
        for n in ir.topological([self.f.node]):
            if isinstance(n, ir.Var):
                names[n.id] = (_symbol(n.name), "")
            elif n is self.f.node and self.f.name:
                names[n.id] = (_symbol(self.f.name), "")
            elif not isinstance(n, (ir.Const, ir.Delta)):
                k += 1
                names[n.id] = ("v", f"^{{({k})}}")
        return names

    def _sym(self, node, deco: str | None = None) -> str:
        """The node's name, optionally decorated (``dot`` for tangents, ``bar`` for adjoints)."""
        base, sup = self._names[node.id]
        return (f"\\{deco}{{{base}}}" if deco else base) + sup

    def _plain_name(self, node) -> str:
        base, sup = self._names[node.id]
        return _plain(base) + sup.replace("^{(", "").replace(")}", "")

    def _product(self, factors, first=()) -> tuple:
        """(scalar coefficient, LaTeX factors) of a local partial's factors [(node, letters)]."""
        coef, out = 1.0, list(first)
        for node, letters in factors:
            if isinstance(node, ir.Const) and not node.shape:
                coef *= node.value
            else:
                out.append(_indexed(self._factor(node), letters))
        return coef, out

    def _factor(self, node) -> str:
        """LaTeX of a factor of a local partial derivative."""
        if node.id in self._names:
            return self._sym(node)
        return _FactorLatex(self).visit(node)

    # ---------------------------------------------------------------- the steps
    def _build(self, mode: str) -> list:
        x, root = self.wrt.node, self.f.node
        rel = reaching(self.f.node, self.wrt.node)
        order = [n for n in ir.topological([root]) if n.id in rel]
        xi = [f"{c}'" for c in _POOL[:x.rank]]        # s4 in forward mode: the variable's axes
        oi = [f"{c}'" for c in _POOL[:root.rank]]     # s4 in reverse mode: the output's axes
        steps = []
        if x.id not in rel:
            return [Step(root, f"{self.f.display_name} does not depend on {self.wrt.display_name}: "
                               "the derivative is zero", highlight={x.id})]
        if mode == "forward":
            lhs = _indexed(self._sym(x, "dot"), list(_POOL[:x.rank]) + xi)
            seed = _indexed(r"\delta", list(_POOL[:x.rank]) + xi) if x.rank else "1"
            steps.append(Step(x, f"seed: the tangent of {self.wrt.display_name} is the unit tensor",
                              [f"{lhs} = {seed}"], highlight={x.id}))
            for n in order:
                if n is not x:
                    steps.append(self._forward_step(n, rel, xi))
        else:
            lhs = _indexed(self._sym(root, "bar"), oi + list(_POOL[:root.rank]))
            seed = _indexed(r"\delta", oi + list(_POOL[:root.rank])) if root.rank else "1"
            steps.append(Step(root, f"seed: the adjoint of the output {self.f.display_name}",
                              [f"{lhs} = {seed}"], highlight={root.id}))
            for n in reversed(order):
                if n is not x:
                    steps.append(self._reverse_step(n, rel, oi))
        steps.append(self._result_step(mode))
        return steps

    def _forward_step(self, n, rel, xi) -> Step:
        node_letters = list(_POOL[:n.rank])
        lhs = _indexed(self._sym(n, "dot"), node_letters + xi)
        terms, children = [], set()
        for child, p in diff.PARTIALS[type(n)](n):
            if child.id not in rel:
                continue
            children.add(child.id)
            letters = _Letters(dict(zip(p.node_labels, node_letters)), taken=node_letters)
            children |= {op.id for op, _ in p.factors if op.id in self._names}
            coef, factors = self._product([(op, letters(l)) for op, l in p.factors])
            factors.append(_indexed(self._sym(child, "dot"), letters(p.child_labels) + xi))
            terms.append(_term(coef, letters.summed(), factors))
        body = " ".join(terms).lstrip("+ ") if terms else "0"
        return Step(n, f"pushforward of {self._plain_name(n)} ({KINDS.get(n.kind, n.kind)}): "
                       "combine the tangents of its operands",
                    [f"{lhs} = {body}"], RULES.get((n.kind, "forward"), ""), {n.id} | children,
                    note="\n".join(filter(None, [self._definition(n), self._tangent_text(n)])))

    def _reverse_step(self, n, rel, oi) -> Step:
        formulas, children = [], set()  # children: operands and factors in the DAG
        for child, p in diff.PARTIALS[type(n)](n):
            if child.id not in rel:
                continue
            children.add(child.id)
            child_letters = list(_POOL[:child.rank])
            letters = _Letters(dict(zip(p.child_labels, child_letters)), taken=child_letters)
            lhs = _indexed(self._sym(child, "bar"), oi + letters(p.child_labels))
            adjoint = _indexed(self._sym(n, "bar"), oi + letters(p.node_labels))
            children |= {op.id for op, _ in p.factors if op.id in self._names}
            coef, factors = self._product([(op, letters(l)) for op, l in p.factors], [adjoint])
            formulas.append(f"{lhs} \\mathrel{{+}}= {_term(coef, letters.summed(), factors).lstrip('+ ')}")
        return Step(n, f"pullback through {self._plain_name(n)} ({KINDS.get(n.kind, n.kind)}): "
                       "pass its adjoint to its operands",
                    formulas, RULES.get((n.kind, "reverse"), ""), {n.id} | children,
                    note=self._definition(n))

    def _result_step(self, mode: str) -> Step:
        x, root = self.wrt.node, self.f.node
        try:
            J = tcnb.jacobian(self.f, self.wrt, mode=mode)
            text = J.einstein()
            latex = D.latex_of(J)
            formulas = [latex.strip("$")] if latex else []
        except tcnb.TcnbError as err:
            text, formulas = err.message, []
        where = "the tangent of the output" if mode == "forward" else f"the adjoint of {self.wrt.display_name}"
        return Step(root if mode == "forward" else x,
                    f"result: {where} is the derivative d{self.f.display_name}/d{self.wrt.display_name}",
                    formulas, highlight={x.id, root.id}, note=text)

    def _definition(self, n, limit: int = 160) -> str:
        """``v3 = softplus(...)``: what the node named in the formula computes (Einstein notation)."""
        try:
            text = tcnb.Expr(n).einstein().replace("\n", "; ")
        except Exception:  # noqa: BLE001
            return ""
        text = text if len(text) <= limit else text[:limit - 1] + "…"
        return f"{self._plain_name(n)} = {text}"

    def _tangent_text(self, n) -> str:
        """The full pushforward of ``n`` as a tensor expression (Einstein notation)."""
        try:
            t = tcnb.jacobian(tcnb.Expr(n), self.wrt, mode="forward")
            return "this tangent, expanded: " + t.einstein()
        except Exception:  # noqa: BLE001
            return ""


class _Letters:
    """Index letters for the labels of one formula: fixed ones first, then fresh from the pool."""

    def __init__(self, fixed: dict, taken):
        self.fixed = dict(fixed)
        self.taken = set(taken)
        self.fresh: dict = {}

    def __call__(self, labels) -> list:
        out = []
        for l in labels:
            if l in self.fixed:
                out.append(self.fixed[l])
                continue
            if l not in self.fresh:
                free = [c for c in _POOL if c not in self.taken]
                self.fresh[l] = free[0] if free else f"z_{{{len(self.fresh)}}}"
                self.taken.add(self.fresh[l])
            out.append(self.fresh[l])
        return out

    def summed(self) -> list:
        return list(self.fresh.values())


class _FactorLatex(Visitor):
    """LaTeX of an unnamed factor of a local partial (a unit tensor, a ones-tensor, an element-wise
    function of a named node), through the formula printer index notation uses."""

    def __init__(self, stepper: "Stepper"):
        self.stepper = stepper

    def visit_Const(self, node):
        return r"\mathbb{1}" if node.value == 1.0 else f"({node.value:g}\\,\\mathbb{{1}})"

    def visit_Delta(self, node):
        return r"\delta"

    def visit_Elementwise(self, node):
        if any(a.id not in self.stepper._names for a in node.args):
            return self.generic_visit(node)
        text, _ = apply_elementwise(node.fn, [self.stepper._sym(a) for a in node.args], [True] * len(node.args))
        return r"\left[" + text + r"\right]"

    def generic_visit(self, node):
        """Any other factor: a placeholder for 'a partial derivative'."""
        return r"\left(\partial\,\cdot\right)"


def _indexed(symbol: str, letters) -> str:
    if not letters:
        return symbol
    return f"{symbol}_{{{''.join(letters)}}}" if all(len(c) == 1 for c in letters) else \
        f"{symbol}_{{{' '.join(letters)}}}"


def _term(coef: float, summed, factors) -> str:
    """``+ c Σ_s a b ...`` (the sign always written, so terms can be joined with spaces)."""
    sign = "-" if coef < 0 else "+"
    mag = abs(coef)
    head = "" if mag == 1.0 else f"{mag:g}\\,"
    body = r" \, ".join(factors) or "1"
    body = (r"\sum_{" + "".join(summed) + "} " + body) if summed else body
    return f"{sign} {head}{body}"


def _symbol(name: str) -> str:
    if len(name) == 1:
        return name
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def _plain(latex_name: str) -> str:
    return latex_name.replace(r"\mathrm{", "").replace("}", "").replace("{", "").replace("\\_", "_")
