"""Decompositions: cholesky, eigvalsh (with eigh_vectors), svdvals (with svd_u, svd_v); the functions
of several results built of them (``w, V = eigh(A)``, ``U, s, Vt = svd(A)``: TUPLE_FUNCTIONS), and the
Cholesky forms of functions of a symmetric positive definite variable (SPD_FORMS).

Their local partials are tensors over IR nodes, like linalg.py's: the eigenvalues' partial is a
product of the eigenvectors, the eigenvectors' partial uses the eigenvalue gaps, and so on, so a
Hessian differentiates these rules again with no rule of its own.

Conventions (those of jax.numpy, whose derivatives the tests compare with):

- ``cholesky``, ``eigvalsh`` and ``eigh_vectors`` read the *symmetric part* (A + Aᵀ)/2 of A. Their
  derivative with respect to the full matrix is therefore symmetric: d/dA of a function of
  cholesky(A) equals JAX's (which symmetrizes too), and NumPy's lower-triangle-only reading is
  what you get for the derivative along symmetric directions dA = dAᵀ.
- Eigenvalues ascend, singular values descend. Eigenvectors and singular vectors have a fixed
  sign: the entry of largest magnitude of each column of V (eigh), resp. U (svd), is positive.
- The derivatives of eigenvectors, and of eigenvalues beyond the first, do not exist at repeated
  eigenvalues (resp. singular values): the gaps 1/(λ_k - λ_l) are infinite there, and the values
  come out inf/NaN, as JAX's do.
- A stack of matrices (leading batch axes) is decomposed matrix by matrix (batching.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import sympy

from .. import ir
from .base import Operand, Primitive, Spelling, register, square
from .batching import MATRIX_RANKS, batch_of, eye, matrix, product
from .linalg import SOLVE_TRIANGULAR, tri_mask, triangular_inverse

E = ir.Einsum.make
_SYM = Operand("A", ranks=MATRIX_RANKS, sample="symmetric")
_ANY = Operand("A", ranks=MATRIX_RANKS)


def _square_shape(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return shapes[0]
    return shape


def _gap_inverse(x: ir.Node) -> ir.Node:
    """F[l, k] = 1 / (x[k] - x[l]) off the diagonal, 0 on it (for each vector of a stack x)."""
    n, batch = x.shape[-1], batch_of(x.shape, 1)
    ones = ir.Const.make(1.0, (n,))
    delta = eye(batch, n)
    gaps = ir.add(product(batch, [x, ones], [("k",), ("l",)], ("l", "k")),
                  product(batch, [x, ones, ir.Const.make(-1.0)], [("l",), ("k",), ()], ("l", "k")), delta)
    return ir.add(ir.Elementwise.make(1 / ir.T, gaps), ir.neg(delta))


def _sym_ref(a):
    return (a + a.swapaxes(-1, -2)) / 2


def _signs(xp, v):
    idx = xp.argmax(xp.abs(v), axis=0)
    s = xp.sign(v[idx, xp.arange(v.shape[1])])
    return xp.where(s == 0, 1, s)


def _sym_traced(a: str) -> str:
    """Traceable code of (A + Aᵀ)/2 over the last two axes."""
    return f"(({a}) + {{m}}.swapaxes({a}, -1, -2)) / 2"


# ------------------------------------------------------------------ Cholesky

def _d_cholesky(node):
    # dL = L Φ(W dA Wᵀ), W = L⁻¹, Φ: the lower triangle with the diagonal halved, dA symmetrized:
    # dL[i, j] / dA[a, b] = ½ Σ_p L[i, p] φ[p, j] (W[p, a] W[j, b] + W[p, b] W[j, a])
    L = node
    n, batch = L.shape[-1], batch_of(L.shape)
    W = triangular_inverse(L, True)
    phi = ir.add(tri_mask(n, True, -1), ir.scale(ir.Delta.make([n]), 0.5))
    half = ir.Const.make(0.5)
    return ir.add(
        product(batch, [L, phi, W, W, half], [("i", "p"), ("p", "j"), ("p", "a"), ("j", "b"), ()], ("i", "j"), ("a", "b")),
        product(batch, [L, phi, W, W, half], [("i", "p"), ("p", "j"), ("p", "b"), ("j", "a"), ()], ("i", "j"), ("a", "b")))


CHOLESKY = register(Primitive(
    name="cholesky", family="decompositions", operands=(Operand("A", ranks=MATRIX_RANKS, sample="spd"),),
    shape=_square_shape("cholesky"), code="_rt.cholesky({m}, {a[0]}, {what})",
    traceable="{m}.linalg.cholesky(" + _sym_traced("{a[0]}") + ")", derivatives=(_d_cholesky,),
    reference=lambda xp, a: xp.linalg.cholesky(_sym_ref(a)),
    flops=lambda shapes, params: math.ceil(math.prod(shapes[0][:-1]) * shapes[0][-1] ** 2 / 3),
    spelling=Spelling(latex=r"\operatorname{{chol}}\left({a[0]}\right)", matrix="chol({a[0]})"),
    doc=("`cholesky(A)`: lower-triangular L with L Lᵀ = A, A symmetric positive definite",
         r"$dL = L\, \Phi(L^{-1} dA\, L^{-\top})$, $\Phi$: the lower triangle, diagonal halved",
         "reads the symmetric part (A + Aᵀ)/2, so the derivative w.r.t. the full A is symmetrized, as "
         "JAX's; `NumericalError` unless A is positive definite"),
    example="A: R[n, n]\nf = cholesky(A)"))


# ------------------------------------------------------------------ symmetric eigenproblem

def _d_eigvalsh(node):
    # dλ_k / dA[a, b] = V[a, k] V[b, k]
    V = EIGH_VECTORS.make((node.arg,))
    return product(batch_of(V.shape), [V, V], [("a", "k"), ("b", "k")], ("k",), ("a", "b"))


def _d_eigh_vectors(node):
    # dV = V (F ∘ (Vᵀ dA V)), F[l, k] = 1/(λ_k - λ_l), dA symmetrized
    V = node
    batch = batch_of(V.shape)
    F = _gap_inverse(EIGVALSH.make((node.arg,)))
    half = ir.Const.make(0.5)
    node_axes, operand_axes = ("i", "k"), ("a", "b")
    return ir.add(product(batch, [V, F, V, V, half], [("i", "l"), ("l", "k"), ("a", "l"), ("b", "k"), ()],
                          node_axes, operand_axes),
                  product(batch, [V, F, V, V, half], [("i", "l"), ("l", "k"), ("b", "l"), ("a", "k"), ()],
                          node_axes, operand_axes))


def _eigh_vectors_ref(xp, a):
    _, v = xp.linalg.eigh(_sym_ref(a))
    return v * _signs(xp, v)


def _vector_shape(name):
    def shape(shapes, params):
        square(name, shapes[0])
        return shapes[0][:-1]
    return shape


_EIG_NOTE = ("reads the symmetric part (A + Aᵀ)/2 (as JAX); at a repeated eigenvalue no derivative "
             "exists: like JAX, tcnb then gives the first derivative for the eigenvectors LAPACK picked "
             "and inf/NaN from the gaps 1/(λ_k - λ_l) beyond")

EIGVALSH = register(Primitive(
    name="eigvalsh", family="decompositions", operands=(_SYM,), shape=_vector_shape("eigvalsh"),
    code="_rt.eigvalsh({m}, {a[0]}, {what})", traceable="{m}.linalg.eigvalsh(" + _sym_traced("{a[0]}") + ")",
    derivatives=(_d_eigvalsh,), reference=lambda xp, a: xp.linalg.eigvalsh(_sym_ref(a)),
    flops=lambda shapes, params: math.ceil(4 * math.prod(shapes[0][:-1]) * shapes[0][-1] ** 2 / 3),
    spelling=Spelling(latex=r"\lambda\left({a[0]}\right)", matrix="eigvalsh({a[0]})"),
    doc=("`eigvalsh(A)`: eigenvalues of a symmetric A, ascending",
         r"$\partial \lambda_k / \partial A_{ij} = V_{ik} V_{jk}$ (V: `eigh_vectors(A)`)",
         _EIG_NOTE),
    example="A: R[n, n]\nf = eigvalsh(A)"))

EIGH_VECTORS = register(Primitive(
    name="eigh_vectors", family="decompositions", operands=(_SYM,), shape=_square_shape("eigh_vectors"),
    code="_rt.eigh_vectors({m}, {a[0]}, {what})", traceable="_rt.eigh_vectors({m}, {a[0]})",
    derivatives=(_d_eigh_vectors,), reference=_eigh_vectors_ref,
    flops=lambda shapes, params: 9 * math.prod(shapes[0][:-1]) * shapes[0][-1] ** 2,
    spelling=Spelling(latex=r"V\left({a[0]}\right)", matrix="eigh_vectors({a[0]})"),
    doc=("`eigh_vectors(A)`: orthonormal eigenvectors (columns) of a symmetric A, eigenvalues ascending",
         r"$dV = V (F \circ V^\top dA\, V)$, $F_{lk} = 1/(\lambda_k - \lambda_l)$, $F_{kk} = 0$",
         _EIG_NOTE + "; each column's entry of largest magnitude is positive"),
    example="A: R[n, n]\nf = eigh_vectors(A)"))


# ------------------------------------------------------------------ singular values

def _svd_shape(name, part):
    def shape(shapes, params):
        matrix(name, shapes[0])
        m, n = shapes[0][-2:]
        r = sympy.Min(m, n)
        return batch_of(shapes[0]) + {"s": (r,), "u": (m, r), "v": (n, r)}[part]
    return shape


def _svd_nodes(A):
    return SVDVALS.make((A,)), SVD_U.make((A,)), SVD_V.make((A,))


def _d_svdvals(node):
    # dσ_k / dA[a, b] = U[a, k] V[b, k]
    _, U, V = _svd_nodes(node.arg)
    return product(batch_of(U.shape), [U, V], [("a", "k"), ("b", "k")], ("k",), ("a", "b"))


def _svd_parts(A):
    s, U, V = _svd_nodes(A)
    F = _gap_inverse(ir.Elementwise.make(ir.T ** 2, s))   # 1/(σ_k² - σ_l²)
    return s, U, V, F, ir.Elementwise.make(1 / ir.T, s)


def _complement(Q):
    """I - Q Qᵀ (the projector onto the complement of Q's columns), for each matrix of a stack Q."""
    m, batch = Q.shape[-2], batch_of(Q.shape)
    return ir.add(eye(batch, m), product(batch, [Q, Q, ir.Const.make(-1.0)], [("i", "c"), ("a", "c"), ()], ("i", "a")))


def _terms(batch, factors):
    """The sum of the products ``factors`` [(operands, labels)] as partials with axes (i, k, a, b)."""
    return ir.add(*[product(batch, ops, ins, ("i", "k"), ("a", "b")) for ops, ins in factors])


def _d_svd_u(node):
    # dU = U (F ∘ [Uᵀ dA V S + S Vᵀ dAᵀ U]) + (I - U Uᵀ) dA V S⁻¹
    s, U, V, F, inv_s = _svd_parts(node.arg)
    return _terms(batch_of(U.shape), [
        ([U, F, U, V, s], [("i", "l"), ("l", "k"), ("a", "l"), ("b", "k"), ("k",)]),
        ([U, F, s, V, U], [("i", "l"), ("l", "k"), ("l",), ("b", "l"), ("a", "k")]),
        ([_complement(U), V, inv_s], [("i", "a"), ("b", "k"), ("k",)])])


def _d_svd_v(node):
    # dV = V (F ∘ [S Uᵀ dA V + Vᵀ dAᵀ U S]) + (I - V Vᵀ) dAᵀ U S⁻¹
    s, U, V, F, inv_s = _svd_parts(node.arg)
    return _terms(batch_of(U.shape), [
        ([V, F, s, U, V], [("i", "l"), ("l", "k"), ("l",), ("a", "l"), ("b", "k")]),
        ([V, F, V, U, s], [("i", "l"), ("l", "k"), ("b", "l"), ("a", "k"), ("k",)]),
        ([_complement(V), U, inv_s], [("i", "b"), ("a", "k"), ("k",)])])


def _svd_ref(part):
    def ref(xp, a):
        u, s, vt = xp.linalg.svd(a, full_matrices=False)
        sg = _signs(xp, u)
        return u * sg if part == "u" else vt.T * sg
    return ref


def _svd_flops(shapes, params):
    m, n = shapes[0][-2:]
    return math.prod(shapes[0][:-2]) * (4 * m * n * min(m, n) + 8 * min(m, n) ** 3)


_SVD_NOTE = "the derivative does not exist at a repeated or (for U, V) zero singular value"

SVDVALS = register(Primitive(
    name="svdvals", family="decompositions", operands=(_ANY,), shape=_svd_shape("svdvals", "s"),
    code="_rt.svdvals({m}, {a[0]}, {what})", traceable="{m}.linalg.svd({a[0]}, compute_uv=False)",
    derivatives=(_d_svdvals,), reference=lambda xp, a: xp.linalg.svd(a, compute_uv=False), flops=_svd_flops,
    spelling=Spelling(latex=r"\sigma\left({a[0]}\right)", matrix="svdvals({a[0]})"),
    doc=("`svdvals(A)`: singular values of a matrix, descending (min(m, n) of them)",
         r"$\partial \sigma_k / \partial A = u_k v_k^\top$ (U, V: `svd_u(A)`, `svd_v(A)`)",
         "no derivative where two singular values meet: like JAX, tcnb then gives u_k v_kᵀ for the "
         "vectors LAPACK picked, and inf/NaN at second order"),
    example="A: R[n, k]\nf = svdvals(A)"))

SVD_U = register(Primitive(
    name="svd_u", family="decompositions", operands=(_ANY,), shape=_svd_shape("svd_u", "u"),
    code="_rt.svd_vectors({m}, {a[0]}, False, {what})",
    traceable="_rt.svd_vectors({m}, {a[0]}, False)", derivatives=(_d_svd_u,),
    reference=_svd_ref("u"), flops=_svd_flops,
    spelling=Spelling(latex=r"U\left({a[0]}\right)", matrix="svd_u({a[0]})"),
    doc=("`svd_u(A)`: left singular vectors of the thin SVD (columns, σ descending)",
         r"$dU = U (F \circ [U^\top dA V S + S V^\top dA^\top U]) + (I - U U^\top) dA\, V S^{-1}$, "
         r"$F_{lk} = 1/(\sigma_k^2 - \sigma_l^2)$",
         _SVD_NOTE + "; each column of U has its entry of largest magnitude positive"),
    example="A: R[n, k]\nf = svd_u(A)"))

SVD_V = register(Primitive(
    name="svd_v", family="decompositions", operands=(_ANY,), shape=_svd_shape("svd_v", "v"),
    code="_rt.svd_vectors({m}, {a[0]}, True, {what})",
    traceable="_rt.svd_vectors({m}, {a[0]}, True)", derivatives=(_d_svd_v,),
    reference=_svd_ref("v"), flops=_svd_flops,
    spelling=Spelling(latex=r"V\left({a[0]}\right)", matrix="svd_v({a[0]})"),
    doc=("`svd_v(A)`: right singular vectors of the thin SVD (columns), A = U diag(σ) Vᵀ",
         r"$dV = V (F \circ [S U^\top dA V + V^\top dA^\top U S]) + (I - V V^\top) dA^\top U S^{-1}$",
         _SVD_NOTE + "; signed together with U's columns"),
    example="A: R[n, k]\nf = svd_v(A)"))


# ------------------------------------------------------------------ functions of several results

@dataclass(frozen=True)
class TupleFunction:
    """A function of several results, written only as ``a, b = name(A, ...)``: each result is an
    expression of other records (``outputs``: (name in messages, build(*operand nodes) -> node)).
    ``instead`` says what to call for one value; ``doc`` is (call, derivative rule, notes)."""
    name: str
    arity: int
    outputs: tuple
    instead: str
    doc: tuple


TUPLE_FUNCTIONS: dict[str, TupleFunction] = {}


def register_tuple(rec: TupleFunction) -> TupleFunction:
    """Add a function of several results; a name is registered once."""
    if rec.name in TUPLE_FUNCTIONS:
        raise ValueError(f"tuple function {rec.name!r} is already registered")
    TUPLE_FUNCTIONS[rec.name] = rec
    return rec


def _swap_last(x):
    """x with its last two axes swapped (Vᵀ of each matrix of a stack)."""
    r = x.rank
    return ir.transpose(x, tuple(range(r - 2)) + (r - 1, r - 2))


register_tuple(TupleFunction(
    "eigh", 1, (("w", lambda A: EIGVALSH.make((A,))), ("V", lambda A: EIGH_VECTORS.make((A,)))),
    "eigvalsh(A) for the eigenvalues, eigh_vectors(A) for the eigenvectors",
    ("`w, V = eigh(A)`: `eigvalsh(A)`, `eigh_vectors(A)`", "those of eigvalsh and eigh_vectors",
     "A symmetric (its symmetric part is read); w ascending")))

register_tuple(TupleFunction(
    "svd", 1, (("U", lambda A: SVD_U.make((A,))), ("s", lambda A: SVDVALS.make((A,))),
               ("Vt", lambda A: _swap_last(SVD_V.make((A,))))),
    "svdvals(A) for the singular values, svd_u(A) / svd_v(A) for the singular vectors",
    ("`U, s, Vt = svd(A)`: the thin SVD `svd_u(A)`, `svdvals(A)`, `svd_v(A).T`",
     "those of svd_u, svdvals and svd_v", "A = U diag(s) Vt, s descending (NumPy's full_matrices=False)")))


# ------------------------------------------------------------------ SPD variables through Cholesky

def _logdet_spd(P):
    # log det P = 2 Σ_i log L_ii, L = cholesky(P)
    L = CHOLESKY.make((P,))
    d = E([L], [("i", "i")], ("i",))
    return E([ir.Elementwise.make(sympy.log(ir.T), d), ir.Const.make(2.0)], [("i",), ()], ())


def _solve_spd(P, B):
    # P⁻¹ B = L⁻ᵀ (L⁻¹ B)
    L = CHOLESKY.make((P,))
    y = SOLVE_TRIANGULAR.make((L, B), {"lower": True})
    return SOLVE_TRIANGULAR.make((ir.transpose(L, (1, 0)), y), {"lower": False})


# name -> build(*operand nodes): the form a call takes when its first operand is a variable declared
# SPD[n] (the same value and, along symmetric directions, the same derivatives)
SPD_FORMS: dict[str, Callable] = {"logdet": _logdet_spd, "solve": _solve_spd}
