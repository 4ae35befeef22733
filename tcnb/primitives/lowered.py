"""The language's own functions that are written as products, not nodes of their own.

``sum(X, 0)`` is ``einsum("ij->j", X)``, ``trace(A)`` is ``einsum("ii->", A)``, ``diag(v)`` is ``v`` times
a unit tensor: each is *lowered* to the IR's multiplication, so it shares nodes with index notation
and ``einsum`` and needs no derivative rule, code or spelling of its own (the product has them).
A record holds what is particular to the function: how a call is written (numbers of arguments,
keywords), whether it has a meaning in index notation, the ``build`` from the parser's arguments to
a pending product, and its line of the reference docs.

``build(call)`` receives the parser's ``Call`` (tcnb/parser/calls.py): ``call.check_arity()``,
``call.tensor(k)`` (a pending product: ``.out`` labels, ``.dims``, ``.over(out)``, ``.times``,
``.renamed``, ...), ``call.axis(rank)``, ``call.dims()``, ``call.fail(...)``, ``call.product(node)``
and the reader's operators. This module knows the IR only; the parser knows these records.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Callable

import sympy

from .. import ir
from ..dims import shape_str
from ..errors import ShapeError
from .shapes import keep_axes

T = ir.T


@dataclass(frozen=True)
class Lowered:
    """A function of the language that the parser builds as a product (see the module doc).

    ``index_notation`` is what to write instead where the function has no meaning in index notation
    (the call is refused before its arguments are read), or None where ``build`` decides itself.
    ``doc`` is (call, derivative rule, notes) for the reference docs, as ``Primitive.doc``.
    """
    name: str
    args: tuple             # (fewest, most) positional arguments
    build: Callable         # build(call) -> pending product
    doc: tuple
    keywords: tuple = ()
    index_notation: str | None = "indices instead"


LOWERED: dict[str, Lowered] = {}


def register_lowered(rec: Lowered) -> Lowered:
    """Add a record; a name is registered once."""
    if rec.name in LOWERED:
        raise ValueError(f"lowered function {rec.name!r} is already registered")
    LOWERED[rec.name] = rec
    return rec


# ------------------------------------------------------------------ reductions

def _axes(x, axis) -> set:
    return set(range(len(x.out))) if axis is None else set(axis if isinstance(axis, tuple) else (axis,))


def _not_in_index_notation(call):
    if call.index_notation:
        call.fail("sum() in index notation: indices absent on the left are summed already")


def _kept(call, p, result, axis):
    """``result`` (a reduction of p over ``axis``) with keepdims=True: the axes back, of size 1."""
    if not call.flag("keepdims"):
        return result
    return call.product(keep_axes(result.node(), p.shape, axis))


def _sum(call):
    call.check_arity()
    x = call.tensor(0)
    _not_in_index_notation(call)
    axis = call.axis(len(x.out))
    axes = _axes(x, axis)
    return _kept(call, x, x.over(tuple(l for k, l in enumerate(x.out) if k not in axes)), axis)


def _mean(call):
    call.check_arity()
    x = call.tensor(0)
    axis = call.axis(len(x.out))
    axes = _axes(x, axis)
    _not_in_index_notation(call)
    s = x.over(tuple(l for k, l in enumerate(x.out) if k not in axes))
    dims = [x.dims[l] for k, l in enumerate(x.out) if k in axes]
    return _kept(call, x, s.times(call.product(inverse_count(dims), ())), axis)


def inverse_count(dims, minus: int = 0) -> ir.Node:
    """1 / (the product of ``dims``, less ``minus``) as a scalar node: a constant, or 1/(n - minus)
    of a symbolic count."""
    count = sympy.Mul(*dims) if dims else sympy.Integer(1)
    if count.is_Integer:
        return ir.Const.make(1.0 / float(count - minus))
    ones = ir.Const.make(1.0, tuple(dims))
    n = ir.Einsum.make([ones], [tuple(range(len(dims)))], ())
    return ir.Elementwise.make(1 / (T - minus), n)


def _norm2(call):
    call.check_arity()
    a = call.tensor(0)
    axis = call.axis(len(a.out))
    axes = _axes(a, axis)
    sq = call.multiply(a, a)
    kept = tuple(l for k, l in enumerate(sq.out) if k not in axes)
    return _kept(call, a, call.elementwise(sympy.sqrt(T), sq.over(kept)), axis)


# ------------------------------------------------------------------ matrices and vectors

def _square(call, p, name):
    if len(p.out) != 2:
        call.fail(f"{name} needs a matrix, got rank {len(p.out)}", expected="rank 2", cls=ShapeError)
    if p.dims[p.out[0]] != p.dims[p.out[1]]:
        call.fail(f"{name} needs a square matrix, got {shape_str(p.shape)}",
                  expected="equal dimension symbols", cls=ShapeError)


def _diagonal_of(call):
    """A square matrix argument with its two axes one label: A[i, i]."""
    call.check_arity()
    a = call.tensor(0)
    _square(call, a, call.name)
    return a.renamed({a.out[0]: a.out[0], a.out[1]: a.out[0]})


def _trace(call):
    return _diagonal_of(call).over(())


def _diagonal(call):
    a = _diagonal_of(call)
    return a.over((a.out[0],))


def _diag(call):
    call.check_arity()
    v = call.tensor(0)
    if len(v.out) != 1:
        call.fail(f"diag takes a vector, got rank {len(v.out)}", expected="rank 1 (use diagonal() for a matrix)",
                  cls=ShapeError)
    i, j = v.out[0], call.fresh_label()
    return v.times(call.product(ir.Delta.make([v.dims[i]]), (i, j)), (i, j))


def _dot(call):
    call.check_arity()
    a, b = call.tensor(0), call.tensor(1)
    if len(a.out) > 2 or len(b.out) > 2 or not a.out or not b.out:
        call.fail("dot takes vectors or matrices", expected="rank 1 or 2", cls=ShapeError)
    return call.matmul(a, b)


def _outer(call):
    call.check_arity()
    a, b = call.tensor(0), call.tensor(1)
    b = b.renamed({l: call.fresh_label() for l in b.out})
    return a.times(b, a.out + b.out)


def _eye(call):
    call.check_arity()
    (d,) = call.dims()
    return call.product(ir.Delta.make([d]))


def _ones(call):
    call.check_arity()
    return call.product(ir.Const.make(1.0, call.dims()))


# ------------------------------------------------------------------ einsum

def _einsum(call):
    spec = call.string(0)
    if spec is None:
        call.fail("einsum needs a subscript string first", expected='einsum("ij,j->i", X, w)')
    call.check_arity()
    spec = spec.replace(" ", "")
    ops = [call.tensor(k) for k in range(1, call.nargs)]
    if "..." in spec:
        spec = _ellipsis(call, spec, ops)
    if "->" in spec:
        ins_s, out_s = spec.split("->", 1)
    else:
        ins_s = spec
        letters = [c for c in ins_s if c.isalpha()]
        out_s = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins_s.split(",")
    if len(ins) != len(ops):
        call.fail(f"einsum string has {len(ins)} operands but {len(ops)} tensors were given",
                  expected=f"{len(ops)} comma-separated index groups", at=0)
    for s in ins + [out_s]:
        if not all(c in string.ascii_letters for c in s):
            call.fail(f"bad einsum index group '{s}'", expected="ASCII letters a-z, A-Z only (as NumPy)", at=0)
    if len(set(out_s)) != len(out_s):
        call.fail("an output index repeats", expected="distinct output indices", at=0)
    result = None
    for k, (s, p) in enumerate(zip(ins, ops)):
        if len(s) != len(p.out):
            call.fail(f"operand {k + 1} has rank {len(p.out)} but '{s}' has {len(s)} indices",
                      cls=ShapeError, expected=f"{len(p.out)} indices", at=k + 1)
        q = _operand(call, k, p, [("e", c) for c in s])
        result = q if result is None else _join(call, result, q)
    for c in out_s:
        if ("e", c) not in result.dims:
            call.fail(f"output index '{c}' appears in no operand", at=0)
    return result.over(tuple(("e", c) for c in out_s)).apart()


def _ellipsis(call, spec, ops):
    """``spec`` with each ``...`` spelled as letters of its own: the broadcast axes, right-aligned
    across the operands as NumPy aligns them (an implicit output starts with them)."""
    ins_s, arrow, out_s = spec.partition("->")
    groups = ins_s.split(",")
    if len(groups) != len(ops):
        return spec  # the count is refused below
    spare = [c for c in string.ascii_letters if c not in spec]
    ranks = []
    for k, (g, p) in enumerate(zip(groups, ops)):
        if g.count("...") > 1 or "." in g.replace("...", ""):
            call.fail(f"bad einsum index group '{g}'", expected="one '...' at most per operand", at=0)
        e = len(p.out) - len(g.replace("...", "")) if "..." in g else 0
        if e < 0:
            call.fail(f"operand {k + 1} has rank {len(p.out)}, fewer than the indices of '{g}'",
                      cls=ShapeError, expected=f"{len(p.out)} indices or fewer beside '...'", at=k + 1)
        ranks.append(e)
    width = max(ranks)
    if width > len(spare):
        call.fail("'...' stands for more axes than there are letters left", at=0)
    ell = "".join(spare[:width])
    groups = [g.replace("...", ell[width - e:]) for g, e in zip(groups, ranks)]
    if arrow:
        if out_s.count("...") > 1 or "." in out_s.replace("...", ""):
            call.fail(f"bad einsum output '{out_s}'", expected="one '...' at most", at=0)
        out_s = out_s.replace("...", ell)
    else:
        letters = [c for c in "".join(groups) if c not in ell]
        out_s = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return ",".join(groups) + "->" + out_s


def _operand(call, k, p, labels):
    """Operand k of an einsum, labelled by its letters; a repeated letter takes a diagonal."""
    if len(set(labels)) == len(labels):
        mapping = {}
        for l, lab in zip(p.out, labels):
            mapping.setdefault(l, lab)
        return p.renamed(mapping)
    node = p.node()
    last = dict(zip(labels, node.shape))
    for lab, d in zip(labels, node.shape):
        if last[lab] != d:
            call.fail(f"index '{lab[1]}' used for dimensions {last[lab]} and {d}", cls=ShapeError, at=k + 1)
    return call.product(node, labels)


def _join(call, a, b):
    """The product of two einsum operands: a size-1 axis broadcasts (NumPy), other sizes agree."""
    for l in sorted(set(a.dims) & set(b.dims), key=str):
        if a.dims[l] != b.dims[l]:
            if a.dims[l] != 1 and b.dims[l] != 1:
                call.fail(f"einsum index '{l[1]}' has dimensions {a.dims[l]} and {b.dims[l]}",
                          cls=ShapeError, expected="one dimension per index, or 1")
            a, b = (a.stretched(l, b.dims[l]), b) if a.dims[l] == 1 else (a, b.stretched(l, a.dims[l]))
    return a.times(b)


# ------------------------------------------------------------------ the records

for _rec in [
    Lowered("sum", (1, 2), _sum, keywords=("axis", "keepdims"), index_notation=None, doc=(
        "`sum(x[, axis], keepdims=False)`", "linear: the adjoint is broadcast back over the summed axes", "")),
    Lowered("mean", (1, 2), _mean, keywords=("axis", "keepdims"), index_notation=None, doc=(
        "`mean(x[, axis], keepdims=False)`", "linear: 1/count times that of `sum`", "")),
    Lowered("trace", (1, 1), _trace, doc=(
        "`trace(A)`, A square", r"$\partial\, \mathrm{tr} A / \partial A = I$ (a unit tensor, kept symbolic)", "")),
    Lowered("diag", (1, 1), _diag, doc=(
        "`diag(v)`: vector → diagonal matrix",
        r"$\partial\, \mathrm{diag}(v)_{ij} / \partial v_k = \delta_{ij}\delta_{jk}$", "a product with a unit tensor δ")),
    Lowered("diagonal", (1, 1), _diagonal, doc=(
        "`diagonal(A)`: square matrix → vector", r"$\partial A_{ii} / \partial A_{kl} = \delta_{ik}\delta_{il}$",
        "`A[i, i]` in index notation is the same")),
    Lowered("norm2", (1, 2), _norm2, keywords=("axis", "keepdims"),
            index_notation="sqrt(A[i, k] * A[i, k]) for the norms of rows", doc=(
        "`norm2(A[, axis], keepdims=False)`: Frobenius norm $\\sqrt{\\sum A^2}$ (of each slice along the axes)",
        r"$\partial \|A\| / \partial A = A / \|A\|$",
        "not differentiable at A = 0: the gradient evaluates to NaN there")),
    Lowered("dot", (2, 2), _dot, doc=(
        "`dot(a, b)`", "bilinear: the derivative w.r.t. one operand is the other", "same as `a @ b`")),
    Lowered("outer", (2, 2), _outer, doc=(
        "`outer(a, b)`", r"$\partial (a b^\top)_{ij} / \partial a_k = \delta_{ik} b_j$", "")),
    Lowered("eye", (1, 1), _eye, index_notation=None, doc=(
        "`eye(n)`", "a constant unit tensor δ: derivative 0", "kept symbolic, never materialised unless asked")),
    Lowered("ones", (0, 8), _ones, index_notation=None, doc=(
        "`ones(m, n, ...)`", "a constant: derivative 0", "")),
    Lowered("einsum", (2, 64), _einsum, doc=(
        '`einsum("ij,j->i", A, x)`, `"...ij,...jk->...ik"` (broadcast axes as NumPy)',
        "multilinear: the derivative w.r.t. one operand is the einsum of the "
        "others, with δ for repeated output indices", "")),
]:
    register_lowered(_rec)
