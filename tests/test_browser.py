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


def test_tour_runs_in_jupyterlab_and_graph_widget_renders(lab, browser):
    d = browser
    d.get(f"{lab['base']}/lab/tree/{TOUR.name}?token={lab['token']}&reset")
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
    page = d.find_element(By.CSS_SELECTOR, ".jp-Notebook").text
    assert "Traceback" not in page, "a cell raised"
    assert "namespace unchanged" in page and "all modes agree" in page

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
