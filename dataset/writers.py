"""Training files, written atomically: JSONL, Parquet, or a Hugging Face `datasets` folder.

A writer streams lines into a hidden temporary file beside the output and renames it over the
output only when every line is written (`commit`), so an interrupted run leaves no partial
output, and the old file, if any, stays whole. `abort` removes the temporary file. The same
lines give the same bytes on every run (keys keep their order, no timestamps).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

#: Output kinds by suffix; a path without one of these suffixes is a `datasets` folder.
SUFFIXES = {".jsonl": "jsonl", ".parquet": "parquet"}
#: bytes a JSONL writer holds before a system call: a tokenized line is a few KB, and the default
#: 8 KiB buffer made a write system call every third line (more time than writing the text)
BUFFER = 1 << 20


def _make_encode() -> Any:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` without building an encoder
    per call (json.dumps does, for any non-default option: a third of a short line's time). The
    same C encoder and options, so the same text."""
    from json.encoder import encode_basestring

    try:
        from _json import make_encoder
    except ImportError:  # not CPython's _json
        return lambda value: json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    default = json.JSONEncoder().default  # raises TypeError for a value JSON has no form for
    # no circular check (lines are trees of JSON data; a markers dict shared by calls would keep
    # the ids of a call that failed, and refuse a later value that reuses one)
    encode = make_encoder(None, default, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_encode = _make_encode()


def line_text(line: dict[str, Any]) -> str:
    """A line's compact JSON text, as every writer stores it (UTF-8, no spaces): the text a format
    wrote with the line (`TextLine`), else its JSON."""
    text = line.text if type(line) is TextLine else None
    return text if text is not None else _encode(line)


class TextLine(dict):
    """A line that carries its compact JSON text, written by its format faster than `json.dumps`
    writes it, and equal to it (tests/test_dataset_speed.py proves it on random lines); `cut`: the
    tokens cut from its start (`truncate`). Setting a key drops the text: `line_text` writes it again."""

    def __init__(self, text: str, cut: int = 0, /, **items: Any):
        super().__init__(**items)
        self.text: str | None = text
        self.cut = cut

    def __setitem__(self, key: str, value: Any) -> None:
        self.text = None
        super().__setitem__(key, value)


def kind_of(path: Path) -> str:
    """`jsonl`, `parquet`, or `hf` (a folder for `datasets.load_from_disk`)."""
    return SUFFIXES.get(path.suffix.lower(), "hf")


def open_writer(path: str | os.PathLike) -> "Writer":
    """A writer for the output path, by its kind."""
    path = Path(path)
    return {"jsonl": JsonlWriter, "parquet": ParquetWriter, "hf": HfFolderWriter}[kind_of(path)](path)


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path: Path) -> None:
    """Remove temporary files an earlier, killed run left beside `path` (its own pattern only)."""
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


class Writer:
    """Lines in, one output file (or folder) out, all or nothing."""

    def __init__(self, path: Path):
        self.path = path
        self.count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        self.temp = _temp_beside(path)

    def write(self, text: str) -> None:
        """Add one line: its compact JSON text (`line_text`), without the line end."""
        raise NotImplementedError

    def commit(self) -> None:
        """Put the output in place (rename over the old one)."""
        raise NotImplementedError

    def abort(self) -> None:
        """Drop what was written; the old output, if any, stays."""
        if self.temp.is_dir():
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


class JsonlWriter(Writer):
    """JSON Lines: one compact JSON object a line, UTF-8, `\\n` line ends."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.handle = open(self.temp, "w", encoding="utf-8", newline="\n", buffering=BUFFER)

    def write(self, text: str) -> None:
        """Add one line."""
        self.handle.write(text)
        self.handle.write("\n")
        self.count += 1

    def commit(self) -> None:
        """Flush, sync and rename the file into place."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        """Close and remove the temporary file."""
        self.handle.close()
        super().abort()


class _ViaDatasets(Writer):
    """A file or folder built by `datasets` from the lines: they are streamed into a temporary
    JSONL file, which `datasets` reads into Arrow (unifying each column's type over every line,
    so a key first seen late, or null in early lines, is kept), in a temporary cache removed after."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.lines = JsonlWriter(self.temp.with_name(self.temp.name + ".jsonl"))

    def write(self, text: str) -> None:
        """Add one line."""
        self.lines.write(text)
        self.count += 1

    def commit(self) -> None:
        """Build the output from the lines and rename it into place."""
        import datasets

        self.lines.commit()
        cache = self.temp.with_name(self.temp.name + ".cache")
        try:
            with _quiet(datasets):
                data = (datasets.Dataset.from_json(str(self.lines.path), cache_dir=str(cache)) if self.count
                        else datasets.Dataset.from_list([]))
                self.save(data)
        finally:
            self.lines.path.unlink(missing_ok=True)
            shutil.rmtree(cache, ignore_errors=True)
        if self.path.is_dir():
            shutil.rmtree(self.path)
        os.replace(self.temp, self.path)

    def save(self, data: Any) -> None:
        """Write `data` (a `datasets.Dataset`) to the temporary path."""
        raise NotImplementedError

    def abort(self) -> None:
        """Remove the temporary lines, cache and output."""
        self.lines.abort()
        self.lines.path.unlink(missing_ok=True)
        super().abort()


class ParquetWriter(_ViaDatasets):
    """Parquet (nested messages as Arrow structs and lists), as `datasets.Dataset.to_parquet` writes it."""

    def save(self, data: Any) -> None:
        """Write the Parquet file."""
        data.to_parquet(str(self.temp))


class HfFolderWriter(_ViaDatasets):
    """A folder `datasets.load_from_disk` opens."""

    def save(self, data: Any) -> None:
        """Write the Arrow folder."""
        data.save_to_disk(str(self.temp))


class _quiet:
    """`datasets` without its progress bars (they would interleave with polyprompt's)."""

    def __init__(self, datasets: Any):
        self.datasets = datasets

    def __enter__(self) -> None:
        self.was = self.datasets.utils.logging.is_progress_bar_enabled()
        self.datasets.utils.logging.disable_progress_bar()

    def __exit__(self, *exc: Any) -> None:
        if self.was:
            self.datasets.utils.logging.enable_progress_bar()
