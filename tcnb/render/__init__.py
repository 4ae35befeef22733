"""Rendering of expression DAGs: LaTeX (index notation), matrix notation, graphviz DOT/SVG, and
cost statistics. Each target is its own small module; nothing here changes the IR.

    from tcnb.render import to_latex, to_matrix, to_digraph, to_svg, stats
"""
from .latex import to_latex
from .matrix import to_matrix, to_matrix_latex
from .dot import to_digraph, to_svg
from .stats import Stats, stats

__all__ = ["to_latex", "to_matrix", "to_matrix_latex", "to_digraph", "to_svg", "stats", "Stats"]
