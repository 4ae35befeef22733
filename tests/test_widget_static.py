"""The widgets without a widget manager, and their colours in both JupyterLab themes.

* Static views: every widget's mimebundle carries ``text/html`` of its current state (SVG, cost
  table, step text, inline PNGs) next to the widget view, so a saved notebook shows something on
  GitHub, nbviewer (nbconvert) and VS Code without widgets. Checked on the bundle and on a notebook
  executed with nbclient and converted with nbconvert.
* Contrast: every piece of text in the widgets' HTML has a WCAG contrast ratio of at least 4.5
  against what is behind it, with the colours of JupyterLab's light theme, of its dark theme (both
  read from the installed JupyterLab's CSS) and of a page without ``--jp-*`` variables (the
  fallbacks). tests/test_browser.py checks the same in a real JupyterLab.
"""
from __future__ import annotations

import base64
import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

import tcnb  # noqa: E402
from tcnb.notebook import display as D  # noqa: E402
from tcnb.widgets import GraphExplorer, HessianExplorer, Stepper  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LOGREG = """X: R[m, n]
y: R[m]
w: R[n]
z = X @ w
f = sum(log(1 + exp(-y * z)))
"""
needs_dot = pytest.mark.skipif(not D.dot_available(), reason="Graphviz 'dot' is not installed")


@pytest.fixture(scope="module")
def prog():
    return tcnb.parse(LOGREG)


@pytest.fixture(scope="module")
def widgets(prog):
    return {"explorer": GraphExplorer(prog["f"], prog["w"], order=2, sizes={"m": 2000, "n": 1000}),
            "stepper": Stepper(prog["f"], prog["w"], mode="reverse"),
            "hessian": HessianExplorer.from_function(prog["f"], prog["w"], sizes={"m": 40, "n": 6})}


# ====================================================================================== static views

def bundle(widget) -> dict:
    data = widget._repr_mimebundle_(include=None, exclude=None)
    assert set(data) == {WIDGET_VIEW, "text/html", "text/plain"}
    assert data[WIDGET_VIEW]["model_id"] == widget.model_id
    assert "children=" not in data["text/plain"]
    return data


def test_ipython_formats_widgets_with_the_static_view(widgets):
    from IPython.core.formatters import DisplayFormatter
    for w in widgets.values():
        data, _ = DisplayFormatter().format(w)
        assert {WIDGET_VIEW, "text/html"} <= set(data), type(w).__name__


@needs_dot
def test_explorer_static_view_is_its_current_state(widgets):
    ex = widgets["explorer"]
    page = bundle(ex)["text/html"]
    assert ex.svg and ex.svg in page                                    # the graph shown now
    assert "estimated cost at m=2000, n=1000" in page and "<table style='border-collapse:collapse'>" in page
    current = re.findall(r"<tr class='tcnb-current'[^>]*>(.*?)</tr>", page)
    assert len(current) == 1 and "cross-country, compressed" in current[0]
    assert "cross-country mode, compressed" in bundle(ex)["text/plain"]
    ex.mode.value = "reverse"
    try:
        page = bundle(ex)["text/html"]
        assert ex.svg in page and "reverse mode, compressed" in page
        assert "reverse, compressed" in re.findall(r"<tr class='tcnb-current'[^>]*>(.*?)</tr>", page)[0]
    finally:
        ex.mode.value = "cross-country"


@needs_dot
def test_stepper_static_view_is_its_current_step(widgets):
    s = widgets["stepper"]
    s.slider.value = 3
    try:
        data = bundle(s)
        page = data["text/html"]
        assert f"step 3 of {len(s.steps)}" in page and f"step 3 of {len(s.steps)}" in data["text/plain"]
        assert s.svg in page and "<svg" in page                          # the DAG, this step highlighted
        assert "$$" in page and html.escape(s.current.formulas[0], quote=False) in page
        assert "tcnb-stepper-rule" in page
    finally:
        s.slider.value = 1


