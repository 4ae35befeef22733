"""Functions of a square matrix: expm (with its derivative tensors), matrix_power.

``expm``'s local partial is the dense 4-tensor ∂ expm(A)[i, j] / ∂A[k, l], the node
``expm_derivative(A, order=1)`` computed by Van Loan's block-triangular trick (runtime.py); the
partial of ``expm_derivative(A, order=p)`` is ``order=p + 1``, so Hessians need no other rule.
They are dense, n^(2p+2) entries from n^(2p) exponentials of (p+1)n x (p+1)n matrices: meant for
small n. ``matrix_power(A, k)``'s partial is Σ_p A^p ⊗ A^(k-1-p), over its own lower powers.
A stack of matrices (leading batch axes) is one tensor per matrix; the partials are block-diagonal
over the batch (batching.py).
"""
from __future__ import annotations

import itertools
import math

from .. import ir
from ..errors import ShapeError
from .base import Operand, Param, Primitive, Spelling, register, square
from .batching import MATRIX_RANKS, batch_of, product

_A = Operand("A", ranks=MATRIX_RANKS)


def _expm_of(xp):
    """The matrix exponential of ``xp``'s world: JAX's for jax.numpy, else SciPy's."""
    if xp.__name__.startswith("jax"):
        import jax.scipy.linalg
        return jax.scipy.linalg.expm
    import scipy.linalg
    return scipy.linalg.expm


def _expm_shape(shapes, params):
    square("expm", shapes[0])
    return shapes[0]


def _d_expm(node):
    D = EXPM_DERIVATIVE.make((node.arg,), {"order": 1})
    return product(batch_of(node.shape), [D], [("i", "j", "k", "l")], ("i", "j"), ("k", "l"))


def _per_matrix(n):
    return lambda shapes, params: math.prod(shapes[0][:-2]) * n(shapes[0][-1], params)


EXPM = register(Primitive(
    name="expm", family="matrix_functions", operands=(_A,), shape=_expm_shape,
    code="_rt.expm({m}, {a[0]}, {what})", traceable="_rt.expm({m}, {a[0]})", derivatives=(_d_expm,),
    reference=lambda xp, a: _expm_of(xp)(a), flops=_per_matrix(lambda n, params: 20 * n ** 3),
    spelling=Spelling(latex=r"e^{{{a[0]}}}", matrix="expm({a[0]})"),
    doc=("`expm(A)`: matrix exponential (SciPy's `expm`), A square",
         r"$\partial e^A / \partial A_{kl} = \int_0^1 e^{sA} E_{kl} e^{(1-s)A} ds$ "
         "(Van Loan's block form), the dense tensor `expm_derivative(A)`", "the derivative is an n⁴ "
         "tensor from n² exponentials of 2n x 2n matrices: for small n"),
    example="A: R[n, n]\nf = expm(A)"))


def _deriv_shape(shapes, params):
    square("expm_derivative", shapes[0])
    p = params.get("order")
    if not isinstance(p, int) or p < 1:
        raise ShapeError(f"expm_derivative: order must be a positive integer, got {p!r}", expected="order=1, 2, ...")
    return batch_of(shapes[0]) + tuple(shapes[0][-2:]) * (p + 1)


def _d_expm_derivative(node):
    p = dict(node.params)["order"]
    D = EXPM_DERIVATIVE.make((node.arg,), {"order": p + 1})
    labels = tuple(("e", q) for q in range(2 * p + 4))
    return product(batch_of(node.arg.shape), [D], [labels], labels[:-2], labels[-2:])


