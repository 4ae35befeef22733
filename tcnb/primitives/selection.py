"""Selection and piecewise functions: max/min reductions, maximum/minimum, where, clip.

Each is a general record (its own code and spelling: ``\\max(a, b)``, ``where(x > y, a, b)``), with
derivative rules that are element-wise masks on a unit tensor δ — the product with δ is eliminated
where the rule meets an adjoint or a tangent, so no n x n diagonal is ever formed.

Conventions at ties are JAX's, so results agree with it:

- ``maximum(a, b)``/``minimum(a, b)`` at a == b: the derivative is ½ to each operand
  (the masks are ½(1 ± sign(a − b)), sign(0) = 0);
- ``max(x[, axis])``/``min(x[, axis])``: the derivative is split evenly among the tied entries
  (mask of the entries equal to the extremum, divided by their count);
- ``where(cond, a, b)``: derivative 0 with respect to the compared tensors; ``a`` at the entries
  where cond holds, ``b`` elsewhere;
- ``clip(x, lo, hi)`` is ``minimum(maximum(x, lo), hi)`` (jnp.clip), so at x == lo the derivative
  is ½ to x and ½ to lo (and ½ to hi at x == hi); with lo > hi the result is hi.
"""
from __future__ import annotations

from .. import ir
from ..dims import shape_str
from ..errors import ShapeError
from .base import RELATIONS, Operand, Param, Primitive, Spelling, entries, register
from .elementwise import sign, step

T = ir.T
_UP = (1 + sign(T)) / 2       # d max(u, v) / du as a function of u - v: 1, ½ at a tie, 0
_DOWN = (1 - sign(T)) / 2     # d max(u, v) / dv
_TIE = 1 - step(T)            # 1 where t = 0 (t ≥ 0 given), else 0


# ------------------------------------------------------------------ shapes and masks

def _common_shape(shapes, params):
    """Operands of one shape, or scalars (the parser broadcasts everything else first)."""
    full = {s for s in shapes if s}
    if len(full) > 1:
        raise ShapeError("operands of shapes " + " and ".join(shape_str(s) for s in sorted(full, key=str))
                         + " do not match", expected="one shape (or scalars)")
    return full.pop() if full else ()


def _reduced_shape(shapes, params):
    ax = params.get("axis")
    return () if ax is None else tuple(d for k, d in enumerate(shapes[0]) if k != ax)


def _full(node: ir.Node, shape) -> ir.Node:
    """``node`` (of ``shape`` or a scalar) as a tensor of ``shape``."""
    if node.shape == tuple(shape):
        return node
    labels = tuple(range(len(shape)))
    return ir.Einsum.make([node, ir.Const.make(1.0, shape)], [(), labels], labels)


def _minus(a: ir.Node, b: ir.Node, shape) -> ir.Node:
    return ir.add(_full(a, shape), ir.neg(_full(b, shape)))


def _mask(formula, a, b, shape) -> ir.Node:
    """formula(a - b) entry by entry, over ``shape``."""
    return ir.Elementwise.make(formula, _minus(a, b, shape))


def _diagonal(node: ir.Node, operand: ir.Node, *masks) -> ir.Node:
    """The local partial of an element-wise selection: Π masks[o] δ[o, p] (axes node, operand);
    for a scalar operand (broadcast) just Π masks[o]."""
    r = node.rank
    o = tuple(("o", b) for b in range(r))
    if operand.rank == 0 or r == 0:
        return ir.Einsum.make(list(masks), [o] * len(masks), o)
    p = tuple(("p", b) for b in range(r))
    return ir.Einsum.make(list(masks) + [ir.Delta.make(node.shape)], [o] * len(masks) + [o + p], o + p)


def _zero(node: ir.Node, operand: ir.Node) -> ir.Node:
    return ir.zeros(node.shape + operand.shape)


def _elementwise_flops(shapes, params):
    return max(entries(s) for s in shapes)


# ------------------------------------------------------------------ maximum, minimum

def _d_maximum(k, up):
    def rule(node):
        a, b = node.args
        return _diagonal(node, node.args[k], _mask(up if k == 0 else _flip(up), a, b, node.shape))
    return rule


def _flip(formula):
    return _DOWN if formula == _UP else _UP


