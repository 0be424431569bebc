"""Where a build writes: the output path of each split, the rejects file, the progress bar."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import splits, writers
from .tasks import DatasetError


def output_paths(output: Path, names: list[str], split: str | None) -> dict[str, Path]:
    """Split name -> output path: `output` itself for one split (or the one asked for), else
    `<stem>.<split><suffix>` for each."""
    if split is not None:
        if split not in names:
            raise DatasetError(f"no split `{split}`; splits: {', '.join(names)}")
        return {split: output}
    if len(names) == 1:
        return {splits.TRAIN: output}
    suffix = "".join(output.suffixes[-1:]) if writers.kind_of(output) != "hf" else ""
    stem = output.name[: len(output.name) - len(suffix)] if suffix else output.name
    return {name: output.with_name(f"{stem}.{name}{suffix}") for name in names}


class RejectsFile:
    """`<output stem>.rejects.jsonl` beside the output, written only when a row was rejected."""

    def __init__(self, output: Path):
        base = output.name[: -len(output.suffix)] if output.suffix else output.name
        self.path = output.with_name(f"{base}.rejects.jsonl")
        self.writer: writers.JsonlWriter | None = None

    def add(self, reject: Any) -> None:
        """Write one rejected row (a `Reject`)."""
        if self.writer is None:
            self.writer = writers.JsonlWriter(self.path)
        self.writer.write(writers.line_text(reject.to_json()))

    def commit(self) -> str | None:
        """Put the rejects file in place (or remove an old one when no row was rejected); its path."""
        if self.writer is None:
            if self.path.exists():
                self.path.unlink()  # an earlier run's rejects would describe other data
            return None
        self.writer.commit()
        return str(self.path)

    def abort(self) -> None:
        """Drop the rejects written."""
        if self.writer is not None:
            self.writer.abort()


def abort(out: dict, rejects: "RejectsFile") -> None:
    """Drop every output and the rejects file of a build that did not finish."""
    for writer in out.values():
        writer.abort()
    rejects.abort()


def progress_bar(progress: bool | None) -> Any:
    """A tqdm bar of rows read on stderr (rows/s, lines written, rejects), when asked for or when
    stderr is a terminal; None without tqdm or when not wanted."""
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(unit=" rows", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
