"""Source files and spans.

A `Span` is a pair of character offsets into one `SourceFile`; lines and
columns are computed on demand from the file's line index, so AST nodes stay
small and a position can be shown in any unit (the language server converts to
UTF-16 at its edge).
"""
from __future__ import annotations

import bisect

import attrs


@attrs.frozen(eq=False)
class SourceFile:
    """The text of one `.prompt` file and an index of its line starts."""

    path: str
    text: str
    line_starts: tuple[int, ...] = attrs.field(init=False)

    @line_starts.default
    def _index_lines(self) -> tuple[int, ...]:
        starts = [0]
        find = self.text.find
        pos = find("\n")
        while pos != -1:
            starts.append(pos + 1)
            pos = find("\n", pos + 1)
        return tuple(starts)

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self.line_starts[line - 1]
        end = self.line_starts[line] - 1 if line < len(self.line_starts) else len(self.text)
        return self.text[start:end].rstrip("\r")


@attrs.frozen
class Span:
    """A half-open range `[start, end)` of character offsets in `file`."""

    file: SourceFile = attrs.field(repr=False, eq=False)
    start: int
    end: int

    @property
    def start_line_col(self) -> tuple[int, int]:
        """The 1-based line and column where the span starts."""
        return self.file.line_col(self.start)

    @property
    def end_line_col(self) -> tuple[int, int]:
        """The 1-based line and column where the span ends."""
        return self.file.line_col(self.end)

    @property
    def text(self) -> str:
        """The source text the span covers."""
        return self.file.text[self.start : self.end]

    def to(self, other: Span) -> Span:
        """The span covering `self` through `other`."""
        return Span(self.file, min(self.start, other.start), max(self.end, other.end))

    def __str__(self) -> str:
        line, col = self.start_line_col
        return f"{self.file.path}:{line}:{col}"
