"""Training examples: the tokenized rows of `polyprompt.dataset` (format `tokenized`), in memory.

Three sources:

- a prompt file's `dataset` blocks (`from_prompt_file`): built with the `tokenized` format for the
  model being trained (`hf:<its folder>`: its tokenizer and chat template, so the model learns
  exactly what `polyprompt compile -t hf:OUT` sends it), written into the output folder's `data/`
  (`rows.train.jsonl`, `rows.validation.jsonl`...), with the build's summary and rejects beside;
- rows already tokenized (`from_rows`): a `.jsonl`/`.parquet` file, or a `datasets` folder. For
  `out/rows.jsonl` the split files `out/rows.train.jsonl` and `out/rows.validation.jsonl` that
  `polyprompt dataset` writes are read when they exist;
- a corpus (`from_corpus`, domain adaptation): each text's ids then the end-of-sequence token,
  every token learned (`dataset/corpus.py`).

An example is a dict: `input_ids`, `labels` (-100 where not learned) and `task` (an int; the names
are `TrainData.tasks`). The validation split is the dataset's split named `validation` only: any
other split (`test`...) is held out, never trained or validated on (it is `polyprompt eval`'s).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import attrs

from .batching import learned
from .config import TrainFailure

VALIDATION = "validation"


class DataError(TrainFailure):
    """Training data that cannot be used; the message says which and why (one line)."""


@attrs.define
class TrainData:
    """The examples of a run: `train`, `validation` (maybe empty), task names by id, and the
    dataset build's summary (a dict) when it was built here."""
    train: list[dict]
    validation: list[dict] = attrs.Factory(list)
    tasks: list[str] = attrs.Factory(lambda: ["default"])
    summary: dict | None = None

    def learned_tokens(self) -> int:
        """The learned tokens of the training split."""
        return sum(learned(ex["labels"]) for ex in self.train)


def from_prompt_file(prompt_file: Any, model_folder: Path, out_dir: Path, *, datasets: Sequence[str] | None = None,
                     train_on: str = "last", progress: bool | None = False) -> TrainData:
    """Build the file's `dataset` blocks (those named, or all that bind `output`) as tokenized
    rows for the model at `model_folder`, into `out_dir` (`rows.<split>.jsonl`), and read them."""
    from ..dataset import DatasetError, build

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        summary = build(prompt_file, "tokenized", out_dir / "rows.jsonl", datasets=list(datasets) if datasets else None,
                        target=f"hf:{model_folder}", train_on=train_on, progress=progress)
    except DatasetError as err:
        raise DataError(str(err)) from None
    found = from_rows(out_dir / "rows.jsonl")
    found.summary = summary.to_json()
    if not found.train:
        rejects = f" ({summary.rejected} rejected: see {summary.rejects_path})" if summary.rejected else ""
        raise DataError(f"the datasets gave no training row{rejects}")
    return found


def from_corpus(data: str | os.PathLike, model_folder: Path, out_dir: Path, *, column: str = "text",
                holdout: float = 0.0, seed: int = 0) -> TrainData:
    """A corpus's texts as examples that learn every token (built into `out_dir/corpus*.jsonl`)."""
    from ..dataset import DatasetError
    from ..dataset.corpus import build_corpus
    from ..dataset.sources import DataError as SourceError

    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        build_corpus(data, out_dir / "corpus.jsonl", format="tokenized", column=column, target=f"hf:{model_folder}",
                     holdout=[(VALIDATION, holdout)] if holdout else [], seed=seed, progress=False)
    except (DatasetError, SourceError, OSError) as err:
        raise DataError(f"corpus {data}: {err}") from None
    found = from_rows(out_dir / "corpus.jsonl")
    if not found.train:
        raise DataError(f"corpus {data}: no text to train on (column `{column}`)")
    return found


