"""`build`: a prompt file's `dataset` blocks (or one given on the command line) to training files.

For each dataset: rows are read (`sources`), filtered by `where`, capped by `limit`, aligned with
the prompt (`align`: inputs and answers checked against the types), compiled for the format's
target through the compile session, written as lines of the format (`formats`), checked against
the format's rules, de-duplicated and sent to their split (`splits`). Every row is accounted
for: the `Summary` counts rows read, written, rejected, filtered by `where`, cut by `limit` and
dropped as duplicates, and every rejected row is written, with its row number, line, field and
reason, to the rejects file beside the output. `strict=True` stops at the first bad row.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import attrs

from ..compiler.inputs import InputError
from ..session.compiled import CompileError
from . import formats, sources, splits, writers
from .align import RowProblem, Task, task_of


class DatasetError(Exception):
    """A dataset that cannot be built at all (no such dataset, unreadable data, a bad row under
    `strict`); the message says which and why."""


@attrs.define
class Summary:
    """What a build did, row by row: every row read is written, rejected, filtered, cut or a duplicate."""
    read: int = 0
    written: int = 0
    rejected: int = 0
    filtered: int = 0
    cut: int = 0
    duplicates: int = 0
    #: rows of splits not written (`split=` asked for another one)
    other_splits: int = 0
    #: extra lines written for rows of a dataset weighing more than 1, and rows left out of one
    #: weighing less (`weight 2` writes each row twice; `weight 0.5` about every other row)
    repeated: int = 0
    sampled_out: int = 0
    by_split: Counter = attrs.Factory(Counter)
    by_task: Counter = attrs.Factory(Counter)
    outputs: dict[str, str] = attrs.Factory(dict)
    rejects_path: str | None = None

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        splits_text = ", ".join(f"{name} {n}" for name, n in self.by_split.items())
        return (f"{self.read} rows read: {self.written} written ({splits_text or 'none'}), {self.rejected} rejected, "
                f"{self.filtered} filtered by `where`, {self.cut} cut by `limit`, {self.duplicates} duplicates"
                + (f", {self.other_splits} in other splits" if self.other_splits else "")
                + (f", {self.repeated} repeated and {self.sampled_out} left out by `weight`"
                   if self.repeated or self.sampled_out else ""))

    def to_json(self) -> dict:
        """The summary as a JSON object."""
        return {"read": self.read, "written": self.written, "rejected": self.rejected, "filtered": self.filtered,
                "cut": self.cut, "duplicates": self.duplicates, "other_splits": self.other_splits,
                "repeated": self.repeated, "sampled_out": self.sampled_out, "by_split": dict(self.by_split),
                "by_task": dict(self.by_task), "outputs": self.outputs, "rejects": self.rejects_path}


@attrs.frozen
class Reject:
    """A row that was not written: where it is and why."""
    task: str
    source: str
    row: int
    field: str
    reason: str
    line: int | None = None
    column: int | None = None

    def to_json(self) -> dict:
        """The reject as a line of the rejects file."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}

    def __str__(self) -> str:
        at = f":{self.line}" + (f":{self.column}" if self.column else "") if self.line else ""
        return f"{self.source}{at}: row {self.row}: {self.field}: {self.reason}"


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
                    coerce_text=_data_kind(_data_path(pf, d.source)) in ("csv", "tsv")) for d in decls]


def _data_path(pf: Any, source: str) -> Path:
    """A data path written in a source: relative to the file, and inside the project root."""
    base = Path(pf.path).parent
    path = (base / source).resolve()
    root = Path(pf.analysis.program.root).resolve()
    if not path.is_relative_to(root):
        raise DatasetError(f"{pf.path}: the data `{source}` is outside the project root `{root}`")
    return path


def _data_kind(path: Path) -> str | None:
    try:
        return sources.kind_of(path)
    except sources.DataError:
        return None


