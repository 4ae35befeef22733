#!/usr/bin/env python
"""A behaviour snapshot of tcnb over the test corpora, to diff a refactor against (issue 12).

    python benchmarks/snapshot.py take OUT.json [--limit N] [--isolation program|record|none]
    python benchmarks/snapshot.py diff OUT.json [--strict] [--show 30]

``take`` records, for every program of tests/corpus.py and tests/corpus_index_maps.py and every
derivative the test suite takes of it (gradient / Hessian / Jacobian / higher orders / hvp; modes
forward, reverse, cross-country; compress True and False), the numeric value at the tests' own
random inputs, the LaTeX, the Einstein text, the matrix notation, the generated NumPy code
(``to_source``) and the cost figures (``stats``) at a fixed size. ``diff`` takes the same snapshot
in memory with the tcnb importable from the current directory and compares it with the file
(same limit and isolation as the file). The corpora are read from the tests/ next to this script.
Records are keyed ``corpus/<entry>/<wrt>/d<order>|hvp/<mode>/c|d`` and
``maps/<case>/<wrt>/jacobian|grad_loss|hessian_loss/<mode>/c|d`` (``.../expr`` for the expressions).

Why a script and not a test: its file is the reference of one commit, kept outside the repository,
and the point is a readable report of what a refactor changed, category by category.

Categories and what fails: ``values`` (numbers, rtol 1e-9 / atol 1e-12, and their shapes) and
``structure`` (which records exist, the symbolic shape, the result's name, errors raised) make
``diff`` exit 1. ``latex``, ``einstein``, ``matrix``, ``code`` and ``stats`` are compared exactly
and reported, but fail only with ``--strict``: a refactor may legitimately change code text.
``bitwise`` (values not identical to the last bit) is information only.

The records of each program are built in a child process forked from one fixed state (see
``_run``): tcnb's hash-consed IR orders terms by a global creation counter, so in one long process
the text of a case would depend on the programs before it. The children keep cyclic GC off, and
NumPy runs on one thread (so the bits do not depend on the core count).

The corpora are executed without JAX: their JAX twins are oracles for the tests and are never
called here, so ``import jax`` inside them gets an inert stand-in (only in their own namespace;
``sys.modules`` is left alone). Only the standard library, NumPy and tcnb are used.
"""
from __future__ import annotations

import argparse
import builtins
import gc
import hashlib
import json
import os
import subprocess
import sys
import time
import types

# one BLAS thread: the numbers must not depend on the machine's core count (set before NumPy loads)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "tests")
sys.path.insert(0, os.getcwd())          # the tcnb under test is the one in the current directory
if TESTS not in sys.path:
    sys.path.insert(1, TESTS)            # helpers_calculus (NumPy only), imported by the corpora

import tcnb  # noqa: E402

FORMAT = 1
MODES = ("forward", "reverse", "cross-country")
COMPRESS = (True, False)
FULL_LIMIT = 4096        # arrays up to this many entries are stored whole, larger ones summarised
SAMPLE = 64              # entries kept of a summarised array (evenly spaced in the flat order)
STATS_SIZE = 64          # every dimension's size for stats() and to_source()
RTOL, ATOL = 1e-9, 1e-12
TEXT_CATEGORIES = ("latex", "einstein", "matrix", "code", "stats")
CATEGORIES = ("structure", "values") + TEXT_CATEGORIES + ("bitwise",)


# ------------------------------------------------------------------ loading the corpora without JAX

class _Inert:
    """Stands in for jax / jax.numpy while a corpus module runs: every attribute and call gives
    another stand-in, so module-level ``jax.config.update(...)`` and the lambdas' definitions work."""

    def __getattr__(self, name):
        return _Inert()

    def __call__(self, *args, **kwargs):
        return _Inert()


