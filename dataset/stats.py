"""Length statistics of the lines of one split: tokens for tokenized rows, else characters."""
from __future__ import annotations

from array import array
from typing import Any


def line_length(line: dict[str, Any], text: str) -> int:
    """A line's length: its token count when it holds ids, else the characters of its JSON text."""
    ids = line.get("input_ids")
    return len(ids) if isinstance(ids, list) else len(text)


class LengthStats:
    """Count, min, mean, median, 95th percentile and max of the lengths added (kept compactly)."""

    def __init__(self, unit: str):
        self.unit = unit
        self.values = array("l")

    def add(self, length: int) -> None:
        """Count one line's length."""
        self.values.append(length)

    def to_json(self) -> dict[str, Any]:
        """The statistics as a JSON object (empty but the unit when no line was counted)."""
        if not self.values:
            return {"unit": self.unit, "count": 0}
        ordered = sorted(self.values)
        n = len(ordered)
        return {"unit": self.unit, "count": n, "min": ordered[0], "mean": round(sum(ordered) / n, 1),
                "median": ordered[n // 2], "p95": ordered[min(n - 1, (95 * n) // 100)], "max": ordered[-1]}

    def line(self) -> str:
        """One line for the summary: `median 412 tokens (p95 980, max 1,530)`."""
        j = self.to_json()
        if not j["count"]:
            return "no lines"
        return f"median {j['median']:,} {self.unit} (p95 {j['p95']:,}, max {j['max']:,})"