def test_hessian_static_view_has_the_pictures_and_numbers(widgets):
    h = widgets["hessian"]
    data = bundle(h)
    page = data["text/html"]
    pngs = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(pngs) == 2                                               # heatmap and spectrum plots
    assert base64.b64decode(pngs[0]) == bytes(h.heatmap.value)
    assert base64.b64decode(pngs[1]) == bytes(h.image.value)
    assert all(base64.b64decode(p).startswith(b"\x89PNG") for p in pngs)
    assert "negative eigenvalues" in page and "condition number" in page
    assert "6×6 Hessian" in data["text/plain"] and "condition number" in data["text/plain"]


# -------------------------------------------------------------------------------- saved notebooks

NOTEBOOK_CELLS = [
    "import tcnb\nfrom tcnb.widgets import GraphExplorer, Stepper, HessianExplorer\n"
    f"prog = tcnb.parse({LOGREG!r})",
    "GraphExplorer(prog['f'], prog['w'], order=2, sizes={'m': 2000, 'n': 1000})",
    "s = Stepper(prog['f'], prog['w'], mode='forward')\ns.slider.value = 2\ns",
    "HessianExplorer.from_function(prog['f'], prog['w'], sizes={'m': 40, 'n': 6})",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "JUPYTER_PREFER_ENV_PATH": "1", "MPLBACKEND": "Agg"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)                           # the kernel imports this checkout's tcnb
    try:
        work = tmp_path_factory.mktemp("static")
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(work)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    nbformat.validate(nb)
    return nb


def _display(cell) -> dict:
    outs = [o for o in cell.outputs if o.output_type == "execute_result"]
    assert len(outs) == 1, cell.outputs
    return outs[0]["data"]


@needs_dot
def test_saved_notebook_has_widget_and_static_views(executed):
    explorer, stepper, hessian = (_display(executed.cells[k]) for k in (1, 2, 3))
    for data in (explorer, stepper, hessian):
        assert WIDGET_VIEW in data and "text/html" in data
        assert "children=" not in data["text/plain"]
    assert "<svg" in explorer["text/html"] and "estimated cost at m=2000, n=1000" in explorer["text/html"]
    assert "<tr class='tcnb-current'" in explorer["text/html"]
    assert "step 2 of" in stepper["text/html"] and "<svg" in stepper["text/html"] and "\\dot" in stepper["text/html"]
    assert hessian["text/html"].count("data:image/png;base64,") == 2


@needs_dot
def test_nbconvert_without_widget_state_shows_the_static_views(executed):
    """What nbviewer and GitHub do with a notebook saved without widget state: the static view."""
    import copy
    nbconvert = pytest.importorskip("nbconvert")
    nb = copy.deepcopy(executed)
    nb.metadata.pop("widgets", None)
    page, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert page.count("tcnb-static ") == 3
    assert "estimated cost at m=2000, n=1000" in page and "step 2 of" in page
    assert "GraphExplorer(children" not in page and "VBox(children" not in page


# ====================================================================================== contrast
# Text colour is the element's own or inherited; the background its own or an ancestor's, else the
# page's. Colours with alpha are composited over what is behind them, as the browser does.

MIN_CONTRAST = 4.5
_NAMED = {"white": (255, 255, 255, 1.0), "black": (0, 0, 0, 1.0), "transparent": (0, 0, 0, 0.0)}


def _theme_vars(name: str) -> dict:
    jupyterlab = pytest.importorskip("jupyterlab")
    css = (Path(jupyterlab.__file__).parent / "themes" / "@jupyterlab" / f"theme-{name}-extension"
           / "index.css")
    if not css.exists():
        pytest.skip(f"JupyterLab's {name} theme CSS not found at {css}")
    return dict(re.findall(r"(--[\w-]+)\s*:\s*([^;}]+)", css.read_text()))


