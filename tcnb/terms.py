"""Where index notation sums: the Einstein convention, term by term.

``Y[i, j] = A[i, k] * B[k, j] + C[i, j]`` is ``A @ B + C``. The right side is a sum of *terms* (the
operands of its top-level ``+`` and ``-``) and no sum spans two terms:

- an index that is not on the left and is used in two or more factors of a product (and nowhere
  else in the term) is summed over that product: ``exp(A[i, k] * B[k, j])`` sums inside ``exp``,
  ``A[i, k] * (B[k, j] + C[k, j])`` over the whole product, ``x[i] / (y[k] * z[k])`` in the divisor;
  one repeated within a single access is summed there (``A[k, k]`` is the trace);
- an index used in one factor only and not on the left is summed over the right side when the
  right side is one term (``s[j] = X[i, j]`` is ``einsum("ij->j", X)``); in a sum of terms it is an
  error, and so is a term that lacks an index of the left side — unless the term has no free index
  at all (a number, ``x[0]``, ``y[k] * z[k]``) or the left side gives that index a range (``j:n``):
  those broadcast.

A sum inside a factor (``(a[i, k] + b[j, k]) ** 2``) is element-wise and broadcasts by index name.
This module only reads the syntax tree; the parser sums where the plan says while it builds products.
"""
from __future__ import annotations

import ast
from collections import Counter

_PRODUCT = (ast.Mult, ast.Div)
_SUM = (ast.Add, ast.Sub)


def _is(node, ops) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, ops)


def _chain(node, ops, through_unary=False) -> list:
    """The operands of a chain of ``ops`` (left to right, without recursion): ``a * b / c`` has the
    factors a, b and c; a divisor is one factor of its own (its products are its own business)."""
    out, stack = [], [(node, True)]
    while stack:
        n, expand = stack.pop()
        if expand and _is(n, ops):
            stack.append((n.right, not isinstance(n.op, ast.Div)))
            stack.append((n.left, True))
        elif expand and through_unary and isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            stack.append((n.operand, True))
        else:
            out.append(n)
    return out


def index_names(root: ast.AST, is_index) -> dict:
    """id(node) -> the index names used in the subtree (names in subscripts that are not dimensions)."""
    names: dict = {}
    for n in reversed(list(ast.walk(root))):  # breadth-first, reversed: children before parents
        own = frozenset()
        if isinstance(n, ast.Subscript):
            own = frozenset(x.id for x in ast.walk(n.slice) if isinstance(x, ast.Name) and is_index(x.id))
        for ch in ast.iter_child_nodes(n):
            own |= names.get(id(ch), frozenset())
        names[id(n)] = own
    return names


def _parts(n) -> list:
    if _is(n, _PRODUCT):
        return _chain(n, _PRODUCT)
    if _is(n, _SUM):
        return _chain(n, _SUM)
    if isinstance(n, ast.BinOp):
        return [n.left, n.right]
    if isinstance(n, ast.UnaryOp):
        return [n.operand]
    if isinstance(n, ast.Call):
        return list(n.args)
    return []


def _bind(term, lhs: frozenset, names: dict, dummies: dict) -> frozenset:
    """Record the products of ``term`` that sum indices; return all indices summed inside it."""
    bound: set = set()
    stack = [(term, lhs)]
    while stack:
        n, outside = stack.pop()  # outside: indices used outside n (in this term) or on the left
        if isinstance(n, ast.Subscript):  # A[k, k]: k repeated within one access
            uses = Counter(x.id for x in ast.walk(n.slice) if isinstance(x, ast.Name) and x.id in names[id(n)])
            here = frozenset(k for k, c in uses.items() if c >= 2 and k not in outside)
            if here:
                dummies[id(n)] = here
                bound |= here
            continue
        parts = _parts(n)
        counts = Counter(k for p in parts for k in names[id(p)])
        if _is(n, _PRODUCT):
            here = frozenset(k for k, c in counts.items() if c >= 2 and k not in outside)
            if here:
                dummies[id(n)] = here
                bound |= here
        for p in parts:
            own = names[id(p)]
            stack.append((p, outside | {k for k, c in counts.items() if c - (k in own) > 0}))
    return frozenset(bound)


def plan_sums(rhs: ast.expr, lhs, ranged, is_index, source: str, fail) -> dict:
    """id(product node) -> the indices summed at that product, for the right side ``rhs`` of an
    index-notation definition with left-side indices ``lhs`` (those in ``ranged`` have ranges).
    ``fail(node, message, expected)`` raises for a term whose free indices differ from the left's."""
    names = index_names(rhs, is_index)
    terms = _chain(rhs, _SUM, through_unary=True)
    dummies: dict = {}
    left = frozenset(lhs)
    for t in terms:
        free = names[id(t)] - _bind(t, left, names, dummies)
        if len(terms) > 1:
            _check_term(t, free, lhs, ranged, source, fail)
    return dummies


def _check_term(t, free, lhs, ranged, source, fail):
    extra = sorted(free - set(lhs))
    missing = [n for n in lhs if n not in free and n not in ranged]
    if not extra and not (free and missing):
        return
    text = ast.get_source_segment(source, t) or ast.unparse(t)
    if extra:
        k = extra[0]
        fail(t, f"index '{k}' of the term {text} is not on the left and not repeated in a product, "
                f"so nothing sums it",
             f"every term of a sum to have the left side's indices ({', '.join(lhs)}); sum '{k}' in a "
             f"definition of its own, or repeat it in a product")
    if free and missing:
        k = missing[0]
        fail(t, f"the term {text} has the indices ({', '.join(sorted(free))}) but not the left side's "
                f"index '{k}'",
             f"every term of a sum to have the left side's indices ({', '.join(lhs)}), or a range on the "
             f"left such as {k}:n to broadcast")
