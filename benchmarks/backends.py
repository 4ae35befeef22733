#!/usr/bin/env python
"""tcnb's derivatives on its backends against the frameworks' own (tcnb issue 14).

For the paper's problems, at a few sizes each (one thread per library, float64):

(a) logreg   Hessian of f(w) = sum(log(1 + exp(-y * (X @ w)))), X: 2n x n
(b) matfac   Hessian of f(U) = ||T - U Vᵀ||², U, V: n x 5, w.r.t. U (dense, (n, 5, n, 5))
(c) tanh     Jacobian of z = tanh(X @ w) w.r.t. w, X: 2n x n (a layer's Jacobian)

rows: tcnb's generated code on NumPy, on JAX (jax.jit of it), on PyTorch (eager) and, with
``--torch-compile``, on PyTorch through torch.compile; and the frameworks differentiating the same
function entry by entry: jax.jit(jax.hessian) / jax.jit(jax.jacfwd), torch.func.hessian /
torch.func.jacfwd. A cell is the minimum over the repeats of one call, after a warm-up call that
compiles (tcnb's code generation, XLA, TorchInductor); the compile time is printed apart. Every
result is checked against tcnb on NumPy (rtol 1e-8) before it is timed. The last columns are the
ratios tcnb(jax) / jax and tcnb(torch) / torch.func (below 1: tcnb is faster).

    python benchmarks/backends.py [--quick] [--sizes 10,100] [--only logreg|matfac|tanh]
                                  [--torch-compile] [--threads N] [--csv PATH]
"""
from __future__ import annotations

import os
import sys

if not any(a == "--threads" or a.startswith("--threads=") for a in sys.argv[1:]):
    sys.argv += ["--threads", "1"]  # one thread per library unless told otherwise (read by _common)
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402
import time  # noqa: E402

import _common as C  # noqa: E402  (puts the repository root on sys.path; caps the threads)
import numpy as np  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402
import torch.func  # noqa: E402

import tcnb  # noqa: E402

jax.config.update("jax_enable_x64", True)
if C.THREADS:
    torch.set_num_threads(C.THREADS)
RANK = 5

# ------------------------------------------------------------------------------------ problems
# each: tcnb source, the derivative (kind, of, wrt), the function in jax.numpy and in torch with
# w first, the data at size n, and the sizes

PROBLEMS = {
    "logreg": dict(
        title="logistic-regression Hessian (X: 2n x n)", kind="hessian",
        src="X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))", of="f", wrt="w",
        jax=lambda w, X, y: jnp.sum(jnp.log(1 + jnp.exp(-y * (X @ w)))),
        torch=lambda w, X, y: torch.sum(torch.log(1 + torch.exp(-y * (X @ w)))),
        data=lambda n, rng: {"w": rng.standard_normal(n) / np.sqrt(n), "X": rng.standard_normal((2 * n, n)),
                             "y": rng.choice([-1.0, 1.0], 2 * n)},
        sizes=(10, 100, 1000), quick=(10, 100)),
    "matfac": dict(
        title=f"matrix-factorisation Hessian w.r.t. U (T: n x n, U, V: n x {RANK})", kind="hessian",
        src="T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)", of="f", wrt="U",
        jax=lambda U, T, V: jnp.sum((T - U @ V.T) ** 2),
        torch=lambda U, T, V: torch.sum((T - U @ V.T) ** 2),
        data=lambda n, rng: {"U": rng.standard_normal((n, RANK)), "T": rng.standard_normal((n, n)),
                             "V": rng.standard_normal((n, RANK))},
        sizes=(10, 30, 100), quick=(10, 30)),
    "tanh": dict(
        title="tanh-layer Jacobian d tanh(X @ w) / dw (X: 2n x n)", kind="jacobian",
        src="X: R[m, n]\nw: R[n]\nz = tanh(X @ w)", of="z", wrt="w",
        jax=lambda w, X: jnp.tanh(X @ w),
        torch=lambda w, X: torch.tanh(X @ w),
        data=lambda n, rng: {"w": rng.standard_normal(n) / np.sqrt(n), "X": rng.standard_normal((2 * n, n))},
        sizes=(10, 100, 1000), quick=(10, 100)),
}


# ------------------------------------------------------------------------------------- methods

def tcnb_method(D, backend):
    """tcnb's compiled derivative on ``backend``, with the inputs already on it."""
    fn = D.compile(backend)
    convert = {"numpy": lambda a: a, "jax": jnp.asarray,
               "torch": torch.as_tensor, "torch-compile": torch.as_tensor}[backend]
    sync = {"jax": jax.block_until_ready}.get(backend, lambda out: out)

    def build(arrays):
        args = {k: convert(v) for k, v in arrays.items()}
        return lambda: sync(fn(**args))
    return build


def jax_method(p):
    transform = jax.hessian if p["kind"] == "hessian" else jax.jacfwd
    jitted = jax.jit(transform(p["jax"]))

    def build(arrays):
        args = [jnp.asarray(arrays[p["wrt"]])] + [jnp.asarray(v) for k, v in arrays.items() if k != p["wrt"]]
        compiled = jitted.lower(*args).compile()
        return lambda: compiled(*args).block_until_ready()
    return build


