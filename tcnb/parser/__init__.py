"""The tensor language's parser: Python syntax, read with the standard library's ``ast``.

A program is declarations (``X: R[m, n]``), definitions in array syntax (``z = X @ w``) or index
notation (``G[i, j] = X[k, i] * X[k, j]``, the Einstein convention per term: tcnb/terms.py), explicit
``einsum`` calls, and element-wise function definitions (``def swish(t): return t * sigmoid(t)``).
One module per job:

- ``program.py``: ``parse``, :class:`Program`, statements, declarations, name checks;
- ``arrays.py``: array syntax (operators, broadcasting, ``@``, element-wise functions);
- ``indices.py``: index notation (a reader of its own), ``index_maps.py``: affine subscripts;
- ``calls.py``: function calls, dispatched from the registries (tcnb/primitives);
- ``products.py``: pending products, ``scope.py``: names, ``source.py``: error positions.

(The package is ``parser``, not ``parse``: ``tcnb.parse`` is the public function, tcnb/api.py.)
"""
from __future__ import annotations

from .products import Prod, fresh_label
from .program import Program, parse
from .scope import BUILTINS
from .source import MAX_NESTING

__all__ = ["parse", "Program", "Prod", "fresh_label", "BUILTINS", "MAX_NESTING"]
