"""The node kinds whose constructors simplify: element-wise functions, sums and products.

Each ``make`` canonicalises cheaply — constant folding, merging equal terms, multiplying sums of unit
tensors out, inlining transposes and scalings, eliminating unit tensors, numbering labels — which
is what makes index notation, ``einsum`` and array syntax that mean the same thing the same node.
The three are mutually recursive (a sum merges c·A + d·A through the product that scales A; a
product multiplies a sum out), so they and the small constructors built on them share this module.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import sympy

from ..dims import shape_str
from ..errors import ShapeError
from .formula import T, fusable
from .labels import canonical, eliminate_deltas, label_dims_of
from .nodes import Const, Delta, IndexMap, Node, _ids

_LETTERS = "ijklmnopqrstuvwxyzabcdefgh"


def _letters(labels) -> str:
    return "".join(_LETTERS[l] if isinstance(l, int) and 0 <= l < len(_LETTERS) else f"[{l}]" for l in labels)


class Elementwise(Node):
    """f(A, B, ...) entry by entry; ``fn`` is a SymPy expression in ``T`` (the first argument) and
    ``t1, t2, ...`` (the others, ir.ARGS); the arguments all have the node's shape."""
    __slots__ = ("fn", "args")
    kind = "elementwise"

    @classmethod
    def make(cls, fn: sympy.Expr, arg) -> Node:
        """``fn`` applied entry by entry to ``arg`` (a node, or a sequence of nodes of one shape),
        simplified: identity and constant functions, constant folding, fusion with an inner
        element-wise node and a scalar factor moved inside; an argument the formula does not use is
        dropped and a repeated one merged, so a function of one distinct tensor is a unary node."""
        fn = sympy.sympify(fn)
        if not isinstance(arg, Node):
            fn, args = _normal_args(fn, tuple(arg))
            if isinstance(args, Node):  # every argument folded: a constant of their shape
                return args
            if len(args) > 1:
                return cls._intern((fn,) + tuple(a.id for a in args), args[0].shape, args, fn=fn, args=args)
            arg = args[0]
        if fn == T:
            return arg
        if T not in fn.free_symbols:  # a constant function
            return Const.make(float(fn), arg.shape)
        if isinstance(arg, Const):  # constant folding
            return Const.make(float(fn.subs(T, arg.value)), arg.shape)
        if isinstance(arg, Elementwise) and fusable(fn, arg.fn):
            # f(g(x)) as one element-wise node: fewer passes over memory. Only while the formula stays
            # small: tanh(tanh(...)) fused without bound grows a formula whose derivatives, printing
            # and code cost grow with its depth at every node; past the limit it stays a chain.
            return cls.make(fn.subs(T, arg.fn), arg.arg if len(arg.args) == 1 else arg.args)
        c, base = split_coefficient(arg)
        if c != 1.0 and not isinstance(base, Const):  # f(c·A) = (t -> f(c t))(A): the scaling is free
            return cls.make(fn.subs(T, sympy.Float(c) * T if not float(c).is_integer() else int(c) * T), base)
        return cls._intern((fn, arg.id), arg.shape, (arg,), fn=fn, args=(arg,))

    @property
    def arg(self) -> Node:
        """The first argument (the only one of a unary function)."""
        return self.args[0]

    def _describe(self) -> str:
        return str(self.fn)

    def with_children(self, children) -> Node:
        """The same formula applied to other arguments (simplified as by ``make``)."""
        return Elementwise.make(self.fn, tuple(children))


