"""One walk over the IR: dispatch on the node's class, like ``ast.NodeVisitor`` or SymPy's
``_print_<Class>``.

A consumer of the graph (a printer, a cost model, a code generator) subclasses :class:`Visitor` and
writes one ``visit_<Kind>`` method per node kind it handles, instead of an ``isinstance`` ladder;
a kind it does not handle reaches ``generic_visit``, which names it. :func:`bottom_up` visits a DAG
children first, each node once, without recursion (DAGs can be thousands of nodes deep).
"""
from __future__ import annotations

from .graph import topological


class Visitor:
    """Dispatches ``visit(node, *args)`` to ``visit_<ClassName>(node, *args)``."""

    def visit(self, node, *args, **kwargs):
        """The result of the method for ``node``'s kind (``generic_visit`` if there is none)."""
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            return self.generic_visit(node, *args, **kwargs)
        return method(node, *args, **kwargs)

    def generic_visit(self, node, *args, **kwargs):
        """No rule for this kind: a TypeError naming the visitor and the kind."""
        raise TypeError(f"{type(self).__name__} has no rule for {type(node).__name__} nodes")


def bottom_up(visitor: Visitor, roots, leaves=frozenset()) -> dict:
    """node id -> ``visitor.visit(node, results)`` for every node under ``roots``, children first;
    ``results`` holds the children's results by id. Nodes whose id is in ``leaves`` are visited
    but not descended into."""
    results: dict = {}
    for node in topological(list(roots), leaves):
        results[node.id] = visitor.visit(node, results)
    return results