def build(prompt_file: Any, format: str, output: str | os.PathLike, *, datasets: list[str] | None = None,
          target: str | None = None, split: str | None = None, strict: bool = False, train_on: str = "last",
          dedup: bool = True, progress: bool | None = None) -> Summary:
    """Build the training files of a prompt file's datasets in `format` at `output`.

    `prompt_file` is a path or a loaded `PromptFile`; `datasets` names the `dataset` blocks (by
    title or prompt; by default every one that binds what the format trains, `output` or a
    `chosen`/`rejected` pair: several are mixed into one output, each line tagged with its task
    where the format allows); `target` overrides the format's target;
    `split` writes only that split to `output` (else each split goes to `<stem>.<split><suffix>`
    when the datasets declare splits); `train_on` is `last` or `all` assistant turns.
    """
    from ..session.prompt_file import PromptFile, load

    pf = prompt_file if isinstance(prompt_file, PromptFile) else load(prompt_file)
    fmt = formats.get(format)
    tasks = tasks_of(pf, datasets)
    if not datasets:  # all of them: those that train what the format trains
        tasks = [t for t in tasks if _fits(t, fmt)] or tasks
    _check_kinds(tasks, fmt)
    _check_target(pf, fmt, target or fmt.target)
    summary = Summary()
    paths = _output_paths(Path(output), tasks, split)
    summary.by_split.update(dict.fromkeys(paths, 0))  # every output is listed, an empty one too
    out = {name: writers.open_writer(path) for name, path in paths.items()}
    rejects = _RejectsFile(Path(output))
    try:
        run = _Run(pf, fmt, target or fmt.target, formats.Options(train_on), strict, dedup, len(tasks) > 1)
        for task in tasks:
            for split_name, line in run.lines(task, summary, rejects):
                if split_name not in out:
                    summary.other_splits += 1
                    continue
                out[split_name].write(line)
                summary.written += 1
                summary.by_split[split_name] += 1
                summary.by_task[task.name] += 1
        for writer in out.values():
            writer.commit()
    except BaseException:
        for writer in out.values():
            writer.abort()
        rejects.abort()
        raise
    summary.outputs = {name: str(path) for name, path in paths.items()}
    summary.rejects_path = rejects.commit()
    return summary


def _fits(task: Task, fmt: Any) -> bool:
    return task.is_preference if fmt.kind == "preference" else "output" in task.answers


def _check_kinds(tasks: list[Task], fmt: Any) -> None:
    for task in tasks:
        if fmt.kind == "preference" and not task.is_preference:
            raise DatasetError(f"dataset `{task.name}`: the {fmt.name} format needs a preference pair: bind `chosen` "
                               "and `rejected`")
        if fmt.kind == "sft" and "output" not in task.answers:
            raise DatasetError(f"dataset `{task.name}`: the {fmt.name} format needs the answer: bind `output`")


def _check_target(pf: Any, fmt: Any, target: str) -> None:
    backend = pf.backend(target)
    if not fmt.takes(backend):
        raise DatasetError(f"the {fmt.name} format reads {' or '.join(_names(fmt.accepts))} bodies, not "
                           f"{type(backend).name}'s: compile for one of those (-t)")


def _names(accepts: tuple[str, ...]) -> list[str]:
    return [f"`{a}`" if a != "hf" else "open-model (hf-family:, hf:)" for a in accepts]


def _output_paths(output: Path, tasks: list[Task], split: str | None) -> dict[str, Path]:
    names = [splits.TRAIN] + sorted({name for t in tasks for name, _ in t.splits})
    if split is not None:
        if split not in names:
            raise DatasetError(f"no split `{split}`; splits: {', '.join(names)}")
        return {split: output}
    if len(names) == 1:
        return {splits.TRAIN: output}
    suffix = "".join(output.suffixes[-1:]) if writers.kind_of(output) != "hf" else ""
    stem = output.name[: len(output.name) - len(suffix)] if suffix else output.name
    return {name: output.with_name(f"{stem}.{name}{suffix}") for name in names}


