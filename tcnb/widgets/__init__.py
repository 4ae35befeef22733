"""Notebook widgets (ipywidgets 8): a graph explorer and a teaching step-through.

    from tcnb.widgets import GraphExplorer, Stepper
    GraphExplorer(prog["f"], prog["w"], order=2, sizes={"m": 2000, "n": 1000})
    Stepper(prog["f"], prog["w"], mode="reverse")

Each widget's mimebundle carries, next to the widget view, a static ``text/html`` view of its state
when displayed (SVG, cost table, step text, inline PNGs): saved notebooks still show it on GitHub,
nbviewer and wherever no widget manager runs. Colours come from JupyterLab's theme (``--jp-*``).
"""
from .graph_explorer import GraphExplorer
from .stepper import Stepper

__all__ = ["GraphExplorer", "Stepper"]
from .hessian_explorer import HessianExplorer; __all__ += ["HessianExplorer"]  # noqa: E402,E702
