"""Pending products: what an expression is while it is read, before it becomes an IR node.

``X.T @ X``, ``einsum("ki,kj->ij", X, X)`` and ``G[i, j] = X[k, i] * X[k, j]`` are all collected as
factors with index *labels* (names from the program, or fresh labels for implicit axes), and become
one einsum node only when something else consumes them, so that all three build the same
hash-consed node. Labels summed at a product are renamed apart, so a later factor using the same
index name is not captured by that sum.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import sympy

from .. import ir
from ..errors import ShapeError

_fresh = itertools.count()


def fresh_label():
    """A new label that no index name can equal (for implicit axes)."""
    return ("_", next(_fresh))


def _label_name(l) -> str:
    return l if isinstance(l, str) else "(an implicit axis)"


@dataclass
class Prod:
    """A pending product: Σ over the labels not in ``out`` of Π factors (each a node with labels)."""
    factors: list  # [(node, labels)]
    out: tuple
    dims: dict = field(default_factory=dict)  # label -> dim

    @staticmethod
    def of(node: ir.Node, labels=None) -> "Prod":
        """The product of one node, indexed by ``labels`` (fresh labels by default); ShapeError

        where a repeated label has two dimensions.
        """
        labels = tuple(labels) if labels is not None else tuple(fresh_label() for _ in node.shape)
        dims = {}
        for l, d in zip(labels, node.shape):
            if dims.setdefault(l, d) != d:
                raise ShapeError(f"index used for dimensions {dims[l]} and {d}")
        return Prod([(node, labels)], tuple(dict.fromkeys(labels)), dims)

    @property
    def shape(self):
        """The shape of the result (the output labels' dimensions)."""
        return tuple(self.dims[l] for l in self.out)

    def uncovered(self) -> set:
        """Output labels no factor has: new axes (x[:, None]) waiting to be broadcast."""
        return set(self.out) - {l for _, labels in self.factors for l in labels}

    def node(self) -> ir.Node:
        """The IR node of the product, broadcast with ones over output labels no factor has."""
        free = [l for l in self.out if l in self.uncovered()]
        if free:
            ones = (ir.Const.make(1.0, tuple(self.dims[l] for l in free)), tuple(free))
            return Prod(self.factors + [ones], self.out, self.dims).node()
        if len(self.factors) == 1 and self.factors[0][1] == self.out:
            return self.factors[0][0]
        return ir.Einsum.make([f for f, _ in self.factors], [l for _, l in self.factors], self.out)

    def renamed(self, mapping: dict) -> "Prod":
        """Rename labels (summed labels not in mapping get fresh names to avoid capture)."""
        full = dict(mapping)
        for _, labels in self.factors:
            for l in labels:
                if l not in full:
                    full[l] = fresh_label()
        return Prod([(n, tuple(full[l] for l in labels)) for n, labels in self.factors],
                    tuple(full[l] for l in self.out), {full[l]: d for l, d in self.dims.items()})

    def over(self, out) -> "Prod":
        """The same factors with the output labels ``out``: labels left out are summed (``sum(x)``,
        a trace), labels no factor has are new axes."""
        return Prod(self.factors, tuple(out), self.dims)

    def apart(self) -> "Prod":
        """The same product with every label fresh: an einsum's letters are local to it, so its
        result must not share labels with whatever it meets next."""
        return self.renamed({})

    def contracted(self, labels) -> "Prod":
        """Sum the output labels ``labels`` here, renamed apart so that a later factor using the
        same index name is not captured by this sum."""
        out = tuple(l for l in self.out if l not in labels)
        return self.over(out).renamed({l: l for l in out})

    def stretched(self, label, dim) -> "Prod":
        """NumPy broadcasting of the size-1 output axis ``label`` to ``dim``: the factors keep a
        summed size-1 label of their own, and ``label`` becomes a new axis that ones fill."""
        if label in self.uncovered():
            return Prod(self.factors, self.out, {**self.dims, label: dim})
        one = fresh_label()
        factors = [(n, tuple(one if l == label else l for l in labels)) for n, labels in self.factors]
        return Prod(factors, self.out, {**self.dims, one: sympy.Integer(1), label: dim})

    def times(self, other: "Prod", out=None) -> "Prod":
        """The product with ``other`` (outputs: both, or ``out``); ShapeError where an index

        name meets two dimensions.
        """
        dims = dict(self.dims)
        for l, d in other.dims.items():
            if dims.setdefault(l, d) != d:
                raise ShapeError(f"index '{_label_name(l)}' is used for dimension {dims[l]} and for {d}",
                                 expected=f"one dimension per index name")
        if out is None:
            out = tuple(dict.fromkeys(self.out + other.out))
        return Prod(self.factors + other.factors, tuple(out), dims)

    def scaled(self, c: float) -> "Prod":
        """The product times the scalar ``c``."""
        return self.times(Prod.of(ir.Const.make(c), ()))


def as_prod(v) -> Prod:
    """A value of an expression as a product: a number becomes a scalar constant."""
    if isinstance(v, Prod):
        return v
    return Prod.of(ir.Const.make(v), ())
