"""Evaluation: DAG -> straight-line array code on a namespace (numpy, cupy)."""
from .compiled import Compiled, compiled
from .namespace import available_backends, get_namespace, synchronize, to_numpy

__all__ = ["Compiled", "compiled", "available_backends", "get_namespace", "synchronize", "to_numpy"]
