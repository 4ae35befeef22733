"""Command line: ``python -m tcnb derive program.tensor --of f --wrt w --order 2 --format latex``.

Reads the program from a file or standard input ("-"), UTF-8, prints the derivative; bad input (a
missing, binary or non-UTF-8 file, a program with errors, an order above tcnb.api.MAX_ORDER) prints a
short message, located like in a notebook where there is source text, and exits with status 2 (no
traceback).
"""
from __future__ import annotations

import argparse
import sys

from . import api
from .errors import TcnbError

FORMATS = ("einstein", "latex", "numpy", "matrix", "stats")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tcnb", description="Symbolic tensor calculus in Einstein notation.")
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("derive", help="print a derivative of an expression of a tensor program")
    d.add_argument("program", help="file with the tensor program, or - for standard input")
    d.add_argument("--of", required=True, help="name of the expression to differentiate")
    d.add_argument("--wrt", required=True, help="name of the declared variable")
    d.add_argument("--order", type=int, default=1,
                   help=f"derivative order (default 1, at most {api.MAX_ORDER})")
    d.add_argument("--mode", choices=["forward", "reverse", "cross-country"], default=None)
    d.add_argument("--no-compress", action="store_true", help="keep unit tensors dense (paper's baseline)")
    d.add_argument("--format", choices=FORMATS, default="einstein")
    d.add_argument("--sizes", default="", help="dimension sizes for --format stats/numpy, e.g. n=100,m=200")
    s = sub.add_parser("show", help="print the parsed program")
    s.add_argument("program")
    s.add_argument("--format", choices=("einstein", "latex"), default="einstein")
    return ap


class UsageError(Exception):
    """Bad command-line input (a file that is not a readable program, bad --sizes): exit status 2."""


def _read(path: str) -> str:
    """The program text of a file or of standard input; UTF-8 (a leading byte-order mark is fine)."""
    where = "standard input" if path == "-" else path
    try:
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as fh:
                data = fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror or exc}") from None
    if b"\0" in data:
        raise UsageError(f"{where} is a binary file, not a tensor program (it contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(f"{where} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}); "
                         "save the program as UTF-8") from None


def _sizes(text: str) -> dict:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if not name.strip().isidentifier() or not value.strip().isdigit():
            raise UsageError(f"--sizes expects name=int pairs like n=100,m=200, got {part!r}")
        out[name.strip()] = int(value)
    return out


def _render(e, fmt: str, sizes: dict) -> str:
    if fmt == "latex":
        return e.latex()
    if fmt == "numpy":  # a module that runs without tcnb
        return e.to_source(standalone=True, **sizes)
    if fmt == "matrix":
        return e.matrix() or "(not representable in matrix notation)\n" + e.einstein()
    if fmt == "stats":
        return repr(e.stats(**sizes))
    return repr(e)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        sizes = _sizes(getattr(args, "sizes", ""))
        prog = api.parse(_read(args.program))
        if args.command == "show":
            print(prog._repr_latex_() if args.format == "latex" else repr(prog))
            return 0
        if args.of not in prog:
            raise UsageError(f"no expression named {args.of!r}; the program defines {', '.join(prog)}")
        if args.wrt not in prog.variables:
            raise UsageError(f"{args.wrt!r} is not a declared variable; declared: {', '.join(prog.variables)}")
        e = api.derivative(prog[args.of], prog[args.wrt], order=args.order, mode=args.mode,
                           compress=not args.no_compress)
        print(_render(e, args.format, sizes))
        return 0
    except UsageError as err:
        print(f"tcnb: {err}", file=sys.stderr)
        return 2
    except TcnbError as err:
        print(f"tcnb: {type(err).__name__}: {err}", file=sys.stderr)
        return 2
    except RecursionError:
        print("tcnb: the program is nested too deeply", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