def _normal_args(fn: sympy.Expr, args: tuple):
    """(formula, distinct arguments) of an element-wise function of several tensors: constants
    substituted, repeated arguments merged, unused ones dropped, the rest renumbered t, t1, ...
    in order. A constant node of their shape when no argument is left."""
    from .formula import MAX_ARGS, arg_symbol
    if not 1 <= len(args) <= MAX_ARGS:
        raise ShapeError(f"an element-wise function of {len(args)} arguments",
                         expected=f"1 to {MAX_ARGS} arguments")
    shape = args[0].shape
    for a in args[1:]:
        if a.shape != shape:
            raise ShapeError(f"element-wise arguments of shapes {shape_str(shape)} and {shape_str(a.shape)}",
                             expected="arguments of one shape (broadcast them first)")
    subs, kept, position = {}, [], {}
    for k, a in enumerate(args):
        sym = arg_symbol(k)
        if sym not in fn.free_symbols:
            continue
        c, base = split_coefficient(a)
        if c != 1.0 and not isinstance(base, Const):  # f(c·A, ...): the scaling moves inside, free
            fn = fn.xreplace({sym: (int(c) if float(c).is_integer() else sympy.Float(c)) * sym})
            a = base
        if isinstance(a, Const):
            subs[sym] = sympy.Float(a.value)
        elif a.id in position:
            subs[sym] = position[a.id]
        else:
            position[a.id] = sympy.Dummy()
            subs[sym] = position[a.id]
            kept.append(a)
    fn = fn.xreplace(subs)
    fn = fn.xreplace({position[a.id]: arg_symbol(k) for k, a in enumerate(kept)})
    if not kept:
        return fn, Const.make(float(fn), shape)
    if any(arg_symbol(k) not in fn.free_symbols for k in range(len(kept))):  # cancelled: t1 - t1
        return _normal_args(fn, tuple(kept))
    return fn, tuple(kept)



class Add(Node):
    """A sum of terms of one shape (broadcasting is an einsum with a ones-constant)."""
    __slots__ = ("terms",)
    kind = "add"

    @classmethod
    def make(cls, terms: Iterable[Node]) -> Node:
        """The sum of ``terms``, simplified: nested sums flattened, constants folded, equal terms merged,

        zeros dropped; a single term is returned as it is. ShapeError on unequal shapes.
        """
        flat: list[Node] = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, Add) else (t,))
        if not flat:
            raise ValueError("empty sum")
        shape = flat[0].shape
        for t in flat[1:]:
            if t.shape != shape:
                raise ShapeError(f"cannot add shapes {shape_str(shape)} and {shape_str(t.shape)}")
        # fold constants, merge equal terms (x + 2x -> 3x), drop zeros
        const = 0.0
        coeffs: dict[int, list] = {}
        for t in flat:
            if isinstance(t, Const):
                const += t.value
                continue
            c, base = split_coefficient(t)
            if base.id in coeffs:
                coeffs[base.id][0] += c
            else:
                coeffs[base.id] = [c, base]
        out = [scale(base, c) for c, base in coeffs.values() if c != 0.0]
        if const != 0.0 or not out:
            out.append(Const.make(const, shape))
        if len(out) == 1:
            return out[0]
        if len(out) == 2 and isinstance(out[1], Const) and isinstance(out[0], Elementwise):
            return Elementwise.make(out[0].fn + out[1].value, out[0].args)  # log(1 + exp(t)): one pass
        out.sort(key=lambda n: n.id)
        return cls._intern(tuple(t.id for t in out), shape, tuple(out), terms=tuple(out))

    def _describe(self) -> str:
        return f"of {len(self.terms)}"

    def with_children(self, children) -> Node:
        """The sum of other terms (simplified as by ``make``)."""
        return Add.make(children)



