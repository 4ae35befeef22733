"""What :func:`~tcnb.bench.compare.compare` times: the expression, the kind of derivative and its
variable, the direction of a Hessian-vector product, and the derivative tcnb derives per mode.
"""
from __future__ import annotations

from .. import api
from ..expr import Expr
from .records import KINDS

def _as_expr(expr) -> Expr:
    if isinstance(expr, Expr):
        return expr
    if isinstance(expr, str):
        prog = api.parse(expr)
        defs = list(prog.definitions)
        if not defs:
            raise ValueError("the program defines nothing to benchmark")
        return prog[defs[-1]]
    if isinstance(expr, api.Program):
        defs = list(expr.definitions)
        if not defs:
            raise ValueError("the program defines nothing to benchmark")
        return expr[defs[-1]]
    raise TypeError(f"compare() needs a tcnb expression (prog['f']) or program source, got {type(expr).__name__}")


def _resolve_kind(f: Expr, wrt, kind):
    if isinstance(wrt, Expr):
        wrt = wrt.name or (wrt.variables[0] if wrt.variables else None)
    if kind is None:
        kind = "value" if wrt is None else ("hessian" if f.rank == 0 else "jacobian")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "value":
        return kind, None
    if wrt is None:
        vs = f.variables
        if len(vs) != 1:
            raise ValueError(f"say which variable to differentiate with respect to: wrt= one of {', '.join(vs)}")
        wrt = vs[0]
    if wrt not in f.variables:
        raise ValueError(f"{wrt!r} is not a variable of {f.display_name} (variables: {', '.join(f.variables)})")
    if kind in ("grad", "hessian", "hvp") and f.rank != 0:
        raise ValueError(f"a {kind} needs a scalar expression; {f.display_name} has rank {f.rank} "
                         "(use kind='jacobian')")
    return kind, wrt


def _variables(e: Expr) -> dict:
    """name -> the variable (with .shape) for every variable ``e`` uses."""
    return {v.name: v for v in e.compile("numpy").vars}


def _direction(f: Expr, wrt: str, direction) -> Expr:
    if direction is not None:
        if isinstance(direction, Expr):
            return direction
        raise TypeError("direction must be a tcnb variable (Expr) shaped like the variable")
    w = _variables(f)[wrt]
    taken = set(f.variables) | {s.name for d in w.shape for s in d.free_symbols}
    name = "v"
    while name in taken:
        name += "_"
    dims = ", ".join(str(d) for d in w.shape)
    return api.parse(f"{name}: R[{dims}]" if dims else f"{name}: R")[name]


def _derive(f, wrt, kind, mode, compress, v_expr) -> Expr:
    if kind == "value":
        return f
    if kind == "grad":
        return api.grad(f, wrt, mode=mode, compress=compress)
    if kind == "jacobian":
        return api.jacobian(f, wrt, mode=mode, compress=compress)
    if kind == "hessian":
        return api.hessian(f, wrt, mode=mode, compress=compress)
    return api.hvp(f, wrt, v_expr, mode=mode, compress=compress)
