"""The documentation site builds (Sphinx + MyST-NB, as ``make docs`` does), its pages and API
reference exist, no reference in it is broken, and the language reference lists every function.

The build here does not execute the notebooks (test_notebooks.py runs them; ``make docs`` executes
01, 02 and 05 into the site, and CI runs it after the tests).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

# Sphinx warnings that mean a broken site, not a formatting nit in a docstring
BROKEN = ("undefined label", "unknown document", "reference target not found", "nonexisting document",
          "failed to import", "autodoc: failed", "Execution Failed", "image file not readable",
          "Unknown directive", "Unknown interpreted text role", "toctree", "tcnb-functions",
          "Exception occurred", "could not import", "No module named")


def test_literal_blocks_keep_plain_docstrings_as_written():
    from tcnb_docstrings import literal_blocks
    lines = ["Summary.", "", "    res = compare(f)", "    res.plot()", "", "More prose.",
             "    indented under prose", "expr   a column", "       continued"]
    out = literal_blocks(lines)
    assert out[:6] == ["Summary.", "", "::", "", "        res = compare(f)", "        res.plot()"]
    # a ragged paragraph (an aligned table of options) is one literal block, its layout kept
    assert out[6:] == ["", "::", "", "    More prose.", "        indented under prose", "    expr   a column",
                       "           continued"]
    assert literal_blocks(["Prose:", "    code()"]) == ["Prose:", "", "::", "", "        code()"]
    rst = ["Title line.", "", ".. code-block:: python", "", "    x = 1", "", "Example::", "", "    y = 2",
           "", ">>> 1 + 1", "2"]
    assert literal_blocks(rst) == rst  # valid reStructuredText is left alone


def test_function_tables_cover_every_function_with_a_rule():
    import tcnb_reference as ref
    from tcnb.functions import ELEMENTWISE, GENERAL
    text = "\n".join(ref.elementwise_rows() + ref.general_rows() + ref.builtin_rows())
    for name in list(ELEMENTWISE) + list(GENERAL) + ref.builtin_names():
        assert f"`{name}" in text, f"{name} is missing from the language reference"
    unwritten = [n for n in list(GENERAL) + ref.builtin_names()
                 if n not in ref.general_rules() and n not in ref.BUILTIN_RULES]
    assert not unwritten, f"write the derivative rule of {unwritten} in its record (doc) or docs/_ext/tcnb_reference.py"
    assert "\\operatorname{step}" in text  # relu' = step: derived, not typed in


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_docs_build_without_broken_references(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_nb")
    out, warn = tmp_path / "html", tmp_path / "warnings.txt"
    env = dict(os.environ, TCNB_DOCS_EXECUTE="off")
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-d", str(tmp_path / "doctrees"),
                          "-w", str(warn), str(DOCS), str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=850)
    assert run.returncode == 0, run.stderr[-4000:]
    warnings = warn.read_text().splitlines() if warn.exists() else []
    broken = [w for w in warnings if any(b.lower() in w.lower() for b in BROKEN)]
    assert not broken, "\n".join(broken)
    for page in ("index", "getting-started", "language", "derivatives", "benchmarks", "api", "notebooks",
                 "changelog", "notebooks/01-tour", "notebooks/04-benchmarks"):
        assert (out / f"{page}.html").exists(), page
    api = (out / "api.html").read_text()
    import tcnb
    import tcnb.bench
    import tcnb.widgets
    for mod in (tcnb, tcnb.widgets, tcnb.bench):
        for name in mod.__all__:
            obj = getattr(mod, name)
            qual = f"{mod.__name__}.{name}"
            assert f'id="{qual}"' in api or qual in api, f"{qual} is not in the API reference"
            if callable(obj) and getattr(obj, "__doc__", None):
                first = obj.__doc__.strip().splitlines()[0].strip()
                words = re.sub(r"[`*]", "", first).split()[:3]
                assert all(w.split("(")[0] in re.sub(r"<[^>]+>", "", api) for w in words if w.isalpha()), qual
    language = re.sub(r"<[^>]+>", " ", (out / "language.html").read_text())
    from tcnb.functions import ELEMENTWISE, GENERAL
    for name in list(ELEMENTWISE) + list(GENERAL):
        assert re.search(rf"\b{name}\b", language), name
