"""One record per primitive, grouped by family; every stage of tcnb reads them from here.

- ``elementwise.py``: functions applied entry by entry (SymPy formulas in ``t``);
- ``binary.py``: element-wise functions of several tensors (logaddexp, arctan2: formulas in ``t, t1``);
- ``linalg.py``: inv, det, logdet, solve, solve_triangular, tril, triu, pinv, kron;
- ``decompositions.py``: cholesky, eigvalsh, eigh_vectors, svdvals, svd_u, svd_v; the functions of
  several results (eigh, svd: TUPLE_FUNCTIONS) and the Cholesky forms for SPD variables (SPD_FORMS);
- ``matrix_functions.py``: expm, expm_derivative, matrix_power;
- ``reductions.py``: softmax, logsumexp, prod, prod_others;
- ``shapes.py``: reshape, cumsum (linear: their partials are reshapes/cumsums of a unit tensor);
- ``lowered_shapes.py``: ravel, repeat, tile, var, std (reshapes of broadcasts, means of squares);
- ``selection.py``: max, min, maximum, minimum, where, clip (JAX's conventions at ties);
- ``lowered.py``: the language's functions written as products (sum, trace, diag, einsum, ...);
- ``slicing.py``: flip, roll, concatenate, stack and the slices of array syntax (index maps, lowered);
- ``base.py``: the record (:class:`Primitive`) and the registry; ``printing.py``: formulas as code/LaTeX.

To add a general function, add a record to the file of its family (see CONTRIBUTING.md).
"""
from __future__ import annotations

from . import binary, decompositions, elementwise, linalg, lowered, lowered_shapes  # noqa: F401
from . import matrix_functions, reductions, selection, shapes, slicing  # noqa: F401
from .base import REGISTRY, Operand, Param, Primitive, Spelling, lookup, register
from .binary import BINARY_FUNCTIONS, register_binary
from .decompositions import SPD_FORMS, TUPLE_FUNCTIONS, TupleFunction, register_tuple
from .elementwise import ELEMENTWISE_FUNCTIONS, FORMULA_NAMES, ElementwiseFunction, register_elementwise
from .lowered import LOWERED, Lowered, register_lowered

__all__ = ["REGISTRY", "Operand", "Param", "Primitive", "Spelling", "lookup", "register",
           "ELEMENTWISE_FUNCTIONS", "FORMULA_NAMES", "ElementwiseFunction", "register_elementwise",
           "LOWERED", "Lowered", "register_lowered", "BINARY_FUNCTIONS", "register_binary",
           "TUPLE_FUNCTIONS", "TupleFunction", "register_tuple", "SPD_FORMS"]
