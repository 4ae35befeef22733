#!/usr/bin/env python
"""Parts of a Hessian without the whole (issue 15): the diagonal and trace versus a gradient.

Logistic regression (X: m x n, m = 2n): tcnb's Hessian diagonal (``hessian(f, w).diagonal()``, the
tie pushed into the expression: Σₘ X²ₘᵢ dₘ), its trace (the Laplacian), the gradient, and the full
Hessian, each compiled once; closed-form NumPy of the diagonal (``(X * X).T @ d``), and JAX's
diagonal (``jnp.diag(jax.hessian(f))`` under jit — JAX has no cheaper way without structure).
Printed: median times and the ratio diagonal / gradient (goal at n = 4000: ≤ ~3), per mode.

    python benchmarks/parts.py [--quick] [--sizes 100,1000,4000] [--threads N]
"""
from __future__ import annotations

import argparse
import sys

import _common as C  # noqa: E402  (puts the repository root on sys.path)
import numpy as np

import tcnb
import tcnb.errors

PROGRAM = """
X: R[m, n]
y: R[m]
w: R[n]
f = sum(log(1 + exp(-y * (X @ w))))
"""
MODES = ("forward", "reverse", "cross-country")


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    m = 2 * n
    return dict(X=rng.standard_normal((m, n)), y=rng.choice([-1.0, 1.0], size=m),
                w=rng.standard_normal(n) / np.sqrt(n))


def np_diag(X, y, w):
    s = 1 / (1 + np.exp(-y * (X @ w)))
    return (X * X).T @ (y * y * s * (1 - s))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing (CI smoke)")
    ap.add_argument("--sizes", default="100,1000,4000")
    ap.add_argument("--threads", type=int, help="cap BLAS/OpenMP/XLA threads")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    target = 0.1 if args.quick else 0.4
    print(f"tcnb {tcnb.__version__} parts of a Hessian — {C.machine_line()}")
    C.warn_if_busy()
    prog = tcnb.parse(PROGRAM)
    f = prog["f"]
    fns = {}
    for mode in MODES:
        H = tcnb.hessian(f, "w", mode=mode)
        fns[mode] = {"gradient": tcnb.grad(f, "w", mode=mode).compile(), "diagonal": H.diagonal().compile(),
                     "trace": H.trace().compile(), "hessian": H.compile()}
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy

        def jf(X, y, w):
            return jnp.sum(jnp.logaddexp(0.0, -y * (X @ w)))
        jax_diag = jax.jit(lambda X, y, w: jnp.diag(jax.hessian(jf, argnums=2)(X, y, w)))
    except ImportError:
        jax_diag = None
    errors = 0
    small = data(9, seed=1)
    for mode in MODES:
        got = fns[mode]["diagonal"](**small)
        if not np.allclose(got, np_diag(**small), rtol=1e-10):
            print(f"ERROR: {mode}: the diagonal differs from the closed form")
            errors += 1
        if not np.isclose(fns[mode]["trace"](**small), np.sum(np_diag(**small)), rtol=1e-10):
            print(f"ERROR: {mode}: the trace differs from the closed form")
            errors += 1
    table = []
    for n in sizes:
        arrays = data(n)
        t_np = C.measure(lambda: np_diag(**arrays), target)["median"]
        row_jax = "-"
        if jax_diag is not None and n <= 2000:
            jargs = [jax.device_put(arrays[k]) for k in ("X", "y", "w")]
            jax_diag(*jargs).block_until_ready()
            row_jax = C.fmt_time(C.measure(lambda: jax_diag(*jargs).block_until_ready(), target)["median"])
        elif jax_diag is not None:
            row_jax = "skipped (n×n Hessian)"
        for mode in MODES:
            times = {}
            for what in ("gradient", "diagonal", "trace", "hessian"):
                fn = fns[mode][what]
                if what == "hessian" and n > 2000:
                    times[what] = None
                    continue
                try:
                    fn(**arrays)
                except tcnb.errors.MemoryBudgetError as exc:
                    times[what] = "refused: " + str(exc).split(" = ")[-1].split(",")[0]
                    continue
                times[what] = C.measure(lambda: fn(**arrays), target)["median"]
            cell = lambda t: "skipped" if t is None else (t if isinstance(t, str) else C.fmt_time(t))
            ok = all(isinstance(times[k], float) for k in ("diagonal", "gradient"))
            ratio = times["diagonal"] / times["gradient"] if ok else None
            goal = ("ok" if ratio <= 3 else "MISSED (goal <= 3x)") if n >= 4000 and ok else ""
            table.append([n, mode, cell(times["gradient"]), cell(times["diagonal"]), cell(times["trace"]),
                          cell(times["hessian"]),
                          C.fmt_time(t_np), row_jax, C.fmt_ratio(ratio) if ok else "-", goal])
    C.print_table(["n", "mode", "gradient", "diagonal", "trace", "full Hessian", "NumPy diag", "JAX diag",
                   "diag/grad", "goal"], table,
                  title="Logistic regression (m = 2n): Hessian diagonal and trace vs gradient")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
