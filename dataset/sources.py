"""Rows of training data, read from JSONL, JSON, CSV/TSV, Parquet or a `datasets` folder.

`read_rows(path)` yields, in file order, a `Row` for every record and a `BadRow` for every
record that cannot be read (a truncated JSONL line, bytes that are not UTF-8, a CSV line with a
stray quote...), each with its 1-based row number and, for text formats, its line and column:
a bad row is reported and counted, never dropped silently and never the end of the run. A file
that cannot be read at all (missing, not a regular file, not JSON) is a `DataError`.

Reading streams: JSONL, CSV and Parquet are read a record (or a batch) at a time, so memory
stays flat however long the file. A JSONL line longer than `MAX_LINE_BYTES` is a bad row; the
reader skips to the next line without holding it.
"""
from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

#: The longest JSONL line read (a longer one is a bad row, skipped without being held).
MAX_LINE_BYTES = 64 * 1024 * 1024
#: The largest JSON (not JSONL) file read whole.
MAX_JSON_BYTES = 512 * 1024 * 1024
#: The file kinds, by suffix.
KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
         ".parquet": "parquet", ".pq": "parquet"}


class DataError(Exception):
    """A data file that cannot be read at all; the message names the file (and line, column)."""


@attrs.frozen
class Row:
    """One record: its 1-based number in the file, its fields, and the line it starts on."""
    number: int
    data: dict[str, Any]
    line: int | None = None


@attrs.frozen
class BadRow:
    """A record that cannot be read: where it is and why."""
    number: int
    reason: str
    line: int | None = None
    column: int | None = None

    def where(self) -> str:
        """`row N (line L, column C)`, as much as is known."""
        at = f"line {self.line}" if self.line is not None else ""
        at += f", column {self.column}" if at and self.column is not None else ""
        return f"row {self.number}" + (f" ({at})" if at else "")


def kind_of(path: Path) -> str:
    """The data kind of a path: a `datasets` folder, or the kind its suffix names."""
    if path.is_dir():
        return "hf"
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise DataError(f"{path}: unknown data format `{path.suffix or path.name}`; use one of "
                        f"{', '.join(sorted(KINDS))} or a folder saved with `datasets.save_to_disk`")
    return kind