def _pairwise(name, sym, up, numpy_name):
    return register(Primitive(
        name=name, family="selection", operands=(Operand("a"), Operand("b")), shape=_common_shape,
        code=f"{{m}}.{numpy_name}({{a[0]}}, {{a[1]}})", derivatives=(_d_maximum(0, up), _d_maximum(1, up)),
        traceable=None if name == "maximum" else "-{m}.maximum(-({a[0]}), -({a[1]}))",
        reference=lambda xp, a, b: getattr(xp, numpy_name)(a, b), flops=_elementwise_flops, broadcast=True,
        spelling=Spelling(latex=sym + r"\left({a[0]}, {a[1]}\right)", matrix=name + "({a[0]}, {a[1]})",
                          text=name + "({a[0]}, {a[1]})"),
        doc=(f"`{name}(a, b)`, element-wise (a or b may be a scalar)",
             rf"$\partial\, {sym}(a, b) / \partial a = \frac{{1}}{{2}}(1 {'+' if up == _UP else '-'} "
             r"\operatorname{sign}(a - b))$, δ-diagonal",
             "ties split ½–½ between a and b (JAX's convention)"),
        example=f"a: R[m, n]\nb: R[m, n]\nf = {name}(a, b)"))


MAXIMUM = _pairwise("maximum", r"\max", _UP, "maximum")
MINIMUM = _pairwise("minimum", r"\min", _DOWN, "minimum")


# ------------------------------------------------------------------ clip

def _clip_masks(node):
    x, lo, hi = node.args
    low = MAXIMUM.make((x, lo))  # the value before the upper bound: jnp.clip is min(max(x, lo), hi)
    return x, lo, hi, low


def _d_clip_x(node):
    x, lo, hi, low = _clip_masks(node)
    return _diagonal(node, x, _mask(_DOWN, low, hi, node.shape), _mask(_UP, x, lo, node.shape))


def _d_clip_lo(node):
    x, lo, hi, low = _clip_masks(node)
    return _diagonal(node, lo, _mask(_DOWN, low, hi, node.shape), _mask(_DOWN, x, lo, node.shape))


def _d_clip_hi(node):
    x, lo, hi, low = _clip_masks(node)
    return _diagonal(node, hi, _mask(_UP, low, hi, node.shape))


CLIP = register(Primitive(
    name="clip", family="selection", operands=(Operand("x"), Operand("lo"), Operand("hi")),
    shape=_common_shape, code="{m}.minimum({m}.maximum({a[0]}, {a[1]}), {a[2]})",
    derivatives=(_d_clip_x, _d_clip_lo, _d_clip_hi),
    traceable="-{m}.maximum(-{m}.maximum({a[0]}, {a[1]}), -({a[2]}))",
    reference=lambda xp, x, lo, hi: xp.minimum(xp.maximum(x, lo), hi), flops=lambda s, p: 2 * _elementwise_flops(s, p),
    broadcast=True, spelling=Spelling(),
    doc=("`clip(x, lo, hi)`: lo, hi numbers, scalars or tensors broadcasting against x",
         r"$\partial\, \mathrm{clip} / \partial x = 1$ strictly inside, 0 outside, δ-diagonal",
         "`minimum(maximum(x, lo), hi)` as jnp.clip: at x = lo the derivative is ½ to x and ½ to lo; "
         "lo > hi gives hi"),
    example="x: R[m, n]\nlo: R[m, n]\nhi: R[m, n]\nf = clip(x, lo, hi)"))


# ------------------------------------------------------------------ where

# the mask "cond holds" as formula(u - v) with (u, v) = (x, y) or (y, x)
_CONDITIONS = {">": (step(T), False), ">=": (1 - step(T), True), "<": (step(T), True), "<=": (1 - step(T), False)}


def _holds(node):
    x, y = node.args[:2]
    formula, swap = _CONDITIONS[dict(node.params)["cmp"]]
    return _mask(formula, *((y, x) if swap else (x, y)), node.shape)


def _d_where_a(node):
    return _diagonal(node, node.args[2], _holds(node))


def _d_where_b(node):
    return _diagonal(node, node.args[3], ir.Elementwise.make(1 - T, _holds(node)))


def _where_latex(a, w, params):
    return rf"\operatorname{{where}}\left({a[0]} {RELATIONS[params['cmp']]} {a[1]}, {a[2]}, {a[3]}\right)"


