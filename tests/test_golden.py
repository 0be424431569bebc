"""Golden request bodies: every example compiled for every API target and for
open-model families (their prompt text, token ids and stop ids).

tests/golden/<target>/<example>.json is the body; <example>.report.txt the
lowering report, when there is one. A model family's folder is named
`hf-family-<name>`, and its token-id lists are written on one line. A missing
file fails; `pytest --update-goldens` writes them, and the diff is reviewed in git.
"""
from __future__ import annotations

import json
import os
import re

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler.diagnostics import render_all

from hf_assets import asset
from helpers import EXAMPLES, REPO

GOLDEN = REPO / "tests" / "golden"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.prompt"))
#: Open-model families with a registry tokenizer (their bodies hold token ids), and one without.
MODEL_TARGETS = ["hf-family:qwen3", "hf-family:llama-3.1", "hf-family:gemma-3", "hf-family:mistral-v3",
                 "hf-family:deepseek-v3", "hf-family:phi-4"]
TARGETS = backends.names() + MODEL_TARGETS


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


def dump_model_body(body) -> str:
    """`dump`, with lists of integers (token ids) on one line each."""
    return re.sub(r"\[\s+(-?\d+(?:,\s+-?\d+)*)\s+\]", lambda m: "[" + ", ".join(re.split(r",\s+", m.group(1))) + "]",
                  dump(body))


def golden_folder(target: str):
    return GOLDEN / target.replace(":", "-")


def _needs_tokenizer(target: str) -> None:
    """Model bodies hold token ids only where the registry tokenizer is installed: skip without it."""
    from polyprompt.backends.hf.families import family

    if target in MODEL_TARGETS and family(target).tokenizer is not None:
        asset(family(target).tokenizer)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_golden_body(path, target, request):
    _needs_tokenizer(target)
    write = dump_model_body if target in MODEL_TARGETS else dump
    try:
        result = compile_example(path, target)
        body, report = write(result.body), render_all(result.report)
    except polyprompt.CompileError as err:  # a target that cannot express the prompt: the errors are the golden
        body, report = None, render_all(err.diagnostics)
    folder = golden_folder(target)
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
