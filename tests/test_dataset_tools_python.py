"""`polyprompt.load(path).dataset(...)` (issue 13, item 5): the command's options from Python, the
same bytes as `polyprompt dataset` (every split file and the rejects file), the same errors as
exceptions; and the tool-call example of docs/datasets.md is what the formats write."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import polyprompt
from polyprompt.dataset import DatasetError
from polyprompt.session import PromptFile as SessionPromptFile
from polyprompt.session.compiled import CompileError
from test_dataset_docs import BLOCK, DOC


@pytest.fixture
def project(tmp_path):
    """The files of docs/datasets.md (the triage example, the tool-call example), and more tickets."""
    (tmp_path / "polyprompt.toml").write_text("")
    for kind, name, text in BLOCK.findall(DOC):
        if kind == "file":
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text + "\n")
    rows = [{"body": f"ticket {i}", "plan": "pro", "lang": "en" if i % 3 else "fr",
             "label": ["billing", "bug", "other", "refund"][i % 4]} for i in range(40)]
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "data" / "tickets.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def cli(project, *args) -> None:
    run = subprocess.run([sys.executable, "-m", "polyprompt", "dataset", *args], cwd=project, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr


def files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


CASES = {
    "blocks with splits": (["triage.prompt", "-f", "openai-sft"], "triage.prompt", ("openai-sft",), {}),
    "a dataset given here": (
        ["triage.prompt", "-f", "trl-conversational", "--prompt", "triage", "--data", "exports/tickets.jsonl",
         "--bind", "ticket=row.body", "--bind", "output=row.label", "--where", 'row.lang == "en"',
         "--holdout", "validation=20%", "--seed", "3", "--limit", "20", "--keep-duplicates"],
        "triage.prompt", ("trl-conversational",),
        dict(prompt="triage", data="exports/tickets.jsonl", bind={"ticket": "row.body", "output": "row.label"},
             where='row.lang == "en"', holdout={"validation": 20}, seed=3, limit=20, dedup=False)),
    "tool calls, tokenized": (["support.prompt", "-f", "tokenized", "-t", "hf-family:qwen3", "--train-on", "all"],
                              "support.prompt", ("tokenized",), dict(target="hf-family:qwen3", train_on="all")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_method_writes_the_bytes_the_command_writes(project, case, monkeypatch):
    args, path, (fmt,), options = CASES[case]
    (project / "cli").mkdir()
    (project / "py").mkdir()
    cli(project, *args, "-o", "cli/out.jsonl")
    monkeypatch.chdir(project)  # the command's relative paths (`--data`) are the working folder's
    pf = polyprompt.load(path)
    summary = pf.dataset(fmt, project / "py" / "out.jsonl", **options)
    assert files(project / "py") == files(project / "cli") and summary.written
    assert isinstance(pf, SessionPromptFile) and isinstance(pf, polyprompt.PromptFile)


def test_problems_are_the_commands_errors_as_exceptions(project, tmp_path):
    pf = polyprompt.load(project / "triage.prompt")
    with pytest.raises(DatasetError, match="needs `prompt`, `data` and at least one binding"):
        pf.dataset("openai-sft", tmp_path / "o.jsonl", prompt="triage")
    with pytest.raises(DatasetError, match="`datasets` names blocks of the file"):
        pf.dataset("openai-sft", tmp_path / "o.jsonl", datasets="tickets", prompt="triage", data="x.jsonl",
                   bind={"ticket": "row.body"})
    with pytest.raises(DatasetError, match="no dataset `nope`"):
        pf.dataset("openai-sft", tmp_path / "o.jsonl", datasets=["nope"])
    (project / "bad.prompt").write_text("prompt p( {\n")
    with pytest.raises(CompileError):
        polyprompt.load(project / "bad.prompt").dataset("openai-sft", tmp_path / "o.jsonl")
    with pytest.raises(CompileError, match=r"triage.prompt:\d+:\d+: error\[PP100\]"):  # at its place
        pf.dataset("openai-sft", tmp_path / "o.jsonl", prompt="triage", data="exports/tickets.jsonl",
                   bind={"ticket": "row.body +", "output": "row.label"})
    assert not (tmp_path / "o.jsonl").exists()


#: the answer turns docs/datasets.md shows: <!-- answer: FORMAT TARGET --> above a ```json block
ANSWERS = re.findall(r"<!-- answer: (\S+) (\S+) -->\n```json\n(.*?)\n```", DOC, re.S)


def test_the_doc_shows_an_answer_turn_of_every_format_that_writes_calls():
    assert sorted(fmt for fmt, _target, _text in ANSWERS) == ["openai-sft", "tokenized", "trl-conversational",
                                                               "vertex-sft"]


@pytest.mark.parametrize("fmt, target, expected", ANSWERS, ids=[a[0] for a in ANSWERS])
def test_each_answer_turn_of_the_doc_is_what_the_format_writes(project, fmt, target, expected):
    summary = polyprompt.load(project / "support.prompt").dataset(fmt, project / "out.jsonl", target=target)
    first = json.loads((project / "out.jsonl").read_text().splitlines()[0])
    if fmt == "tokenized":
        from transformers import AutoTokenizer

        from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir

        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir("qwen3")))
        learned = tok.decode([i for i, m in zip(first["input_ids"], first["assistant_masks"]) if m])
        assert learned == json.loads(expected)["learned"]
        return
    turn = first["contents"][-1] if fmt == "vertex-sft" else first["messages"][-1]
    assert turn == json.loads(expected), summary.line()
    if fmt == "openai-sft":  # and the whole line is OpenAI's
        from test_dataset import openai_line_validator

        assert not list(openai_line_validator("FineTuneChatRequestInput").iter_errors(first))
