"""Sphinx configuration of tcnb's documentation site (``make docs`` → build/docs/)."""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(HERE, "_ext")]
# The notebooks' kernels import this checkout's tcnb (installed or not), draw with the inline
# backend, and use the environment's own Jupyter kernel.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
os.environ["JUPYTER_PREFER_ENV_PATH"] = "1"
os.environ.pop("MPLBACKEND", None)

import tcnb  # noqa: E402

project = "tcnb"
author = "the tcnb authors"
copyright = "2026, the tcnb authors"
version = release = tcnb.__version__

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode", "tcnb_reference",
              "tcnb_docstrings"]
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/README*"]
suppress_warnings = ["myst.header"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Notebooks: 01, 02 and 05 are executed during the build (a few minutes on 2 cores); 03 (widgets
# whose interesting part is interactive) and 04 (benchmarks: slow, machine-dependent, and it needs
# the `bench` extra) are shown as written, without outputs.
nb_execution_mode = os.environ.get("TCNB_DOCS_EXECUTE", "cache")
nb_execution_cache_path = os.path.join(ROOT, "build", ".jupyter_cache")
nb_execution_excludepatterns = ["notebooks/03-*", "notebooks/04-*"]
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_merge_streams = True

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"

try:
    import furo  # noqa: F401
    html_theme = "furo"
except ImportError:  # the basic theme still builds a usable site
    html_theme = "alabaster"
html_title = f"tcnb {release}"
html_static_path = []
