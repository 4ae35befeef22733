"""The command line (python -m tcnb): bad input of every kind is a short message on stderr and exit
status 2, never a Python traceback; the order is bounded."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tcnb import __main__ as cli
from tcnb import api

ROOT = Path(__file__).resolve().parent.parent
LOGREG = ROOT / "examples" / "logreg.tensor"


def run_main(capsys, *argv):
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def assert_short(err: str, *fragments):
    assert err.startswith("tcnb: "), err
    assert "Traceback" not in err and 'File "' not in err, err
    assert len(err.strip().splitlines()) <= 3, err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in {err!r}"


@pytest.fixture
def files(tmp_path):
    made = {
        "binary": b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe",
        "nul": b"w: R[n]\nf = sum(w)\x00\n",
        "latin1": "w: R[n]\nf = sum(w) * 2  # caf\xe9\n".encode("latin-1"),
        "syntax": b"w: R[n]\nf = sum(w) +\n",
        "shape": b"A: R[m, n]\nb: R[m]\nf = sum(A @ b)\n",
        "bom": b"\xef\xbb\xbfw: R[n]\nf = sum(w * w)\n",
    }
    paths = {}
    for name, data in made.items():
        paths[name] = tmp_path / f"{name}.tensor"
        paths[name].write_bytes(data)
    paths["missing"] = tmp_path / "missing.tensor"
    paths["directory"] = tmp_path
    return paths


@pytest.mark.parametrize("kind,fragments", [
    ("binary", ["binary file", "not a tensor program"]),
    ("nul", ["binary file"]),
    ("latin1", ["not UTF-8", "byte 0xe9 on line 2"]),
    ("missing", ["cannot read", "No such file"]),
    ("directory", ["cannot read", "directory"]),
    ("syntax", ["TensorSyntaxError", "line 2", "^"]),
    ("shape", ["ShapeError", "line 3"]),
])
@pytest.mark.parametrize("command", ["derive", "show"])
def test_bad_files_are_short_messages_with_status_2(capsys, files, kind, fragments, command):
    extra = ["--of", "f", "--wrt", "w"] if command == "derive" else []
    rc, out, err = run_main(capsys, command, str(files[kind]), *extra)
    assert rc == 2 and out == ""
    assert_short(err, *fragments)


def test_a_byte_order_mark_is_fine(capsys, files):
    rc, out, err = run_main(capsys, "derive", str(files["bom"]), "--of", "f", "--wrt", "w")
    assert rc == 0 and err == "" and "w" in out


def test_undecodable_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"w: R[n]\nf = sum(w) \xff\n")))
    rc, _, err = run_main(capsys, "derive", "-", "--of", "f", "--wrt", "w")
    assert rc == 2
    assert_short(err, "standard input is not UTF-8", "line 2")


def test_standard_input(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(LOGREG.read_bytes())))
    rc, out, _ = run_main(capsys, "derive", "-", "--of", "f", "--wrt", "w", "--order", "2")
    assert rc == 0 and out.strip()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("order", ["100000", str(api.MAX_ORDER + 1)])
def test_order_is_bounded(capsys, order):
    rc, out, err = run_main(capsys, "derive", str(LOGREG), "--of", "f", "--wrt", "w", "--order", order)
    assert rc == 2 and out == ""
    assert_short(err, "DerivativeError", f"order {order} is too high", f"up to {api.MAX_ORDER}")


@pytest.mark.parametrize("argv,fragments", [
    (["--order", "-1"], ["order must be a non-negative integer"]),
    (["--sizes", "n=ten"], ["--sizes expects name=int pairs"]),
    (["--sizes", "=3"], ["--sizes expects name=int pairs"]),
])
def test_bad_options_are_short_messages(capsys, argv, fragments):
    rc, _, err = run_main(capsys, "derive", str(LOGREG), "--of", "f", "--wrt", "w", *argv)
    assert rc == 2
    assert_short(err, *fragments)


@pytest.mark.parametrize("of,wrt,fragment", [("nope", "w", "no expression named 'nope'"),
                                             ("f", "f", "'f' is not a declared variable")])
def test_unknown_names_exit_2(capsys, of, wrt, fragment):
    rc, _, err = run_main(capsys, "derive", str(LOGREG), "--of", of, "--wrt", wrt)
    assert rc == 2
    assert_short(err, fragment)


def test_the_help_names_the_maximum_order(capsys):
    with pytest.raises(SystemExit):
        cli.main(["derive", "--help"])
    assert f"at most {api.MAX_ORDER}" in capsys.readouterr().out


def test_the_installed_entry_point_in_a_real_process(files):
    """python -m tcnb itself: status 2 and a one-line message for a binary file."""
    proc = subprocess.run([sys.executable, "-m", "tcnb", "derive", str(files["binary"]), "--of", "f", "--wrt", "w"],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert_short(proc.stderr, "binary file")


def test_format_numpy_prints_a_module_that_runs_without_tcnb(capsys, tmp_path):
    import numpy as np

    import tcnb
    rc, out, err = run_main(capsys, "derive", str(LOGREG), "--of", "f", "--wrt", "w", "--order", "2",
                            "--format", "numpy", "--sizes", "m=50,n=10")
    assert rc == 0, err
    assert "standalone" in out and "import tcnb" not in out
    module = tmp_path / "hess.py"
    module.write_text(out)
    prog = tcnb.parse(LOGREG.read_text())
    H = tcnb.hessian(prog["f"], prog["w"])
    rng = np.random.default_rng(0)
    X, y, w = rng.normal(size=(7, 3)), rng.normal(size=7), rng.normal(size=3)  # not the planning sizes
    np.save(tmp_path / "X.npy", X), np.save(tmp_path / "y.npy", y), np.save(tmp_path / "w.npy", w)
    script = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import numpy as np, hess\n"
              "try:\n    import tcnb\nexcept ImportError:\n    pass\nelse:\n    raise SystemExit('tcnb importable')\n"
              "fn = [getattr(hess, name) for name in hess.__all__]\n"
              f"a = {{k: np.load({str(tmp_path)!r} + f'/{{k}}.npy') for k in 'Xyw'}}\n"
              "np.save(" + repr(str(tmp_path / "H.npy")) + ", fn[0](**a))\n")
    numpy_dir = str(Path(np.__file__).parent.parent)
    env = {"PYTHONPATH": ""}
    subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path.append({numpy_dir!r})\n" + script],
                   check=True, env=env, cwd=tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "H.npy"), H.evaluate(X=X, y=y, w=w), rtol=1e-12)