def _load_corpus(filename: str) -> dict:
    """Run tests/<filename> in a namespace of its own, with ``import jax...`` answered by _Inert."""
    path = os.path.join(TESTS, filename)
    real_import = builtins.__import__

    def importer(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "jax" or name.startswith("jax."):
            return _Inert()
        return real_import(name, globals, locals, fromlist, level)

    module_builtins = dict(vars(builtins), __import__=importer)
    name = "_snapshot_" + filename[:-3]
    with open(path, encoding="utf-8") as fh:
        code = compile(fh.read(), path, "exec")
    # dataclasses looks the defining module up in sys.modules: give it an entry of its own
    mod = types.ModuleType(name)
    mod.__dict__.update(__file__=path, __builtins__=module_builtins)
    sys.modules[name] = mod
    exec(code, mod.__dict__)
    return mod.__dict__


# ------------------------------------------------------------------ the jobs: (id, build, args)

def _corpus_jobs(cp: dict, isolate: bool) -> list:
    """Every derivative tests/test_derivatives.py takes, plus each entry's own expression."""
    jobs = []
    by_name, program, hvp_program = cp["by_name"], cp["program"], cp["hvp_program"]
    eval_args, direction = cp["eval_args"], cp["direction"]
    # which entries are scalar needs them parsed: done in a child, so this process parses nothing
    scalar = set(_run(lambda: [e.name for e in cp["CORPUS"] if cp["is_scalar"](e.name)], isolate))
    for e in cp["CORPUS"]:
        name = e.name
        jobs.append((f"corpus/{name}/expr", lambda name=name: program(name)[by_name(name).of],
                     lambda name=name: eval_args(name)))
    for e, w in cp["CASES"]:
        name = e.name
        for order in range(1, e.wrt[w] + 1):
            for mode in MODES:
                for compress in COMPRESS:
                    def build(name=name, w=w, order=order, mode=mode, compress=compress):
                        ent = by_name(name)
                        p = program(name)
                        f, wv = p[ent.of], p[w]
                        if order == 1:
                            if f.rank == 0:
                                return tcnb.grad(f, wv, mode=mode, compress=compress)
                            return tcnb.jacobian(f, wv, mode=mode, compress=compress)
                        if order == 2 and f.rank == 0:
                            return tcnb.hessian(f, wv, mode=mode, compress=compress)
                        return tcnb.derivative(f, wv, order=order, mode=mode, compress=compress)
                    jobs.append((f"corpus/{name}/{w}/d{order}/{mode}/{_c(compress)}", build,
                                 lambda name=name: eval_args(name)))
        if name in scalar and e.wrt[w] >= 2:
            for mode in MODES:
                for compress in COMPRESS:
                    def build(name=name, w=w, mode=mode, compress=compress):
                        p = hvp_program(name)
                        return tcnb.hvp(p[by_name(name).of], p[w], p[direction(w)], mode=mode,
                                        compress=compress)
                    jobs.append((f"corpus/{name}/{w}/hvp/{mode}/{_c(compress)}", build,
                                 lambda name=name: eval_args(name, with_directions=True)))
    return jobs


def _maps_jobs(cm: dict) -> list:
    """Every derivative tests/test_index_maps.py takes of its corpus, plus the definitions themselves."""
    from helpers_calculus import random_array, resolve_shape, seed_for
    programs, arrays = {}, {}

    def program(name):
        if name not in programs:
            programs[name] = tcnb.parse(cm["by_name"](name).src)
        return programs[name]

    def eval_args(name):  # as tests/test_index_maps.py draws them
        c = cm["by_name"](name)
        if name not in arrays:
            p = program(name)
            shapes = {v: resolve_shape(x.shape, c.sizes) for v, x in p.variables.items()}
            rng = np.random.default_rng(seed_for("index_maps", name))
            arrays[name] = {v: random_array(c.kinds.get(v, "normal"), s, rng) for v, s in shapes.items()}
        return {**c.sizes, **arrays[name]}

    jobs = []
    for c in cm["CASES"]:
        for what in (c.of,) + ((c.loss,) if c.loss and c.loss != c.of else ()):
            jobs.append((f"maps/{c.name}/expr/{what}", lambda n=c.name, what=what: program(n)[what],
                         lambda n=c.name: eval_args(n)))
    for c, w in cm["JACOBIAN_CASES"]:
        for mode in MODES:
            for compress in COMPRESS:
                jobs.append((f"maps/{c.name}/{w}/jacobian/{mode}/{_c(compress)}",
                             lambda c=c, w=w, mode=mode, compress=compress:
                             tcnb.jacobian(program(c.name)[c.of], w, mode=mode, compress=compress),
                             lambda n=c.name: eval_args(n)))
    for c in cm["CASES"]:
        if c.loss:
            for w in c.wrt:
                jobs.append((f"maps/{c.name}/{w}/grad_loss/reverse/c",
                             lambda c=c, w=w: tcnb.grad(program(c.name)[c.loss], w, mode="reverse"),
                             lambda n=c.name: eval_args(n)))
    for c, w in cm["HESSIAN_CASES"]:
        for mode in MODES:
            jobs.append((f"maps/{c.name}/{w}/hessian_loss/{mode}/c",
                         lambda c=c, w=w, mode=mode: tcnb.hessian(program(c.name)[c.loss], w, mode=mode),
                         lambda n=c.name: eval_args(n)))
    return jobs


def _c(compress: bool) -> str:
    return "c" if compress else "d"


# ------------------------------------------------------------------ one record

def _err(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _text(fn):
    """A text field: its value, or the error it raises (so a new or lost error shows as a change)."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - recorded, compared
        return "<error> " + _err(exc)


def _dims(expr, args: dict) -> list:
    """Names of the dimension symbols in the expression's and its variables' shapes (and the sizes
    passed as keywords), sorted."""
    names = {k for k, v in args.items() if not isinstance(v, np.ndarray)}
    shapes = [expr.shape]
    for node in tcnb.ir.variables(expr.node):
        shapes.append(node.shape)
    for shape in shapes:
        for d in shape:
            names |= {str(s) for s in getattr(d, "free_symbols", ())}
    return sorted(names)


def _value(arr) -> dict:
    a = np.asarray(arr)
    out = {"shape": list(a.shape), "dtype": str(a.dtype)}
    a64 = np.ascontiguousarray(a, dtype=np.float64)
    out["sha256"] = hashlib.sha256(a64.tobytes()).hexdigest()
    flat = a64.reshape(-1)
    if flat.size <= FULL_LIMIT:
        out["data"] = flat.tolist()
    else:
        idx = np.unique(np.linspace(0, flat.size - 1, SAMPLE).astype(np.int64))
        finite = flat[np.isfinite(flat)]
        out["summary"] = {"size": int(flat.size), "norm": float(np.linalg.norm(finite)),
                          "sum": float(np.sum(finite)), "absmax": float(np.max(np.abs(finite), initial=0.0)),
                          "nonfinite": int(flat.size - finite.size),
                          "sample_index": idx.tolist(), "sample": flat[idx].tolist()}
    return out


def _record(build, args_fn) -> dict:
    try:
        expr = build()
    except Exception as exc:  # noqa: BLE001
        return {"error": _err(exc)}
    rec = {"name": expr.name, "shape_sym": str(tuple(str(d) for d in expr.shape)),
           "indices": list(expr.indices), "split": expr.split}
    args = args_fn()
    try:
        rec["value"] = _value(expr.evaluate(**args))
    except Exception as exc:  # noqa: BLE001
        rec["value_error"] = _err(exc)
    sizes = {d: STATS_SIZE for d in _dims(expr, args)}
    rec["latex"] = _text(expr.latex)
    rec["einstein"] = _text(expr.einstein)
    rec["repr"] = _text(lambda: repr(expr))
    rec["matrix"] = _text(expr.matrix)
    rec["code"] = _text(lambda: expr.to_source(**sizes))
    rec["stats_sizes"] = sizes
    rec["stats"] = _text(lambda: {k: (v if isinstance(v, (int, float, str, type(None))) else repr(v))
                                  for k, v in dict(expr.stats(**sizes)).items()})
    return rec


def _run(fn, isolate: bool):
    """``fn()`` (JSON-able) in a forked child with cyclic GC off, or here when not ``isolate``.

    Why: IR nodes are hash-consed in a process-wide weak table and ordered by a global creation
    counter (Add terms, einsum operands), so the printed form and generated code of an expression
    depend on which nodes earlier cases left alive (even within one program: a Hessian prints
    differently after the gradient was taken). One child per program, forked from the same parent
    state, makes its records depend on that program's own calls only, in their fixed order; a child
    per record (``--isolation record``) removes that too but costs ~0.1-0.2 s a record in cold caches.
    """
    if not isolate:
        return fn()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write JSON, leave without running the parent's cleanup
        os.close(r)
        try:
            gc.disable()
            data = json.dumps(fn()).encode()
        except BaseException as exc:  # noqa: BLE001 - reported as the record
            data = json.dumps({"error": "<child> " + _err(exc)}).encode()
        with os.fdopen(w, "wb") as fh:
            fh.write(data)
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        data = fh.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        return {"error": f"<child> exited with status {status} and no result"}
    return json.loads(data)


ISOLATION = ("program", "record", "none")


def take(limit: int | None = None, verbose: bool = True, isolation: str = "program") -> dict:
    """The snapshot as a dict: meta and records keyed by case id.

    ``isolation``: a forked child per program (default), per record (history-free, ~10x slower),
    or none (everything in this process).
    """
    t0 = time.perf_counter()
    if isolation != "none" and not hasattr(os, "fork"):
        print("snapshot: no os.fork here, building everything in one process", file=sys.stderr)
        isolation = "none"
    isolate = isolation != "none"
    cp = _load_corpus("corpus.py")
    cm = _load_corpus("corpus_index_maps.py")
    jobs = _corpus_jobs(cp, isolate) + _maps_jobs(cm)
    total = len(jobs)
    if limit is not None:
        jobs = jobs[:limit]
    ids = [j[0] for j in jobs]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    groups = {}  # the records built together in one child, in the listed order
    for job in jobs:
        key = job[0] if isolation == "record" else "/".join(job[0].split("/")[:2])
        groups.setdefault(key, []).append(job)
    records = {}
    for k, group in enumerate(groups.values()):
        records.update(_run(lambda: {cid: _record(build, args_fn) for cid, build, args_fn in group}, isolate))
        if verbose and (k + 1) % (20 if isolation != "record" else 200) == 0:
            print(f"  {k + 1}/{len(groups)} groups, {len(records)} records, "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    meta = {"format": FORMAT, "tcnb_file": tcnb.__file__, "commit": _git("rev-parse", "--short", "HEAD"),
            "tcnb_tree": _git("rev-parse", "--short", "HEAD:tcnb"),
            "tcnb_dirty": bool(_git("status", "--porcelain", "--", "tcnb")),
            "numpy": np.__version__, "python": sys.version.split()[0],
            "jobs_total": total, "jobs_taken": len(jobs), "limit": limit, "isolation": isolation,
            "seconds": round(time.perf_counter() - t0, 1),
            "settings": {"full_limit": FULL_LIMIT, "sample": SAMPLE, "stats_size": STATS_SIZE}}
    if verbose:
        print(f"snapshot: {len(jobs)} of {total} records ({_counts(records)}) in {meta['seconds']} s, "
              f"isolation {isolation}, with {tcnb.__file__}", file=sys.stderr)
    return {"meta": meta, "records": records}


def _git(*args) -> str | None:
    """A git answer about the checkout tcnb was imported from (information only)."""
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(tcnb.__file__)))
                              ).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _counts(records: dict) -> str:
    kinds = {}
    for cid in records:
        parts = cid.split("/")
        kind = parts[0] + ":" + ("expr" if parts[2] == "expr" else parts[3])
        kinds[kind] = kinds.get(kind, 0) + 1
    errors = sum(1 for r in records.values() if "error" in r or "value_error" in r)
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + f"; errors {errors}"


# ------------------------------------------------------------------ comparing

def _values_differ(old: dict, new: dict) -> str | None:
    if old["shape"] != new["shape"]:
        return f"shape {old['shape']} -> {new['shape']}"
    if old["dtype"] != new["dtype"]:
        return f"dtype {old['dtype']} -> {new['dtype']}"
    if ("data" in old) != ("data" in new):
        return "stored whole vs summarised"
    if "data" in old:
        a, b = np.array(old["data"], dtype=np.float64), np.array(new["data"], dtype=np.float64)
    else:
        so, sn = old["summary"], new["summary"]
        if so["sample_index"] != sn["sample_index"] or so["nonfinite"] != sn["nonfinite"]:
            return "summary layout / non-finite count"
        a = np.array([so[k] for k in ("norm", "sum", "absmax")] + so["sample"], dtype=np.float64)
        b = np.array([sn[k] for k in ("norm", "sum", "absmax")] + sn["sample"], dtype=np.float64)
    close = np.isclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True)
    if close.all():
        return None
    bad = np.flatnonzero(~close)
    k = int(bad[np.argmax(np.abs(b[bad] - a[bad]))])
    return (f"{bad.size} of {a.size} entries differ; worst at flat {k}: {a[k]!r} -> {b[k]!r} "
            f"(|diff| {abs(b[k] - a[k]):.3e})")


def _short(v, n: int = 160) -> str:
    s = json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v
    s = s.replace("\n", "⏎")
    return s if len(s) <= n else s[:n] + "…"


def _first_text_change(a, b) -> str:
    if not (isinstance(a, str) and isinstance(b, str)):
        return f"{_short(a)}  ->  {_short(b)}"
    al, bl = a.splitlines(), b.splitlines()
    for i in range(max(len(al), len(bl))):
        x = al[i] if i < len(al) else "<none>"
        y = bl[i] if i < len(bl) else "<none>"
        if x != y:
            return f"line {i + 1}: {_short(x, 110)!r}  ->  {_short(y, 110)!r}"
    return "whitespace / line ends"


def compare(old: dict, new: dict) -> list:
    """[(category, case id, what)] for every difference between two snapshots."""
    out = []
    ro, rn = old["records"], new["records"]
    if old["meta"].get("format") != new["meta"].get("format"):
        out.append(("structure", "<meta>",
                    f"format {old['meta'].get('format')} -> {new['meta'].get('format')}"))
    for cid in sorted(ro.keys() - rn.keys()):
        out.append(("structure", cid, "missing in the new snapshot"))
    for cid in sorted(rn.keys() - ro.keys()):
        out.append(("structure", cid, "new in the new snapshot"))
    for cid in [c for c in ro if c in rn]:
        a, b = ro[cid], rn[cid]
        for key in ("error", "value_error", "name", "shape_sym", "indices", "split", "stats_sizes"):
            if a.get(key) != b.get(key):
                out.append(("structure", cid, f"{key}: {_short(a.get(key))} -> {_short(b.get(key))}"))
        if "value" in a and "value" in b:
            why = _values_differ(a["value"], b["value"])
            if why:
                out.append(("values", cid, why))
            elif a["value"]["sha256"] != b["value"]["sha256"]:
                out.append(("bitwise", cid, "equal within tolerance, not to the last bit"))
        for cat, keys in (("latex", ("latex",)), ("einstein", ("einstein", "repr")), ("matrix", ("matrix",)),
                          ("code", ("code",)), ("stats", ("stats",))):
            for key in keys:
                if a.get(key) != b.get(key):
                    out.append((cat, cid, f"{key} {_first_text_change(a.get(key), b.get(key))}"))
    return out


def report(old: dict, new: dict, diffs: list, show: int, strict: bool) -> int:
    """Print the per-category summary and the first ``show`` differences; the exit status."""
    n = len(old["records"].keys() & new["records"].keys())
    def src(m):
        return f"commit {m.get('commit')}, tcnb tree {m.get('tcnb_tree')}{' dirty' if m.get('tcnb_dirty') else ''}"
    print(f"compared {n} records (old {len(old['records'])}: {src(old['meta'])}; new {len(new['records'])}: "
          f"{src(new['meta'])}, {new['meta'].get('tcnb_file')})")
    by_cat = {c: [d for d in diffs if d[0] == c] for c in CATEGORIES}
    failing = ("structure", "values") + (TEXT_CATEGORIES if strict else ())
    for cat in CATEGORIES:
        records = len({d[1] for d in by_cat[cat]})
        flag = "FAIL" if cat in failing and records else ("info" if cat == "bitwise" else
                                                          "changed" if records else "ok")
        print(f"  {cat:<10} {records:5d} records differ   {flag}")
    order = [d for c in CATEGORIES if c != "bitwise" for d in by_cat[c]] + by_cat["bitwise"]
    if order:
        print(f"first {min(show, len(order))} of {len(order)} differences:")
        for cat, cid, what in order[:show]:
            print(f"  [{cat}] {cid}: {what}")
    status = 1 if any(by_cat[c] for c in failing) else 0
    print("differences: " + str(sum(len(by_cat[c]) for c in CATEGORIES if c != "bitwise"))
          + ("  -> FAIL" if status else "  -> OK"))
    return status


# ------------------------------------------------------------------ command line

def main(argv=None) -> int:
    """take / diff, see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("take", "diff"))
    ap.add_argument("file", help="the snapshot JSON (written by take, read by diff)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N records (quick runs)")
    ap.add_argument("--isolation", choices=ISOLATION, default=None,
                    help="take: a forked child per program (default), per record, or none; "
                         "diff: default the file's")
    ap.add_argument("--strict", action="store_true", help="diff: text and stats changes fail too")
    ap.add_argument("--show", type=int, default=30, help="diff: how many differences to list")
    args = ap.parse_args(argv)
    if args.command == "take":
        snap = take(args.limit, isolation=args.isolation or "program")
        with open(args.file, "w", encoding="utf-8") as fh:
            json.dump(snap, fh, ensure_ascii=False, indent=0, sort_keys=True)
            fh.write("\n")
        print(f"wrote {args.file}")
        return 0
    with open(args.file, encoding="utf-8") as fh:
        old = json.load(fh)
    limit = args.limit if args.limit is not None else old["meta"].get("limit")
    new = take(limit, isolation=args.isolation or old["meta"].get("isolation", "program"))
    return report(old, new, compare(old, new), args.show, args.strict)


if __name__ == "__main__":
    sys.exit(main())