def resolve(value: str, variables: dict, depth: int = 0) -> str:
    """``var(--x, fallback)`` replaced by the variable's value (or the fallback), recursively."""
    assert depth < 20, value
    m = re.search(r"var\(\s*(--[\w-]+)\s*(?:,\s*((?:[^()]|\([^()]*\))*))?\)", value)
    if not m:
        return value.strip()
    name, fallback = m.group(1), m.group(2)
    inner = variables.get(name, fallback)
    assert inner is not None, f"{name} undefined and no fallback in {value!r}"
    return resolve(value[:m.start()] + inner + value[m.end():], variables, depth + 1)


def rgba(value: str) -> tuple:
    value = value.strip().lower()
    if value in _NAMED:
        return _NAMED[value]
    if value.startswith("#"):
        h = value[1:]
        h = "".join(c * 2 for c in h) if len(h) in (3, 4) else h
        parts = [int(h[i:i + 2], 16) for i in range(0, len(h), 2)]
        return (*parts[:3], parts[3] / 255 if len(parts) == 4 else 1.0)
    m = re.fullmatch(r"rgba?\(([^)]*)\)", value)
    assert m, f"cannot read the colour {value!r}"
    nums = [float(x) for x in re.split(r"[\s,/]+", m.group(1).strip()) if x]
    return (*nums[:3], nums[3] if len(nums) == 4 else 1.0)


def over(top: tuple, bottom: tuple) -> tuple:
    a = top[3]
    return tuple(a * t + (1 - a) * b for t, b in zip(top[:3], bottom[:3])) + (1.0,)


def luminance(c: tuple) -> float:
    def lin(v):
        v /= 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (lin(v) for v in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: tuple, bg: tuple) -> float:
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


