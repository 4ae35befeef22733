"""The expression DAG in the paper's vocabulary, hash-consed.

Node kinds (Laue et al. §3): variables, constants (a scalar, or a tensor filled with one value, which
is how broadcasting and summation by a ones-tensor are written), unit tensors (Kronecker deltas),
the one generic multiplication ``A *(s1,s2,s3) B`` generalised to n operands (an einsum), addition,
element-wise unary functions (a SymPy formula in one symbol) and general unary functions (inv, det,
softmax, ... named in the function table).

Nodes are immutable and interned: building a node equal to an existing one returns that object, so
common subexpressions are shared by construction and ``a is b`` is structural equality. Every
constructor canonicalises cheaply (operand order, index relabelling, scalar folding), which is what
makes index notation, ``einsum`` and array syntax that mean the same thing the same node.
Transposition is not a node: it is an einsum that only renames indices, and it is inlined into the
einsum that uses it.
"""
from __future__ import annotations

import functools
import itertools
import weakref
from typing import Iterable, Sequence

import sympy

from .dims import Dim, as_dim, shape_str
from .errors import ShapeError

T = sympy.Symbol("t", real=True)  # the argument of every element-wise formula

_ids = itertools.count()
_table: "weakref.WeakValueDictionary[tuple, Node]" = weakref.WeakValueDictionary()


class Node:
    """Base of the IR: immutable, hash-consed nodes (equal structure is the same object, so ``is``

    compares and ``id`` keys caches). Build them only through each class's ``make``.
    """
    __slots__ = ("key", "shape", "id", "children", "__weakref__")
    kind = "node"

    def __new__(cls, *a, **k):  # construct only through the interning helpers
        raise TypeError(f"use {cls.__name__}.make(...)")

    @classmethod
    def _intern(cls, key: tuple, shape: tuple, children: tuple, **fields) -> "Node":
        full = (cls.__name__,) + key
        node = _table.get(full)
        if node is not None:
            return node
        node = object.__new__(cls)
        object.__setattr__(node, "key", full)
        object.__setattr__(node, "shape", tuple(shape))
        object.__setattr__(node, "children", tuple(children))
        object.__setattr__(node, "id", next(_ids))
        for k, v in fields.items():
            object.__setattr__(node, k, v)
        _table[full] = node
        return node

    def __setattr__(self, name, value):
        raise AttributeError("IR nodes are immutable")

    def __reduce__(self):
        raise TypeError("IR nodes are not picklable; pickle the program source instead")

    @property
    def rank(self) -> int:
        """Number of axes (0 for a scalar)."""
        return len(self.shape)

    def __repr__(self) -> str:
        from .einstein import einstein_str  # local: printing helper in the same layer
        return einstein_str(self)


class Var(Node):
    """A named input tensor of a symbolic shape."""
    __slots__ = ("name",)
    kind = "var"

    @classmethod
    def make(cls, name: str, shape: Sequence) -> "Var":
        """The variable ``name`` of ``shape`` (dimensions as ints, names or SymPy expressions)."""
        shape = tuple(as_dim(d) for d in shape)
        return cls._intern((name, shape), shape, (), name=name)


class Const(Node):
    """A tensor whose entries all equal ``value`` (a scalar when the shape is empty)."""
    __slots__ = ("value",)
    kind = "const"

    @classmethod
    def make(cls, value, shape: Sequence = ()) -> "Const":
        """The constant of ``shape`` with every entry ``value`` (-0.0 stored as 0.0)."""
        value = float(value)
        if value == 0.0:
            value = 0.0  # one zero, not two (-0.0)
        shape = tuple(as_dim(d) for d in shape)
        return cls._intern((value, shape), shape, (), value=value)


