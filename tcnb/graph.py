"""Walks over the expression DAG, shared by every stage: order, uses, variables, paths.

Written once so no stage hand-rolls its own traversal, and iteratively, because derivative DAGs can
be thousands of nodes deep. They read only a node's ``id``, ``children`` and ``kind``, so this module
sits below tcnb/ir (which re-exports them) and imports none of it at run time.
"""
from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # annotations only: the node classes are one layer up
    from .ir.nodes import Node, Var


def topological(roots: Sequence["Node"], leaves=frozenset()) -> list["Node"]:
    """Children before parents; each node once (iterative, DAGs can be deep).

    Nodes whose id is in ``leaves`` are listed but not descended into (a printer that writes them
    by name need not walk what is below them).
    """
    order: list = []
    seen: set[int] = set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node.id in seen:
                continue
            seen.add(node.id)
            stack.append((node, True))
            if node.id in leaves:
                continue
            for ch in reversed(node.children):
                if ch.id not in seen:
                    stack.append((ch, False))
    return order


def variables(root: "Node") -> list["Var"]:
    """The variables in the DAG under ``root``, sorted by name."""
    return sorted((n for n in topological([root]) if n.kind == "var"), key=lambda v: v.name)


def depends_on(root: "Node", var: "Var") -> bool:
    """Whether ``var`` occurs in the DAG under ``root``."""
    return any(n is var for n in topological([root]))


def use_counts(root: "Node", leaves=frozenset()) -> Counter:
    """node id -> how many parents use it in the DAG under ``root`` (``leaves`` not descended into)."""
    counts: Counter = Counter()
    for n in topological([root], leaves):
        if n.id not in leaves:
            for ch in n.children:
                counts[ch.id] += 1
    return counts


def reaching(root: "Node", target: "Node") -> set[int]:
    """Ids of the nodes on some path from ``root`` down to ``target`` (both included when one exists).

    Only these carry a nonzero derivative of ``root`` by ``target``, so both modes of
    differentiation and the teaching stepper restrict themselves to them.
    """
    rel: set[int] = set()
    for n in topological([root]):
        if n is target or any(ch.id in rel for ch in n.children):
            rel.add(n.id)
    return rel
