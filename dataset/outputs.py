"""Where a build writes: the output path of each split, the rejects file, the progress bar, and
`Outputs`, which runs them for one build (`pipeline.build` and `corpus.build_corpus` alike)."""
from __future__ import annotations

import os
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


class Outputs:
    """One build's outputs: a writer per split, the rejects file and the progress bar, counted in
    `summary`. Used as a context: on success every file is put in place, on any error none is
    (a data file that cannot be read becomes a DatasetError)."""

    def __init__(self, output: str | os.PathLike, names: list[str], split: str | None, summary: Any, strict: bool,
                 progress: bool | None):
        self.paths = output_paths(Path(output), names, split)
        self.summary, self.strict = summary, strict
        summary.by_split.update(dict.fromkeys(self.paths, 0))  # every output is listed, an empty one too
        self.writers = {name: writers.open_writer(path) for name, path in self.paths.items()}
        self.rejects = RejectsFile(Path(output))
        self.bar = progress_bar(progress)

    def read(self) -> None:
        """Count one row read."""
        self.summary.read += 1
        if self.bar is not None:
            self.bar.update(1)

    def reject(self, found: Any) -> None:
        """Report a row not written (a `Reject`): counted and kept, or the end of a `strict` build."""
        if self.strict:
            raise DatasetError(f"{found} (--strict stops at the first bad row)")
        self.summary.rejected += 1
        self.rejects.add(found)

    def write(self, split: str, task: str, line: dict, text: str) -> None:
        """Write one line (and its JSON text) to its split's output, or count it in another split."""
        writer = self.writers.get(split)
        if writer is None:
            self.summary.other_splits += 1
            return
        writer.write(text)
        self.summary.count(split, task, line, text)
        if self.bar is not None:
            self.bar.set_postfix(written=self.summary.written, rejected=self.summary.rejected, refresh=False)

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        from . import sources

        if self.bar is not None:
            self.bar.close()
        if kind is not None:
            abort(self.writers, self.rejects)
            if isinstance(error, sources.DataError):
                raise DatasetError(str(error)) from None
            return
        for writer in self.writers.values():
            writer.commit()
        self.summary.outputs = {name: str(path) for name, path in self.paths.items()}
        self.summary.rejects_path = self.rejects.commit()
