"""The expression DAG in the paper's vocabulary, hash-consed.

Node kinds (Laue et al. §3): variables, constants (a scalar, or a tensor filled with one value, which
is how broadcasting and summation by a ones-tensor are written), unit tensors (Kronecker deltas),
the one generic multiplication ``A *(s1,s2,s3) B`` generalised to n operands (an einsum), addition,
element-wise functions (a SymPy formula in one symbol per argument) and general functions (inv, det,
softmax, ... named by their records in tcnb/primitives).

Nodes are immutable and interned: building a node equal to an existing one returns that object, so
common subexpressions are shared by construction and ``a is b`` is structural equality. Every
constructor canonicalises cheaply (operand order, index relabelling, scalar folding), which is what
makes index notation, ``einsum`` and array syntax that mean the same thing the same node.
Transposition is not a node: it is an einsum that only renames indices, and it is inlined into the
einsum that uses it.

The package is layered, each module importing only those before it: ``formula`` (element-wise
formulas and fusion limits) and ``nodes`` (interning and the kinds stored as given), ``labels``
(a product's index labels: unit-tensor elimination, canonical numbering), ``algebra`` (the
simplifying kinds and small constructors). Graph walks are tcnb/graph.py, re-exported here.
Everything is imported from ``tcnb.ir``; the submodules are an implementation detail.
"""
from ..graph import depends_on, topological, variables
from .algebra import (LINEAR_OF_UNIT, Add, Einsum, Elementwise, add, is_zero, neg, register_linear_of_unit, scale,
                      split_coefficient, transpose, zeros)
from .formula import ARGS, FUSE_HEIGHT, FUSE_LIMIT, MAX_ARGS, T, arg_symbol, formula_shape, formula_size, fusable
from .labels import is_kept_delta, label_dims_of, unit_tensor_ties
from .nodes import STRUCTURES, Const, Delta, General, IndexMap, Node, Var

__all__ = ["Node", "Var", "Const", "Delta", "IndexMap", "General", "Elementwise", "Add", "Einsum",
           "T", "ARGS", "MAX_ARGS", "arg_symbol", "FUSE_LIMIT", "FUSE_HEIGHT", "formula_shape", "formula_size", "fusable",
           "unit_tensor_ties", "is_kept_delta", "label_dims_of",
           "split_coefficient", "scale", "add", "neg", "zeros", "is_zero", "transpose",
           "LINEAR_OF_UNIT", "register_linear_of_unit",
           "topological", "variables", "depends_on", "STRUCTURES"]
