"""Linear rearrangements of whole tensors: reshape (C order) and cumsum along an axis.

Both are general records with their own array code (``xp.reshape``, ``xp.cumsum``) whose local
partial is the function applied to a unit tensor, ``L(δ)``, declared linear to the IR
(``ir.register_linear_of_unit``): where that partial meets a tangent or an adjoint, the product
becomes ``L`` applied to it (forward mode) or its transpose applied to it (reverse mode: a reshape
back, a reversed cumsum). No dense selection or triangular matrix appears in a gradient; only a full
Jacobian, whose value is that matrix, materialises ``L(δ)``.

``reshape`` keeps ``p = n*a + b`` out of ``ir.IndexMap`` (whose coefficients are integers): the
sizes may be symbolic, and a reshape is a view, not a gather. ``keep_axes`` (keepdims=True of the
reductions) is a reshape that reinserts axes of size 1.
"""
from __future__ import annotations

import sympy

from .. import ir
from ..dims import shape_str
from ..errors import ShapeError
from .base import Operand, Param, Primitive, Spelling, entries, register


# ------------------------------------------------------------------ reshape

def _size(shape) -> sympy.Expr:
    return sympy.expand(sympy.Mul(*shape)) if shape else sympy.Integer(1)


def _reshape_shape(shapes, params):
    target = tuple(params.get("shape") or ())
    if params.get("shape") is None:
        raise ShapeError("reshape needs a shape", expected="reshape(x, (m * n,))")
    if sympy.expand(_size(shapes[0]) - _size(target)) != 0:
        raise ShapeError(f"cannot reshape {shape_str(shapes[0])} ({_size(shapes[0])} entries) into "
                         f"{shape_str(target)} ({_size(target)} entries)",
                         expected=f"a shape of {_size(shapes[0])} entries")
    return target


def reshape(node: ir.Node, shape) -> ir.Node:
    """``node`` reshaped (C order) to ``shape``: itself when the shape is its own; a reshape of a
    reshape is one reshape (not of a unit tensor, whose reshapes are derivative rules)."""
    shape = tuple(shape)
    if tuple(node.shape) == shape:
        return node
    if isinstance(node, ir.General) and node.name == "reshape" and not isinstance(node.arg, ir.Delta):
        node = node.arg
        if tuple(node.shape) == shape:
            return node
    return RESHAPE.make((node,), {"shape": shape})


def _d_reshape(node):
    x = node.arg
    return RESHAPE.make((ir.Delta.make(x.shape),), {"shape": tuple(node.shape) + tuple(x.shape)})


def _reshape_partial(g):
    """(out, in) shapes of a partial reshape(δ_in) to out + in, or None where g is not of that form."""
    dims = g.arg.dims
    r = len(dims)
    if g.rank <= r or tuple(g.shape[g.rank - r:]) != tuple(dims):
        return None
    return tuple(g.shape[:g.rank - r]), tuple(dims)


def _reshape_apply(g, t):
    shapes = _reshape_partial(g)
    if shapes is None:
        return None
    out, src = shapes
    return reshape(t, out + tuple(t.shape[len(src):]))


def _reshape_transpose(g, t):
    shapes = _reshape_partial(g)
    if shapes is None:
        return None
    out, src = shapes
    return reshape(t, tuple(t.shape[:t.rank - len(out)]) + src)


def _reshape_ref(xp, x, shape=()):
    # the test oracle: at most one symbolic dimension, which NumPy infers (-1)
    target = [int(d) if sympy.sympify(d).is_Integer else -1 for d in shape]
    return xp.reshape(x, tuple(target))


def _reshape_latex(a, w, params):
    return rf"\operatorname{{reshape}}\left({a[0]},\ {shape_str(params['shape'])}\right)"


RESHAPE = register(Primitive(
    name="reshape", family="shapes", operands=(Operand("x", ranks=tuple(range(33))),),
    params=(Param("shape", None, "shape"),),
    shape=_reshape_shape, code="{m}.reshape({a[0]}, {out})", derivatives=(_d_reshape,),
    reference=_reshape_ref, flops=lambda shapes, params: 1,
    spelling=Spelling(latex=_reshape_latex, matrix=lambda a, w, p: f"reshape({a[0]}, {shape_str(p['shape'])})",
                      text=lambda a, w, p: f"reshape({a[0]}, {shape_str(p['shape'])})"),
    doc=("`reshape(x, (m * n,))`: C order; the sizes' products must agree symbolically, "
         "one `-1` is inferred",
         r"$\partial y / \partial x = \mathrm{reshape}(\delta)$: tangents and adjoints are reshaped "
         "(a pure index map, never a dense matrix in a gradient)",
         "`ravel(x)` is `reshape(x, (size,))`; `repeat`, `tile` and keepdims=True are reshapes of broadcasts"),
    example="x: R[m, n]\nf = reshape(x, (m * n,))"))

