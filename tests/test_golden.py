"""Golden request bodies: every example compiled for every target.

tests/golden/<target>/<example>.json is the body; <example>.report.txt the
lowering report, when there is one. A missing file fails; `pytest
--update-goldens` writes them, and the diff is reviewed in git.
"""
from __future__ import annotations

import json
import os

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler.diagnostics import render_all

from helpers import EXAMPLES, REPO

GOLDEN = REPO / "tests" / "golden"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.prompt"))
TARGETS = backends.names()


def compile_example(path, target):
    inputs = json.loads(path.with_suffix(".input.json").read_text())
    cwd = os.getcwd()
    os.chdir(REPO)  # spans in reports are shown relative to the repository
    try:
        return polyprompt.load(path.relative_to(REPO)).compile(target, inputs=inputs)
    finally:
        os.chdir(cwd)


def dump(body) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_golden_body(path, target, request):
    try:
        result = compile_example(path, target)
        body, report = dump(result.body), render_all(result.report)
    except polyprompt.CompileError as err:  # a target that cannot express the prompt: the errors are the golden
        body, report = None, render_all(err.diagnostics)
    folder = GOLDEN / target
    body_file, report_file = folder / f"{path.stem}.json", folder / f"{path.stem}.report.txt"
    if request.config.getoption("--update-goldens"):
        folder.mkdir(parents=True, exist_ok=True)
        _write(body_file, body)
        _write(report_file, report + "\n" if report else None)
        return
    assert body_file.exists() or body is None, f"missing golden {body_file}: run pytest --update-goldens"
    if body is not None:
        assert body == body_file.read_text(), f"{body_file} differs"
    else:
        assert not body_file.exists(), f"{target} no longer compiles {path.name}"
    expected_report = report_file.read_text() if report_file.exists() else ""
    assert (report + "\n" if report else "") == expected_report, f"{report_file} differs"


def _write(path, text):
    if text is None:
        if path.exists():
            path.unlink()
    else:
        path.write_text(text)


def test_compiling_is_deterministic():
    path = EXAMPLES / "order_agent.prompt"
    assert dump(compile_example(path, "anthropic").body) == dump(compile_example(path, "anthropic").body)
