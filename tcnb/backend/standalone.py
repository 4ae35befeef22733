"""A self-contained Python module computing an expression: NumPy (or CuPy) only, no tcnb.

Why: a derivative is most useful where it is needed — in a training script, on a cluster without
tcnb. The module is the code ``evaluate`` runs, with three differences: every shape, offset and size
factor is an expression of sizes read from the arguments (``n = X.shape[1]``), so one module serves
every size (the contraction order stays the one planned for the sizes given); the runtime helpers it
calls are copied in from runtime.py (with their own helpers; their errors become the module's own
``BindingError`` / ``NumericalError``); and a prologue checks the arguments as binding does.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import keyword
import re

import sympy

from .. import ir
from ..dims import shape_str
from . import runtime
from .codegen import dim_code, generate, tuple_code

_PLACEHOLDER = "_tcnb_axis_"

# module-level names of every standalone module; the generated function's name avoids them
_MODULE_GLOBALS = ("math", "operator", "numpy", "BindingError", "NumericalError", "_error", "_rt",
                   "_array", "_dtype", "_size", "_check_shape")
# the names the function body itself uses (a parameter with one of these names gets a dummy)
_BODY_NAMES = ("numpy", "math", "_array", "_dtype", "_size", "_check_shape")

_PREAMBLE = '''\
import math
import operator

import numpy


class BindingError(ValueError):
    """An argument of the wrong shape, a size that does not fit, or an index map reaching outside
    an array."""


class NumericalError(numpy.linalg.LinAlgError):
    """A singular, ill-conditioned or non-finite matrix where a well-conditioned one is needed."""


def _error(kind, message, expected):
    return {"BindingError": BindingError, "NumericalError": NumericalError}[kind](
        f"{message} (expected {expected})")


def _array(xp, name, a, ndim):
    """An argument as an array of the namespace, with ``ndim`` axes of real numbers."""
    a = xp.asarray(a)
    if a.ndim != ndim:
        raise BindingError(f"{name} has {a.ndim} axes (shape {tuple(a.shape)}), expected {ndim}")
    if a.dtype.kind not in "biuf":
        raise BindingError(f"{name} has dtype {a.dtype}, expected real numbers")
    if 0 in a.shape:
        raise BindingError(f"{name} has shape {tuple(a.shape)}, expected axes of positive length")
    return a


def _dtype(xp, *arrays):
    """float32 when every argument is float32, else float64 (as tcnb evaluates)."""
    return xp.float32 if arrays and all(a.dtype == xp.float32 for a in arrays) else xp.float64


def _size(name, value):
    """A dimension's size: a positive integer."""
    try:
        size = operator.index(value)
    except TypeError:
        raise BindingError(f"the size {name} = {value!r} is not an integer") from None
    if size < 1:
        raise BindingError(f"the size {name} = {size} is not positive")
    return size


def _check_shape(name, a, shape, spelled):
    if tuple(a.shape) != tuple(shape):
        raise BindingError(f"{name} has shape {tuple(a.shape)}, expected {spelled} = {tuple(shape)}")
