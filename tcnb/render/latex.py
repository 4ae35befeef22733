"""LaTeX of a DAG in index (Einstein) notation, with every sum written out.

Each node is printed as *one entry* for given index names, so indices flow from the result into
the operands: an einsum is a product of indexed factors under ``\\sum`` over its summed indices, a
unit tensor is ``\\delta_{ij}``, an element-wise function wraps its argument's entry, a ones-tensor
that only broadcasts is dropped. General functions (inv, det, softmax, ...) act on whole tensors,
so their argument is printed as a tensor (a name, matrix notation, or a named subexpression).

Subexpressions used more than once are printed once as ``t_{1}, t_{2}, ...`` lines of an
``aligned`` block, so the formula grows with the DAG, not with the tree it unfolds to.
``to_latex`` never raises: anything unexpected falls back to the plain-text Einstein form.
"""
from __future__ import annotations

import re

import sympy

from .. import ir
from ..einstein import einstein_str, use_counts
from ..primitives import lookup
from ..visit import Visitor
from .spelling import (  # noqa: F401  (re-exported: the names index notation has always offered)
    ADD, ATOM, MATRIX_ARG_NODES, MAX_INLINE_DEPTH, MUL, NEG, SUM, T_SYMBOL, _GREEK, _INDEX_POOL, _MARK,
    _SAFE_ARG, _derivative_latex, _hadamard_template, _sympy_prec, affine_latex, apply_elementwise,
    escape_text, indexed, name_latex, number_latex, paren, sub, symbol_latex, tidy_formula)


# --------------------------------------------------------------------------------------- the printer

class _Letters:
    """Fresh index names for one line, avoiding single-letter variable names."""

    def __init__(self, avoid):
        self.pool = [c for c in _INDEX_POOL if c not in avoid]
        self.used = 0

    def fresh(self) -> str:
        k = self.used
        self.used += 1
        if k < len(self.pool):
            return self.pool[k]
        return f"i_{{{k - len(self.pool) + 1}}}"


def _subtree(root: ir.Node, limit: int) -> list | None:
    """The nodes below root (root included), or None when there are more than ``limit``."""
    seen = {root.id: root}
    stack = [root]
    while stack:
        for ch in stack.pop().children:
            if ch.id not in seen:
                seen[ch.id] = ch
                if len(seen) > limit:
                    return None
                stack.append(ch)
    return list(seen.values())


