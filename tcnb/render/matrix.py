"""Matrix notation (``Xᵀ diag(s) X``) for expressions whose tensors all have rank ≤ 2.

An einsum is read as a graph: every factor is a two-port (a matrix has ports for its two indices,
a column vector one port and an open end), every index joins exactly two ports (the result's
indices are ports too). Paths from the result's first index to its second are matrix chains
(``Xᵀ X``), paths between open ends are scalars (``xᵀ A y``), cycles are traces (``tr(A B)``).
Before that, factors with equal index sets are multiplied entry-wise (``⊙``), a vector whose index
is shared three ways becomes ``diag(v)``, an index summed over one factor only gets a ones-vector
(``1ᵀ x``), and for a vector result, vectors indexed by the result index become a Hadamard factor
(``y ⊙ (X w)``). Anything else (rank-3 tensors, an index shared by three matrices, diagonal
results) is not matrix-representable: ``to_matrix`` returns None.

Spelling (plain text): ``Xᵀ`` transpose, ``A⁻¹`` inverse, ``diag(v)`` the diagonal matrix of a
vector, ``diagonal(A)`` the diagonal of a matrix, ``tr(A)``, ``⊙`` Hadamard product, ``1`` the
ones-vector, ``I`` the identity, ``σ`` the sigmoid, other functions by name.
"""
from __future__ import annotations

from .. import ir
from ..visit import Visitor

ADD, NEG, HAD, PROD, ATOM = 0, 1, 2, 3, 4
END = object()  # the open end of a vector
MAX_CHARS = 4000


class NotMatrix(Exception):
    """The expression has no matrix-notation form."""


from .matrix_styles import Latex, Text, _script, _UnicodePrinter  # noqa: F401  (the styles, re-exported)


class _Factor:
    """One operand of a product: text, precedence, labels; kind plain/ones/identity/diag/had.

    A ``diag`` factor keeps the text of its vector (``text``) and is spelled diag(text) in a chain.
    """
    __slots__ = ("text", "prec", "labels", "kind")

    def __init__(self, text, prec, labels, kind="plain"):
        self.text, self.prec, self.labels, self.kind = text, prec, tuple(labels), kind


_FAILED = object()


