"""Index notation: ``G[i, j] = X[k, i] * X[k, j]``, axes named by indices instead of positions.

The right side is read by :class:`IndexReader`, the array reader with names for axes: a tensor
needs its indices (``X[k, i]``), factors meet by index name (no broadcasting by position), ``@`` and
``.T`` have no meaning, and sums happen where terms.py plans them (the Einstein convention per
term). A subscript that is not plain index names is an index map (index_maps.py).
"""
from __future__ import annotations

import ast

from .. import ir
from ..errors import ShapeError
from ..terms import plan_sums
from . import index_maps
from .arrays import ArrayReader
from .products import Prod, as_prod
from .scope import Scope


def read_definition(scope: Scope, target: ast.Subscript, value: ast.expr):
    """The node defined by ``target[...] = value`` and the left side's index names."""
    src = scope.src
    lhs = index_names(scope, target.slice, allow_ranges=True)
    names = [n for n, _ in lhs]
    if len(set(names)) != len(names):
        src.fail(target, "an index appears twice on the left", expected="distinct indices")
    reader = IndexReader(scope, lhs, value)
    result = as_prod(reader.expr(value))
    for n, rng in lhs:
        if n not in result.dims:
            if rng is None:
                src.fail(target, f"index '{n}' appears on the left but not on the right, so its range is unknown",
                         expected=f"a range such as {n}:n")
            result = result.times(Prod.of(ir.Const.make(1.0, (rng,)), (n,)))
        elif rng is not None and result.dims[n] != rng:
            src.fail(target, f"index '{n}' ranges over {result.dims[n]} on the right but {rng} on the left",
                     cls=ShapeError)
    return result.over(tuple(names)).node(), tuple(names)


def index_names(scope: Scope, sl, allow_ranges=False) -> list:
    """(name, range or None) of each index of a subscript; ranges (``i:n``) only on a left side."""
    elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
    out = []
    for e in elts:
        if isinstance(e, ast.Name):
            out.append((e.id, None))
        elif allow_ranges and isinstance(e, ast.Slice) and isinstance(e.lower, ast.Name) \
                and e.upper is not None and e.step is None:
            out.append((e.lower.id, scope.dimension(e.upper)))
        else:
            scope.src.fail(e, "not an index", expected="an index name like i" + (" or a range i:n" if allow_ranges else ""))
    return out


def infer_ranges(scope: Scope, lhs, rhs) -> dict:
    """Index ranges from the left side (i:m) and from plain uses on the right (x[k] -> k ranges
    over x's axis); affine uses like x[i + k] need every index's range from one of these."""
    ranges = {n: r for n, r in lhs if r is not None}
    for node in ast.walk(rhs):  # (explicit ranges win over plain uses)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            t = scope.tensor(node.value.id)
            if t is None:
                continue
            elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if len(elts) != t.rank:
                continue
            for x, d in zip(elts, t.shape):
                if isinstance(x, ast.Name):
                    ranges.setdefault(x.id, d)
    return ranges


class IndexReader(ArrayReader):
    """Reads the right side of one index-notation definition (left side ``lhs``: (name, range))."""

    index_notation = True

    def __init__(self, scope: Scope, lhs, rhs: ast.expr):
        super().__init__(scope)
        self.explicit_ranges = {n: r for n, r in lhs if r is not None}  # written on the left
        self.ranges = infer_ranges(scope, lhs, rhs)  # index name -> dimension, for index maps
        self.summed_at = plan_sums(rhs, [n for n, _ in lhs], set(self.explicit_ranges), self.is_index_name,
                                   self.src.text, lambda node, msg, exp: self.fail(node, msg, exp, cls=ShapeError))

    def is_index_name(self, name: str) -> bool:
        """In an index expression, a dimension symbol is an offset (r[n - 1 - i]) unless it is used
        as an index itself."""
        return not (name in self.scope.dim_names and name not in self.ranges)

    def name(self, e: ast.Name) -> Prod:
        """A name without indices: only a scalar."""
        p = self.tensor(e)
        rank = len(p.out)
        if rank > 0:
            self.fail(e, f"'{e.id}' has rank {rank} and needs indices in index notation",
                      expected=f"{e.id}[" + ", ".join("ijkl"[:rank]) + "]")
        return p

    def transpose(self, v: Prod, e) -> Prod:
        """No ``.T``: the indices say the order."""
        self.fail(e, ".T in index notation: swap the indices instead")

    def matmul_operator(self, a: Prod, b: Prod, e) -> Prod:
        """No ``@``: the indices say what is contracted."""
        self.fail(e, "@ in index notation: write the product with indices", expected="A[i, k] * B[k, j]")

    def broadcast(self, a: Prod, b: Prod, e):
        """Factors meet by index name."""
        return a, b, tuple(dict.fromkeys(a.out + b.out))

    def binop(self, op, a, b, e):
        """``a op b``, summed over the indices terms.py plans at this product."""
        r = super().binop(op, a, b, e)
        here = self.summed_at.get(id(e))
        return r.contracted(here) if here and isinstance(r, Prod) else r

    def subscript(self, e: ast.Subscript) -> Prod:
        """``X[i, j]``: a named tensor's axes named; a repeated index is a diagonal, a non-name an
        index map."""
        if not isinstance(e.value, ast.Name):
            self.fail(e.value, "only a named tensor takes indices in index notation",
                      expected="a declared or defined name: define the expression first (Z = X.T) and write Z[i, j]")
        base = self.tensor(e.value)
        elts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        for x, d in zip(elts, base.shape):
            self.check_range(x, d, e.value.id)
        if any(not isinstance(x, ast.Name) for x in elts):
            access = index_maps.access(self, e, base, elts)
        else:
            labels = [n for n, _ in index_names(self.scope, e.slice)]
            if len(labels) != len(base.out):
                self.fail(e, f"{len(labels)} indices for a tensor of rank {len(base.out)}",
                          expected=f"{len(base.out)} indices", cls=ShapeError)
            access = _labelled(base.node(), labels)
        here = self.summed_at.get(id(e))  # A[k, k] with k used nowhere else: a trace, summed here
        return access.contracted(here) if here else access

    def check_range(self, x, dim, tensor: str):
        """x[i] with i:m on the left: i must range over x's axis. (A part of x is an index map,
        x[i + 0], whose bounds are checked.)"""
        r = self.explicit_ranges.get(x.id) if isinstance(x, ast.Name) else None
        if r is not None and r != dim:
            self.fail(x, f"index '{x.id}' ranges over {r} on the left, but the axis of {tensor} it indexes "
                         f"has size {dim}", expected=f"the range {x.id}:{dim}, or an index map such as "
                                                     f"{tensor}[{x.id} + 0] for its first {r} entries",
                      cls=ShapeError)


def _labelled(node: ir.Node, labels) -> Prod:
    """``node`` with its axes labelled; X[i, i], a repeated index, is a diagonal."""
    if len(set(labels)) == len(labels):
        return Prod.of(node, labels)
    dims = {}
    for l, d in zip(labels, node.shape):
        if dims.setdefault(l, d) != d:
            raise ShapeError(f"index '{l}' used for dimensions {dims[l]} and {d}")
    return Prod([(node, tuple(labels))], tuple(dict.fromkeys(labels)), dims)
