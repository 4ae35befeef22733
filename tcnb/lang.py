"""The tensor language: Python syntax, read with the standard library's ``ast``.

A program is declarations (``X: R[m, n]``), definitions in array syntax (``z = X @ w``) or index
notation (``G[i, j] = X[k, i] * X[k, j]``, the Einstein convention per term: see terms.py), explicit
``einsum`` calls, and element-wise function definitions (``def swish(t): return t * sigmoid(t)``).

Products are collected while an expression is read (a *pending product*: factors with index labels)
and become one einsum node when something else consumes them, so ``X.T @ X``, ``einsum("ki,kj->ij",
X, X)`` and ``G[i, j] = X[k, i] * X[k, j]`` all build the same hash-consed node. Every failure is a
``TensorSyntaxError`` / ``ShapeError`` located at the offending line and column.
"""
from __future__ import annotations

import ast
import contextlib
import itertools
import string
import sys
from dataclasses import dataclass, field

import sympy

from . import ir
from .dims import as_dim, shape_str, symbol
from .errors import ShapeError, TcnbError, TensorSyntaxError
from .functions import (ELEMENTWISE, GENERAL, LANGUAGE_FUNCTIONS, USER_FUNCTIONS, canonical_formula,
                        elementwise_formula, make_general, sympy_namespace)  # noqa: F401
from .terms import plan_sums

_fresh = itertools.count()


def fresh_label():
    """A new label that no index name can equal (for implicit axes)."""
    return ("_", next(_fresh))


def _label_name(l) -> str:
    return l if isinstance(l, str) else "(an implicit axis)"


@dataclass
class Prod:
    """A pending product: Σ over labels not in ``out`` of Π factors, times ``coef``."""
    factors: list  # [(node, labels)]
    out: tuple
    dims: dict = field(default_factory=dict)  # label -> dim

    @staticmethod
    def of(node: ir.Node, labels=None) -> "Prod":
        """The product of one node, indexed by ``labels`` (fresh labels by default); ShapeError

        where a repeated label has two dimensions.
        """
        labels = tuple(labels) if labels is not None else tuple(fresh_label() for _ in node.shape)
        dims = {}
        for l, d in zip(labels, node.shape):
            if dims.setdefault(l, d) != d:
                raise ShapeError(f"index used for dimensions {dims[l]} and {d}")
        return Prod([(node, labels)], tuple(dict.fromkeys(labels)), dims)

    @property
    def shape(self):
        """The shape of the result (the output labels' dimensions)."""
        return tuple(self.dims[l] for l in self.out)

    def uncovered(self) -> set:
        """Output labels no factor has: new axes (x[:, None]) waiting to be broadcast."""
        return set(self.out) - {l for _, labels in self.factors for l in labels}

    def node(self) -> ir.Node:
        """The IR node of the product, broadcast with ones over output labels no factor has."""
        free = [l for l in self.out if l in self.uncovered()]
        if free:
            ones = (ir.Const.make(1.0, tuple(self.dims[l] for l in free)), tuple(free))
            return Prod(self.factors + [ones], self.out, self.dims).node()
        if len(self.factors) == 1 and self.factors[0][1] == self.out:
            return self.factors[0][0]
        return ir.Einsum.make([f for f, _ in self.factors], [l for _, l in self.factors], self.out)

    def renamed(self, mapping: dict) -> "Prod":
        """Rename labels (summed labels not in mapping get fresh names to avoid capture)."""
        full = dict(mapping)
        for _, labels in self.factors:
            for l in labels:
                if l not in full:
                    full[l] = fresh_label()
        return Prod([(n, tuple(full[l] for l in labels)) for n, labels in self.factors],
                    tuple(full[l] for l in self.out), {full[l]: d for l, d in self.dims.items()})

    def apart(self) -> "Prod":
        """The same product with every label fresh: an einsum's letters are local to it, so its
        result must not share labels with whatever it meets next."""
        return self.renamed({})

    def contracted(self, labels) -> "Prod":
        """Sum the output labels ``labels`` here, renamed apart so that a later factor using the
        same index name is not captured by this sum."""
        out = tuple(l for l in self.out if l not in labels)
        return Prod(self.factors, out, self.dims).renamed({l: l for l in out})

    def stretched(self, label, dim) -> "Prod":
        """NumPy broadcasting of the size-1 output axis ``label`` to ``dim``: the factors keep a
        summed size-1 label of their own, and ``label`` becomes a new axis that ones fill."""
        if label in self.uncovered():
            return Prod(self.factors, self.out, {**self.dims, label: dim})
        one = fresh_label()
        factors = [(n, tuple(one if l == label else l for l in labels)) for n, labels in self.factors]
        return Prod(factors, self.out, {**self.dims, one: sympy.Integer(1), label: dim})

    def times(self, other: "Prod", out=None) -> "Prod":
        """The product with ``other`` (outputs: both, or ``out``); ShapeError where an index

        name meets two dimensions.
        """
        dims = dict(self.dims)
        for l, d in other.dims.items():
            if dims.setdefault(l, d) != d:
                raise ShapeError(f"index '{_label_name(l)}' is used for dimension {dims[l]} and for {d}",
                                 expected=f"one dimension per index name")
        if out is None:
            out = tuple(dict.fromkeys(self.out + other.out))
        return Prod(self.factors + other.factors, tuple(out), dims)

    def scaled(self, c: float) -> "Prod":
        """The product times the scalar ``c``."""
        return self.times(Prod.of(ir.Const.make(c), ()))


@dataclass
class Program:
    """A parsed tensor program: a mapping from names to expressions (declared variables included)."""
    source: str
    variables: dict          # name -> ir.Var
    definitions: dict        # name -> ir.Node (in order of definition)
    functions: dict          # name -> sympy formula (element-wise functions defined in the program)
    lines: dict              # name -> line number of its statement
    index_form: dict = field(default_factory=dict)  # name -> LHS index names for index notation

    def node(self, name: str) -> ir.Node:
        """The IR node of a definition or variable; KeyError if the name is unknown."""
        if name in self.definitions:
            return self.definitions[name]
        if name in self.variables:
            return self.variables[name]
        raise KeyError(name)

    @property
    def names(self) -> list:
        """All names: the variables, then the definitions."""
        return list(self.variables) + list(self.definitions)

    @property
    def dims(self) -> list:
        """Names of the dimension symbols the shapes use, in order of first use."""
        seen: dict = {}
        for v in list(self.variables.values()) + list(self.definitions.values()):
            for d in v.shape:
                for s in sorted(d.free_symbols, key=str):
                    seen[s.name] = True
        return list(seen)


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.MatMult: "@"}
_UNSUPPORTED_STMT = {ast.Import: "import", ast.ImportFrom: "import", ast.For: "a for loop",
                     ast.While: "a while loop", ast.If: "an if statement", ast.With: "a with statement",
                     ast.ClassDef: "a class definition", ast.Return: "return outside def",
                     ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal",
                     ast.Try: "try", ast.Raise: "raise", ast.Assert: "assert", ast.AugAssign:
                     "augmented assignment (+=)", ast.AsyncFunctionDef: "async def",
                     ast.Pass: "pass", ast.Break: "break", ast.Continue: "continue"}
