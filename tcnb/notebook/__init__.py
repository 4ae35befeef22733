"""The notebook layer: IPython magics (``%load_ext tcnb``) and rich display of tcnb objects.

    %load_ext tcnb           # registers %%tensor and %%derive, and HTML display of Expr/Program
    from tcnb.notebook import show
    show(H, parts=("latex", "graph", "stats"), sizes={"m": 1000, "n": 100})

Only the public API of tcnb is used here (DESIGN.md, "Notebook layer").
"""
from .display import ExprView, GraphView, ProgramView, StatsView, StructuredView, dot_available, show, view
from .magics import TensorMagics, load_ipython_extension, unload_ipython_extension

__all__ = ["load_ipython_extension", "unload_ipython_extension", "TensorMagics", "show", "view",
           "ExprView", "ProgramView", "StructuredView", "StatsView", "GraphView", "dot_available"]
