"""Length statistics of the lines of one split: tokens for tokenized rows, else characters."""
from __future__ import annotations

from collections import Counter
from typing import Any


def line_length(line: dict[str, Any], text: str) -> int:
    """A line's length: its token count when it holds ids, else the characters of its JSON text."""
    ids = line.get("input_ids")
    return len(ids) if isinstance(ids, list) else len(text)


class LengthStats:
    """Count, min, mean, median, 95th percentile and max of the lengths added. Kept as a count per
    distinct length: exact, and as small for a million lines as for ten (lines have few lengths)."""

    def __init__(self, unit: str):
        self.unit = unit
        self.counts: Counter[int] = Counter()

    def add(self, length: int) -> None:
        """Count one line's length."""
        self.counts[length] += 1

    def to_json(self) -> dict[str, Any]:
        """The statistics as a JSON object (empty but the unit when no line was counted)."""
        n = sum(self.counts.values())
        if not n:
            return {"unit": self.unit, "count": 0}
        lengths = sorted(self.counts)
        total = sum(length * k for length, k in self.counts.items())
        return {"unit": self.unit, "count": n, "min": lengths[0], "mean": round(total / n, 1),
                "median": self._rank(lengths, n // 2), "p95": self._rank(lengths, min(n - 1, (95 * n) // 100)),
                "max": lengths[-1]}

    def _rank(self, lengths: list[int], index: int) -> int:
        """The length of the line at `index` in length order."""
        seen = 0
        for length in lengths:
            seen += self.counts[length]
            if seen > index:
                return length
        return lengths[-1]

    def line(self) -> str:
        """One line for the summary: `median 412 tokens (p95 980, max 1,530)`."""
        j = self.to_json()
        if not j["count"]:
            return "no lines"
        return f"median {j['median']:,} {self.unit} (p95 {j['p95']:,}, max {j['max']:,})"
