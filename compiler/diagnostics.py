"""Diagnostics: the one error/warning type of every stage, and its rendering.

Diagnostics are collected, never raised, so the CLI, the language server and
the tests can show all of them. Codes are stable and documented, each with an
example, in docs/diagnostics.md:

- PP1xx syntax (the grammar and the text syntax inside strings)
- PP2xx names, imports and types (semantic analysis)
- PP3xx target capabilities, PP4xx lowering notes, PP5xx datasets
"""
from __future__ import annotations

import json
from typing import Callable, Iterable, Iterator, Literal

import attrs

from .span import Span

Severity = Literal["error", "warning", "info"]

#: Every code with its one-line title. docs/diagnostics.md lists each with an
#: example; tests/test_docs.py keeps the two in step.
CODES: dict[str, str] = {
    # syntax
    "PP100": "unexpected character",
    "PP101": "unexpected token",
    "PP102": "unexpected end of file",
    "PP103": "unterminated string",
    "PP104": "unknown escape sequence",
    "PP105": "block tag without an open block",
    "PP106": "unclosed block tag",
    "PP107": "misplaced elif/else tag",
    "PP108": "line indented less than the closing quotes",
    "PP109": "file is not valid UTF-8 text",
    "PP110": "escape of half a surrogate pair",
    "PP111": "nested too deeply",
    "PP112": "number out of range",
    # names and imports
    "PP200": "unknown name",
    "PP201": "duplicate declaration",
    "PP202": "unknown type",
    "PP203": "unknown field",
    "PP204": "unknown enum member",
    "PP205": "import not found",
    "PP206": "import cycle",
    "PP207": "import outside the project root",
    "PP208": "name not found in imported module",
    "PP209": "unknown tool",
    "PP210": "unknown prompt",
    "PP211": "not a fragment of the right kind",
    "PP212": "duplicate parameter, field or member",
    "PP213": "reserved word used as a name",
    "PP214": "invalid import",
    # types and arguments
    "PP220": "type mismatch",
    "PP221": "loop over a non-list",
    "PP222": "unknown filter",
    "PP223": "wrong number of arguments",
    "PP224": "missing argument",
    "PP225": "unexpected argument",
    "PP226": "not callable",
    "PP227": "invalid type",
    "PP228": "history needs a messages parameter",
    "PP229": "invalid setting value",
    "PP230": "value cannot be interpolated as text",
    "PP231": "invalid media part",
    "PP232": "invalid dataset option",
    "PP233": "recursive fragment",
    "PP234": "constant expected",
    "PP235": "blocks nested too deeply",
    # warnings
    "PP240": "unused parameter",
    "PP241": "unreachable branch",
    "PP242": "unknown setting",
    "PP243": "prompt has no messages",
    "PP244": "unused import",
    # target capabilities (errors: the target cannot express the prompt)
    "PP300": "unknown target",
    "PP301": "target has no tool calling",
    "PP302": "target cannot take this media",
    "PP303": "chat template refused the conversation",
    "PP304": "body field refused",
    # lowering notes (info; `--strict` makes them errors)
    "PP400": "system message moved",
    "PP401": "consecutive turns merged",
    "PP402": "placeholder turn inserted",
    "PP403": "setting dropped",
    "PP404": "setting value adjusted",
    "PP405": "output schema lowered",
    "PP406": "output schema given as instructions",
    "PP407": "cache breakpoint dropped",
    "PP408": "message dropped to fit the token budget",
    "PP409": "empty message dropped",
    "PP410": "tool call adapted",
    "PP411": "control-token text in data",
    "PP412": "no token ids",
    "PP413": "strict structured output turned off",
    "PP414": "strict tool lowered",
    "PP415": "body field added",
    "PP416": "history calls an undeclared tool",
    # an open model's chat template, as probing found it (one code per kind of quirk)
    "PP420": "chat template places system text",
    "PP421": "chat template adds text of its own",
    "PP422": "chat template needs alternating turns",
    "PP423": "chat template trims whitespace",
    "PP424": "chat template handles tools its own way",
    "PP425": "chat template handles reasoning",
    "PP426": "chat template's prompt start or end",
}

