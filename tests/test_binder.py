"""Binder: an environment built the way repo2docker builds it runs every notebook.

repo2docker (mybinder.org) reads binder/: it apt-installs binder/apt.txt, creates a Python of
binder/runtime.txt's version, runs ``pip install -r binder/requirements.txt`` from the repository root,
then binder/postBuild if there is one. This test does the Python part in a fresh virtual environment
under a temporary directory — no system site-packages, only pip's download cache is shared — and
executes every notebook in notebooks/ with that environment's own Jupyter kernel.

It is slow (the first run downloads and installs JupyterLab, JAX, PyTorch …) and skips itself only
when no package index can be reached. The apt part is checked as far as it can be here: apt.txt must
name graphviz, and the notebooks use the machine's ``dot``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NETWORK_ERRORS = ("NewConnectionError", "Temporary failure in name resolution", "Name or service not known",
                  "Network is unreachable", "ConnectTimeout", "Failed to establish a new connection",
                  "No matching distribution found", "Could not find a version that satisfies")

RUNNER = textwrap.dedent('''
    """Run in the Binder venv: execute each notebook with this environment's python3 kernel."""
    import json, sys, time
    import nbclient, nbformat

    report = []
    for path in sys.argv[1:]:
        nb = nbformat.read(path, as_version=4)
        probe = nbformat.v4.new_code_cell("import sys, tcnb; print(sys.executable); print(tcnb.__file__)")
        nb.cells.insert(0, probe)
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(__import__("pathlib").Path(path).parent)}})
        start = time.time()
        error = None
        try:
            client.execute()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            error = f"{type(exc).__name__}: {exc}"[-4000:]
        lines = "".join(o.get("text", "") for o in nb.cells[0].get("outputs", [])).split()
        report.append({"path": path, "seconds": time.time() - start, "error": error,
                       "kernel_python": lines[0] if lines else None, "tcnb": lines[1] if len(lines) > 1 else None})
    print(json.dumps(report))
''')


def _clean_env(venv: Path, tmp: Path) -> dict:
    """The environment of a fresh shell in the venv: nothing of this test run's Python leaks in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "MPLBACKEND", "PYTHONSTARTUP")
           and not k.startswith(("JUPYTER", "IPYTHON", "PYTEST"))}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_PREFER_ENV_PATH"] = "1"          # the venv's kernelspec, not a user-level one
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "jupyter-config")
    env["IPYTHONDIR"] = str(tmp / "ipython")
    env["MPLCONFIGDIR"] = str(tmp / "mpl")
    return env


def _run(cmd, env, timeout, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_binder_files_are_what_repo2docker_needs():
    req = (BINDER / "requirements.txt").read_text()
    lines = [l.split("#", 1)[0].strip() for l in req.splitlines()]
    assert any(l.startswith(("-e .", ".")) and "notebook" in l for l in lines), \
        "binder/requirements.txt must install this repository with its [notebook] extra"
    assert "graphviz" in (BINDER / "apt.txt").read_text().split(), "the notebooks draw graphs with Graphviz's dot"
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert runtime.startswith("python-3."), runtime
    post = BINDER / "postBuild"
    assert not post.exists() or os.access(post, os.X_OK), "repo2docker runs postBuild only when it is executable"


def test_notebooks_run_in_a_fresh_binder_environment(tmp_path):
    if not NOTEBOOKS:
        pytest.skip("no notebooks")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here (binder/apt.txt installs it on Binder)")
    runtime = (BINDER / "runtime.txt").read_text().strip().removeprefix("python-")
    if not f"{sys.version_info.major}.{sys.version_info.minor}".startswith(runtime):
        print(f"note: binder/runtime.txt asks for Python {runtime}; testing with {sys.version.split()[0]}",
              file=sys.stderr)
    venv = tmp_path / "binder-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = _clean_env(venv, tmp_path)

    probe = _run([py, "-m", "pip", "download", "--no-deps", "--dest", tmp_path / "probe", "opt_einsum"], env, 300)
    if probe.returncode != 0:
        pytest.skip(f"no package index reachable (pip download failed: {probe.stderr.strip()[-300:]})")

    # as repo2docker does: from the repository root. --retries 0 only keeps an unreachable extra index
    # (such as PyTorch's on an offline CI machine) from being retried for every package.
    install = _run([py, "-m", "pip", "install", "--retries", "0", "-r", BINDER / "requirements.txt"], env, 3600)
    if install.returncode != 0:
        out = install.stdout[-3000:] + install.stderr[-6000:]
        if any(e in out for e in NETWORK_ERRORS) and "ResolutionImpossible" not in out:
            pytest.skip(f"a package could not be downloaded (network): {out[-600:]}")
        pytest.fail(f"pip install -r binder/requirements.txt failed:\n{out}")
    post = BINDER / "postBuild"
    if post.exists():
        done = _run([post], env, 1800)
        assert done.returncode == 0, f"binder/postBuild failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"

    check = _run([py, "-m", "pip", "check"], env, 300)
    assert check.returncode == 0, f"broken dependencies in the Binder environment:\n{check.stdout}{check.stderr}"

    runner = tmp_path / "run_notebooks.py"
    runner.write_text(RUNNER)
    done = _run([py, runner, *NOTEBOOKS], env, 600 * len(NOTEBOOKS), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for r in report:
        name = Path(r["path"]).name
        print(f"{name}: {r['seconds']:.0f} s in the Binder environment", file=sys.stderr)
        assert r["error"] is None, f"{name} failed in the Binder environment:\n{r['error']}"
        assert r["kernel_python"] and Path(r["kernel_python"]).is_relative_to(venv), \
            f"{name} ran on {r['kernel_python']}, not the Binder venv's python"
        assert r["tcnb"] and Path(r["tcnb"]).is_relative_to(ROOT), r["tcnb"]
