"""A program, statement by statement: declarations, definitions, element-wise ``def``s, name checks.

``parse`` reads the text with the standard library's ``ast``, then each statement in order: a
declaration (``X: R[m, n]``) adds a variable, ``z = ...`` reads an expression in array syntax
(arrays.py), ``G[i, j] = ...`` in index notation (indices.py), ``def f(t): return ...`` an element-wise
function. Every failure is located at its line and column (source.py).
"""
from __future__ import annotations

import ast
import math
import contextlib
import sys
from dataclasses import dataclass, field

import sympy

from .. import ir
from ..errors import TcnbError, TensorSyntaxError
from ..functions import ELEMENTWISE, USER_FUNCTIONS, apply_formula, formula_arity, sympy_namespace
from ..primitives import TUPLE_FUNCTIONS
from . import indices
from .arrays import ArrayReader
from .products import Prod
from .scope import BUILTINS, Scope
from .source import MAX_NESTING, Source


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


_UNSUPPORTED_STMT = {ast.Import: "import", ast.ImportFrom: "import", ast.For: "a for loop",
                     ast.While: "a while loop", ast.If: "an if statement", ast.With: "a with statement",
                     ast.ClassDef: "a class definition", ast.Return: "return outside def",
                     ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal",
                     ast.Try: "try", ast.Raise: "raise", ast.Assert: "assert", ast.AugAssign:
                     "augmented assignment (+=)", ast.AsyncFunctionDef: "async def",
                     ast.Pass: "pass", ast.Break: "break", ast.Continue: "continue"}

# declaration types that promise a structure of a square matrix (ir.Var.structure)
_STRUCTURE_OF = {word: key for key, word in ir.STRUCTURES.items()}

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
    return _Statements(source).run()


