"""Lowering one einsum node to array code: ``@``, ``*``, ``.sum``, ``tensordot`` where they apply,
``xp.einsum`` for what is left.

Why: a generic einsum call costs microseconds of interpreter overhead and misses BLAS for many
layouts; the paper's speed comes from handing dense kernels to BLAS. So pairs of operands become
matrix products or broadcast multiplies, and products of three or more are split into pairs in the
order opt_einsum plans for the sizes at hand (fixed at compile time, once per size binding).
"""
from __future__ import annotations

import math

import opt_einsum

Emit = "callable(expr) -> temp name"


def _dedup(labels):
    return tuple(dict.fromkeys(labels))


def _has_diag(labels) -> bool:
    return len(set(labels)) != len(labels)


class Lowerer:
    """Emits statements through ``emit(expr) -> name``; knows label sizes for planning.

    ``spell`` (label -> code) writes sizes in generated code as expressions (``n``, ``m + 1``)
    instead of the planning integers, for code that is correct at any sizes.
    """

    def __init__(self, emit, sizes: dict, xp: str = "xp", spell: dict | None = None):
        self.emit = emit
        self.sizes = sizes
        self.xp = xp
        self.symbolic = spell is not None
        self.spell = spell if spell is not None else {l: str(int(s)) for l, s in sizes.items()}
        self.largest = 0  # elements of the largest intermediate, for the memory budget

    # -------------------------------------------------------------------------------- helpers
    def named(self, expr: str) -> str:
        """expr as a name: itself when it already is one, else a new temporary."""
        return expr if expr.isidentifier() else self.emit(expr)

    def shape_code(self, labels) -> str:
        """The shape of an array indexed by ``labels``, as code."""
        items = [self.spell[l] for l in labels]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"

    def _letters(self, *groups):
        names: dict = {}
        out = []
        for g in groups:
            out.append("".join(names.setdefault(l, opt_einsum.get_symbol(len(names))) for l in g))
        return out

    def _note(self, labels):
        self.largest = max(self.largest, math.prod(self.sizes[l] for l in labels))

    def transpose(self, expr, labels, target):
        """expr (indexed by labels) reordered to target (same label set)."""
        labels, target = tuple(labels), tuple(target)
        if labels == target:
            return expr
        perm = tuple(labels.index(l) for l in target)
        if len(perm) == 2:
            return f"{expr}.T"
        return f"{self.xp}.transpose({expr}, {perm})"

    def align(self, expr, labels, target):
        """expr viewed against target labels: transposed, with None where it lacks a label."""
        present = [l for l in target if l in labels]
        e = self.transpose(expr, labels, present)
        if len(present) == len(target):
            return e
        idx = ", ".join(":" if l in labels else "None" for l in target)
        return f"{e}[{idx}]"

    def einsum_call(self, parts, out):
        """Code of one einsum call over ``parts`` ((expr, labels) pairs) giving labels ``out``."""
        specs = self._letters(*[l for _, l in parts], out)
        spec = ",".join(specs[:-1]) + "->" + specs[-1]
        args = ", ".join(e for e, _ in parts)
        return f"{self.xp}.einsum({spec!r}, {args})"

    # ------------------------------------------------------------------------------ one operand
    def single(self, expr, labels, out):
        """One operand with labels ``labels`` as labels ``out``: summed and transposed,

        or an einsum where a label repeats (a diagonal).
        """
        labels, out = tuple(labels), tuple(out)
        if _has_diag(labels):
            return self.einsum_call([(expr, labels)], out)
        summed = tuple(k for k, l in enumerate(labels) if l not in out)
        if summed:
            axis = summed[0] if len(summed) == 1 else summed
            expr = self.emit(f"{self.xp}.sum({expr}, axis={axis})")
            labels = tuple(l for l in labels if l in out)
        return self.transpose(expr, labels, out)

    # ----------------------------------------------------------------------------- two operands
    def pair(self, a, la, b, lb, out=None):
        """Product of two operands summed over labels not kept; returns (expr, labels)."""
        la, lb = tuple(la), tuple(lb)
        keep = set(out) if out is not None else None
        if keep is None:
            raise ValueError("pair needs the kept labels")
        if _has_diag(la) or _has_diag(lb):
            res = _dedup(l for l in la + lb if l in keep)
            target = tuple(out) if isinstance(out, tuple) else res
            return self.einsum_call([(a, la), (b, lb)], target), target
        # labels only one side has and nobody keeps: sum them first (cheap, shrinks BLAS work)
        only_a = tuple(l for l in la if l not in lb and l not in keep)
        if only_a:
            a = self.emit(self.single(a, la, tuple(l for l in la if l not in only_a)))
            la = tuple(l for l in la if l not in only_a)
        only_b = tuple(l for l in lb if l not in la and l not in keep)
        if only_b:
            b = self.emit(self.single(b, lb, tuple(l for l in lb if l not in only_b)))
            lb = tuple(l for l in lb if l not in only_b)
        batch = [l for l in la if l in lb and l in keep]
        contr = [l for l in la if l in lb and l not in keep]
        ka = [l for l in la if l not in lb]
        kb = [l for l in lb if l not in la]
        target = tuple(out) if isinstance(out, tuple) else None
        if not contr:  # broadcast multiply
            res = target or _dedup(la + lb)
            return f"{self.align(a, la, res)} * {self.align(b, lb, res)}", res
        if not batch:
            natural = tuple(ka + kb)
            if len(la) <= 2 and len(lb) <= 2 and len(contr) == 1:
                c = contr[0]
                ea = a if la[-1] == c else f"{a}.T"
                eb = b if lb[0] == c else f"{b}.T"
                expr = f"{ea} @ {eb}"
            else:
                ia = tuple(la.index(l) for l in contr)
                ib = tuple(lb.index(l) for l in contr)
                expr = f"{self.xp}.tensordot({a}, {b}, axes=({ia}, {ib}))"
            if target is None or target == natural:
                return expr, natural
            return self.transpose(self.emit(expr), natural, target), target
        res = target or tuple(batch + ka + kb)
        return self.einsum_call([(a, la), (b, lb)], res), res

    # ------------------------------------------------------------------------------- n operands
    def product(self, parts, out):
        """Σ Π parts (list of (expr, labels)) with result labels ``out`` (distinct)."""
        out = tuple(out)
        if len(parts) == 1:
            self._note(out)
            return self.single(parts[0][0], parts[0][1], out)
        if len(parts) == 2:
            self._note(out)
            return self.pair(parts[0][0], parts[0][1], parts[1][0], parts[1][1], out)[0]
        specs = self._letters(*[l for _, l in parts], out)
        shapes = [tuple(self.sizes[l] for l in labels) for _, labels in parts]
        path, info = opt_einsum.contract_path(",".join(specs[:-1]) + "->" + specs[-1], *shapes,
                                              shapes=True, optimize="auto")
        self.largest = max(self.largest, int(info.largest_intermediate))
        work = list(parts)
        for step_no, positions in enumerate(path):
            chosen = [work[p] for p in positions]
            for p in sorted(positions, reverse=True):
                del work[p]
            last = step_no == len(path) - 1
            needed = set(out) | {l for _, labels in work for l in labels}
            expr, labels = chosen[0]
            for k, (e2, l2) in enumerate(chosen[1:], 1):
                later = needed | {l for _, ll in chosen[k + 1:] for l in ll}
                final = last and k == len(chosen) - 1
                expr, labels = self.pair(expr, labels, e2, l2, out if final else
                                         frozenset(l for l in labels + l2 if l in later))
                if not final:
                    expr = self.emit(expr)
            if len(chosen) == 1:
                keep = out if last else tuple(l for l in labels if l in needed)
                expr, labels = self.single(expr, labels, keep), keep
                if not last:
                    expr = self.emit(expr)
            work.append((expr, labels))
        expr, labels = work[0]
        return self.transpose(expr, labels, out) if labels != out else expr
