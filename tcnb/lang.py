"""The tensor language, under its old module name: the parser lives in tcnb/parser/.

``lang.parse`` and ``lang.Program`` are what tcnb/api.py reads; ``_BUILTINS`` (every function name of
the language) is read by the docs' reference tables.
"""
from __future__ import annotations

from .parser import BUILTINS as _BUILTINS  # noqa: F401
from .parser import MAX_NESTING, Program, Prod, fresh_label, parse  # noqa: F401

__all__ = ["parse", "Program", "Prod", "fresh_label", "MAX_NESTING"]
