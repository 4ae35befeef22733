"""The package builds (``python -m build``: sdist, then a wheel from the sdist), and the wheel alone
installs and imports: tcnb comes from the wheel, its dependencies from the test environment.

The build runs on a copy of the files a release is made from, so it leaves nothing (build/,
*.egg-info) in the checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("build")
pytest.importorskip("setuptools")

CHECK = """
import importlib.metadata as md, json, os, tcnb, tcnb.bench, tcnb.notebook
prog = tcnb.parse("X: R[m, n]\\ny: R[m]\\nw: R[n]\\nf = sum(log(1 + exp(-y * (X @ w))))")
H = tcnb.hessian(prog["f"], prog["w"])
import numpy as np
value = H.evaluate(X=np.eye(3, 2), y=np.ones(3), w=np.zeros(2)).tolist()
print(json.dumps({"file": tcnb.__file__, "version": tcnb.__version__, "dist": md.version("tcnb"),
                  "typed": os.path.exists(os.path.join(os.path.dirname(tcnb.__file__), "py.typed")),
                  "H": value}))
"""


def _run(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "tcnb", src / "tcnb", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(src)])
    wheels = list((tmp / "dist").glob("*.whl"))
    sdists = list((tmp / "dist").glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    return tmp, wheels[0], sdists[0]


def _version():
    import tcnb
    return tcnb.__version__


def test_version_is_written_once():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'version = {attr = "tcnb.__version__"}' in text
    assert "\nversion = " not in text.split("[project]", 1)[1].split("\n[", 1)[0]


def test_sdist_and_wheel_hold_the_package_license_and_marker(dist):
    _, wheel, sdist = dist
    assert wheel.name == f"tcnb-{_version()}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "tcnb/py.typed" in names and "tcnb/bench/compare.py" in names and "tcnb/widgets/stepper.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    meta = zipfile.ZipFile(wheel).read(f"tcnb-{_version()}.dist-info/METADATA").decode()
    assert "License-Expression: MIT" in meta and f"Version: {_version()}" in meta
    members = tarfile.open(sdist).getnames()
    top = f"tcnb-{_version()}"
    for name in ("LICENSE", "README.md", "pyproject.toml", "tcnb/py.typed", "tcnb/__init__.py"):
        assert f"{top}/{name}" in members


def test_wheel_installs_and_imports_on_its_own(dist):
    tmp, wheel, _ = dist
    target = tmp / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
          "--target", str(target), str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(target)
    out = _run([sys.executable, "-c", CHECK], env=env, cwd=str(tmp))  # not the checkout's directory
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).resolve().is_relative_to(target.resolve()), got["file"]
    assert got["typed"] and got["version"] == got["dist"] == _version()
    assert got["H"][0] == pytest.approx([0.25, 0.0]) and got["H"][1] == pytest.approx([0.0, 0.25])
