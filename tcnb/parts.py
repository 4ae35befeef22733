"""Parts of a derivative without the whole: diagonals and traces as expressions of their own.

The diagonal of a Hessian ``H[i, j]`` is ``H[i, i]``: a tie of two output axes. Taken after
evaluation it costs the whole Hessian; pushed into the expression it costs only the part. ``tie``
pushes such a tie down the DAG — through sums, element-wise functions (``f(A)[i, i] = f(A[i, i])``)
and products, whose tied output labels simply become one label (``Σₘ X[m,i] d[m] X[m,j]`` tied is
``Σₘ X[m,i]² d[m]``, O(mn), never n×n) — and stops at nodes that must be computed whole (a
variable, a general function), whose entries it then reads on the diagonal.
"""
from __future__ import annotations

from . import ir

# deepest chain of nodes a tie is pushed through; below it the node's diagonal is read off whole
MAX_PUSH = 200


def normal_classes(classes) -> tuple:
    """Class ids renumbered 0, 1, ... in order of first appearance (the result's axis order)."""
    seen: dict = {}
    return tuple(seen.setdefault(c, len(seen)) for c in classes)


class _Tier:
    """Pushes ties into one DAG, each (node, classes) once."""

    def __init__(self, root: ir.Node):
        self.memo: dict = {}

    def tie(self, node: ir.Node, classes: tuple, depth: int = 0) -> ir.Node:
        """``node`` with the axes of each class tied: one axis per class, in class order."""
        classes = normal_classes(classes)
        if len(set(classes)) == len(classes):
            return node
        key = (node.id, classes)
        if key not in self.memo:
            self.memo[key] = self._tie(node, classes, depth)
        return self.memo[key]

    def _tie(self, node, classes, depth):
        if depth < MAX_PUSH:
            if isinstance(node, ir.Add):
                return ir.Add.make([self.tie(t, classes, depth + 1) for t in node.terms])
            if isinstance(node, ir.Elementwise):
                return ir.Elementwise.make(node.fn, [self.tie(a, classes, depth + 1) for a in node.args])
            if isinstance(node, ir.Const):
                return ir.Const.make(node.value, _class_dims(node.shape, classes))
            if isinstance(node, ir.Einsum):
                return self._einsum(node, classes, depth)
        # computed whole (a variable, a general function, a unit tensor): read its diagonal
        return ir.Einsum.make([node], [classes], tuple(range(len(set(classes)))))

    def _einsum(self, n: ir.Einsum, classes, depth):
        parent: dict = {}

        def find(l):
            while parent.get(l, l) != l:
                l = parent[l]
            return l

        first: dict = {}
        for label, c in zip(n.out, classes):
            if c in first:
                a, b = find(first[c]), find(label)
                if a != b:
                    parent[b] = a
            else:
                first[c] = label
        out = tuple(find(first[c]) for c in range(len(first)))
        ops, ins = [], []
        for op, labels in zip(n.operands, n.ins):
            new = tuple(find(l) for l in labels)
            if len(set(new)) < len(set(labels)) and isinstance(op, (ir.Add, ir.Einsum, ir.Elementwise)):
                op = self.tie(op, new, depth + 1)  # the tie reaches into this operand
                new = tuple(dict.fromkeys(new))
            ops.append(op)
            ins.append(new)
        return ir.Einsum.make(ops, ins, out)


def _class_dims(shape, classes) -> tuple:
    dims: dict = {}
    for d, c in zip(shape, classes):
        dims.setdefault(c, d)
    return tuple(dims[c] for c in range(len(dims)))


def tie(node: ir.Node, classes) -> ir.Node:
    """``node`` with the axes of equal class tied (``(0, 0)``: the diagonal of a matrix); the result
    has one axis per class, in order of first appearance. Shapes of tied axes must agree."""
    classes = tuple(classes)
    if len(classes) != node.rank:
        raise ValueError(f"{len(classes)} classes for a node of rank {node.rank}")
    normal = normal_classes(classes)
    for c in set(normal):
        dims = {d for d, k in zip(node.shape, normal) if k == c}
        if len(dims) > 1:
            raise ValueError(f"tied axes have different dimensions {sorted(map(str, dims))}")
    return _Tier(node).tie(node, normal)


def total(node: ir.Node) -> ir.Node:
    """The sum of every entry of ``node`` (a scalar)."""
    return ir.Einsum.make([node], [tuple(range(node.rank))], ())


def derivative_classes(out_shape: tuple, var_shape: tuple, order: int) -> tuple:
    """The tie classes of a derivative's diagonal (axes: output, then ``order`` copies of the
    variable's): each variable axis tied across the copies, and to the output's axis when the
    output is shaped like the variable (a Jacobian of x ↦ f(x) with f(x) like x, a gradient's
    Jacobian); an output of another shape keeps its own axes."""
    from .errors import DerivativeError
    r = len(var_shape)
    tied_out = bool(out_shape) and tuple(out_shape) == tuple(var_shape)
    if order == 1 and not tied_out:
        raise DerivativeError(
            f"a Jacobian of shape {tuple(map(str, out_shape))} × {tuple(map(str, var_shape))} has no "
            "diagonal: its output is not shaped like the variable",
            expected="a Hessian or higher derivative, or the Jacobian of a map from a tensor to one of its shape")
    out = list(range(r)) if tied_out else [r + k for k in range(len(out_shape))]
    return tuple(out) + tuple(range(r)) * order
