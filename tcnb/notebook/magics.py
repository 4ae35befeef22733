"""The IPython magics ``%%tensor`` and ``%%derive`` (``%load_ext tcnb``).

    %%tensor logreg                      %%derive --show latex,graph
    X: R[m, n]                           g = grad(f, w)
    y: R[m]                              H = hessian(f, w)
    w: R[n]
    f = sum(log(1 + exp(-y * (X @ w))))

A cell either succeeds completely or changes nothing: names are bound in the user namespace only
after every line worked. A cell that fails raises a :class:`CellError`, so IPython marks it failed
(Run All, ``nbconvert --execute``, nbmake and papermill stop there) and shows only its short message
with the source line and a caret, never a traceback from tcnb's insides. After a failed ``%%tensor``
cell, ``%%derive`` refuses to fall back on an older program.
"""
from __future__ import annotations

import ast
import keyword
from dataclasses import dataclass

from IPython.core.magic import Magics, cell_magic, magics_class, no_var_expand
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

import tcnb

from . import display as D

MODES = ("forward", "reverse", "cross-country")
# derivative function -> (smallest, largest) number of positional expression arguments
CALLS = {"grad": (2, 2), "jacobian": (2, 2), "hessian": (2, 2), "derivative": (2, 2), "hvp": (3, 3)}
KEYWORDS = {"mode": str, "compress": bool, "order": int}


class CellError(tcnb.TcnbError):
    """A bad cell: ``message`` located at (1-based) ``line`` and (0-based) ``col`` of the cell.

    Raised out of a magic it fails the cell the IPython way; ``_render_traceback_`` makes IPython
    (and Jupyter's error output) show the short located message instead of a traceback.
    """

    def __init__(self, message: str, line: int | None = None, col: int | None = None,
                 kind: str = "DeriveError"):
        super().__init__(message, line=line, col=col)
        self.kind = kind
        self.source = ""  # the cell's text, attached where the magic raises it

    def in_cell(self, source: str) -> "CellError":
        """Attach the cell's text (shown around the error position); returns self, to raise in one line."""
        self.source = source
        return self

    def __str__(self):
        return format_error(self.kind, self.message, self.source, self.line, self.col)

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


def format_error(kind: str, message: str, source: str, line: int | None, col: int | None) -> str:
    """``kind: line L, column C: message`` then the source line and a caret under the column."""
    where = ""
    if line is not None:
        where = f"line {line}" + (f", column {col + 1}" if col is not None else "") + ": "
    out = [f"{kind}: {where}{message}"]
    lines = source.splitlines()
    if line is not None and 1 <= line <= len(lines):
        text = lines[line - 1].rstrip()
        out.append("    " + text)
        if col is not None:
            out.append("    " + " " * min(max(col, 0), len(text)) + "^")
    return "\n".join(out)


def _tcnb_error(err: tcnb.TcnbError, source: str, line=None, col=None) -> CellError:
    """A TcnbError as a CellError; errors without a position get the given one (the call's)."""
    msg = err.message + (f" (expected {err.expected})" if err.expected else "")
    if err.line is not None:
        line, col = err.line, err.col
    return CellError(msg, line, col, type(err).__name__)


def _internal(exc: BaseException, what: str, line=None, col=None) -> CellError:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return CellError(f"tcnb failed while {what} ({type(exc).__name__}{': ' + text if text else ''}); "
                     "this is a bug in tcnb, please report it with the cell", line, col, "InternalError")


def check_name(name: str, what: str) -> str:
    """A name a cell may bind or look up: a Python identifier that is not a keyword."""
    if not name.isidentifier() or keyword.iskeyword(name):
        why = "a Python keyword" if keyword.iskeyword(name) else "not a valid Python name"
        raise CellError(f"{what} {name!r} is {why}", kind="UsageError")
    return name


# ------------------------------------------------------------------------------------ %%derive lines

@dataclass
class DeriveLine:
    """One parsed ``%%derive`` line: ``target = func(args, kwargs)``, with its position for errors."""
    target: str
    func: str
    args: list          # Expr values
    kwargs: dict
    line: int
    col: int


