"""Rich display for tcnb objects in notebooks: formulas, matrix notation, graphs, code and stats.

Everything here builds on the public API only, and nothing here raises: a part that cannot be shown
(Graphviz missing, a renderer failing on an odd expression) is replaced by a one-line note, and the
whole display falls back to plain text.

    from tcnb.notebook.display import show, ExprView
    show(H, parts=("latex", "graph", "stats"), sizes={"m": 1000, "n": 100})

``%load_ext tcnb`` registers these views as IPython's mimebundle printer for Expr, Program and
Structured, so a plain ``H`` at the end of a cell shows the formula, matrix notation and DAG.
"""
from __future__ import annotations

import html
import re
import shutil

import graphviz

import tcnb
from tcnb import ir
from tcnb.render.dot import merged_digraph

INSTALL_HINT = ("Graphviz's 'dot' program is not installed, so graphs cannot be drawn: install it with "
                "'apt install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or "
                "'conda install graphviz'.")
MAX_GRAPH_NODES = 150   # larger DAGs are not drawn by default (dot gets slow, the picture unreadable)
PARTS = ("latex", "graph", "code", "stats")
DEFAULT_SIZE = 100      # dimension size used for code and stats when none is given

_XML_HEAD = re.compile(r"^\s*<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?(<!--.*?-->\s*)*", re.S)


def dot_available() -> bool:
    """Whether Graphviz's ``dot`` program is on PATH (looked up each time: PATH may change)."""
    return shutil.which("dot") is not None


def note(text: str, kind: str = "note") -> str:
    """A small coloured HTML note (``kind`` is note, error or hint); the text is escaped."""
    color = {"note": "#555", "error": "#b00020", "hint": "#8a5a00"}.get(kind, "#555")
    return f'<div class="tcnb-{kind}" style="color:{color};font-size:90%">{html.escape(text)}</div>'


def short_error(exc: BaseException) -> str:
    """An exception in one line: type and message (the message without source context for TcnbError)."""
    if isinstance(exc, tcnb.TcnbError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def safe(fn, default=None):
    """``fn()``, or ``default`` if it raises: a display must never fail the cell."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - display never raises
        return default


def node_count(expr) -> int:
    """Number of distinct nodes in the expression's DAG (shared subexpressions once)."""
    return len(ir.topological([expr.node]))


# ------------------------------------------------------------------------------------ graphs

def svg_of(graph: graphviz.Digraph) -> str:
    """SVG text of a graphviz graph, ready to inline in HTML (XML header removed).

    Raises RuntimeError with the install hint when ``dot`` is missing; callers show that line.
    """
    if not dot_available():
        raise RuntimeError(INSTALL_HINT)
    try:
        svg = graph.pipe(format="svg", encoding="utf-8")
    except graphviz.ExecutableNotFound:
        raise RuntimeError(INSTALL_HINT) from None
    return _XML_HEAD.sub("", svg, count=1)


def graph_html(graph_or_fn, max_nodes: int | None = None, count: int | None = None) -> str:
    """The SVG of a graph (or of a function returning one) as HTML, or a one-line note instead."""
    if max_nodes is not None and count is not None and count > max_nodes:
        return note(f"The DAG has {count} nodes; not drawn by default (call .graph() to draw it).")
    if not dot_available():
        return note(INSTALL_HINT, "hint")
    try:
        g = graph_or_fn() if callable(graph_or_fn) else graph_or_fn
        return f'<div class="tcnb-graph">{svg_of(g)}</div>'
    except Exception as exc:  # noqa: BLE001
        return note(f"graph not available ({short_error(exc)})", "error")


def program_graph(prog) -> graphviz.Digraph:
    """One DAG for all definitions of a program: shared subexpressions (and definitions used by
    later ones) appear once, each definition's root labelled with its name (the first definition's,
    where two are the same node). Built from the IR, not from the definitions' DOT text."""
    return merged_digraph([(e.node, name) for name, e in prog.definitions.items()])


# ------------------------------------------------------------------------------------ pieces

def latex_of(obj) -> str | None:
    """``$...$`` LaTeX of an Expr or Program, or None."""
    return safe(obj._repr_latex_)


def _math_html(latex: str | None) -> str:
    if not latex:
        return ""
    body = latex.strip()
    if body.startswith("$") and not body.startswith("$$"):
        body = "$" + body + "$"  # display math
    return f'<div class="tcnb-latex">{html.escape(body, quote=False)}</div>'


def dims_of(*exprs) -> list[str]:
    """Names of the dimension symbols the expressions' DAGs use, in order of first appearance."""
    names: dict = {}
    for n in ir.topological([e.node for e in exprs]):
        for d in n.shape:
            for sym in sorted(getattr(d, "free_symbols", ()), key=str):
                names.setdefault(str(sym), None)
    return list(names)


def full_sizes(sizes, *exprs, default: int = DEFAULT_SIZE) -> dict:
    """``sizes`` with every other dimension of the expressions set to ``default``."""
    out = {d: default for d in safe(lambda: dims_of(*exprs), [])}
    out.update(sizes or {})
    return out


def stats_html(stats, title: str | None = None) -> str:
    """An HTML table of a ``.stats()`` result (its own table when it has one)."""
    table = safe(stats._repr_html_) if hasattr(stats, "_repr_html_") else None
    if not table:
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(str(k))}</td>"
                       f"<td style='text-align:right'>{html.escape(str(v))}</td></tr>"
                       for k, v in stats.items())
        table = f"<table class='tcnb-stats'>{rows}</table>"
    head = f"<div style='font-weight:bold'>{html.escape(title)}</div>" if title else ""
    return f"<div class='tcnb-stats-block'>{head}{table}</div>"


