"""The plain-text form of a DAG in Einstein notation: ``X *(ij,j->i) w``.

Shared subexpressions (used more than once) are printed once as ``t1 = ...`` lines, so a derivative's
text grows with its DAG, not with the tree it unfolds to.
"""
from __future__ import annotations

import sympy
from sympy.printing.str import StrPrinter

from . import ir
from .functions import print_formula
from .graph import use_counts
from .primitives import lookup
from .visit import Visitor

LETTERS = "ijklmnopqrstuvwxyzabcdefghIJKLMNOPQRSTUVWXYZABCDEFGH"


def letters(labels, names: dict) -> str:
    """Index letters for ``labels``, giving each new label the next letter and recording it in ``names``."""
    return "".join(names.setdefault(l, LETTERS[len(names) % len(LETTERS)]) for l in labels)


def spec_of(node: "ir.Einsum") -> str:
    """The einsum spec of a node (``ij,j->i``), output labels lettered first."""
    names: dict = {}
    letters(node.out, names)
    ins = [letters(s, names) for s in node.ins]
    return ",".join(ins) + "->" + letters(node.out, names)


def _is_leaf(n: "ir.Node") -> bool:
    return isinstance(n, (ir.Var, ir.Const, ir.Delta, ir.IndexMap))


def index_map_forms(n: "ir.IndexMap", names=None) -> list[str]:
    """The target index of each axis as text: ['a + b', 'n - 1 - a', '2*a + 1']."""
    names = names or [chr(ord("a") + q) for q in range(len(n.in_dims))]
    syms = [sympy.Symbol(x) for x in names]
    return [str(sum((a * s for a, s in zip(row, syms)), sympy.Integer(0)) + c)
            for row, c in zip(n.matrix, n.offset)]


def index_map_text(n: "ir.IndexMap") -> str:
    """S[ab -> a + b](m, n): the selection tensor of x[a + b] over ranges a < m, b < n."""
    names = [chr(ord("a") + q) for q in range(len(n.in_dims))]
    return (f"S[{''.join(names)} -> {', '.join(index_map_forms(n, names))}]"
            f"({', '.join(str(d) for d in n.in_dims)})")


def _is_call(text: str) -> bool:
    """``f(...)`` whose first parenthesis closes at the end: needs no parentheses of its own."""
    k = text.find("(")
    if k <= 0 or not text.endswith(")") or not text[:k].replace(".", "_").isidentifier():
        return False
    depth = 0
    for i in range(k, len(text)):
        depth += (text[i] == "(") - (text[i] == ")")
        if depth == 0:
            return i == len(text) - 1
    return False


def elementwise_text(fn: sympy.Expr, arg_text) -> str:
    """An element-wise function applied to ``arg_text`` (or to a list of argument texts, for the
    arguments t, t1, ... of the formula), parenthesised only where needed."""
    args = [arg_text] if isinstance(arg_text, str) else list(arg_text)
    if isinstance(fn, sympy.Function) and fn.args == tuple(ir.ARGS[:len(args)]):
        return f"{fn.func.__name__}({', '.join(args)})"
    wrapped = [a if a.isidentifier() or _is_call(a) else f"({a})" for a in args]
    return print_formula(StrPrinter(), fn, wrapped[0] if isinstance(arg_text, str) else wrapped)


class _Text(Visitor):
    """The text of one node kind, given ``text`` of any node (its operands are already written)."""

    def visit_Var(self, n, text) -> str:
        return n.name

    def visit_Const(self, n, text) -> str:
        v = f"{n.value:g}"
        if not n.shape:
            return v
        dims = ", ".join(str(d) for d in n.shape)
        return f"ones({dims})" if n.value == 1.0 else f"{v}*ones({dims})"

    def visit_Delta(self, n, text) -> str:
        return "δ(" + ", ".join(str(d) for d in n.dims) + ")"

    def visit_IndexMap(self, n, text) -> str:
        return index_map_text(n)

    def visit_Elementwise(self, n, text) -> str:
        return elementwise_text(n.fn, text(n.arg) if len(n.args) == 1 else [text(a) for a in n.args])

    def visit_General(self, n, text) -> str:
        args = [text(a) for a in n.args]
        return lookup(n.name).spell("text", args, args, n.params)

    def visit_Add(self, n, text) -> str:
        parts = []
        for k, t in enumerate(n.terms):
            c, base = ir.split_coefficient(t)
            if c < 0 and k > 0:
                parts.append(f" - {text(ir.scale(base, -c))}")
            else:
                parts.append((" + " if k else "") + text(t))
        return "(" + "".join(parts) + ")"

    def visit_Einsum(self, n, text) -> str:
        args = [text(o) for o in n.operands]
        spec = spec_of(n)
        if len(args) == 2:
            return f"({args[0]} *({spec}) {args[1]})"
        return f"*({spec})(" + ", ".join(args) + ")"


_TEXT = _Text()


def einstein_str(root: "ir.Node", max_lines: int = 200, names=None) -> str:
    """The DAG as text: shared subexpressions as ``t1 = ...`` lines, then the root.

    Written bottom-up (children before parents, each node once), so a DAG thousands of nodes deep
    needs no recursion and one shared by many parents is not unfolded. ``names`` (node id -> name)
    are nodes written by name and not expanded, such as a program's earlier definitions.
    """
    given = {k: v for k, v in (names or {}).items() if k != root.id}
    order = ir.topological([root], given)
    counts = use_counts(root, given)
    for n in order:  # an argument written several times in a formula gets a name
        if isinstance(n, ir.Elementwise) and n.id not in given:
            for k, a in enumerate(n.args):
                counts[a.id] += n.fn.count(ir.arg_symbol(k)) - 1
    written: dict[int, str] = dict(given)  # node id -> its name, or its text where used once
    lines: list[str] = []

    def text(n: "ir.Node") -> str:
        if n.id in written:
            return written[n.id]
        return _TEXT.visit(n, text)  # a node made while printing (c * A): operands are written

    for n in order:
        if n.id in given:
            continue
        body = text(n)
        if n is not root and counts[n.id] > 1 and not _is_leaf(n):
            written[n.id] = f"t{len(lines) + 1}"
            lines.append(f"{written[n.id]} = {_strip(body)}")
        else:
            written[n.id] = body
    final = _strip(written[root.id])
    if len(lines) > max_lines:
        lines = lines[:max_lines // 2] + [f"... ({len(lines) - max_lines} more) ..."] + lines[-max_lines // 2:]
    return "\n".join(lines + [final]) if lines else final


def _strip(s: str) -> str:
    if s.startswith("(") and s.endswith(")"):
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(s) - 1:
                return s
        return s[1:-1]
    return s