class Delta(Node):
    """The unit tensor δ[i..., i'...] of shape dims + dims: the derivative of a variable by itself.

    ``dense=True`` marks a unit tensor that is deliberately *not* simplified away (derivatives taken
    with ``compress=False``): it is multiplied in as a materialised array, as in the paper's
    uncompressed baseline.
    """
    __slots__ = ("dims", "dense")
    kind = "delta"

    @classmethod
    def make(cls, dims: Sequence, dense: bool = False) -> "Delta":
        """The unit tensor over ``dims``; ``dense=True`` keeps it from being simplified away."""
        dims = tuple(as_dim(d) for d in dims)
        return cls._intern((dims, bool(dense)), dims + dims, (), dims=dims, dense=bool(dense))


class IndexMap(Node):
    """The selection tensor of a linear index map: S[I, J] = 1 where J = A·I + c, else 0.

    ``x[i + j]`` is the product S[i, j, k] x[k] with A = [[1, 1]], c = (0,): element-wise definitions
    with linear index maps (Urban & van der Smagt) are ordinary products with this constant factor,
    so the calculus needs no new rule — the sums, deltas and transformed indices of their
    derivatives appear when the factor is contracted. It is never materialised when avoidable: the
    code generator turns a contraction over J into a gather and one over I into a scatter-add.
    The unit tensor δ is the special case A = identity, c = 0.
    """
    __slots__ = ("matrix", "offset", "in_dims", "out_dims")
    kind = "indexmap"

    @classmethod
    def make(cls, matrix, offset, in_dims, out_dims) -> "Node":
        """The selection tensor of J = A I + c; ShapeError on inconsistent sizes. The identity map

        gives a Delta.
        """
        matrix = tuple(tuple(int(a) for a in row) for row in matrix)
        offset = tuple(as_dim(c) if not isinstance(c, int) else __import__("sympy").Integer(c) for c in offset)
        in_dims = tuple(as_dim(d) for d in in_dims)
        out_dims = tuple(as_dim(d) for d in out_dims)
        if len(matrix) != len(out_dims) or any(len(r) != len(in_dims) for r in matrix) \
                or len(offset) != len(out_dims):
            raise ShapeError("index map: one row per target axis, one column per index")
        if (in_dims == out_dims and all(c == 0 for c in offset)
                and matrix == tuple(tuple(int(p == q) for q in range(len(in_dims))) for p in range(len(in_dims)))):
            return Delta.make(in_dims)
        return cls._intern((matrix, offset, in_dims, out_dims), in_dims + out_dims, (),
                           matrix=matrix, offset=offset, in_dims=in_dims, out_dims=out_dims)


class Elementwise(Node):
    """f(A) entry by entry; ``fn`` is a SymPy expression in the symbol ``T``."""
    __slots__ = ("fn", "arg")
    kind = "elementwise"

    @classmethod
    def make(cls, fn: sympy.Expr, arg: Node) -> Node:
        """``fn`` applied entry by entry to ``arg``, simplified: identity and constant functions,

        constant folding, fusion with an inner element-wise node and a scalar factor moved inside.
        """
        fn = sympy.sympify(fn)
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
            return cls.make(fn.subs(T, arg.fn), arg.arg)
        c, base = split_coefficient(arg)
        if c != 1.0 and not isinstance(base, Const):  # f(c·A) = (t -> f(c t))(A): the scaling is free
            return cls.make(fn.subs(T, sympy.Float(c) * T if not float(c).is_integer() else int(c) * T), base)
        return cls._intern((fn, arg.id), arg.shape, (arg,), fn=fn, arg=arg)


# a fused element-wise formula has at most FUSE_LIMIT nodes in its expression tree and is at most
# FUSE_HEIGHT deep: SymPy's cost of differentiating, substituting into and printing a formula grows
# with its size and, for nested functions (tanh(tanh(tanh(...)))), exponentially with its depth
FUSE_LIMIT = 16
FUSE_HEIGHT = 5


@functools.lru_cache(maxsize=8192)
def formula_shape(fn: sympy.Expr) -> tuple[int, int, int, int]:
    """(tree size, height, occurrences of t, deepest level of t) of a formula (t alone: 1, 1, 1, 1),
    without recursion; repeated subtrees are counted each time they appear."""
    size = height = count = t_level = 0
    stack = [(fn, 1)]
    while stack:
        e, level = stack.pop()
        size += 1
        height = max(height, level)
        if e == T:
            count += 1
            t_level = max(t_level, level)
        stack.extend((a, level + 1) for a in e.args)
    return size, height, count, t_level


