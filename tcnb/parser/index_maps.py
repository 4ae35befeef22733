"""Affine subscripts in index notation: ``y[i] = x[i + 1] - x[i]``, ``r[i] = x[n - 1 - i]``, ``x[2*i + k]``.

A subscript that is not a plain index name is an integer affine map of the indices (integer
coefficients, an offset that may use dimension symbols); it becomes an ``ir.IndexMap``, a 0/1
selection tensor, multiplied into the product. Every index of a map needs a range (from the left
side, ``i:n``, or from a plain use such as ``x[i]``), and the ranges must prove every access in
bounds: tcnb refuses what would silently read zeros.
"""
from __future__ import annotations

import ast

import sympy

from .. import ir
from ..dims import symbol
from ..errors import ShapeError
from .products import Prod, fresh_label


def access(r, e: ast.Subscript, base: Prod, elts) -> Prod:
    """``base[elts]`` read by the index reader ``r``, some subscripts being index maps."""
    if len(elts) != len(base.out):
        r.fail(e, f"{len(elts)} indices for a tensor of rank {len(base.out)}",
               expected=f"{len(base.out)} indices", cls=ShapeError)
    labels, rows, offsets, target_dims, fresh = [], [], [], [], []
    for x, d in zip(elts, base.shape):
        if isinstance(x, ast.Name) and r.is_index_name(x.id):
            labels.append(x.id)
            continue
        context = list(dict.fromkeys(
            n.id for n in ast.walk(x) if isinstance(n, ast.Name) and n.id not in r.scope.dim_names))
        coeffs, c = affine(r, x, context)
        j = fresh_label()
        labels.append(j)
        fresh.append(j)
        rows.append(coeffs)
        offsets.append(c)
        target_dims.append(d)
    idx_names = list(dict.fromkeys(n for row in rows for n in row))
    for n in idx_names:
        if n not in r.ranges:
            r.fail(e, f"the range of index '{n}' cannot be inferred",
                   expected=f"a range on the left side, like {n}:n, or a plain use such as x[{n}]")
    in_dims = [r.ranges[n] for n in idx_names]
    A = [[row.get(n, 0) for n in idx_names] for row in rows]
    check_bounds(r, e, A, offsets, in_dims, target_dims, idx_names)
    S = ir.IndexMap.make(A, offsets, in_dims, target_dims)
    prod = Prod.of(base.node(), labels)
    dims = dict(prod.dims)
    for n, d in zip(idx_names, in_dims):
        if dims.setdefault(n, d) != d:
            r.fail(e, f"index '{n}' ranges over {d} here but {dims[n]} elsewhere", cls=ShapeError)
    sel = Prod([(S, tuple(idx_names) + tuple(fresh))], tuple(idx_names), {**dict(zip(idx_names, in_dims)),
                                                                       **dict(zip(fresh, target_dims))})
    out = tuple(dict.fromkeys([l for l in labels if l not in fresh] + idx_names))
    return prod.times(sel, out)


def affine(r, e, context=()) -> tuple[dict, sympy.Expr]:
    """An index expression as (integer coefficient per index name, constant offset); ``context``
    names the indices of the whole subscript, for messages."""
    if isinstance(e, ast.Name):
        if not r.is_index_name(e.id):
            return {}, symbol(e.id)
        return {e.id: 1}, sympy.Integer(0)
    if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return {}, sympy.Integer(e.value)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
        co, c = affine(r, e.operand, context)
        sgn = -1 if isinstance(e.op, ast.USub) else 1
        return {k: sgn * v for k, v in co.items()}, sgn * c
    if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)):
        (ca, a), (cb, b) = affine(r, e.left, context), affine(r, e.right, context)
        sgn = 1 if isinstance(e.op, ast.Add) else -1
        out = dict(ca)
        for k, v in cb.items():
            out[k] = out.get(k, 0) + sgn * v
        return {k: v for k, v in out.items() if v}, a + sgn * b
    if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Mult):
        (ca, a), (cb, b) = affine(r, e.left, context), affine(r, e.right, context)
        if ca and cb:
            names = ", ".join(f"'{n}'" for n in list(ca) + list(cb))
            r.fail(e, f"a product of the indices {names} is not a linear index map", expected="integer * index")
        coeffs, other, scale_e = (ca, a, b) if ca else (cb, b, a)
        if not scale_e.is_Integer:
            names = ", ".join(f"'{n}'" for n in coeffs)
            r.fail(e, f"the coefficient of index {names} must be an integer", expected="an integer such as 2*i")
        k = int(scale_e)
        return {n: k * v for n, v in coeffs.items() if k * v}, other * k
    if isinstance(e, ast.Constant):
        r.fail(e, f"index coefficients and offsets must be integers, got {e.value!r}"
                  + (f" next to index {', '.join(repr(n) for n in context)}" if context else ""),
               expected="an integer")
    r.fail(e, "not a linear index expression", expected="indices, integers and dimension symbols with + - *")


def check_bounds(r, e, A, offsets, in_dims, target_dims, names):
    """Refuse accesses the ranges prove out of bounds (no silent zero padding)."""
    for row, c, d in zip(A, offsets, target_dims):
        lo = c + sum(min(0, a) * (n - 1) for a, n in zip(row, in_dims))
        hi = c + sum(max(0, a) * (n - 1) for a, n in zip(row, in_dims))
        text = " + ".join(f"{a}*{n}" for a, n in zip(row, names) if a) or "0"
        if (lo < 0) == sympy.true or sympy.simplify(lo).is_negative:
            r.fail(e, f"index {text} + {c} reaches {sympy.simplify(lo)} < 0",
                   expected="ranges that keep the index ≥ 0", cls=ShapeError)
        if sympy.simplify(hi - (d - 1)).is_positive:
            r.fail(e, f"index {text} + {c} reaches {sympy.simplify(hi)}, beyond the last index {d - 1}",
                   expected=f"ranges that keep the index ≤ {d - 1}", cls=ShapeError)
