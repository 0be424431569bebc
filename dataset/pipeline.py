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

import os
from collections import Counter
from typing import Any

import attrs

from . import formats, splits
from .align import Task
from .rowfn import RowFunction
from .stats import LengthStats, line_length
from .stream import Stream
from .outputs import Outputs
from .writers import TextLine
from .tasks import DatasetError, data_path, tasks_of


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
    #: rows cut to the maximum length (`truncate`), and the tokens cut from them
    truncated: int = 0
    tokens_cut: int = 0
    by_split: Counter = attrs.Factory(Counter)
    by_task: Counter = attrs.Factory(Counter)
    #: per split, the lengths of the lines written (tokens for tokenized rows, else characters)
    lengths: dict[str, LengthStats] = attrs.Factory(dict)
    outputs: dict[str, str] = attrs.Factory(dict)
    rejects_path: str | None = None

    def count(self, split: str, task: str, line: dict, text: str) -> None:
        """Count one line (and its JSON text) written to `split` for the dataset `task`."""
        self.written += 1
        self.by_split[split] += 1
        self.by_task[task] += 1
        if type(line) is TextLine and line.cut:  # a tokenized line cut to the maximum length
            self.truncated += 1
            self.tokens_cut += line.cut
        length = line_length(line, text)
        stats = self.lengths.get(split)
        if stats is None:
            stats = self.lengths[split] = LengthStats("tokens" if "input_ids" in line else "characters")
        stats.add(length)

    def line(self) -> str:
        """The one-line summary the CLI prints."""
        splits_text = ", ".join(f"{name} {n}" for name, n in self.by_split.items())
        return (f"{self.read} rows read: {self.written} written ({splits_text or 'none'}), {self.rejected} rejected, "
                f"{self.filtered} filtered by `where`, {self.cut} cut by `limit`, {self.duplicates} duplicates"
                + (f", {self.other_splits} in other splits" if self.other_splits else "")
                + (f", {self.repeated} repeated and {self.sampled_out} left out by `weight`"
                   if self.repeated or self.sampled_out else "")
                + (f", {self.truncated} truncated ({self.tokens_cut:,} tokens cut from their start)"
                   if self.truncated else ""))

    def to_json(self) -> dict:
        """The summary as a JSON object."""
        return {"read": self.read, "written": self.written, "rejected": self.rejected, "filtered": self.filtered,
                "cut": self.cut, "duplicates": self.duplicates, "other_splits": self.other_splits,
                "repeated": self.repeated, "sampled_out": self.sampled_out, "truncated": self.truncated,
                "tokens_cut": self.tokens_cut, "by_split": dict(self.by_split),
                "by_task": dict(self.by_task),
                "lengths": {name: stats.to_json() for name, stats in self.lengths.items()}, "outputs": self.outputs, "rejects": self.rejects_path}


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


def build(prompt_file: Any, format: str, output: str | os.PathLike, *, datasets: list[str] | None = None,
          target: str | None = None, split: str | None = None, strict: bool = False, train_on: str = "last",
          dedup: bool = True, max_length: int | None = None, truncate: bool = False, workers: int = 1,
          progress: bool | None = None) -> Summary:
    """Build the training files of a prompt file's datasets in `format` at `output`.

    `prompt_file` is a path or a loaded `PromptFile`; `datasets` names the `dataset` blocks (by
    title or prompt; by default every one that binds what the format trains, `output` or a
    `chosen`/`rejected` pair: several are mixed into one output, each line tagged with its task
    where the format allows); `target` overrides the format's target; `split` writes only that
    split to `output` (else each split goes to `<stem>.<split><suffix>` when the datasets declare
    splits); `train_on` is `last` or `all` assistant turns; `max_length` rejects longer tokenized
    rows, or with `truncate` cuts them from the start, keeping the answer (counted as truncated);
    `workers` > 1 turns rows into lines in that many processes; `progress` shows a bar on
    stderr (by default when stderr is a terminal).
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
    fn = RowFunction.loaded(pf, fmt, target or fmt.target, formats.Options(train_on, max_length, truncate), tasks,
                            tag=len(tasks) > 1)
    with Outputs(output, _split_names(tasks), split, summary, strict, progress) as out:

        def reject(task: Task, row: int, field: str, reason: str, line: int | None = None,
                   column: int | None = None) -> None:
            out.reject(Reject(task.name, task.source, row, field, reason, line, column))

        with Stream(fn, summary, reject, out.read, dedup, workers) as stream:
            for index, task in enumerate(tasks):
                for split_name, line, text in stream.lines(index, task, data_path(pf, task.source)):
                    out.write(split_name, task.name, line, text)
    return summary


def _split_names(tasks: list[Task]) -> list[str]:
    return [splits.TRAIN] + sorted({name for t in tasks for name, _ in t.splits})


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
