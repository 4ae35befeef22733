"""Colours and the static (widget-manager-free) view shared by the widgets.

Colours come from JupyterLab's theme (CSS variables ``--jp-*``), each paired with the foreground or
background of the same theme, so text stays readable in the light and the dark theme alike. The
fallbacks after the comma are for pages without those variables (a plain HTML page, GitHub); they
form a light pair of their own. Never set a background without the text colour that goes with it:
the inherited text colour is the theme's, and a light background under a dark theme's white text
is what made the highlighted row unreadable.
"""
from __future__ import annotations

import html
import re

import ipywidgets as W

MUTED = "var(--jp-content-font-color2, #555)"        # secondary text (rules, labels, captions)
ERROR = "var(--jp-error-color1, #b00020)"
CURRENT_ROW = ("background:var(--jp-layout-color3, #fff3b0);color:var(--jp-content-font-color0, #000);"
               "font-weight:bold")
CURRENT_MARK = "border-left:4px solid var(--jp-brand-color1, #1976d2)"   # first cell of the current row
ROW_MARK = "border-left:4px solid transparent"                          # ... of the others (same width)

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_TAGS = re.compile(r"<[^>]+>")


def plain(markup: str) -> str:
    """The text of a bit of HTML (tags dropped, entities decoded), on one line."""
    return " ".join(html.unescape(_TAGS.sub(" ", markup)).split())


def bundle(widget, kwargs: dict, kind: str, static_html: str, text: str) -> dict:
    """ipywidgets' mimebundle (the widget view) plus a static view of the widget's current state:
    ``text/html`` for GitHub, nbviewer, nbconvert and VS Code without a widget manager, and a
    ``text/plain`` that says what is shown instead of ``VBox(children=...)``. Front ends with a
    widget manager rank the widget view first and never show the static one."""
    data = W.Widget._repr_mimebundle_(widget, **kwargs) or {}
    if isinstance(data, tuple):                 # (data, metadata) is allowed by IPython
        data = data[0]
    data = dict(data)
    data["text/html"] = f"<div class='tcnb-static tcnb-static-{kind}'>{static_html}</div>"
    data["text/plain"] = text
    return data
