"""``tcnb.check``: compare a derivative you worked out by hand with tcnb's, numerically.

For teaching: a student writes their formula for a gradient or Hessian (in the tensor language, as
an Expr, or as a Python function of NumPy arrays), and check evaluates both on random (or given)
inputs and says whether they agree — and if not, where they differ most and by how much.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import api
from .dims import resolve_shape
from .errors import DerivativeError, TcnbError
from .expr import Expr


@dataclass
class CheckResult:
    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple
    expected: object = field(repr=False)
    got: object = field(repr=False)
    message: str = ""

    def __bool__(self):
        return self.ok

    def __str__(self):
        return self.message

    def _repr_html_(self):
        colour = "#1a7f37" if self.ok else "#cf222e"
        return f"<div style='color:{colour}'><b>{'✓' if self.ok else '✗'}</b> {self.message}</div>"


def _random_inputs(expr: Expr, sizes: dict, rng) -> dict:
    out = {}
    for v in expr.known_names:
        shape = resolve_shape(v.shape, sizes)
        out[v.name] = rng.normal(size=shape)
    return out


def check(candidate, f: Expr, wrt, order: int = 1, *, sizes: dict | None = None, seed: int = 0,
          rtol: float = 1e-7, atol: float = 1e-9, **arrays) -> CheckResult:
    """Is ``candidate`` the order-th derivative of f with respect to ``wrt``?

    candidate: source text of one expression in f's program (e.g. "-X.T @ (y * sigmoid(-y * (X @ w)))"),
    an Expr, or a callable taking the arrays as keyword arguments. Inputs: ``arrays`` where given,
    random normal arrays of ``sizes`` (e.g. sizes={"m": 6, "n": 4}) otherwise.
    """
    rng = np.random.default_rng(seed)
    if not arrays:
        if not sizes:
            raise DerivativeError("check needs arrays or sizes", expected="sizes={'n': 4, ...} or X=..., w=...")
        arrays = _random_inputs(f, sizes, rng)
    reference = np.asarray(api.derivative(f, wrt, order=order).evaluate(**arrays))
    if isinstance(candidate, str):
        candidate = _parse_in_context(candidate, f)
    if isinstance(candidate, Expr):
        got = np.asarray(candidate.evaluate(**{k: v for k, v in arrays.items()}))
    elif callable(candidate):
        got = np.asarray(candidate(**arrays), dtype=float)
    else:
        raise DerivativeError(f"cannot check a {type(candidate).__name__}",
                              expected="source text, an Expr, or a function of the arrays")
    if got.shape != reference.shape:
        msg = f"your result has shape {got.shape}, the derivative has shape {reference.shape}"
        perm = _matching_axes(got, reference, rtol, atol)
        if perm is not None:
            msg += f" — it is the derivative with its axes in the order {perm}" + _LAYOUT
        else:
            msg += _LAYOUT
        return CheckResult(False, float("inf"), float("inf"), (), reference, got, msg)
    diff = np.abs(got - reference)
    worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    max_abs = float(diff.max()) if diff.size else 0.0
    scale = float(np.abs(reference).max()) if reference.size else 0.0
    max_rel = max_abs / scale if scale else max_abs
    ok = bool(np.allclose(got, reference, rtol=rtol, atol=atol))
    if ok:
        msg = f"agrees with tcnb's derivative (max abs error {max_abs:.2e} over {reference.size} entries)"
    else:
        bad = int((~np.isclose(got, reference, rtol=rtol, atol=atol)).sum())
        where = tuple(int(i) for i in worst)
        msg = (f"differs from tcnb's derivative in {bad} of {reference.size} entries; worst at index {where}: "
               f"yours {got[worst]:.6g}, tcnb {reference[worst]:.6g}")
        if np.allclose(got, -reference, rtol=rtol, atol=atol):
            msg += " — your result is the negative of it (a sign error)"
        elif (perm := _matching_axes(got, reference, rtol, atol)) is not None:
            msg += (" — your result is its transpose" if perm == (1, 0) else
                    f" — your result is it with the axes in the order {perm}") + _LAYOUT
        elif np.allclose(got, 2 * reference, rtol=rtol, atol=atol) or np.allclose(2 * got, reference, rtol=rtol, atol=atol):
            msg += " — off by a factor of 2"
    return CheckResult(ok, max_abs, max_rel, tuple(int(i) for i in worst), reference, got, msg)


_LAYOUT = " (tcnb's layout: the output's axes first, then the variable's axes)"


def _matching_axes(got, reference, rtol, atol):
    """The axis order p (other than the identity) with got == reference.transpose(p), or None."""
    from itertools import permutations
    if got.ndim != reference.ndim or got.ndim > 6 or sorted(got.shape) != sorted(reference.shape):
        return None
    for p in permutations(range(reference.ndim)):
        if p == tuple(range(reference.ndim)):
            continue
        t = reference.transpose(p)
        if t.shape == got.shape and np.allclose(got, t, rtol=rtol, atol=atol):
            return tuple(int(a) for a in p)
    return None


def _parse_in_context(text: str, f: Expr) -> Expr:
    decls = []
    for v in sorted(f.known_names, key=lambda v: v.name):
        dims = ", ".join(str(d) for d in v.shape)
        decls.append(f"{v.name}: R[{dims}]" if v.shape else f"{v.name}: R")
    name = "_candidate"
    while any(v.name == name for v in f.known_names):
        name += "_"
    prefix = f"{name} = "
    try:
        prog = api.parse("\n".join(decls + [prefix + text]))
    except TcnbError as err:
        if err.line != len(decls) + 1 or "\n" in text:
            raise
        # point into the student's formula, not into the program check builds around it
        expected = err.expected
        if err.message.startswith("undeclared name"):
            names = ", ".join(sorted(v.name for v in f.known_names))
            expected = f"only the variables {names} (write intermediate quantities out in full)"
        col = None if err.col is None else max(err.col - len(prefix), 0)
        located = type(err).__new__(type(err))
        TcnbError.__init__(located, f"in your formula: {err.message}", col=col, source_line=text,
                           expected=expected)
        raise located from None
    return prog[name]
