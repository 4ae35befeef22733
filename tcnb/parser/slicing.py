"""NumPy basic indexing in array syntax: ``x[1:]``, ``x[:n - 1]``, ``X[0]``, ``X[:, 2]``, ``x[::2]``,
``x[-1]``, ``X[..., 0]``, ``v[:, None]``.

Each sliced or indexed axis is read through an ``ir.IndexMap`` (primitives/slicing.py), so the
result is a product like any other and its derivatives are gathers and scatters. Bounds are
integers or dimension expressions (``n - 1``, ``m + 1``); negative constants count from the end.
"""
from __future__ import annotations

import ast

import sympy

from ..dims import symbol
from ..errors import ShapeError
from ..primitives.slicing import index_value, select, slice_range
from .products import Prod, as_prod, fresh_label

ALLOWED = ("slices a:b:c with integer or dimension-expression bounds (x[1:], x[:n - 1], x[::2]), "
           "integer indices (X[0], x[-1]), None for a new axis and ...")


def is_plain(elts) -> bool:
    """Only ``:`` and ``None``: the new-axis form arrays.py reads itself."""
    return bool(elts) and all((isinstance(x, ast.Slice) and x.lower is None and x.upper is None and x.step is None)
                              or (isinstance(x, ast.Constant) and x.value is None) for x in elts)


def read(r, e: ast.Subscript, elts) -> Prod:
    """``base[elts]`` in array syntax, read by the array reader ``r``."""
    for x in elts:
        if isinstance(x, ast.Name) and x.id not in r.scope.dim_names and r.scope.tensor(x.id) is None:
            r.fail(e, "indices are only used in index notation",
                   expected="a definition like G[i, j] = X[k, i] * X[k, j], or " + ALLOWED)
    base = as_prod(r.expr(e.value))
    rank = len(base.out)
    ellipses = [k for k, x in enumerate(elts) if isinstance(x, ast.Constant) and x.value is Ellipsis]
    if len(ellipses) > 1:
        r.fail(e, "more than one ... in a subscript", expected="at most one ...")
    used = sum(1 for x in elts if not (isinstance(x, ast.Constant) and x.value in (None, Ellipsis)))
    if used > rank:
        r.fail(e, f"{used} indices for a tensor of rank {rank}", expected=f"at most {rank} indices", cls=ShapeError)
    full = ast.Slice(lower=None, upper=None, step=None)
    if ellipses:
        k = ellipses[0]
        elts = list(elts[:k]) + [full] * (rank - used) + list(elts[k + 1:])
    else:
        elts = list(elts) + [full] * (rank - used)
    p = base
    pos = 0  # position in p.out of the next axis of base
    for x in elts:
        if isinstance(x, ast.Constant) and x.value is None:
            lab = fresh_label()
            p = Prod(p.factors, p.out[:pos] + (lab,) + p.out[pos:], {**p.dims, lab: sympy.Integer(1)})
            pos += 1
            continue
        d = p.dims[p.out[pos]]
        try:
            if isinstance(x, ast.Slice):
                step = 1 if x.step is None else _step(r, x.step)
                lo = None if x.lower is None else bound(r, x.lower)
                hi = None if x.upper is None else bound(r, x.upper)
                coeff, offset, size = slice_range(d, lo, hi, step)
                p = select(p, pos, coeff, offset, size, Prod.of, fresh_label())
                pos += 1
            else:
                p = select(p, pos, 0, index_value(d, bound(r, x)), None, Prod.of, None)
        except ShapeError as err:
            raise r.src.locate(err, x) from None
    return p


def _step(r, node) -> int:
    v = bound(r, node)
    if not v.is_Integer:
        r.fail(node, f"a symbolic slice step {v}", expected="a constant integer step such as ::2 or ::-1")
    if v == 0:
        r.fail(node, "slice step cannot be zero", expected="a nonzero integer step", cls=ShapeError)
    return int(v)


def bound(r, node) -> sympy.Expr:
    """A slice bound or constant index: integers and dimension symbols with + - *."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return sympy.Integer(node.value)
    if isinstance(node, ast.Name):
        if node.id in r.scope.dim_names:
            return symbol(node.id)
        if r.scope.tensor(node.id) is not None:
            r.fail(node, f"indexing by the tensor '{node.id}' (advanced indexing) is not supported",
                   expected=ALLOWED)
        r.fail(node, f"'{node.id}' is not a dimension symbol", expected=ALLOWED)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = bound(r, node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult):
        a, b = bound(r, node.left), bound(r, node.right)
        if isinstance(node.op, ast.Mult) and not (a.is_Integer or b.is_Integer):
            r.fail(node, "a product of two dimension symbols as an index", expected="integer * dimension")
        return sympy.expand({ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(node.op)])
    if isinstance(node, ast.Constant):
        r.fail(node, f"an index must be an integer, got {node.value!r}", expected=ALLOWED)
    if isinstance(node, ast.Slice):
        r.fail(node, "a slice inside a slice", expected=ALLOWED)
    r.fail(node, f"unsupported index: {type(node).__name__}", expected=ALLOWED)
