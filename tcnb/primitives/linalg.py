"""Linear-algebra primitives: inv, det, logdet, solve.

Local partials are tensors over IR nodes (reference §4): d inv(A)[i,j] / dA[k,l] = -C[i,k] C[l,j]
with C = inv(A), and so on. The inverse they use is the same hash-consed node as a user's ``inv(A)``,
so a program that also computes it computes it once.
"""
from __future__ import annotations

import math

from .. import ir
from .base import Operand, Primitive, Spelling, register, square

_MATRIX = Operand("A", ranks=(2,), sample="invertible")


def _square_shape(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return shapes[0]
    return shape


def _square_scalar(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return ()
    return shape


def _cubic(factor):
    return lambda shapes, params: math.ceil(factor * shapes[0][0] ** 3)


def inverse(a: ir.Node) -> ir.Node:
    """inv(a) as an IR node (for other records' derivative rules)."""
    return INV.make((a,))


def _d_inv(node):
    C = node
    return ir.Einsum.make([C, C, ir.Const.make(-1.0)], [("i", "k"), ("l", "j"), ()], ("i", "j", "k", "l"))


def _d_det(node):
    return ir.Einsum.make([node, inverse(node.arg)], [(), ("l", "k")], ("k", "l"))


def _d_logdet(node):
    return ir.transpose(inverse(node.arg), (1, 0))


INV = register(Primitive(
    name="inv", family="linalg", operands=(_MATRIX,), shape=_square_shape("inv"),
    code="_rt.inv({m}, {a[0]}, {what})", derivatives=(_d_inv,), reference=lambda xp, a: xp.linalg.inv(a), flops=_cubic(2),
    spelling=Spelling(latex="{w[0]}^{{-1}}", matrix="{w[0]}⁻¹", text="inv({a[0]})"),
    doc=("`inv(A)`, A square", r"$\partial (A^{-1})_{ij} / \partial A_{kl} = -(A^{-1})_{ik} (A^{-1})_{lj}$",
         "`NumericalError` when A is singular to working precision or has NaN/inf entries"),
    example="A: R[n, n]\nf = inv(A)"))

DET = register(Primitive(
    name="det", family="linalg", operands=(_MATRIX,), shape=_square_scalar("det"),
    code="_rt.det({m}, {a[0]}, {what})", derivatives=(_d_det,), reference=lambda xp, a: xp.linalg.det(a), flops=_cubic(2 / 3),
    spelling=Spelling(latex=r"\det\left({a[0]}\right)", matrix="det({a[0]})"),
    doc=("`det(A)`, A square", r"$\partial \det A / \partial A = \det(A)\, A^{-\top}$",
         "0 for a singular A (a value like any other)"),
    example="A: R[n, n]\nf = det(A)"))

LOGDET = register(Primitive(
    name="logdet", family="linalg", operands=(_MATRIX,), shape=_square_scalar("logdet"),
    code="_rt.logdet({m}, {a[0]}, {what})", derivatives=(_d_logdet,), reference=lambda xp, a: xp.linalg.slogdet(a)[1], flops=_cubic(2 / 3),
    spelling=Spelling(latex=r"\log\left|\det {w[0]}\right|", matrix="log|det({a[0]})|"),
    doc=("`logdet(A)`, A square", r"$\partial \log|\det A| / \partial A = A^{-\top}$",
         "log abs det, as NumPy's `slogdet`: the sign of a negative determinant is dropped; "
         "`NumericalError` when A is singular"),
    example="A: R[n, n]\nf = logdet(A)"))


def _solve_shape(shapes, params):
    a, b = shapes
    square("solve", a)
    if b[0] != a[0]:
        from ..errors import ShapeError
        raise ShapeError(f"solve(A, B): B has {b[0]} rows but A is {a[0]} x {a[1]}",
                         expected=f"B with {a[0]} rows")
    return (a[1],) + tuple(b[1:])


def _d_solve_a(node):
    # X = A⁻¹B: dX[i, r] / dA[k, l] = -A⁻¹[i, k] X[l, r]   (r: B's columns, if any)
    A = node.args[0]
    r = tuple(("r", q) for q in range(node.rank - 1))
    return ir.Einsum.make([inverse(A), node, ir.Const.make(-1.0)], [("i", "k"), ("l",) + r, ()],
                          ("i",) + r + ("k", "l"))


def _d_solve_b(node):
    # dX[i, r] / dB[k, s] = A⁻¹[i, k] δ[r, s]
    A = node.args[0]
    r = tuple(("r", q) for q in range(node.rank - 1))
    s = tuple(("s", q) for q in range(node.rank - 1))
    ops, ins = [inverse(A)], [("i", "k")]
    if r:
        ops.append(ir.Delta.make(node.shape[1:]))
        ins.append(r + s)
    return ir.Einsum.make(ops, ins, ("i",) + r + ("k",) + s)


SOLVE = register(Primitive(
    name="solve", family="linalg",
    operands=(_MATRIX, Operand("B", ranks=(1, 2))), shape=_solve_shape,
    code="_rt.solve({m}, {a[0]}, {a[1]}, {what})", traceable="{m}.linalg.solve({a[0]}, {a[1]})",
    derivatives=(_d_solve_a, _d_solve_b), reference=lambda xp, a, b: xp.linalg.solve(a, b),
    flops=lambda shapes, params: math.ceil(2 * shapes[0][0] ** 3 / 3 + 2 * shapes[0][0] ** 2 * math.prod(shapes[1][1:])),
    spelling=Spelling(latex="{w[0]}^{{-1}} {w[1]}", matrix="solve({a[0]}, {a[1]})"),
    doc=("`solve(A, B)`, A square, B a vector or a matrix",
         r"$\partial X / \partial B = A^{-1} \otimes I$, $\partial X / \partial A = -A^{-1} \otimes X$ "
         r"($X = A^{-1} B$)",
         "`NumericalError` when A is singular to working precision"),
    example="A: R[n, n]\nB: R[n, k]\nf = solve(A, B)"))