#: notes that are not lowerings: what the prompt asked for itself, which `--strict` lets through
NOT_LOWERING = frozenset({"PP415"})


def is_lowering(d: "Diagnostic") -> bool:
    """A lowering note: a change made for the target, which `--strict` makes an error."""
    return d.code.startswith("PP4") and d.code not in NOT_LOWERING


@attrs.frozen
class Diagnostic:
    """One finding, with the span that caused it and an optional fix hint.

    `names` are the names the finding is about (the unknown, unused or missing name), set
    where it is made by the name checks (PP200, PP202, PP203, PP209-PP211, PP224, PP240,
    PP244): tools read them here, never out of the message text.
    """

    code: str
    severity: Severity
    message: str
    span: Span
    help: str | None = None
    names: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        """Whether the severity is error."""
        return self.severity == "error"

    def to_json(self) -> dict:
        """The diagnostic as a JSON object: file, start and end line and column, severity, code, message, help,
        names."""
        line, col = self.span.start_line_col
        end_line, end_col = self.span.end_line_col
        out = {
            "file": self.span.file.path,
            "line": line,
            "col": col,
            "end_line": end_line,
            "end_col": end_col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
        if self.help:
            out["help"] = self.help
        if self.names:
            out["names"] = list(self.names)
        return out


class Sink:
    """Collects diagnostics for one run; shared by every stage."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, code: str, message: str, span: Span, help: str | None = None, *,
              names: tuple[str, ...] = ()) -> None:
        """Report an error; `names`: the names it is about (`Diagnostic.names`)."""
        self.add(Diagnostic(code, "error", message, span, help, names=names))

    def warning(self, code: str, message: str, span: Span, help: str | None = None, *,
                names: tuple[str, ...] = ()) -> None:
        """Report a warning; `names`: the names it is about (`Diagnostic.names`)."""
        self.add(Diagnostic(code, "warning", message, span, help, names=names))

    def info(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        """Report a note (lowering; `--strict` makes it an error)."""
        self.add(Diagnostic(code, "info", message, span, help))

    def add(self, diagnostic: Diagnostic) -> None:
        """Record a diagnostic (its code must be a known one)."""
        assert diagnostic.code in CODES, diagnostic.code
        self.items.append(diagnostic)

    def discard(self, predicate) -> None:
        """Drop the diagnostics for which `predicate` is true."""
        self.items = [d for d in self.items if not predicate(d)]

    @property
    def has_errors(self) -> bool:
        """Whether any diagnostic so far is an error."""
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        """Diagnostics in file order, duplicates removed."""
        seen: set = set()
        out = []
        for d in sorted(self.items, key=lambda d: (d.span.file.path, d.span.start, d.code)):
            key = (d.span.file.path, d.span.start, d.span.end, d.code, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
        return out


#: how much of a long source line a diagnostic shows, around the span (real lines fit whole)
WINDOW = 200
#: how many diagnostics of one file `render_all` shows before it counts the rest
MAX_PER_FILE = 100


def render(diagnostic: Diagnostic) -> str:
    """Render as `file:line:col: severity[CODE]: message`, the line, a caret and help. A long line
    is shown as a window around the span, and characters a terminal would act on (escapes, other
    control characters) as `\\x1b`-style escapes, so a source line never drives the terminal."""
    span = diagnostic.span
    line, col = span.start_line_col
    end_line, end_col = span.end_line_col
    head = _printable(f"{span.file.path}:{line}:{col}: {diagnostic.severity}[{diagnostic.code}]: "
                      f"{diagnostic.message}")
    line_start, line_end = _line_bounds(span, line)
    end = end_col if end_line == line else line_end - line_start + 1
    shown, caret_at, caret_width = _window(span.file.text, line_start, line_end, col - 1, max(end - col, 1))
    gutter = " " * len(str(line))
    out = [
        head,
        f"{gutter} |",
        f"{line} | {shown}",
        f"{gutter} | {' ' * caret_at}{'^' * caret_width}",
    ]
    if diagnostic.help:
        out.append(f"{gutter} = help: {_printable(diagnostic.help)}")
    return "\n".join(out)


def _line_bounds(span: Span, line: int) -> tuple[int, int]:
    """Where a 1-based line of the span's file starts and ends (without its newline or `\\r`),
    found without copying the line: a line may be megabytes long."""
    file = span.file
    if not file.text:
        return 0, 0
    start = file.line_starts[line - 1]
    end = file.line_starts[line] - 1 if line < len(file.line_starts) else len(file.text)
    while end > start and file.text[end - 1] == "\r":
        end -= 1
    return start, end


def _printable(text: str) -> str:
    """Text with the characters a terminal would act on written as escapes (newlines kept)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\n" else _escape(c) for c in text)


def _escape(c: str) -> str:
    """One unprintable character as a Python-style escape."""
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _window(text: str, line_start: int, line_end: int, start: int, width: int) -> tuple[str, int, int]:
    """The line `text[line_start:line_end]` as shown (tabs as one space, unprintable characters
    escaped, at most about WINDOW characters around the span), where the caret starts in it, and
    how wide it is. Only the window is copied out of the text: the cost does not grow with the
    length of the line."""
    long = line_end - line_start > WINDOW  # a character takes one cell or more: too long to show whole
    lo = max(0, start - WINDOW // 3) if long else 0
    segment = text[line_start + lo:min(line_end, line_start + lo + WINDOW + 1)]
    cells = [" " if c == "\t" else c if c.isprintable() else _escape(c) for c in segment]
    hi = len(cells)
    if long or sum(len(c) for c in cells) > WINDOW:
        used, hi = 0, 0
        while hi < len(cells) and used + len(cells[hi]) <= WINDOW:
            used += len(cells[hi])
            hi += 1
    prefix, suffix = ("..." if lo > 0 else ""), ("..." if line_start + lo + hi < line_end else "")
    first = start - lo  # the span's first cell in `cells`
    caret_at = len(prefix) + sum(len(c) for c in cells[:max(first, 0)]) + max(first - len(cells), 0)
    caret_width = sum(len(c) for c in cells[first:min(first + width, hi)]) or 1
    return prefix + "".join(cells[:hi]) + suffix, caret_at, caret_width


def iter_rendered(diagnostics: Iterable[Diagnostic]) -> Iterator[str]:
    """The diagnostics rendered for a terminal, one at a time (a blank line between two, none
    after the last); past MAX_PER_FILE of one file, one line per file counts the rest (a file with
    10,000 errors on one line printed a gigabyte). Memory does not grow with the count."""
    shown: dict[str, int] = {}
    left: dict[str, int] = {}
    first = True
    for d in diagnostics:
        path = d.span.file.path
        if shown.get(path, 0) < MAX_PER_FILE:
            shown[path] = shown.get(path, 0) + 1
            yield ("" if first else "\n\n") + render(d)
            first = False
        else:
            left[path] = left.get(path, 0) + 1
    for path, count in left.items():
        yield ("" if first else "\n\n") + f"{_printable(path)}: and {count:,} more diagnostics not shown"
        first = False


def write_rendered(diagnostics: Iterable[Diagnostic], write: Callable[[str], object]) -> None:
    """Write the diagnostics for a terminal with `write` as each is rendered, then a newline (what
    `print(render_all(...))` prints, never built whole)."""
    for chunk in iter_rendered(diagnostics):
        write(chunk)
    write("\n")


def render_all(diagnostics: Iterable[Diagnostic]) -> str:
    """The diagnostics rendered for a terminal as one string (see `iter_rendered`)."""
    return "".join(iter_rendered(diagnostics))


def iter_json(diagnostics: Iterable[Diagnostic]) -> Iterator[str]:
    """The diagnostics as an indented JSON array, in pieces (one per diagnostic)."""
    first = True
    for d in diagnostics:
        item = json.dumps(d.to_json(), indent=2, ensure_ascii=False).replace("\n", "\n  ")
        yield ("[\n  " if first else ",\n  ") + item
        first = False
    yield "[]" if first else "\n]"


def write_json(diagnostics: Iterable[Diagnostic], write: Callable[[str], object]) -> None:
    """Write the diagnostics as `to_json` does, one at a time, then a newline."""
    for chunk in iter_json(diagnostics):
        write(chunk)
    write("\n")


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    """The diagnostics as an indented JSON array."""
    return "".join(iter_json(diagnostics))
