"""`--max-length N --truncate`: a tokenized row longer than N is cut from its start (the prompt
side), its whole answer kept, and counted; without `--truncate` it is rejected (tests/test_dataset.py)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import EXAMPLES
from polyprompt import dataset


def lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "review_moderation.prompt", tmp_path / "moderation.prompt")
    (tmp_path / "data").mkdir()
    shutil.copy(EXAMPLES / "data" / "moderation.jsonl", tmp_path / "data" / "moderation.jsonl")
    (tmp_path / "polyprompt.toml").write_text("")
    return tmp_path


def build(project, output, **options):
    return dataset.build(project / "moderation.prompt", "tokenized", project / output, split="train",
                         progress=False, **options)


def test_long_rows_are_cut_from_the_start_keeping_the_answer(project):
    whole = lines(project / build(project, "whole.jsonl").outputs["train"])
    summary = build(project, "cut.jsonl", max_length=60, truncate=True)
    cut = lines(summary.outputs["train"])
    assert len(cut) == len(whole) and summary.rejected == 0
    assert summary.truncated == sum(len(w["input_ids"]) > 60 for w in whole) > 0
    assert summary.tokens_cut == sum(max(len(w["input_ids"]) - 60, 0) for w in whole)
    for full, short in zip(whole, cut):
        n = min(60, len(full["input_ids"]))
        assert len(short["input_ids"]) == n
        for key in ("input_ids", "labels", "assistant_masks", "attention_mask"):
            assert short[key] == full[key][-n:]
        assert sum(short["assistant_masks"]) == sum(full["assistant_masks"])  # the whole answer kept
    assert "truncated" in summary.line() and summary.to_json()["truncated"] == summary.truncated


def test_a_row_whose_answer_does_not_fit_is_still_rejected(project):
    summary = build(project, "tiny.jsonl", max_length=3, truncate=True)
    assert summary.written == 0 and summary.truncated == 0
    reasons = [json.loads(line)["reason"] for line in Path(summary.rejects_path).read_text().splitlines()]
    assert reasons and all("the answer alone" in r for r in reasons)


def test_workers_and_the_command_line_cut_the_same(project):
    serial = build(project, "a.jsonl", max_length=60, truncate=True)
    parallel = build(project, "b.jsonl", max_length=60, truncate=True, workers=2)
    assert Path(serial.outputs["train"]).read_bytes() == Path(parallel.outputs["train"]).read_bytes()
    assert parallel.truncated == serial.truncated
    run = subprocess.run([sys.executable, "-m", "polyprompt", "dataset", str(project / "moderation.prompt"),
                          "--format", "tokenized", "-o", str(project / "c.jsonl"), "--split", "train",
                          "--max-length", "60", "--truncate", "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (project / "c.jsonl").read_bytes() == Path(serial.outputs["train"]).read_bytes()
    assert f"{serial.truncated} truncated" in run.stderr