class _RejectsFile:
    """`<output stem>.rejects.jsonl` beside the output, written only when a row was rejected."""

    def __init__(self, output: Path):
        base = output.name[: -len(output.suffix)] if output.suffix else output.name
        self.path = output.with_name(f"{base}.rejects.jsonl")
        self.writer: writers.JsonlWriter | None = None

    def add(self, reject: Reject) -> None:
        if self.writer is None:
            self.writer = writers.JsonlWriter(self.path)
        self.writer.write(reject.to_json())

    def commit(self) -> str | None:
        if self.writer is None:
            if self.path.exists():
                self.path.unlink()  # an earlier run's rejects would describe other data
            return None
        self.writer.commit()
        return str(self.path)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


def _copies(key: bytes, task: Task) -> int:
    """How many times a row is written: its dataset's weight, the fraction decided by the row's
    hash (so the same rows are kept on every run)."""
    whole = int(task.weight)
    part = task.weight - whole
    return whole + (1 if part and splits.fraction(key, task.seed + 1) < part else 0)


class _Run:
    """One build's state: the compile target, the seen lines (duplicates) and the progress bar."""

    def __init__(self, pf: Any, fmt: Any, target: str, options: Any, strict: bool, dedup: bool, tag: bool):
        self.pf, self.fmt, self.target, self.options = pf, fmt, target, options
        self.strict, self.dedup, self.tag = strict, dedup, tag and fmt.extra_keys
        self.seen: set[int] = set()

    def lines(self, task: Task, summary: Summary, rejects: _RejectsFile) -> Iterator[tuple[str, dict]]:
        """(split, line) for every row of the task written; counts and rejects the others."""
        path = _data_path(self.pf, task.source)
        kept = 0
        try:
            rows = sources.read_rows(path)
            for row in rows:
                summary.read += 1
                if isinstance(row, sources.BadRow):
                    self._reject(Reject(task.name, task.source, row.number, "row", row.reason, row.line, row.column),
                                 summary, rejects)
                    continue
                try:
                    if not task.keeps(row.data):
                        summary.filtered += 1
                        continue
                    if task.limit is not None and kept >= task.limit:
                        summary.cut += 1
                        continue
                    kept += 1
                    line = self.line(task, row.data)
                except RowProblem as problem:
                    self._reject(Reject(task.name, task.source, row.number, problem.field, problem.reason, row.line),
                                 summary, rejects)
                    continue
                if self.dedup and not self._first(line):
                    summary.duplicates += 1
                    continue
                key = splits.row_key(row.data)
                copies = _copies(key, task)
                if copies == 0:
                    summary.sampled_out += 1
                summary.repeated += max(copies - 1, 0)
                for _ in range(copies):
                    yield splits.split_of(key, task.splits, task.seed), line
        except sources.DataError as err:
            raise DatasetError(str(err)) from None

    def line(self, task: Task, row: dict) -> dict:
        """The line of one row; RowProblem when the row does not fit."""
        example = task.example(row)
        try:
            compiled = self.pf.compile(self.target, example.inputs, prompt=task.prompt.name)
        except InputError as err:
            raise RowProblem(err.problems[0].path if err.problems else "inputs", str(err)) from None
        line = self.fmt.line(example, compiled, self.options)
        found = self.fmt.problems(line)
        if found:
            raise RowProblem("line", f"the {self.fmt.name} line would be invalid: {'; '.join(found)}")
        if self.tag:
            line["task"] = task.name
        return line

    def _first(self, line: dict) -> bool:
        key = hash(json.dumps(line, sort_keys=True, ensure_ascii=False))
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def _reject(self, reject: Reject, summary: Summary, rejects: _RejectsFile) -> None:
        if self.strict:
            raise DatasetError(f"{reject} (--strict stops at the first bad row)")
        summary.rejected += 1
        rejects.add(reject)
