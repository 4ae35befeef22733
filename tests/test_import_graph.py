"""tcnb's modules import each other in one direction: no cycles, and no lower layer imports an upper one.

The graph is read from the source with ``ast``, so an import inside a function counts as much as one
at the top of a module (a lazy import hides a cycle from the interpreter, not from the design);
only ``if TYPE_CHECKING:`` blocks, which never run, are skipped. Importing ``a.b.c`` also runs the
package ``a.b`` (its ``__init__``), so the graph has that edge too, unless the importer is inside
``a.b`` itself (the package is then already being imported).

Layers follow /work/shared/DESIGN.md's pipeline — parse → IR → derive → evaluate/render, with the
notebook and bench layers on top, calling only the public API. Modules within one layer may import
each other (the cycle check still applies to them).
"""
from __future__ import annotations

import ast
import pathlib

import tcnb

PACKAGE = pathlib.Path(tcnb.__file__).resolve().parent

# lowest first; a module belongs to the layer of the longest prefix naming it ("tcnb" itself names only
# the package's __init__, so a new subpackage must be placed here deliberately)
LAYERS = [
    ("foundation", ["tcnb.errors", "tcnb.config", "tcnb.dims", "tcnb.graph", "tcnb.visit"]),
    ("ir", ["tcnb.ir"]),
    ("primitives", ["tcnb.primitives"]),
    ("names and text", ["tcnb.functions", "tcnb.einstein"]),
    ("parse and derive", ["tcnb.terms", "tcnb.parser", "tcnb.lang", "tcnb.diff", "tcnb.parts"]),
    ("backend", ["tcnb.backend"]),
    ("compressed results and rendering", ["tcnb.structured", "tcnb.structured_core", "tcnb.render"]),
    ("public API", ["tcnb.expr", "tcnb.operators", "tcnb.api", "tcnb.check", "tcnb", "tcnb.__main__"]),
    ("notebook and bench", ["tcnb.notebook", "tcnb.widgets", "tcnb.bench"]),
]

# (importer, imported) -> why it is allowed for now. The coordinator tightens these after the
# parallel issue-12 branches merge; a new entry needs a reason.
KNOWN_UPWARD = {
    ("tcnb", "tcnb.notebook.magics"):
        "IPython's %load_ext tcnb calls tcnb.load_ipython_extension, which must be in the package it "
        "names; it imports the magics lazily so plain `import tcnb` needs no IPython",
}
KNOWN_CYCLE_EDGES = {
    ("tcnb", "tcnb.notebook.magics"):
        "the %load_ext hook above: the magics import the public API (tcnb) they sit on",
}


def _known(pairs, a: str, b: str) -> bool:
    """Whether a -> b is a listed exception, or a package that listed import runs on its way."""
    return any(a == x and (b == y or y.startswith(b + ".")) for x, y in pairs)


def _modules() -> dict[str, tuple[pathlib.Path, bool]]:
    """module name -> (file, is a package)."""
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mods[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return mods


def _imports(tree: ast.AST):
    """The Import/ImportFrom nodes that can run: everywhere but ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _owner(name: str, mods) -> str:
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _targets(module: str, is_pkg: bool, node, mods) -> set[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = module.split(".")[:None if is_pkg else -1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names]
    out = set()
    for name in names:
        if name != "tcnb" and not name.startswith("tcnb."):
            continue
        target = _owner(name, mods)
        out.add(target)
        parts = target.split(".")
        for k in range(2, len(parts)):  # the packages the import runs on the way (not tcnb itself)
            package = ".".join(parts[:k])
            if not (module == package or module.startswith(package + ".")):
                out.add(package)
    out.discard(module)
    return out


def import_graph() -> dict[str, set[str]]:
    """tcnb module -> the tcnb modules it imports (anywhere in its source)."""
    mods = _modules()
    graph = {}
    for module, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = set()
        for node in _imports(tree):
            graph[module] |= _targets(module, is_pkg, node, mods)
    return graph


def layer_of(module: str) -> int:
    """Index into LAYERS of the longest prefix naming ``module``."""
    best, best_len = None, -1
    for k, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or (p != "tcnb" and module.startswith(p + "."))) and len(p) > best_len:
                best, best_len = k, len(p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "tcnb.ir" in graph["tcnb.diff"]                    # from . import ir
    assert "tcnb.ir.nodes" in graph["tcnb.ir.algebra"]        # from .nodes import ...
    assert "tcnb.notebook.magics" in graph["tcnb"]            # inside load_ipython_extension
    assert "tcnb.backend" in graph["tcnb.structured"]         # from .backend import runtime runs the package
    assert "tcnb.ir" not in graph["tcnb.graph"]               # only under TYPE_CHECKING


def test_no_import_cycles():
    graph = import_graph()
    for a, b in KNOWN_CYCLE_EDGES:
        assert b in graph[a], f"known cycle edge {a} -> {b} is gone: remove it from KNOWN_CYCLE_EDGES"
    graph = {a: {b for b in targets if not _known(KNOWN_CYCLE_EDGES, a, b)} for a, targets in graph.items()}
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_lower_layers_never_import_upper_ones():
    graph = import_graph()
    bad = []
    for a, targets in graph.items():
        for b in sorted(targets):
            if layer_of(b) > layer_of(a) and not _known(KNOWN_UPWARD, a, b):
                bad.append(f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})")
    for a, b in KNOWN_UPWARD:
        assert b in graph[a], f"known upward import {a} -> {b} is gone: remove it from KNOWN_UPWARD"
    assert not bad, "\n".join(bad)


def test_the_ir_package_is_layered_inside():
    """formula and nodes < labels < algebra < the package's re-exports; nothing below imports up."""
    order = ["tcnb.ir.formula", "tcnb.ir.nodes", "tcnb.ir.labels", "tcnb.ir.algebra", "tcnb.ir"]
    graph = import_graph()
    for k, module in enumerate(order):
        inside = {t for t in graph[module] if t == "tcnb.ir" or t.startswith("tcnb.ir.")}
        assert inside <= set(order[:k]), f"{module} imports {sorted(inside - set(order[:k]))}"
