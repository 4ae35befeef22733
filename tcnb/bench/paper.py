"""The paper's three experiments (Laue, Mitterreiter, Giesen, AAAI 2020, Figure 3) with tcnb.bench.

    python -m tcnb.bench.paper [--quick] [--out DIR] [--only logreg,matfac,relu_net]
                               [--backends numpy,cupy,jax,torch] [--baselines autograd,jax,torch]
                               [--time-budget S] [--memory-budget 8GB] [--threads 1|N|all]
                               [--no-progress]

1. logreg   — Hessian of logistic regression  f(w) = Σ log(1 + exp(-y ⊙ Xw)),  X ∈ R^{m×n}, m = 2n
2. matfac   — Hessian w.r.t. U of matrix factorisation  f(U) = ‖T − U Vᵀ‖²_F,  T ∈ R^{n×n}, k = 5
3. relu_net — Hessian w.r.t. the first layer's weights W1 ∈ R^{n×n} of a 10-layer ReLU net
              (9 hidden ReLU layers of width n, a linear output layer of c = 10 classes, batch b = 8)
              with softmax cross-entropy, written as Σ logsumexp(Z, 1) − Σ Y ⊙ Z for one-hot Y.

Each is a tcnb program; tcnb's Hessian runs on every available backend (NumPy; CuPy with a GPU; JAX
and PyTorch where installed: rows "tcnb (jax)", "tcnb (torch)"; ``--backends ...,dask`` adds
"tcnb (dask)", whose time at these in-memory sizes is Dask's per-task overhead) and
autograd / JAX / PyTorch differentiate the same expression (baselines generated from tcnb's own code;
on a GPU machine JAX and PyTorch also run on the GPU). Writes into ``--out`` (default
benchmarks/results/): ``bench_<experiment>.csv`` and ``.png`` per experiment, ``bench_paper.png``
(the three side by side) and ``bench_machine.txt`` (what it ran on); prints each experiment's table
of times with the ratio to tcnb (NumPy).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .compare import compare as _compare_fn
from .compare import new_figure
from .timing import machine, machine_str

LAYERS = 10


def _relu_net_source(layers: int = LAYERS) -> str:
    lines = ["X: R[b, n]", "Y: R[b, c]"]
    lines += [f"W{i}: R[n, n]" for i in range(1, layers)] + [f"W{layers}: R[c, n]"]
    lines.append("H1 = relu(X @ W1.T)")
    lines += [f"H{i} = relu(H{i - 1} @ W{i}.T)" for i in range(2, layers)]
    lines.append(f"Z = H{layers - 1} @ W{layers}.T")
    lines.append("f = sum(logsumexp(Z, 1)) - sum(Y * Z)")
    return "\n".join(lines) + "\n"


EXPERIMENTS = {
    "logreg": {
        "title": "logistic regression, Hessian w.r.t. w",
        "source": "X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(exp(-y * (X @ w)) + 1))\n",
        "wrt": "w",
        "sizes": {"n": [10, 30, 100, 300, 1000, 3000], "m": "2*n"},
        "quick": {"n": [10, 30, 100, 300], "m": "2*n"},
        "inputs": {"y": "pm1"},
    },
    "matfac": {
        "title": "matrix factorisation (k = 5), Hessian w.r.t. U",
        "source": "T: R[n, n]\nU: R[n, k]\nV: R[n, k]\nf = sum((T - U @ V.T) ** 2)\n",
        "wrt": "U",
        "sizes": {"n": [10, 30, 100, 300, 1000], "k": 5},
        "quick": {"n": [10, 30, 100], "k": 5},
        "inputs": {},
    },
    "relu_net": {
        "title": f"{LAYERS}-layer ReLU net + softmax CE, Hessian w.r.t. W1",
        "source": _relu_net_source(),
        "wrt": "W1",
        "sizes": {"n": [4, 8, 16, 32, 64], "b": 8, "c": 10},
        "quick": {"n": [4, 8, 16], "b": 8, "c": 10},
        "inputs": {"Y": "onehot", "W*": "scaled"},
    },
}


def run(names=None, quick=False, out=None, backends=("numpy", "cupy", "jax", "torch"), baselines=("autograd", "jax", "torch"),
        time_budget_s=None, memory_budget=None, progress=True, sizes=None, target_s=None,
        threads: int | None = 1) -> dict:
    """Run the experiments; returns {name: BenchResult}. Writes files when ``out`` is given.
    ``threads``: as in :func:`tcnb.bench.compare` (1: single-core speed; None: the libraries' own)."""
    import tcnb
    names = list(names or EXPERIMENTS)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise SystemExit(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    if time_budget_s is None:
        time_budget_s = 2.0 if quick else 20.0
    if target_s is None:
        target_s = 0.1 if quick else 0.5
    results = {}
    for name in names:
        exp = EXPERIMENTS[name]
        prog = tcnb.parse(exp["source"])
        sz = (sizes or {}).get(name) or (exp["quick"] if quick else exp["sizes"])
        res = _compare_fn(prog["f"], wrt=exp["wrt"], kind="hessian", sizes=sz, backends=backends,
                               baselines=baselines, time_budget_s=time_budget_s,
                               memory_budget=memory_budget, target_s=target_s, inputs=exp["inputs"],
                               threads=threads, progress=progress)
        res.meta["experiment"] = name
        res.meta["title"] = exp["title"]
        results[name] = res
        print(f"\n== {name}: {exp['title']}  ({res.meta['wall_s']:.1f} s)")
        print(res.context())
        print(res.table())
        for note in res.notes + [f"caution: {c}" for c in res.caveats]:
            print("   " + note)
        if out:
            os.makedirs(out, exist_ok=True)
            res.to_csv(os.path.join(out, f"bench_{name}.csv"))
            res.savefig(os.path.join(out, f"bench_{name}.png"), title=exp["title"], dpi=120)
    if out:
        _write_summary(results, out)
    return results


def figure(results: dict, *, pyplot: bool = True):
    """The experiments side by side (like the paper's Figure 3), as one matplotlib Figure (through
    pyplot, so a notebook shows it; ``pyplot=False`` for writing files)."""
    k = len(results)
    fig, axes = new_figure((5.2 * k, 4.4), ncols=max(k, 1), pyplot=pyplot)
    for ax, (name, res) in zip(axes, results.items()):
        res.plot(ax=ax, title=res.meta.get("title", name))
    info = next(iter(results.values())).meta.get("machine") if results else None
    if info:
        fig.suptitle(machine_str(info), fontsize="small")
    return fig


def ratio_table(results: dict) -> str:
    """Per experiment and size: how many times slower than tcnb (NumPy) each other line is."""
    lines = []
    for name, res in results.items():
        ref = res.reference_label()
        rat = res.ratios(ref)
        xs = res.xs
        lines.append(f"{name} (time / {ref})")
        head = ["  " + (res.meta.get("x_name") or "size") + " ="] + [str(x) for x in xs]
        rows = [head]
        for label in res.labels:
            if label == ref:
                continue
            row = ["  " + label]
            for x in xs:
                q = rat.get(label, {}).get(x)
                r = res.get(label, x)
                row.append(f"{q:.3g}" if q is not None else (r["status"] if r else ""))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        for r in rows:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def _write_summary(results, out):
    fig = figure(results, pyplot=False)
    fig.savefig(os.path.join(out, "bench_paper.png"), dpi=120)
    info = machine()
    try:
        import importlib.metadata as md
        for pkg in ("jax", "torch", "autograd", "cupy", "cupy-cuda12x", "cupy-cuda13x"):
            try:
                info[pkg] = md.version(pkg)
            except md.PackageNotFoundError:
                pass
    except ImportError:  # pragma: no cover
        pass
    for name, res in results.items():  # what each experiment ran with
        info[f"{name}_threads"] = res.meta.get("threads")
        info[f"{name}_load"] = res.meta.get("load")
    with open(os.path.join(out, "bench_machine.txt"), "w") as fh:
        fh.write(machine_str(info) + "\n")
        fh.write(json.dumps(info, indent=2) + "\n")
        fh.write(time.strftime("run at %Y-%m-%d %H:%M:%S %Z\n"))


def main(argv=None) -> int:
    """Command line of ``python -m tcnb.bench.paper``: run the paper's Hessian experiments; exit status."""
    ap = argparse.ArgumentParser(prog="python -m tcnb.bench.paper",
                                 description="The paper's three Hessian experiments: tcnb vs autograd/JAX/PyTorch.")
    ap.add_argument("--quick", action="store_true", help="small sizes and short timings (about a minute)")
    ap.add_argument("--out", default=os.path.join("benchmarks", "results"),
                    help="folder for the CSV and PNG files (default: benchmarks/results)")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(EXPERIMENTS)}")
    ap.add_argument("--backends", default="numpy,cupy,jax,torch",
                    help="tcnb backends (default numpy,cupy,jax,torch: those installed and usable here)")
    ap.add_argument("--baselines", default="autograd,jax,torch", help="frameworks (default autograd,jax,torch)")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds per evaluation above which larger sizes are skipped (default 20; 2 with --quick)")
    ap.add_argument("--memory-budget", default=None, help="e.g. 8GB (default: tcnb.config.memory_budget)")
    ap.add_argument("--repeat-time", type=float, default=None,
                    help="seconds of repeats per point (default 0.5; 0.1 with --quick)")
    ap.add_argument("--threads", default="1",
                    help="threads per tool (default 1: single-core speed; 'all' leaves the libraries' own)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = ap.parse_args(argv)
    split = lambda s: [x for x in (s or "").split(",") if x]  # noqa: E731
    print(f"tcnb.bench.paper on {machine_str()}")
    results = run(names=split(args.only) or None, quick=args.quick, out=args.out,
                  backends=split(args.backends), baselines=split(args.baselines),
                  time_budget_s=args.time_budget, memory_budget=args.memory_budget,
                  progress=not args.no_progress, target_s=args.repeat_time,
                  threads=None if args.threads == "all" else int(args.threads))
    print("\n== ratios (how many times slower than tcnb on NumPy; < 1: faster)")
    print(ratio_table(results))
    print(f"\nwrote {os.path.join(args.out, 'bench_*.csv')}, bench_*.png, bench_paper.png, bench_machine.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