class Einsum(Node):
    """C[out] = Σ Π_k operands[k][ins[k]]: the paper's multiplication, with n operands.

    Labels are small ints, canonically numbered: output labels first (0, 1, ...), then the summed
    ones in order of appearance. A scalar coefficient is an operand ``Const(c)`` with no labels.
    """
    __slots__ = ("operands", "ins", "out", "label_dims")
    kind = "einsum"

    @classmethod
    def make(cls, operands: Sequence[Node], ins: Sequence[Sequence], out: Sequence) -> Node:
        """The product of ``operands`` indexed by ``ins``, summed to ``out``, simplified and canonically

        numbered (it may return another kind of node); ShapeError where an index has two dimensions.
        """
        operands = list(operands)
        ins = [tuple(s) for s in ins]
        out = tuple(out)
        if len(operands) != len(ins):
            raise ValueError("one index tuple per operand")
        label_dims: dict = {}
        for op, labels in zip(operands, ins):
            if len(labels) != op.rank:
                raise ShapeError(f"operand of rank {op.rank} indexed with {len(labels)} indices")
            for lab, d in zip(labels, op.shape):
                if label_dims.setdefault(lab, d) != d:
                    raise ShapeError(f"index used for dimensions {label_dims[lab]} and {d}")
        for lab in out:
            if lab not in label_dims:
                raise ShapeError("an output index appears in no operand")

        # a sum holding unit tensors (or index maps) is multiplied out, so each δ can meet the
        # summation that removes it (the paper's "unit tensors last": what keeps derivatives compressed)
        for k, (op, labels) in enumerate(zip(operands, ins)):
            if isinstance(op, Add) and len(op.terms) <= 8 and any(_carries_delta(t) or _carries_map(t)
                                                                  for t in op.terms):
                return Add.make([cls.make(operands[:k] + [t] + operands[k + 1:], ins, out) for t in op.terms])

        # inline operands that are pure renamings (transposes), scaled tensors, or products that
        # carry a unit tensor or an index map: all are free and expose more structure to
        # δ-elimination and the planner (a map meeting its sum is a gather, not a dense 0/1 matrix)
        coef = 1.0
        changed = True
        while changed:
            changed = False
            for k, (op, labels) in enumerate(zip(operands, ins)):
                if (isinstance(op, Einsum) and (_carries_delta(op) or _carries_map(op))
                        and len(set(labels)) == len(labels)
                        and len(set(op.out)) == len(op.out)):
                    inner_map = dict(zip(op.out, labels))
                    tag = next(_ids)
                    operands[k:k + 1] = list(op.operands)
                    ins[k:k + 1] = [tuple(inner_map.get(l, ("inl", tag, l)) for l in s) for s in op.ins]
                    for s_, o_ in zip(ins[k:k + len(op.operands)], op.operands):
                        for lab, d in zip(s_, o_.shape):
                            label_dims.setdefault(lab, d)
                    changed = True
                    break
                if isinstance(op, Einsum) and _is_renaming(op):
                    inner_map = dict(zip(op.out, labels))
                    sub_labels = [tuple(inner_map[l] for l in s) for s in op.ins]
                    operands[k:k + 1] = list(op.operands)
                    ins[k:k + 1] = sub_labels
                    changed = True
                    break
                if isinstance(op, Einsum) and _is_scaled(op):
                    # c * A (as an einsum with a scalar) nested in a product: pull c out
                    inner_map = dict(zip(op.out, labels))
                    operands[k:k + 1] = list(op.operands)
                    ins[k:k + 1] = [tuple(inner_map[l] for l in s) for s in op.ins]
                    changed = True
                    break
        operands, ins, out = eliminate_deltas(operands, ins, out, label_dims)
        applied = _apply_linear_of_unit(operands, ins, out)
        if applied is not None:  # L(δ) met a tensor: L (or its transpose) applied to it, no δ formed
            ops, lbl = applied
            scalar = [Const.make(coef)] if coef != 1.0 else []
            return cls.make(ops + scalar, lbl + [()] * len(scalar), out)
        # fold scalar constants; a constant tensor whose labels all appear elsewhere is a scalar too
        keep_ops, keep_ins = [], []
        for idx, (op, labels) in enumerate(zip(operands, ins)):
            if isinstance(op, Const):
                if op.value == 0.0:
                    return Const.make(0.0, tuple(label_dims[l] for l in out))
                others = {l for j, s in enumerate(ins) if j != idx and not isinstance(operands[j], Const)
                          for l in s}
                if not labels or (set(labels) <= others and len(set(labels)) == len(labels)):
                    coef *= op.value
                    continue
            keep_ops.append(op)
            keep_ins.append(labels)
        operands, ins = keep_ops, keep_ins
        # ones-tensors: merge into one per label set, value folded into coef
        merged_ops, merged_ins, ones_labels = [], [], []
        for op, labels in zip(operands, ins):
            if isinstance(op, Const):
                coef *= op.value
                ones_labels.extend(l for l in labels if l not in ones_labels)
            else:
                merged_ops.append(op)
                merged_ins.append(labels)
        covered = {l for s in merged_ins for l in s}
        ones_labels = [l for l in ones_labels if l not in covered]
        if ones_labels:
            merged_ops.append(Const.make(1.0, tuple(label_dims[l] for l in ones_labels)))
            merged_ins.append(tuple(ones_labels))
        operands, ins = merged_ops, merged_ins
        out_shape = tuple(label_dims[l] for l in out)
        if not operands:
            return Const.make(coef, out_shape)
        if coef != 1.0:
            operands.append(Const.make(coef))
            ins.append(())
        if len(operands) == 1 and ins[0] == out and len(set(out)) == len(out):
            return operands[0]
        operands, ins, out = canonical(operands, ins, out)
        key = (tuple(o.id for o in operands), tuple(ins), out)
        return cls._intern(key, out_shape, tuple(operands), operands=tuple(operands), ins=tuple(ins),
                           out=out, label_dims=label_dims_of(operands, ins))

    def _describe(self) -> str:
        return ",".join(_letters(s) for s in self.ins) + "->" + _letters(self.out)

    def with_children(self, children) -> Node:
        """The same contraction of other operands (simplified as by ``make``)."""
        return Einsum.make(list(children), self.ins, self.out)