def torch_method(p):
    transform = torch.func.hessian if p["kind"] == "hessian" else torch.func.jacfwd
    fn = transform(p["torch"])

    def build(arrays):
        args = [torch.as_tensor(arrays[p["wrt"]])] + [torch.as_tensor(v) for k, v in arrays.items() if k != p["wrt"]]
        return lambda: fn(*args)
    return build


def as_numpy(out):
    if isinstance(out, torch.Tensor):
        return out.detach().cpu().numpy()
    return np.asarray(out)


# ---------------------------------------------------------------------------------------- runner

def run_cell(p, n, methods, target_s, results, name):
    """Time every method at size n; returns {method: (min_s, first_s) or an error string}."""
    rng = np.random.default_rng(n)
    arrays = p["data"](n, rng)
    out, ref = {}, None
    for label, build in methods:
        try:
            t0 = time.perf_counter()
            call = build(arrays)      # (jax.jit(...).lower().compile() happens here)
            value = call()            # (tcnb: code generation, and its jit on JAX / torch.compile)
            first = time.perf_counter() - t0
            value = np.asarray(as_numpy(value), dtype=np.float64)
            if ref is None:
                ref = value
            ok = value.shape == ref.shape and np.allclose(value, ref, rtol=1e-8,
                                                          atol=1e-10 * max(1.0, float(np.abs(ref).max())))
            if not ok:
                out[label] = "ERROR: differs from tcnb (numpy)"
                results.add(experiment=name, quantity=p["kind"], n=n, method=label, status="error",
                            note=out[label])
                continue
            t = C.measure(call, target_s=target_s, first_s=None)
            out[label] = (t["min"], first)
            results.add(experiment=name, quantity=p["kind"], n=n, method=label, status="ok",
                        median_s=t["median"], min_s=t["min"], number=t["number"], repeats=t["repeats"],
                        note=f"first call {first:.3g} s")
        except Exception as exc:  # noqa: BLE001 - one method's failure is a cell, not the end
            out[label] = f"ERROR: {type(exc).__name__}: {str(exc)[:120]}"
            results.add(experiment=name, quantity=p["kind"], n=n, method=label, status="error", note=out[label])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="two small sizes, short timing")
    ap.add_argument("--sizes", help="comma-separated sizes n (instead of each problem's own)")
    ap.add_argument("--only", choices=sorted(PROBLEMS), action="append", help="run only these problems")
    ap.add_argument("--torch-compile", action="store_true",
                    help="also time backend='torch-compile' (TorchInductor: its first call per size takes seconds)")
    ap.add_argument("--threads", type=int, help="threads per library (default 1; read before imports)")
    ap.add_argument("--csv", help="also write the rows as CSV")
    args = ap.parse_args(argv)
    target_s = 0.1 if args.quick else 0.4
    print(C.machine_line())
    print(f"jax {jax.__version__}, torch {torch.__version__}, threads per library: {C.THREADS or 'not capped'}")
    C.warn_if_busy()
    results = C.Results()
    errors = 0
    for name in args.only or list(PROBLEMS):
        p = PROBLEMS[name]
        prog = tcnb.parse(p["src"])
        f = prog[p["of"]]
        t0 = time.perf_counter()
        D = tcnb.hessian(f, p["wrt"]) if p["kind"] == "hessian" else tcnb.jacobian(f, p["wrt"])
        derive_s = time.perf_counter() - t0
        ours = ["numpy", "jax", "torch"] + (["torch-compile"] if args.torch_compile else [])
        base = "jax.jit(jax.hessian)" if p["kind"] == "hessian" else "jax.jit(jax.jacfwd)"
        tbase = "torch.func.hessian" if p["kind"] == "hessian" else "torch.func.jacfwd"
        methods = [(f"tcnb ({b})", tcnb_method(D, b)) for b in ours] + [(base, jax_method(p)), (tbase, torch_method(p))]
        sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (p["quick"] if args.quick else p["sizes"])
        rows, firsts = [], []
        for n in sizes:
            cell = run_cell(p, n, methods, target_s, results, name)
            row, first = [str(n)], [str(n)]
            for label, _ in methods:
                v = cell[label]
                row.append(C.fmt_time(v[0]) if isinstance(v, tuple) else v)
                first.append(C.fmt_time(v[1]) if isinstance(v, tuple) else "-")
                errors += not isinstance(v, tuple)
            for mine, theirs in (("tcnb (jax)", base), ("tcnb (torch)", tbase)):
                a, b = cell[mine], cell[theirs]
                row.append(C.fmt_ratio(a[0] / b[0]) if isinstance(a, tuple) and isinstance(b, tuple) else "-")
            rows.append(row)
            firsts.append(first)
        headers = ["n"] + [label for label, _ in methods] + ["tcnb(jax)/jax", "tcnb(torch)/torch.func"]
        C.print_table(headers, rows, title=f"({name}) {p['title']}: min time per call "
                                           f"(tcnb's mode: {D.mode}; derivation {derive_s * 1e3:.0f} ms, once)")
        C.print_table(["n"] + [label for label, _ in methods], firsts,
                      title=f"({name}) first call (code generation / XLA / inductor compile + one run)")
    if args.csv:
        results.write_csv(args.csv)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