class LatexPrinter(Visitor):
    """Writes an IR DAG as LaTeX in index notation, one ``visit_<Kind>(node, idx)`` rule per node
    kind giving (text, precedence) of the entry at the index names ``idx``. Subexpressions used more
    than once become named temporaries, and nodes in ``names`` are written by name (a program's
    earlier definitions).
    """
    def __init__(self, root: ir.Node, matrix_args: bool = True, names=None):
        self.root = root
        # nodes written by a given name, not expanded (a program's earlier definitions)
        self.given = {k: v for k, v in (names or {}).items() if k != root.id}
        self.order = ir.topological([root], self.given)
        self.counts = use_counts(root, self.given)
        self.names: dict[int, str] = {}
        self.avoid = {n.name for n in self.order if isinstance(n, ir.Var) and len(n.name) == 1}
        self.avoid |= {v for v in self.given.values() if len(v) == 1}
        clash = any(isinstance(n, ir.Var) and re.fullmatch(r"t\d*", n.name) for n in self.order) \
            or any(re.fullmatch(r"t\d*", v) for v in self.given.values())
        self.temp = r"\tau" if clash else "t"  # shared subexpressions: t_{1}, t_{2}, ...
        self.letters = _Letters(self.avoid)
        self.whole_memo: dict[int, str | None] = {}
        self.matrix_args = matrix_args
        self.to_name = self._plan()

    # ------------------------------------------------------------------ which nodes get a t_k line
    def _plan(self) -> set[int]:
        named = {n.id for n in self.order
                 if n is not self.root and self.counts[n.id] > 1 and n.children}
        for n in self.order:
            if isinstance(n, ir.Elementwise):
                for k, a in enumerate(n.args):
                    if a.children and n.fn.count(ir.arg_symbol(k)) > 1:
                        named.add(a.id)  # the argument appears several times in the formula
        named -= set(self.given)
        self._name_deep(named)
        for n in self.order:
            if isinstance(n, ir.General):
                for a in n.args:
                    if a.children and a.id not in self.given and self._matrix_form(a, named) is None:
                        named.add(a.id)  # printed as a whole tensor: needs a name
        named.discard(self.root.id)
        return named

    def _name_deep(self, named: set) -> None:
        """Name every node whose unnamed operands nest deeper than MAX_INLINE_DEPTH."""
        depth: dict[int, int] = {}
        for n in self.order:
            below = () if n.id in self.given else n.children
            d = 1 + max((depth[c.id] for c in below if c.id not in named), default=0)
            if d > MAX_INLINE_DEPTH and n is not self.root:
                named.add(n.id)
            depth[n.id] = d

    def _matrix_form(self, node: ir.Node, named: set) -> str | None:
        """Matrix notation for a general function's argument, when short and free of shared nodes."""
        if not self.matrix_args or node.rank > 2:
            return None
        if node.id in self.whole_memo:
            return self.whole_memo[node.id]
        text = None
        inner = _subtree(node, MATRIX_ARG_NODES)  # bounded: a chain of general functions stays linear
        if inner is not None and not any(n.id in named or n.id in self.given
                                         or (self.counts[n.id] > 1 and n is not node and n.children)
                                         for n in inner):
            from .matrix import to_matrix_latex
            try:
                text = to_matrix_latex(node)
            except Exception:  # pragma: no cover - matrix notation is best effort here
                text = None
            if text is not None and len(text) > 160:
                text = None
        self.whole_memo[node.id] = text
        return text

    # ------------------------------------------------------------------------------ the document
    def document(self, name: str | None = None, indices=None, derivative=None) -> str:
        """The whole formula: the temporaries' definitions, then the root (as ``name`` with ``indices``

        where given); an aligned block when there is more than one line.
        """
        lines = []
        for n in self.order:
            if n.id in self.to_name:
                tname = f"{self.temp}_{{{len(self.names) + 1}}}"
                self.letters = _Letters(self.avoid)
                if isinstance(n, ir.General):  # a whole-tensor function: defined as a whole
                    lhs, body = tname, self.visit_General(n, [])[0]
                else:
                    idx = [self.letters.fresh() for _ in range(n.rank)]
                    body = self.body(n, idx)
                    lhs = ("{" + tname + "}_" + sub(idx)) if idx else tname
                lines.append(lhs + " &= " + body)
                self.names[n.id] = tname
        self.letters = _Letters(self.avoid | set(indices or ()))
        if indices and len(indices) == self.root.rank:
            idx = [str(i) for i in indices]
        else:
            idx = [self.letters.fresh() for _ in range(self.root.rank)]
        body = self.body(self.root, idx)
        if name:
            sym, compound = name_latex(name, derivative)
            if idx:
                sym = (paren(sym) if compound else sym) + "_" + sub(idx)
            final = sym + (" &= " if lines else " = ") + body
        else:
            final = ("&" if lines else "") + body
        if not lines:
            return final
        return "\\begin{aligned}\n" + " \\\\\n".join(lines + [final]) + "\n\\end{aligned}"

    def body(self, node: ir.Node, idx) -> str:
        """The LaTeX of the entry of ``node`` at the index names ``idx``."""
        text, _ = self.entry(node, idx, top=True)
        return text

    # ---------------------------------------------------------------------------------- entries
    def entry(self, n: ir.Node, idx, top: bool = False) -> tuple[str, int]:
        """LaTeX of n[idx] and its precedence."""
        if not top and n.id in self.given:
            return indexed(symbol_latex(self.given[n.id]), idx), ATOM
        if not top and n.id in self.names:
            tname = self.names[n.id]
            return (("{" + tname + "}_" + sub(idx)) if idx else tname), ATOM
        return self.visit(n, idx)

    def generic_visit(self, n: ir.Node, idx) -> tuple[str, int]:
        """A kind with no LaTeX rule: its class name, so the formula still renders."""
        return r"\text{" + escape_text(type(n).__name__) + "}", ATOM

    def visit_Var(self, n: ir.Var, idx) -> tuple[str, int]:
        return indexed(symbol_latex(n.name), idx), ATOM

    def visit_Const(self, n: ir.Const, idx) -> tuple[str, int]:
        if n.shape and n.value == 1.0:
            return indexed(r"\mathbb{1}", idx), ATOM
        return number_latex(n.value), (NEG if n.value < 0 else ATOM)

    def visit_Delta(self, n: ir.Delta, idx) -> tuple[str, int]:
        r = len(n.dims)
        parts = [r"\delta_" + sub([idx[p], idx[r + p]]) for p in range(r)]
        return " ".join(parts), (ATOM if r == 1 else MUL)

    def visit_IndexMap(self, n: ir.IndexMap, idx) -> tuple[str, int]:
        r = len(n.in_dims)
        parts = [r"\delta_{" + idx[r + k] + r",\," + affine_latex(row, c, idx[:r]) + "}"
                 for k, (row, c) in enumerate(zip(n.matrix, n.offset))]
        return " ".join(parts) or "1", (ATOM if len(parts) == 1 else MUL)

    def visit_Einsum(self, n: ir.Einsum, idx) -> tuple[str, int]:
        coef, text, prec = self.einsum(n, idx)
        return self.with_coef(coef, text, prec)

    def with_coef(self, coef: float, text: str, prec: int) -> tuple[str, int]:
        """(text, precedence) of ``text`` times the scalar ``coef``, parenthesised where needed."""
        if coef == 1.0:
            return text, prec
        if prec < SUM:
            text = paren(text)
        if coef == -1.0:
            return "-" + text, NEG
        c = number_latex(abs(coef))
        sep = r" \cdot " if text[:1].isdigit() else " "
        return ("-" if coef < 0 else "") + c + sep + text, (NEG if coef < 0 else max(prec, SUM))

    def scaled(self, n: ir.Node, idx) -> tuple[float, str | None, int]:
        """n[idx] as (numeric coefficient, the rest or None when it is just the number, precedence)."""
        if n.id not in self.names and n.id not in self.given:
            if isinstance(n, ir.Const):
                return n.value, None, ATOM
            if isinstance(n, ir.Einsum):
                return self.einsum(n, idx)
            if isinstance(n, ir.Elementwise):
                c, rest = n.fn.as_coeff_Mul()
                if len(n.args) == 1 and c.is_Number and c != 1 and T_SYMBOL in rest.free_symbols:
                    if rest == T_SYMBOL:
                        c2, text, prec = self.scaled(n.arg, idx)
                        return float(c) * c2, text, prec
                    arg, prec = self.entry(n.arg, idx)
                    text, prec = apply_elementwise(rest, arg, prec >= ATOM)
                    return float(c), text, prec
        text, prec = self.entry(n, idx)
        if prec == NEG and text.startswith("-"):
            text = text[1:].lstrip()
            return -1.0, text, (SUM if r"\sum" in text else MUL)
        return 1.0, text, prec

    def einsum(self, n: ir.Einsum, idx) -> tuple[float, str, int]:
        """(scalar coefficient, LaTeX of the rest, its precedence) of the einsum entry n[idx]."""
        lab: dict = {}
        deltas = []
        for pos, l in enumerate(n.out):
            if l in lab:  # a repeated output label: the result is zero off that diagonal
                deltas.append((r"\delta_" + sub([lab[l], idx[pos]]), ATOM))
            else:
                lab[l] = idx[pos]
        maps = self._substitutable_maps(n, lab)
        summed, summed_dims = [], []
        for labels in n.ins:
            for l in labels:
                if l not in lab and not any(l in m.values() for m in maps.values()):
                    if n.label_dims[l] == 1:  # a size-1 axis that broadcasts: its one entry, B_{0j}
                        lab[l] = "0"
                        continue
                    lab[l] = self.letters.fresh()
                    summed.append(lab[l])
                    summed_dims.append(n.label_dims[l])
        has_map = any(op.kind == "indexmap" for op in n.operands)
        for k, rows in maps.items():  # x[i + j]: the map's target index is written as i + j
            op, labels = n.operands[k], n.ins[k]
            r = len(op.in_dims)
            for q, target in rows.items():
                lab[target] = affine_latex(op.matrix[q], op.offset[q], [lab[l] for l in labels[:r]])
        coef = 1.0
        outer, inner, sums = list(deltas), [], []
        for k, (op, labels) in enumerate(zip(n.operands, n.ins)):
            sub_idx = [lab[l] for l in labels]
            if k in maps:
                r = len(op.in_dims)
                rest = [r"\delta_{" + sub_idx[r + q] + r",\," + affine_latex(row, c, sub_idx[:r]) + "}"
                        for q, (row, c) in enumerate(zip(op.matrix, op.offset)) if q not in maps[k]]
                for text in rest:
                    (inner if set(sub_idx) & set(summed) else outer).append((text, ATOM))
                continue
            if isinstance(op, ir.Const) and op.id not in self.names and labels and op.value == 1.0:
                continue  # a ones-tensor only broadcasts (its sums stay in the \sum)
            c, text, prec = self.scaled(op, sub_idx)
            coef *= c
            if text is None:
                continue
            if prec == SUM:
                sums.append((text, prec))
            elif set(sub_idx) & set(summed):
                inner.append((text, prec))
            else:  # independent of the summed indices: written before the \sum
                outer.append((text, prec))

        def wrap(parts):
            return [t if p >= MUL else paren(t) for t, p in parts]

        tail = wrap(sums[:-1]) + [sums[-1][0]] if sums else []
        if summed:
            body = " ".join(wrap(inner) + tail) or "1"
            # with index maps the ranges matter (Σ_{i<m} df[i, k-i]): write them under the sum
            under = ("{" + r",\,".join(f"{i}<{sympy.latex(d)}" for i, d in zip(summed, summed_dims)) + "}"
                     if has_map else sub(summed))
            return coef, " ".join(wrap(outer) + [r"\sum_" + under + " " + body]), SUM
        parts = wrap(outer) + wrap(inner) + tail
        if not parts:
            return coef, "1", ATOM
        if len(parts) == 1:
            return coef, (sums or outer or inner)[0][0], (sums or outer or inner)[0][1]
        return coef, " ".join(parts), (SUM if sums else MUL)

    def _substitutable_maps(self, n: ir.Einsum, lab: dict) -> dict:
        """{operand position: {row: target label}} for index-map rows whose target index is summed
        and used by nothing else that is substituted: x_{l} δ_{l, i+j} summed over l is x_{i+j}."""
        maps: dict = {}
        taken: set = set()
        for k, (op, labels) in enumerate(zip(n.operands, n.ins)):
            if op.kind != "indexmap" or op.id in self.names:
                continue
            r = len(op.in_dims)
            rows = {}
            for q, target in enumerate(labels[r:]):
                if target in lab or target in taken or target in labels[:r] \
                        or list(labels).count(target) > 1:
                    continue
                if any(target in m_labels[:len(m.in_dims)] for m, m_labels in zip(n.operands, n.ins)
                       if m.kind == "indexmap"):
                    continue
                rows[q] = target
                taken.add(target)
            if rows:
                maps[k] = rows
        return maps

    def visit_Add(self, n: ir.Add, idx) -> tuple[str, int]:
        """(text, precedence) of a sum's entry, signs folded into the terms (a - b, not a + -1 b)."""
        pieces = []
        for k, t in enumerate(n.terms):
            c, text, prec = self.scaled(t, idx)
            if text is None:
                text, prec = number_latex(abs(c)), ATOM
            elif abs(c) != 1.0:
                text, prec = self.with_coef(abs(c), text, prec)
            if prec <= NEG:
                text = paren(text)
            sign = "-" if c < 0 else ("+" if k else "")
            pieces.append((f" {sign} " if k else sign) + text)
        return "".join(pieces), ADD

    def visit_Elementwise(self, n: ir.Elementwise, idx) -> tuple[str, int]:
        """(text, precedence) of an element-wise function's entry."""
        entries = [self.entry(a, idx) for a in n.args]
        return apply_elementwise(n.fn, [a for a, _ in entries], [p >= ATOM for _, p in entries])

    def whole(self, n: ir.Node) -> tuple[str, bool]:
        """A whole tensor (the argument of a general function) without indices, and whether it is a
        single symbol (needs no parentheses of its own)."""
        if n.id in self.given:
            return symbol_latex(self.given[n.id]), True
        if n.id in self.names:
            return self.names[n.id], True
        if isinstance(n, ir.Var):
            return symbol_latex(n.name), True
        if isinstance(n, ir.Const):
            return (number_latex(n.value) if not n.shape or n.value != 1.0 else r"\mathbb{1}"), True
        if isinstance(n, ir.Delta) and len(n.dims) == 1:
            return "I", True
        text = self._matrix_form(n, self.to_name)
        if text is not None:
            return text, bool(re.fullmatch(r"\\?[A-Za-z]+|\\mathit\{[^{}]*\}", text))
        # not planned (cannot happen for DAG nodes): spell the entry out with fresh indices
        idx = [self.letters.fresh() for _ in range(n.rank)]
        body, _ = self.entry(n, idx)
        return r"\left[" + body + r"\right]" + ("_" + sub(idx) if idx else ""), True

    def visit_General(self, n: ir.General, idx) -> tuple[str, int]:
        """(text, precedence) of a whole-tensor function (inv, det, softmax, ...) at the indices."""
        whole = [self.whole(a) for a in n.args]
        text = lookup(n.name).spell("latex", [a for a, _ in whole],
                                    [a if simple else paren(a) for a, simple in whole], n.params)
        if not idx:
            return text, ATOM
        if text.endswith(r"\right)"):
            return text + "_" + sub(idx), ATOM
        return paren(text) + "_" + sub(idx), ATOM


