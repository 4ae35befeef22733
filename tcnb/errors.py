"""Every user-facing failure is a TcnbError: a message a student can act on, with a source position.

IPython shows exceptions that define ``_render_traceback_`` as just those lines, so bad input in a
magic or a notebook cell prints a short message with a caret instead of a traceback from tcnb.
"""
from __future__ import annotations


class TcnbError(Exception):
    """Base class of every error tcnb raises on purpose."""

    def __init__(self, message: str, *, line: int | None = None, col: int | None = None,
                 source_line: str | None = None, expected: str | None = None):
        self.message = message
        self.line = line
        self.col = col
        self.source_line = source_line
        self.expected = expected
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.line is not None:
            where = f"line {self.line}" + (f", column {self.col + 1}" if self.col is not None else "") + ": "
        text = where + self.message
        if self.expected:
            text += f" (expected {self.expected})"
        if self.source_line is not None:
            text += "\n    " + self.source_line.rstrip()
            if self.col is not None:
                text += "\n    " + " " * self.col + "^"
        return text

    def at(self, line: int | None, col: int | None, source_line: str | None) -> "TcnbError":
        """Return a copy of this error located at a source position (keeps an existing position)."""
        if self.line is not None:
            return self
        err = type(self).__new__(type(self))
        TcnbError.__init__(err, self.message, line=line, col=col, source_line=source_line,
                           expected=self.expected)
        return err

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class TensorSyntaxError(TcnbError):
    """The program text is not valid tcnb: unknown names, unsupported syntax, malformed indices."""


class ShapeError(TcnbError):
    """Ranks or dimension symbols do not fit together, or a bound array has the wrong size."""


class BindingError(ShapeError):
    """Arrays passed to evaluate()/compile() are missing, extra or of the wrong shape."""


class DerivativeError(TcnbError):
    """A derivative was asked for that does not exist or cannot be formed (e.g. grad of a non-scalar)."""


class NumericalError(TcnbError):
    """The inputs make a value undefined: a singular matrix for inv/logdet/solve, NaN or inf entries."""


class MemoryBudgetError(TcnbError):
    """A dense result or intermediate would exceed the memory budget; tcnb refuses before allocating."""


class BackendUnavailableError(TcnbError):
    """The requested array backend (e.g. CuPy) is not installed or has no usable device."""
