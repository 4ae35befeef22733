"""The %%tensor / %%derive magics in a real IPython InteractiveShell: binding, options, display,
and every error path (the cell fails, with a short message and a caret, no traceback, and the
namespace exactly unchanged)."""
from __future__ import annotations

import contextlib
import io
import re

import gc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("IPython")

from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

import tcnb  # noqa: E402
from tcnb.notebook import display as D  # noqa: E402
from tcnb.notebook.magics import CellError, TensorMagics  # noqa: E402

LOGREG = """X: R[m, n]
y: R[m]
w: R[n]
v: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
"""
MF = """T: R[n, n]
U: R[n, k]
V: R[n, k]
loss = sum(square(T - U @ V.T))
"""


@pytest.fixture(scope="module")
def shell():
    shell = InteractiveShell.instance()
    shell.reset()  # the shell is a process-wide singleton: other test files may have bound names
    if "TensorMagics" not in shell.magics_manager.registry:
        shell.run_line_magic("load_ext", "tcnb")
    yield shell
    # free what this module bound, so later test files build their IR nodes afresh (the order of a
    # product's factors in printed formulas follows node creation: see the closing note of issue 11)
    magics = shell.magics_manager.registry["TensorMagics"]
    magics.last_program = magics.last_program_name = magics.last_failure = None
    shell.reset()
    gc.collect()


@pytest.fixture
def ip(shell):
    """The shell with the extension loaded, no program yet, and the user namespace restored after
    the test (cheaper than shell.reset(), which collects garbage every time)."""
    magics = shell.magics_manager.registry["TensorMagics"]
    magics.last_program = magics.last_program_name = magics.last_failure = None
    saved = dict(shell.user_ns)
    yield shell
    shell.user_ns.clear()
    shell.user_ns.update(saved)
    magics.last_program = magics.last_program_name = magics.last_failure = None


@pytest.fixture
def shown(ip, monkeypatch):
    """Every bundle the shell publishes with display() during the test."""
    bundles = []
    monkeypatch.setattr(ip.display_pub, "publish", lambda data, *a, **k: bundles.append(data))
    return bundles


def run(ip, src):
    """Run a cell without touching the history variables (_i, In, Out), so the namespace can be
    compared exactly before and after."""
    return ip.run_cell(src, store_history=False)


def assert_failed(result):
    """The cell failed the IPython way (Run All and nbconvert stop), with tcnb's own error."""
    assert not result.success
    assert isinstance(result.error_in_exec, CellError), repr(result.error_in_exec)
    assert isinstance(result.error_in_exec, tcnb.TcnbError)


def snapshot(ip):
    return {k: v for k, v in ip.user_ns.items()}


def assert_unchanged(ip, before):
    after = ip.user_ns
    assert set(after) == set(before), f"names changed: +{set(after) - set(before)} -{set(before) - set(after)}"
    for k, v in before.items():
        assert after[k] is v, f"{k} was rebound"


def assert_short_error(captured, *fragments, caret=True):
    text = captured.out + captured.err
    assert "Traceback" not in text and 'File "' not in text, text
    assert len(text.strip().splitlines()) <= 4, text
    for frag in fragments:
        assert frag in text, f"{frag!r} not in {text!r}"
    if caret:
        lines = text.rstrip("\n").splitlines()
        assert re.fullmatch(r" *\^", lines[-1]), text
    return text


def caret_column(text):
    """The (0-based) column of the caret, relative to the quoted source line above it."""
    lines = text.rstrip("\n").splitlines()
    return lines[-1].index("^") - 4


# ------------------------------------------------------------------------------------ loading

def test_load_ext_registers_cell_magics(ip):
    cell = ip.magics_manager.magics["cell"]
    assert "tensor" in cell and "derive" in cell
    assert isinstance(ip.magics_manager.registry["TensorMagics"], TensorMagics)


def test_load_ext_registers_tensor_bench(ip):
    assert "tensor_bench" in ip.magics_manager.magics["line"]


@pytest.mark.parametrize("cell,fragment", [
    ("%%derive -h\nH = hessian(f, w)\n", "--no-compress"),
    ("%%derive --help\n\n", "--program"),
    ("%%tensor -h\nx: R[n]\n", "--no-display"),
    ("%tensor_bench -h", "--baselines"),
])
def test_help_shows_the_options_and_succeeds(ip, shown, capsys, cell, fragment):
    before = set(ip.user_ns)
    result = run(ip, cell)
    assert result.success, repr(result.error_in_exec)
    assert fragment in capsys.readouterr().out
    assert set(ip.user_ns) == before  # help binds nothing, parses nothing