'''


def module_source(roots, arg_vars, sizes: dict, name: str = "tcnb_fn", doc: str = "") -> str:
    """The module's source: ``doc`` (the formula) as its docstring, then ``def <name>(<arrays>, *,
    <sizes no array has>, xp=None)`` returning the (single) root's value, and what it needs."""
    roots = list(roots)
    if len(roots) != 1:
        raise ValueError("a standalone module computes one expression")
    fn_name = function_name(name)
    gen = generate(roots, arg_vars, sizes, fn_name=fn_name, check_budget=False, symbolic=True,
                   reserved=_BODY_NAMES)
    params = dict(zip(gen.arg_names, gen.params))
    plan = _size_plan(arg_vars, params, gen.size_names)
    keywords = [gen.size_names[s] for s, how in plan if how[0] == "keyword"]
    signature = ", ".join(gen.params + (["*"] + keywords if keywords else ["*"]) + ["xp=None"])
    root = roots[0]
    lines = [f"def {fn_name}({signature}):",
             f'    """{_escape(_function_doc(name, arg_vars, params, keywords, root))}"""',
             "    xp = numpy if xp is None else xp"]
    lines += [f"    {params[v.name]} = _array(xp, {v.name!r}, {params[v.name]}, {len(v.shape)})" for v in arg_vars]
    arrays = ", ".join(params[v.name] for v in arg_vars)
    lines.append(f"    dtype = _dtype(xp{', ' + arrays if arrays else ''})")
    lines += [f"    {params[v.name]} = {params[v.name]}.astype(dtype, copy=False)" for v in arg_vars]
    lines += ["    " + l for l in _prologue(plan, arg_vars, params, gen.size_names, roots)]
    lines += ["    " + l for l in gen.body]
    lines.append(f"    return xp.asarray({gen.rets[0]}, dtype=dtype)")
    function = "\n".join(lines) + "\n"
    helpers = _helpers_source(function)
    planned = ", ".join(f"{s} = {sizes[s]}" for s in sorted(gen.size_names) if s in sizes)
    head = _module_doc(doc, fn_name, signature, arg_vars, plan, planned, root)
    parts = [f'"""{_escape(head)}"""', _PREAMBLE.rstrip("\n")]
    if helpers:
        parts.append(helpers)
    parts.append(function.rstrip("\n"))
    parts.append(f"__all__ = [{fn_name!r}]")
    return "\n\n\n".join(parts) + "\n"


def function_name(name: str) -> str:
    """An identifier from the expression's name (``Hessian_w f`` -> ``Hessian_w_f``)."""
    text = re.sub(r"\W+", "_", name or "").strip("_")
    if not text or not text.isidentifier() or keyword.iskeyword(text):
        text = "tcnb_fn"
    taken = text in _MODULE_GLOBALS or text in _helper_table() or text == "xp" or hasattr(builtins, text)
    return "tcnb_" + text if taken else text  # the module's own code calls builtins (len, tuple, ...)


# --------------------------------------------------------------------------- sizes from the arguments

def _size_plan(arg_vars, params, size_names):
    """[(symbol, how)] in the order the prologue computes them: ("axis", var, k) read from an axis,
    ("solve", var, k, code) solved from a compound axis such as R[m + n - 1] once the other symbols
    are known, or ("keyword",) when no argument determines it (then the caller passes it)."""
    plan, known = [], set()
    for v in arg_vars:
        for k, d in enumerate(v.shape):
            if d.is_Symbol and d.name not in known and d.name in size_names:
                known.add(d.name)
                plan.append((d.name, ("axis", v.name, k)))
    while len(known) < len(size_names):
        progress = True
        while progress:
            progress = False
            for v in arg_vars:
                for k, d in enumerate(v.shape):
                    solved = _solve(d, known, size_names, f"{params[v.name]}.shape[{k}]")
                    if solved is not None:
                        known.add(solved[0])
                        plan.append((solved[0], ("solve", v.name, k, solved[1])))
                        progress = True
        rest = sorted(set(size_names) - known)
        if rest:  # no argument determines it: a keyword argument (which may let others be solved)
            known.add(rest[0])
            plan.append((rest[0], ("keyword",)))
    return plan


def _solve(d, known, size_names, axis_code):
    """(symbol, code) when ``d`` has exactly one unknown symbol, in which it is linear with an
    integer coefficient: the symbol's size from the axis' length (checked against d afterwards)."""
    d = sympy.sympify(d)
    unknown = [s for s in d.free_symbols if s.name not in known]
    if d.is_Symbol or len(unknown) != 1:
        return None
    s = unknown[0]
    a = d.coeff(s)
    rest = sympy.expand(d - a * s)
    if not a.is_Integer or a == 0 or s in rest.free_symbols:
        return None
    placeholder = sympy.Symbol(_PLACEHOLDER)
    local = {**{k: size_names[k] for k in size_names}, _PLACEHOLDER: _PLACEHOLDER}
    code = dim_code(sympy.expand(placeholder - rest), local).replace(_PLACEHOLDER, axis_code)
    if a != 1:
        code = f"({code}) // {int(a)}"
    return s.name, code


def _prologue(plan, arg_vars, params, size_names, roots):
    """Statements setting the size variables, then checking every argument's shape and that every
    compound dimension of the computation (``n - 3``) is positive."""
    lines = []
    for s, how in plan:
        local = size_names[s]
        if how[0] == "axis":
            lines.append(f"{local} = {params[how[1]]}.shape[{how[2]}]")
        elif how[0] == "solve":
            lines.append(f"{local} = _size({s!r}, {how[3]})")
        else:
            lines.append(f"{local} = _size({s!r}, {local})")
    read = {(how[1], how[2]) for _, how in plan if how[0] == "axis"}
    for v in arg_vars:
        if all((v.name, k) in read for k in range(len(v.shape))):
            continue  # every axis of it defined a size: nothing to check
        lines.append(f"_check_shape({v.name!r}, {params[v.name]}, "
                     f"{tuple_code(dim_code(d, size_names) for d in v.shape)}, {shape_str(v.shape)!r})")
    compound = {}
    checked = {d for v in arg_vars for d in v.shape}  # an argument's axes are positive already
    for n in ir.topological(list(roots)):
        for d in n.shape:
            if not d.is_Symbol and not d.is_Integer and d not in checked:
                compound.setdefault(str(d), d)
    for text in sorted(compound):
        lines.append(f"_size({text!r}, {dim_code(compound[text], size_names)})")
    return lines


# --------------------------------------------------------------------------- runtime helpers, copied

def _helper_table() -> dict:
    """name -> (line, source, names it uses, syntax tree) of every top-level function of runtime.py."""
    global _HELPERS
    if _HELPERS is None:
        text = inspect.getsource(runtime)
        tree = ast.parse(text)
        top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        table = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                uses = {x.id for x in ast.walk(node) if isinstance(x, ast.Name)} & top - {node.name}
                table[node.name] = (node.lineno, ast.get_source_segment(text, node), uses, node)
        _HELPERS = table
    return _HELPERS


_HELPERS = None


def _check_imports(node):
    """A copied helper may import other libraries (cupyx), never tcnb: the module must run without it."""
    for x in ast.walk(node):
        if isinstance(x, ast.ImportFrom) and (x.level or (x.module or "").split(".")[0] == "tcnb") or \
                isinstance(x, ast.Import) and any(a.name.split(".")[0] == "tcnb" for a in x.names):
            raise RuntimeError(f"runtime.{node.name} imports from tcnb, so it cannot be copied into "
                               f"standalone code; name errors through runtime._error instead")


def _helpers_source(function: str) -> str:
    """The helpers ``function`` calls as ``_rt.<name>``, with the helpers they call, in runtime.py's
    order, and the ``_rt`` namespace the generated code calls them through. ``_error`` is the
    module's own (defined in the preamble)."""
    table = _helper_table()
    called = sorted({x.attr for x in ast.walk(ast.parse(function)) if isinstance(x, ast.Attribute)
                     and isinstance(x.value, ast.Name) and x.value.id == "_rt"})
    need, todo = set(), list(called)
    while todo:
        name = todo.pop()
        if name in need or name == "_error":
            continue
        if name not in table:
            raise RuntimeError(f"generated code calls _rt.{name}, which runtime.py does not define")
        _check_imports(table[name][3])
        need.add(name)
        todo.extend(table[name][2])
    if not called:
        return ""
    funcs = [table[n][1] for n in sorted(need, key=lambda n: table[n][0])]
    namespace = ["class _rt:", '    """The helpers above, as the generated code calls them."""']
    namespace += [f"    {n} = staticmethod({n})" for n in called]
    return "# runtime helpers (copied from tcnb/backend/runtime.py)\n\n" + "\n\n\n".join(funcs) + \
        "\n\n\n" + "\n".join(namespace)


# --------------------------------------------------------------------------- documentation

def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def _sizes_text(plan, arg_vars, size_names) -> list:
    out = []
    for s, how in plan:
        if how[0] == "axis":
            out.append(f"{s} = {how[1]}.shape[{how[2]}]")
        elif how[0] == "solve":
            v = next(v for v in arg_vars if v.name == how[1])
            out.append(f"{s} from {how[1]}.shape[{how[2]}] = {v.shape[how[2]]}")
        else:
            out.append(f"{s}: keyword argument {size_names.get(s, s)}=<int>")
    return out


def _function_doc(name, arg_vars, params, keywords, root) -> str:
    args = ", ".join(f"{params[v.name]}: {v.declaration().split(': ', 1)[1]}" if v.structure else
                     f"{params[v.name]}: R{shape_str(v.shape).replace('(', '[').replace(')', ']')}"
                     if v.shape else f"{params[v.name]}: R" for v in arg_vars)
    text = f"{name or 'The expression'} (shape {shape_str(root.shape)}) from {args or 'no arguments'}"
    if keywords:
        text += f" and the size{'s' if len(keywords) > 1 else ''} {', '.join(keywords)}"
    return text + "; xp: numpy (default) or cupy."


def _module_doc(doc, fn_name, signature, arg_vars, plan, planned, root) -> str:
    sizes = _sizes_text(plan, arg_vars, {s: s for s, _ in plan})
    lines = [doc.rstrip("\n"), ""] if doc else []
    lines += [f"Generated by tcnb as standalone code: it needs only NumPy (or CuPy), not tcnb.",
              "",
              f"    {fn_name}({signature})  ->  array of shape {shape_str(root.shape)}",
              "",
              "Pass xp=cupy to run on a GPU (arguments are moved there with xp.asarray)."]
    if sizes:
        lines.append("Sizes: " + "; ".join(sizes) + ".")
    if planned:
        lines.append(f"Contraction order planned for sizes {planned}; correct for any sizes.")
    return "\n".join(lines) + "\n"
