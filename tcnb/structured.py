"""Compressed derivatives: a result kept as core tensors times unit-tensor patterns (reference §6).

A compressed derivative node is a sum of einsums whose remaining unit tensors δ[a, b] tie output
axes together. Splitting each term into its *core* (the product without the deltas, over the labels
it really depends on) and its *pattern* (which output axes share an index, which are broadcast)
gives ``2 (VᵀV)[a,b] ⊗ δ[i,j]`` for matrix factorisation: a k×k array instead of (n,k,n,k).
Matrix-vector products and Newton steps work on the cores; ``dense()`` materialises on request.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from . import ir
from .backend import runtime
from .backend.bounded import Bounded
from .config import config, human_bytes
from .errors import MemoryBudgetError, ShapeError
from .structured_core import expose, gemm_last, regroup, tie_labels
from .visit import Visitor


@dataclass(frozen=True)
class SymbolicTerm:
    """One term of a sum as a core (a product of factors) times unit tensors.

    ``pattern`` gives one core label per result axis; a label repeated across axes is a unit tensor
    (a Kronecker delta), so it is stored once instead of densified.
    """
    factors: tuple         # ((node, labels), ...): the core is their product, kept factored
    core_labels: tuple     # distinct labels of the core
    pattern: tuple         # one label per axis of the full result (repeats = unit tensors)

    @property
    def core(self) -> ir.Node:
        """The core as one node (the single factor itself when there is nothing to multiply)."""
        if len(self.factors) == 1 and self.factors[0][1] == self.core_labels:
            return self.factors[0][0]
        return ir.Einsum.make([f for f, _ in self.factors], [l for _, l in self.factors], self.core_labels)


def split_terms(node: ir.Node) -> list[SymbolicTerm]:
    """The node's terms (one per summand of an Add) split into core and unit-tensor pattern."""
    terms = node.terms if isinstance(node, ir.Add) else (node,)
    out = []
    for t in terms:
        t = _split(t)
        out.append(SymbolicTerm(expose(t.factors, set(t.core_labels)), t.core_labels, t.pattern))
    return out


class _Split(Visitor):
    """The core and pattern of one term, by its kind: a unit tensor is all pattern, a constant all
    core, an einsum splits into its deltas (the pattern) and the rest; anything else is its own core."""

    def generic_visit(self, t: ir.Node) -> SymbolicTerm:
        """A term of any other kind: one factor over its own axes, no unit tensors."""
        labels = tuple(range(t.rank))
        return SymbolicTerm(((t, labels),), labels, labels)

    def visit_Delta(self, t: ir.Delta) -> SymbolicTerm:
        if t.dense:
            return self.generic_visit(t)
        r = len(t.dims)
        return SymbolicTerm(((ir.Const.make(1.0), ()),), (), tuple(range(r)) * 2)

    def visit_Const(self, t: ir.Const) -> SymbolicTerm:
        return SymbolicTerm(((ir.Const.make(t.value), ()),), (), tuple(range(t.rank)))

    def visit_Einsum(self, t: ir.Einsum) -> SymbolicTerm:
        root = ir.unit_tensor_ties(t.operands, t.ins)
        kept = [(op, labels) for op, labels in zip(t.operands, t.ins) if not ir.is_kept_delta(op)]
        ops = [op for op, _ in kept]
        ins = [tuple(root(l) for l in labels) for _, labels in kept]
        pattern = tuple(root(l) for l in t.out)
        # a ones-tensor over output labels is broadcasting: leave those labels out of the core
        final_ops, final_ins = [], []
        for op, labels in zip(ops, ins):
            if isinstance(op, ir.Const) and labels:
                summed = tuple(l for l in labels if l not in pattern)
                if summed:
                    dims = [op.shape[labels.index(l)] for l in summed]
                    final_ops.append(ir.Const.make(op.value, dims))
                    final_ins.append(summed)
                elif op.value != 1.0:
                    final_ops.append(ir.Const.make(op.value))
                    final_ins.append(())
                continue
            final_ops.append(op)
            final_ins.append(labels)
        covered = {l for s in final_ins for l in s}
        core_labels = tuple(l for l in dict.fromkeys(pattern) if l in covered)
        if not final_ops:
            final_ops, final_ins = [ir.Const.make(1.0)], [()]
        return SymbolicTerm(tuple(zip(final_ops, final_ins)), core_labels, pattern)


