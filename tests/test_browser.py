"""End to end in a real browser: JupyterLab on localhost (with a token), the tour notebook opened and
run in headless Chromium (Selenium + chromedriver), the graph explorer widget seen to render an SVG
with the expected node labels, and to change when its buttons are clicked.

A screenshot is saved under build/screenshots/. The test skips itself only when Chromium or
chromedriver is missing (`make test` installs them as root: apt install chromium chromium-driver).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "notebooks" / "01-tour.ipynb"
SHOTS = ROOT / "build" / "screenshots"

pytestmark = pytest.mark.browser

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless browser test needs Chromium and chromedriver "
                "(apt install chromium chromium-driver)", allow_module_level=True)

from selenium import webdriver  # noqa: E402  (a declared test dependency: fail loudly if missing)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - keep polling; report the last problem
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a scratch copy of the tour (autosave must not
    write outputs into the repository's notebook)."""
    work = tmp_path_factory.mktemp("lab")
    home = work / "home"
    for d in ("config", "data", "runtime", "ipython", "workspaces"):
        (home / d).mkdir(parents=True)
    shutil.copy(TOUR, work / TOUR.name)
    (home / "config" / "labconfig").mkdir()
    (home / "config" / "labconfig" / "page_config.json").write_text(  # no "Jupyter news?" pop-up
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               JUPYTER_PREFER_ENV_PATH="1", JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
               MPLBACKEND="Agg")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}",
           f"--LabApp.workspaces_dir={home / 'workspaces'}", "--LabApp.expose_app_in_browser=True",
           "--ServerApp.disable_check_xsrf=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(work / "lab.log", "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def up():
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {(work / 'lab.log').read_text()[-2000:]}")
        with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
            return r.status == 200

    try:
        _wait(up, 120, "JupyterLab to start")
        yield dict(base=base, token=token, work=work, log=work / "lab.log")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1600,1300", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


JS_LABELS = """
const box = document.querySelector('.tcnb-graph-explorer .tcnb-graph-explorer-svg');
if (!box) return null;
const svg = box.querySelector('svg');
if (!svg) return null;
return Array.from(svg.querySelectorAll('text')).map(t => t.textContent);
"""

JS_PROMPTS = """
return Array.from(document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt'))
            .map(p => p.textContent.trim());
"""


def _click_toggle(driver, label: str):
    buttons = driver.find_elements(By.CSS_SELECTOR, ".tcnb-graph-explorer .widget-toggle-buttons button")
    matches = [b for b in buttons if b.text.strip() == label]
    assert matches, f"no '{label}' button among {[b.text for b in buttons]}"
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", matches[0])
    matches[0].click()


def _open_and_run_all(d, lab, name: str):
    """Open notebook ``name`` (in the server's root) in JupyterLab and run every cell."""
    d.get(f"{lab['base']}/lab/tree/{name}?token={lab['token']}&reset")
    _wait(lambda: d.execute_script("return !!(window.jupyterapp && document.querySelector('.jp-NotebookPanel'))"),
          120, "the notebook to open")

    def kernel_idle():
        return d.execute_script("""
            const w = window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k ? k.status : null;""") == "idle"

    _wait(kernel_idle, 120, "the kernel to start")
    d.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")

    def all_ran():
        prompts = d.execute_script(JS_PROMPTS)
        return prompts and all(p.startswith("[") and p[1:-2].strip().isdigit() for p in prompts) and kernel_idle()

    _wait(all_ran, 300, "every cell to run", interval=1.0)


