"""Every notebook in notebooks/ runs top to bottom with a real Jupyter kernel, and is kept in git
without outputs (the check `nbstripout --verify` makes, done here without the extra dependency)."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# seconds of cell execution (kernel start-up not counted) on 2 cores; other notebooks only have
# nbclient's per-cell timeout
BUDGET_S = {"01-tour.ipynb": 60}


def test_there_is_a_tour():
    assert ROOT / "notebooks" / "01-tour.ipynb" in NOTEBOOKS


def _stripped_problems(nb) -> list[str]:
    problems = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {k} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {k} has an execution count")
        if set(cell.get("metadata", {})) & {"execution", "collapsed", "scrolled"}:
            problems.append(f"cell {k} has run metadata {sorted(cell.metadata)}")
    if "widgets" in nb.metadata:
        problems.append("notebook metadata keeps widget state")
    return problems


def _git(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped(path):
    nb = nbformat.read(path, as_version=4)
    assert not _stripped_problems(nb), f"{path.name}: strip outputs (nbstripout) before committing"
    # the version git holds (index, else HEAD) must be stripped too, when the file is tracked
    rel = path.relative_to(ROOT).as_posix()
    if _git("rev-parse", "--is-inside-work-tree").returncode != 0:
        pytest.skip("not a git checkout")
    for rev in (f":{rel}", f"HEAD:{rel}"):
        blob = _git("show", rev)
        if blob.returncode == 0:
            tracked = nbformat.reads(blob.stdout, as_version=4)
            assert not _stripped_problems(tracked), f"{rel} in git ({rev}) has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, monkeypatch):
    # the kernel imports this checkout's tcnb, installed or not
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", record_timing=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    started = finished = None
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        _check_outputs(k, cell)
        timing = cell.metadata.get("execution", {})
        if "iopub.execute_input" in timing:
            t0 = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            started = started or t0
            finished = t1
    seconds = (finished - started).total_seconds()
    print(f"{path.name}: cells ran in {seconds:.1f} s", file=sys.stderr)
    budget = BUDGET_S.get(path.name)
    assert budget is None or seconds < budget, f"{path.name} took {seconds:.0f} s (budget {budget} s)"


def _check_outputs(k: int, cell) -> None:
    """No tracebacks; an error only in a cell tagged raises-exception (a deliberate mistake of the
    tour), and there it must be tcnb's short message, not a traceback from its insides."""
    errors = [out for out in cell.outputs if out.output_type == "error"]
    for out in cell.outputs:
        if out.output_type == "stream":
            assert "Traceback" not in out.text, f"cell {k} printed a traceback:\n{out.text}"
    if "raises-exception" not in cell.metadata.get("tags", []):
        assert not errors, f"cell {k}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        return
    assert len(errors) == 1, f"cell {k} is tagged raises-exception but did not fail"
    text = "\n".join(errors[0].traceback)
    assert "Traceback" not in text and 'File "' not in text and len(text.splitlines()) <= 4, text