def parse_derive_line(text: str, lineno: int, resolve) -> DeriveLine:
    """Check one ``name = fn(args...)`` line with ``ast`` and resolve its argument names."""
    indent = len(text) - len(text.lstrip())
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError as e:
        col = indent + (e.offset - 1 if e.offset else 0)
        raise CellError(f"invalid syntax ({e.msg})", lineno, col, "SyntaxError") from None
    usage = "a line like  H = hessian(f, w)"
    if len(tree.body) != 1:
        raise CellError(f"one derivative per line, expected {usage}", lineno, indent)
    stmt = tree.body[0]
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
        raise CellError(f"expected {usage}", lineno, indent + stmt.col_offset)
    call = stmt.value
    col = lambda node: indent + node.col_offset  # noqa: E731
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.func.id not in CALLS:
        raise CellError(f"the right-hand side must be a call of {', '.join(CALLS)}", lineno, col(call))
    fn = call.func.id
    lo, hi = CALLS[fn]
    args = list(call.args)
    kwargs: dict = {}
    if fn == "derivative" and len(args) == 3:  # derivative(f, w, 3)
        kwargs["order"] = args.pop()
        kwargs["order"] = _constant(kwargs["order"], "order", int, lineno, col)
    for a in args:
        if not isinstance(a, ast.Name):
            raise CellError(f"arguments of {fn} must be names of expressions or variables", lineno, col(a))
    if not lo <= len(args) <= hi:
        names = {"hvp": "(f, w, v)"}.get(fn, "(f, w)")
        raise CellError(f"{fn} takes {lo} expression arguments {names}, got {len(args)}", lineno, col(call))
    values = [resolve(a.id, lineno, col(a)) for a in args]
    for kw in call.keywords:
        if kw.arg is None or kw.arg not in KEYWORDS or (kw.arg == "order") != (fn == "derivative"):
            allowed = "order=, mode=, compress=" if fn == "derivative" else "mode=, compress="
            raise CellError(f"unknown keyword for {fn} (allowed: {allowed})", lineno, col(kw.value))
        kwargs[kw.arg] = _constant(kw.value, kw.arg, KEYWORDS[kw.arg], lineno, col)
    if "mode" in kwargs and kwargs["mode"] not in MODES:
        raise CellError(f"mode must be one of {', '.join(MODES)}", lineno, col(call))
    return DeriveLine(stmt.targets[0].id, fn, values, kwargs, lineno, col(call))


def _constant(node, name, typ, lineno, col):
    ok = isinstance(node, ast.Constant) and type(node.value) is typ
    if not ok or (typ is int and node.value < 0):
        what = {int: "a non-negative integer", bool: "True or False", str: "a string"}[typ]
        raise CellError(f"{name} must be {what}", lineno, col(node))
    return node.value


# ------------------------------------------------------------------------------------ the magics

def _parse_show(text: str) -> tuple:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if parts == ("none",):
        return ()
    bad = [p for p in parts if p not in D.PARTS]
    if bad:
        raise CellError(f"unknown --show part {bad[0]!r} (choose from {', '.join(D.PARTS)}, or none)",
                        kind="UsageError")
    return parts


def _parse_sizes(text: str | None) -> dict:
    sizes: dict = {}
    for item in (text or "").replace(" ", "").split(","):
        if not item:
            continue
        key, eq, val = item.partition("=")
        if not eq or not key.isidentifier() or not val.isdigit():
            raise CellError(f"--sizes wants name=integer pairs like m=1000,n=100, got {item!r}",
                            kind="UsageError")
        sizes[key] = int(val)
    return sizes


