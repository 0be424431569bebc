"""The standard library, written in the language itself.

`import std.output` loads `std/output.prompt` from this package. The modules
are checked and formatted in CI like any other `.prompt` file.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

if __name__ != "polyprompt.stdlib":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.stdlib, not {__name__!r} (repo root is on sys.path)")


def find(dotted: str) -> Path | None:
    """The file of a stdlib module such as `std.output`, or None."""
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "std" or not all(p.isidentifier() for p in parts):
        return None
    path = Path(str(resources.files(__name__).joinpath(*parts[:-1], parts[-1] + ".prompt")))
    return path if path.is_file() else None


def modules() -> list[str]:
    """Dotted names of every stdlib module."""
    base = Path(str(resources.files(__name__)))
    return sorted("std." + p.stem for p in (base / "std").glob("*.prompt"))