def _per_node(method):
    """Memoise a printer method per node id, failures (NotMatrix) included, and refuse texts over
    MAX_CHARS: each node is printed once however many parents share it, and strings stay bounded."""
    memo_name = "_memo_" + method.__name__

    def wrapper(self, n):
        memo = self.__dict__.setdefault(memo_name, {})
        hit = memo.get(n.id)
        if hit is _FAILED:
            raise NotMatrix
        if hit is not None:
            return hit
        try:
            out = method(self, n)
            if any(isinstance(x, str) and len(x) > MAX_CHARS for x in out):
                raise NotMatrix
        except NotMatrix:
            memo[n.id] = _FAILED
            raise
        memo[n.id] = out
        return out
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class MatrixPrinter(Visitor):
    """Writes rank-0 to rank-2 IR in matrix notation, in a given style (Text or Latex), one
    ``visit_<Kind>`` rule per node kind; NotMatrix where a node has no matrix form.
    """
    def __init__(self, style: Text):
        self.s = style

    def atom(self, text, prec):
        """``text`` parenthesised unless it is an atom."""
        return text if prec >= ATOM else self.s.paren(text)

    def print_dag(self, root: ir.Node) -> tuple[str, int]:
        """render(root), with every node below it printed first (children before parents), so no
        call recurses more than a step into a DAG however deep it is."""
        if root.rank > 2:
            raise NotMatrix
        for n in ir.topological([root]):
            for method in (self.render, self.scaled):
                try:
                    method(n)
                except NotMatrix:
                    pass
        return self.render(root)

    @_per_node
    def render(self, n: ir.Node) -> tuple[str, int]:
        """(text, precedence) of a node of rank at most 2 in matrix notation; NotMatrix otherwise."""
        if n.rank > 2:
            raise NotMatrix
        return self.visit(n)

    def generic_visit(self, n: ir.Node):
        """A kind with no matrix spelling (an index map): not matrix-representable."""
        raise NotMatrix

    def visit_Einsum(self, n: ir.Einsum) -> tuple[str, int]:
        return self.with_coef(*self.einsum(n))

    def visit_Var(self, n: ir.Var) -> tuple[str, int]:
        return self.s.var(n.name), ATOM

    def visit_Const(self, n: ir.Const) -> tuple[str, int]:
        s = self.s
        if not n.shape:
            return s.num(n.value), (NEG if n.value < 0 else ATOM)
        if n.value == 0.0:
            return s.num(0.0), ATOM
        ones = s.ones_vec(n.shape[0]) if n.rank == 1 else \
            s.prod.join([s.ones_vec(n.shape[0]), s.transpose(s.ones_vec(n.shape[1]))])
        if n.value == 1.0:
            return ones, (ATOM if n.rank == 1 else PROD)
        return s.scaled(s.num(n.value), ones), (NEG if n.value < 0 else PROD)

    def visit_Delta(self, n: ir.Delta) -> tuple[str, int]:
        if len(n.dims) != 1:
            raise NotMatrix
        return self.s.identity_mat(n.dims[0]), ATOM

    def visit_Elementwise(self, n: ir.Elementwise) -> tuple[str, int]:
        if len(n.args) == 1:
            arg, prec = self.render(n.arg)
            return self.s.elementwise(n.fn, arg, prec)
        parts = [self.render(a) for a in n.args]
        return self.s.elementwise(n.fn, [a for a, _ in parts], [p for _, p in parts])

    def visit_General(self, n: ir.General) -> tuple[str, int]:
        return self.s.general(n.name, [self.render(a) for a in n.args], n.params)

    def with_coef(self, coef: float, text: str, prec: int) -> tuple[str, int]:
        """(text, precedence) of ``text`` times the scalar ``coef``, parenthesised where needed."""
        s = self.s
        if coef == 1.0:
            return text, prec
        if prec < HAD:
            text = s.paren(text)
        if coef == -1.0:
            return "-" + text, NEG
        c = s.scaled(s.num(abs(coef)), text)
        return ("-" + c, NEG) if coef < 0 else (c, PROD)

    @_per_node
    def scaled(self, n: ir.Node) -> tuple[float, str | None, int]:
        """(numeric coefficient, the rest or None when n is just a number, precedence)."""
        if isinstance(n, ir.Const) and not n.shape:
            return n.value, None, ATOM
        if n.rank > 2:
            raise NotMatrix
        if isinstance(n, ir.Einsum):
            return self.einsum(n)
        if isinstance(n, ir.Elementwise):
            c, rest = n.fn.as_coeff_Mul()
            if len(n.args) == 1 and c.is_Number and c != 1 and ir.T in rest.free_symbols:
                if rest == ir.T:
                    c2, text, prec = self.scaled(n.arg)
                    return float(c) * c2, text, prec
                arg, prec = self.render(n.arg)
                text, prec = self.s.elementwise(rest, arg, prec)
                return float(c), text, prec
        text, prec = self.render(n)
        if prec == NEG and text.startswith("-"):
            return -1.0, text[1:].lstrip(), PROD
        return 1.0, text, prec

    def visit_Add(self, n: ir.Add) -> tuple[str, int]:
        """(text, precedence) of a sum, signs folded into the terms."""
        s = self.s
        parts = []
        for k, t in enumerate(n.terms):
            c, text, prec = self.scaled(t)
            if text is None:
                text, prec = s.num(abs(c)), ATOM
            elif abs(c) != 1.0:
                text, prec = self.with_coef(abs(c), text, prec)
            if prec <= NEG:
                text = s.paren(text)
            sign = "-" if c < 0 else ("+" if k else "")
            parts.append((f" {sign} " if k else sign) + text)
        return "".join(parts), ADD

    # ------------------------------------------------------------------------------------ einsum
    @_per_node
    def einsum(self, n: ir.Einsum) -> tuple[float, str, int]:
        """(coefficient, text, precedence) of a product, or NotMatrix."""
        s = self.s
        out = list(n.out)
        if len(set(out)) != len(out) or len(out) > 2:
            raise NotMatrix  # a diagonal embedded in the result
        coef = 1.0
        scalars: list[tuple[str, int]] = []
        factors: list[_Factor] = []
        for op, labels in _flat_operands(n):
            if len(labels) > 2:
                raise NotMatrix
            if isinstance(op, ir.Const) and labels:
                if len(set(labels)) != len(labels):
                    raise NotMatrix
                coef *= op.value
                for l in labels:  # a ones-matrix is an outer product of ones-vectors
                    factors.append(_Factor(s.ones_vec(n.label_dims[l]), ATOM, (l,), "ones"))
                continue
            if isinstance(op, ir.Delta):
                if len(op.dims) != 1:
                    raise NotMatrix
                factors.append(_Factor(s.identity_mat(op.dims[0]), ATOM, labels, "identity"))
                continue
            c, text, prec = self.scaled(op)
            coef *= c
            if text is None:
                continue
            if not labels:
                scalars.append((text, prec))
            else:
                factors.append(_Factor(text, prec, labels))

        def elsewhere(label, me):
            return sum(l == label for g in factors if g is not me for l in g.labels) + out.count(label)

        # A_ii: the diagonal of A (a vector) when i is used elsewhere, its trace when not
        for k, f in enumerate(list(factors)):
            if len(f.labels) == 2 and f.labels[0] == f.labels[1]:
                if elsewhere(f.labels[0], f):
                    factors[k] = _Factor(s.diagonal(f.text), ATOM, f.labels[:1])
                else:
                    factors[k] = None
                    scalars.append((s.trace(f.text), ATOM))
        factors = self._hadamard([f for f in factors if f is not None], out)
        text, prec = self._assemble(factors, out, scalars, n.label_dims)
        return coef, text, prec

    def _hadamard(self, factors, out):
        """Factors with the same index set multiply entry-wise (⊙) where an index is shared 3+ ways."""
        count: dict = {}
        for f in factors:
            for l in set(f.labels):
                count[l] = count.get(l, 0) + 1
        for l in out:
            count[l] = count.get(l, 0) + 1
        groups: dict = {}
        for f in factors:
            groups.setdefault(frozenset(f.labels), []).append(f)
        merged = []
        for key, fs in groups.items():
            if len(fs) == 1 or all(count[l] <= 2 for l in key):
                merged.extend(fs)
                continue
            plain = [f for f in fs if f.kind not in ("ones",)] or fs[:1]
            if len(plain) == 1:
                merged.append(plain[0])
                continue
            first = plain[0].labels
            texts = [self.atom(f.text, f.prec) if f.labels == first or f.kind == "identity"
                     else self.s.transpose(self.atom(f.text, f.prec)) for f in plain]
            merged.append(_Factor(self.s.had.join(texts), HAD, first, "had"))
        return merged

    def _assemble(self, factors, out, scalars, label_dims):
        s = self.s
        pulled = []
        if len(out) == 1:
            # y ⊙ (X w): vectors on the result index, when something else carries it too
            vecs = [f for f in factors if f.labels == (out[0],) and f.kind != "ones"]
            others = [f for f in factors if f not in vecs and out[0] in f.labels]
            if vecs and others:
                pulled = vecs
                factors = [f for f in factors if f not in vecs]
        # a vector on an index shared by two more ports becomes diag(v), splitting the index
        fresh = iter(range(10**6))
        factors = list(factors)
        out = list(out)
        for f in list(factors):
            if len(f.labels) != 1 or f.kind == "ones":
                continue
            a = f.labels[0]
            ports = [(g, k) for g in factors if g is not f for k, l in enumerate(g.labels) if l == a]
            ports += [("out", k) for k, l in enumerate(out) if l == a]
            if len(ports) < 2:
                continue
            if len(ports) > 2:
                raise NotMatrix
            b = ("split", next(fresh))
            g, k = ports[1]
            if g == "out":
                out[k] = b
            else:
                labels = list(g.labels)
                labels[k] = b
                factors[factors.index(g)] = _Factor(g.text, g.prec, labels, g.kind)
            factors[factors.index(f)] = _Factor(f.text, f.prec, (a, b), "diag")
        # every index must now join exactly two ports; summed over one factor only: add 1
        count: dict = {}
        for f in factors:
            for l in f.labels:
                count[l] = count.get(l, 0) + 1
        for l in out:
            count[l] = count.get(l, 0) + 1
        for l, c in list(count.items()):
            if c == 1 and l not in out:
                factors.append(_Factor(s.ones_vec(label_dims.get(l)), ATOM, (l,), "ones"))
            elif c > 2:
                raise NotMatrix
        used = [False] * len(factors)

        def walk(label, target):
            """Chain from port ``label`` until ``target`` or an open end: [(factor, transposed)]."""
            chain = []
            while label is not END and label != target:
                k = next((k for k, f in enumerate(factors) if not used[k] and label in f.labels), None)
                if k is None:
                    raise NotMatrix
                used[k] = True
                f = factors[k]
                if len(f.labels) == 1:
                    chain.append((f, False))
                    label = END
                elif f.labels[0] == label:
                    chain.append((f, False))
                    label = f.labels[1]
                else:
                    chain.append((f, True))
                    label = f.labels[0]
            return chain, label

        main = []
        if len(out) == 2:
            main, end = walk(out[0], out[1])
            if end is END:
                right, _ = walk(out[1], None)
                main += [(f, not t) for f, t in reversed(right)]
        elif len(out) == 1:
            main, _ = walk(out[0], None)
        # leftovers: scalar chains between open ends (1ᵀ first), then cycles (traces)
        while not all(used):
            vecs = [k for k, f in enumerate(factors) if not used[k] and len(f.labels) == 1]
            if vecs:
                k = min(vecs, key=lambda k: factors[k].kind != "ones")
                used[k] = True
                rest, _ = walk(factors[k].labels[0], None)
                scalars.append(self._chain([(factors[k], True)] + rest))
            else:
                k = used.index(False)
                used[k] = True
                f = factors[k]
                rest, _ = walk(f.labels[1], f.labels[0])
                scalars.append((s.trace(self._chain([(f, False)] + rest)[0]), ATOM))
        parts = list(scalars)
        if main:
            parts.append(self._chain(main))
        if len(parts) == 1:
            text, prec = parts[0]
        elif parts:
            text, prec = s.scalar_prod.join(t if p >= PROD else s.paren(t) for t, p in parts), PROD
        else:
            text, prec = None, ATOM
        if pulled:
            items = [self.atom(f.text, f.prec) for f in pulled]
            if text is not None:
                items.append(self.atom(text, prec))
            return s.had.join(items), HAD
        return (text, prec) if text is not None else (s.num(1.0), ATOM)

    def _chain(self, chain) -> tuple[str, int]:
        s = self.s
        if len(chain) > 1:  # I next to anything is nothing
            chain = [(f, t) for f, t in chain if f.kind != "identity"] or chain[:1]
        merged = []  # diag(a) diag(b) = diag(a ⊙ b)
        for f, t in chain:
            if merged and f.kind == "diag" and merged[-1][0].kind == "diag":
                g = merged[-1][0]
                text = self.atom(g.text, g.prec) + s.had + self.atom(f.text, f.prec)
                merged[-1] = (_Factor(text, HAD, g.labels, "diag"), False)
            else:
                merged.append((f, t))
        texts = []
        for f, t in merged:
            if f.kind == "diag":
                texts.append((s.diag(f.text), ATOM))
            elif t and f.kind != "identity":
                texts.append((s.transpose(self.atom(f.text, f.prec)), ATOM))
            else:
                texts.append((f.text, f.prec))
        if len(texts) == 1:
            return texts[0]
        return s.prod.join(t if p >= PROD else s.paren(t) for t, p in texts), PROD


