"""The record of a primitive, and the registry every stage reads it from.

A *general* primitive is a function of whole tensors (``inv(A)``, ``solve(A, B)``,
``softmax(x, axis)``): one record says everything about it — its operands, shape rule, array code,
spellings, FLOP count, one derivative rule per operand and a reference implementation the tests
compare against. The parser dispatches calls from here, the differentiator reads the rules, the code
generator the code, the renderers the spellings; adding a function is adding a record.
(Element-wise functions are SymPy formulas and have their own, smaller record: elementwise.py.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from .. import ir
from ..errors import ShapeError, TensorSyntaxError

# the comparisons a ``Param(kind="comparison")`` may hold, and how LaTeX writes them
RELATIONS = {">": ">", ">=": r"\geq", "<": "<", "<=": r"\leq"}


@dataclass(frozen=True)
class Operand:
    """One tensor operand: its name in messages and docs, the ranks it may have, and what inputs the
    generated tests draw for it ("any", "invertible": well-conditioned square, "spd", "symmetric":
    symmetric with well-separated eigenvalues, "triangular": well-conditioned lower triangular)."""
    name: str
    ranks: tuple = (0, 1, 2, 3, 4)
    sample: str = "any"


@dataclass(frozen=True)
class Param:
    """A keyword parameter (``axis``): a Python constant fixed at parse time, part of the node.

    ``kind="comparison"``: the call's first argument is a comparison ``u > v`` (``<``, ``<=``, ``>``,
    ``>=``; see RELATIONS): u and v are the record's first two operands, the operator the parameter
    (``where(x > y, a, b)``).
    """
    name: str
    default: object = None
    kind: str = "axis"          # "axis": an int axis of the first operand, or None; "axes": the same or a
                                # tuple of axes (merged into one by the parser); "int"; "bool"; "comparison"

    @property
    def kind_text(self) -> str:
        """What a value of this kind is, for messages: "an integer", "a bool"."""
        return {"bool": "a bool (True or False)"}.get(self.kind, "an integer")


@dataclass(frozen=True)
class Spelling:
    """How a primitive is written, as ``str.format`` templates over its operands.

    ``{a[k]}`` is operand k as written, ``{w[k]}`` the same wrapped in parentheses unless it is a
    single symbol; ``{axis}`` etc. are the parameters. ``None`` means the call form ``name(a, b)``.
    A callable ``(a, w, params) -> str`` spells what one template cannot (an optional axis).
    """
    latex: str | None = None          # index notation and whole-tensor LaTeX
    matrix_latex: str | None = None   # matrix notation, LaTeX (defaults to ``latex``)
    matrix: str | None = None         # matrix notation, plain text
    text: str | None = None           # Einstein text (einstein.py), plain


@dataclass(frozen=True)
class Primitive:
    """Everything tcnb knows about one general function, declared once.

    ``shape(shapes, params)`` returns the result shape or raises ShapeError; ``derivatives[k](node)``
    is the local partial d node / d operand_k as an IR node with axes (node axes, operand axes);
    ``code``/``traceable`` are templates with ``{m}`` (the array module), ``{a[k]}`` (operand code),
    ``{what}`` (a label for error messages) and the parameters; ``reference(xp, *arrays, **params)``
    is an independent implementation on a NumPy-like namespace (NumPy or jax.numpy), used by the
    tests; ``flops(shapes, params)`` estimates the cost.
    """
    name: str
    family: str
    operands: tuple
    shape: Callable
    code: str
    derivatives: tuple
    reference: Callable
    flops: Callable
    params: tuple = ()
    traceable: str | None = None      # code for autograd/JAX/PyTorch tracing (no data-dependent checks)
    spelling: Spelling = field(default_factory=Spelling)
    doc: tuple = ("", "", "")         # (call signature, derivative rule, notes) for the reference docs
    example: str = ""                 # a program using it, for the generated tests
    broadcast: bool = False           # the parser broadcasts the operands as `+` does; scalars stay scalars
    keepdims: bool = False            # a reduction over its ``axis``: the parser accepts keepdims=True

    @property
    def arity(self) -> int:
        """Number of tensor operands."""
        return len(self.operands)

    def make(self, args, params: dict | None = None) -> ir.Node:
        """The IR node of this primitive applied to ``args`` (nodes), with checked shapes and
        normalised parameters (an axis counted from the end becomes a plain index)."""
        args = tuple(args)
        if len(args) != self.arity:
            raise ShapeError(f"{self.name} takes {self.arity} tensor argument{'s' * (self.arity != 1)}, "
                             f"got {len(args)}", expected=self.signature())
        for arg, op in zip(args, self.operands):
            if arg.rank not in op.ranks:
                raise ShapeError(f"{self.name}: {op.name} has rank {arg.rank}", expected=_ranks_text(op.ranks))
        given = dict(params or {})
        unknown = set(given) - {p.name for p in self.params}
        if unknown:
            raise ShapeError(f"{self.name} has no parameter {sorted(unknown)[0]!r}",
                             expected=self.signature())
        values = {}
        for p in self.params:
            v = given.get(p.name, p.default)
            if p.kind == "comparison" and v not in RELATIONS:
                raise TensorSyntaxError(f"{self.name}: unknown comparison {v!r}", expected=" ".join(RELATIONS))
            if p.kind == "axis" and v is not None:
                rank = args[0].rank
                if not -max(rank, 1) <= v < max(rank, 1):
                    raise ShapeError(f"axis {v} is out of range for rank {rank}")
                v = v % max(rank, 1)
            values[p.name] = v
        shape = self.shape(tuple(a.shape for a in args), values)
        stored = tuple(sorted((k, v) for k, v in values.items() if v is not None))
        return ir.General.make(self.name, args, stored, shape)

    def signature(self) -> str:
        """``solve(A, B)``, ``softmax(x, axis=None)``: how a call is written."""
        names = [op.name for op in self.operands]
        params = [p for p in self.params if p.kind != "comparison"]
        if len(params) < len(self.params):  # where(x > y, a, b): a comparison is one argument
            names[:2] = [f"{names[0]} > {names[1]}"]
        parts = names + [f"{p.name}={p.default!r}" for p in params]
        return f"{self.name}({', '.join(parts)})"

    def code_of(self, args, params, module: str, traceable: bool = False, what: str = "", out: str = "()") -> str:
        """Array code of this primitive on operand code ``args`` with a node's ``params``; ``{out}`` in
        the template is the code of the result's shape (``out``: sizes as the generated code spells them)."""
        template = (self.traceable or self.code) if traceable else self.code
        values = {p.name: p.default for p in self.params}
        values.update(dict(params))
        params = values
        return template.format(m=module, a=list(args), what=repr(what or self.name), out=out, **params)

    def spell(self, style: str, args, wrapped, params) -> str:
        """The primitive written in ``style`` ("latex", "matrix_latex", "matrix", "text")."""
        template = getattr(self.spelling, style, None)
        if template is None and style == "matrix_latex":
            template = self.spelling.latex
        values = {p.name: p.default for p in self.params}
        values.update(dict(params))
        if callable(template):
            return template(list(args), list(wrapped), values)
        if template is None:
            inner = ", ".join(args)
            extra = "".join(f", {k}={v}" for k, v in sorted(values.items()) if v is not None)
            if style == "latex":  # index notation: softmax(Z; axis 1)
                extra = "".join(rf";\ \text{{{k} }} {v}" for k, v in sorted(values.items()) if v is not None)
            elif style == "matrix_latex":
                extra = "".join(rf",\ \text{{{k}}}={v}" for k, v in sorted(values.items()) if v is not None)
            if style in ("latex", "matrix_latex"):
                return rf"\operatorname{{{self.name}}}\left({inner}{extra}\right)"
            return f"{self.name}({inner}{extra})"
        return template.format(a=list(args), w=list(wrapped), **values)


