#!/usr/bin/env python
"""Applied inverses as solves (issue 13): the same derivative code with and without the lowering.

Derivatives through ``solve``, ``inv`` and ``logdet`` are written with A⁻¹; tcnb's generated code
solves with A or Aᵀ where the inverse is only applied (tcnb/backend/solves.py). Timed here, each in
one run at each n (one thread, cross-country mode): the gradient of Σ sin(solve(A, b)) ⊙ c by A and
by b, and the HVP of log det A in a direction V (which keeps its inverse: applied to a matrix,
solves cost more) — tcnb's code, the code generated without the
lowering (explicit inverse, and the inverse-based singularity check); and the backward error of
``inv(A) @ b`` both ways on an ill-conditioned A (no real difference measured: NumPy's inverse
is backward stable enough there; the gain is speed). Printed: times and the ratio lowered / explicit.

    python benchmarks/solves.py [--quick] [--sizes 200,1000,2000] [--threads N]
"""
from __future__ import annotations

import argparse

import _common as C  # noqa: E402  (puts the repository root on sys.path)
import numpy as np

import tcnb
from tcnb.backend.codegen import generate, load

PROGRAM = """
A: R[n, n]
b: R[n]
c: R[n]
V: R[n, n]
f = sum(sin(solve(A, b)) * c)
g = logdet(A)
"""


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return dict(A=rng.standard_normal((n, n)) + np.sqrt(n) * np.eye(n), b=rng.standard_normal(n),
                c=rng.standard_normal(n), V=rng.standard_normal((n, n)))


def explicit(expr, n):
    """expr's code generated without the lowering: the inverse formed, as before."""
    fn = expr.compile()
    gen = generate([expr.node], fn.vars, {"n": n})
    raw = load(gen, "explicit")
    return lambda **a: raw(np, fn.runtime, np.float64, *[a[v] for v in gen.arg_names])[0], gen.arg_names


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing (CI smoke)")
    ap.add_argument("--sizes", default="200,1000,2000")
    ap.add_argument("--threads", type=int, help="cap BLAS/OpenMP threads")
    args = ap.parse_args(argv)
    target = 0.1 if args.quick else 0.5
    print(f"tcnb {tcnb.__version__} applied inverses as solves — {C.machine_line()}")
    C.warn_if_busy()
    prog = tcnb.parse(PROGRAM)
    cases = {"∇_A Σ sin(solve(A,b))c": tcnb.grad(prog["f"], "A"),
             "∇_b Σ sin(solve(A,b))c": tcnb.grad(prog["f"], "b"),
             "HVP of log det A": tcnb.hvp(prog["g"], "A", prog["V"])}
    errors = 0
    print(f"{'n':>6}  {'derivative':<24} {'tcnb (solves)':>14} {'explicit inv':>13} {'ratio':>7}")
    for n in [int(s) for s in args.sizes.split(",")]:
        arrays = data(n)
        for label, D in cases.items():
            fast = D.compile()
            slow, names = explicit(D, n)
            a = {k: arrays[k] for k in names}
            got, ref = fast(**a), slow(**a)
            if not np.allclose(got, ref, rtol=1e-8, atol=1e-10 * np.abs(ref).max()):
                print(f"ERROR: {label} at n = {n}: the lowered code differs from the explicit one")
                errors += 1
            t_fast = C.measure(lambda: fast(**a), target)["median"]
            t_slow = C.measure(lambda: slow(**a), target)["median"]
            print(f"{n:>6}  {label:<24} {C.fmt_time(t_fast):>14} {C.fmt_time(t_slow):>13} {t_fast / t_slow:>7.2f}")
    # accuracy: an ill-conditioned system, the solve's residual against the inverse's
    n = 300
    rng = np.random.default_rng(1)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = U @ np.diag(np.logspace(0, -11, n)) @ U.T
    b = rng.standard_normal(n)
    h = tcnb.parse("A: R[n, n]\nb: R[n]\nx = inv(A) @ b")["x"]
    x_solve = h.evaluate(A=A, b=b)
    x_inv = np.linalg.inv(A) @ b
    res = [np.linalg.norm(A @ x - b) / (np.linalg.norm(A, 2) * np.linalg.norm(x)) for x in (x_solve, x_inv)]
    print(f"\ninv(A) @ b at n = {n}, cond(A) = 1e11: backward error ‖Ax − b‖/(‖A‖‖x‖) tcnb (solve) "
          f"{res[0]:.1e}, explicit inverse {res[1]:.1e}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
