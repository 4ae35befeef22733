"""Sphinx extension: the language reference's function tables, read from tcnb's own registries.

    ```{tcnb-functions} elementwise      (or: general, builtin)
    ```

Element-wise functions and general functions come from their records in ``tcnb/primitives`` (f'(u)
derived by SymPy exactly as tcnb derives it; a general function's call, rule and notes are its
record's ``doc``); the parser's built-ins that are written as products have their rule below. A
function added to tcnb appears here on the next build; tests/test_docs.py checks every one has a rule.
"""
from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

BUILTIN_RULES = {
    "sum": ("`sum(x[, axis])`", "linear: the adjoint is broadcast back over the summed axes", ""),
    "mean": ("`mean(x[, axis])`", "linear: 1/count times that of `sum`", ""),
    "trace": ("`trace(A)`, A square", r"$\partial\, \mathrm{tr} A / \partial A = I$ (a unit tensor, kept symbolic)", ""),
    "diag": ("`diag(v)`: vector → diagonal matrix", r"$\partial\, \mathrm{diag}(v)_{ij} / \partial v_k = "
             r"\delta_{ij}\delta_{jk}$", "a product with a unit tensor δ"),
    "diagonal": ("`diagonal(A)`: square matrix → vector", r"$\partial A_{ii} / \partial A_{kl} = "
                 r"\delta_{ik}\delta_{il}$", "`A[i, i]` in index notation is the same"),
    "norm2": ("`norm2(A)`: Frobenius norm $\\sqrt{\\sum A^2}$", r"$\partial \|A\| / \partial A = A / \|A\|$",
              "not differentiable at A = 0: the gradient evaluates to NaN there"),
    "dot": ("`dot(a, b)`", "bilinear: the derivative w.r.t. one operand is the other", "same as `a @ b`"),
    "outer": ("`outer(a, b)`", r"$\partial (a b^\top)_{ij} / \partial a_k = \delta_{ik} b_j$", ""),
    "eye": ("`eye(n)`", "a constant unit tensor δ: derivative 0", "kept symbolic, never materialised unless asked"),
    "ones": ("`ones(m, n, ...)`", "a constant: derivative 0", ""),
    "einsum": ('`einsum("ij,j->i", A, x)`', "multilinear: the derivative w.r.t. one operand is the "
               "einsum of the others, with δ for repeated output indices", ""),
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _math(latex: str) -> str:
    return "$" + latex + "$"


def elementwise_rows() -> list[str]:
    import sympy
    from tcnb.functions import T, elementwise_latex
    from tcnb.primitives import ELEMENTWISE_FUNCTIONS
    rows = ["| function | f(u) | f′(u) | convention |", "|---|---|---|---|"]
    for name, rec in ELEMENTWISE_FUNCTIONS.items():
        f = rec.formula
        d1 = sympy.diff(f, T)
        note = rec.note
        rows.append(f"| `{name}` | {_math(elementwise_latex(f, 'u'))} | {_math(elementwise_latex(d1, 'u'))} | "
                    f"{_cell(note)} |")
    return rows


def _rule_rows(names, rules) -> list[str]:
    rows = ["| function | derivative | notes |", "|---|---|---|"]
    for name in names:
        call, rule, note = rules.get(name, (f"`{name}`", f"see `tcnb/functions.py` ({name})", ""))
        rows.append(f"| {_cell(call)} | {_cell(rule)} | {_cell(note)} |")
    return rows


def general_rules() -> dict:
    """name -> (call, rule, notes) of every general function, from its record."""
    from tcnb.primitives import REGISTRY
    return {name: rec.doc for name, rec in REGISTRY.items() if rec.doc[1]}


def general_rows() -> list[str]:
    from tcnb.primitives import REGISTRY
    return _rule_rows(list(REGISTRY), general_rules())


def builtin_names() -> list[str]:
    from tcnb import lang
    from tcnb.functions import ELEMENTWISE, GENERAL
    return [n for n in lang._BUILTINS if n not in ELEMENTWISE and n not in GENERAL]


def builtin_rows() -> list[str]:
    return _rule_rows(builtin_names(), BUILTIN_RULES)


TABLES = {"elementwise": elementwise_rows, "general": general_rows, "builtin": builtin_rows}


class FunctionsDirective(Directive):
    required_arguments = 1
    has_content = False

    def run(self):
        which = self.arguments[0]
        if which not in TABLES:
            raise self.error(f"tcnb-functions: expected one of {', '.join(TABLES)}, got {which!r}")
        container = nodes.container(classes=["tcnb-functions"])
        self.state.nested_parse(StringList(TABLES[which](), source="tcnb-functions"), self.content_offset,
                                container)
        return [container]


def setup(app):
    directives.register_directive("tcnb-functions", FunctionsDirective)
    return {"version": "1", "parallel_read_safe": True}
