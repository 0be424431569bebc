"""docs/datasets.md runs: its files are written to a project, every `<!-- line: FORMAT DATASET -->`
block must equal the first line that format writes for that dataset, and the command shown with
its output must print exactly that output."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from helpers import REPO
from polyprompt import dataset

DOC = (REPO / "docs" / "datasets.md").read_text()
BLOCK = re.compile(r"<!-- (file|line): ([^>]+?) -->\n```[a-z]*\n(.*?)\n```", re.S)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("datasets-doc")
    (folder / "polyprompt.toml").write_text("")
    for kind, name, text in BLOCK.findall(DOC):
        if kind == "file":
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text + "\n")
    return folder


LINES = [(name, text) for kind, name, text in BLOCK.findall(DOC) if kind == "line"]


def test_every_format_has_an_example():
    """Every format but `tokenized`, whose lines are ids (tests/test_dataset_tokens.py checks them)."""
    assert sorted(name.split()[0] for name, _ in LINES) == sorted(set(dataset.format_names()) - {"tokenized"})


@pytest.mark.parametrize("spec, expected", LINES, ids=[name for name, _ in LINES])
def test_each_example_line_is_what_the_format_writes(project, spec, expected):
    fmt, name = spec.split()
    summary = dataset.build(project / "triage.prompt", fmt, project / "out" / f"{fmt}.jsonl", datasets=[name],
                            split="train")
    first = json.loads((project / "out" / f"{fmt}.jsonl").read_text().splitlines()[0])
    assert first == json.loads(expected), summary.line()


def test_the_command_prints_what_the_doc_shows(project):
    command, output = re.search(r"```bash\n(polyprompt dataset [^\n]+)\n```\n\n```text\n(.*?)\n```", DOC, re.S).groups()
    args = command.split()[1:]
    run = subprocess.run([sys.executable, "-m", "polyprompt", *args], cwd=project, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert sorted((run.stdout + run.stderr).splitlines()) == sorted(output.splitlines())