def _to(node: ir.Node, style: Text) -> str | None:
    try:
        text, _ = MatrixPrinter(style).print_dag(node)
        return text
    except NotMatrix:
        return None
    except Exception:  # display helper: not representable rather than an error
        return None


def to_matrix(node: ir.Node) -> str | None:
    """Matrix notation in Unicode plain text (``Xᵀ diag(s) X``), or None when not representable."""
    return _to(node, Text())


def to_matrix_latex(node: ir.Node) -> str | None:
    """Matrix notation in LaTeX (``X^{\\top} \\operatorname{diag}\\left(s\\right) X``), or None."""
    return _to(node, Latex())


def _flat_operands(n: ir.Einsum) -> list:
    """(operand, labels) of a product, with each operand that is itself a pointwise product (X[i,j]
    y[i]: nothing summed, no repeated label) replaced by its factors: the same product whether or not
    the DAG kept that scaling as a node of its own, so it is spelled the same (Xᵀ diag(y) ..., not
    (diag(y) X)ᵀ ...)."""
    out = []
    for op, labels in zip(n.operands, n.ins):
        if (isinstance(op, ir.Einsum) and len(set(op.out)) == len(op.out) == len(set(labels))
                and {l for ls in op.ins for l in ls} <= set(op.out)
                and not any(isinstance(o, ir.Const) and ls for o, ls in zip(op.operands, op.ins))):
            rename = dict(zip(op.out, labels))
            out.extend((inner, tuple(rename[l] for l in ls)) for inner, ls in _flat_operands(op))
        else:
            out.append((op, labels))
    return out