_BUILTINS = sorted(set(ELEMENTWISE) | set(GENERAL) | LANGUAGE_FUNCTIONS)


MAX_NESTING = 200  # levels of nesting read for sure (Python's own parser allows 200 brackets)
_FRAMES_PER_LEVEL = 5  # Python frames the reader uses per level (measured: about 3.3)


@contextlib.contextmanager
def _nesting_headroom():
    """Recursion room for MAX_NESTING levels on top of the caller's frames, restored afterwards."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(old + _FRAMES_PER_LEVEL * MAX_NESTING)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _ast_depth(node: ast.AST) -> int:
    depth, stack = 0, [(node, 1)]
    while stack:
        n, d = stack.pop()
        depth = max(depth, d)
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(n))
    return depth


def parse(source: str) -> Program:
    """Parse a tensor program; raises TensorSyntaxError / ShapeError naming line and column."""
    if not isinstance(source, str):
        raise TensorSyntaxError(f"a program is text, got {type(source).__name__}")
    return _Parser(source).run()


class _Parser:
    def __init__(self, source: str):
        self.source = source
        self.src_lines = source.splitlines() or [""]
        self.variables: dict = {}
        self.definitions: dict = {}
        self.functions: dict = {}
        self.lines: dict = {}
        self.index_form: dict = {}
        self.index_mode = False
        self.dim_names: set = set()
        self.index_ranges: dict = {}  # index name -> dimension, for affine index maps
        self.explicit_ranges: dict = {}  # ranges written on the left side of the current statement
        self.summed_at: dict = {}  # id(product node) -> indices it sums (index notation, terms.py)

    # ------------------------------------------------------------------ errors
    def _line(self, lineno):
        if lineno is not None and 1 <= lineno <= len(self.src_lines):
            return self.src_lines[lineno - 1]
        return None

    def column(self, node, line):
        """The node's column in characters: ``ast`` counts UTF-8 bytes, so names like λ would shift
        the caret."""
        col = getattr(node, "col_offset", None)
        text = self._line(line)
        if col is None or text is None:
            return col
        return len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    def fail(self, node, message, expected=None, cls=TensorSyntaxError):
        line = getattr(node, "lineno", None)
        raise cls(message, line=line, col=self.column(node, line), source_line=self._line(line),
                  expected=expected)

    def too_deep(self, line: int, how: str) -> TensorSyntaxError:
        """A short error for an expression nested too deeply: its line can be thousands of
        characters long, so only its start is shown."""
        text = self._line(line) or ""
        if len(text) > 72:
            text = text[:72] + " ..."
        return TensorSyntaxError(f"expression nested too deeply ({how})", line=line, source_line=text,
                                 expected=f"at most {MAX_NESTING} levels; split it into several definitions")

    def locate(self, err: TcnbError, node) -> TcnbError:
        line = getattr(node, "lineno", None)
        return err.at(line, self.column(node, line), self._line(line))

    # ------------------------------------------------------------------ statements
    def run(self) -> Program:
        try:
            tree = ast.parse(self.source, mode="exec")
        except SyntaxError as exc:
            line = exc.lineno or 1
            if "too many nested parentheses" in exc.msg:
                raise self.too_deep(line, f"over {MAX_NESTING} levels of brackets") from None
            col = max((exc.offset or 1) - 1, 0)
            msg = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax: {exc.msg}"
            raise TensorSyntaxError(msg, line=line, col=col,
                                    source_line=self._line(line)) from None
        except (RecursionError, MemoryError):  # Python's parser: no line given; the longest one
            line = max(range(len(self.src_lines)), key=lambda k: len(self.src_lines[k])) + 1
            raise self.too_deep(line, "more than Python's parser reads") from None
        except (ValueError, OverflowError) as exc:
            raise TensorSyntaxError(f"cannot read the program: {exc}", line=1, col=0,
                                    source_line=self._line(1)) from None
        with _nesting_headroom():
            for stmt in tree.body:
                self.run_statement(stmt)
        return Program(self.source, self.variables, self.definitions, self.functions, self.lines,
                       self.index_form)

    def run_statement(self, stmt):
        try:
            self.statement(stmt)
        except TcnbError as err:
            raise self.locate(err, stmt) from None
        except RecursionError:
            raise self.too_deep(stmt.lineno, f"{_ast_depth(stmt)} levels") from None
        except (ValueError, TypeError, OverflowError, ZeroDivisionError, ArithmeticError,
                sympy.SympifyError) as exc:
            self.fail(stmt, f"cannot build this statement: {exc}")

    def statement(self, stmt):
        if isinstance(stmt, ast.AnnAssign):
            return self.declaration(stmt)
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1:
                self.fail(stmt, "chained assignment is not supported", expected="one name = expression")
            target = stmt.targets[0]
            if isinstance(target, ast.Name):
                self.check_new_name(target)
                self.index_mode = False
                value = self.expr(stmt.value)
                node = value.node() if isinstance(value, Prod) else ir.Const.make(value)
                self.define(target.id, node, stmt)
                return
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                return self.index_definition(target, stmt)
            self.fail(target, "cannot assign to this", expected="a name, or a name with indices like G[i, j]")
        if isinstance(stmt, ast.FunctionDef):
            return self.function_def(stmt)
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                return  # a docstring / comment string
            self.fail(stmt, "a bare expression does nothing here",
                      expected="a declaration (x: R[n]) or a definition (y = ...)")
        what = _UNSUPPORTED_STMT.get(type(stmt), type(stmt).__name__)
        self.fail(stmt, f"unsupported Python syntax: {what}",
                  expected="declarations, definitions and def of element-wise functions")

    def check_new_name(self, target):
        name = target.id
        if name in self.variables or name in self.definitions:
            where = self.lines.get(name)
            self.fail(target, f"'{name}' is already defined" + (f" on line {where}" if where else ""),
                      expected="a new name")
        if name in _BUILTINS or name in self.functions or name in USER_FUNCTIONS:
            self.fail(target, f"'{name}' is the name of a function", expected="another name")
        if name == "R":
            self.fail(target, "'R' is reserved for declarations", expected="another name")

    def define(self, name, node, stmt):
        self.definitions[name] = node
        self.lines[name] = stmt.lineno

    def declaration(self, stmt: ast.AnnAssign):
        if not isinstance(stmt.target, ast.Name):
            self.fail(stmt.target, "a declaration names one variable", expected="name: R[dims]")
        if stmt.value is not None:
            self.fail(stmt.value, "a declaration has no value", expected="name: R[dims] without '= ...'")
        self.check_new_name(stmt.target)
        ann = stmt.annotation
        if isinstance(ann, ast.Name) and ann.id == "R":
            dims = ()
        elif isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name) and ann.value.id == "R":
            elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            dims = tuple(self.dimension(e) for e in elts)
        else:
            self.fail(ann, "unknown type in a declaration", expected="R (a scalar) or R[dims] (a real tensor)")
        for d in dims:
            self.dim_names |= {s.name for s in d.free_symbols}
        self.variables[stmt.target.id] = ir.Var.make(stmt.target.id, dims)
        self.lines[stmt.target.id] = stmt.lineno

    def dimension(self, e) -> sympy.Expr:
        """A dimension: a symbol, a positive int, or integer arithmetic of those (m + n - 1)."""
        if isinstance(e, ast.Name):
            if e.id in self.variables or e.id in self.definitions:
                self.fail(e, f"'{e.id}' is a tensor, not a dimension", expected="a dimension symbol")
            return symbol(e.id)
        if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool):
            if e.value < 1:
                self.fail(e, f"a dimension must be positive, got {e.value}", expected="a positive integer")
            return sympy.Integer(e.value)
        if isinstance(e, ast.BinOp) and type(e.op) in (ast.Add, ast.Sub, ast.Mult):
            a, b = self.dimension(e.left), self.dimension(e.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(e.op)]
        self.fail(e, "not a dimension", expected="a dimension symbol, a positive integer, or + - * of those")

    def function_def(self, stmt: ast.FunctionDef):
        name = stmt.name
        if name in _BUILTINS or name in self.variables or name in self.definitions or name in self.functions:
            self.fail(stmt, f"'{name}' is already defined", expected="a new function name")
        args = stmt.args
        if (len(args.args) != 1 or args.vararg or args.kwarg or args.kwonlyargs or args.defaults
                or args.posonlyargs or stmt.decorator_list):
            self.fail(stmt, "an element-wise function takes exactly one argument",
                      expected="def name(t): return <formula in t>")
        body = [s for s in stmt.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            self.fail(stmt, "the body must be one return statement", expected="def name(t): return <formula>")
        formula = self.scalar_formula(body[0].value, args.args[0].arg)
        self.functions[name] = formula
        self.lines[name] = stmt.lineno

    def scalar_formula(self, e, param: str) -> sympy.Expr:
        """An element-wise formula in one scalar argument, as SymPy."""
        ns = sympy_namespace()
        for fname, f in self.functions.items():
            ns[fname] = (lambda g: (lambda x: g.subs(ir.T, x)))(f)
        if isinstance(e, ast.Name):
            if e.id == param:
                return ir.T
            self.fail(e, f"unknown name '{e.id}' in an element-wise function", expected=f"the argument '{param}'")
        if isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool):
            return sympy.Float(e.value) if isinstance(e.value, float) else sympy.Integer(e.value)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            v = self.scalar_formula(e.operand, param)
            return -v if isinstance(e.op, ast.USub) else v
        if isinstance(e, ast.BinOp) and type(e.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow):
            a, b = self.scalar_formula(e.left, param), self.scalar_formula(e.right, param)
            return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                    ast.Div: lambda: a / b, ast.Pow: lambda: a ** b}[type(e.op)]()
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords:
            if e.func.id in ns and e.func.id in (set(ELEMENTWISE) | set(self.functions) | set(USER_FUNCTIONS)):
                if len(e.args) != 1:
                    self.fail(e, f"{e.func.id} takes one argument")
                return ns[e.func.id](self.scalar_formula(e.args[0], param))
            self.fail(e.func, f"'{e.func.id}' is not an element-wise function",
                      expected="one of " + ", ".join(sorted(ELEMENTWISE)))
        self.fail(e, "unsupported syntax in an element-wise function", expected="arithmetic and element-wise functions of the argument")

    # ------------------------------------------------------------------ index notation
    def index_definition(self, target: ast.Subscript, stmt):
        self.check_new_name(target.value)
        lhs = self.index_names(target.slice, allow_ranges=True)
        names = [n for n, _ in lhs]
        if len(set(names)) != len(names):
            self.fail(target, "an index appears twice on the left", expected="distinct indices")
        self.explicit_ranges = {n: r for n, r in lhs if r is not None}
        self.index_ranges = self.infer_ranges(lhs, stmt.value)
        self.summed_at = plan_sums(stmt.value, names, set(self.explicit_ranges), self.is_index_name,
                                   self.source, lambda node, msg, exp: self.fail(node, msg, exp, cls=ShapeError))
        self.index_mode = True
        try:
            value = self.expr(stmt.value)
        finally:
            self.index_mode = False
            self.summed_at = {}
        value = self.as_prod(value, stmt.value)
        for n, rng in lhs:
            if n not in value.dims:
                if rng is None:
                    self.fail(target, f"index '{n}' appears on the left but not on the right, so its range is unknown",
                              expected=f"a range such as {n}:n")
                value = value.times(Prod.of(ir.Const.make(1.0, (rng,)), (n,)))
            elif rng is not None and value.dims[n] != rng:
                self.fail(target, f"index '{n}' ranges over {value.dims[n]} on the right but {rng} on the left",
                          cls=ShapeError)
        prod = Prod(value.factors, tuple(names), value.dims)
        self.define(target.value.id, prod.node(), stmt)
        self.index_form[target.value.id] = tuple(names)

    def index_names(self, sl, allow_ranges=False):
        elts = sl.elts if isinstance(sl, ast.Tuple) else [sl]
        out = []
        for e in elts:
            if isinstance(e, ast.Name):
                out.append((e.id, None))
            elif allow_ranges and isinstance(e, ast.Slice) and isinstance(e.lower, ast.Name) \
                    and e.upper is not None and e.step is None:
                out.append((e.lower.id, self.dimension(e.upper)))
            else:
                self.fail(e, "not an index", expected="an index name like i" + (" or a range i:n" if allow_ranges else ""))
        return out

    # ------------------------------------------------------------------ expressions
    def expr(self, e):
        """Evaluate an expression to a Prod (tensor) or a Python number (constant)."""
        try:
            return self._expr(e)
        except TcnbError as err:
            raise self.locate(err, e) from None

    def as_prod(self, v, e) -> Prod:
        if isinstance(v, Prod):
            return v
        return Prod.of(ir.Const.make(v), ())

    def as_node(self, v, e) -> ir.Node:
        return self.as_prod(v, e).node()

    def _expr(self, e):
        if isinstance(e, ast.Constant):
            if isinstance(e.value, bool) or not isinstance(e.value, (int, float)):
                self.fail(e, f"unsupported constant {e.value!r}", expected="a number")
            return float(e.value)
        if isinstance(e, ast.Name):
            return self.name(e)
        if isinstance(e, ast.UnaryOp):
            if isinstance(e.op, ast.USub):
                v = self.expr(e.operand)
                return -v if not isinstance(v, Prod) else v.scaled(-1.0)
            if isinstance(e.op, ast.UAdd):
                return self.expr(e.operand)
            self.fail(e, "unsupported operator", expected="+ - * / ** @")
        if isinstance(e, ast.BinOp):
            op = _BINOPS.get(type(e.op))
            if op is None:
                self.fail(e, "unsupported operator", expected="+ - * / ** @")
            return self.binop(op, self.expr(e.left), self.expr(e.right), e)
        if isinstance(e, ast.Attribute):
            if e.attr == "T":
                v = self.expr(e.value)
                if not isinstance(v, Prod):
                    return v
                if self.index_mode:
                    self.fail(e, ".T in index notation: swap the indices instead")
                return Prod(v.factors, tuple(reversed(v.out)), v.dims)
            self.fail(e, f"unknown attribute .{e.attr}", expected=".T")
        if isinstance(e, ast.Call):
            return self.call(e)
        if isinstance(e, ast.Subscript):
            return self.subscript(e)
        what = type(e).__name__
        self.fail(e, f"unsupported syntax: {what}", expected="arithmetic, @, .T, function calls, indexing")

    def name(self, e: ast.Name):
        n = e.id
        if n in self.variables:
            node = self.variables[n]
        elif n in self.definitions:
            node = self.definitions[n]
        elif n in _BUILTINS or n in self.functions or n in USER_FUNCTIONS:
            self.fail(e, f"'{n}' is a function", expected=f"a call like {n}(x)")
        elif n in self.dim_names:
            self.fail(e, f"'{n}' is a dimension symbol, not a tensor", expected="a declared tensor")
        else:
            self.fail(e, f"undeclared name '{n}'", expected=f"a declaration like {n}: R[n] before its first use")
        if self.index_mode and node.rank > 0:
            self.fail(e, f"'{n}' has rank {node.rank} and needs indices in index notation",
                      expected=f"{n}[" + ", ".join("ijkl"[:node.rank]) + "]")
        return Prod.of(node)

    def new_axes(self, e: ast.Subscript):
        """x[:, None]: NumPy's new axis of size 1, broadcast against whatever it meets."""
        base = self.as_prod(self.expr(e.value), e.value)
        elts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        if sum(isinstance(x, ast.Slice) for x in elts) != len(base.out):
            self.fail(e, f"{sum(isinstance(x, ast.Slice) for x in elts)} ':' for a tensor of rank {len(base.out)}",
                      expected=f"{len(base.out)} ':' plus any number of None", cls=ShapeError)
        it = iter(base.out)
        out, dims = [], dict(base.dims)
        for x in elts:
            if isinstance(x, ast.Slice):
                out.append(next(it))
            else:
                lab = fresh_label()
                dims[lab] = sympy.Integer(1)
                out.append(lab)
        return Prod(base.factors, tuple(out), dims)

    def subscript(self, e: ast.Subscript):
        elts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        if not self.index_mode and elts and all(
                (isinstance(x, ast.Slice) and x.lower is None and x.upper is None and x.step is None)
                or (isinstance(x, ast.Constant) and x.value is None) for x in elts):
            return self.new_axes(e)
        if not self.index_mode:
            self.fail(e, "indices are only used in index notation",
                      expected="a definition like G[i, j] = X[k, i] * X[k, j]")
        if not isinstance(e.value, ast.Name):
            self.fail(e.value, "only a named tensor takes indices in index notation",
                      expected="a declared or defined name: define the expression first (Z = X.T) and write Z[i, j]")
        self.index_mode = False
        try:
            base = self.as_prod(self.expr(e.value), e.value)
        finally:
            self.index_mode = True
        elts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        for x, d in zip(elts, base.shape):
            self.check_range(x, d, e.value.id)
        if any(not isinstance(x, ast.Name) for x in elts):
            access = self.affine_subscript(e, base, elts)
        else:
            names = self.index_names(e.slice)
            if len(names) != len(base.out):
                self.fail(e, f"{len(names)} indices for a tensor of rank {len(base.out)}",
                          expected=f"{len(base.out)} indices", cls=ShapeError)
            labels = [n for n, _ in names]
            node = base.node()
            access = Prod.of(node, labels) if len(set(labels)) == len(labels) else self.diagonal_index(node, labels)
        here = self.summed_at.get(id(e))  # A[k, k] with k used nowhere else: a trace, summed here
        return access.contracted(here) if here else access

    # ------------------------------------------------------------------ linear index maps
    def infer_ranges(self, lhs, rhs) -> dict:
        """Index ranges from the left side (i:m) and from plain uses on the right (x[k] -> k ranges
        over x's axis); affine uses like x[i + k] need every index's range from one of these."""
        ranges = {n: r for n, r in lhs if r is not None}
        for node in ast.walk(rhs):  # (explicit ranges win over plain uses)
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
                t = self.variables.get(node.value.id, self.definitions.get(node.value.id))
                if t is None:
                    continue
                elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                if len(elts) != t.rank:
                    continue
                for x, d in zip(elts, t.shape):
                    if isinstance(x, ast.Name):
                        ranges.setdefault(x.id, d)
        return ranges

    def is_index_name(self, name: str) -> bool:
        """In an index expression, a dimension symbol is an offset (r[n - 1 - i]) unless it is used
        as an index itself."""
        return not (name in self.dim_names and name not in self.index_ranges)

    def check_range(self, x, dim, tensor: str):
        """x[i] with i:m on the left: i must range over x's axis. (A part of x is an index map,
        x[i + 0], whose bounds are checked.)"""
        r = self.explicit_ranges.get(x.id) if isinstance(x, ast.Name) else None
        if r is not None and r != dim:
            self.fail(x, f"index '{x.id}' ranges over {r} on the left, but the axis of {tensor} it indexes "
                         f"has size {dim}", expected=f"the range {x.id}:{dim}, or an index map such as "
                                                     f"{tensor}[{x.id} + 0] for its first {r} entries",
                      cls=ShapeError)

    def affine(self, e) -> tuple[dict, sympy.Expr]:
        """An index expression as (integer coefficient per index name, constant offset)."""
        if isinstance(e, ast.Name):
            if e.id in self.dim_names and e.id not in self.index_ranges:
                return {}, symbol(e.id)
            return {e.id: 1}, sympy.Integer(0)
        if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool):
            return {}, sympy.Integer(e.value)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            co, c = self.affine(e.operand)
            sgn = -1 if isinstance(e.op, ast.USub) else 1
            return {k: sgn * v for k, v in co.items()}, sgn * c
        if isinstance(e, ast.BinOp) and isinstance(e.op, (ast.Add, ast.Sub)):
            (ca, a), (cb, b) = self.affine(e.left), self.affine(e.right)
            sgn = 1 if isinstance(e.op, ast.Add) else -1
            out = dict(ca)
            for k, v in cb.items():
                out[k] = out.get(k, 0) + sgn * v
            return {k: v for k, v in out.items() if v}, a + sgn * b
        if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Mult):
            (ca, a), (cb, b) = self.affine(e.left), self.affine(e.right)
            if ca and cb:
                names = ", ".join(f"'{n}'" for n in list(ca) + list(cb))
                self.fail(e, f"a product of the indices {names} is not a linear index map",
                          expected="integer * index")
            coeffs, other, scale_e = (ca, a, b) if ca else (cb, b, a)
            if not scale_e.is_Integer:
                names = ", ".join(f"'{n}'" for n in coeffs)
                self.fail(e, f"the coefficient of index {names} must be an integer",
                          expected="an integer such as 2*i")
            k = int(scale_e)
            return {n: k * v for n, v in coeffs.items() if k * v}, other * k
        if isinstance(e, ast.Constant):
            self.fail(e, f"index coefficients and offsets must be integers, got {e.value!r}"
                         + (f" next to index {', '.join(repr(n) for n in self._affine_context)}"
                            if getattr(self, "_affine_context", None) else ""),
                      expected="an integer")
        self.fail(e, "not a linear index expression", expected="indices, integers and dimension symbols with + - *")

    def affine_subscript(self, e: ast.Subscript, base: Prod, elts):
        if len(elts) != len(base.out):
            self.fail(e, f"{len(elts)} indices for a tensor of rank {len(base.out)}",
                      expected=f"{len(base.out)} indices", cls=ShapeError)
        labels, rows, offsets, target_dims, fresh = [], [], [], [], []
        for x, d in zip(elts, base.shape):
            if isinstance(x, ast.Name) and not (x.id in self.dim_names and x.id not in self.index_ranges):
                labels.append(x.id)
                continue
            self._affine_context = list(dict.fromkeys(
                n.id for n in ast.walk(x) if isinstance(n, ast.Name) and n.id not in self.dim_names))
            coeffs, c = self.affine(x)
            j = fresh_label()
            labels.append(j)
            fresh.append(j)
            rows.append(coeffs)
            offsets.append(c)
            target_dims.append(d)
        idx_names = list(dict.fromkeys(n for r in rows for n in r))
        for n in idx_names:
            if n not in self.index_ranges:
                self.fail(e, f"the range of index '{n}' cannot be inferred",
                          expected=f"a range on the left side, like {n}:n, or a plain use such as x[{n}]")
        in_dims = [self.index_ranges[n] for n in idx_names]
        A = [[r.get(n, 0) for n in idx_names] for r in rows]
        self.check_map_bounds(e, A, offsets, in_dims, target_dims, idx_names)
        S = ir.IndexMap.make(A, offsets, in_dims, target_dims)
        prod = Prod.of(base.node(), labels)
        dims = dict(prod.dims)
        for n, d in zip(idx_names, in_dims):
            if dims.setdefault(n, d) != d:
                self.fail(e, f"index '{n}' ranges over {d} here but {dims[n]} elsewhere", cls=ShapeError)
        sel = Prod([(S, tuple(idx_names) + tuple(fresh))], tuple(idx_names), {**dict(zip(idx_names, in_dims)),
                                                                           **dict(zip(fresh, target_dims))})
        out = tuple(dict.fromkeys([l for l in labels if l not in fresh] + idx_names))
        return prod.times(sel, out)

    def check_map_bounds(self, e, A, offsets, in_dims, target_dims, names):
        """Refuse accesses the ranges prove out of bounds (no silent zero padding)."""
        for row, c, d in zip(A, offsets, target_dims):
            lo = c + sum(min(0, a) * (n - 1) for a, n in zip(row, in_dims))
            hi = c + sum(max(0, a) * (n - 1) for a, n in zip(row, in_dims))
            text = " + ".join(f"{a}*{n}" for a, n in zip(row, names) if a) or "0"
            if (lo < 0) == sympy.true or sympy.simplify(lo).is_negative:
                self.fail(e, f"index {text} + {c} reaches {sympy.simplify(lo)} < 0",
                          expected="ranges that keep the index ≥ 0", cls=ShapeError)
            if sympy.simplify(hi - (d - 1)).is_positive:
                self.fail(e, f"index {text} + {c} reaches {sympy.simplify(hi)}, beyond the last index {d - 1}",
                          expected=f"ranges that keep the index ≤ {d - 1}", cls=ShapeError)

    def diagonal_index(self, node, labels):
        # X[i, i]: a repeated index on one operand is a diagonal
        dims = {}
        for l, d in zip(labels, node.shape):
            if dims.setdefault(l, d) != d:
                raise ShapeError(f"index '{l}' used for dimensions {dims[l]} and {d}")
        out = tuple(dict.fromkeys(labels))
        return Prod([(node, tuple(labels))], out, dims)

    # broadcasting by dimension symbol: align from the right, equal symbols share a label
    def broadcast(self, a: Prod, b: Prod, e):
        if self.index_mode:
            return a, b, tuple(dict.fromkeys(a.out + b.out))
        ra, rb = len(a.out), len(b.out)
        r = max(ra, rb)
        out = []
        mapping = {}
        for k in range(r):
            ia, ib = k - (r - ra), k - (r - rb)
            la = a.out[ia] if ia >= 0 else None
            lb = b.out[ib] if ib >= 0 else None
            if la is not None and lb is not None:
                a, b = self.stretch_pair(a, la, b, lb, e, "shapes {} and {} do not broadcast")
                mapping[lb] = la
                out.append(la)
            else:
                out.append(la if la is not None else lb)
                if lb is not None:
                    mapping[lb] = lb
        b = b.renamed(mapping)
        return a, b, tuple(out)

    def stretch_pair(self, a: Prod, la, b: Prod, lb, e, what: str):
        """Axes la of a and lb of b meet: equal dimension symbols, or one of them is 1 and is
        broadcast to the other (NumPy), whether it is a new axis or a declared size-1 axis."""
        da, db = a.dims[la], b.dims[lb]
        if da == db:
            return a, b
        if da == 1:
            return a.stretched(la, db), b
        if db == 1:
            return a, b.stretched(lb, da)
        self.fail(e, what.format(shape_str(a.shape), shape_str(b.shape)) + f": dimension {da} against {db}",
                  expected="equal dimension symbols, or 1", cls=ShapeError)

    def binop(self, op, a, b, e):
        r = self.arith(op, a, b, e)
        here = self.summed_at.get(id(e)) if self.index_mode else None
        return r.contracted(here) if here and isinstance(r, Prod) else r

    def arith(self, op, a, b, e):
        na, nb = not isinstance(a, Prod), not isinstance(b, Prod)
        if na and nb:
            return _fold(op, a, b, self, e)
        if op == "*":
            if na:
                return b.scaled(a)
            if nb:
                return a.scaled(b)
            a, b, out = self.broadcast(a, b, e)
            return a.times(b, out)
        if op == "/":
            if nb:
                if b == 0:
                    self.fail(e, "division by the constant zero")
                return a.scaled(1.0 / b)
            recip = self.elementwise(1 / ir.T, b)
            return self.binop("*", a, recip, e)
        if op in "+-":
            if na:
                a = Prod.of(ir.Const.make(a), ())
            if nb:
                b = Prod.of(ir.Const.make(b), ())
            if op == "-":
                b = b.scaled(-1.0)
            a, b, out = self.broadcast(a, b, e)
            dims = {**a.dims, **b.dims}
            terms = [self.expand(p, out, dims) for p in (a, b)]
            return Prod.of(ir.add(*terms), out)
        if op == "**":
            if nb:
                return self.elementwise(ir.T ** sympy.nsimplify(b, rational=True) if float(b).is_integer()
                                        or b in (0.5, -0.5) else ir.T ** sympy.Float(b), a)
            if na:
                if a <= 0:
                    self.fail(e, "a non-positive constant to a tensor power", expected="a positive base")
                return self.elementwise(sympy.Float(a) ** ir.T, b)
            return self.call_exp(self.binop("*", b, self.elementwise(sympy.log(ir.T), a), e))
        if op == "@":
            if na or nb:
                self.fail(e, "@ needs two tensors", expected="use * to scale by a number")
            if self.index_mode:
                self.fail(e, "@ in index notation: write the product with indices", expected="A[i, k] * B[k, j]")
            return self.matmul(a, b, e)
        self.fail(e, f"unsupported operator {op}")

    def call_exp(self, p):
        return self.elementwise(sympy.exp(ir.T), p)

    def expand(self, p: Prod, out, dims) -> ir.Node:
        """Materialise p over the labels ``out``, broadcasting with a ones-tensor where p lacks a label."""
        missing = [l for l in out if l not in p.out]
        if missing:
            p = p.times(Prod.of(ir.Const.make(1.0, tuple(dims[l] for l in missing)), missing))
        return Prod(p.factors, tuple(out), p.dims).node()

    def matmul(self, a: Prod, b: Prod, e):
        ra, rb = len(a.out), len(b.out)
        if ra == 0 or rb == 0:
            self.fail(e, "@ with a scalar", expected="tensors of rank ≥ 1; use * for scaling", cls=ShapeError)
        ka = a.out[-1]
        kb = b.out[0] if rb == 1 else b.out[-2]
        if a.dims[ka] != b.dims[kb]:
            self.fail(e, f"@ contracts dimension {a.dims[ka]} of {shape_str(a.shape)} with {b.dims[kb]} "
                         f"of {shape_str(b.shape)}", expected="equal inner dimension symbols", cls=ShapeError)
        b = b.renamed({kb: ka, **{l: l for l in b.out if l != kb}})
        a_batch, b_batch = list(a.out[:-2]), list(b.out[:-2])
        mapping = {}
        for k in range(1, min(len(a_batch), len(b_batch)) + 1):
            la, lb = a_batch[-k], b_batch[-k]
            a, b = self.stretch_pair(a, la, b, lb, e, "the batch axes of {} @ {} do not broadcast")
            mapping[lb] = la
        if mapping:
            b = b.renamed({**{l: l for l in b.out}, **mapping})
            b_batch = [mapping.get(l, l) for l in b_batch]
        batch = a_batch if len(a_batch) >= len(b_batch) else b_batch
        rows = [a.out[-2]] if ra >= 2 else []
        cols = [b.out[-1]] if rb >= 2 else []
        return a.times(b, tuple(batch) + tuple(rows) + tuple(cols))

    def elementwise(self, formula, v):
        if not isinstance(v, Prod):
            return float(sympy.sympify(formula).subs(ir.T, v))
        new_axes = v.uncovered()  # x[:, None]: f acts on x and the new axis stays one to broadcast
        kept = tuple(l for l in v.out if l not in new_axes)
        inner = Prod(v.factors, kept, v.dims).node()
        if sympy.sympify(formula) == sympy.log(ir.T) and isinstance(inner, ir.General) and inner.name == "softmax":
            return self.with_axes(self.log_softmax(inner, Prod(v.factors, kept, v.dims)), v)
        node = ir.Elementwise.make(formula, inner)
        if isinstance(node, ir.Elementwise):
            node = ir.Elementwise.make(canonical_formula(node.fn), node.arg)
        return self.with_axes(Prod.of(node, kept), v)

    @staticmethod
    def with_axes(p: Prod, v: Prod) -> Prod:
        """p over v's output labels: the new axes of v that p lacks come back as new axes."""
        if p.out == v.out:
            return p
        return Prod(p.factors, v.out, {**p.dims, **{l: v.dims[l] for l in v.out if l not in p.dims}})

    def log_softmax(self, sm: ir.General, v: Prod) -> Prod:
        """log(softmax(z)) = z - logsumexp(z): finite where softmax underflows, and so are its
        derivatives (which otherwise divide by the probabilities)."""
        z = sm.arg
        axis = dict(sm.params).get("axis")
        lse = make_general("logsumexp", z, sm.params)
        labels = v.out
        kept = labels if axis is None else tuple(l for k, l in enumerate(labels) if k != axis)
        if axis is None:
            kept = ()
        lse_p = Prod.of(lse, kept)
        dims = dict(v.dims)
        terms = [Prod.of(z, labels).node(), self.expand(lse_p.scaled(-1.0), labels, dims)]
        return Prod.of(ir.add(*terms), labels)

    # ------------------------------------------------------------------ calls
    def call(self, e: ast.Call):
        if not isinstance(e.func, ast.Name):
            self.fail(e.func, "only named functions can be called", expected="a function such as exp(x)")
        fname = e.func.id
        kwargs = {}
        for kw in e.keywords:
            if kw.arg is None:
                self.fail(kw, "**kwargs is not supported")
            kwargs[kw.arg] = kw.value
        if any(isinstance(a, ast.Starred) for a in e.args):
            self.fail(e, "*args is not supported")
        formula = self.functions.get(fname) or elementwise_formula(fname)
        if formula is not None:
            self.arity(e, 1, 1, kwargs, ())
            return self.elementwise(formula, self.expr(e.args[0]))
        handler = getattr(self, "fn_" + fname, None)
        if handler is None and fname in GENERAL:
            handler = lambda e, kwargs: self.primitive(e, kwargs, GENERAL[fname])  # noqa: E731
        if handler is None:
            if fname in self.variables or fname in self.definitions:
                self.fail(e.func, f"'{fname}' is a tensor, not a function",
                          expected="a function name such as exp, sum, inv, or * for a product")
            self.fail(e.func, f"unknown function '{fname}'", expected="one of " + ", ".join(_BUILTINS))
        result = handler(e, kwargs)
        if self.index_mode and isinstance(result, Prod) and not all(isinstance(l, str) for l in result.out):
            self.fail(e, f"{fname}(...) is a tensor without indices", expected=f"in index notation, a name "
                      f"with indices: define it first (I = {fname}(...)) and write I[i, j]")
        return result

    def arity(self, e, lo, hi, kwargs, allowed):
        n = len(e.args)
        if not lo <= n <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            self.fail(e, f"{e.func.id} takes {want} argument{'s' if hi != 1 else ''}, got {n}")
        for k in kwargs:
            if k not in allowed:
                self.fail(e, f"{e.func.id} has no keyword '{k}'",
                          expected=("keywords " + ", ".join(allowed)) if allowed else "no keywords")

    def tensor_arg(self, e, k) -> Prod:
        v = self.expr(e.args[k])
        return self.as_prod(v, e.args[k])

    def int_arg(self, node, what="an integer"):
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.int_arg(node.operand, what)
        self.fail(node, f"expected {what}")

    def axis_arg(self, e, kwargs, rank, pos=1):
        node = kwargs.get("axis", e.args[pos] if len(e.args) > pos else None)
        if node is None or (isinstance(node, ast.Constant) and node.value is None):
            return None
        elts = node.elts if isinstance(node, ast.Tuple) else [node]
        axes = []
        for el in elts:
            ax = self.int_arg(el, "an integer axis")
            if not -rank <= ax < rank:
                self.fail(el, f"axis {ax} is out of range for a tensor of rank {rank}",
                          expected=f"an axis in [{-rank}, {rank - 1}]", cls=ShapeError)
            axes.append(ax % rank)
        if len(set(axes)) != len(axes):
            self.fail(node, "repeated axis")
        return tuple(axes) if isinstance(node, ast.Tuple) else axes[0]

    def no_index_mode(self, e, name, instead="indices instead"):
        if self.index_mode:
            self.fail(e, f"{name}() is not available in index notation", expected=instead)

    def fn_sum(self, e, kwargs):
        self.arity(e, 1, 2, kwargs, ("axis",))
        x = self.tensor_arg(e, 0)
        if self.index_mode:
            self.fail(e, "sum() in index notation: indices absent on the left are summed already")
        axis = self.axis_arg(e, kwargs, len(x.out))
        axes = set(range(len(x.out))) if axis is None else set(axis if isinstance(axis, tuple) else (axis,))
        return Prod(x.factors, tuple(l for k, l in enumerate(x.out) if k not in axes), x.dims)

    def fn_mean(self, e, kwargs):
        self.arity(e, 1, 2, kwargs, ("axis",))
        x = self.tensor_arg(e, 0)
        axis = self.axis_arg(e, kwargs, len(x.out))
        axes = set(range(len(x.out))) if axis is None else set(axis if isinstance(axis, tuple) else (axis,))
        s = self.fn_sum(e, kwargs)
        dims = [x.dims[l] for k, l in enumerate(x.out) if k in axes]
        count = sympy.Mul(*dims) if dims else sympy.Integer(1)
        if count.is_Integer:
            return s.scaled(1.0 / float(count))
        ones = ir.Const.make(1.0, tuple(dims))
        n = ir.Einsum.make([ones], [tuple(range(len(dims)))], ())
        return s.times(Prod.of(ir.Elementwise.make(1 / ir.T, n), ()))

    def fn_einsum(self, e, kwargs):
        self.no_index_mode(e, "einsum")
        if not e.args or not isinstance(e.args[0], ast.Constant) or not isinstance(e.args[0].value, str):
            self.fail(e, "einsum needs a subscript string first", expected='einsum("ij,j->i", X, w)')
        self.arity(e, 2, 64, kwargs, ())
        spec = e.args[0].value.replace(" ", "")
        ops = [self.tensor_arg(e, k) for k in range(1, len(e.args))]
        if "..." in spec:
            self.fail(e.args[0], "'...' in einsum is not supported", expected="explicit indices")
        if "->" in spec:
            ins_s, out_s = spec.split("->", 1)
        else:
            ins_s = spec
            letters = [c for c in ins_s if c.isalpha()]
            out_s = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
        ins = ins_s.split(",")
        if len(ins) != len(ops):
            self.fail(e.args[0], f"einsum string has {len(ins)} operands but {len(ops)} tensors were given",
                      expected=f"{len(ops)} comma-separated index groups")
        for s in ins + [out_s]:
            if not all(c in string.ascii_letters for c in s):
                self.fail(e.args[0], f"bad einsum index group '{s}'", expected="ASCII letters a-z, A-Z only (as NumPy)")
        if len(set(out_s)) != len(out_s):
            self.fail(e.args[0], "an output index repeats", expected="distinct output indices")
        result = None
        for k, (s, p) in enumerate(zip(ins, ops)):
            if len(s) != len(p.out):
                self.fail(e.args[k + 1], f"operand {k + 1} has rank {len(p.out)} but '{s}' has {len(s)} indices",
                          cls=ShapeError, expected=f"{len(p.out)} indices")
            labels = [("e", c) for c in s]
            mapping = {}
            for l, lab in zip(p.out, labels):
                mapping.setdefault(l, lab)
            if len(set(labels)) < len(labels):  # repeated index: a diagonal of this operand
                node = p.node()
                q = Prod([(node, tuple(labels))], tuple(dict.fromkeys(labels)),
                         {lab: d for lab, d in zip(labels, node.shape)})
                for lab, d in zip(labels, node.shape):
                    if q.dims[lab] != d:
                        self.fail(e.args[k + 1], f"index '{lab[1]}' used for dimensions {q.dims[lab]} and {d}",
                                  cls=ShapeError)
            else:
                q = p.renamed(mapping)
            result = q if result is None else self._join(result, q, e)
        for c in out_s:
            if ("e", c) not in result.dims:
                self.fail(e.args[0], f"output index '{c}' appears in no operand")
        return Prod(result.factors, tuple(("e", c) for c in out_s), result.dims).apart()

    def _join(self, a: Prod, b: Prod, e):
        for l in sorted(set(a.dims) & set(b.dims), key=str):
            if a.dims[l] != b.dims[l]:  # a size-1 axis broadcasts (NumPy); other sizes must agree
                if a.dims[l] != 1 and b.dims[l] != 1:
                    self.fail(e, f"einsum index '{l[1]}' has dimensions {a.dims[l]} and {b.dims[l]}",
                              cls=ShapeError, expected="one dimension per index, or 1")
                a, b = (a.stretched(l, b.dims[l]), b) if a.dims[l] == 1 else (a, b.stretched(l, a.dims[l]))
        return a.times(b)

    def fn_dot(self, e, kwargs):
        self.no_index_mode(e, "dot")
        self.arity(e, 2, 2, kwargs, ())
        a, b = self.tensor_arg(e, 0), self.tensor_arg(e, 1)
        if len(a.out) > 2 or len(b.out) > 2 or not a.out or not b.out:
            self.fail(e, "dot takes vectors or matrices", expected="rank 1 or 2", cls=ShapeError)
        return self.matmul(a, b, e)

    def fn_outer(self, e, kwargs):
        self.no_index_mode(e, "outer")
        self.arity(e, 2, 2, kwargs, ())
        a, b = self.tensor_arg(e, 0), self.tensor_arg(e, 1)
        b = b.renamed({l: fresh_label() for l in b.out})
        return a.times(b, a.out + b.out)

    def square_matrix(self, e, p: Prod, name):
        if len(p.out) != 2:
            self.fail(e, f"{name} needs a matrix, got rank {len(p.out)}", expected="rank 2", cls=ShapeError)
        if p.dims[p.out[0]] != p.dims[p.out[1]]:
            self.fail(e, f"{name} needs a square matrix, got {shape_str(p.shape)}",
                      expected="equal dimension symbols", cls=ShapeError)

    def fn_trace(self, e, kwargs):
        self.no_index_mode(e, "trace")
        self.arity(e, 1, 1, kwargs, ())
        a = self.tensor_arg(e, 0)
        self.square_matrix(e, a, "trace")
        a = a.renamed({a.out[0]: a.out[0], a.out[1]: a.out[0]})
        return Prod(a.factors, (), a.dims)

    def fn_diagonal(self, e, kwargs):
        self.no_index_mode(e, "diagonal")
        self.arity(e, 1, 1, kwargs, ())
        a = self.tensor_arg(e, 0)
        self.square_matrix(e, a, "diagonal")
        a = a.renamed({a.out[0]: a.out[0], a.out[1]: a.out[0]})
        return Prod(a.factors, (a.out[0],), a.dims)

    def fn_diag(self, e, kwargs):
        self.no_index_mode(e, "diag")
        self.arity(e, 1, 1, kwargs, ())
        v = self.tensor_arg(e, 0)
        if len(v.out) != 1:
            self.fail(e, f"diag takes a vector, got rank {len(v.out)}", expected="rank 1 (use diagonal() for a matrix)",
                      cls=ShapeError)
        i, j = v.out[0], fresh_label()
        d = v.dims[i]
        return v.times(Prod.of(ir.Delta.make([d]), (i, j)), (i, j))

    def fn_norm2(self, e, kwargs):
        self.no_index_mode(e, "norm2", "sqrt(A[i, k] * A[i, k]) for the norms of rows")  # it sums every index
        self.arity(e, 1, 1, kwargs, ())
        a = self.tensor_arg(e, 0)
        sq = self.binop("*", a, a, e)
        return self.elementwise(sympy.sqrt(ir.T), Prod(sq.factors, (), sq.dims))

    def dims_args(self, e):
        return tuple(self.dimension(a) for a in e.args)

    def fn_eye(self, e, kwargs):
        self.arity(e, 1, 1, kwargs, ())
        (d,) = self.dims_args(e)
        return Prod.of(ir.Delta.make([d]))

    def fn_ones(self, e, kwargs):
        self.arity(e, 0, 8, kwargs, ())
        return Prod.of(ir.Const.make(1.0, self.dims_args(e)))

    def primitive(self, e, kwargs, rec):
        """A call of a general function, read from its record: tensor operands, then parameters
        by position or keyword."""
        self.no_index_mode(e, rec.name)
        names = [p.name for p in rec.params]
        self.arity(e, rec.arity, rec.arity + len(names), kwargs, names)
        args = [self.tensor_arg(e, k) for k in range(rec.arity)]
        params = {}
        for k, p in enumerate(rec.params):
            pos = rec.arity + k
            if p.name in kwargs and len(e.args) > pos:
                self.fail(e, f"{rec.name}: {p.name} given twice")
            if p.kind == "axis":
                axis = self.axis_arg(e, kwargs, len(args[0].out), pos)
                if isinstance(axis, tuple):
                    self.fail(e, f"{rec.name} over several axes is not supported", expected="one axis or None")
                params[p.name] = axis
            else:
                node = kwargs.get(p.name, e.args[pos] if len(e.args) > pos else None)
                params[p.name] = p.default if node is None else self.int_arg(node, f"an integer {p.name}")
        try:
            return Prod.of(rec.make([a.node() for a in args], params))
        except TcnbError as err:
            raise self.locate(err, e) from None


def _fold(op, a, b, parser, e):
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "**":
            r = a ** b
            if isinstance(r, complex):
                parser.fail(e, "a negative number to a fractional power")
            return float(r)
    except ZeroDivisionError:
        parser.fail(e, "division by zero")
    except OverflowError:
        parser.fail(e, "a constant overflows")
    parser.fail(e, f"{op} of two numbers", expected="a tensor operand")