def _ranks_text(ranks) -> str:
    """'rank 1 or 2', or 'rank 2 to 6' for a run of more than two ranks (a matrix or a stack)."""
    ranks = sorted(ranks)
    if len(ranks) > 2 and ranks == list(range(ranks[0], ranks[-1] + 1)):
        return f"rank {ranks[0]} to {ranks[-1]}"
    return f"rank {' or '.join(map(str, ranks))}"


REGISTRY: dict[str, Primitive] = {}


def register(prim: Primitive) -> Primitive:
    """Add a record; a name is registered once (a second record would silently win)."""
    if prim.name in REGISTRY:
        raise ValueError(f"primitive {prim.name!r} is already registered")
    if len(prim.derivatives) != prim.arity:
        raise ValueError(f"{prim.name}: one derivative rule per operand")
    REGISTRY[prim.name] = prim
    return prim


def lookup(name: str) -> Primitive:
    """The record of a general primitive; KeyError if there is none."""
    return REGISTRY[name]


# ------------------------------------------------------------------- helpers shared by records

def square(name: str, shape: tuple, what: str = "A") -> None:
    """ShapeError unless ``shape`` ends in a square matrix."""
    if len(shape) < 2:
        raise ShapeError(f"{name} needs a matrix, got rank {len(shape)}", expected="a matrix (rank 2)")
    if shape[-1] != shape[-2]:
        raise ShapeError(f"{name} needs a square matrix {what}, got dimensions {shape[-2]} x {shape[-1]}",
                         expected="equal dimension symbols")


def entries(shape) -> int:
    """Number of entries of a resolved shape."""
    return math.prod(shape)

