"""The rows an evaluation scores: a `dataset` block of the prompt file (or one written from the
command line with `--data` and `--bind`) read through polyprompt.dataset: each kept row's inputs
and expected output, in file order, optionally only one split (`--split test`).

A row is named by its number in the data file (1-based, as the dataset build's rejects name it):
that number stays the same whatever split or limit is chosen, so recorded replies keyed by it stay
valid. A row that does not fit the prompt's types is left out and counted (`Rows.skipped`).
"""
from __future__ import annotations

from typing import Any

import attrs

from ..dataset import sources, splits
from ..dataset.align import RowProblem
from ..dataset.tasks import DatasetError, data_path, tasks_of, with_command_line_dataset
from ..session.compiled import CompileError
from .targets import EvalError


@attrs.frozen
class Row:
    """One evaluated row: its number in the data file, the prompt's inputs, the expected output."""
    number: int
    inputs: dict
    expected: Any


@attrs.define
class Rows:
    """The rows of an evaluation and where they came from."""
    file: Any           # the loaded prompt file
    prompt: str         # the prompt's name
    dataset: str        # the dataset's title
    split: str | None
    rows: list[Row]
    numbers: set[int]   # every row number the data file holds (replies for others are errors)
    skipped: list[str] = attrs.Factory(list)  # "row N: why" for rows left out


def load_rows(path: str, *, prompt: str | None = None, dataset: str | None = None, split: str | None = None,
              data: str | None = None, bind: tuple[str, ...] | list[str] = (), where: str | None = None,
              limit: int | None = None) -> Rows:
    """The rows of a prompt file's dataset (`dataset`, the only one by default; or `data` + `bind`,
    with `prompt`), keeping `split` only when given; EvalError when they cannot be scored."""
    from ..session.prompt_file import load

    try:
        if data is not None or bind:
            if data is None or not bind:
                raise EvalError("a dataset from the command line needs --data and at least one --bind")
            pf = with_command_line_dataset(path, prompt or _first_prompt(path), data, list(bind), where, limit)
            from ..dataset.tasks import COMMAND_LINE

            dataset = COMMAND_LINE
        else:
            pf = load(path)
        tasks = tasks_of(pf, [dataset] if dataset else None)
    except (DatasetError, LookupError) as err:
        raise EvalError(str(err).strip("'\"")) from None
    except CompileError as err:  # the file (or a --bind expression) has errors: their diagnostics
        raise EvalError(f"{path} has errors:\n{err}") from None
    if prompt is not None:
        tasks = [t for t in tasks if t.prompt.name == prompt]
        if not tasks:
            raise EvalError(f"{path}: no dataset of the prompt `{prompt}`")
    if len(tasks) > 1:
        titles = ", ".join(t.name for t in tasks)
        raise EvalError(f"{path} has several datasets ({titles}): choose one with --dataset")
    task = tasks[0]
    if "output" not in task.answers:
        raise EvalError(f"the dataset `{task.name}` has no expected outputs: bind `output = row.<column>` "
                        f"(with --data: --bind output=row.<column>), the answer each row is scored against")
    known = [name for name, _percent in task.splits] + [splits.TRAIN]
    if split is not None and split not in known:
        raise EvalError(f"the dataset `{task.name}` has no split `{split}`; its splits: {', '.join(known)} "
                        f"(add `split {split} 20%` to its block, or --holdout with --data)")
    return _read(pf, task, split)


def _first_prompt(path: str) -> str:
    from ..session.prompt_file import load

    prompts = load(path).prompts
    if not prompts:
        raise EvalError(f"{path} declares no prompt")
    return prompts[0]


def _read(pf: Any, task: Any, split: str | None) -> Rows:
    """Every row `where` keeps, up to `limit`, of the split asked for, as inputs and expected output."""
    out = Rows(pf, task.prompt.name, task.name, split, [], set())
    try:
        kept = 0
        for record in sources.read_rows(data_path(pf, task.source)):
            out.numbers.add(record.number)  # every row is read: a reply past the limit names a real row
            if task.limit is not None and kept >= task.limit:
                continue
            if isinstance(record, sources.BadRow):
                out.skipped.append(f"{record.where()}: {record.reason}")
                continue
            kept += _add(out, task, record)
    except (DatasetError, sources.DataError, CompileError) as err:
        raise EvalError(str(err)) from None
    if not out.rows:
        raise EvalError(f"the dataset `{task.name}` has no rows to evaluate"
                        + (f" in the split `{split}`" if split else "")
                        + (f" ({len(out.skipped)} left out; the first: {out.skipped[0]})" if out.skipped else ""))
    return out


def _add(out: Rows, task: Any, record: Any) -> bool:
    """Whether `where` keeps the row (the limit counts those, before the split, as the dataset build
    does); the row is added when it is in the split and fits the prompt."""
    try:
        if not task.keeps(record.data):
            return False
        if out.split is not None and splits.split_of(splits.row_key(record.data), task.splits,
                                                     task.seed) != out.split:
            return True
        example = task.example(record.data)
    except RowProblem as problem:
        out.skipped.append(f"row {record.number}: {problem}")
        return True
    out.rows.append(Row(record.number, example.inputs, example.output))
    return True
