"""Helpers shared by the tests: the repository's folders, parsing shortcuts."""
from __future__ import annotations

import os
from pathlib import Path

from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.build import parse_template
from polyprompt.compiler.parse import parse_source
from polyprompt.compiler.span import SourceFile

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
STDLIB = REPO / "stdlib"
#: copies of the reference data the tests need (tests/data/README.md), so a clone runs them alone
REFDATA = REPO / "tests" / "data" / "refdata"
#: the project's shared folder beside the repository (a clone has none); POLYPROMPT_SHARED moves it
SHARED = Path(os.environ.get("POLYPROMPT_SHARED") or REPO.parent / "shared")


def shared(*parts: str) -> Path:
    """A path in the shared folder, or skip the calling test when it is not there."""
    import pytest

    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not there: this test needs the project's shared folder "
                    "(../shared beside the repository, or POLYPROMPT_SHARED)")
    return path


def parse(text: str, name: str = "t.prompt"):
    """Parse source text; returns (module, diagnostics)."""
    sink = Sink()
    module = parse_source(SourceFile(name, text), sink)
    return module, sink.sorted()


def template(text: str):
    """Parse a string token (quotes included); returns (template, diagnostics)."""
    sink = Sink()
    tpl = parse_template(text, 0, SourceFile("t", text), sink)
    return tpl, sink.sorted()


def prompt_files() -> list[Path]:
    """Every example and stdlib file: the inputs most tests run over."""
    return sorted(EXAMPLES.rglob("*.prompt")) + sorted(STDLIB.rglob("*.prompt"))


def compile_source(tmp_path, text: str, target: str, **inputs):
    """Compile source text (written to tmp_path/p.prompt) for a target."""
    import polyprompt

    path = tmp_path / "p.prompt"
    path.write_text(text)
    return polyprompt.load(path).compile(target, inputs=inputs)