_split = _Split().visit


# least-recently-used and bounded, so a long session neither pins every node it ever compressed nor
# drops every plan at once when full (plans in use stay; the oldest unused go first)
_SPLITS = Bounded(256)  # node id -> (node, its terms)
_PLANS = Bounded(256)   # (node id, sizes, backend) -> Plan


@dataclass
class Plan:
    """What to compute for a compressed result at given sizes: per term, its factors or its core."""
    terms: list          # SymbolicTerm with the chosen factors
    fn: object           # the compiled function computing every factor of every term
    shape: tuple | None = None  # the full result's shape at these sizes


def plan_structured(node: ir.Node, sizes: dict, backend: str, known_names) -> Plan:
    """Split into terms once per node (each factor that separates along a result axis taken apart:
    X[b,i] X[b,k] M[b,j,l] for a network layer); per size binding, group each term's factors so
    that the fewest numbers are stored — all apart, some multiplied into one core (the ReLU net's
    M), or the whole core computed in the generated code (2 VᵀV for matrix factorisation)."""
    from .backend import compiled
    from .dims import resolve_shape
    key = (node.id, tuple(sorted(sizes.items())), backend)
    plan = _PLANS.get_fresh(key)
    if plan is not None:
        return plan
    split = _SPLITS.get_fresh(node.id)
    if split is None:
        split = _SPLITS.put(node.id, (node, split_terms(node)))
    terms = []
    for t in split[1]:
        dims = {l: d for f, labels in t.factors for l, d in zip(labels, resolve_shape(f.shape, sizes))}
        terms.append(SymbolicTerm(regroup(t.factors, t.core_labels, dims), t.core_labels, t.pattern))
    nodes = [f for t in terms for f, _ in t.factors]
    return _PLANS.put(key, Plan(terms, compiled(nodes, backend, known_names, single=False)))


def _letters(*groups):
    names: dict = {}
    return ["".join(names.setdefault(l, chr(ord("a") + len(names))) for l in g) for g in groups]


def _expand(xp, values, labels, pattern, shape):
    """values (indexed by distinct labels) broadcast and embedded into the full pattern (through the
    backend's own ``embed_diagonal``: a traced or lazy one writes nothing in place)."""
    from .backend.registry import backend_of_namespace
    record = backend_of_namespace(xp)
    embed_diagonal = (record.runtime() if record is not None else runtime).embed_diagonal
    distinct = tuple(dict.fromkeys(pattern))
    dshape = tuple(shape[pattern.index(l)] for l in distinct)
    present = [l for l in distinct if l in labels]
    if tuple(labels) != tuple(present):
        values = xp.transpose(values, [labels.index(l) for l in present])
    idx = tuple(slice(None) if l in labels else None for l in distinct)
    values = xp.broadcast_to(values[idx] if idx else values, dshape)
    if distinct == tuple(pattern):
        return xp.array(values)
    return embed_diagonal(xp, xp.ascontiguousarray(values), tuple(pattern), distinct, tuple(shape))


@lru_cache(maxsize=1024)
def _contract_expression(spec, shapes):
    """opt_einsum's planned contraction, cached per spec and shapes (planning costs ~100 µs)."""
    import opt_einsum
    return opt_einsum.contract_expression(spec, *shapes)


