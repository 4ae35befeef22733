"""The names a statement may use: what the program has declared and defined so far, the functions
of the language, and dimension expressions (``R[m, n + 1]``, ``i:n``, ``eye(n)``).
"""
from __future__ import annotations

import ast

import sympy

from ..dims import symbol
from ..functions import ELEMENTWISE, GENERAL, LANGUAGE_FUNCTIONS, USER_FUNCTIONS
from .source import Source

# every function name the language gives a meaning to (element-wise, general, written as products)
BUILTINS = sorted(set(ELEMENTWISE) | set(GENERAL) | LANGUAGE_FUNCTIONS)


class Scope:
    """What the program knows at the statement being read; filled in as statements are read."""

    def __init__(self, source: Source):
        self.src = source
        self.variables: dict = {}     # name -> ir.Var
        self.definitions: dict = {}   # name -> ir.Node, in order of definition
        self.functions: dict = {}     # name -> SymPy formula of an element-wise def in the program
        self.lines: dict = {}         # name -> line of its statement
        self.index_form: dict = {}    # name -> its left side's indices, for index notation
        self.dim_names: set = set()   # dimension symbols used by declarations

    def tensor(self, name: str):
        """The node of a declared or defined tensor, or None."""
        node = self.variables.get(name)
        return node if node is not None else self.definitions.get(name)

    def is_function(self, name: str) -> bool:
        """Whether ``name`` is a function: the language's, the program's or the user's."""
        return name in BUILTINS or name in self.functions or name in USER_FUNCTIONS

    def dimension(self, e) -> sympy.Expr:
        """A dimension: a symbol, a positive int, or integer arithmetic of those (m + n - 1)."""
        if isinstance(e, ast.Name):
            if self.tensor(e.id) is not None:
                self.src.fail(e, f"'{e.id}' is a tensor, not a dimension", expected="a dimension symbol")
            return symbol(e.id)
        if isinstance(e, ast.Constant) and isinstance(e.value, int) and not isinstance(e.value, bool):
            if e.value < 1:
                self.src.fail(e, f"a dimension must be positive, got {e.value}", expected="a positive integer")
            return sympy.Integer(e.value)
        if isinstance(e, ast.BinOp) and type(e.op) in (ast.Add, ast.Sub, ast.Mult):
            a, b = self.dimension(e.left), self.dimension(e.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(e.op)]
        self.src.fail(e, "not a dimension", expected="a dimension symbol, a positive integer, or + - * of those")
