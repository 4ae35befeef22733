#!/usr/bin/env python
"""Evaluation overhead of tcnb's compiled functions (issue 2).

The logistic-regression objective and its closed-form gradient, written as tcnb programs, are
compiled once and timed against the same computation written by hand in NumPy, at n = 10, 100, 1000
(X: m x n with m = 2n). Printed per point: the median time of each, the ratio tcnb / NumPy, and the
per-call overhead (tcnb - NumPy) in µs. Goals (issue 2): ratio <= 1.2 at n >= 100, overhead <= 20 µs
at n = 10.

    python benchmarks/overhead.py [--quick] [--sizes 10,100,1000] [--csv PATH]
"""
from __future__ import annotations

import argparse
import sys

import _common as C  # noqa: E402  (puts the repository root on sys.path)
import numpy as np

import tcnb

PROGRAM = """
X: R[m, n]
y: R[m]
w: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
g = -(X.T @ (y * sigmoid(-y * z)))
gi[i] = -X[k, i] * y[k] * sigmoid(-y[k] * z[k])
"""


def np_f(X, y, w):
    return np.sum(np.log(1 + np.exp(-y * (X @ w))))


def np_g(X, y, w):
    t = -y * (X @ w)
    return -(X.T @ (y * (1 / (1 + np.exp(-t)))))


CASES = [  # (label, tcnb name, hand-written NumPy)
    ("f  = sum(log(1 + exp(-y * (X @ w))))", "f", np_f),
    ("g  = -(X.T @ (y * sigmoid(-y * (X @ w))))", "g", np_g),
    ("gi[i] = -X[k,i] y[k] sigmoid(-y[k] z[k])", "gi", np_g),
]


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    m = 2 * n
    X = rng.standard_normal((m, n))
    y = rng.choice([-1.0, 1.0], size=m)
    w = rng.standard_normal(n) / np.sqrt(n)
    return dict(X=X, y=y, w=w)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing (CI smoke)")
    ap.add_argument("--sizes", default="10,100,1000", help="comma-separated n (default 10,100,1000)")
    ap.add_argument("--threads", type=int, help="cap BLAS/OpenMP/XLA/torch threads (steadier timings "
                    "on a busy machine)")
    ap.add_argument("--csv", help="write a tidy CSV of all points to this path")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    target = 0.1 if args.quick else 0.4

    print(f"tcnb {tcnb.__version__} evaluation overhead — {C.machine_line()}")
    print("median over timeit repeats (NumPy and tcnb alternated in 5 rounds); ratio = tcnb / NumPy "
          "(medians); overhead = tcnb - NumPy per call, from the medians and from the minima")
    C.warn_if_busy()
    prog = tcnb.parse(PROGRAM)
    fns = {name: prog[name].compile() for _, name, _ in CASES}
    res = C.Results()
    errors = 0

    # correctness first, at a small size; a mismatching case is reported and not timed
    ok = {}
    small = data(7, seed=1)
    for label, name, ref in CASES:
        try:
            got, want = fns[name](**small), ref(**small)
            ok[name] = bool(np.allclose(got, want, rtol=1e-10, atol=1e-12))
            if not ok[name]:
                print(f"ERROR: {name}: tcnb and NumPy differ (max abs err {np.max(np.abs(got - want)):.3g})")
        except Exception as exc:  # noqa: BLE001 - report whatever tcnb raised
            ok[name] = False
            print(f"ERROR: {name}: {type(exc).__name__}: {exc}")
    errors += sum(not v for v in ok.values())

    table = []
    for n in sizes:
        arrays = data(n)
        for label, name, ref in CASES:
            if not ok[name]:
                table.append([name, n, "-", "-", "ERROR (mismatch, not timed)", "-", "-", ""])
                res.add(experiment="overhead", quantity=name, n=n, method="tcnb", status="error")
                continue
            fn = fns[name]
            got = fn(**arrays)  # warm-up: plans and caches the code for this shape
            want = ref(**arrays)
            if not np.allclose(got, want, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(want))))):
                print(f"ERROR: {name} at n={n}: tcnb and NumPy differ "
                      f"(max abs err {np.max(np.abs(got - want)):.3g}); not timed")
                errors += 1
                table.append([name, n, "-", "-", "ERROR (mismatch, not timed)", "-", "-", ""])
                continue
            # alternate NumPy and tcnb (5 rounds) so a change in machine load hits both alike
            t_np, t_tc = C.measure_interleaved([lambda: ref(**arrays), lambda: fn(**arrays)], 2 * target,
                                               rounds=5)
            ratio = t_tc["median"] / t_np["median"]
            over = (t_tc["median"] - t_np["median"]) * 1e6
            over_min = (t_tc["min"] - t_np["min"]) * 1e6
            goal = ""
            if n >= 100:
                goal = "ok" if ratio <= 1.2 else "MISSED (goal <= 1.2x)"
            elif n <= 10:
                goal = "ok" if over <= 20 else "MISSED (goal <= 20 µs)"
            table.append([name, n, C.fmt_time(t_np["median"]), C.fmt_time(t_tc["median"]),
                          C.fmt_ratio(ratio), f"{over:.1f}", f"{over_min:.1f}", goal])
            res.add(experiment="overhead", quantity=name, n=n, method="numpy", status="ok",
                    median_s=t_np["median"], min_s=t_np["min"], number=t_np["number"], repeats=t_np["repeats"])
            res.add(experiment="overhead", quantity=name, n=n, method="tcnb", status="ok",
                    median_s=t_tc["median"], min_s=t_tc["min"], number=t_tc["number"], repeats=t_tc["repeats"],
                    ratio=ratio, ratio_to="numpy", note=f"overhead_us={over:.2f}; overhead_us_from_min={over_min:.2f}")
    for label, name, _ in CASES:
        print(f"  {name:3s}: {label}")
    C.print_table(["expr", "n", "NumPy", "tcnb", "ratio", "overhead µs", "(from mins)", "goal"], table,
                  title="Logistic regression objective and gradient: tcnb compiled vs hand-written NumPy")
    if args.csv:
        res.write_csv(args.csv)
        print(f"\nwrote {args.csv}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
