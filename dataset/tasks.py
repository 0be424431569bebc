"""The `dataset` blocks of a loaded prompt file as `Task`s, and where their data is."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..session.compiled import CompileError
from . import sources
from .align import Task, task_of


class DatasetError(Exception):
    """A dataset that cannot be built at all (no such dataset, unreadable data, a bad row under
    `strict`); the message says which and why."""


def tasks_of(pf: Any, names: list[str] | None = None) -> list[Task]:
    """The `Task`s of a loaded prompt file's `dataset` blocks (those named, or all of them)."""
    from ..compiler import ast
    from ..compiler.statics import Statics

    decls = [d for d in pf.analysis.program.entry.tree.decls if isinstance(d, ast.DatasetDecl)]
    errors = [d for d in pf.diagnostics if d.is_error]
    if errors:
        raise CompileError(errors)
    if names:
        known = {d.title or d.prompt.name for d in decls} | {d.prompt.name for d in decls}
        missing = [n for n in names if n not in known]
        if missing:
            raise DatasetError(f"no dataset `{missing[0]}` in {pf.path}; datasets: "
                               + (", ".join(sorted({d.title or d.prompt.name for d in decls})) or "none"))
        decls = [d for d in decls if (d.title or d.prompt.name) in names or d.prompt.name in names]
    if not decls:
        raise DatasetError(f"{pf.path} declares no dataset")
    statics = Statics(pf.analysis.entry_scope, pf.analysis.scopes)
    return [task_of(d, pf.prompt(d.prompt.name), statics, pf.check_inputs,
                    coerce_text=data_kind(data_path(pf, d.source)) in ("csv", "tsv")) for d in decls]


def data_path(pf: Any, source: str) -> Path:
    """A data path written in a source: relative to the file, and inside the project root."""
    base = Path(pf.path).parent
    path = (base / source).resolve()
    root = Path(pf.analysis.program.root).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(f"{pf.path}: the data `{source}` is outside the project root `{root}`")
    return path


def data_kind(path: Path) -> str | None:
    """The data kind of a path (`jsonl`, `csv`...), or None for a suffix no reader takes."""
    try:
        return sources.kind_of(path)
    except sources.DataError:
        return None
