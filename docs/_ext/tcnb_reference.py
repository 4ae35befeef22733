"""Sphinx extension: the language reference's function tables, read from tcnb's own registries.

    ```{tcnb-functions} elementwise      (or: general, builtin)
    ```

Every function comes from its record in ``tcnb/primitives``: element-wise functions with f'(u)
derived by SymPy exactly as tcnb derives it; general functions and the functions the language
writes as products (``lowered.py``: sum, trace, einsum, ...) with their record's ``doc`` (call, rule,
notes). A function added to tcnb appears here on the next build; tests/test_docs.py checks every
one has a rule.
"""
from __future__ import annotations

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from docutils.statemachine import StringList

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
    # functions of several tensors: f(u, v) and its partials by u and by v
    from sympy.printing.latex import LatexPrinter
    from tcnb import ir
    from tcnb.functions import print_formula
    from tcnb.primitives import BINARY_FUNCTIONS
    for name, rec in BINARY_FUNCTIONS.items():
        marks = ["u", "v"]
        tex = lambda e: print_formula(LatexPrinter(), e, marks)
        partials = ", ".join(tex(sympy.diff(rec.formula, ir.arg_symbol(k))) for k in range(2))
        rows.append(f"| `{name}(u, v)` | {_math(tex(rec.formula))} | {_math(partials)} (by u, by v) | "
                    f"{_cell(rec.note)} |")
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
    """The functions the language writes as products or unpacks (eigh, svd), in alphabetical order."""
    from tcnb.primitives import LOWERED, TUPLE_FUNCTIONS
    return sorted(set(LOWERED) | set(TUPLE_FUNCTIONS))


def builtin_rules() -> dict:
    """name -> (call, rule, notes) of every function written as a product or unpacked, from its record."""
    from tcnb.primitives import LOWERED, TUPLE_FUNCTIONS
    return {name: rec.doc for name, rec in list(LOWERED.items()) + list(TUPLE_FUNCTIONS.items())}


def builtin_rows() -> list[str]:
    return _rule_rows(builtin_names(), builtin_rules())


def __getattr__(name):  # BUILTIN_RULES, read lazily (tcnb is imported only when a table is built)
    if name == "BUILTIN_RULES":
        return builtin_rules()
    raise AttributeError(name)


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