def _expm_derivative_ref(xp, a, order=1):
    """Van Loan's block matrices for every tuple of unit directions, written without item
    assignment (so it runs under jax.numpy too)."""
    n, p = a.shape[0], order
    nn = n * n
    units = xp.reshape(xp.eye(nn, dtype=a.dtype), (nn, n, n))          # E_kl, flat index k n + l
    eye = xp.eye(p + 1, dtype=a.dtype)
    blocks = xp.einsum("QR,ij->QiRj", eye, a)[None]
    for q in range(p):
        shift = xp.zeros((p + 1, p + 1), dtype=a.dtype)
        shift = shift + (xp.arange(p + 1)[:, None] == q) * (xp.arange(p + 1)[None, :] == q + 1)
        e_q = xp.reshape(units, (1,) * q + (nn,) + (1,) * (p - 1 - q) + (n, n))
        e_q = xp.reshape(xp.broadcast_to(e_q, (nn,) * p + (n, n)), (nn ** p, n, n))
        blocks = blocks + xp.einsum("QR,bij->bQiRj", shift, e_q)
    size = (p + 1) * n
    top = _expm_of(xp)(xp.reshape(blocks, (-1, size, size)))[:, :n, p * n:]
    ordered = xp.moveaxis(xp.reshape(top, (n, n) * p + (n, n)), (2 * p, 2 * p + 1), (0, 1))
    return sum(xp.transpose(ordered, (0, 1) + tuple(2 + 2 * perm[q] + r for q in range(p) for r in (0, 1)))
               for perm in itertools.permutations(range(p)))


EXPM_DERIVATIVE = register(Primitive(
    name="expm_derivative", family="matrix_functions", operands=(_A,), params=(Param("order", 1, "int"),),
    shape=_deriv_shape, code="_rt.expm_derivative({m}, {a[0]}, {order}, {what})",
    derivatives=(_d_expm_derivative,), reference=_expm_derivative_ref,
    flops=_per_matrix(lambda n, params: 20 * n ** (2 * params.get("order", 1)) * ((params.get("order", 1) + 1) * n) ** 3),
    spelling=Spelling(latex=r"D^{{{order}}} e^{{{a[0]}}}", matrix="expm_derivative({a[0]}, {order})"),
    doc=("`expm_derivative(A, order=p)`: the dense tensor ∂^p expm(A)[i, j] / ∂A[k1, l1] ... ∂A[kp, lp]",
         r"the partial of order p is order p + 1",
         "Van Loan: expm of block-bidiagonal (p+1)n x (p+1)n matrices, one per tuple of unit directions, "
         "summed over the p! orders; n^(2p) exponentials"),
    example="A: R[n, n]\nf = expm_derivative(A, order=1)"))


# ------------------------------------------------------------------ integer powers

def _power_shape(shapes, params):
    square("matrix_power", shapes[0])
    k = params.get("k")
    if not isinstance(k, int) or k < 0:
        raise ShapeError(f"matrix_power(A, k): k must be an integer >= 0, got {k!r}",
                         expected="a literal power such as matrix_power(A, 3)")
    return shapes[0]


def power(A: ir.Node, k: int) -> ir.Node:
    """A^k as a node: the identity for k = 0 (one for the whole stack), A for k = 1."""
    if k == 0:
        return ir.Delta.make([A.shape[-1]])
    if k == 1:
        return A
    return MATRIX_POWER.make((A,), {"k": k})


def _d_power(node):
    # d(A^k)[i, j] / dA[a, b] = Σ_{p < k} (A^p)[i, a] (A^(k-1-p))[b, j]
    A, k = node.arg, dict(node.params)["k"]
    if k == 0:
        return ir.zeros(node.shape + A.shape)
    batch = batch_of(A.shape)
    return ir.add(*[product(batch, [power(A, p), power(A, k - 1 - p)], [("i", "a"), ("b", "j")], ("i", "j"), ("a", "b"))
                    for p in range(k)])


MATRIX_POWER = register(Primitive(
    name="matrix_power", family="matrix_functions", operands=(_A,), params=(Param("k", None, "int"),),
    shape=_power_shape, code="{m}.linalg.matrix_power({a[0]}, {k})", derivatives=(_d_power,),
    reference=lambda xp, a, k: xp.linalg.matrix_power(a, k),
    flops=_per_matrix(lambda n, params: 2 * n ** 3 * max(1, math.ceil(math.log2(max(2, params.get("k") or 2))))),
    spelling=Spelling(latex="{w[0]}^{{{k}}}", matrix="{w[0]}^{k}", text="matrix_power({a[0]}, {k})"),
    doc=("`matrix_power(A, k)`: A^k for a literal integer k >= 0 (A⁰ = I)",
         r"$\partial (A^k)_{ij} / \partial A_{ab} = \sum_{p=0}^{k-1} (A^p)_{ia} (A^{k-1-p})_{bj}$",
         "evaluated by repeated squaring (NumPy's `matrix_power`); negative powers: `inv` first"),
    example="A: R[n, n]\nf = matrix_power(A, 3)"))