@magics_class
class TensorMagics(Magics):
    """The ``%%tensor`` and ``%%derive`` magics; remember the last program (and failure)

    so %%derive can use it, or say why there is none.
    """
    def __init__(self, shell):
        super().__init__(shell)
        self.last_program = None
        self.last_program_name = None
        self.last_failure = None  # "TensorSyntaxError at line 3" after a failed %%tensor cell

    # ---------------------------------------------------------------- helpers
    def _args(self, fn, line: str):
        """The magic's arguments, or None after printing its help for ``-h`` / ``--help``."""
        if _wants_help(line):
            print(fn.__doc__)
            return None
        try:
            return parse_argstring(fn, line)
        except Exception as exc:  # UsageError from argparse: short message, nothing bound
            raise CellError(str(exc).strip().splitlines()[-1], kind="UsageError") from None

    # ---------------------------------------------------------------- %%tensor
    @cell_magic
    @no_var_expand
    @magic_arguments()
    @argument("name", nargs="?", default=None,
              help="bind the parsed program under this name (definitions are always bound by theirs)")
    @argument("--no-display", action="store_true", help="bind only; do not show the program")
    def tensor(self, line, cell):
        """Parse the cell as a tcnb tensor program, show it (LaTeX + DAG) and bind it.

        Each definition is bound by its own name; ``name``, when given, binds the Program.
        The program becomes the one ``%%derive`` resolves names from. A failed cell binds nothing
        and leaves ``%%derive`` without a program (it says so instead of using an older one).
        """
        if _wants_help(line):
            return self._args(self.tensor, line)
        try:
            args, prog, bindings = self._tensor_cell(line, cell)
        except CellError as err:
            self.last_program, self.last_program_name = None, None
            self.last_failure = err.kind + (f" at line {err.line}" if err.line is not None else "")
            raise err.in_cell(cell) from None
        _note_rebinding(self.shell.user_ns, bindings)
        self.shell.push(bindings)
        self.last_program, self.last_program_name, self.last_failure = prog, args.name, None
        if not args.no_display:
            D.show(prog, name=args.name)

    def _tensor_cell(self, line: str, cell: str):
        args = self._args(self.tensor, line)
        if args.name is not None:
            check_name(args.name, "the program name")
        try:
            prog = tcnb.parse(cell)
        except tcnb.TcnbError as err:
            raise _tcnb_error(err, cell) from None
        except RecursionError:
            raise CellError("the program is nested too deeply", kind="TensorSyntaxError") from None
        except Exception as exc:  # noqa: BLE001 - never a traceback from tcnb's insides
            raise _internal(exc, "parsing the program") from None
        bindings = dict(prog.definitions)
        if args.name:
            bindings[args.name] = prog
        return args, prog, bindings

    # ---------------------------------------------------------------- %%derive
    @cell_magic
    @no_var_expand
    @magic_arguments()
    @argument("--mode", choices=MODES, default=None,
              help="differentiation mode (default: tcnb's fastest correct one)")
    @argument("--no-compress", action="store_true",
              help="keep unit tensors dense (the uncompressed baseline)")
    @argument("--show", default="latex",
              help="comma-separated parts to display: latex,graph,code,stats (or none)")
    @argument("--sizes", default=None,
              help="dimension sizes for code and stats, e.g. m=1000,n=100")
    @argument("--program", default=None,
              help="resolve names from this Program instead of the last %%tensor one")
    def derive(self, line, cell):
        """Derive and bind: each line is ``name = grad|jacobian|hessian|derivative|hvp(...)``.

        Names are resolved from earlier lines of the cell, then the program (the last ``%%tensor``
        one or ``--program``), then expressions in the namespace. Nothing is bound unless every
        line succeeds; a failed cell raises, so the notebook stops there.
        """
        if _wants_help(line):
            return self._args(self.derive, line)
        try:
            args = self._args(self.derive, line)
            show = _parse_show(args.show)
            sizes = _parse_sizes(args.sizes)
            prog = self._program(args.program)
            results = self._derive_all(cell, prog, args)
        except CellError as err:
            raise err.in_cell(cell) from None
        except Exception as exc:  # noqa: BLE001 - never a traceback from tcnb's insides
            raise _internal(exc, "reading the %%derive cell").in_cell(cell) from None
        self.shell.push(dict(results))
        for name, expr in results:
            if show:
                D.show(expr, parts=show, sizes=sizes, name=name)

    def _program(self, name):
        if name is None:
            if self.last_failure is not None:
                raise CellError(f"the last %%tensor cell failed ({self.last_failure}), so there is no "
                                "program to take names from: fix that cell and run it again, or name a "
                                "program with --program NAME", kind="UsageError")
            if self.last_program is None:
                raise CellError("no program yet: run a %%tensor cell first (or pass --program NAME)",
                                kind="UsageError")
            return self.last_program
        check_name(name, "--program")
        prog = self.shell.user_ns.get(name)
        if not isinstance(prog, tcnb.Program):
            what = "not defined" if prog is None else f"a {type(prog).__name__}, not a tcnb Program"
            raise CellError(f"--program {name}: {name} is {what}", kind="UsageError")
        return prog

    def _derive_all(self, cell: str, prog, args) -> list:
        results: dict = {}
        ns = self.shell.user_ns

        def resolve(name, lineno, col):
            if name in results:
                return results[name]
            if name in prog:
                return prog[name]
            value = ns.get(name)
            if isinstance(value, tcnb.Expr):
                return value
            known = ", ".join(list(prog) + list(results))
            raise CellError(f"unknown name '{name}' (names here: {known})", lineno, col, "NameError")

        lines = cell.splitlines()
        for lineno, text in enumerate(lines, 1):
            if not text.strip() or text.strip().startswith("#"):
                continue
            d = parse_derive_line(text, lineno, resolve)
            kwargs = dict(d.kwargs)
            kwargs.setdefault("mode", args.mode)
            kwargs.setdefault("compress", not args.no_compress)
            try:
                results[d.target] = getattr(tcnb, d.func)(*d.args, **kwargs)
            except tcnb.TcnbError as err:
                raise _tcnb_error(err, cell, lineno, d.col) from None
            except RecursionError:
                raise CellError("the expression is nested too deeply", lineno, d.col) from None
            except Exception as exc:  # noqa: BLE001
                raise _internal(exc, f"computing {d.func}", lineno, d.col) from None
        if not results:
            raise CellError("nothing to derive: write lines like  H = hessian(f, w)", kind="UsageError")
        return list(results.items())


def _wants_help(line: str) -> bool:
    return any(tok in ("-h", "--help") for tok in line.split())


def _note_rebinding(ns: dict, bindings: dict) -> None:
    """One line when %%tensor replaces a name that held something other than a tcnb object (data the
    user may still want: ``X = np.load(...)`` followed by a program defining ``X``)."""
    replaced = [f"{name} (was {type(ns[name]).__name__})" for name in bindings
                if name in ns and not isinstance(ns[name], (tcnb.Expr, tcnb.Program))]
    if replaced:
        print("note: %%tensor rebinds " + ", ".join(replaced))


def load_ipython_extension(ipython) -> None:
    """``%load_ext tcnb``: register the magics (``%%tensor``, ``%%derive``, ``%tensor_bench``) and the
    rich HTML display of tcnb objects."""
    from ..bench import magic as bench_magic  # the bench layer's magic; its heavy imports stay lazy
    ipython.register_magics(TensorMagics)
    bench_magic.register(ipython)
    D.register_formatters(ipython)


def unload_ipython_extension(ipython) -> None:
    """``%unload_ext tcnb``: remove the rich display of tcnb objects."""
    D.unregister_formatters(ipython)
