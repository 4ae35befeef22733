"""Issue 14: the logistic-regression Hessian over more rows than this machine's memory, on Dask.

The data — X: rows × n standard normal, y: ±1 — is generated lazily chunk by chunk
(``da.random``) on the workers and never materialised: at the default 10^8 rows × 100 it is 80 GB,
against a LocalCluster whose workers are bounded (``--memory-limit`` each). tcnb's Hessian
(``backend="dask"``: matmul blocks and a tree reduction over the row chunks) is timed on the
cluster; peak worker memory is sampled (every worker's resident memory, polled, and distributed's
MemorySampler for the cluster total). Reported against:

- generating the data alone on the same cluster (the part of the time that is not the Hessian),
- the in-memory NumPy backend on a slice (``--numpy-rows``, default 10^6), one BLAS thread and all,
- Dask's own ``da.einsum("ki,k,kj->ij", X, d, X)`` on that slice, on the cluster (``--no-einsum``
  skips it): the per-chunk generic einsum the dask backend avoids.

    python benchmarks/dask_rows.py --rows 10000000          # a quick run: a few minutes on 2 cores
    python benchmarks/dask_rows.py                          # 10^8 rows (80 GB of X)
    python benchmarks/dask_rows.py --scheduler tcp://host:8786   # an existing cluster instead

Results are printed and appended to ``--out`` (default benchmarks/results/dask_rows.txt).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import _common  # noqa: F401  (puts the checkout on sys.path)
from _common import fmt_bytes, machine_line, print_table, warn_if_busy

import numpy as np

LOGREG = "X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))\n"


def data(rows: int, n: int, chunk: int, seed: int = 0):
    """Lazy X (rows × n, standard normal) and y (±1), generated per chunk on the workers."""
    import dask.array as da
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, n), chunks=(chunk, n))
    y = da.where(rng.random(rows, chunks=chunk) < 0.5, -1.0, 1.0)
    return X, y


class PeakMemory:
    """The largest resident memory of each worker while the block runs (polled), plus
    distributed's MemorySampler (the cluster's total over time)."""

    def __init__(self, client, interval: float = 0.2):
        self.client, self.interval = client, interval
        self.peak: dict = {}
        self._stop = threading.Event()

    @staticmethod
    def _rss():
        import psutil
        return psutil.Process().memory_info().rss

    def _poll(self):
        while not self._stop.is_set():
            try:
                for addr, rss in self.client.run(self._rss).items():
                    self.peak[addr] = max(self.peak.get(addr, 0), rss)
            except Exception:  # noqa: BLE001 - a worker restarting; keep polling
                pass
            self._stop.wait(self.interval)

    def __enter__(self):
        from distributed.diagnostics import MemorySampler
        self.sampler = MemorySampler()
        self._sampling = self.sampler.sample("run", client=self.client, interval=0.5)
        self._sampling.__enter__()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sampling.__exit__(*exc)
        samples = self.sampler.samples.get("run", [])
        self.cluster_peak = max((v for _, v in samples), default=0)
        return False


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e8, help="rows of X (default 1e8: 80 GB at n = 100)")
    ap.add_argument("--n", type=int, default=100, help="columns of X (the Hessian is n × n)")
    ap.add_argument("--chunk-rows", type=int, default=125_000, help="rows per chunk (default 125000: 100 MB at n = 100)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="2GiB", help="per worker (default 2GiB)")
    ap.add_argument("--numpy-rows", type=float, default=1e6, help="rows of the in-memory NumPy slice")
    ap.add_argument("--no-einsum", action="store_true", help="skip Dask's own einsum on the slice")
    ap.add_argument("--no-generation", action="store_true", help="skip timing the data generation alone")
    ap.add_argument("--scheduler", help="address of an existing scheduler (default: a LocalCluster)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "dask_rows.txt"))
    args = ap.parse_args(argv)
    rows, n, chunk, slice_rows = int(args.rows), args.n, args.chunk_rows, int(args.numpy_rows)

    import dask
    import dask.array as da
    import distributed
    from threadpoolctl import threadpool_limits
    import tcnb

    print(machine_line())
    warn_if_busy()
    if args.scheduler:
        cluster, client = None, distributed.Client(args.scheduler)
    else:
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                           memory_limit=args.memory_limit, dashboard_address=None)
        client = distributed.Client(cluster)
    workers = client.scheduler_info()["workers"]
    limit = sum(w.get("memory_limit", 0) for w in workers.values())
    print(f"cluster: {len(workers)} workers, {sum(w['nthreads'] for w in workers.values())} threads, "
          f"memory limit {fmt_bytes(limit)} in all; X: {rows:,} × {n} float64 = {fmt_bytes(rows * n * 8)} "
          f"in chunks of {chunk:,} rows ({fmt_bytes(chunk * n * 8)})")

    prog = tcnb.parse(LOGREG)
    H = tcnb.hessian(prog["f"], prog["w"])
    w = np.random.default_rng(1).standard_normal(n) / np.sqrt(n)
    table, notes = [], []

    # correctness first, at a small size: the dask result equals the NumPy backend's
    Xs, ys = data(4 * 1000, n, 1000, seed=7)
    small = dict(X=Xs.compute(), y=ys.compute(), w=w)
    got = H.compile("dask")(X=Xs, y=ys, w=w).compute()
    err = float(np.max(np.abs(got - H.evaluate(**small))) / np.max(np.abs(got)))
    if err > 1e-10:
        print(f"ERROR: the dask Hessian differs from NumPy's by {err:.2e} (relative)")
        return 1

    # 1. tcnb's Hessian on the cluster, over all the rows
    X, y = data(rows, n, chunk)
    t0 = time.perf_counter()
    lazy = H.compile("dask")(X=X, y=y, w=w)
    build = time.perf_counter() - t0
    layers = sorted({k.rsplit("-", 1)[0] for k in lazy.__dask_graph__().layers})
    with PeakMemory(client) as mem:
        t0 = time.perf_counter()
        value = lazy.compute()
        secs = time.perf_counter() - t0
    assert value.shape == (n, n) and np.all(np.isfinite(value))
    peak = max(mem.peak.values(), default=0)
    table.append(["tcnb dask Hessian (data generated on the fly)", f"{rows:,}", f"{secs:.1f} s",
                  f"{rows / secs:,.0f}", fmt_bytes(peak), fmt_bytes(mem.cluster_peak)])
    notes.append(f"graph: {len(lazy.__dask_graph__()):,} tasks, built in {build:.2f} s; layers: {', '.join(layers)}")

    # 2. the data generation alone (what the Hessian adds is the difference)
    if not args.no_generation:
        X, y = data(rows, n, chunk)
        with PeakMemory(client) as gmem:
            t0 = time.perf_counter()
            dask.compute(X.sum(axis=0), y.sum())
            gsecs = time.perf_counter() - t0
        table.append(["generating X, y alone (sums)", f"{rows:,}", f"{gsecs:.1f} s", f"{rows / gsecs:,.0f}",
                      fmt_bytes(max(gmem.peak.values(), default=0)), fmt_bytes(gmem.cluster_peak)])
        if secs > gsecs:
            notes.append(f"the Hessian alone (minus generation): ≈ {rows / (secs - gsecs):,.0f} rows/s")

    # 3. NumPy in memory, on a slice (the same generator's data, held by the workers for step 4)
    Xd, yd = client.persist(list(data(slice_rows, n, chunk, seed=2)))
    distributed.wait([Xd, yd])
    Xn, yn = dask.compute(Xd, yd)
    fn = H.compile("numpy")
    for threads in (1, os.cpu_count() or 1):
        with threadpool_limits(threads):
            fn(X=Xn, y=yn, w=w)
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                fn(X=Xn, y=yn, w=w)
                times.append(time.perf_counter() - t0)
        best = float(np.median(times))
        table.append([f"tcnb numpy in memory ({threads} BLAS thread{'s' if threads > 1 else ''})",
                      f"{slice_rows:,}", f"{best:.3f} s", f"{slice_rows / best:,.0f}",
                      f"{fmt_bytes(Xn.nbytes)} (X itself)", "-"])

    # 4. Dask's own einsum on the same slice, on the cluster, vs tcnb's dask code there
    if not args.no_einsum:
        s = 1 / (1 + da.exp(-yd * (Xd @ w)))
        d = s * (1 - s)
        for label, expr in (("tcnb dask Hessian (slice in worker memory)", H.compile("dask")(X=Xd, y=yd, w=w)),
                            ('da.einsum("ki,k,kj->ij") (slice in worker memory)', da.einsum("ki,k,kj->ij", Xd, d, Xd))):
            t0 = time.perf_counter()
            out = expr.compute()
            esecs = time.perf_counter() - t0
            table.append([label, f"{slice_rows:,}", f"{esecs:.2f} s", f"{slice_rows / esecs:,.0f}", "-", "-"])
        np.testing.assert_allclose(out, fn(X=Xn, y=yn, w=w), rtol=1e-8)
    del Xd, yd

    title = f"logistic-regression Hessian, n = {n}: rows per second"
    print_table(["what", "rows", "time", "rows/s", "peak worker RSS", "peak cluster (sampler)"], table, title)
    for note in notes:
        print(note)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M')}  {machine_line()}; load {os.getloadavg()[0]:.1f}; "
                 f"{len(workers)} workers × 1 thread, {args.memory_limit} each; chunks of {chunk:,} rows\n")
        for r in table:
            fh.write(" | ".join(r) + "\n")
        for note in notes:
            fh.write(note + "\n")
    client.close()
    if cluster is not None:
        cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
