"""Cost figures of a DAG at given sizes: node counts, estimated FLOPs and memory.

The estimates follow what the code generator runs (tcnb.backend.codegen):

* einsum: unit tensors that are not ``dense`` are index renamings and cost nothing; ones-tensors
  and scalar factors are not multiplied in. The remaining operands are contracted in opt_einsum's
  order, and the FLOPs are opt_einsum's ``opt_cost`` for that path: for each pairwise step,
  (product of the sizes of every label in the step) × 2 when a label is summed, × 1 otherwise
  (e.g. ``X @ w`` with X: m×n costs 2·m·n). A single operand costs its entries (one pass);
  a scalar factor ≠ 1 adds one multiplication per result entry.
* element-wise: result entries × the operations of the formula (``sympy.count_ops``, at least 1).
* add: result entries × (terms − 1).
* index maps (``x[i + j]``): a gather or scatter-add, one operation per entry of the map's
  index ranges.
* general: inv 2n³, det / logdet (2/3)n³ (an LU factorisation), softmax and logsumexp 4 per
  input entry.

``peak_bytes`` replays the generated program: inputs stay live throughout, each materialised
node (every one except inputs, constants and non-dense unit tensors) lives from its computation to
its last use, and a contraction's largest intermediate is added while it runs.
"""
from __future__ import annotations

import functools
import html
import math

import opt_einsum
import sympy

from .. import ir
from ..config import human_bytes
from ..dims import resolve_shape
from ..errors import BindingError
from ..primitives import lookup
from ..visit import Visitor

ITEMSIZE = 8

_ROWS = [  # key, description
    ("nodes", "DAG nodes"),
    ("variables", "variables"),
    ("constants", "constants"),
    ("multiplications", "multiplications (einsum nodes)"),
    ("additions", "additions"),
    ("elementwise", "element-wise functions"),
    ("general", "general functions"),
    ("unit_tensors", "unit tensors (δ)"),
    ("dense_unit_tensors", "materialised unit tensors"),
    ("index_maps", "index maps"),
    ("flops", "FLOPs (estimated)"),
    ("peak_bytes", "peak memory (estimated)"),
    ("largest_node_bytes", "largest node"),
    ("input_bytes", "inputs"),
    ("dense_bytes", "dense result"),
]


def _human_count(n: float) -> str:
    for unit in ("", " k", " M", " G", " T", " P"):
        if abs(n) < 1000:
            return f"{int(n)}" if unit == "" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g} E"


def _fmt(key: str, value) -> str:
    if key.endswith("bytes"):
        return human_bytes(value)
    if key == "flops":
        return _human_count(value)
    return str(value)


class Stats(dict):
    """A dict of cost figures with a readable repr and an HTML table for notebooks."""

    def __repr__(self) -> str:
        def n(key, word):
            return f"{self[key]} {word}{'' if self[key] == 1 else 's'}"
        return (f"{n('nodes', 'node')} ({n('multiplications', 'multiplication')}, "
                f"{n('additions', 'addition')}, {self['elementwise']} element-wise, "
                f"{self['general']} general, {n('unit_tensors', 'unit tensor')}), "
                f"{_human_count(self['flops'])} FLOPs, peak {human_bytes(self['peak_bytes'])}, "
                f"result {human_bytes(self['dense_bytes'])}")

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(desc)}</td>"
            f"<td style='text-align:right'>{html.escape(_fmt(key, self[key]))}</td></tr>"
            for key, desc in _ROWS if key in self)
        return f"<table class='tcnb-stats'>{rows}</table>"


def _check_sizes(sizes: dict) -> dict:
    out = {}
    for k, v in (sizes or {}).items():
        try:
            iv = int(v)
        except (TypeError, ValueError):
            raise BindingError(f"size of '{k}' must be an integer, got {v!r}") from None
        if iv != v or iv < 1:
            raise BindingError(f"size of '{k}' must be a positive integer, got {v!r}")
        out[k] = iv
    return out


def einsum_cost(n: ir.Einsum, label_size: dict) -> tuple[int, int]:
    """(FLOPs, entries of the largest intermediate other than the result) of one einsum node."""
    subst, core, coef, gather = {}, [], 1.0, 0
    for op, labels in zip(n.operands, n.ins):
        if op.kind == "indexmap":  # a gather / scatter-add: one pass over the map's index ranges
            gather += math.prod(label_size[l] for l in dict.fromkeys(labels[:len(op.in_dims)]))
        elif isinstance(op, ir.Const):
            coef *= op.value
        elif isinstance(op, ir.Delta) and not op.dense:
            r = len(op.dims)
            for a, b in zip(labels[:r], labels[r:]):
                subst[b] = a
        else:
            core.append(labels)

    def root(l):
        seen = set()
        while l in subst and l not in seen:
            seen.add(l)
            l = subst[l]
        return l

    core = [tuple(root(l) for l in labels) for labels in core]
    out = tuple(dict.fromkeys(root(l) for l in n.out))
    out_entries = math.prod(label_size[l] for l in out)
    extra = (out_entries if coef != 1.0 else 0) + gather
    if not core:
        return extra, 0
    covered = {l for labels in core for l in labels}
    core_out = tuple(l for l in out if l in covered)
    if len(core) == 1:
        return math.prod(label_size[l] for l in set(core[0])) + extra, 0
    names: dict = {}

    def letters(labels):
        return "".join(names.setdefault(l, opt_einsum.get_symbol(len(names))) for l in labels)

    spec = ",".join(letters(s) for s in core) + "->" + letters(core_out)
    shapes = [tuple(label_size[l] for l in labels) for labels in core]
    _, info = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize="auto")
    inter = max([int(s) for s in info.size_list[:-1]], default=0)
    return int(info.opt_cost) + extra, inter


