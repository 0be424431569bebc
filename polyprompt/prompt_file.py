"""What `polyprompt.load` gives: the session's `PromptFile` with the stages above it as methods.

The session sits below the dataset stage (tests/test_layering.py), so the methods that reach up
live here, at the top of the package: `PromptFile.dataset(...)` builds the file's fine-tune
datasets as `polyprompt dataset` does, with the same options, and writes the same bytes.

    >>> import polyprompt
    >>> pf = polyprompt.load("triage.prompt")
    >>> summary = pf.dataset("openai-sft", "out/tickets.jsonl")
    >>> summary.line()
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from .session import prompt_file as _session


class PromptFile(_session.PromptFile):
    """A `.prompt` file (see `polyprompt.session.PromptFile`: `compile`, `lower`, `prompts`...),
    whose `dataset` method builds its training files."""

    def dataset(self, format: str, output: str | os.PathLike, *, datasets: str | Iterable[str] | None = None,
                target: str | None = None, prompt: str | None = None, data: str | os.PathLike | None = None,
                bind: Mapping[str, str] | Iterable[str] = (), where: str | None = None, limit: int | None = None,
                holdout: Mapping[str, float] | Iterable[str] = (), seed: int | None = None,
                split: str | None = None, strict: bool = False, train_on: str = "last", dedup: bool = True,
                max_length: int | None = None, truncate: bool = False, workers: int = 1,
                progress: bool | None = None) -> Any:
        """Build the file's `dataset` blocks (`datasets`: the names of some; all by default) as
        `format` lines at `output`, or, with `prompt`, `data` and `bind`, a dataset given here
        instead of a block (`bind={"ticket": "row.body", "output": "row.label"}`, `holdout=
        {"validation": 10}`, `where`, `limit`, `seed`), as `polyprompt dataset` does with
        `--prompt`, `--data`, `--bind`, `--holdout`. The other options are the command's
        (docs/datasets.md). Returns the `Summary`; raises `polyprompt.dataset.DatasetError` for a
        dataset that cannot be built and `CompileError` for a file with errors."""
        from .dataset.pipeline import build
        from .session.compiled import CompileError

        names = [datasets] if isinstance(datasets, str) else list(datasets or ())
        source: Any = self
        if prompt is not None or data is not None or bind:
            names = self._command_line_dataset(prompt, data, bind, where, limit, holdout, seed, names)
            source = self._with_command_line_dataset(prompt, data, bind, where, limit, holdout, seed)
        errors = [d for d in source.diagnostics if d.is_error]
        if errors:
            raise CompileError(errors)
        return build(source, format, output, datasets=names or None, target=target, split=split, strict=strict,
                     train_on=train_on, dedup=dedup, max_length=max_length, truncate=truncate, workers=workers,
                     progress=progress)

    def _command_line_dataset(self, prompt, data, bind, where, limit, holdout, seed, names: list[str]) -> list[str]:
        """Check that the options of a dataset given here go together; the dataset to build: that one."""
        from .dataset.tasks import COMMAND_LINE, DatasetError

        if not (prompt and data and bind):
            raise DatasetError("a dataset given here needs `prompt`, `data` and at least one binding in `bind`")
        if names:
            raise DatasetError("`datasets` names blocks of the file; with `prompt` the dataset is the one given here")
        return [COMMAND_LINE]

    def _with_command_line_dataset(self, prompt, data, bind, where, limit, holdout, seed) -> Any:
        """This file with the dataset given here as a block, loaded (what `--prompt` ... builds)."""
        from .dataset.tasks import with_command_line_dataset

        bindings = [f"{k}={v}" for k, v in bind.items()] if isinstance(bind, Mapping) else list(bind)
        splits = [f"{k}={v}%" for k, v in holdout.items()] if isinstance(holdout, Mapping) else list(holdout)
        return with_command_line_dataset(self.path, prompt, str(data), bindings, where, limit, splits, seed)


def load(path: str | os.PathLike, root: str | None = None, text: str | None = None) -> PromptFile:
    """A `.prompt` file, checked on first need (with its imports); see `PromptFile`. `text`, when
    given, is the source in the file's place (its imports still resolve from the file's folder)."""
    return PromptFile(path, root, text)