def read_rows(path: str | os.PathLike, kind: str | None = None) -> Iterator[Row | BadRow]:
    """Every record of the data file (or `datasets` folder), in order."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    kind = kind or kind_of(path)
    if kind != "hf" and not stat.S_ISREG(os.stat(path).st_mode):
        raise DataError(f"{path}: not a regular file")
    return READERS[kind](path)


def _jsonl(path: Path) -> Iterator[Row | BadRow]:
    number = 0
    with open(path, "rb") as handle:
        for line_no, raw in enumerate(_lines(handle), start=1):
            if raw is None:
                number += 1
                yield BadRow(number, f"the line is longer than {MAX_LINE_BYTES:,} bytes", line_no)
                continue
            if not raw.strip():
                continue  # blank lines hold no record
            number += 1
            yield _json_record(raw, number, line_no)


def _lines(handle) -> Iterator[bytes | None]:
    """The lines of a binary file, None for a line over the limit (skipped, never held whole)."""
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                pass
            yield None
        else:
            yield raw


def _json_record(raw: bytes, number: int, line_no: int) -> Row | BadRow:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return BadRow(number, f"the bytes are not UTF-8 ({err.reason})", line_no, err.start + 1)
    try:
        value = _loads(text)
    except json.JSONDecodeError as err:
        return BadRow(number, f"not JSON: {err.msg}", line_no, err.colno)
    except (ValueError, RecursionError) as err:  # a number of over 4,300 digits, nesting too deep
        return BadRow(number, f"not readable JSON: {err}" if isinstance(err, ValueError) else "nests too deep",
                      line_no)
    if not isinstance(value, dict):
        return BadRow(number, f"a row is a JSON object, not {_kind(value)}", line_no, 1)
    return Row(number, value, line_no)


def _loads(text: str) -> Any:
    """`json.loads(text)`: a line that is one JSON value, then JSON whitespace, is scanned at once
    (json.loads matches the whitespace around it with regexes: half its time on a short row);
    anything else (space first, a BOM, an error, more after the value) goes to json.loads itself,
    which says what it says."""
    try:
        value, end = _scan(text, 0)
    except (StopIteration, ValueError, RecursionError):
        return json.loads(text)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return json.loads(text)
    return value


#: the scanner json.loads uses (the same default options); it refuses space before a value
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # (set in __init__: typeshed lacks it)


def _json(path: Path) -> Iterator[Row | BadRow]:
    """A JSON array of objects (or an object whose one list-valued field holds them)."""
    from ..compiler.files import UnreadableFile, read_regular

    try:
        text = read_regular(path, MAX_JSON_BYTES).decode("utf-8")
    except (UnreadableFile, UnicodeDecodeError) as err:
        raise DataError(f"{path}: {err}") from None
    decoder = json.JSONDecoder()
    start = _array_start(text, path)
    pos, number = start, 0
    while True:
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == "]":
            return
        if number:
            if pos >= len(text) or text[pos] != ",":
                raise DataError(f"{path}:{_line_col(text, pos)}: expected `,` or `]` between rows")
            pos = _skip_space(text, pos + 1)
        number += 1
        line, col = _line_col_pair(text, pos)
        try:
            value, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}:{err.colno}: not JSON: {err.msg}") from None
        except RecursionError:
            raise DataError(f"{path}:{line}:{col}: the data nests too deep") from None
        except ValueError as err:
            raise DataError(f"{path}:{line}:{col}: {err}") from None
        yield Row(number, value, line) if isinstance(value, dict) else BadRow(
            number, f"a row is a JSON object, not {_kind(value)}", line, col)


def _array_start(text: str, path: Path) -> int:
    """Where the rows of a JSON file start: just after the `[` of a top-level array."""
    pos = _skip_space(text, 0)
    if text.startswith("[", pos):
        return pos + 1
    raise DataError(f"{path}: a JSON data file is an array of row objects (for one object a line, use .jsonl)")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_col_pair(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _line_col(text: str, pos: int) -> str:
    return "%d:%d" % _line_col_pair(text, pos)


def _delimited(delimiter: str):
    def read(path: Path) -> Iterator[Row | BadRow]:
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            try:
                yield from _csv_rows(handle, delimiter)
            except DataError as err:
                raise DataError(f"{path}: {err}") from None
    return read


def _csv_rows(handle: io.TextIOBase, delimiter: str) -> Iterator[Row | BadRow]:
    reader = csv.reader(handle, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as err:
        raise DataError(f"line 1: the header cannot be read ({err})") from None
    number, line = 0, reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            number += 1
            yield BadRow(number, f"not CSV: {err}", line)
            line = reader.line_num + 1
            continue
        if not cells:
            line = reader.line_num + 1
            continue
        number += 1
        yield _csv_record(header, cells, number, line)
        line = reader.line_num + 1


def _csv_record(header: list[str], cells: list[str], number: int, line: int) -> Row | BadRow:
    if len(cells) != len(header):
        return BadRow(number, f"{len(cells)} cells for {len(header)} columns", line)
    for i, cell in enumerate(cells):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return BadRow(number, f"column `{header[i]}`: the bytes are not UTF-8", line)
    return Row(number, dict(zip(header, cells)), line)


def _parquet(path: Path) -> Iterator[Row | BadRow]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow (pip install 'polyprompt[data]')") from None
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=1024)
        number = 0
        for batch in batches:
            for record in batch.to_pylist():
                number += 1
                yield Row(number, record)
    except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None


def _hf_folder(path: Path) -> Iterator[Row | BadRow]:
    try:
        import datasets
    except ImportError:
        raise DataError(f"{path}: reading a `datasets` folder needs datasets (pip install 'polyprompt[data]')") from None
    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not a folder saved with `datasets.save_to_disk` ({err})") from None
    if isinstance(loaded, datasets.DatasetDict):
        if "train" not in loaded:
            raise DataError(f"{path}: a DatasetDict without a `train` split; splits: {', '.join(loaded)}")
        loaded = loaded["train"]
    for number, record in enumerate(loaded, start=1):
        yield Row(number, dict(record))


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


READERS = {"jsonl": _jsonl, "json": _json, "csv": _delimited(","), "tsv": _delimited("\t"),
           "parquet": _parquet, "hf": _hf_folder}
