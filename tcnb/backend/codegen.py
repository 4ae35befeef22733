"""DAG -> one straight-line Python function of array calls, compiled once per size binding.

The generated source is ordinary NumPy-style code on a namespace ``xp`` (numpy or cupy), so
``to_source()`` shows users exactly what runs. Temporaries are deleted after their last use to keep
peak memory near the largest live set; every node's dense size is checked against the memory budget
before anything runs. With ``symbolic=True`` every size in the code is an expression of variables
holding the sizes (``n``, ``m + n - 1``) instead of an integer, for standalone modules
(standalone.py) that are correct at any sizes.
"""
from __future__ import annotations

import ast
import itertools
import linecache
import math
import weakref

import sympy
from dataclasses import dataclass, field

from .. import ir
from ..config import config, human_bytes
from ..dims import resolve, resolve_shape
from ..errors import BindingError, MemoryBudgetError
from .emit import NodeCode
from .names import Names
from .spell import Spell, dim_code, tuple_code  # noqa: F401  (dim_code, tuple_code: standalone.py)


@dataclass
class Generated:
    """One generated function: its source, argument names and memory estimates, and its parts

    (body, returned expressions, parameters) for standalone modules to reassemble.
    """
    source: str
    arg_names: list
    largest_bytes: int
    node_bytes: dict = field(default_factory=dict)  # node id -> bytes of its dense value
    fn_name: str = "tcnb_fn"
    body: list = field(default_factory=list)        # the function's statements (no def, no return)
    rets: list = field(default_factory=list)        # the returned expressions, one per root
    params: list = field(default_factory=list)      # parameter names of the variables, in order
    size_names: dict = field(default_factory=dict)  # symbolic: dimension symbol -> local variable


def shape_symbols(roots, arg_vars) -> list:
    """Names of every dimension symbol that the roots' nodes (shapes, index-map offsets) and the
    variables' shapes use, sorted."""
    out = set()
    for n in ir.topological(list(roots)) + list(arg_vars):
        for d in tuple(n.shape) + tuple(getattr(n, "offset", ())):
            out |= {s.name for s in sympy.sympify(d).free_symbols}
    return sorted(out)


def generate(roots, arg_vars, sizes: dict, itemsize: int = 8, fn_name: str = "tcnb_fn",
             xp: str = "xp", check_budget: bool = True, names: dict | None = None,
             traceable: bool = False, symbolic: bool = False, reserved=(), symmetric: bool | None = None) -> Generated:
    """Source of ``def fn_name(xp, _rt, dtype, <vars>)`` returning a tuple of the roots' values.

    Parameters are the variables' names unless generated code needs that name (``xp``, ``t1``, or
    one of ``reserved``): then a dummy (``v_xp``); ``arg_names`` stays the user's names, in
    parameter order. ``traceable=True`` avoids data-dependent branches (the symmetric-product
    shortcut), so the code can be traced and differentiated by autograd / JAX / PyTorch for
    baselines. ``symmetric`` (default: not ``traceable``) writes symmetric products Aᵀ diag(d) A as
    ``_rt.gram``, whose check of d's sign reads values: eagerly (NumPy, CuPy) or inside each block of
    a lazy graph (Dask), never in the generated code itself. ``symbolic=True`` writes every shape, offset and size factor in local variables
    named in ``size_names`` (one per dimension symbol, set by the caller's prologue), so the body
    is correct at any sizes; ``sizes`` then only plan the contraction order.
    """
    order = ir.topological(list(roots))
    shapes = {n.id: resolve_shape(n.shape, sizes) for n in order}
    for n in order:
        if isinstance(n, ir.IndexMap):
            check_index_map(n, sizes)
    root_ids = {r.id for r in roots}
    alloc = Names([v.name for v in arg_vars], fixed=(xp, "_rt", "dtype", fn_name) + tuple(reserved))
    size_names = {s: alloc.local(s) for s in shape_symbols(roots, arg_vars)} if symbolic else {}
    spell = Spell(sizes, size_names if symbolic else None)
    inline = {n.id for n in order if _inline(n, root_ids)}
    node_bytes = {n.id: math.prod(shapes[n.id]) * itemsize for n in order if n.id not in inline}

    def check(n, shape):
        if check_budget and math.prod(shape) * itemsize > config.memory_budget:
            _refuse(n, shape, math.prod(shape) * itemsize, names)

    if check_budget:
        for n in order:
            if n.id in node_bytes:
                check(n, shapes[n.id])

    code = NodeCode(xp, spell, sizes, shapes, alloc, check, itemsize, traceable,
                    not traceable if symmetric is None else symmetric)
    for n in order:
        if n.id in inline and not isinstance(n, ir.Var):
            continue  # consumed by the einsum or sum that uses it
        expr = code.visit(n)
        if n.id in root_ids and (isinstance(n, ir.Einsum) and "broadcast_to" in expr):
            # a result is never a broadcast view (a write to it would reach the shared entries);
            # traced code asks _rt, as a namespace may have no such notion (JAX: arrays are immutable)
            expr = f"_rt.contiguous({xp}, {expr})" if traceable else f"{xp}.ascontiguousarray({expr})"
        code.values[n.id] = expr if expr.isidentifier() else code.emit(expr)
    largest, lines = code.largest, code.lines
    if check_budget and largest > config.memory_budget:
        raise MemoryBudgetError(
            f"a contraction needs an intermediate of {human_bytes(largest)}, over the memory budget of "
            f"{human_bytes(config.memory_budget)}", expected="smaller sizes or a larger tcnb.config.memory_budget")

    rets = [code.value(r) for r in roots]
    body = _with_deletes(lines, set(rets), alloc.temps)
    args = ", ".join([xp, "_rt", "dtype"] + [alloc.param[v.name] for v in arg_vars])
    src = f"def {fn_name}({args}):\n"
    src += "".join(f"    {l}\n" for l in body)
    src += f"    return ({', '.join(rets)},)\n"
    params = [alloc.param[v.name] for v in arg_vars]
    return Generated(src, [v.name for v in arg_vars], largest, node_bytes, fn_name, body, rets, params,
                     size_names)


