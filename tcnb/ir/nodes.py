"""The node kinds that need no simplification, and the interning every node is built through.

Variables, constants, unit tensors, index-map selection tensors and general functions are stored as
given (after normalising their fields); the kinds whose constructors canonicalise — sums, products
and element-wise functions — are in tcnb/ir/algebra.py, on top of these.
"""
from __future__ import annotations

import itertools
import weakref
from typing import Sequence

import sympy

from ..dims import as_dim, shape_str
from ..errors import ShapeError

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

    def _describe(self) -> str:
        """What tells this node from others of its kind in its repr (a name, a spec, a value)."""
        return ""

    def with_children(self, children) -> "Node":
        """The same node over other children (same kind, fields and order): how transformations
        rebuild a node without knowing its kind. A leaf has no children and is returned as is."""
        if tuple(children) != self.children:
            raise TypeError(f"{type(self).__name__} nodes have no children to replace")
        return self

    def __repr__(self) -> str:
        # structural and O(1): no printer (the Einstein-notation text is tcnb.einstein.einstein_str,
        # a layer above), no walk of the operands, so a debugger shows deep DAGs instantly
        detail = self._describe()
        return f"<{type(self).__name__}{' ' + detail if detail else ''} {shape_str(self.shape)} #{self.id}>"


# what a declaration may promise about a square matrix variable, and how it is written
STRUCTURES = {"sym": "Sym", "spd": "SPD"}


class Var(Node):
    """A named input tensor of a symbolic shape.

    ``structure`` is what the declaration promises about a square matrix: None (nothing, ``R[...]``),
    ``"sym"`` (symmetric, ``Sym[n]``) or ``"spd"`` (symmetric positive definite, ``SPD[n]``). It is
    part of the key: derivatives with respect to it are taken along symmetric directions.
    """
    __slots__ = ("name", "structure")
    kind = "var"

    @classmethod
    def make(cls, name: str, shape: Sequence, structure: str | None = None) -> "Var":
        """The variable ``name`` of ``shape`` (dimensions as ints, names or SymPy expressions)."""
        shape = tuple(as_dim(d) for d in shape)
        if structure is not None:
            if structure not in STRUCTURES:
                raise ShapeError(f"unknown structure {structure!r}", expected=" or ".join(STRUCTURES))
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ShapeError(f"a {STRUCTURES[structure]} variable is a square matrix, got {shape_str(shape)}",
                                 expected="shape (n, n)")
            return cls._intern((name, shape, structure), shape, (), name=name, structure=structure)
        return cls._intern((name, shape), shape, (), name=name, structure=None)

    def declaration(self) -> str:
        """The declaration that makes this variable: ``x: R[n]``, ``S: Sym[n]``, ``c: R``."""
        if self.structure is not None:
            return f"{self.name}: {STRUCTURES[self.structure]}[{self.shape[0]}]"
        return f"{self.name}: R[{', '.join(map(str, self.shape))}]" if self.shape else f"{self.name}: R"

    def _describe(self) -> str:
        return self.name if self.structure is None else f"{self.name} {STRUCTURES[self.structure]}"


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

    def _describe(self) -> str:
        return f"{self.value:g}"


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

    def _describe(self) -> str:
        return "dense" if self.dense else ""


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
        offset = tuple(as_dim(c) if not isinstance(c, int) else sympy.Integer(c) for c in offset)
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

    def _describe(self) -> str:
        return f"A={list(map(list, self.matrix))} c={list(self.offset)}"


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

    def with_children(self, children) -> "General":
        """The same function with other operands."""
        return General.make(self.name, children, self.params, self.shape)

    def _describe(self) -> str:
        return self.name
