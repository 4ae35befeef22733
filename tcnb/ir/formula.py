"""Element-wise formulas: the symbol they are written in, and how far two of them may fuse.

An element-wise node holds a SymPy formula in ``T`` (and ``t1, t2, ...`` for more arguments). Fusing f(g(x)) into one node saves a pass over
memory, but SymPy's cost of differentiating, substituting into and printing a formula grows with its
size and, for nested functions (tanh(tanh(tanh(...)))), exponentially with its depth — so fusion
stops at FUSE_LIMIT nodes and FUSE_HEIGHT levels, decided here without building the fused formula.
"""
from __future__ import annotations

import functools

import sympy

T = sympy.Symbol("t", real=True)  # the argument of every element-wise formula
# the arguments of an element-wise formula of several tensors (logaddexp(a, b), def f(a, b)): t is
# the first, t1, t2, ... the others
MAX_ARGS = 8
ARGS = (T,) + tuple(sympy.Symbol(f"t{k}", real=True) for k in range(1, MAX_ARGS))


def arg_symbol(k: int) -> sympy.Symbol:
    """The symbol of argument k of an element-wise formula (t for k = 0)."""
    return ARGS[k]

# a fused element-wise formula has at most FUSE_LIMIT nodes in its expression tree and is at most
# FUSE_HEIGHT deep
FUSE_LIMIT = 16
FUSE_HEIGHT = 5


@functools.lru_cache(maxsize=8192)
def formula_shape(fn: sympy.Expr) -> tuple[int, int, int, int]:
    """(tree size, height, occurrences of t, deepest level of t) of a formula (t alone: 1, 1, 1, 1),
    without recursion; repeated subtrees are counted each time they appear."""
    size = height = count = t_level = 0
    stack = [(fn, 1)]
    while stack:
        e, level = stack.pop()
        size += 1
        height = max(height, level)
        if e == T:
            count += 1
            t_level = max(t_level, level)
        stack.extend((a, level + 1) for a in e.args)
    return size, height, count, t_level


def formula_size(fn: sympy.Expr) -> int:
    """Number of nodes in a formula's expression tree."""
    return formula_shape(fn)[0]


def fusable(outer: sympy.Expr, inner: sympy.Expr) -> bool:
    """Whether outer with inner substituted for t stays within FUSE_LIMIT and FUSE_HEIGHT (decided
    without building it)."""
    size, height, count, t_level = formula_shape(outer)
    in_size, in_height = formula_shape(inner)[:2]
    return (size + count * (in_size - 1) <= FUSE_LIMIT
            and max(height, t_level - 1 + in_height) <= FUSE_HEIGHT)