def check_index_map(m: ir.IndexMap, sizes: dict) -> None:
    """Refuse, when sizes are bound, an index map (a slice, a constant index, ``x[i + c]``) that
    reaches outside its target axis: BindingError naming the index and the size."""
    I = [resolve(d, sizes) for d in m.in_dims]
    for row, c, d in zip(m.matrix, m.offset, m.out_dims):
        c = resolve(sympy.sympify(c), sizes)
        lo = c + sum(min(0, a) * (k - 1) for a, k in zip(row, I))
        hi = c + sum(max(0, a) * (k - 1) for a, k in zip(row, I))
        size = resolve(d, sizes)
        if lo < 0 or hi >= size:
            bad = lo if lo < 0 else hi
            used = set().union(*(sympy.sympify(x).free_symbols for x in m.offset + m.in_dims)) - d.free_symbols
            at = ", ".join(f"{s.name} = {sizes[s.name]}" for s in sorted(used, key=lambda s: s.name))
            raise BindingError(f"a slice, constant index or index map reaches index {bad} on an axis of size "
                               f"{d}" + (f" = {size}" if not d.is_Integer else "") + (f" (at {at})" if at else ""),
                               expected=f"sizes that keep every index in [0, {d - 1}]")


def _inline(n: ir.Node, root_ids) -> bool:
    """Nodes with no array of their own: variables are parameters; constants, index maps and
    symbolic unit tensors are consumed by the einsum or sum that uses them (materialised on demand)."""
    if isinstance(n, ir.Var):
        return True
    if n.id in root_ids:
        return False
    return isinstance(n, (ir.Const, ir.IndexMap)) or (isinstance(n, ir.Delta) and not n.dense)


_LOADED = itertools.count(1)


def load(gen: Generated, label: str = "numpy"):
    """Compile generated source into its function, registered with ``linecache`` under a unique
    file name so ``inspect.getsource`` and tracebacks show the generated lines."""
    filename = f"<tcnb generated {label} #{next(_LOADED)}>"
    linecache.cache[filename] = (len(gen.source), None, gen.source.splitlines(True), filename)
    namespace: dict = {}
    exec(compile(gen.source, filename, "exec"), namespace)
    fn = namespace[gen.fn_name]
    weakref.finalize(fn, linecache.cache.pop, filename, None)  # the source lives as long as fn
    return fn


def _refuse(node, shape, nbytes, names):
    what = (names or {}).get(node.id, "an intermediate result")
    raise MemoryBudgetError(
        f"{what} would be a dense array of shape {shape} = {human_bytes(nbytes)}, over the memory budget "
        f"of {human_bytes(config.memory_budget)}",
        expected="the compressed form (.structured()), hvp(...) instead of a full Hessian, smaller sizes, "
                 "or a larger tcnb.config.memory_budget")


def _with_deletes(lines, keep: set, temps: set) -> list:
    """Insert ``del`` after the last use of each temporary (not the returned ones).

    Uses are read from the statements' syntax trees (the names they load), so a user's tensor whose
    name looks like a temporary, or a name inside a string such as an einsum spec, is never mistaken
    for one.
    """
    tree = ast.parse("\n".join(lines)) if lines else ast.Module(body=[], type_ignores=[])
    last_use: dict = {}
    for k, stmt in enumerate(tree.body):
        last_use.setdefault(stmt.targets[0].id, k)  # a temporary never used: dropped at once
        for node in ast.walk(stmt.value):
            if isinstance(node, ast.Name) and node.id in temps:
                last_use[node.id] = k
    dels: dict[int, list] = {}
    for name, k in last_use.items():
        if name in temps and name not in keep:
            dels.setdefault(k, []).append(name)
    out = []
    for k, line in enumerate(lines):
        out.append(line)
        if k in dels:
            out.append("del " + ", ".join(sorted(dels[k])))
    return out