def _where_ref(xp, x, y, a, b, cmp=">"):
    cond = {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[cmp]
    return xp.where(cond, a, b)


WHERE = register(Primitive(
    name="where", family="selection", operands=(Operand("x"), Operand("y"), Operand("a"), Operand("b")),
    params=(Param("cmp", ">", "comparison"),), shape=_common_shape,
    code="{m}.where(({a[0]}) {cmp} ({a[1]}), {a[2]}, {a[3]})",
    traceable="({a[3]}) + (({a[2]}) - ({a[3]})) * (({a[0]}) {cmp} ({a[1]}))",  # no where in every framework
    derivatives=(lambda n: _zero(n, n.args[0]), lambda n: _zero(n, n.args[1]), _d_where_a, _d_where_b),
    reference=_where_ref, flops=_elementwise_flops, broadcast=True,
    spelling=Spelling(latex=_where_latex, matrix="where({a[0]} {cmp} {a[1]}, {a[2]}, {a[3]})",
                      text="where({a[0]} {cmp} {a[1]}, {a[2]}, {a[3]})"),
    doc=("`where(x > y, a, b)`: one comparison `<`, `<=`, `>`, `>=` first, then the values",
         r"$\partial / \partial a = [x > y]$, $\partial / \partial b = 1 - [x > y]$, δ-diagonal; "
         "0 with respect to x and y",
         "comparisons have derivative 0; the condition is allowed only here"),
    example="x: R[m, n]\ny: R[m, n]\na: R[m, n]\nb: R[m, n]\nf = where(x >= y, a, b)"))


# ------------------------------------------------------------------ max, min along an axis

def _d_extremum(tie_gap_sign):
    def rule(node):
        x = node.arg
        r = x.rank
        ax = dict(node.params).get("axis")
        reduced = list(range(r)) if ax is None else [ax]
        kept = [b for b in range(r) if b not in reduced]
        if r == 0:
            return ir.Const.make(1.0)
        p = tuple(("p", b) for b in range(r))
        o = tuple(("o", b) for b in kept)
        back = ir.Einsum.make([node, ir.Const.make(1.0, [x.shape[b] for b in reduced])],
                              [tuple(p[b] for b in kept), tuple(p[b] for b in reduced)], p)
        gap = ir.add(back, ir.neg(x)) if tie_gap_sign > 0 else ir.add(x, ir.neg(back))
        tied = ir.Elementwise.make(_TIE, gap)   # 1 at the entries equal to the extremum
        count = ir.Einsum.make([tied], [p], tuple(p[b] for b in kept))
        ops = [tied, ir.Elementwise.make(1 / T, count)] + [ir.Delta.make([x.shape[b]]) for b in kept]
        ins = [p, o] + [(ob, p[b]) for ob, b in zip(o, kept)]
        return ir.Einsum.make(ops, ins, o + p)
    return rule


def _extremum_latex(sym):
    def spell(a, w, params):
        ax = params.get("axis")
        extra = "" if ax is None else rf";\ \text{{axis }} {ax}"
        return rf"{sym}\left({a[0]}{extra}\right)"
    return spell


def _reduction(name, sym, gap_sign, traceable):
    return register(Primitive(
        name=name, family="selection", operands=(Operand("x"),), params=(Param("axis", None, "axes"),),
        shape=_reduced_shape, code=f"{{m}}.{name}({{a[0]}}, axis={{axis}})", traceable=traceable, keepdims=True,
        derivatives=(_d_extremum(gap_sign),),
        reference=lambda xp, x, axis=None: getattr(xp, name)(x, axis=axis),
        flops=lambda shapes, params: entries(shapes[0]),
        spelling=Spelling(latex=_extremum_latex(sym), matrix_latex=_extremum_latex(sym)),
        doc=(f"`{name}(x[, axis], keepdims=False)`: the {'largest' if gap_sign > 0 else 'smallest'} entry "
             "(along one axis)",
             rf"$\partial\, {sym} x / \partial x_p = [x_p = {sym} x] / \#\{{q : x_q = {sym} x\}}$",
             "ties share the derivative evenly (JAX's convention); one axis or all"),
        example=f"x: R[m, n]\nf = {name}(x, axis=1)"))


MAX = _reduction("max", r"\max", +1, None)
MIN = _reduction("min", r"\min", -1, "-{m}.max(-({a[0]}), axis={axis})")

__all__ = ["MAX", "MIN", "MAXIMUM", "MINIMUM", "CLIP", "WHERE"]