def formula_size(fn: sympy.Expr) -> int:
    """Number of nodes in a formula's expression tree."""
    return formula_shape(fn)[0]


def fusable(outer: sympy.Expr, inner: sympy.Expr) -> bool:
    """Whether outer with inner substituted for t stays within FUSE_LIMIT and FUSE_HEIGHT (decided
    without building it)."""
    size, height, count, t_level = formula_shape(outer)
    in_size, in_height = formula_shape(inner)[:2]
    return (size + count * (in_size - 1) <= FUSE_LIMIT
            and max(height, t_level - 1 + in_height) <= FUSE_HEIGHT)


class General(Node):
    """A general function of whole tensors (inv, det, solve, softmax, ...), named by its record in
    tcnb/primitives; ``args`` are its tensor operands, ``params`` its constant parameters."""
    __slots__ = ("name", "args", "params")
    kind = "general"

    @classmethod
    def make(cls, name: str, args, params: tuple, shape: Sequence) -> "General":
        """The node ``name(*args)`` with its parameters and result shape (computed by the record)."""
        args = (args,) if isinstance(args, Node) else tuple(args)
        return cls._intern((name, tuple(a.id for a in args), params), tuple(shape), args, name=name,
                           args=args, params=params)

    @property
    def arg(self) -> Node:
        """The first operand (the only one of a unary function)."""
        return self.args[0]


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
            return Elementwise.make(out[0].fn + out[1].value, out[0].arg)  # log(1 + exp(t)): one pass
        out.sort(key=lambda n: n.id)
        return cls._intern(tuple(t.id for t in out), shape, tuple(out), terms=tuple(out))


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

        # a sum holding unit tensors is multiplied out, so each δ can meet the summation that
        # removes it (the paper's "unit tensors last": what keeps derivatives compressed)
        for k, (op, labels) in enumerate(zip(operands, ins)):
            if isinstance(op, Add) and len(op.terms) <= 8 and any(_carries_delta(t) for t in op.terms):
                return Add.make([cls.make(operands[:k] + [t] + operands[k + 1:], ins, out) for t in op.terms])

        # inline operands that are pure renamings (transposes), scaled tensors, or products that
        # carry a unit tensor: all are free and expose more structure to δ-elimination and the planner
        coef = 1.0
        changed = True
        while changed:
            changed = False
            for k, (op, labels) in enumerate(zip(operands, ins)):
                if (isinstance(op, Einsum) and _carries_delta(op) and len(set(labels)) == len(labels)
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
        operands, ins, out = _eliminate_deltas(operands, ins, out, label_dims)
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
        operands, ins, out = _canonical(operands, ins, out)
        key = (tuple(o.id for o in operands), tuple(ins), out)
        return cls._intern(key, out_shape, tuple(operands), operands=tuple(operands), ins=tuple(ins),
                           out=out, label_dims=label_dims_of(operands, ins))


def _eliminate_deltas(operands, ins, out, label_dims):
    """δ[a,b] summed over b (or a) is a renaming b -> a: the paper's unit-tensor rule.

    What stays are deltas whose two labels are both output labels (a diagonal embedding); δ[a,a]
    becomes a ones-tensor over a (1 on the diagonal, or the dimension when summed alone).
    """
    operands, ins, out = list(operands), [tuple(s) for s in ins], tuple(out)
    changed = True
    while changed:
        changed = False
        for k, (op, labels) in enumerate(zip(operands, ins)):
            if not isinstance(op, Delta) or op.dense:
                continue
            r = len(op.dims)
            pairs = list(zip(labels[:r], labels[r:]))
            for p, (a, b) in enumerate(pairs):
                if a == b:
                    rename, extra = None, (Const.make(1.0, (label_dims[a],)), (a,))
                elif b not in out:
                    rename, extra = (b, a), None
                elif a not in out:
                    rename, extra = (a, b), None
                else:
                    continue
                rest = pairs[:p] + pairs[p + 1:]
                new_ops = operands[:k] + operands[k + 1:]
                new_ins = ins[:k] + ins[k + 1:]
                if rest:
                    new_ops.append(Delta.make([label_dims[x] for x, _ in rest], op.dense))
                    new_ins.append(tuple(x for x, _ in rest) + tuple(y for _, y in rest))
                if extra:
                    new_ops.append(extra[0])
                    new_ins.append(extra[1])
                if rename:
                    src, dst = rename
                    new_ins = [tuple(dst if l == src else l for l in s) for s in new_ins]
                    out = tuple(dst if l == src else l for l in out)
                    if not any(dst in s for s in new_ins):  # Σ_a δ[a, b] = 1 for every b
                        new_ops.append(Const.make(1.0, (label_dims[dst],)))
                        new_ins.append((dst,))
                operands, ins = new_ops, new_ins
                changed = True
                break
            if changed:
                break
    return operands, ins, out


def _carries_delta(node: Node) -> bool:
    if isinstance(node, Delta):
        return not node.dense
    return isinstance(node, Einsum) and any(isinstance(o, Delta) and not o.dense for o in node.operands)


def unit_tensor_ties(operands, ins):
    """label -> its representative, where kept unit tensors δ[a, b] tie labels a = b.

    Union-find, so chains (i = k, k = j) stay tied. Used wherever a product is read with its unit
    tensors removed: the code generator (diagonal embedding) and compression (core ⊗ pattern).
    """
    subst: dict = {}

    def find(x):
        while x in subst:
            x = subst[x]
        return x
    for op, labels in zip(operands, ins):
        if isinstance(op, Delta) and not op.dense:
            r = len(op.dims)
            for a, b in zip(labels[:r], labels[r:]):
                ra, rb = find(a), find(b)
                if ra != rb:
                    subst[rb] = ra
    return find


def is_kept_delta(node: Node) -> bool:
    """A unit tensor that simplification may remove (not marked dense)."""
    return isinstance(node, Delta) and not node.dense


def label_dims_of(operands, ins) -> dict:
    """label -> dimension over the operands' index tuples (the first one seen)."""
    dims: dict = {}
    for op, labels in zip(operands, ins):
        for lab, d in zip(labels, op.shape):
            dims.setdefault(lab, d)
    return dims


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


def _relabel(ins, out):
    mapping: dict = {}
    for l in out:
        if l not in mapping:
            mapping[l] = len(mapping)
    for s in ins:
        for l in s:
            if l not in mapping:
                mapping[l] = len(mapping)
    return [tuple(mapping[l] for l in s) for s in ins], tuple(mapping[l] for l in out)


def _canonical(operands, ins, out):
    """Sort operands and number labels so that equal products get equal keys."""
    ins, out = _relabel(ins, out)
    for _ in range(4):
        order = sorted(range(len(operands)), key=lambda k: (operands[k].id, ins[k]))
        new_ops = [operands[k] for k in order]
        new_ins, new_out = _relabel([ins[k] for k in order], out)
        if new_ins == ins and [o.id for o in new_ops] == [o.id for o in operands]:
            break
        operands, ins, out = new_ops, new_ins, new_out
    return operands, ins, out


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


def topological(roots: Sequence[Node], leaves=frozenset()) -> list[Node]:
    """Children before parents; each node once (iterative, DAGs can be deep).

    Nodes whose id is in ``leaves`` are listed but not descended into (a printer that writes them
    by name need not walk what is below them).
    """
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if node.id in seen:
                continue
            seen.add(node.id)
            stack.append((node, True))
            if node.id in leaves:
                continue
            for ch in reversed(node.children):
                if ch.id not in seen:
                    stack.append((ch, False))
    return order


def variables(root: Node) -> list[Var]:
    """The variables in the DAG under ``root``, sorted by name."""
    return sorted((n for n in topological([root]) if isinstance(n, Var)), key=lambda v: v.name)


def depends_on(root: Node, var: Var) -> bool:
    """Whether ``var`` occurs in the DAG under ``root``."""
    return any(n is var for n in topological([root]))