ir.register_linear_of_unit("reshape", _reshape_apply, _reshape_transpose)


def keep_axes(node: ir.Node, source_shape, axes) -> ir.Node:
    """A reduction's result with its reduced ``axes`` (None: all) back as axes of size 1 (keepdims)."""
    r = len(source_shape)
    axes = set(range(r)) if axes is None else set(axes if isinstance(axes, tuple) else (axes,))
    return reshape(node, tuple(sympy.Integer(1) if k in axes else d for k, d in enumerate(source_shape)))


# ------------------------------------------------------------------ cumsum

def _cumsum_axis(params, rank):
    ax = params.get("axis")
    return 0 if ax is None else ax


def _cumsum_shape(shapes, params):
    s = shapes[0]
    if params.get("axis") is None and len(s) > 1:
        raise ShapeError(f"cumsum of a rank-{len(s)} tensor needs an axis",
                         expected="cumsum(X, axis=k), or cumsum(ravel(X)) for NumPy's flattened sum")
    return s


def cumsum(node: ir.Node, axis: int, reverse: bool) -> ir.Node:
    """Cumulative sum of ``node`` along ``axis`` (from the end when ``reverse``), as a node."""
    return CUMSUM.make((node,), {"axis": axis, "reverse": bool(reverse)})


def _d_cumsum(node):
    x = node.arg
    return cumsum(ir.Delta.make(x.shape), _cumsum_axis(dict(node.params), x.rank), dict(node.params)["reverse"])


def _cumsum_partial(g):
    p = dict(g.params)
    ax, r = p.get("axis", 0), len(g.arg.dims)
    return None if ax is None or ax >= r else (ax, p["reverse"])


def _cumsum_apply(g, t):
    rule = _cumsum_partial(g)
    return None if rule is None else cumsum(t, rule[0], rule[1])


def _cumsum_transpose(g, t):
    rule = _cumsum_partial(g)
    if rule is None:
        return None
    q = t.rank - len(g.arg.dims)
    return cumsum(t, q + rule[0], not rule[1])


def _cumsum_ref(xp, x, axis=None, reverse=False):
    ax = 0 if axis is None else axis
    if reverse:
        return xp.flip(xp.cumsum(xp.flip(x, ax), axis=ax), ax)
    return xp.cumsum(x, axis=ax)


def _cumsum_text(a, w, p):
    extra = "" if p.get("axis") is None else f", axis={p['axis']}"
    return f"cumsum({a[0]}{extra}{', reverse=True' if p.get('reverse') else ''})"


CUMSUM = register(Primitive(
    name="cumsum", family="shapes", operands=(Operand("x", ranks=tuple(range(1, 33))),),
    params=(Param("axis", None, "axis"), Param("reverse", False, "bool")), shape=_cumsum_shape,
    code="_rt.cumsum({m}, {a[0]}, {axis}, {reverse})", traceable=None, derivatives=(_d_cumsum,),
    reference=_cumsum_ref, flops=lambda shapes, params: entries(shapes[0]),
    spelling=Spelling(latex=lambda a, w, p: r"\operatorname{cumsum}\left(" + _cumsum_text(a, w, p)[7:-1]
                      .replace("_", r"\_") + r"\right)", matrix=_cumsum_text, text=_cumsum_text),
    doc=("`cumsum(x[, axis], reverse=False)`: running sums along one axis (a vector needs none); "
         "`reverse=True` sums from the end (as `jax.lax.cumsum`)",
         r"$\partial y_o / \partial x_p = [p \leq o]$ along the axis: the adjoint is the reversed cumsum "
         "of the output's adjoint (no triangular matrix is formed)",
         "a matrix without an axis is refused: write cumsum(ravel(X)) for NumPy's flattened sum"),
    example="x: R[m, n]\nf = cumsum(x, axis=1)"))

ir.register_linear_of_unit("cumsum", _cumsum_apply, _cumsum_transpose)

__all__ = ["RESHAPE", "CUMSUM", "reshape", "keep_axes", "cumsum"]