def split_files(path: Path) -> dict[str, Path]:
    """The split files beside `path` (`<stem>.<split><suffix>`), or {"train": path}."""
    found = {}
    if path.suffix:
        for candidate in sorted(path.parent.glob(f"{path.stem}.*{path.suffix}")):
            name = candidate.name[len(path.stem) + 1:-len(path.suffix)]
            if name.isidentifier() and name != "rejects":
                found[name] = candidate
    if path.exists() and "train" not in found:
        found["train"] = path
    return found


def from_rows(path: str | os.PathLike, validation: str | os.PathLike | None = None) -> TrainData:
    """Tokenized rows from a file or folder (and its split files), tasks numbered by name."""
    path = Path(path)
    files = split_files(path)
    if "train" not in files:
        raise DataError(f"{path}: no such file (nor {path.stem}.train{path.suffix})")
    tasks: dict[str, int] = {}
    train = _examples(files["train"], tasks)
    val_path = Path(validation) if validation else files.get(VALIDATION)  # a `test` split stays held out
    val = _examples(val_path, tasks) if val_path else []
    return TrainData(train, val, list(tasks) or ["default"])


def _examples(path: Path, tasks: dict[str, int]) -> list[dict]:
    """The checked examples of one file; `tasks` grows with the task names met."""
    out = []
    for number, row in enumerate(_read(path), 1):
        ids, labels = row.get("input_ids"), row.get("labels")
        if not isinstance(ids, list) or not ids:
            raise DataError(f"{path}: row {number}: no `input_ids`: is this the `tokenized` format?")
        if labels is None:  # an untagged corpus line: every token learned
            labels = list(ids)
        if len(labels) != len(ids):
            raise DataError(f"{path}: row {number}: {len(labels)} labels for {len(ids)} ids")
        task = str(row.get("task") or "default")
        out.append({"input_ids": ids, "labels": labels, "task": tasks.setdefault(task, len(tasks))})
    return out


def _read(path: Path) -> Any:
    """The rows of a JSONL file, a Parquet file or a `datasets` folder."""
    try:
        if path.is_dir() or path.suffix == ".parquet":
            import datasets

            data = (datasets.load_from_disk(str(path)) if path.is_dir()
                    else datasets.Dataset.from_parquet(str(path)))
            if isinstance(data, datasets.DatasetDict):
                data = data["train"]
            yield from data
            return
        with open(path, encoding="utf-8") as handle:
            for number, text in enumerate(handle, 1):
                if text.strip():
                    yield _json(path, number, text)
    except OSError as err:
        raise DataError(f"{path}: {err.strerror or err}") from None


def _json(path: Path, number: int, text: str) -> dict:
    try:
        row = json.loads(text)
    except ValueError as err:
        raise DataError(f"{path}:{number}: not JSON ({err})") from None
    if not isinstance(row, dict):
        raise DataError(f"{path}:{number}: a row is a JSON object")
    return row


def check_lengths(data: TrainData, context: int, too_long: str = "refuse") -> int:
    """Rows longer than the model's `context`: refused (DataError saying how many and the
    longest), or, with `too_long="drop"`, left out; the number dropped."""
    long = [ex for ex in data.train + data.validation if len(ex["input_ids"]) > context]
    if not long:
        return 0
    longest = max(len(ex["input_ids"]) for ex in long)
    if too_long != "drop":
        raise DataError(f"{len(long)} row(s) are longer than the model's context of {context:,} tokens (the longest "
                        f"has {longest:,}): leave them out with --too-long drop, or shorten the data")
    data.train = [ex for ex in data.train if len(ex["input_ids"]) <= context]
    data.validation = [ex for ex in data.validation if len(ex["input_ids"]) <= context]
    if not data.train:
        raise DataError(f"every training row is longer than the model's context of {context:,} tokens")
    return len(long)


def check_vocab(data: TrainData, vocab_size: int) -> None:
    """Every id must be a row of the model's embedding: else the data (or the tokenizer that made
    it) is not the model's."""
    top = max(max(ex["input_ids"]) for ex in data.train + data.validation)
    if top >= vocab_size:
        raise DataError(f"the data holds token id {top:,}, but the model has {vocab_size:,} embeddings: the rows "
                        f"were tokenized for another model")
