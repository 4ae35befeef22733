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


# ------------------------------------------------------------------------------------ failing cells stop a run

FAILING = "%%tensor model\nX: R[m, n]\nw: R[n]\nz = X @ w\nf = sum(z) + q"


def _client(nb, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "1")
    return nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                   resources={"metadata": {"path": str(tmp_path)}})


def _assert_short(text: str):
    assert "undeclared name 'q'" in text and "f = sum(z) + q" in text and "^" in text, text
    assert "Traceback" not in text and "tcnb/notebook" not in text and "magics.py" not in text, text


def test_a_failing_tensor_cell_stops_execution(monkeypatch, tmp_path):
    """What Run All / nbconvert --execute / nbmake / papermill see: the failing cell ends the run."""
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_code_cell("%load_ext tcnb"), v4.new_code_cell(FAILING),
                                v4.new_code_cell("print('after the failure')")])
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        _client(nb, monkeypatch, tmp_path).execute()
    _assert_short(str(info.value))
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(errors) == 1
    _assert_short("\n".join(errors[0].traceback))
    assert len(errors[0].traceback) <= 4
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None  # never ran


def test_in_a_kernel_a_failed_cell_binds_nothing_and_derive_refuses(monkeypatch, tmp_path):
    v4 = nbformat.v4
    cells = [v4.new_code_cell("%load_ext tcnb"),
             v4.new_code_cell("%%tensor model --no-display\nw: R[n]\nf = sum(w * w)"),
             v4.new_code_cell("f, z = 'my f', 'my z'"),
             v4.new_code_cell(FAILING),
             v4.new_code_cell("assert (f, z) == ('my f', 'my z') and isinstance(model, __import__('tcnb').Program)\n"
                              "assert 'X' not in model"),
             v4.new_code_cell("%%derive\ng = grad(f, w)"),
             v4.new_code_cell(FAILING, metadata={"tags": ["raises-exception"]}),
             v4.new_code_cell("assert 'g' not in globals()")]
    nb = v4.new_notebook(cells=cells)
    client = _client(nb, monkeypatch, tmp_path)
    CellExecutionError = nbclient.exceptions.CellExecutionError
    with client.setup_kernel():
        for k in (0, 1, 2):
            client.execute_cell(nb.cells[k], k)
        with pytest.raises(CellExecutionError) as info:
            client.execute_cell(nb.cells[3], 3)
        _assert_short(str(info.value))
        client.execute_cell(nb.cells[4], 4)  # the user's f and z and the old program are untouched
        with pytest.raises(CellExecutionError, match="last %%tensor cell failed"):
            client.execute_cell(nb.cells[5], 5)
        client.execute_cell(nb.cells[6], 6)  # tagged raises-exception: the run goes on
        assert [o.output_type for o in nb.cells[6].outputs] == ["error"]
        client.execute_cell(nb.cells[7], 7)
