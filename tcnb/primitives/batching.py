"""Leading batch axes for the linear-algebra records (NumPy's ``np.linalg`` conventions).

A matrix operand ``A: R[b..., m, n]`` is a stack of matrices: the function acts on the last two axes
and broadcasts over the leading ones, which must be equal between the operands (no stretching).
The local partial of a batched node is block-diagonal over the batch: every derivative rule is
written once over the core (matrix) labels, and :func:`product` prefixes the batch labels — on the
batched factors, on the node axes, and (through one unit tensor δ[z, z'] over the batch) on the
operand axes. The δ is eliminated when the partial meets a contraction, so no b x b block is ever
materialised for a gradient.
"""
from __future__ import annotations

from .. import ir
from ..dims import shape_str
from ..errors import ShapeError

MATRIX_RANKS = (2, 3, 4, 5, 6)   # a matrix, or a stack of them with up to four batch axes
VECTOR_RANKS = (1, 2, 3, 4, 5)


def batch_of(shape, core: int = 2) -> tuple:
    """The leading (batch) dimensions of a shape whose last ``core`` axes are the matrix."""
    return tuple(shape[:len(shape) - core])


def matrix(name: str, shape, what: str = "A") -> None:
    """ShapeError unless ``shape`` is a matrix or a stack of matrices (rank >= 2)."""
    if len(shape) < 2:
        raise ShapeError(f"{name} needs a matrix {what}, got rank {len(shape)}",
                         expected="a matrix (rank 2), or a stack of them (rank > 2)")


def same_batch(name: str, batch: tuple, other, what: str) -> None:
    """ShapeError unless the leading dimensions ``other`` of operand ``what`` equal ``batch``."""
    if tuple(other) != tuple(batch):
        raise ShapeError(f"{name}: the batch dimensions of {what} are {shape_str(other)}, "
                         f"those of the matrix {shape_str(batch)}",
                         expected=f"{what} with batch dimensions {shape_str(batch)} (equal symbols)")


def _z(batch, tag):
    return tuple((tag, q) for q in range(len(batch)))


def product(batch: tuple, operands, ins, out, operand_axes=None) -> ir.Node:
    """The einsum of ``operands`` over core labels ``ins``, with the batch prefixed.

    An operand whose rank is its labels' count plus the batch rank is batched (its leading axes get
    the batch labels), one with exactly its labels' count is shared by every batch entry (a mask,
    an identity, a scalar). Without ``operand_axes`` the result is a batched tensor over ``out``;
    with it, a local partial with axes (batch, out, batch', operand_axes), tied by δ[batch, batch'].
    """
    z, w = _z(batch, "z"), _z(batch, "zp")
    ops, labels = [], []
    for op, lab in zip(operands, ins):
        lab = tuple(lab)
        if batch and op.rank == len(lab) + len(batch):
            lab = z + lab
        elif op.rank != len(lab):
            raise ShapeError(f"batched product: operand of rank {op.rank} indexed with {len(lab)} labels")
        ops.append(op)
        labels.append(lab)
    if operand_axes is None:
        return ir.Einsum.make(ops, labels, z + tuple(out))
    if batch:
        ops.append(ir.Delta.make(batch))
        labels.append(z + w)
    return ir.Einsum.make(ops, labels, z + tuple(out) + w + tuple(operand_axes))


def eye(batch: tuple, n) -> ir.Node:
    """The identity matrix of size n, repeated over the batch (the plain δ without a batch)."""
    if not batch:
        return ir.Delta.make([n])
    return ir.Einsum.make([ir.Const.make(1.0, batch), ir.Delta.make([n])],
                          [_z(batch, "z"), ("i", "j")], _z(batch, "z") + ("i", "j"))