def stats_text(stats) -> str:
    """Plain-text form of a stats dict (one ``key: value`` a line), or its repr."""
    if type(stats) is dict:
        return "\n".join(f"{k}: {v}" for k, v in stats.items())
    return repr(stats)


def sizes_text(sizes: dict) -> str:
    """Sizes as ``n=5, m=3``."""
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


def code_html(source: str) -> str:
    """Python source as highlighted HTML (IPython's Code), or escaped ``<pre>`` without it."""
    try:
        from IPython.display import Code
        return Code(source, language="python")._repr_html_()
    except Exception:  # noqa: BLE001
        return f"<pre>{html.escape(source)}</pre>"


def shape_text(expr) -> str:
    """The symbolic shape as ``(n, m)``."""
    return "(" + ", ".join(str(d) for d in expr.shape) + ")"


# ------------------------------------------------------------------------------------ views

class _View:
    """Base of the display wrappers: ``_repr_mimebundle_`` that never raises."""

    def _text(self) -> str:
        raise NotImplementedError

    def _html(self) -> str:
        raise NotImplementedError

    def _latex(self) -> str | None:
        return None

    def _repr_mimebundle_(self, include=None, exclude=None):
        text = safe(self._text, None) or f"<{type(self).__name__}>"
        bundle = {"text/plain": text}
        page = safe(self._html)
        if page:
            bundle["text/html"] = page
        latex = safe(self._latex)
        if latex:
            bundle["text/latex"] = latex
        return bundle

    def _repr_html_(self):
        return safe(self._html)

    def __repr__(self):
        return safe(self._text, None) or f"<{type(self).__name__}>"