def test_tour_runs_in_jupyterlab_and_graph_widget_renders(lab, browser):
    d = browser
    _open_and_run_all(d, lab, TOUR.name)
    # outputs render a little after the kernel goes idle (later still on a loaded machine): wait for them
    page = _wait(lambda: (lambda t: t if "namespace unchanged" in t and "all modes agree" in t else None)(
        d.find_element(By.CSS_SELECTOR, ".jp-Notebook").text), 60, "the checks' printed lines")
    assert "Traceback" not in page, "a cell raised"

    # formulas typeset by MathJax, program DAG drawn as SVG
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".tcnb-latex mjx-container"), 60, "MathJax output")
    assert d.find_elements(By.CSS_SELECTOR, ".tcnb-program .tcnb-graph svg")

    # the graph explorer: the compressed cross-country Hessian, labels in Einstein notation
    labels = _wait(lambda: d.execute_script(JS_LABELS), 60, "the graph explorer's SVG")
    assert {"X", "y", "w"} <= set(labels)
    assert "*(ki,kj,k,k,k->ij)" in labels, labels
    assert "ki" in labels and "kj" in labels            # edge labels: index sets of the operands
    assert not any(t.startswith("δ") for t in labels)   # compressed: no unit tensor
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget = d.find_element(By.CSS_SELECTOR, ".tcnb-graph-explorer")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'});", widget)
    time.sleep(0.5)
    widget.screenshot(str(SHOTS / "graph-explorer-hessian.png"))

    # toggling: the expression DAG, then the uncompressed derivative with its dense unit tensor
    _click_toggle(d, "expression")
    expr_labels = _wait(lambda: (l := d.execute_script(JS_LABELS)) and any("softplus" in x for x in l) and l, 60,
                        "the expression DAG after clicking 'expression'")
    assert expr_labels != labels and "f =" in expr_labels and "*(ij,j->i)" in expr_labels
    _click_toggle(d, "derivative")
    _click_toggle(d, "uncompressed")
    dense_labels = _wait(lambda: (l := d.execute_script(JS_LABELS)) and "δ dense" in l and l, 60,
                         "the uncompressed DAG after clicking 'uncompressed'")
    assert dense_labels != labels
    caption = d.find_element(By.CSS_SELECTOR, ".tcnb-graph-explorer").text
    assert "cross-country mode, uncompressed" in caption
    time.sleep(0.5)
    widget.screenshot(str(SHOTS / "graph-explorer-uncompressed.png"))
    d.save_screenshot(str(SHOTS / "tour-lab.png"))

    # the step-through renders its highlighted DAG and typeset formula
    stepper = d.find_element(By.CSS_SELECTOR, ".tcnb-stepper")
    assert stepper.find_elements(By.CSS_SELECTOR, ".tcnb-stepper-svg svg")
    d.execute_script("arguments[0].scrollIntoView({block: 'start'});", stepper)
    _wait(lambda: stepper.find_elements(By.CSS_SELECTOR, "mjx-container"), 60, "the stepper's formula")
    time.sleep(0.5)
    stepper.screenshot(str(SHOTS / "stepper.png"))
    derived = d.find_elements(By.CSS_SELECTOR, ".tcnb-expr")[1]        # H from %%derive --show latex,graph
    d.execute_script("arguments[0].scrollIntoView({block: 'start'});", derived)
    time.sleep(0.5)
    derived.screenshot(str(SHOTS / "derive-hessian.png"))
    for name in ("graph-explorer-hessian.png", "graph-explorer-uncompressed.png", "tour-lab.png",
                 "stepper.png", "derive-hessian.png"):
        assert (SHOTS / name).stat().st_size > 5000


# ------------------------------------------------------------------------------------ themes
# The widgets in JupyterLab's light and dark theme: the colours the browser computes (from the
# theme's --jp-* variables) must give text a WCAG contrast ratio of at least 4.5 against what is
# behind it (backgrounds composited from the page down, alpha included).

WIDGETS_NB = "widgets-themes.ipynb"
WIDGET_CELLS = [
    "import tcnb\nfrom tcnb.widgets import GraphExplorer, Stepper, HessianExplorer\n"
    "prog = tcnb.parse('X: R[m, n]\\ny: R[m]\\nw: R[n]\\nz = X @ w\\nf = sum(log(1 + exp(-y * z)))')",
    "GraphExplorer(prog['f'], prog['w'], order=2, sizes={'m': 2000, 'n': 1000})",
    "stepper = Stepper(prog['f'], prog['w'], mode='reverse')\nstepper.slider.value = 5\nstepper",
    "HessianExplorer.from_function(prog['f'], prog['w'], sizes={'m': 40, 'n': 6})",
    "HessianExplorer.from_function(prog['f'], prog['w'], sizes={'m': 40, 'n': 80}, max_dense=50)",  # matrix-free
]
SHOT_DIR = Path(os.environ.get("TCNB_SHOTS") or SHOTS)

JS_CONTRAST = """
const parse = c => { const m = c.match(/rgba?\\(([^)]*)\\)/); if (!m) return null;
  const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
const over = (t, b) => [0, 1, 2].map(i => t[3] * t[i] + (1 - t[3]) * b[i]).concat([1]);
const background = el => { const chain = []; for (let e = el; e; e = e.parentElement) chain.unshift(e);
  let bg = [255, 255, 255, 1];
  for (const e of chain) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) bg = over(c, bg); }
  return bg; };
const lum = c => { const f = v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const ratio = el => { const bg = background(el), fg = over(parse(getComputedStyle(el).color), bg);
  const a = lum(fg), b = lum(bg); return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
const texts = root => Array.from(root.querySelectorAll('*')).filter(e => !e.closest('svg') &&
  Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.replace(/[\\s■□]/g, '').length));
const report = (what, els) => els.map(e => ({what, text: e.textContent.trim().slice(0, 50), ratio: ratio(e),
  color: getComputedStyle(e).color, background: background(e).slice(0, 3).map(Math.round).join(',')}));
const rows = Array.from(document.querySelectorAll('.tcnb-graph-explorer tr.tcnb-current td'));
const rules = Array.from(document.querySelectorAll('.tcnb-stepper .tcnb-stepper-rule'));
const all = [];
for (const sel of ['.tcnb-graph-explorer .widget-html', '.tcnb-stepper .widget-html',
                   '.tcnb-stepper .widget-htmlmath', '.tcnb-hessian-explorer .widget-html'])
  for (const root of document.querySelectorAll(sel)) all.push(...report(sel, texts(root)));
return {theme: document.body.dataset.jpThemeName, rows: report('current row', rows),
        rules: report('theorem line', rules), all};
"""

