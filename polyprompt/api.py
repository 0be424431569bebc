"""The Python API behind the CLI: check and format files.

    >>> import polyprompt
    >>> diagnostics = polyprompt.check(["examples/triage.prompt"])
    >>> polyprompt.format_text('prompt p(){user "hi"}')
    'prompt p() {\\n  user "hi"\\n}\\n'
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import attrs

from . import backends
from .compiler import ast
from .compiler.check import check_program
from .compiler.diagnostics import Diagnostic, Sink
from .compiler.loader import Program, load, read_source
from .compiler.parse import parse_source
from .compiler.span import SourceFile


def prompt_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The `.prompt` files named, with folders searched recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.prompt") if q.is_file()))
        else:
            out.append(p)
    return out


@attrs.frozen
class Analysis:
    """A checked program: its modules, their scopes (symbols and types) and
    the diagnostics. The later stages compile from this."""

    program: Program
    scopes: dict
    diagnostics: tuple[Diagnostic, ...]

    def types(self) -> dict[str, object]:
        """The declared record, enum and alias types of the entry file, by name."""
        scope = self.scopes[self.program.entry.key]
        return {name: sym.type for name, sym in scope.own.items() if sym.kind in ("record", "enum", "alias")}


def analyze(path: str | os.PathLike, root: str | None = None) -> Analysis:
    """Load one file with its imports and run every check."""
    sink = Sink()
    program = load(path, sink, root=root)
    scopes = check_program(program, sink, backends.catalog())
    return Analysis(program, scopes, tuple(sink.sorted()))


def check_file(path: str | os.PathLike, root: str | None = None) -> tuple[Program, list[Diagnostic]]:
    """Load one file with its imports and run every check; diagnostics sorted."""
    result = analyze(path, root)
    return result.program, list(result.diagnostics)


def check(paths: Iterable[str | os.PathLike], root: str | None = None) -> list[Diagnostic]:
    """Diagnostics for every `.prompt` file under `paths` (each reported once)."""
    seen: set = set()
    out: list[Diagnostic] = []
    for path in prompt_files(paths):
        _program, diagnostics = check_file(path, root)
        for d in diagnostics:
            key = (d.span.file.path, d.span.start, d.span.end, d.code, d.message)
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out


def check_text(text: str, name: str = "<input>") -> list[Diagnostic]:
    """Diagnostics for source given as a string."""
    from .compiler.loader import load_text

    sink = Sink()
    check_program(load_text(text, sink, name), sink, backends.catalog())
    return sink.sorted()


@attrs.frozen
class FormatResult:
    path: str
    original: str
    formatted: str | None  # None when the file has syntax errors
    diagnostics: tuple[Diagnostic, ...]

    @property
    def changed(self) -> bool:
        return self.formatted is not None and self.formatted != self.original


def format_source(source: SourceFile) -> FormatResult:
    """Format parsed source; refuses (formatted=None) when it has syntax errors."""
    sink = Sink()
    module: ast.Module = parse_source(source, sink)
    syntax = tuple(d for d in sink.sorted() if d.is_error and d.code.startswith("PP1"))
    if syntax:
        return FormatResult(source.path, source.text, None, syntax)
    from .compiler.printer import format_module

    return FormatResult(source.path, source.text, format_module(module), ())


def format_text(text: str, name: str = "<input>") -> str:
    """Canonical source for `text`; raises ValueError listing syntax errors."""
    result = format_source(SourceFile(name, text))
    if result.formatted is None:
        from .compiler.diagnostics import render_all

        raise ValueError(render_all(result.diagnostics))
    return result.formatted


def format_file(path: str | os.PathLike, write: bool = False) -> FormatResult:
    """Format one file; with `write`, replace it atomically when it changed."""
    sink = Sink()
    source = read_source(Path(path), sink)
    if sink.has_errors:
        return FormatResult(source.path, source.text, None, tuple(sink.sorted()))
    result = format_source(source)
    if write and result.changed:
        write_atomic(Path(path), result.formatted)
    return result


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