# ------------------------------------------------------------------------------------ public entry

def to_latex(node: ir.Node, name: str | None = None, indices=None, names=None, derivative=None) -> str:
    """LaTeX (MathJax-ready, no surrounding ``$``) of ``node`` in index notation.

    ``name`` becomes the left-hand side (``f = ...``, ``\\nabla^{2}_{w} f``); ``indices`` optionally
    names the result's indices (``("i", "j")``). Shared subexpressions become ``t_{k}`` lines of an
    ``aligned`` block. ``names`` (node id -> name) are nodes written by name, not expanded (a
    program's earlier definitions). ``derivative`` (a tcnb.Expr, or anything with its fields kind,
    of, wrt, order) writes a derivative's name as one (``\\nabla^{2}_{w} f``). Never raises: on an
    internal failure the plain-text Einstein form is returned inside ``\\text{}``.
    """
    try:
        return LatexPrinter(node, names=names).document(name, indices, derivative)
    except Exception as exc:  # the display layer must not break a notebook
        try:
            text = einstein_str(node, names=names).replace("\n", "; ")
        except Exception:
            text = f"(expression; LaTeX failed: {type(exc).__name__})"
        if len(text) > 400:
            text = text[:400] + " ..."
        return r"\text{" + escape_text(text) + "}"