@functools.lru_cache(maxsize=4096)
def _formula_ops(fn: sympy.Expr) -> int:
    return max(1, int(sympy.count_ops(fn)))


def _general_flops(n: ir.General, shape_of) -> int:
    return int(lookup(n.name).flops(tuple(tuple(shape_of(a)) for a in n.args), dict(n.params)))


class _Cost(Visitor):
    """Counts nodes by kind and adds up each one's FLOPs (and an einsum's transient bytes)."""

    def __init__(self, counts, shapes, entries, resolve, itemsize):
        self.counts, self.shapes, self.entries, self.resolve = counts, shapes, entries, resolve
        self.itemsize, self.flops, self.transient = itemsize, 0, {}

    def visit_Var(self, n):
        self.counts["variables"] += 1

    def visit_Const(self, n):
        self.counts["constants"] += 1

    def visit_Delta(self, n):
        self.counts["unit_tensors"] += 1
        self.counts["dense_unit_tensors"] += int(n.dense)

    def visit_IndexMap(self, n):
        self.counts["index_maps"] += 1

    def visit_Einsum(self, n):
        self.counts["multiplications"] += 1
        label_size = {l: self.resolve((d,))[0] for l, d in n.label_dims.items()}
        f, inter = einsum_cost(n, label_size)
        self.flops += f
        self.transient[n.id] = inter * self.itemsize

    def visit_Add(self, n):
        self.counts["additions"] += 1
        self.flops += self.entries[n.id] * (len(n.terms) - 1)

    def visit_Elementwise(self, n):
        self.counts["elementwise"] += 1
        self.flops += self.entries[n.id] * _formula_ops(n.fn)

    def visit_General(self, n):
        self.counts["general"] += 1
        self.flops += _general_flops(n, lambda m: self.shapes[m.id])


def stats(node: ir.Node, sizes: dict, itemsize: int = ITEMSIZE) -> Stats:
    """Node counts, estimated FLOPs and bytes of ``node``'s DAG at ``sizes`` (dimension -> int).

    Raises BindingError naming a dimension whose size is missing.
    """
    sizes = _check_sizes(sizes)
    order = ir.topological([node])
    resolved: dict = {}  # a deep network has thousands of nodes but few distinct shapes

    def resolve(shape):
        if shape not in resolved:
            resolved[shape] = resolve_shape(shape, sizes)
        return resolved[shape]
    shapes = {n.id: resolve(n.shape) for n in order}
    entries = {k: math.prod(s) for k, s in shapes.items()}
    counts = dict(nodes=len(order), variables=0, constants=0, multiplications=0, additions=0,
                  elementwise=0, general=0, unit_tensors=0, dense_unit_tensors=0, index_maps=0)
    cost = _Cost(counts, shapes, entries, resolve, itemsize)
    for n in order:
        cost.visit(n)
    flops, transient = cost.flops, cost.transient

    # live-set replay in the generated program's order
    def materialised(n):  # as in the code generator: leaves other than dense δ are inputs or inline
        if n is node:
            return not isinstance(n, ir.Var)
        return bool(n.children) or (isinstance(n, ir.Delta) and n.dense)

    last_use: dict[int, int] = {}
    for k, n in enumerate(order):
        for ch in n.children:
            last_use[ch.id] = k
    inputs = sum(entries[n.id] for n in order if isinstance(n, ir.Var)) * itemsize
    live, peak, largest = inputs, inputs, 0
    dying: dict[int, list] = {}
    for k, n in enumerate(order):
        if materialised(n):
            b = entries[n.id] * itemsize
            largest = max(largest, b)
            live += b
            peak = max(peak, live + transient.get(n.id, 0))
            if n is not node:
                dying.setdefault(last_use.get(n.id, k), []).append(b)
        live -= sum(dying.pop(k, []))
    return Stats(counts, flops=int(flops), peak_bytes=int(peak), largest_node_bytes=int(largest),
                 input_bytes=int(inputs), dense_bytes=int(entries[node.id] * itemsize))
