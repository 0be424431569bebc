"""The capability matrix of the targets, from their `Caps` tables.

Printed by `polyprompt targets` and kept in docs/targets.md (a test checks
that the document shows the current table).
"""
from __future__ import annotations

import attrs

from . import backends

COLUMNS = ("target", "system", "alternation", "tools", "media", "media by URL", "structured output", "cache",
           "settings")


def rows() -> list[dict]:
    """One row per registered target: name, family, default model, docs URL and its caps as plain values."""
    out = []
    for name in backends.names():
        cls = backends.get(name)
        caps = attrs.asdict(cls.caps, value_serializer=lambda _i, _a, v: sorted(v) if isinstance(v, frozenset) else v)
        out.append({"name": name, "family": cls.family, "default_model": getattr(cls, "default_model", None),
                    "docs": cls.docs, "caps": caps})
    return out


def _cells(row: dict) -> list[str]:
    c = row["caps"]
    cache = c["cache"] + (f" (max {c['max_cache_breakpoints']})" if c["max_cache_breakpoints"] else "")
    alternation = "strict, user first" if c["alternation"] and c["first_user"] else (
        "strict" if c["alternation"] else ("user first" if c["first_user"] else "free"))
    tools = ("yes, results as " + ("user turns" if c["tool_results"] == "user_turn" else "tool turns")) if c["tools"] else "no"
    return [row["name"], c["system"], alternation, tools, ", ".join(c["media"]) or "-",
            ", ".join(c["media_urls"]) or "-", c["structured_output"] or "as instructions", cache,
            ", ".join(c["settings"])]


def markdown() -> str:
    """The capability matrix as a Markdown table (the one in docs/targets.md)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cells(r)) + " |" for r in rows()]
    return "\n".join(lines)


def text() -> str:
    """The capability matrix as aligned plain-text columns, without the settings column."""
    table = [list(COLUMNS[:-1])] + [_cells(r)[:-1] for r in rows()]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)