def test_tensor_says_when_it_rebinds_user_data(ip, shown, capsys):
    ip.user_ns["X"] = np.ones(3)
    assert run(ip, "%%tensor\nw: R[n]\nX = w * 2\nf = sum(X)\n").success
    out = capsys.readouterr().out
    assert "rebinds X (was ndarray)" in out and "f" not in out.split("rebinds", 1)[1]
    assert isinstance(ip.user_ns["X"], tcnb.Expr)
    # re-running the cell replaces tcnb objects only: nothing to say
    assert run(ip, "%%tensor\nw: R[n]\nX = w * 2\nf = sum(X)\n").success
    assert "rebinds" not in capsys.readouterr().out


def test_derive_show_code_is_standalone(ip, shown):
    assert run(ip, "%%tensor\nX: R[m, n]\nw: R[n]\nf = sum(tanh(X @ w))\n").success
    shown.clear()
    assert run(ip, "%%derive --show code\ng = grad(f, w)\n").success
    text = "".join(str(b.get("text/html", "")) + str(b.get("text/plain", "")) for b in shown)
    assert "standalone" in text and "_rt.tanh" not in text and "import numpy" in text


def test_loading_twice_is_harmless(ip, shown, capsys):
    ip.run_line_magic("load_ext", "tcnb")   # IPython: "already loaded"
    ip.run_line_magic("reload_ext", "tcnb")
    assert run(ip, "%%tensor p\n" + LOGREG).success
    assert isinstance(ip.user_ns["p"], tcnb.Program)


# ------------------------------------------------------------------------------------ %%tensor

def test_tensor_binds_program_and_definitions(ip, shown):
    assert run(ip, "%%tensor logreg\n" + LOGREG).success
    ns = ip.user_ns
    assert isinstance(ns["logreg"], tcnb.Program)
    assert ns["z"] == ns["logreg"]["z"] and ns["f"] == ns["logreg"]["f"]
    assert isinstance(ns["f"], tcnb.Expr)
    for var in ("X", "y", "w", "v"):  # declarations are not bound: they would shadow data arrays
        assert var not in ns


def test_tensor_without_name_binds_definitions_only(ip, shown):
    before = set(ip.user_ns)
    assert run(ip, "%%tensor\n" + LOGREG).success
    assert set(ip.user_ns) - before == {"z", "f"}