class ExprView(_View):
    """An expression or derivative: title, LaTeX (Einstein notation with sums), matrix notation when
    the expression has one, and any of ``parts``: "latex", "graph", "code", "stats"."""

    def __init__(self, expr, parts=("latex", "graph"), sizes=None, name: str | None = None,
                 max_nodes: int | None = MAX_GRAPH_NODES):
        self.expr, self.parts, self.name = expr, tuple(parts), name
        self.sizes = full_sizes(sizes, expr) if ("code" in self.parts or "stats" in self.parts) else dict(sizes or {})
        self.max_nodes = max_nodes

    def _title(self) -> str:
        e = self.expr
        label = getattr(e, "name", None)
        head = f"{self.name} = {label}" if self.name and label and label != self.name else (self.name or label or "")
        shape = safe(lambda: shape_text(e), "")
        return f"{head}   shape {shape}".strip()

    def _text(self) -> str:
        parts = [self._title(), safe(self.expr.einstein) or safe(lambda: repr(self.expr))]
        if "stats" in self.parts:
            st = safe(lambda: self.expr.stats(**self.sizes))
            if st:
                parts.append(f"cost at {sizes_text(self.sizes)}: {stats_text(st)}")
        if "code" in self.parts:
            src = safe(lambda: self.expr.to_source(standalone=True, **self.sizes))
            if src:
                parts.append(src)
        return "\n".join(p for p in parts if p)

    def _latex(self):
        return latex_of(self.expr)

    def _html(self) -> str:
        e = self.expr
        out = [f'<div class="tcnb-expr"><div style="font-weight:bold">{html.escape(self._title())}</div>']
        if "latex" in self.parts:
            out.append(_math_html(latex_of(e)) or f"<pre>{html.escape(safe(e.einstein) or '')}</pre>")
            mat = safe(e.matrix)
            if mat:
                out.append(f'<div class="tcnb-matrix">matrix notation: <code>{html.escape(mat)}</code></div>')
            ein = safe(e.einstein)
            if ein:
                out.append("<details><summary>Einstein notation</summary>"
                           f"<pre>{html.escape(ein)}</pre></details>")
        if "graph" in self.parts:
            out.append(graph_html(lambda: e.graph(), self.max_nodes,
                                  safe(lambda: node_count(e))))
        if "code" in self.parts:
            try:
                out.append(code_html(e.to_source(standalone=True, **self.sizes)))
            except Exception as exc:  # noqa: BLE001
                out.append(note(f"code not available ({short_error(exc)})", "error"))
        if "stats" in self.parts:
            try:
                out.append(stats_html(e.stats(**self.sizes), f"cost at {sizes_text(self.sizes)}"))
            except Exception as exc:  # noqa: BLE001
                out.append(note(f"stats not available ({short_error(exc)})", "error"))
        out.append("</div>")
        return "".join(out)


class ProgramView(_View):
    """A parsed program: its definitions as LaTeX and one DAG of all of them."""

    def __init__(self, prog, name: str | None = None, graph: bool = True,
                 max_nodes: int | None = MAX_GRAPH_NODES):
        self.prog, self.name, self.graph, self.max_nodes = prog, name, graph, max_nodes

    def _text(self) -> str:
        head = f"program {self.name}\n" if self.name else ""
        return head + repr(self.prog)

    def _definitions_latex(self) -> list:
        """One LaTeX block per definition (each may be an aligned block of its own)."""
        texts = safe(self.prog.definitions_latex) or {}  # written with earlier definitions by name
        return [(name, texts.get(name)) for name in self.prog.definitions]

    def _latex(self):
        blocks = [f"$${tex}$$" for _, tex in self._definitions_latex() if tex]
        return "\n".join(blocks) if blocks else latex_of(self.prog)

    def _html(self) -> str:
        p = self.prog
        decl = ", ".join(f"{n} ∈ ℝ{shape_text(e) if e.shape else ''}" for n, e in p.variables.items())
        head = f"program <b>{html.escape(self.name)}</b>: " if self.name else ""
        out = [f'<div class="tcnb-program"><div>{head}{html.escape(decl)}</div>']
        for name, tex in self._definitions_latex():
            out.append(_math_html(f"$${tex}$$") if tex else f"<pre>{html.escape(name)}</pre>")
        if self.graph and p.definitions:
            count = safe(lambda: len(ir.topological([e.node for e in p.definitions.values()])))
            out.append(graph_html(lambda: program_graph(p), self.max_nodes, count))
        out.append("</div>")
        return "".join(out)


