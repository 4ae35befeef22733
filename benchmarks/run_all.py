#!/usr/bin/env python
"""Run every benchmark: overhead.py, then paper.py (--quick unless --full).

    python benchmarks/run_all.py [--full] [--threads N] [--csv-dir DIR] [-- extra arguments for paper.py]

Exit status: non-zero when any script reported an error (a mismatch against the closed form, or a
failure inside tcnb), so CI can run the quick mode as a smoke test.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="all sizes and full timing (takes a while)")
    ap.add_argument("--threads", type=int, help="passed to both scripts: cap BLAS/XLA/torch threads")
    ap.add_argument("--csv-dir", help="write overhead.csv and paper.csv into this folder")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="after --: extra arguments for paper.py")
    args = ap.parse_args(argv)
    rest = [a for a in args.rest if a != "--"]

    jobs = []
    for script, extra in (("overhead.py", []), ("paper.py", rest)):
        cmd = [sys.executable, os.path.join(HERE, script)]
        if not args.full:
            cmd.append("--quick")
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.csv_dir:
            cmd += ["--csv", os.path.join(args.csv_dir, script.replace(".py", ".csv"))]
        jobs.append((script, cmd + extra))

    failed = []
    for script, cmd in jobs:
        print(f"\n### {script} ({'full' if args.full else 'quick'})", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"### {script}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc:
            failed.append(script)
    if failed:
        print(f"\nFAILED: {', '.join(failed)} reported errors (see ERROR lines above)")
        return 1
    print("\nall benchmarks ran without errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