# ------------------------------------------------ linear general functions of a unit tensor

# name -> (apply, transpose): a *linear* general function L (reshape, cumsum) whose local partial is
# L applied to a unit tensor, G = L(δ) with axes (L's output axes O, the operand's axes P). Where G
# meets the other factors T (their product) over all of P, Σ_P G[O, P] T[P, Q] = L(T)[O, Q]:
# ``apply(g, t)`` gets T with P first and returns that; over all of O, Σ_O T[Q, O] G[O, P] =
# Lᵀ(T)[Q, P]: ``transpose(g, t)`` gets T with O last; either returns None to decline. So tangents
# and adjoints are reshaped / cumulated, never multiplied by a dense selection matrix. Records
# register here (tcnb/primitives); the IR knows no names.
LINEAR_OF_UNIT: dict = {}


def register_linear_of_unit(name: str, apply, transpose_rule) -> None:
    """Declare the general function ``name`` linear, with its action and its transpose's (above)."""
    LINEAR_OF_UNIT[name] = (apply, transpose_rule)


def _linear_of_unit(op) -> bool:
    from .nodes import General
    return (isinstance(op, General) and op.name in LINEAR_OF_UNIT and len(op.args) == 1
            and isinstance(op.args[0], Delta) and not op.args[0].dense)


def _apply_linear_of_unit(operands, ins, out):
    """(operands, ins) with one L(δ) contracted into the tensor it meets (see LINEAR_OF_UNIT), or None."""
    for k, op in enumerate(operands):
        if not _linear_of_unit(op):
            continue
        r = len(op.args[0].dims)
        labels = ins[k]
        for side, own in (("apply", labels[len(labels) - r:]), ("transpose", labels[:len(labels) - r])):
            if not own or len(set(own)) != len(own) or set(own) & set(out):
                continue
            others = labels[:len(labels) - r] if side == "apply" else labels[len(labels) - r:]
            if set(own) & set(others):
                continue
            users = [j for j, s in enumerate(ins) if j != k and set(s) & set(own)]
            if not users:
                continue
            if len(users) == 1:
                t, tl = operands[users[0]], ins[users[0]]
            else:  # several factors meet L(δ) (w ⊙ cos c in a fused adjoint): their product first
                later = set(out) | set(labels) | {l for q, s in enumerate(ins) if q not in users for l in s}
                tl = tuple(dict.fromkeys(l for q in users for l in ins[q] if l in later))
                t = Einsum.make([operands[q] for q in users], [ins[q] for q in users], tl)
            if len(set(tl)) != len(tl) or not set(own) <= set(tl):
                continue
            rest = tuple(l for l in tl if l not in own)
            order = own + rest if side == "apply" else rest + own
            t = transpose(t, tuple(tl.index(l) for l in order))
            apply, trans = LINEAR_OF_UNIT[op.name]
            result = apply(op, t) if side == "apply" else trans(op, t)
            if result is None:  # the rule declines (a partial not of the form it produces)
                continue
            new_labels = others + rest if side == "apply" else rest + others
            keep = [q for q in range(len(operands)) if q not in users and q != k]
            return [operands[q] for q in keep] + [result], [ins[q] for q in keep] + [tuple(new_labels)]
    return None


