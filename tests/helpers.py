"""Helpers shared by the tests: the repository's folders, parsing shortcuts."""
from __future__ import annotations

from pathlib import Path

from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.build import parse_template
from polyprompt.compiler.parse import parse_source
from polyprompt.compiler.span import SourceFile

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
STDLIB = REPO / "stdlib"
SHARED = REPO.parent / "shared"


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