class StructuredView(_View):
    """A compressed result: the unit-tensor pattern, the cores, and the memory saved."""

    def __init__(self, s):
        self.s = s

    def _text(self) -> str:
        return repr(self.s)

    def _html(self) -> str:
        s = self.s
        pattern = safe(s.pattern_str, "?")
        nb, dense = safe(lambda: s.nbytes), safe(lambda: s.dense_nbytes)
        out = ['<div class="tcnb-structured"><div><b>compressed tensor</b></div>',
               f"<div>pattern: <code>{html.escape(str(pattern))}</code></div>"]
        if nb is not None and dense is not None:
            ratio = f" ({dense / nb:,.1f}× smaller)" if nb else ""
            out.append(f"<div>stored: {nb:,} bytes; dense: {dense:,} bytes{ratio}</div>")
        cores = safe(lambda: s.cores)
        if cores is not None:
            shapes = ", ".join(str(getattr(c, "shape", "?")) for c in cores)
            out.append(f"<div>cores: {html.escape(shapes)}</div>")
        out.append("</div>")
        return "".join(out)


class StatsView(_View):
    """Display of a stats dict (with an optional title) as an HTML table and plain text."""
    def __init__(self, stats: dict, title: str | None = None):
        self.stats, self.title = stats, title

    def _text(self):
        return ((self.title + "\n") if self.title else "") + stats_text(self.stats)

    def _html(self):
        return stats_html(self.stats, self.title)


class GraphView(_View):
    """A graphviz graph as SVG, or the one-line install hint when ``dot`` is missing."""

    def __init__(self, graph):
        self.graph = graph

    def _text(self):
        return INSTALL_HINT if not dot_available() else f"<graph {getattr(self.graph, 'name', '')}>"

    def _html(self):
        return graph_html(self.graph)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": self._text()}
        if dot_available():
            svg = safe(lambda: svg_of(self.graph))
            if svg:
                bundle["image/svg+xml"] = svg
        return bundle


def view(obj, **kw):
    """The display wrapper for a tcnb object (Expr, Program, Structured, stats dict, Digraph)."""
    if isinstance(obj, tcnb.Expr):
        return ExprView(obj, **kw)
    if isinstance(obj, tcnb.Program):
        return ProgramView(obj, **kw)
    if isinstance(obj, tcnb.Structured):
        return StructuredView(obj)
    if isinstance(obj, graphviz.Digraph):
        return GraphView(obj)
    if isinstance(obj, dict):
        return StatsView(obj, **kw)
    return obj


def show(obj, parts=("latex", "graph"), sizes=None, **kw):
    """Display ``obj`` (an Expr with the given parts, or any tcnb object) in the notebook."""
    from IPython.display import display
    if isinstance(obj, tcnb.Expr):
        display(ExprView(obj, parts=parts, sizes=sizes, **kw))
    else:
        display(view(obj, **kw))


# ------------------------------------------------------------------------------------ IPython hooks

FORMATTED_TYPES = (tcnb.Expr, tcnb.Program, tcnb.Structured)


def register_formatters(ip) -> None:
    """Make a plain ``H`` (or program, or compressed result) at the end of a cell show its view:
    formula, matrix notation and DAG. Registered as IPython's mimebundle printer for these types,
    so it takes the place of their own ``_repr_mimebundle_`` and never raises."""
    fmt = ip.display_formatter.mimebundle_formatter
    for cls in FORMATTED_TYPES:
        fmt.for_type(cls, lambda obj: view(obj)._repr_mimebundle_())


def unregister_formatters(ip) -> None:
    """Remove the display formatters register_formatters added."""
    fmt = ip.display_formatter.mimebundle_formatter
    for cls in FORMATTED_TYPES:
        fmt.type_printers.pop(cls, None)