JS_STEPPER = """
const s = document.querySelector('.tcnb-stepper');
const readout = s && s.querySelector('.widget-slider .widget-readout');
const title = s && Array.from(s.querySelectorAll('.widget-html')).map(e => e.textContent).find(t => /step \\d+ of/.test(t));
return readout && title ? [readout.textContent.trim(), title] : null;
"""


def _set_theme(d, name: str):
    d.execute_script("window.jupyterapp.commands.execute('apputils:change-theme', {theme: arguments[0]});", name)
    want = "#111" if "Dark" in name else "white"
    _wait(lambda: d.execute_script(
        "return document.body.dataset.jpThemeName === arguments[0] && "
        "getComputedStyle(document.body).getPropertyValue('--jp-layout-color0').trim() === arguments[1];",
        name, want), 60, f"the theme {name!r} to apply")
    time.sleep(1.0)                                   # let the restyled page settle before reading colours


def _shoot(d, selector: str, path: Path):
    el = d.find_element(By.CSS_SELECTOR, selector)
    d.execute_script("arguments[0].scrollIntoView({block: 'start'});", el)
    time.sleep(0.5)
    el.screenshot(str(path))
    assert path.stat().st_size > 5000, path


def test_widgets_are_readable_in_light_and_dark_theme(lab, browser):
    import nbformat
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in WIDGET_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab["work"] / WIDGETS_NB)
    d = browser
    _open_and_run_all(d, lab, WIDGETS_NB)
    assert "Traceback" not in d.find_element(By.CSS_SELECTOR, ".jp-Notebook").text, "a cell raised"
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".tcnb-graph-explorer tr.tcnb-current"), 60, "the cost table")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".tcnb-stepper .tcnb-stepper-rule mjx-container"), 60,
          "the stepper's typeset theorem line")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".tcnb-hessian-explorer img"), 60, "the Hessian explorer")
    _wait(lambda: d.find_elements(By.CSS_SELECTOR, ".tcnb-hessian-matrix-free img"), 60,
          "the matrix-free Hessian explorer")

    # the slider reads what the title says
    readout, title = _wait(lambda: d.execute_script(JS_STEPPER), 30, "the stepper's slider and title")
    assert readout == "5" and "step 5 of 6" in title, (readout, title)

    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    seen = {}
    try:
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            _set_theme(d, theme)
            got = d.execute_script(JS_CONTRAST)
            assert got["theme"] == theme
            assert got["rows"] and got["rules"], got            # the elements at issue are there ...
            assert len(got["all"]) > 20, got["all"]             # ... and so is the rest of the text
            bad = [r for r in got["rows"] + got["rules"] + got["all"] if r["ratio"] < 4.5]
            assert not bad, f"{theme}: text with contrast < 4.5: {bad}"
            seen[theme] = got
            tag = theme.split()[-1].lower()
            _shoot(d, ".tcnb-graph-explorer", SHOT_DIR / f"graph-explorer-{tag}.png")
            _shoot(d, ".tcnb-stepper", SHOT_DIR / f"stepper-{tag}.png")
            _shoot(d, ".tcnb-hessian-explorer", SHOT_DIR / f"hessian-explorer-{tag}.png")
            _shoot(d, ".tcnb-hessian-matrix-free", SHOT_DIR / f"hessian-explorer-matrix-free-{tag}.png")
    finally:
        _set_theme(d, "JupyterLab Light")
    # the colours do follow the theme: the current row is light in the light theme, dark in the dark one
    light = seen["JupyterLab Light"]["rows"][0]["background"]
    dark = seen["JupyterLab Dark"]["rows"][0]["background"]
    assert light != dark, (light, dark)
    print({t: (min(r["ratio"] for r in g["rows"]), min(r["ratio"] for r in g["rules"]),
               min(r["ratio"] for r in g["all"])) for t, g in seen.items()})
