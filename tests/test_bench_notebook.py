"""tcnb.bench's plots show as pictures in a real notebook (Jupyter kernel, matplotlib's inline backend),
each exactly once.

The notebook test (test_notebooks.py) runs on Agg, where no figure is ever a picture, so it could not
see that 04-benchmarks.ipynb showed its two charts as the text ``<Figure size 640x440 with 1 Axes>``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib_inline")

ROOT = Path(__file__).resolve().parent.parent

SETUP = """\
import tcnb, tcnb.bench
from tcnb.bench import paper
res = tcnb.bench.compare("x: R[n]\\nf = sum(tanh(x))", sizes={"n": [3, 5]}, backends=["numpy"],
                         baselines=[], target_s=0.005, progress=False)
"""
CELLS = {
    "value": "res.plot()",
    "named value": "fig = res.plot(title='t')\nfig",
    "not the value": "res.plot()\nprint('drawn')",
    "paper figure": "paper.figure({'a': res, 'b': res})",
    "explicit inline": "%matplotlib inline\nres.plot()",
}


@pytest.fixture(scope="module")
def executed():
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell(SETUP)] + [new_code_cell(src) for src in CELLS.values()])
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "JUPYTER_PREFER_ENV_PATH": "1"}
    saved = {k: os.environ.get(k) for k in [*env, "MPLBACKEND"]}
    os.environ.update(env)
    os.environ.pop("MPLBACKEND", None)  # the kernel's own default: matplotlib_inline's backend
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return dict(zip(CELLS, nb.cells[1:]))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("case", list(CELLS))
def test_plot_is_one_png(executed, case):
    outputs = executed[case].outputs
    assert not [o for o in outputs if o.output_type == "error"], outputs
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, f"{case}: {len(pngs)} pictures; outputs: {outputs}"
    assert not any("<Figure size" in o.get("data", {}).get("text/plain", "") and "image/png" not in o.get("data", {})
                   for o in outputs)