class _Statements:
    """Reads a program's statements in order into its scope."""

    def __init__(self, text: str):
        self.src = Source(text)
        self.scope = Scope(self.src)

    def fail(self, node, message, expected=None):
        self.src.fail(node, message, expected)

    def run(self) -> Program:
        src = self.src
        try:
            tree = ast.parse(src.text, mode="exec")
        except SyntaxError as exc:
            line = exc.lineno or 1
            if "too many nested parentheses" in exc.msg:
                raise src.too_deep(line, f"over {MAX_NESTING} levels of brackets") from None
            col = max((exc.offset or 1) - 1, 0)
            msg = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax: {exc.msg}"
            raise TensorSyntaxError(msg, line=line, col=col, source_line=src.line(line)) from None
        except (RecursionError, MemoryError):  # Python's parser: no line given; the longest one
            line = max(range(len(src.lines)), key=lambda k: len(src.lines[k])) + 1
            raise src.too_deep(line, "more than Python's parser reads") from None
        except (ValueError, OverflowError) as exc:
            raise TensorSyntaxError(f"cannot read the program: {exc}", line=1, col=0,
                                    source_line=src.line(1)) from None
        with _nesting_headroom():
            for stmt in tree.body:
                self.run_statement(stmt)
        s = self.scope
        return Program(src.text, s.variables, s.definitions, s.functions, s.lines, s.index_form)

    def run_statement(self, stmt):
        try:
            self.statement(stmt)
        except TcnbError as err:
            raise self.src.locate(err, stmt) from None
        except RecursionError:
            raise self.src.too_deep(stmt.lineno, f"{_ast_depth(stmt)} levels") from None
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
            if isinstance(target, (ast.Tuple, ast.List)):
                return self.unpacking(target, stmt)
            if isinstance(target, ast.Name):
                self.check_new_name(target)
                value = ArrayReader(self.scope).expr(stmt.value)
                node = value.node() if isinstance(value, Prod) else ir.Const.make(value)
                return self.define(target.id, node, stmt)
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                self.check_new_name(target.value)
                node, names = indices.read_definition(self.scope, target, stmt.value)
                self.define(target.value.id, node, stmt)
                self.scope.index_form[target.value.id] = names
                return
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
        name, s = target.id, self.scope
        if s.tensor(name) is not None:
            where = s.lines.get(name)
            self.fail(target, f"'{name}' is already defined" + (f" on line {where}" if where else ""),
                      expected="a new name")
        if s.is_function(name):
            self.fail(target, f"'{name}' is the name of a function", expected="another name")
        if name == "R" or name in _STRUCTURE_OF:
            self.fail(target, f"'{name}' is reserved for declarations", expected="another name")

    def unpacking(self, target, stmt):
        """``w, V = eigh(A)``: the results of a function of several results (TUPLE_FUNCTIONS), one
        definition each; ``_`` drops a result."""
        e = stmt.value
        known = ", ".join(sorted(TUPLE_FUNCTIONS))
        if not (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id in TUPLE_FUNCTIONS):
            self.fail(e, "only a function of several results can be unpacked",
                      expected=f"names = one of {known}, as in w, V = eigh(A)")
        rec = TUPLE_FUNCTIONS[e.func.id]
        form = f"{', '.join(n for n, _ in rec.outputs)} = {rec.name}(...)"
        for t in target.elts:
            if isinstance(t, ast.Starred):
                self.fail(t, "a starred target is not supported", expected=form)
            if isinstance(t, ast.Subscript):
                self.fail(t, "index notation cannot unpack several results",
                          expected=f"{form} with plain names, then index them: {rec.outputs[0][0]}[i]")
            if not isinstance(t, ast.Name):
                self.fail(t, "cannot assign to this", expected=form)
        if len(target.elts) != len(rec.outputs):
            self.fail(target, f"{rec.name}() has {len(rec.outputs)} results, but {len(target.elts)} "
                      f"name{'s are' if len(target.elts) != 1 else ' is'} given", expected=form)
        names = [t.id for t in target.elts if t.id != "_"]
        if len(set(names)) != len(names):
            self.fail(target, "a name is repeated", expected=f"distinct names, as in {form}")
        for t in target.elts:
            if t.id != "_":
                self.check_new_name(t)
        if e.keywords or any(isinstance(a, ast.Starred) for a in e.args) or len(e.args) != rec.arity:
            self.fail(e, f"{rec.name} takes {rec.arity} argument{'s' if rec.arity != 1 else ''}, "
                      f"got {len(e.args)}{' and keywords' if e.keywords else ''}", expected=form)
        reader = ArrayReader(self.scope)
        operands = []
        for a in e.args:
            value = reader.expr(a)
            operands.append(value.node() if isinstance(value, Prod) else ir.Const.make(value))
        try:
            nodes = [build(*operands) for _, build in rec.outputs]
        except TcnbError as err:
            err = type(err)(f"{rec.name}: {err.message.split(': ', 1)[-1]}", expected=err.expected)
            raise self.src.locate(err, e) from None
        for t, node in zip(target.elts, nodes):
            if t.id != "_":
                self.define(t.id, node, stmt)

    def define(self, name, node, stmt):
        self.scope.definitions[name] = node
        self.scope.lines[name] = stmt.lineno

    def declaration(self, stmt: ast.AnnAssign):
        if not isinstance(stmt.target, ast.Name):
            self.fail(stmt.target, "a declaration names one variable", expected="name: R[dims]")
        if stmt.value is not None:
            self.fail(stmt.value, "a declaration has no value", expected="name: R[dims] without '= ...'")
        self.check_new_name(stmt.target)
        ann, s = stmt.annotation, self.scope
        structure = None
        if isinstance(ann, ast.Name) and ann.id == "R":
            dims = ()
        elif isinstance(ann, ast.Subscript) and isinstance(ann.value, ast.Name) and ann.value.id == "R":
            elts = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            dims = tuple(s.dimension(e) for e in elts)
        elif isinstance(ann, (ast.Name, ast.Subscript)) and _STRUCTURE_OF.get(
                getattr(ann, "id", getattr(getattr(ann, "value", None), "id", None))):
            structure, dims = self.structured_type(ann)
        else:
            self.fail(ann, "unknown type in a declaration", expected="R (a scalar), R[dims] (a real tensor), "
                      "Sym[n] (a symmetric matrix) or SPD[n] (a symmetric positive definite matrix)")
        for d in dims:
            s.dim_names |= {sym.name for sym in d.free_symbols}
        s.variables[stmt.target.id] = ir.Var.make(stmt.target.id, dims, structure)
        s.lines[stmt.target.id] = stmt.lineno

    def structured_type(self, ann):
        """``Sym[n]`` / ``SPD[n]``: (structure, (n, n)) of a square matrix with a promise."""
        word = ann.id if isinstance(ann, ast.Name) else ann.value.id
        form = f"{word}[n] (one dimension: an n×n matrix)"
        if isinstance(ann, ast.Name):
            self.fail(ann, f"{word} needs its size", expected=form)
        if isinstance(ann.slice, ast.Tuple):
            self.fail(ann.slice, f"{word}[...] takes one dimension, got {len(ann.slice.elts)}", expected=form)
        n = self.scope.dimension(ann.slice)
        return _STRUCTURE_OF[word], (n, n)

    def function_def(self, stmt: ast.FunctionDef):
        name, s = stmt.name, self.scope
        if name in BUILTINS or s.tensor(name) is not None or name in s.functions:
            self.fail(stmt, f"'{name}' is already defined", expected="a new function name")
        args = stmt.args
        if (not 1 <= len(args.args) <= ir.MAX_ARGS or args.vararg or args.kwarg or args.kwonlyargs
                or args.defaults or args.posonlyargs or stmt.decorator_list):
            self.fail(stmt, f"an element-wise function takes 1 to {ir.MAX_ARGS} plain arguments",
                      expected="def name(t): return <formula in t>, or def name(a, b): ...")
        params = [a.arg for a in args.args]
        if len(set(params)) != len(params):
            self.fail(stmt, "an argument name is repeated", expected="distinct argument names")
        body = [b for b in stmt.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
        if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
            self.fail(stmt, "the body must be one return statement", expected="def name(t): return <formula>")
        formula = self.scalar_formula(body[0].value, params)
        s.functions[name] = formula if len(params) == 1 else sympy.Lambda(ir.ARGS[:len(params)], formula)
        s.lines[name] = stmt.lineno

    def scalar_formula(self, e, param) -> sympy.Expr:
        """An element-wise formula in scalar arguments (a name, or a list of names: t, t1, ...), as SymPy."""
        params = [param] if isinstance(param, str) else list(param)
        functions = self.scope.functions
        ns = sympy_namespace()
        for fname, f in functions.items():
            ns[fname] = (lambda g: (lambda *xs: apply_formula(g, *xs)))(f)
        if isinstance(e, ast.Name):
            if e.id in params:
                return ir.arg_symbol(params.index(e.id))
            self.fail(e, f"unknown name '{e.id}' in an element-wise function",
                      expected="the argument" + ("s " if len(params) > 1 else " ") + ", ".join(f"'{p}'" for p in params))
        if isinstance(e, ast.Constant) and isinstance(e.value, (int, float)) and not isinstance(e.value, bool):
            if not math.isfinite(float(e.value)):
                self.fail(e, "a number too large for a float (it would be inf)", expected="a finite number")
            return sympy.Float(e.value) if isinstance(e.value, float) else sympy.Integer(e.value)
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
            v = self.scalar_formula(e.operand, param)
            return -v if isinstance(e.op, ast.USub) else v
        if isinstance(e, ast.BinOp) and type(e.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow):
            a, b = self.scalar_formula(e.left, param), self.scalar_formula(e.right, param)
            return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
                    ast.Div: lambda: a / b, ast.Pow: lambda: a ** b}[type(e.op)]()
        if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and not e.keywords:
            if e.func.id in ns and e.func.id in (set(ELEMENTWISE) | set(functions) | set(USER_FUNCTIONS)):
                f = functions.get(e.func.id, USER_FUNCTIONS.get(e.func.id, ELEMENTWISE.get(e.func.id)))
                arity = formula_arity(f)
                if len(e.args) != arity:
                    self.fail(e, f"{e.func.id} takes {arity} argument{'s' if arity != 1 else ''}, got {len(e.args)}")
                return ns[e.func.id](*(self.scalar_formula(a, param) for a in e.args))
            self.fail(e.func, f"'{e.func.id}' is not an element-wise function",
                      expected="one of " + ", ".join(sorted(ELEMENTWISE)))
        self.fail(e, "unsupported syntax in an element-wise function",
                  expected="arithmetic and element-wise functions of the argument")
