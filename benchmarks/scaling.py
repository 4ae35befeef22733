"""Issue 11 item 9: cost must grow linearly with the program, in derivation and in display.

Each case runs in its own subprocess under a time limit (``--timeout``, default 60 s), so a case
that is still super-linear prints ``> 60 s`` instead of hanging the script. Printed per case: the
wall time of the timed step and a one-word outcome (``ok``, the error class and message length, or
``timeout``).

    python benchmarks/scaling.py [--timeout 60] [--only hessian]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- program sources

def nested(fn: str, depth: int, arg: str = "x") -> str:
    return f"{fn}(" * depth + arg + ")" * depth


def nested_program(depth: int) -> str:
    return f"x: R[n]\nf = sum({nested('tanh', depth)})\n"


def layers_program(k: int) -> str:
    lines = ["X: R[n, n]", "d0: R[n]"]
    lines += [f"d{j} = tanh(X @ d{j - 1})" for j in range(1, k + 1)]
    lines.append(f"f = sum(d{k})")
    return "\n".join(lines) + "\n"


def chained_elementwise_program(k: int) -> str:
    lines = ["x: R[n]", "a0 = tanh(x)"]
    lines += [f"a{j} = tanh(a{j - 1})" for j in range(1, k)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ the cases
# name -> (setup source run untimed, timed statement); both run in a fresh interpreter

CASES = {
    "repr, 12 nested tanh": ("prog = tcnb.parse(nested_program(12))", "repr(prog)"),
    "repr, 16 nested tanh": ("prog = tcnb.parse(nested_program(16))", "repr(prog)"),
    "LaTeX, 12 nested tanh": ("prog = tcnb.parse(nested_program(12))", "prog._repr_latex_()"),
    "LaTeX, 16 nested tanh": ("prog = tcnb.parse(nested_program(16))", "prog._repr_latex_()"),
    "Hessian, 100 nested tanh (n=5)": (
        "prog = tcnb.parse(nested_program(100))",
        "tcnb.hessian(prog['f'], 'x').evaluate(x=np.linspace(-1, 1, 5))"),
    "Hessian, 100 layers tanh(X @ d) (n=4)": (
        "prog = tcnb.parse(layers_program(100)); rng = np.random.default_rng(0)",
        "tcnb.hessian(prog['f'], 'd0').evaluate(X=rng.normal(size=(4, 4)) / 2, d0=rng.normal(size=4))"),
    "Hessian, 1000 layers tanh(X @ d) (n=4)": (
        "prog = tcnb.parse(layers_program(1000)); rng = np.random.default_rng(0)",
        "tcnb.hessian(prog['f'], 'd0').evaluate(X=rng.normal(size=(4, 4)) / 2, d0=rng.normal(size=4))"),
    "parse, 100 layers": ("src = layers_program(100)", "tcnb.parse(src)"),
    "parse, 1000 layers": ("src = layers_program(1000)", "tcnb.parse(src)"),
    "parse, 300 chained element-wise definitions": (
        "src = chained_elementwise_program(300)", "tcnb.parse(src)"),
    "parse, 1000 chained element-wise definitions": (
        "src = chained_elementwise_program(1000)", "tcnb.parse(src)"),
    "repr + LaTeX of a program of 1000 layers": (
        "prog = tcnb.parse(layers_program(1000))", "repr(prog); prog._repr_latex_()"),
    "parse + repr + LaTeX, nesting 190 deep": (
        "src = nested_program(190)", "p = tcnb.parse(src); repr(p); p._repr_latex_()"),
    "parse + repr + LaTeX, nesting 2000 deep": (
        "src = nested_program(2000)", "p = tcnb.parse(src); repr(p); p._repr_latex_()"),
}

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import tcnb
from benchmarks.scaling import *
{setup}
t0 = time.perf_counter()
try:
    {stmt}
    out = "ok"
except tcnb.TcnbError as exc:
    out = f"{{type(exc).__name__}} ({{len(str(exc))}} chars)"
except BaseException as exc:
    out = f"{{type(exc).__name__}} (not a TcnbError)"
print(json.dumps({{"seconds": time.perf_counter() - t0, "outcome": out}}))
"""


def run_case(name: str, timeout: float) -> tuple[str, str]:
    setup, stmt = CASES[name]
    code = _CHILD.format(root=ROOT, setup=setup, stmt=stmt)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"> {timeout:g} s", "timeout"
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"{time.perf_counter() - t0:.2f} s", f"crashed: {tail[:80]}"
    res = json.loads(lines[-1])
    return f"{res['seconds']:.3f} s", res["outcome"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    ap.add_argument("--only", default="", help="run only cases whose name contains this text")
    args = ap.parse_args(argv)
    width = max(len(n) for n in CASES)
    print(f"{'case':<{width}}  {'time':>10}  outcome")
    for name in CASES:
        if args.only.lower() not in name.lower():
            continue
        t, out = run_case(name, args.timeout)
        print(f"{name:<{width}}  {t:>10}  {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