class _TextColours(HTMLParser):
    """(text, colour declaration, background declarations outermost first) of every text run;
    SVG subtrees are skipped (Graphviz draws its own white background under black text)."""

    VOID = {"br", "img", "hr", "input", "meta", "link", "col", "area", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.runs, self.svg = [], [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self.svg += 1
        if tag in self.VOID:
            return
        style = dict(attrs).get("style") or ""
        decl = dict((k.strip().lower(), v.strip()) for k, _, v in
                    (d.partition(":") for d in style.split(";") if ":" in d))
        self.stack.append((tag, decl.get("color"), decl.get("background") or decl.get("background-color")))

    def handle_endtag(self, tag):
        if tag == "svg":
            self.svg -= 1
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        text = data.strip()
        if not text or self.svg or not text.strip("■□ "):     # colour swatches are graphics, not text
            return
        colour = next((c for _, c, _ in reversed(self.stack) if c), None)
        backgrounds = [b for _, _, b in self.stack if b]
        self.runs.append((text, colour, backgrounds))


THEMES = {  # name -> (variables, page background, inherited text colour)
    "light": lambda: (_theme_vars("light"), "var(--jp-layout-color0)", "var(--jp-content-font-color1)"),
    "dark": lambda: (_theme_vars("dark"), "var(--jp-layout-color0)", "var(--jp-content-font-color1)"),
    "no theme": lambda: ({}, "#fff", "#000"),
}


def low_contrast(markup: str, theme: str) -> list:
    variables, page, text = THEMES[theme]()
    parser = _TextColours()
    parser.feed(markup)
    bad = []
    for run, colour, backgrounds in parser.runs:
        bg = rgba(resolve(page, variables))
        for b in backgrounds:
            bg = over(rgba(resolve(b, variables)), bg)
        fg = over(rgba(resolve(colour or text, variables)), bg)
        ratio = contrast(fg, bg)
        if ratio < MIN_CONTRAST:
            bad.append(f"{run[:40]!r}: {ratio:.2f} ({colour or 'inherited'} on {backgrounds or 'page'})")
    return bad


def _markup(w) -> str:
    """The HTML of the widget's parts and of its static view."""
    parts = [c.value for c in _html_children(w)]
    return "".join(parts) + (w._repr_mimebundle_() or {}).get("text/html", "")


def _html_children(w):
    import ipywidgets as W
    for c in getattr(w, "children", ()):
        if isinstance(c, (W.HTML, W.HTMLMath)):
            yield c
        yield from _html_children(c)


def test_contrast_checker_sees_the_old_bugs():
    """The check itself: the old highlighted row (pale yellow, text colour inherited) and the old
    rule line (#555) fail in the dark theme and pass without a theme."""
    old_row = "<table><tr style='background:#fff3b0;font-weight:bold'><td>forward</td></tr></table>"
    old_rule = "<div style='font-size:85%;color:#555'>rule: C = A + B</div>"
    for markup in (old_row, old_rule):
        assert low_contrast(markup, "dark") and not low_contrast(markup, "no theme")


@pytest.mark.parametrize("theme", list(THEMES))
def test_explorer_text_is_readable(widgets, theme):
    ex = widgets["explorer"]
    assert low_contrast(_markup(ex), theme) == []
    assert "tcnb-current" in ex.table.value                             # the highlighted row was checked


@pytest.mark.parametrize("theme", list(THEMES))
def test_stepper_text_is_readable(widgets, theme):
    s = widgets["stepper"]
    s.slider.value = 2
    try:
        assert low_contrast(_markup(s), theme) == []
        assert "rule:" in s.formula.value                                # the theorem line was checked
    finally:
        s.slider.value = 1


@pytest.mark.parametrize("theme", list(THEMES))
def test_hessian_explorer_text_is_readable(widgets, theme):
    assert low_contrast(_markup(widgets["hessian"]), theme) == []


def test_widget_colours_follow_the_theme():
    """No fixed text or background colour in the widgets' HTML outside var(--jp-…, fallback), apart
    from the heatmap's colour swatches (the colours of the image itself)."""
    src = "".join(f.read_text() for f in sorted((ROOT / "tcnb" / "widgets").glob("*.py")))  # every widget module
    fixed = re.findall(r"(?<![-\w])(?:color|background(?:-color)?)\s*:\s*(#[0-9a-fA-F]{3,8}|rgba?\()", src)
    swatches = re.findall(r"color:(#[0-9a-fA-F]{6})'>■", src)
    assert len(fixed) == len(swatches) == 2, fixed


# ====================================================================================== notebook 02
# Its prose states what the outputs show; these checks run the cells the prose talks about.

NB02 = ROOT / "notebooks" / "02-forward-reverse-cross-country.ipynb"


def _nb02():
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(NB02, as_version=4).cells


def test_notebook_02_matrix_forms_match_its_text(capsys):
    cells = _nb02()
    k = next(i for i, c in enumerate(cells) if c.cell_type == "code" and "H.matrix()" in c.source)
    ns: dict = {}
    exec(cells[1].source, ns)                      # imports
    exec(cells[k].source, ns)                      # prints every mode's gradient and Hessian
    out = capsys.readouterr().out
    assert "None" not in out, out
    f, w = ns["f"], ns["w"]
    text = cells[k + 1].source
    for mode in ("forward", "reverse", "cross-country"):
        form = tcnb.hessian(f, w, mode=mode).matrix()
        assert (form or "(no matrix form)") in out
        says_none = f"{mode.capitalize()} mode's Hessian has **no matrix form**" in text
        assert says_none == (form is None), (mode, form)


def test_notebook_02_forward_mode_flops_factor_matches_its_text():
    cells = _nb02()
    text = next(c.source for c in cells if c.cell_type == "markdown" and "times the FLOPs" in c.source)
    claimed = float(re.search(r"about (\d+) times the FLOPs", text).group(1))
    p = tcnb.parse("X: R[m, n]\ny: R[m]\nw: R[n]\nf = sum(log(1 + exp(-y * (X @ w))))")
    sizes = {"m": 2000, "n": 1000}
    flops = {mode: tcnb.grad(p["f"], p["w"], mode=mode, compress=False).stats(**sizes)["flops"]
             for mode in ("forward", "reverse")}
    assert claimed == pytest.approx(flops["forward"] / flops["reverse"], rel=0.1)
