"""Sphinx extension: the language reference's function tables, read from tcnb's own registries.

    ```{tcnb-functions} elementwise      (or: general, builtin)
    ```

Element-wise functions come from ``tcnb.functions.ELEMENTWISE``, with f'(u) derived by
SymPy exactly as tcnb derives them; the others from ``GENERAL`` and the parser's built-ins, with the
derivative rule written below. A function added to tcnb appears here on the next build; one without a
written rule says where its rule lives, and tests/test_docs.py lists it.
"""
from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

# Conventions that the formula alone does not tell (non-smooth points, domains, rewrites).
ELEMENTWISE_NOTES = {
    "exp": "",
    "log": "u > 0; `log(1 + exp(u))` is rewritten to `softplus(u)`, `log(sigmoid(u))` to `-softplus(-u)`",
    "sin": "", "cos": "", "tan": "",
    "tanh": "",
    "sigmoid": "1 / (1 + e^(-u)), evaluated as `exp(-softplus(-u))`: accurate in both tails",
    "softplus": "log(1 + e^u), evaluated as `logaddexp(0, u)`",
    "relu": "max(u, 0); relu'(0) = 0 (step(0) = 0, a subgradient)",
    "abs": "abs'(0) = sign(0) = 0 (a subgradient)",
    "sign": "sign(0) = 0; derivative 0 everywhere (exact except at 0)",
    "sqrt": "u ≥ 0; the derivative is +inf at 0",
    "square": "u²",
}

GENERAL_RULES = {
    "inv": ("`inv(A)`, A square", r"$\partial (A^{-1})_{ij} / \partial A_{kl} = -(A^{-1})_{ik} (A^{-1})_{lj}$",
            "`NumericalError` when A is singular to working precision or has NaN/inf entries"),
    "det": ("`det(A)`, A square", r"$\partial \det A / \partial A = \det(A)\, A^{-\top}$",
            "0 for a singular A (a value like any other)"),
    "logdet": ("`logdet(A)`, A square", r"$\partial \log|\det A| / \partial A = A^{-\top}$",
               "log abs det, as NumPy's `slogdet`: the sign of a negative determinant is dropped; "
               "`NumericalError` when A is singular"),
    "softmax": ("`softmax(x, axis)`", r"$\partial s_o / \partial x_p = s_o(\delta_{op} - s_p)$ along the axis, "
                r"$\delta$ across the others",
                "without an axis, over every axis"),
    "logsumexp": ("`logsumexp(x[, axis])`", r"$\partial\, \mathrm{lse}(x) / \partial x = \mathrm{softmax}(x)$ "
                  "along the axis", "evaluated with the maximum subtracted (no overflow); "
                  "`log(softmax(z))` is rewritten to `z - logsumexp(z)`"),
}

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
    from tcnb.functions import ELEMENTWISE, T, elementwise_latex
    rows = ["| function | f(u) | f′(u) | convention |", "|---|---|---|---|"]
    for name, f in ELEMENTWISE.items():
        d1 = sympy.diff(f, T)
        note = ELEMENTWISE_NOTES.get(name, "")
        rows.append(f"| `{name}` | {_math(elementwise_latex(f, 'u'))} | {_math(elementwise_latex(d1, 'u'))} | "
                    f"{_cell(note)} |")
    return rows


def _rule_rows(names, rules) -> list[str]:
    rows = ["| function | derivative | notes |", "|---|---|---|"]
    for name in names:
        call, rule, note = rules.get(name, (f"`{name}`", f"see `tcnb/functions.py` ({name})", ""))
        rows.append(f"| {_cell(call)} | {_cell(rule)} | {_cell(note)} |")
    return rows


def general_rows() -> list[str]:
    from tcnb.functions import GENERAL
    return _rule_rows(list(GENERAL), GENERAL_RULES)


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