def test_tensor_displays_latex_and_dag(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    assert len(shown) == 1
    bundle = shown[0]
    assert "program logreg" in bundle["text/plain"]
    assert bundle["text/latex"].startswith("$")
    page = bundle["text/html"]
    assert r"\sum" in page and "z_{i}" in page
    if D.dot_available():
        assert "<svg" in page
        labels = re.findall(r"<text[^>]*>([^<]*)</text>", page)
        assert "X" in labels and "w" in labels and any("softplus" in l for l in labels)
        assert any(l.startswith("z =") for l in labels)  # the definition z is one node of the DAG


def test_tensor_no_display(ip, shown):
    run(ip, "%%tensor logreg --no-display\n" + LOGREG)
    assert shown == [] and "logreg" in ip.user_ns


def test_tensor_rebinding_replaces_last_program(ip, shown):
    run(ip, "%%tensor a\n" + LOGREG)
    run(ip, "%%tensor b\n" + MF)
    run(ip, "%%derive --show none\nH = hessian(loss, U)")
    assert ip.user_ns["H"].shape == ip.user_ns["b"]["U"].shape * 2


def test_line_is_not_variable_expanded(ip, shown, capsys):
    ip.user_ns["p"] = "expanded"
    before = snapshot(ip)
    for line in ("{p}", "$p"):
        assert_failed(run(ip, f"%%tensor {line}\n" + LOGREG))
        text = assert_short_error(capsys.readouterr(), line, "not a valid Python name", caret=False)
        assert "expanded" not in text
    assert_unchanged(ip, before)


# ------------------------------------------------------------------------------------ %%derive

def test_derive_binds_results(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    assert run(ip, "%%derive\ng = grad(f, w)\nH = hessian(f, w)\nJ = jacobian(z, w)\n"
                   "Hv = hvp(f, w, v)\nD3 = derivative(f, w, order=3)\nD2 = derivative(f, w, 2)").success
    ns, p = ip.user_ns, ip.user_ns["logreg"]
    f, w = p["f"], p["w"]
    assert ns["g"] == tcnb.grad(f, w)
    assert ns["H"] == tcnb.hessian(f, w)
    assert ns["J"] == tcnb.jacobian(p["z"], w)
    assert ns["Hv"] == tcnb.hvp(f, w, p["v"])
    assert ns["D3"] == tcnb.derivative(f, w, order=3)
    assert ns["D2"] == tcnb.derivative(f, w, order=2)
    assert len(ns["D3"].shape) == 3


def test_derive_uses_earlier_lines_and_namespace_exprs(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, "%%derive --show none\ng = grad(f, w)\nJ = jacobian(g, w)")
    ns = ip.user_ns
    assert ns["J"] == tcnb.jacobian(ns["g"], ns["logreg"]["w"])
    run(ip, "%%derive --show none\nK = jacobian(J, w)")  # J from the namespace
    assert ns["K"] == tcnb.jacobian(ns["J"], ns["logreg"]["w"])


def test_derive_comments_and_blank_lines(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    assert run(ip, "%%derive --show none\n\n# the gradient\n  g = grad(f, w)   # trailing\n\n").success
    assert "g" in ip.user_ns


@pytest.mark.parametrize("mode", ["forward", "reverse", "cross-country"])
def test_derive_mode_option(ip, shown, mode):
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, f"%%derive --mode {mode} --show none\nH = hessian(f, w)")
    p = ip.user_ns["logreg"]
    assert ip.user_ns["H"] == tcnb.hessian(p["f"], p["w"], mode=mode)


def test_derive_no_compress_and_keywords(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, "%%derive --no-compress --show none\nH = hessian(f, w)\n"
            "Hf = hessian(f, w, mode=\"forward\", compress=True)")
    p = ip.user_ns["logreg"]
    H = ip.user_ns["H"]
    assert H == tcnb.hessian(p["f"], p["w"], compress=False)
    assert H != tcnb.hessian(p["f"], p["w"], compress=True)
    assert ip.user_ns["Hf"] == tcnb.hessian(p["f"], p["w"], mode="forward", compress=True)


def test_derive_program_option(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, "%%tensor mf\n" + MF)
    run(ip, "%%derive --program logreg --show none\ng = grad(f, w)")
    assert ip.user_ns["g"] == tcnb.grad(ip.user_ns["logreg"]["f"], ip.user_ns["logreg"]["w"])


def test_derive_show_parts(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    shown.clear()
    run(ip, "%%derive --show latex,graph,code,stats --sizes m=2000,n=100\nH = hessian(f, w)")
    assert len(shown) == 1
    page, text = shown[0]["text/html"], shown[0]["text/plain"]
    assert text.startswith("H = ")
    assert r"\sum" in page and "matrix notation" in page and "diag" in page
    assert "standalone" in page and "import numpy" in text    # code: the standalone module
    assert "FLOPs" in page and "m=2000, n=100" in page         # stats at the given sizes
    assert ("<svg" in page) == D.dot_available()


def test_derive_show_default_is_latex_and_none_shows_nothing(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    shown.clear()
    run(ip, "%%derive\ng = grad(f, w)\nH = hessian(f, w)")
    assert [b["text/plain"].split(" = ")[0] for b in shown] == ["g", "H"]
    assert all("<svg" not in b["text/html"] and "tcnb_fn" not in b["text/html"] for b in shown)
    shown.clear()
    run(ip, "%%derive --show none\nH2 = hessian(f, w)")
    assert shown == [] and "H2" in ip.user_ns


def test_stats_without_sizes_uses_defaults(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    shown.clear()
    run(ip, "%%derive --show stats\nH = hessian(f, w)")
    assert "m=100, n=100" in shown[0]["text/html"]


def test_plain_expression_displays_richly(ip, shown):
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, "%%derive --show none\nH = hessian(f, w)")
    data, _ = ip.display_formatter.format(ip.user_ns["H"])
    assert {"text/plain", "text/latex", "text/html"} <= set(data)
    assert "matrix notation" in data["text/html"]
    assert ("<svg" in data["text/html"]) == D.dot_available()
    data, _ = ip.display_formatter.format(ip.user_ns["logreg"])
    assert "text/html" in data


# ------------------------------------------------------------------------------------ errors

TENSOR_ERRORS = [  # cell, fragments of the message, caret column
    ("X: R[m, n]\nw: R[n]\nz = X @@ w", ["line 3", "invalid syntax"], None),
    ("X: R[m, n]\nz = X @ q", ["TensorSyntaxError", "line 2", "undeclared name 'q'", "z = X @ q"], 8),
    ("A: R[m, n]\nb: R[m]\nr = A @ b", ["ShapeError", "line 3"], 4),
    ("X: R[m, n]\nz = frobnicate(X)", ["line 2", "frobnicate"], None),
]


@pytest.mark.parametrize("cell,fragments,col", TENSOR_ERRORS)
def test_tensor_errors(ip, shown, capsys, cell, fragments, col):
    run(ip, "%%tensor ok\n" + LOGREG)
    before = snapshot(ip)
    magics = ip.magics_manager.registry["TensorMagics"]
    last = magics.last_program
    result = run(ip, "%%tensor bad\n" + cell)
    text = assert_short_error(capsys.readouterr(), *fragments)
    if col is not None:
        assert caret_column(text) == col
    assert_unchanged(ip, before)
    assert_failed(result)
    # %%derive does not fall back on the last good program: it says the last one failed
    assert magics.last_program is None and last is not None
    assert_failed(run(ip, "%%derive\ng = grad(f, w)"))
    assert_short_error(capsys.readouterr(), "last %%tensor cell failed", "--program", caret=False)
    assert_unchanged(ip, before)
    assert run(ip, "%%derive --program ok --show none\ng = grad(f, w)").success  # explicit is fine


DERIVE_ERRORS = [  # cell, fragments, caret column (None: no caret expected)
    ("H = hessian(f, w", ["SyntaxError", "line 1"], 11),
    ("hessian(f, w)", ["line 1", "H = hessian(f, w)"], 0),
    ("a = b = grad(f, w)", ["line 1"], 0),
    ("a, b = grad(f, w)", ["line 1"], 0),
    ("H.x = grad(f, w)", ["line 1"], 0),
    ("H = f", ["must be a call of grad"], 4),
    ("H = hessian(f, w) + 1", ["must be a call of grad"], 4),
    ("H = eval('1')", ["must be a call of grad"], 4),
    ("H = tcnb.hessian(f, w)", ["must be a call of grad"], 4),
    ("H = hessian(f, q)", ["NameError", "unknown name 'q'", "names here"], 15),
    ("H = hessian(f)", ["hessian takes 2"], 4),
    ("H = hvp(f, w)", ["hvp takes 3", "(f, w, v)"], 4),
    ("H = hessian(f + 1, w)", ["names of expressions"], 12),
    ("H = hessian(*args)", ["names of expressions"], 12),
    ("H = hessian(f, w, foo=1)", ["unknown keyword"], 22),
    ("H = hessian(f, w, order=2)", ["unknown keyword"], 24),
    ("H = derivative(f, w, order=1.5)", ["order must be a non-negative integer"], 27),
    ("H = derivative(f, w, order=-1)", ["order must be"], 27),
    ("H = hessian(f, w, compress=1)", ["compress must be True or False"], 27),
    ("H = hessian(f, w, mode='sideways')", ["mode must be one of"], 4),
    ("H = hessian(f, w, **kw)", ["unknown keyword"], 20),
    ("g = grad(z, w)", ["DerivativeError", "grad needs a scalar", "g = grad(z, w)"], 4),
    ("g = grad(f, z)", ["DerivativeError", "declared variable"], 4),
    ("Hv = hvp(f, w, X)", ["ShapeError", "direction"], 5),
    ("g = grad(f, w)\nH = hessian(g, w)", ["line 2", "grad needs a scalar"], 4),
    ("g = grad(f, w)\nH = hessian(f, nope)", ["line 2", "unknown name 'nope'"], 15),
]


@pytest.mark.parametrize("cell,fragments,col", DERIVE_ERRORS)
def test_derive_errors_leave_namespace_unchanged(ip, shown, capsys, cell, fragments, col):
    run(ip, "%%tensor logreg\n" + LOGREG)
    ip.user_ns["H"] = "user's own H"   # must survive a failed cell
    before = snapshot(ip)
    shown.clear()
    result = run(ip, "%%derive\n" + cell)
    text = assert_short_error(capsys.readouterr(), *fragments)
    assert caret_column(text) == col, text
    assert_unchanged(ip, before)
    assert shown == []
    assert_failed(result)


USAGE_ERRORS = [
    ("%%derive --mode sideways", "invalid choice"),
    ("%%derive --show pretty", "unknown --show part 'pretty'"),
    ("%%derive --sizes m=ten", "--sizes wants name=integer"),
    ("%%derive --program nothere", "nothere is not defined"),
    ("%%derive --program notprog", "not a tcnb Program"),
    ("%%derive --frobnicate", "unrecognized arguments"),
]


@pytest.mark.parametrize("line,fragment", USAGE_ERRORS)
def test_derive_usage_errors(ip, shown, capsys, line, fragment):
    run(ip, "%%tensor logreg\n" + LOGREG)
    ip.user_ns["notprog"] = 42
    before = snapshot(ip)
    assert_failed(run(ip, line + "\ng = grad(f, w)"))
    assert_short_error(capsys.readouterr(), "UsageError", fragment, caret=False)
    assert_unchanged(ip, before)


def test_derive_without_program(ip, shown, capsys):
    before = snapshot(ip)
    assert_failed(run(ip, "%%derive\ng = grad(f, w)"))
    assert_short_error(capsys.readouterr(), "no program yet", "%%tensor", caret=False)
    assert_unchanged(ip, before)


def test_derive_empty_cell(ip, shown, capsys):
    run(ip, "%%tensor logreg\n" + LOGREG)
    before = snapshot(ip)
    assert_failed(run(ip, "%%derive\n# nothing here\n"))
    assert_short_error(capsys.readouterr(), "nothing to derive", caret=False)
    assert_unchanged(ip, before)


def test_internal_errors_are_short(ip, shown, capsys, monkeypatch):
    run(ip, "%%tensor logreg\n" + LOGREG)
    before = snapshot(ip)

    def broken(*a, **k):
        raise ZeroDivisionError("inside tcnb")

    monkeypatch.setattr(tcnb, "hessian", broken)
    assert_failed(run(ip, "%%derive\ng = grad(f, w)\nH = hessian(f, w)"))
    assert_short_error(capsys.readouterr(), "InternalError", "ZeroDivisionError", "line 2")
    assert_unchanged(ip, before)
    monkeypatch.setattr(tcnb, "parse", broken)
    assert_failed(run(ip, "%%tensor again\n" + LOGREG))
    assert_short_error(capsys.readouterr(), "InternalError", "parsing", caret=False)
    assert_unchanged(ip, before)


# ------------------------------------------------------------------------------------ display

def test_display_never_raises(ip, monkeypatch):
    p = tcnb.parse(LOGREG)
    H = tcnb.hessian(p["f"], p["w"])

    def boom(*a, **k):
        raise RuntimeError("renderer broke")

    for method in ("latex", "matrix", "graph", "einstein", "stats", "to_source", "_repr_latex_"):
        monkeypatch.setattr(tcnb.Expr, method, boom)
    bundle = D.ExprView(H, parts=D.PARTS)._repr_mimebundle_()
    assert bundle["text/plain"]
    data, _ = ip.display_formatter.format(H)
    assert "text/plain" in data
    monkeypatch.setattr(tcnb.Program, "__repr__", boom)
    assert D.ProgramView(p)._repr_mimebundle_()["text/plain"]


def test_without_dot_a_one_line_hint(ip, shown, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on PATH
    assert not D.dot_available()
    run(ip, "%%tensor logreg\n" + LOGREG)
    run(ip, "%%derive --show latex,graph\nH = hessian(f, w)")
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    for bundle in shown:
        assert "<svg" not in bundle["text/html"]
        assert D.INSTALL_HINT.replace("'", "&#x27;") in bundle["text/html"]
    assert "\n" not in D.INSTALL_HINT and "apt install graphviz" in D.INSTALL_HINT
    g = D.GraphView(ip.user_ns["H"].graph())._repr_mimebundle_()
    assert g == {"text/plain": D.INSTALL_HINT}


def test_structured_and_stats_views():
    import numpy as np
    p = tcnb.parse(MF)
    H = tcnb.hessian(p["loss"], p["U"])
    rng = np.random.default_rng(0)
    S = H.structured(T=rng.standard_normal((6, 6)), U=rng.standard_normal((6, 2)), V=rng.standard_normal((6, 2)))
    bundle = D.view(S)._repr_mimebundle_()
    assert "pattern" in bundle["text/html"] and "smaller" in bundle["text/html"]
    st = H.stats(n=100, k=5)
    page = D.StatsView(st, "at n=100")._repr_mimebundle_()["text/html"]
    assert "FLOPs" in page and "at n=100" in page


# ------------------------------------------------------------------------------------ failing cells fail

def test_failed_tensor_cell_fails_and_clobbers_nothing(ip, shown, capsys):
    """A cell that would bind model, z and f fails at its last line: the user's own values stay."""
    ip.user_ns.update(model="my model", z="my z", f="my f")
    before = snapshot(ip)
    result = run(ip, "%%tensor model\nX: R[m, n]\nw: R[n]\nz = X @ w\nf = sum(z) + q")
    assert_failed(result)
    assert_short_error(capsys.readouterr(), "TensorSyntaxError", "line 4", "undeclared name 'q'")
    assert_unchanged(ip, before)
    assert shown == []


def test_typo_in_an_edited_model_does_not_give_the_old_gradient(ip, shown, capsys):
    """The issue's case: after a failed %%tensor, %%derive said nothing and used the old program."""
    assert run(ip, "%%tensor model\nw: R[n]\nf = sum(w * w)").success
    assert run(ip, "%%derive --show none\ng = grad(f, w)").success
    old_g = ip.user_ns["g"]
    assert_failed(run(ip, "%%tensor model\nw: R[n]\nf = sum(exp(w) * w) +"))   # the edit has a typo
    capsys.readouterr()
    result = run(ip, "%%derive --show none\ng = grad(f, w)")
    assert_failed(result)
    assert_short_error(capsys.readouterr(), "UsageError", "last %%tensor cell failed",
                       "TensorSyntaxError at line 2", caret=False)
    assert ip.user_ns["g"] is old_g
    assert run(ip, "%%tensor model\nw: R[n]\nf = sum(exp(w) * w)").success  # fixed: derive works again
    assert run(ip, "%%derive --show none\ng = grad(f, w)").success
    assert ip.user_ns["g"] == tcnb.grad(ip.user_ns["model"]["f"], ip.user_ns["model"]["w"])


def test_a_failed_derive_keeps_the_program(ip, shown, capsys):
    run(ip, "%%tensor logreg\n" + LOGREG)
    assert_failed(run(ip, "%%derive\ng = grad(z, w)"))
    assert run(ip, "%%derive --show none\ng = grad(f, w)").success


def test_the_shell_shows_only_the_short_lines(ip, shown, capsys):
    run(ip, "%%tensor logreg\n" + LOGREG)
    capsys.readouterr()
    result = run(ip, "%%derive\nH = hessian(f, q)")
    err = result.error_in_exec
    assert err._render_traceback_() == [
        "NameError: line 1, column 16: unknown name 'q' (names here: X, y, w, v, z, f)",
        "    H = hessian(f, q)",
        "                   ^"]
    out = capsys.readouterr()
    assert (out.out + out.err).strip().splitlines() == err._render_traceback_()


@pytest.mark.parametrize("name", ["for", "None", "True", "class", "lambda", "1abc", "a-b"])
def test_keywords_and_non_identifiers_are_not_program_names(ip, shown, capsys, name):
    before = snapshot(ip)
    assert_failed(run(ip, f"%%tensor {name}\n" + LOGREG))
    why = "a Python keyword" if name.isidentifier() else "not a valid Python name"
    assert_short_error(capsys.readouterr(), "UsageError", repr(name), why, caret=False)
    assert_unchanged(ip, before)
    assert name not in ip.user_ns


def test_soft_keywords_are_names(ip, shown):
    assert run(ip, "%%tensor match --no-display\n" + LOGREG).success
    assert isinstance(ip.user_ns["match"], tcnb.Program)


def test_program_option_refuses_keywords(ip, shown, capsys):
    run(ip, "%%tensor logreg\n" + LOGREG)
    assert_failed(run(ip, "%%derive --program for\ng = grad(f, w)"))
    assert_short_error(capsys.readouterr(), "--program 'for' is a Python keyword", caret=False)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("line,fragment", [
    ("D = derivative(f, w, order=100000)", "order 100000 is too high"),
    ("D = derivative(f, w, 11)", "order 11 is too high"),
])
def test_derive_order_is_bounded(ip, shown, capsys, line, fragment):
    run(ip, "%%tensor logreg\n" + LOGREG)
    before = snapshot(ip)
    assert_failed(run(ip, "%%derive\n" + line))
    assert_short_error(capsys.readouterr(), "DerivativeError", fragment)
    assert_unchanged(ip, before)


# ------------------------------------------------------------------------------------ %tensor_bench

@pytest.fixture
def bench_ip(ip):
    from tcnb.bench import magic
    magic.register(ip)
    run(ip, "%%tensor logreg --no-display\n" + LOGREG)
    ip.user_ns["_bench"] = "mine"
    return ip


FAST = "--sizes 'n=3 m=4' --no-progress --quiet --repeat-time 0.01"


@pytest.mark.parametrize("line,fragment", [
    ("nope", "no expression named 'nope'"),
    (f"f --wrt nope {FAST}", "'nope' is not a variable"),
    (f"f --wrt w --kind bogus {FAST}", "kind must be one of"),
    (f"f --wrt w --backends nmupy --baselines none {FAST}", "--backends: unknown 'nmupy'"),
    (f"f --wrt w --backends numpy --baselines jaxx {FAST}", "--baselines: unknown 'jaxx'"),
    (f"f --wrt w --modes sideways --baselines none {FAST}", "--modes: unknown 'sideways'"),
    (f"f --wrt w --inputs y {FAST}", "--inputs 'y': expected name=kind"),
    (f"f --wrt w --as for {FAST}", "--as 'for'"),
    ("f --budget abc", "argument --budget: invalid float value: 'abc'"),
    ("f --frobnicate", "unrecognized arguments: --frobnicate"),
    ("'f", "No closing quotation"),
])
def test_tensor_bench_failures_fail_the_cell(bench_ip, shown, capsys, line, fragment):
    from tcnb.bench.magic import BenchMagicError
    before = snapshot(bench_ip)
    result = run(bench_ip, "%tensor_bench " + line)
    assert not result.success and isinstance(result.error_in_exec, BenchMagicError)
    text = assert_short_error(capsys.readouterr(), "%tensor_bench:", fragment, caret=False)
    assert len(text.strip().splitlines()) == 1 and "usage: %tensor_bench [" not in text
    assert_unchanged(bench_ip, before)


def test_tensor_bench_success_binds(bench_ip, shown):
    result = run(bench_ip, f"%tensor_bench f --wrt w --kind grad --backends numpy --baselines none {FAST} --as res")
    assert result.success and result.error_in_exec is None
    assert {r["status"] for r in bench_ip.user_ns["res"].records} == {"ok"}


# ------------------------------------------------------------------------------------ garbage into %%derive

DERIVE_TOKENS = ["g", "H", " = ", "=", "grad", "hessian", "jacobian", "derivative", "hvp", "(", ")", "f", "w", "v",
                 "z", "X", ", ", "order=", "mode=", "compress=", "'forward'", "True", "1", "-1", "10**9", "100000",
                 "1.5", "*", "**", "[", "]", "#", "\n", " ", "\\", "'", '"', "lambda", ":", "\x00", "\ufeff", "é",
                 "0x", "_", "e9", "@", "if", "."]
DERIVE_GARBAGE = st.one_of(st.text(min_size=1, max_size=30),
                           st.lists(st.sampled_from(DERIVE_TOKENS), min_size=1, max_size=12).map("".join))


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(cell=DERIVE_GARBAGE)
def test_garbage_derive_cells_get_short_messages(shell, cell):
    """Only tcnb's own CellError (never InternalError, a bare exception inside tcnb) ends a cell."""
    magics = shell.magics_manager.registry["TensorMagics"]
    magics.last_program, magics.last_failure = tcnb.parse(LOGREG), None
    saved = dict(shell.user_ns)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = shell.run_cell("%%derive --show none\n" + cell, store_history=False)
    finally:
        shell.user_ns.clear()
        shell.user_ns.update(saved)
        magics.last_program = None
    err = result.error_in_exec
    if err is not None and cell.strip():
        assert isinstance(err, CellError) and err.kind != "InternalError", (cell, repr(err))
    assert "Traceback" not in out.getvalue(), out.getvalue()