class Structured:
    """A derivative as Σ core ⊗ unit-tensor pattern; rows = the first ``split`` axes.

    Each core is kept as the product of its factors (e.g. X[b,i] X[b,k] M[b,j,l] for a network's
    layer Hessian): storage and matrix-vector products cost what the factors cost, and a core is only
    multiplied out when asked for (``cores``, ``solve``, ``dense``).
    """

    def __init__(self, xp, factor_arrays, terms, shape, split):
        self.xp = xp
        self.shape = tuple(int(s) for s in shape)
        self.split = split
        self._terms = []
        for arrays, t in zip(factor_arrays, terms):
            factors = [(xp.asarray(a), labels) for a, (_, labels) in zip(arrays, t.factors)]
            self._terms.append((factors, t.core_labels, t.pattern))
        self._cores = None

    @classmethod
    def from_plan(cls, xp, plan: Plan, values, shape, split):
        """Build from a plan's terms and the flat list of factor values its generated code returned."""
        values = iter(values)
        per_term = [[next(values) for _ in t.factors] for t in plan.terms]
        return cls(xp, per_term, plan.terms, shape, split)

    def _contract(self, parts, out):
        groups = [l for _, l in parts] + [out]
        letters = _letters(*groups)
        spec = ",".join(letters[:-1]) + "->" + letters[-1]
        if len(parts) == 1:
            return self.xp.einsum(spec, parts[0][0])
        expr = _contract_expression(spec, tuple(tuple(a.shape) for a, _ in parts))
        return expr(*[a for a, _ in parts])

    @property
    def terms(self):
        """[(core array, core labels, pattern)] with the cores multiplied out."""
        if self._cores is None:
            cores = []
            for factors, labels, pattern in self._terms:
                size = math.prod(self.shape[pattern.index(l)] for l in labels) * 8
                if size > config.memory_budget:
                    raise MemoryBudgetError(f"a core of {human_bytes(size)} is over the memory budget of "
                                            f"{human_bytes(config.memory_budget)}", expected="matvec (@) instead")
                cores.append(self._contract(factors, labels))
            self._cores = cores
        return [(c, l, p) for c, (_, l, p) in zip(self._cores, self._terms)]

    @property
    def cores(self):
        """The core arrays, one per term, multiplied out (subject to the memory budget)."""
        return [c for c, _, _ in self.terms]

    @property
    def factors(self):
        """[[(array, labels), ...] per term]: the compressed storage."""
        return [f for f, _, _ in self._terms]

    @property
    def nbytes(self) -> int:
        """Bytes of the compressed storage (the factors)."""
        return sum(int(getattr(a, "nbytes", 8)) for f in self.factors for a, _ in f)

    @property
    def dense_nbytes(self) -> int:
        """Bytes the dense result would take (float64)."""
        return math.prod(self.shape) * 8

    def pattern_str(self) -> str:
        """The compressed form in words: each term's factors, then its row and column labels."""
        out = []
        for factors, labels, pattern in self._terms:
            names = dict(zip(dict.fromkeys(pattern), _letters(tuple(dict.fromkeys(pattern)))[0]))
            extra = iter("pqrstuvwxyz")
            for _, fl in factors:
                for l in fl:
                    if l not in names:
                        names[l] = next(extra, "?")
            core = " ".join(f"F{k}[{''.join(names[l] for l in fl)}]" for k, (_, fl) in enumerate(factors))
            rows = "".join(names[l] for l in pattern[:self.split])
            cols = "".join(names[l] for l in pattern[self.split:])
            out.append(f"{core} -> [{rows}|{cols}]")
        return " + ".join(out)

    def __repr__(self):
        return (f"<Structured shape={self.shape}: {self.pattern_str()}; {human_bytes(self.nbytes)} "
                f"instead of {human_bytes(self.dense_nbytes)} dense>")

    def dense(self):
        """The dense array; MemoryBudgetError when it would be over the memory budget."""
        if self.dense_nbytes > config.memory_budget:
            raise MemoryBudgetError(
                f"the dense result has shape {self.shape} = {human_bytes(self.dense_nbytes)}, over the memory "
                f"budget of {human_bytes(config.memory_budget)}", expected="matvec (@) or solve() on the compressed form")
        xp = self.xp
        total = None
        for k, (factors, labels, pattern) in enumerate(self._terms):
            part = None
            if self._cores is None and len(factors) > 1 and tuple(labels) == tuple(pattern) == tuple(
                    dict.fromkeys(pattern)):  # the core is the result: its last product writes it in order
                part = gemm_last(xp, self._contract, factors, tuple(labels))
            if part is None:
                core = self._cores[k] if self._cores is not None else self._contract(factors, labels)
                part = _expand(xp, xp.asarray(core), labels, pattern, self.shape)
            if total is None:
                total = part
            else:
                total += part  # every part is a new array
        if total is None:
            total = xp.zeros(self.shape)
        return total

    def diagonal(self):
        """The entries where each row axis equals its column axis, shaped like the rows (H[i,j,i,j]
        of an (n,n,n,n) Hessian, as Expr.diagonal): contracted from the factors with the tied labels
        made one (Σ_b X[b,i]² M[b,j,j]), the dense result never formed."""
        xp = self.xp
        rows, cols = self.shape[:self.split], self.shape[self.split:]
        if rows != cols:
            raise ShapeError(f"the diagonal of a {rows} x {cols} result",
                             expected="row and column axes of the same shape (a Hessian)")
        total = None
        for factors, _, pattern in self._terms:
            find = tie_labels(pattern[:self.split], pattern[self.split:])
            into = tuple(find(l) for l in pattern[:self.split])
            parts = []
            for a, labels in factors:
                tied = tuple(find(l) for l in labels)
                if len(set(tied)) < len(tied):  # a factor's own diagonal first (M[b,j,j])
                    once = tuple(dict.fromkeys(tied))
                    spec = _letters(tied, once)
                    a, tied = xp.einsum(f"{spec[0]}->{spec[1]}", a), once
                parts.append((a, tied))
            covered = {l for _, labels in parts for l in labels}
            out = tuple(l for l in dict.fromkeys(into) if l in covered)
            part = _expand(xp, self._contract(parts, out), out, into, rows)
            total = part if total is None else total + part
        return xp.zeros(rows) if total is None else total

    def __matmul__(self, v):
        """Contract the trailing axes with v (shape = the column axes), without densifying."""
        return self._product(v, transpose=False, what="matvec")

    def rmatmul(self, u):
        """Contract the leading (row) axes with u (shape = the row axes): uᵀ H, without densifying."""
        return self._product(u, transpose=True, what="rmatvec")

    def _product(self, x, transpose: bool, what: str):
        """Each term's factors contracted with x over one side's axes (the columns, or the rows when
        ``transpose``), embedded in the other side's pattern, summed over the terms."""
        xp = self.xp
        x = xp.asarray(x)
        rows_shape, cols_shape = self.shape[:self.split], self.shape[self.split:]
        into_shape, over_shape = (cols_shape, rows_shape) if transpose else (rows_shape, cols_shape)
        if tuple(x.shape) != over_shape:
            raise ShapeError(f"{what} with an array of shape {tuple(x.shape)}", expected=f"shape {over_shape}")
        total = None
        for factors, labels, pattern in self._terms:
            rows, cols = pattern[:self.split], pattern[self.split:]
            into, over = (cols, rows) if transpose else (rows, cols)
            out = tuple(l for l in dict.fromkeys(into) if l in labels or l in over)
            part = _expand(xp, self._contract(list(factors) + [(x, over)], out), out, into, into_shape)
            total = part if total is None else total + part
        return total

    def as_linear_operator(self):
        """A SciPy LinearOperator (rows × columns, flattened in C order) whose matvec and rmatvec
        contract the stored factors: eigsh, cg, minres, lobpcg work on it without densifying."""
        from scipy.sparse.linalg import LinearOperator
        rows, cols = self.shape[:self.split], self.shape[self.split:]
        host = _host(self.xp)
        return LinearOperator(
            (math.prod(rows), math.prod(cols)), dtype=float,
            matvec=lambda x: host(self @ self.xp.asarray(x).reshape(cols)).reshape(-1),
            rmatvec=lambda u: host(self.rmatmul(self.xp.asarray(u).reshape(rows))).reshape(-1))

    def to_sparse(self, format: str = "csr"):
        """The result as a scipy.sparse matrix (rows × columns, C order): each term's core placed on
        its unit-tensor pattern, so the sparsity is the pattern's (block-diagonal for matrix
        factorisation). Refused when the nonzeros would exceed the memory budget."""
        import numpy
        import scipy.sparse
        rows, cols = self.shape[:self.split], self.shape[self.split:]
        data, ri, ci = [], [], []
        for core, labels, pattern in self.terms:
            distinct = tuple(dict.fromkeys(pattern))
            size = {l: self.shape[pattern.index(l)] for l in distinct}
            nnz = math.prod(size[l] for l in distinct)
            if nnz * 24 > config.memory_budget:
                raise MemoryBudgetError(f"the sparse form has {nnz} nonzeros = {human_bytes(nnz * 24)}, over "
                                        f"the memory budget of {human_bytes(config.memory_budget)}",
                                        expected="matvec (@) or as_linear_operator()")
            values = _host(self.xp)(_expand(numpy, numpy.asarray(_host(self.xp)(core)), labels, distinct,
                                            tuple(size[l] for l in distinct)))
            grid = numpy.indices(values.shape).reshape(len(distinct), -1)
            at = {l: grid[k] for k, l in enumerate(distinct)}
            r = numpy.ravel_multi_index([at[l] for l in pattern[:self.split]], rows) if rows else numpy.zeros(nnz, int)
            c = numpy.ravel_multi_index([at[l] for l in pattern[self.split:]], cols) if cols else numpy.zeros(nnz, int)
            data.append(values.reshape(-1))
            ri.append(r)
            ci.append(c)
        out = scipy.sparse.coo_matrix((numpy.concatenate(data) if data else numpy.zeros(0),
                                       (numpy.concatenate(ri) if ri else numpy.zeros(0, int),
                                        numpy.concatenate(ci) if ci else numpy.zeros(0, int))),
                                      shape=(math.prod(rows), math.prod(cols)))
        return out.asformat(format)

    def solve(self, b):
        """x with H x = b (a Newton step), on the cores when H is block-diagonal, else densified."""
        xp = self.xp
        b = xp.asarray(b)
        rows, cols = self.shape[:self.split], self.shape[self.split:]
        if tuple(b.shape) != rows:
            raise ShapeError(f"solve with a right-hand side of shape {tuple(b.shape)}", expected=f"shape {rows}")
        if len(self._terms) == 1:
            fast = self._block_solve(b)
            if fast is not None:
                return fast
        n_rows, n_cols = math.prod(rows), math.prod(cols)
        if n_rows != n_cols:
            raise ShapeError(f"solve needs a square operator, got {n_rows} x {n_cols}")
        H = self.dense().reshape(n_rows, n_cols)
        return runtime.solve(xp, H, b.reshape(n_rows, 1), "solve() of the dense Hessian").reshape(cols)

    def _block_solve(self, b):
        xp = self.xp
        core, labels, pattern = self.terms[0]
        r = self.split
        rows, cols = pattern[:r], pattern[r:]
        if len(rows) != len(cols):
            return None
        shared = [rows[p] for p in range(r) if rows[p] == cols[p]]
        R = [l for l in rows if l not in shared]
        C = [l for l in cols if l not in shared]
        if (len(set(rows)) != len(rows) or len(set(cols)) != len(cols) or set(R) & set(C)
                or any(l not in labels for l in R + C)):
            return None
        size = {l: self.shape[pattern.index(l)] for l in pattern}
        if math.prod(size[l] for l in R) != math.prod(size[l] for l in C):
            return None
        core = xp.asarray(core)
        S_in = [l for l in shared if l in labels]
        S_out = [l for l in shared if l not in labels]
        # core as (S_in..., R..., C...) blocks; b as (S..., R...)
        order = [labels.index(l) for l in S_in + R + C]
        blocks = xp.transpose(core, order).reshape(
            [size[l] for l in S_in] + [math.prod(size[l] for l in R), math.prod(size[l] for l in C)])
        bt = xp.transpose(b, [rows.index(l) for l in S_in + S_out + R])
        nS_in = math.prod(size[l] for l in S_in)
        nS_out = math.prod(size[l] for l in S_out)
        nR = math.prod(size[l] for l in R)
        bt = bt.reshape(nS_in, nS_out, nR)
        blocks = blocks.reshape(nS_in, nR, nR)
        # one factorisation per block, all right-hand sides of the broadcast axes at once
        x = runtime.solve(xp, blocks, xp.swapaxes(bt, 1, 2), "solve() on the compressed core")  # (S_in, R, S_out)
        x = xp.swapaxes(x, 1, 2)
        x = x.reshape([size[l] for l in S_in + S_out + C])
        # back to the column order of the variable
        src = S_in + S_out + C
        return xp.transpose(x, [src.index(l) for l in cols])


def _host(xp):
    """array -> NumPy array (SciPy's operators and sparse matrices live on the host)."""
    from .backend.registry import _host_asarray, backend_of_namespace
    b = backend_of_namespace(xp)
    return b.to_host if b is not None else _host_asarray

