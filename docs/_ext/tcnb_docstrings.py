"""Sphinx extension: tcnb's plain-text docstrings rendered as written.

tcnb's docstrings are plain text, not reStructuredText: code examples and aligned option tables are
indented blocks, often right under a line of prose. reStructuredText would reflow them into block
quotes or reject them ("Unexpected indentation"). This turns every such block into a literal block,
and leaves valid reStructuredText (directives, ``::`` blocks, doctests, field lists) alone.
"""
from __future__ import annotations


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _paragraphs(lines):
    """[(start, end)] of runs of non-blank lines."""
    out, start = [], None
    for k, line in enumerate(lines + [""]):
        if line.strip() and start is None:
            start = k
        elif not line.strip() and start is not None:
            out.append((start, k))
            start = None
    return out


def _is_rst_opener(line: str) -> bool:
    text = line.strip()
    return text.startswith(".. ") or text.endswith("::")


def literal_blocks(lines: list[str]) -> list[str]:
    """``lines`` with each indented or ragged paragraph made a literal block (see module doc)."""
    paras = _paragraphs(lines)
    if not paras:
        return lines
    base = min(_indent(lines[s]) for s, _ in paras)
    out: list[str] = []
    prev_end, prev_opener = 0, False
    for start, end in paras:
        out.extend(lines[prev_end:start])
        block = lines[start:end]
        indents = {_indent(line) for line in block}
        is_doctest = block[0].lstrip().startswith(">>>")
        literal = not prev_opener and not is_doctest and (min(indents) > base or len(indents) > 1)
        if literal and len(indents) > 1 and min(indents) == base and not _indent(block[0]) > base:
            # prose, then an indented block under it without a blank line: keep the prose
            head = 0
            while head < len(block) and _indent(block[head]) == base:
                head += 1
            if head < len(block) and all(_indent(line) > base for line in block[head:]):
                out.extend(block[:head])
                out.extend(["", "::", ""])
                out.extend("    " + line for line in block[head:])
                prev_end, prev_opener = end, False
                continue
        if literal:
            out.extend(["::", ""])
            out.extend("    " + line for line in block)
        else:
            out.extend(block)
        prev_end = end
        prev_opener = _is_rst_opener(block[-1]) or block[0].lstrip().startswith(".. ")
    out.extend(lines[prev_end:])
    return out


def _body_shift(what, obj) -> int:
    """How far the docstring's body sits right of where its prose would: Sphinx removes the common
    indentation of the lines after the first, which loses it when the whole body is an example."""
    import inspect
    raw = getattr(obj, "__doc__", None)
    if not isinstance(raw, str):
        return 0
    body = [_indent(line) for line in raw.expandtabs().splitlines()[1:] if line.strip()]
    if not body:
        return 0
    if what == "module":
        base = 0
    else:
        try:
            base = _indent(inspect.getsourcelines(obj)[0][0]) + 4
        except (OSError, TypeError):
            return 0
    return max(min(body) - base, 0)


def _process(app, what, name, obj, options, lines):
    shift = _body_shift(what, obj)
    if shift:
        lines[1:] = [" " * shift + line if line.strip() else line for line in lines[1:]]
    lines[:] = literal_blocks(list(lines))


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    return {"version": "1", "parallel_read_safe": True}
