"""The error corpus: realistic bad `.prompt` files and the diagnostics each must get.

Every file directly in tests/errors/ is one case. It starts with one comment
line per expected diagnostic (warnings too), in this form:

    // expect: PP200 12:5

(the code, then the 1-based line and column where the diagnostic starts). The
checker must report exactly that set of (code, line, col) for the file: none
missing, none extra, so a cascade or a lost error fails the case. Files in
tests/errors/lib/ are helpers imported by the cases; they must check clean.

Diagnostic paths are shown relative to the working folder, so the comparison
uses the code and position only; a diagnostic in any other file than the case
itself counts as an extra one.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from polyprompt.api import check_file
from polyprompt.compiler.diagnostics import CODES, render

CORPUS = Path(__file__).parent / "errors"
HELPERS = CORPUS / "lib"
CASES = sorted(CORPUS.glob("*.prompt"))
MIN_CASES = 48

_EXPECT = re.compile(r"//\s*expect:\s*(PP\d{3})\s+(\d+):(\d+)\s*$")
_EXPECT_LIKE = re.compile(r"//\s*expect\b")


def expectations(path: Path) -> set[tuple[str, int, int]]:
    """The `// expect:` lines at the top of a case (bytes decoded leniently: PP109 cases are not UTF-8)."""
    out: set[tuple[str, int, int]] = set()
    for line in path.read_bytes().decode("utf-8", errors="replace").splitlines():
        if not _EXPECT_LIKE.match(line):
            break
        m = _EXPECT.match(line)
        assert m, f"{path.name}: malformed expectation {line!r} (write `// expect: PP200 12:5`)"
        out.add((m.group(1), int(m.group(2)), int(m.group(3))))
    return out


def _same_file(shown: str, path: Path) -> bool:
    return Path(shown).resolve() == path.resolve()


def _key(diagnostic, path: Path) -> tuple:
    line, col = diagnostic.span.start_line_col
    if _same_file(diagnostic.span.file.path, path):
        return (diagnostic.code, line, col)
    return (diagnostic.code, diagnostic.span.file.path, line, col)


def _describe(diagnostics, keys) -> str:
    shown = [f"  {d.span.file.path}:{k[-2]}:{k[-1]}: {d.severity}[{d.code}]: {d.message}"
             for k, d in sorted(zip(keys, diagnostics), key=lambda kd: (len(kd[0]), kd[0][-2], kd[0][-1], kd[0][0]))]
    return "\n".join(shown) or "  (none)"


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no `// expect:` lines: every corpus file must expect a diagnostic"
    for code, _line, _col in expected:
        assert code in CODES, f"{path.name} expects {code}, which is not in CODES"

    _program, diagnostics = check_file(path)  # must not raise

    keys = [_key(d, path) for d in diagnostics]
    got = set(keys)
    missing = sorted(expected - got)
    extra = sorted(got - expected, key=str)
    assert not missing and not extra, (
        f"{path.name}: diagnostics differ from the `// expect:` lines\n"
        f"missing: {missing}\nextra:   {extra}\nreported:\n{_describe(diagnostics, keys)}"
    )

    for d in diagnostics:
        line, col = d.span.start_line_col
        assert d.severity in ("error", "warning", "info"), d
        assert d.message and d.message.strip() == d.message, f"{path.name}: bad message {d.message!r}"
        text = render(d)
        head = f"{d.span.file.path}:{line}:{col}: {d.severity}[{d.code}]:"
        first = text.splitlines()[0]
        assert first.startswith(head), f"{path.name}: rendered as {first!r}, expected it to start with {head!r}"
        assert "\r" not in text, f"{path.name}: the rendering holds a carriage return: {text!r}"
        if d.help:
            assert f"= help: {d.help}" in text


def test_corpus_size_and_coverage() -> None:
    assert len(CASES) >= MIN_CASES, f"the error corpus has {len(CASES)} files, fewer than {MIN_CASES}"
    covered = {code for path in CASES for code, _l, _c in expectations(path)}
    front_end = {code for code in CODES if code.startswith(("PP1", "PP2"))}
    assert not front_end - covered, f"no corpus file expects {sorted(front_end - covered)}"
    assert not covered - set(CODES), f"corpus expects codes not in CODES: {sorted(covered - set(CODES))}"


@pytest.mark.parametrize("path", sorted(HELPERS.glob("*.prompt")), ids=lambda p: f"lib-{p.stem}")
def test_corpus_helpers_are_clean(path: Path) -> None:
    assert not _EXPECT_LIKE.match(path.read_text(encoding="utf-8")), f"{path.name} is a helper, not a case"
    _program, diagnostics = check_file(path)
    assert diagnostics == [], "\n".join(render(d) for d in diagnostics)