def _carries_delta(node: Node) -> bool:
    # a linear function of a unit tensor, L(δ), counts as one: inlined, it meets what removes it
    if isinstance(node, Delta):
        return not node.dense
    return isinstance(node, Einsum) and any((isinstance(o, Delta) and not o.dense) or _linear_of_unit(o)
                                            for o in node.operands)


def _carries_map(node: Node) -> bool:
    """An index map, or a product holding one (a slice's, a concatenation's Jacobian)."""
    return isinstance(node, IndexMap) or (isinstance(node, Einsum)
                                          and any(isinstance(o, IndexMap) for o in node.operands))


def _is_renaming(node: "Einsum") -> bool:
    return (len(node.operands) == 1 and len(set(node.ins[0])) == len(node.ins[0])
            and sorted(node.ins[0]) == sorted(node.out) and not isinstance(node.operands[0], Const))


def _is_scaled(node: "Einsum") -> bool:
    """c * A where A is indexed by exactly the output labels (no sums, no diagonals)."""
    if len(node.operands) != 2:
        return False
    scal = [k for k, s in enumerate(node.ins) if s == () and isinstance(node.operands[k], Const)]
    if len(scal) != 1:
        return False
    other = node.ins[1 - scal[0]]
    return len(set(other)) == len(other) and sorted(other) == sorted(node.out) \
        and not isinstance(node.operands[1 - scal[0]], Const)


# ---------------------------------------------------------------- small constructors used everywhere

def split_coefficient(node: Node) -> tuple[float, Node]:
    """c * A -> (c, A); anything else -> (1, node)."""
    if isinstance(node, Einsum) and _is_scaled(node):
        k = [k for k, s in enumerate(node.ins) if s == () and isinstance(node.operands[k], Const)][0]
        other = 1 - k
        base = node.operands[other]
        if node.ins[other] != node.out:  # c * A.T: keep the renaming
            base = Einsum.make([base], [node.ins[other]], node.out)
        return node.operands[k].value, base
    if isinstance(node, Einsum):  # c * (A *(s) B ...): the product without its scalar factor
        scal = [k for k, s in enumerate(node.ins) if s == () and isinstance(node.operands[k], Const)]
        if scal:
            k = scal[0]
            rest = [j for j in range(len(node.operands)) if j != k]
            base = Einsum.make([node.operands[j] for j in rest], [node.ins[j] for j in rest], node.out)
            return node.operands[k].value, base
    return 1.0, node


def scale(node: Node, c: float) -> Node:
    """``c`` times ``node`` (as an einsum with a scalar Const; folded into a Const)."""
    if c == 1.0:
        return node
    if isinstance(node, Const):
        return Const.make(node.value * c, node.shape)
    labels = tuple(range(node.rank))
    return Einsum.make([node, Const.make(c)], [labels, ()], labels)


def add(*terms: Node) -> Node:
    """The simplified sum of the terms."""
    return Add.make(terms)


def neg(node: Node) -> Node:
    """Minus ``node``."""
    return scale(node, -1.0)


def zeros(shape) -> Const:
    """The zero tensor of ``shape``."""
    return Const.make(0.0, shape)


def is_zero(node: Node) -> bool:
    """Whether ``node`` is the constant zero (a structural test, not a numerical one)."""
    return isinstance(node, Const) and node.value == 0.0


def transpose(node: Node, perm: Sequence[int]) -> Node:
    """The axes of ``node`` permuted: axis k of the result is axis perm[k] of ``node``."""
    labels = tuple(range(node.rank))
    return Einsum.make([node], [labels], tuple(labels[p] for p in perm))
