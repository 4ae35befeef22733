"""The structure of a Hessian, apart from any widget: its matrix view, and for a compressed Hessian
(``core ⊗ δ``) the block-diagonal form whose spectrum comes from the core, and its pattern in words.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def matricise(a, split: int) -> np.ndarray:
    """The (rows × columns) matrix of a tensor whose first ``split`` axes are its rows."""
    a = np.asarray(a)
    return a.reshape(math.prod(a.shape[:split]), math.prod(a.shape[split:]))


@dataclass
class BlockStructure:
    """A single-term compressed Hessian core ⊗ δ seen as a block-diagonal matrix.

    With the axis positions reordered to (block positions, repeated positions, free positions) for
    rows and columns alike (a symmetric permutation, so the spectrum is unchanged), the matrix is
    ⊕_s I_repeat ⊗ B_s: ``blocks`` holds the B_s (n_blocks, size, size), each block appearing
    ``repeat`` times on the diagonal.
    """
    blocks: np.ndarray          # (n_blocks, b, b)
    repeat: int                 # how often each block repeats (product of the δ-only axes)
    perm: tuple                 # positions of the variable's axes in (block, repeated, free) order
    axis_sizes: tuple           # sizes of the variable's axes (rows = columns)
    n_block_axes: int           # how many leading entries of perm index the blocks
    n_repeat_axes: int

    @property
    def n(self) -> int:
        """The Hessian's side length: blocks times copies times block size."""
        return self.blocks.shape[0] * self.repeat * self.blocks.shape[1]

    def eigh(self):
        """Eigenvalues of every block (n_blocks, b) and eigenvectors (n_blocks, b, b)."""
        sym = 0.5 * (self.blocks + np.swapaxes(self.blocks, 1, 2))
        return np.linalg.eigh(sym)

    def embed(self, block: int, vec: np.ndarray) -> np.ndarray:
        """The full vector (shaped like the variable) that is ``vec`` in the first copy of ``block``."""
        sizes = [self.axis_sizes[p] for p in self.perm]
        out = np.zeros(sizes)
        nb, nr = self.n_block_axes, self.n_repeat_axes
        bidx = np.unravel_index(block, sizes[:nb]) if nb else ()
        idx = tuple(bidx) + (0,) * nr
        out[idx] = np.reshape(vec, sizes[nb + nr:])
        return np.transpose(out, np.argsort(self.perm))


def block_structure(S) -> BlockStructure | None:
    """The block-diagonal structure of a compressed result ``S`` (tcnb.Structured), or None.

    Needs one term (or terms of one and the same pattern, whose cores add up) whose pattern ties row
    axis p to column axis p (δ) or leaves them free; labels tied by δ that the core also carries make
    the blocks differ (block diagonal), labels the core lacks repeat each block (⊗ I). Anything else
    (different patterns, broadcast axes, δ across positions) is None.
    """
    r = S.split
    shape = S.shape
    if 2 * r != len(shape) or tuple(shape[:r]) != tuple(shape[r:]):
        return None
    merged = _merge_terms(S.terms)
    if merged is None:
        return None
    core, labels, pattern = merged
    rows, cols = pattern[:r], pattern[r:]
    if len(set(rows)) != r or len(set(cols)) != r:
        return None
    shared = set(rows) & set(cols)
    if any((rows[p] in shared or cols[p] in shared) and rows[p] != cols[p] for p in range(r)):
        return None
    if any(l not in shared and l not in labels for l in rows + cols):
        return None                       # broadcast axes: a rank-deficient, non-block structure
    block_pos = [p for p in range(r) if rows[p] == cols[p] and rows[p] in labels]
    repeat_pos = [p for p in range(r) if rows[p] == cols[p] and rows[p] not in labels]
    free_pos = [p for p in range(r) if rows[p] != cols[p]]
    order = [rows[p] for p in block_pos] + [rows[p] for p in free_pos] + [cols[p] for p in free_pos]
    core = np.asarray(core, dtype=np.float64)
    if tuple(sorted(order, key=repr)) != tuple(sorted(labels, key=repr)):
        return None
    core = np.transpose(core, [labels.index(l) for l in order]) if order else core.reshape(())
    nb = math.prod(shape[p] for p in block_pos)
    nf = math.prod(shape[p] for p in free_pos)
    blocks = np.reshape(core, (nb, nf, nf))
    return BlockStructure(blocks, math.prod(shape[p] for p in repeat_pos),
                          tuple(block_pos + repeat_pos + free_pos), tuple(shape[:r]),
                          len(block_pos), len(repeat_pos))


def _merge_terms(terms):
    """One (core, labels, pattern) for terms that share their pattern up to renaming, else None."""
    canon = []
    for core, labels, pattern in terms:
        names = {l: k for k, l in enumerate(dict.fromkeys(pattern))}
        key = (tuple(names[l] for l in pattern), tuple(sorted(names[l] for l in labels)))
        order = sorted(range(len(labels)), key=lambda a: names[labels[a]])
        canon.append((key, np.transpose(np.asarray(core, dtype=np.float64), order) if labels else
                      np.asarray(core, dtype=np.float64)))
    if not canon or any(k != canon[0][0] for k, _ in canon):
        return None
    (pattern, labels), total = canon[0][0], sum(c for _, c in canon)
    return total, labels, pattern


def is_compressed(S) -> bool:
    """Whether some term of ``S`` keeps a unit tensor or a broadcast axis symbolic."""
    for _, labels, pattern in S.terms:
        if len(set(pattern)) != len(pattern) or any(l not in labels for l in pattern):
            return True
    return False


def pattern_explanation(S, indices, name: str = "H") -> str:
    """The compressed form of S in index notation, in words (plain text, one term per line)."""
    r = S.split
    lines = []
    for k, (_, labels, pattern) in enumerate(S.terms):
        axis_name = {}
        for pos, l in enumerate(pattern):
            axis_name.setdefault(l, indices[pos] if pos < len(indices) else f"a{pos}")
        core_name = "C" if len(S.factors) == 1 else f"C{k + 1}"
        core = f"{core_name}[{', '.join(axis_name[l] for l in labels)}]" if labels else core_name
        deltas, broadcast = [], []
        for l in dict.fromkeys(pattern):
            where = [indices[p] if p < len(indices) else f"a{p}" for p, m in enumerate(pattern) if m == l]
            if len(where) > 1:
                deltas.append(f"δ[{', '.join(where)}]")
            if l not in labels:
                broadcast.extend(where if len(where) == 1 else [])
        term = " · ".join([core] + deltas)
        lines.append(term + (f"   (constant along {', '.join(broadcast)})" if broadcast else ""))
    head = f"{name}[{', '.join(indices[:r])} | {', '.join(indices[r:])}] = "
    return head + "\n    + ".join(lines)

