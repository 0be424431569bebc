"""How diagnostics are printed: a window around the span of a long line, escapes for what a
terminal would act on, and a count past a hundred per file (issue 12, items 11 and 16)."""
from __future__ import annotations

import polyprompt
from polyprompt.compiler.diagnostics import MAX_PER_FILE, WINDOW, render_all


def checked(tmp_path, text: str):
    path = tmp_path / "p.prompt"
    path.write_text(text)
    return polyprompt.check([path])


def test_terminal_escapes_are_shown_escaped_and_the_caret_still_points(tmp_path):
    out = render_all(checked(tmp_path, 'prompt p() {\n  user "a\x1b[31mred\x1b]0;x\x07 {{ nope }}"\n}\n'))
    assert "\x1b" not in out and "\x07" not in out
    line, caret = out.splitlines()[2:4]
    assert "\\x1b[31m" in line and "\\x07" in line
    start = caret.index("^")
    assert line[start:start + 4] == "nope" and caret.count("^") == 4


def test_a_long_line_is_shown_as_a_window_around_the_span(tmp_path):
    text = 'prompt p() {\n  user "' + "word " * 2000 + '{{ nope }}"\n}\n'
    out = render_all(checked(tmp_path, text))
    line, caret = out.splitlines()[2:4]
    assert len(line) <= WINDOW + 20 and line.startswith("2 | ...")
    start = caret.index("^")
    assert line[start:start + 4] == "nope"


def test_past_a_hundred_diagnostics_a_file_gets_a_count(tmp_path):
    """10,000 errors on one line printed about a gigabyte: now a hundred, a count, and small lines."""
    text = 'prompt p() {\n  user "' + "{{ nope }}" * 10_000 + '"\n}\n'
    diagnostics = checked(tmp_path, text)
    assert len(diagnostics) == 10_000
    out = render_all(diagnostics)
    assert out.count("error[PP200]") == MAX_PER_FILE
    assert out.endswith(f"p.prompt: and {10_000 - MAX_PER_FILE:,} more diagnostics not shown")
    assert len(out) < 60_000
