"""Linear-algebra primitives: inv, det, logdet, solve, solve_triangular, tril, triu, pinv, kron.

Local partials are tensors over IR nodes (reference §4): d inv(A)[i,j] / dA[k,l] = -C[i,k] C[l,j]
with C = inv(A), and so on. The inverse they use is the same hash-consed node as a user's ``inv(A)``,
so a program that also computes it computes it once. Every function but kron takes a stack of
matrices too (leading batch axes, NumPy's convention; batching.py): each rule is written over the
matrix labels and ``product`` prefixes the batch.
"""
from __future__ import annotations

import math

from .. import ir
from ..errors import ShapeError
from .base import Operand, Param, Primitive, Spelling, register, square
from .batching import MATRIX_RANKS, VECTOR_RANKS, batch_of, eye, matrix, product, same_batch

_MATRIX = Operand("A", ranks=MATRIX_RANKS, sample="invertible")
_RHS = Operand("B", ranks=VECTOR_RANKS + (MATRIX_RANKS[-1],))


def _square_shape(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return shapes[0]
    return shape


def _square_scalar(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return batch_of(shapes[0])
    return shape


def _cubic(factor):
    return lambda shapes, params: math.ceil(factor * math.prod(shapes[0][:-1]) * shapes[0][-1] ** 2)


def inverse(a: ir.Node) -> ir.Node:
    """inv(a) as an IR node (for other records' derivative rules)."""
    return INV.make((a,))


def _d_inv(node):
    C = node
    return product(batch_of(C.shape), [C, C, ir.Const.make(-1.0)], [("i", "k"), ("l", "j"), ()],
                   ("i", "j"), ("k", "l"))


def _d_det(node):
    return product(node.shape, [node, inverse(node.arg)], [(), ("l", "k")], (), ("k", "l"))


def _d_logdet(node):
    return product(node.shape, [inverse(node.arg)], [("l", "k")], (), ("k", "l"))


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


def _rhs_columns(name, a, b, what=("A", "B")):
    """The columns of the right-hand side b of a system with matrix a: () for a (stack of) vector(s),
    (k,) for matrices; ShapeError unless the batch and row dimensions match."""
    square(name, a, what[0])
    batch = batch_of(a)
    if len(b) not in (len(a) - 1, len(a)):
        raise ShapeError(f"{name}({', '.join(what)}): {what[1]} has rank {len(b)} for {what[0]} of rank {len(a)}",
                         expected=f"{what[1]} of rank {len(a) - 1} (vectors) or {len(a)} (matrices)")
    cols = tuple(b[len(a) - 1:])
    same_batch(name, batch, batch_of(b, 1 + len(cols)), what[1])
    rows = b[len(batch)]
    if rows != a[-2]:
        raise ShapeError(f"{name}({', '.join(what)}): {what[1]} has {rows} rows but {what[0]} is {a[-2]} x {a[-1]}",
                         expected=f"{what[1]} with {a[-2]} rows")
    return cols


def _solve_shape(shapes, params):
    a, b = shapes
    return batch_of(a) + (a[-1],) + _rhs_columns("solve", a, b)


def _columns(node, batch):
    return tuple(("r", q) for q in range(node.rank - len(batch) - 1)), \
        tuple(("s", q) for q in range(node.rank - len(batch) - 1))


def _d_solve_a(node):
    # X = A⁻¹B: dX[i, r] / dA[k, l] = -A⁻¹[i, k] X[l, r]   (r: B's columns, if any)
    A = node.args[0]
    batch = batch_of(A.shape)
    r, _ = _columns(node, batch)
    return product(batch, [inverse(A), node, ir.Const.make(-1.0)], [("i", "k"), ("l",) + r, ()],
                   ("i",) + r, ("k", "l"))


def _d_solve_b(node):
    # dX[i, r] / dB[k, s] = A⁻¹[i, k] δ[r, s]
    A = node.args[0]
    batch = batch_of(A.shape)
    r, s = _columns(node, batch)
    ops, ins = [inverse(A)], [("i", "k")]
    if r:
        ops.append(ir.Delta.make(node.shape[-1:]))
        ins.append(r + s)
    return product(batch, ops, ins, ("i",) + r, ("k",) + s)


def _solve_flops(shapes, params):
    a, b = shapes
    n, count = a[-1], math.prod(a[:-2])
    return math.ceil(count * (2 * n ** 3 / 3 + 2 * n ** 2 * math.prod(b[len(a) - 1:])))


# NumPy 2 and JAX read a right-hand side of rank > 1 as matrices: a stack of vectors (rank of A - 1)
# is solved as matrices of one column (a shape test, so the traced baselines may use it too)
_VECTOR_OR_MATRIX = ("({f}({{a[0]}}, {{a[1]}}[..., None]{extra})[..., 0] "
                     "if len({{a[1]}}.shape) < len({{a[0]}}.shape) else {f}({{a[0]}}, {{a[1]}}{extra}))")


def _solve_ref(xp, a, b):
    if b.ndim < a.ndim:
        return xp.linalg.solve(a, b[..., None])[..., 0]
    return xp.linalg.solve(a, b)


SOLVE = register(Primitive(
    name="solve", family="linalg",
    operands=(_MATRIX, _RHS), shape=_solve_shape,
    code="_rt.solve({m}, {a[0]}, {a[1]}, {what})", traceable=_VECTOR_OR_MATRIX.format(f="{m}.linalg.solve", extra=""),
    derivatives=(_d_solve_a, _d_solve_b), reference=lambda xp, a, b: _solve_ref(xp, a, b), flops=_solve_flops,
    spelling=Spelling(latex="{w[0]}^{{-1}} {w[1]}", matrix="solve({a[0]}, {a[1]})"),
    doc=("`solve(A, B)`, A square, B a vector or a matrix",
         r"$\partial X / \partial B = A^{-1} \otimes I$, $\partial X / \partial A = -A^{-1} \otimes X$ "
         r"($X = A^{-1} B$)",
         "`NumericalError` when A is singular to working precision (naming the batch index of a "
         "stack); A: R[b, n, n] with B: R[b, n] (vectors) or R[b, n, k] (matrices)"),
    example="A: R[n, n]\nB: R[n, k]\nf = solve(A, B)"))



# ------------------------------------------------------------------ triangles

def _tri_shape(name):
    def shape(shapes, params):
        matrix(name, shapes[0])
        return shapes[0]
    return shape


def _d_tri(name):
    def rule(node):
        # d tril(A)[i, j] / dA[k, l] = M[i, j] δ[i, k] δ[j, l], M = tril(ones): a mask, kept as a node
        m, n = node.shape[-2:]
        mask = TRI[name].make((ir.Const.make(1.0, (m, n)),), dict(node.params))
        return product(batch_of(node.shape), [mask, ir.Delta.make([m]), ir.Delta.make([n])],
                       [("i", "j"), ("i", "k"), ("j", "l")], ("i", "j"), ("k", "l"))
    return rule


TRI = {}
for _name, _below in (("tril", True), ("triu", False)):
    TRI[_name] = register(Primitive(
        name=_name, family="linalg", operands=(Operand("A", ranks=MATRIX_RANKS),), params=(Param("k", 0, "int"),),
        shape=_tri_shape(_name), code=f"{{m}}.{_name}({{a[0]}}, {{k}})", derivatives=(_d_tri(_name),),
        reference=(lambda f: lambda xp, a, k=0: getattr(xp, f)(a, k))(_name),
        flops=lambda shapes, params: 1,
        spelling=Spelling(latex=r"\operatorname{{" + _name + r"}}_{{{k}}}\left({a[0]}\right)",
                          matrix=_name + "({a[0]}, {k})"),
        doc=(f"`{_name}(A, k=0)`: the entries {'on and below' if _below else 'on and above'} diagonal k, "
             "zeros elsewhere", rf"$\partial\, \mathrm{{{_name}}}(A)_{{ij}} / \partial A_{{kl}} = "
             rf"M_{{ij}} \delta_{{ik}} \delta_{{jl}}$, M = {_name}(ones)", "as NumPy's; k > 0 above the diagonal"),
        example=f"A: R[n, n]\nf = {_name}(A{', -1' if _below else ''})"))


def tri_mask(n, lower: bool, k: int = 0) -> ir.Node:
    """The 0/1 matrix tril(ones) (lower) or triu(ones), as a node (for other records' rules)."""
    return TRI["tril" if lower else "triu"].make((ir.Const.make(1.0, (n, n)),), {"k": k})


# ------------------------------------------------------------------ triangular solves

def _solve_tri_shape(shapes, params):
    a, b = shapes
    _rhs_columns("solve_triangular", a, b, ("L", "B"))
    return tuple(b)


def triangular_inverse(L, lower=True) -> ir.Node:
    """The inverse of the triangle of L (a stack of them) as the node solve_triangular(L, I)."""
    return SOLVE_TRIANGULAR.make((L, eye(batch_of(L.shape), L.shape[-1])), {"lower": lower})


def _d_solve_tri_l(node):
    # X = T⁻¹B, T = tril(L): dX[i, r] / dL[k, l] = -T⁻¹[i, k] X[l, r] M[k, l] (M: the triangle's mask)
    L = node.args[0]
    lower = dict(node.params).get("lower", True)
    batch = batch_of(L.shape)
    r, _ = _columns(node, batch)
    return product(batch, [triangular_inverse(L, lower), node, tri_mask(L.shape[-1], lower), ir.Const.make(-1.0)],
                   [("i", "k"), ("l",) + r, ("k", "l"), ()], ("i",) + r, ("k", "l"))


def _d_solve_tri_b(node):
    L = node.args[0]
    batch = batch_of(L.shape)
    r, s = _columns(node, batch)
    ops, ins = [triangular_inverse(L, dict(node.params).get("lower", True))], [("i", "k")]
    if r:
        ops.append(ir.Delta.make(node.shape[-1:]))
        ins.append(r + s)
    return product(batch, ops, ins, ("i",) + r, ("k",) + s)


def _solve_tri_ref(xp, a, b, lower=True):
    return _solve_ref(xp, xp.tril(a) if lower else xp.triu(a), b)


SOLVE_TRIANGULAR = register(Primitive(
    name="solve_triangular", family="linalg",
    operands=(Operand("L", ranks=MATRIX_RANKS, sample="triangular"), _RHS),
    params=(Param("lower", True, "bool"),), shape=_solve_tri_shape,
    code="_rt.solve_triangular({m}, {a[0]}, {a[1]}, {lower}, {what})",
    traceable="{m}.linalg.solve({m}.tril({a[0]}) if {lower} else {m}.triu({a[0]}), "
              "{a[1]}[..., None] if len({a[1]}.shape) < len({a[0]}.shape) else {a[1]})"
              "[(..., 0) if len({a[1]}.shape) < len({a[0]}.shape) else ...]",
    derivatives=(_d_solve_tri_l, _d_solve_tri_b), reference=_solve_tri_ref,
    flops=lambda shapes, params: shapes[0][-1] * math.prod(shapes[1]),
    spelling=Spelling(latex="{w[0]}^{{-1}} {w[1]}", matrix="solve_triangular({a[0]}, {a[1]})"),
    doc=("`solve_triangular(L, B, lower=True)`: $T^{-1} B$, T the lower (upper) triangle of L",
         r"$\partial X / \partial B = T^{-1} \otimes I$, $\partial X_{ir} / \partial L_{kl} = "
         r"-(T^{-1})_{ik} X_{lr} M_{kl}$ (M the triangle's 0/1 mask)",
         "the other triangle of L is not read (its derivative is 0, as SciPy and JAX); `NumericalError` "
         "for a zero diagonal entry"),
    example="L: R[n, n]\nB: R[n, k]\nf = solve_triangular(L, B)"))


# ------------------------------------------------------------------ pseudo-inverse

def _d_pinv(node):
    # P = A⁺ (A: m x n, full rank): dP = -P dA P + P Pᵀ dAᵀ (I - A P) + (I - P A) dAᵀ Pᵀ P
    P, A = node, node.arg
    m, n = A.shape[-2:]
    batch = batch_of(A.shape)
    minus = ir.Const.make(-1.0)
    q_m = ir.add(eye(batch, m), product(batch, [A, P, minus], [("a", "c"), ("c", "j"), ()], ("a", "j")))
    q_n = ir.add(eye(batch, n), product(batch, [P, A, minus], [("i", "c"), ("c", "b"), ()], ("i", "b")))
    node_axes, operand_axes = ("i", "j"), ("a", "b")
    return ir.add(product(batch, [P, P, minus], [("i", "a"), ("b", "j"), ()], node_axes, operand_axes),
                  product(batch, [P, P, q_m], [("i", "c"), ("b", "c"), ("a", "j")], node_axes, operand_axes),
                  product(batch, [q_n, P, P], [("i", "b"), ("c", "a"), ("c", "j")], node_axes, operand_axes))


def _pinv_shape(shapes, params):
    matrix("pinv", shapes[0])
    return batch_of(shapes[0]) + (shapes[0][-1], shapes[0][-2])


PINV = register(Primitive(
    name="pinv", family="linalg", operands=(Operand("A", ranks=MATRIX_RANKS),), shape=_pinv_shape,
    code="_rt.pinv({m}, {a[0]}, {what})", traceable="{m}.linalg.pinv({a[0]})", derivatives=(_d_pinv,),
    reference=lambda xp, a: xp.linalg.pinv(a),
    flops=lambda shapes, params: 10 * math.prod(shapes[0]) * min(shapes[0][-2:]),
    spelling=Spelling(latex="{w[0]}^{{+}}", matrix="{w[0]}⁺", text="pinv({a[0]})"),
    doc=("`pinv(A)`: Moore–Penrose pseudo-inverse, A any matrix",
         r"$dA^+ = -A^+ dA\, A^+ + A^+ A^{+\top} dA^\top (I - A A^+) + (I - A^+ A)\, dA^\top A^{+\top} A^+$",
         "the derivative holds where the rank is locally constant (full-rank A); singular values below "
         "NumPy's cutoff count as 0, as `numpy.linalg.pinv`"),
    example="A: R[n, k]\nf = pinv(A)"))


# ------------------------------------------------------------------ Kronecker product

def _kron_shape(shapes, params):
    (m, n), (p, q) = shapes
    return (m * p, n * q)


def _kron_partial(node, wrt: int):
    """∂ kron(A, B) / ∂(A or B): K = reshape(E) with E[i,k,j,l] = A[i,j] B[k,l], so the partial is the
    reshape's own, L(δ) (an index map: the rows r = p i + k, columns s = q j + l), times the other
    factor and unit tensors. Meeting a tangent or an adjoint, L(δ) becomes that reshape applied
    (ir.register_linear_of_unit), so no 0/1 Kronecker matrix is ever formed."""
    from .shapes import RESHAPE
    A, B = node.args
    (m, n), (p, q) = A.shape, B.shape
    unit = RESHAPE.make((ir.Delta.make((m, p, n, q)),), {"shape": tuple(node.shape) + (m, p, n, q)})
    r, s, i, k, j, l, a, b = "rsikjlab"
    if wrt == 0:  # δ[i,a] δ[j,b] B[k,l]
        ops = [unit, ir.Delta.make([m]), ir.Delta.make([n]), B]
        ins = [(r, s, i, k, j, l), (i, a), (j, b), (k, l)]
    else:         # A[i,j] δ[k,a] δ[l,b]
        ops = [unit, A, ir.Delta.make([p]), ir.Delta.make([q])]
        ins = [(r, s, i, k, j, l), (i, j), (k, a), (l, b)]
    return ir.Einsum.make(ops, ins, (r, s, a, b))


def _d_kron_a(node):
    return _kron_partial(node, 0)


def _d_kron_b(node):
    return _kron_partial(node, 1)


KRON = register(Primitive(
    name="kron", family="linalg", operands=(Operand("A", ranks=(2,)), Operand("B", ranks=(2,))),
    shape=_kron_shape, code="{m}.kron({a[0]}, {a[1]})", derivatives=(_d_kron_a, _d_kron_b),
    reference=lambda xp, a, b: xp.kron(a, b), flops=lambda shapes, params: math.prod(_kron_shape(shapes, params)),
    spelling=Spelling(latex=r"{w[0]} \otimes {w[1]}", matrix="{w[0]} ⊗ {w[1]}", text="kron({a[0]}, {a[1]})"),
    doc=("`kron(A, B)`: Kronecker product of two matrices (no batch axes: NumPy's kron of stacks "
         "is the product over every axis)",
         r"$\partial K_{(ik)(jl)} / \partial A_{ab} = \delta_{ia}\delta_{jb} B_{kl}$ (and alike for B)",
         "the partials are a reshape's (K is the reshaped outer product A[i,j] B[k,l]): applied to a tangent "
         "or an adjoint as that reshape, never as 0/1 Kronecker matrices"),
    example="A: R[m, n]\nB: R[k, k]\nf = kron(A, B)"))
