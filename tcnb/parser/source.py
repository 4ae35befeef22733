"""The program text and how errors point into it: every failure names its line and column.

``ast`` counts columns in UTF-8 bytes; an error shows characters, so a caret under ``λ`` stays put.
"""
from __future__ import annotations

from ..errors import TcnbError, TensorSyntaxError

MAX_NESTING = 200  # levels of nesting read for sure (Python's own parser allows 200 brackets)


class Source:
    """A program's text, for locating errors at a syntax node."""

    def __init__(self, text: str):
        self.text = text
        self.lines = text.splitlines() or [""]

    def line(self, lineno):
        """The text of line ``lineno`` (1-based), or None outside the program."""
        if lineno is not None and 1 <= lineno <= len(self.lines):
            return self.lines[lineno - 1]
        return None

    def column(self, node, line):
        """The node's column in characters: ``ast`` counts UTF-8 bytes, so names like λ would shift
        the caret."""
        col = getattr(node, "col_offset", None)
        text = self.line(line)
        if col is None or text is None:
            return col
        return len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))

    def fail(self, node, message, expected=None, cls=TensorSyntaxError):
        """Raise ``cls(message)`` located at ``node`` (its line, column and source line)."""
        line = getattr(node, "lineno", None)
        raise cls(message, line=line, col=self.column(node, line), source_line=self.line(line),
                  expected=expected)

    def locate(self, err: TcnbError, node) -> TcnbError:
        """``err`` located at ``node``, unless it has a position already."""
        line = getattr(node, "lineno", None)
        return err.at(line, self.column(node, line), self.line(line))

    def too_deep(self, line: int, how: str) -> TensorSyntaxError:
        """A short error for an expression nested too deeply: its line can be thousands of
        characters long, so only its start is shown."""
        text = self.line(line) or ""
        if len(text) > 72:
            text = text[:72] + " ..."
        return TensorSyntaxError(f"expression nested too deeply ({how})", line=line, source_line=text,
                                 expected=f"at most {MAX_NESTING} levels; split it into several definitions")
