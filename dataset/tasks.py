"""The `dataset` blocks of a loaded prompt file as `Task`s, and where their data is."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

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
    """A data path written in a source: relative to the file, and inside the project root (a
    dataset given on the command line names the user's own path, anywhere)."""
    base = Path(pf.path).parent
    path = (base / source).resolve()
    if path in pf.command_line_data:
        return path
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


#: the title of a dataset given on the command line (its data path is the user's, not the file's)
COMMAND_LINE = "command line"


def with_command_line_dataset(path: str, prompt: str, data: str, bindings: list[str], where: str | None = None,
                              limit: int | None = None, splits: Sequence[str] = (), seed: int | None = None) -> Any:
    """The prompt file at `path` with a `dataset` block written from command-line options, loaded:
    `bindings` are `name=expression` (`output=row.label`, `chosen=...`), `splits` are `NAME=P%`.
    The block is checked like any other, so a wrong expression gets its diagnostic."""
    from ..session.prompt_file import load

    lines = [f"dataset {prompt} {_string(COMMAND_LINE)} from {_string(str(Path(data).resolve()))} {{"]
    for binding in bindings:
        name, sep, expr = binding.partition("=")
        if not sep or not name.strip().isidentifier():
            raise DatasetError(f"--bind `{binding}`: write NAME=EXPRESSION, e.g. ticket=row.body")
        lines.append(f"  {name.strip()} = {expr.strip()}")
    if where:
        lines.append(f"  where {where}")
    if limit is not None:
        lines.append(f"  limit {limit}")
    for i, split in enumerate(splits):
        name, sep, percent = split.partition("=")
        if not sep or not name.strip().isidentifier():
            raise DatasetError(f"--holdout `{split}`: write NAME=PERCENT, e.g. validation=10%")
        lines.append(f"  split {name.strip()} {percent.strip().rstrip('%')}%" + (f" seed {seed}" if seed is not None
                                                                              and i == 0 else ""))
    lines.append("}")
    source = Path(path).read_text(encoding="utf-8")
    pf = load(path, text=source.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
    pf.command_line_data = {Path(data).resolve()}  # the one path the root rule does not apply to
    return pf


def _string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)
