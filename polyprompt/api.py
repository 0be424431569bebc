"""The Python API behind the CLI: check and format files.

    >>> import polyprompt
    >>> diagnostics = polyprompt.check(["examples/triage.prompt"])
    >>> polyprompt.format_text('prompt p(){user "hi"}')
    'prompt p() {\\n  user "hi"\\n}\\n'
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import attrs

from . import backends
from .compiler import ast
from .compiler.check import check_program
from .compiler.diagnostics import Diagnostic, Sink
from .compiler.loader import Program, read_source
from .compiler.files import write_atomic  # noqa: F401 (part of the facade)
from .session.analysis import Analysis, analyze, prompt_files  # noqa: F401 (part of the facade)
from .compiler.parse import parse_source
from .compiler.span import SourceFile


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
    """A file's formatting: its text before and after (None when it has syntax errors), and those errors."""
    path: str
    original: str
    formatted: str | None  # None when the file has syntax errors
    diagnostics: tuple[Diagnostic, ...]

    @property
    def changed(self) -> bool:
        """Whether formatting changes the file."""
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


def format_file(path: str | os.PathLike, write: bool = False, force: bool = False) -> FormatResult:
    """Format one file; with `write`, replace it atomically when it changed (a read-only file raises
    `compiler.files.ReadOnlyFile` unless `force`)."""
    sink = Sink()
    source = read_source(Path(path), sink)
    if sink.has_errors:
        return FormatResult(source.path, source.text, None, tuple(sink.sorted()))
    result = format_source(source)
    if write and result.changed and result.formatted is not None:
        write_atomic(Path(path), result.formatted, force=force)
    return result
