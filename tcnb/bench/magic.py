"""``%tensor_bench``: run :func:`tcnb.bench.compare` from a notebook cell.

    %tensor_bench f --wrt w --kind hessian --sizes "n=10,30,100 m=2*n"
    %tensor_bench f --wrt w --kind hvp --backends numpy,cupy --baselines jax,torch --budget 5 --as res
    %tensor_bench H                # an expression made by %%derive: evaluation only (kind "value")

``f`` is an expression in the user namespace (bound by ``%%tensor``/``%%derive`` or by hand). The
result is displayed (plot, table and the reason for every skipped point) and bound to ``--as``
(default ``_bench``). Options: ``--wrt``, ``--kind`` (hessian, grad, jacobian, hvp, value),
``--sizes`` ("n=10,30,100 m=2*n k=5": comma lists are swept, expressions are derived),
``--backends``, ``--baselines`` (``none`` for tcnb only), ``--modes`` (forward,reverse,cross-country
or all), ``--budget`` (seconds per point), ``--memory`` (e.g. 2GB), ``--repeat-time`` (seconds of
repeats per point), ``--seed``, ``--inputs "y=pm1 W*=scaled"``, ``--no-progress``, ``--quiet`` (bind,
do not display).

``%load_ext tcnb`` registers it; ``register(ipython)`` adds it to a shell by hand.
Bad arguments raise :class:`BenchMagicError`: the cell fails (Run All stops there) with one line, no
traceback; a misspelt backend, baseline or mode is such an error, not an "unavailable" record.
"""
from __future__ import annotations

import argparse
import keyword
import shlex

from ..errors import TcnbError


class BenchMagicError(Exception):
    """Bad %tensor_bench arguments: the cell fails (Run All stops) and shows one line, no traceback."""

    def _render_traceback_(self):
        return [f"%tensor_bench: {self}"]


USAGE = ("usage: %tensor_bench EXPR [--wrt W] [--kind hessian|grad|jacobian|hvp|value] "
         "[--sizes \"n=10,30,100 m=2*n\"] [--backends numpy,cupy] [--baselines autograd,jax,torch] "
         "[--budget S] [--memory 2GB] [--as NAME]")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print the usage to stderr and exit
        raise BenchMagicError(f"{message} ({USAGE})")


def _parser():
    ap = _Parser(prog="%tensor_bench", add_help=False)
    ap.add_argument("expr")
    ap.add_argument("--wrt", default=None)
    ap.add_argument("--kind", default=None)
    ap.add_argument("--sizes", default=None)
    ap.add_argument("--backends", default="numpy,cupy")
    ap.add_argument("--baselines", default="autograd,jax,torch")
    ap.add_argument("--devices", default="auto")
    ap.add_argument("--modes", default=None)
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--memory", default=None)
    ap.add_argument("--repeat-time", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inputs", default=None)
    ap.add_argument("--as", dest="name", default="_bench")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    return ap


def parse_sizes(text: str | None):
    """ "n=10,30,100 m=2*n k=5" -> {"n": [10, 30, 100], "m": "2*n", "k": 5}."""
    if not text:
        return None
    out = {}
    for item in text.replace(";", " ").split():
        if "=" not in item:
            raise BenchMagicError(f"size {item!r}: expected name=value, e.g. n=10,30,100 or m=2*n")
        name, value = item.split("=", 1)
        name = name.strip()
        if "," in value:
            try:
                out[name] = [int(v) for v in value.split(",") if v]
            except ValueError:
                raise BenchMagicError(f"size {item!r}: a list must hold integers") from None
        elif value.strip().isdigit():
            out[name] = int(value)
        else:
            out[name] = value.strip()
    return out


def _split(text):
    if text is None:
        return None
    if text.strip().lower() in ("none", ""):
        return []
    return [x.strip() for x in text.split(",") if x.strip()]


def _known(option: str, names, known) -> None:
    """A misspelt backend, baseline, mode or device is an error, not an "unavailable" record."""
    for name in names or ():
        if name not in known:
            raise BenchMagicError(f"{option}: unknown {name!r} (choose from {', '.join(known)})")


def _inputs(text: str) -> dict:
    out = {}
    for item in text.split():
        name, eq, kind = item.partition("=")
        if not eq or not name or not kind:
            raise BenchMagicError(f"--inputs {item!r}: expected name=kind pairs, e.g. \"y=pm1 W*=scaled\"")
        out[name] = kind
    return out


def parse_line(line: str) -> dict:
    """The keyword arguments of compare() for a %tensor_bench line (plus 'expr', 'name', 'quiet')."""
    from ..backend.namespace import backend_names
    from .baselines import FRAMEWORKS
    from .compare import ALL_MODES
    try:
        args = _parser().parse_args(shlex.split(line))
    except ValueError as exc:  # shlex: an unclosed quote
        raise BenchMagicError(str(exc)) from None
    if not args.name.isidentifier() or keyword.iskeyword(args.name):
        raise BenchMagicError(f"--as {args.name!r} is not a name a result can be bound to")
    kw = {"wrt": args.wrt, "kind": args.kind, "sizes": parse_sizes(args.sizes),
          "backends": _split(args.backends), "baselines": _split(args.baselines),
          "baseline_devices": args.devices if args.devices == "auto" else _split(args.devices),
          "time_budget_s": args.budget, "memory_budget": args.memory, "target_s": args.repeat_time,
          "seed": args.seed, "progress": not args.no_progress}
    _known("--backends", kw["backends"], backend_names())
    _known("--baselines", kw["baselines"], FRAMEWORKS)
    if args.devices != "auto":
        _known("--devices", kw["baseline_devices"], ("cpu", "gpu"))
    if args.modes:
        kw["modes"] = "all" if args.modes == "all" else _split(args.modes)
        if kw["modes"] != "all":
            _known("--modes", kw["modes"], ALL_MODES)
    if args.inputs:
        kw["inputs"] = _inputs(args.inputs)
    return {"expr": args.expr, "name": args.name, "quiet": args.quiet, "kwargs": kw}


def tensor_bench(line: str, ipython=None):
    """``%tensor_bench EXPR ...``: compare() on a notebook expression, stored under a name and shown.

    Errors are BenchMagicError (a short message) so the cell fails without a long traceback.
    """
    if any(tok in ("-h", "--help") for tok in line.split()):
        print(__doc__.split("\n\n``register")[0])
        return None
    from .compare import compare
    spec = parse_line(line)
    ns = ipython.user_ns if ipython is not None else {}
    if spec["expr"] not in ns:
        raise BenchMagicError(f"no expression named {spec['expr']!r} in the notebook; define it with %%tensor "
                              f"or tcnb.parse(...) first")
    expr = ns[spec["expr"]]
    try:
        res = compare(expr, **spec["kwargs"])
    except TcnbError:
        raise  # its own short message (_render_traceback_)
    except (ValueError, TypeError) as exc:
        raise BenchMagicError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - a short message, and the cell still fails
        raise BenchMagicError(f"tcnb failed ({type(exc).__name__}: {exc}); this is a bug in tcnb, "
                              "please report it with the line") from None
    ns[spec["name"]] = res
    if not spec["quiet"]:
        try:
            from IPython.display import display
            display(res)
        except ImportError:  # pragma: no cover
            print(res)
    return None


def register(ipython) -> None:
    """Add the ``%tensor_bench`` line magic to an IPython shell."""
    def _magic(line):
        return tensor_bench(line, ipython)
    _magic.__doc__ = __doc__
    ipython.register_magic_function(_magic, magic_kind="line", magic_name="tensor_bench")
