"""tcnb.bench: time tcnb's derivatives against autograd, JAX and PyTorch on the same expression.

    import tcnb, tcnb.bench
    p = tcnb.parse(source)
    res = tcnb.bench.compare(p["f"], wrt="w", kind="hessian", sizes={"n": [10, 30, 100], "m": "2*n"})
    res.plot(); res.to_pandas(); res.records

``compare`` (compare.py) runs the sweep; ``baselines`` builds the framework baselines from tcnb's own
generated code; ``timing`` measures; ``paper`` reproduces the paper's three experiments
(``python -m tcnb.bench.paper``); ``magic.register(ipython)`` adds the ``%tensor_bench`` line magic.
"""
from .compare import BenchResult, compare, expand_sizes, make_inputs
from .timing import Timing, machine, measure

__all__ = ["compare", "BenchResult", "expand_sizes", "make_inputs", "measure", "Timing", "machine"]
