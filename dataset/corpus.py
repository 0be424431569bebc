"""Corpus datasets: plain domain text for continued pre-training (domain adaptation).

No prompt here: each row's text (a column of a JSONL, JSON, CSV/TSV or Parquet file, or of a
`datasets` folder) becomes one line, either `{"text": ...}` (TRL's language-modeling format: the
loss is on every token) or, for an open-model target, the tokenized row: the text's ids then the
model's end-of-sequence token, every token learned. Rows without text, or whose column is not a
string, are rejected with their number and counted, exactly as in `build`; duplicates, splits,
atomic writes and the summary are the same too.

    >>> from polyprompt.dataset.corpus import build_corpus
    >>> build_corpus("manuals.jsonl", "out/manuals.jsonl", column="body", holdout=[("validation", 5.0)])
"""
from __future__ import annotations

import os
from typing import Any, Sequence

from . import sources, splits, writers
from .outputs import Outputs
from .pipeline import Reject, Summary
from .seen import SeenLines
from .tasks import DatasetError

#: the corpus line formats
CORPUS_FORMATS = ("text", "tokenized")
TITLE = "corpus"


def build_corpus(data: str | os.PathLike, output: str | os.PathLike, *, format: str = "text", column: str = "text",
                 target: str | None = None, holdout: Sequence[tuple[str, float]] = (), seed: int = 0,
                 split: str | None = None, max_length: int | None = None, dedup: bool = True, strict: bool = False,
                 progress: bool | None = None) -> Summary:
    """Write the texts of `data`'s `column` as training lines in `format` (`text`, or `tokenized`
    for an open-model `target`) at `output`; `holdout` sets aside splits as (name, percent)."""
    if format not in CORPUS_FORMATS:
        raise DatasetError(f"a corpus is written as {' or '.join(CORPUS_FORMATS)}, not `{format}`")
    encode = _encoder(target) if format == "tokenized" else None
    summary = Summary()
    names = [splits.TRAIN] + sorted(name for name, _ in holdout)
    with SeenLines() as seen, Outputs(output, names, split, summary, strict, progress) as out:
        for row in sources.read_rows(data):
            out.read()
            found = _line(row, column, encode, max_length)
            if isinstance(found, Reject):
                out.reject(found)
                continue
            text = writers.line_text(found)
            if dedup and not seen.add(text):
                summary.duplicates += 1
                continue
            name = splits.split_of(splits.row_key(row.data), tuple(holdout), seed)  # type: ignore[union-attr]
            out.write(name, TITLE, found, text)
    return summary


def _line(row: Any, column: str, encode: Any, max_length: int | None) -> dict | Reject:
    """The line of one row, or why it has none."""
    if isinstance(row, sources.BadRow):
        return Reject(TITLE, "data", row.number, "row", row.reason, row.line, row.column)
    text = row.data.get(column)
    if not isinstance(text, str) or not text.strip():
        what = "missing" if column not in row.data else f"not text ({type(text).__name__})" if not isinstance(
            text, str) else "empty"
        return Reject(TITLE, "data", row.number, column, f"the text is {what}", row.line)
    if encode is None:
        return {"text": text}
    ids = encode(text)
    if max_length is not None and len(ids) > max_length:
        return Reject(TITLE, "data", row.number, "length", f"{len(ids):,} tokens, more than the maximum length "
                      f"{max_length:,}", row.line)
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)}


def _encoder(target: str | None) -> Any:
    """`text -> ids` for an open-model target: the text as data (never a control token), then the
    model's end-of-sequence token, as a pre-training document ends."""
    from .. import backends

    if not target or not target.startswith(("hf-family:", "hf:")):
        raise DatasetError("a tokenized corpus needs an open-model target: -t hf-family:<name> or -t hf:<dir>")
    backend = backends.get(target)()
    try:
        encoder = backend.encoder(bulk=True)
    except Exception:  # noqa: BLE001 (fastokens missing or refusing this tokenizer: the default engine serves)
        encoder = backend.encoder()
    if encoder is None:
        raise DatasetError(f"{target} has no tokenizer at hand: a tokenized corpus needs one")
    eos = encoder.token_to_id(encoder.eos_token) if encoder.eos_token else None
    tail = [eos] if eos is not None else []
    return lambda text: encoder.encode_text(text) + tail
