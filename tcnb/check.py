"""``tcnb.check``: compare a derivative you worked out by hand with tcnb's, numerically.

For teaching: a student writes their formula for a gradient or Hessian (in the tensor language, as
an Expr, or as a Python function of NumPy arrays), and check evaluates both on random (or given)
inputs and says whether they agree — and if not, where they differ most and by how much.
"""
from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from . import api
from .config import config, human_bytes
from .dims import resolve_shape
from .errors import DerivativeError, MemoryBudgetError, ShapeError, TcnbError
from .expr import Expr


@dataclass
class CheckResult:
    """The outcome of check(): true when the symbolic and the reference values agree.

    The errors, the worst index and both values are kept so a failure can be inspected.
    """
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


def _positive_sizes(sizes) -> dict:
    if not isinstance(sizes, Mapping):
        raise ShapeError(f"sizes must map dimension names to sizes, got {type(sizes).__name__}",
                         expected="sizes={'m': 6, 'n': 4}")
    for name, size in sizes.items():
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ShapeError(f"size {name}={size!r}: a size is a positive integer", expected="sizes={'m': 6, 'n': 4}")
    return {str(name): int(size) for name, size in sizes.items()}


def _random_inputs(expr: Expr, sizes: dict, rng) -> dict:
    """Standard normal arrays for expr's variables; refused past the memory budget before allocating."""
    shapes = {v.name: resolve_shape(v.shape, sizes) for v in expr.known_names}
    total = 0
    for name, shape in shapes.items():
        if any(d < 0 for d in shape):
            raise ShapeError(f"with these sizes {name} would have the shape {shape}", expected="larger sizes")
        total += 8 * math.prod(shape)
    if total > config.memory_budget:
        raise MemoryBudgetError(f"the random inputs would take {human_bytes(total)}, over the memory budget "
                                f"of {human_bytes(config.memory_budget)}", expected="smaller sizes")
    return {name: rng.normal(size=shape) for name, shape in sorted(shapes.items())}


def _tolerance(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise DerivativeError(f"{name} must be a non-negative number, got {value!r}")
    return float(value)


def _call(candidate, arrays: dict) -> np.ndarray:
    """The student's function applied to the arrays (its own errors are its own: they propagate)."""
    try:
        inspect.signature(candidate).bind(**arrays)
    except TypeError as exc:
        raise DerivativeError(f"your function cannot take the arrays as keyword arguments ({exc})",
                              expected=f"def candidate({', '.join(arrays)}): ...") from None
    except ValueError:  # no signature to inspect (some builtins): just call it
        pass
    out = candidate(**arrays)
    try:
        if out is None:
            raise TypeError
        return np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        raise DerivativeError(f"your function returned {type(out).__name__}, not an array of numbers") from None


def check(candidate, f: Expr, wrt, order: int = 1, *, sizes: dict | None = None, seed: int = 0,
          rtol: float = 1e-7, atol: float = 1e-9, **arrays) -> CheckResult:
    """Is ``candidate`` the order-th derivative of f with respect to ``wrt``?

    candidate: source text of one expression in f's program (e.g. "-X.T @ (y * sigmoid(-y * (X @ w)))"),
    an Expr, or a callable taking the arrays as keyword arguments. Inputs: ``arrays`` where given,
    random normal arrays of ``sizes`` (e.g. sizes={"m": 6, "n": 4}) otherwise. Bad arguments raise a
    TcnbError; only the candidate function's own exceptions propagate as they are.
    """
    derivative = api.derivative(f, wrt, order=order)  # checks f, wrt and order first
    rtol, atol = _tolerance(rtol, "rtol"), _tolerance(atol, "atol")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise DerivativeError(f"seed must be an integer, got {seed!r}")
    rng = np.random.default_rng(int(seed) % 2**64)
    if not arrays:
        if not sizes:
            raise DerivativeError("check needs arrays or sizes", expected="sizes={'n': 4, ...} or X=..., w=...")
        arrays = _random_inputs(f, _positive_sizes(sizes), rng)
    reference = np.asarray(derivative.evaluate(**arrays))
    if isinstance(candidate, str):
        candidate = _parse_in_context(candidate, f)
    if isinstance(candidate, Expr):
        got = np.asarray(candidate.evaluate(**{k: v for k, v in arrays.items()}))
    elif callable(candidate):
        got = _call(candidate, arrays)
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
        decls.append(v.declaration())
    name = "_candidate"
    while any(v.name == name for v in f.known_names):
        name += "_"
    prefix = f"{name} = "
    try:
        prog = api.parse("\n".join(decls + [prefix + text]))
    except TcnbError as err:
        if err.line is None or err.line <= len(decls):
            raise
        # point into the student's formula, not into the program check builds around it
        expected = err.expected
        if err.message.startswith("undeclared name"):
            names = ", ".join(sorted(v.name for v in f.known_names))
            expected = f"only the variables {names} (write intermediate quantities out in full)"
        k = err.line - len(decls)  # the line of the formula, 1-based
        shift = len(prefix) if k == 1 else 0
        col = None if err.col is None else max(err.col - shift, 0)
        lines = text.splitlines() or [""]
        located = type(err).__new__(type(err))
        TcnbError.__init__(located, f"in your formula: {err.message}", line=k if len(lines) > 1 else None,
                           col=col, source_line=lines[min(k, len(lines)) - 1], expected=expected)
        raise located from None
    return prog[name]
