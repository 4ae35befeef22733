#!/usr/bin/env python
"""The 10-layer ReLU net's Hessian w.r.t. W1 as the paper's third-order form (tcnb issue 15, part 4).

H[i,j,k,l] = Σ_b X[b,i] X[b,k] M[b,j,l]: two data factors and a b×n×n core. Printed, measured in one
run, single-threaded (OMP/OpenBLAS/MKL = 1, XLA on one thread, unless --threads says otherwise),
each time the minimum of several repeats (the machine is shared): the stored bytes of
``H.structured`` against the dense n⁴ array; the time of building the structured form; of the dense
Hessian through it (build + ``.dense()``); of tcnb's dense evaluation (``H.evaluate``, compressed
expression); of ``jax.jit(jax.hessian)``; and of the hand-written closed form (cores, then one GEMM).
Every method's dense result is checked against JAX before it is timed; the methods of one size are
timed in turns, round after round, so that a change of load hits them alike.

    python benchmarks/relu_core.py [--sizes 32,64] [--modes forward,reverse,cross-country] [--repeats 7]
"""
from __future__ import annotations

import os
import sys

if not any(a.startswith("--threads") for a in sys.argv[1:]):  # one thread unless told; before NumPy/JAX
    sys.argv[1:1] = ["--threads", "1"]
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import time  # noqa: E402

import _common as C  # noqa: E402  (caps the threads, puts the repository root on sys.path)
import numpy as np  # noqa: E402

import paper  # noqa: E402
import tcnb  # noqa: E402

MODES = ["forward", "reverse", "cross-country"]


def batch(call) -> int:
    """Calls per sample so that one sample takes at least ~20 ms (after a warm-up call)."""
    call()
    t0 = time.perf_counter()
    call()
    return max(1, int(0.02 / max(time.perf_counter() - t0, 1e-7)))


def best_of(calls: dict, repeats: int) -> dict:
    """name -> the minimum seconds per call over ``repeats`` rounds, each round timing every call
    once in turn (so a change in the machine's load hits all of them alike)."""
    numbers = {k: batch(c) for k, c in calls.items()}
    best = {k: float("inf") for k in calls}
    for _ in range(repeats):
        for k, call in calls.items():
            t0 = time.perf_counter()
            for _ in range(numbers[k]):
                call()
            best[k] = min(best[k], (time.perf_counter() - t0) / numbers[k])
    return best


def jax_hessian(ctx):
    """A zero-argument callable: jax.jit(jax.hessian) of the same net, compiled for ctx's shapes."""
    jax, jnp = paper.jax, paper.jnp
    if jax is None:
        return None

    names = ["W1", "X", "Y"] + [f"W{i}" for i in range(2, paper.L_LAYERS + 1)]
    args = [jnp.asarray(ctx.arrays[a]) for a in names]
    compiled = jax.jit(jax.hessian(paper.relu_jax_net)).lower(*args).compile()
    return lambda: compiled(*args).block_until_ready()


def check(name, got, want, errors):
    err = float(np.max(np.abs(np.asarray(got) - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    if err > 1e-8 * scale:
        errors.append(f"{name}: max abs error {err:.3g} against jax.hessian")
        return False
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="32,64")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    modes = args.modes.split(",")
    tcnb.config.memory_budget = 4 * C.GiB

    print(f"tcnb {tcnb.__version__} — ReLU net Hessian w.r.t. W1 ({paper.L_LAYERS} layers, batch "
          f"{paper.BATCH}) as Σ_b X[b,i] X[b,k] M[b,j,l] — {C.machine_line()}")
    print(f"jax {paper.jax.__version__}" if paper.jax else paper.JAX_ERR)
    print(f"each time: min over {args.repeats} rounds (every method timed once per round, in turn)")
    C.warn_if_busy()
    prog = tcnb.parse(paper.relu_program())
    f, W1 = prog["f"], prog["W1"]
    Hs = {m: tcnb.hessian(f, W1, mode=m) for m in modes}
    rows, errors = [], []
    for n in sizes:
        ctx = paper.relu_data(n)
        a = ctx.arrays
        jcall = jax_hessian(ctx)
        want = np.asarray(jcall()) if jcall else paper.relu_closed_dense(paper.relu_closed_cores(a))
        calls = {"closed": lambda: paper.relu_closed_dense(paper.relu_closed_cores(a))}
        if jcall:
            calls["jax"] = jcall
        stored = {}
        for m in modes:
            H, fn = Hs[m], Hs[m].compile()
            S = H.structured(**a)
            ok = check(f"n={n} {m} structured().dense()", S.dense(), want, errors)
            ok &= check(f"n={n} {m} evaluate", fn(**a), want, errors)
            if not ok:
                continue
            stored[m] = S.nbytes
            calls[(m, "build")] = lambda H=H: H.structured(**a)
            calls[(m, "dense")] = lambda H=H: H.structured(**a).dense()
            calls[(m, "evaluate")] = lambda fn=fn: fn(**a)
            print(f"  n={n} {m}: {S.pattern_str()}", flush=True)
        t = best_of(calls, args.repeats)
        t_jax = t.get("jax")
        dense_b = n ** 4 * 8
        for m in stored:
            rows.append([n, m, C.fmt_bytes(stored[m]), C.fmt_bytes(dense_b), f"{dense_b / stored[m]:.0f}x",
                         C.fmt_time(t[(m, "build")]), C.fmt_time(t[(m, "dense")]), C.fmt_time(t[(m, "evaluate")]),
                         C.fmt_time(t_jax) if t_jax else "-", C.fmt_time(t["closed"]),
                         f"{t[(m, 'dense')] / t_jax:.2f}" if t_jax else "-"])
    C.print_table(["n", "mode", "stored", "dense", "smaller", "structured build", "dense via structured",
                   "tcnb evaluate", "jax.jit(jax.hessian)", "closed form", "via structured / jax"],
                  rows, title="ReLU net Hessian: compressed storage and dense evaluation (min times)")
    for e in errors:
        print("ERROR " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
