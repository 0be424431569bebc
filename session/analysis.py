"""A `.prompt` file loaded with its imports and checked: what every later stage starts from."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import attrs

from .. import backends
from ..compiler.check import check_program
from ..compiler.diagnostics import Diagnostic, Sink
from ..compiler.loader import Program, load


@attrs.frozen
class Analysis:
    """A checked program: its modules, their scopes (symbols and types) and the diagnostics."""

    program: Program
    scopes: dict
    diagnostics: tuple[Diagnostic, ...]

    @property
    def entry_scope(self):
        """The scope of the file that was loaded (not of its imports)."""
        return self.scopes[self.program.entry.key]

    def types(self) -> dict[str, object]:
        """The declared record, enum and alias types of the entry file, by name."""
        return {name: sym.type for name, sym in self.entry_scope.own.items()
                if sym.kind in ("record", "enum", "alias")}


def analyze(path: str | os.PathLike, root: str | None = None, text: str | None = None) -> Analysis:
    """Load one file (or `text` in its place) with its imports and run every check."""
    sink = Sink()
    program = load(path, sink, root=root, text=text)
    scopes = check_program(program, sink, backends.catalog())
    return Analysis(program, scopes, tuple(sink.sorted()))


def prompt_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The `.prompt` files named, with folders searched recursively."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.prompt") if q.is_file()))
        else:
            out.append(p)
    return out
