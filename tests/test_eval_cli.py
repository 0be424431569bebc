"""`polyprompt eval` on the command line (issue 15 item 3): the table, the report files written
atomically, gates and exit codes, clear errors."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from click.testing import CliRunner  # noqa: E402

from polyprompt.cli import cli  # noqa: E402
from polyprompt.evaluate.rows import load_rows  # noqa: E402

from helpers import EXAMPLES  # noqa: E402

EXAMPLE = str(EXAMPLES / "eval_moderation" / "eval_moderation.prompt")
LABELS = ["publish", "reject", "needs_review"]


@pytest.fixture
def replies(tmp_path):
    """Replies of two API targets on the example's test split: openai-chat right on every row but
    one, anthropic wrong on every third row; each right on its test block."""
    rows = load_rows(EXAMPLE, split="test").rows
    lines = []
    for i, row in enumerate(rows):
        wrong = LABELS[(LABELS.index(row.expected) + 1) % 3]
        lines.append({"row": row.number, "target": "openai-chat", "latency_ms": 200 + i, "reply": {"choices": [
            {"finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(
                {"value": row.expected if i != 4 else wrong})}}], "usage": {"prompt_tokens": 150, "completion_tokens": 5}}})
        lines.append({"row": row.number, "target": "anthropic", "reply": {"stop_reason": "end_turn", "content": [
            {"type": "text", "text": json.dumps({"value": wrong if i % 3 == 0 else row.expected})}]}})
    for title, value in (("harsh but honest is published", "publish"), ("a phone number is personal data", "reject")):
        for target in ("openai-chat", "anthropic"):
            lines.append({"test": title, "target": target, "reply": value})
    path = tmp_path / "replies.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, ["eval", *args])


def test_two_targets_side_by_side_with_report_files(tmp_path, replies):
    out = tmp_path / "report"
    result = run(EXAMPLE, "--split", "test", "-t", "openai-chat", "-t", "anthropic", "--replies", replies,
                 "-o", str(out), "--resamples", "300")
    assert result.exit_code == 0, result.output
    table = result.stdout
    assert "split test · 19 rows · enum output" in table
    assert "accuracy            0.947 [0.754, 0.991]  0.632 [0.410, 0.809]" in table  # 18/19 and 12/19, Wilson
    assert "openai-chat - anthropic  accuracy: +0.316" in table and "(McNemar)" in table
    assert "openai-chat: 2/2 passed" in table and "anthropic: 2/2 passed" in table
    assert sorted(p.name for p in out.iterdir()) == ["confusion-anthropic.png", "confusion-openai-chat.png",
                                                     "metrics.png", "predictions.jsonl", "report.html", "report.json"]
    page = (out / "report.html").read_text()
    assert "0.947" in page and "data:image/png;base64," in page  # the figures, and the plots inlined
    data = json.loads((out / "report.json").read_text())
    assert data["split"] == "test" and data["rows"] == 19 and data["partial"] is False
    openai = data["targets"][0]
    assert openai["metrics"]["accuracy"]["value"] == pytest.approx(18 / 19)
    assert openai["latency_ms"] == {"p50": 209.0, "p95": pytest.approx(217.1)}
    assert openai["tokens"] == {"input": 150 * 19, "output": 5 * 19}
    assert data["targets"][1]["latency_ms"] is None and data["targets"][1]["tokens"] is None  # not recorded
    assert set(openai["per_class"]) == set(LABELS)
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == 38
    assert set(predictions[0]) == {"row", "target", "expected", "value", "text", "correct", "error", "parse_error",
                                   "latency_ms"}
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_gate_exits_1(replies):
    result = run(EXAMPLE, "--split", "test", "-t", "openai-chat", "-t", "anthropic", "--replies", replies,
                 "--fail-under", "accuracy=0.8", "--resamples", "200", "--no-plots")
    assert result.exit_code == 1
    assert "accuracy >= 0.8  openai-chat: 0.947 pass" in result.stdout
    assert "accuracy >= 0.8  anthropic: 0.632 FAIL" in result.stdout
    ok = run(EXAMPLE, "--split", "test", "-t", "openai-chat", "--replies", replies, "--fail-under", "accuracy=0.8",
             "--fail-under", "expects=1", "--resamples", "200")
    assert ok.exit_code == 0, ok.output


def test_json_output_is_the_report(replies):
    result = run(EXAMPLE, "--split", "test", "-t", "openai-chat", "--replies", replies, "--json", "--resamples", "200")
    data = json.loads(result.stdout)
    assert data["targets"][0]["label"] == "openai-chat" and data["comparisons"] == []


@pytest.mark.parametrize("args, message", [
    (["--fail-under", "accuracy"], "--fail-under `accuracy`: write METRIC=THRESHOLD"),
    (["--fail-under", "bleu=0.3"], "--fail-under bleu: no such metric"),
    (["--split", "holdout"], "has no split `holdout`; its splits: test, train"),
    (["--data", "x.jsonl"], "a dataset from the command line needs --data and at least one --bind"),
])
def test_bad_options_are_one_clear_line(replies, args, message):
    result = run(EXAMPLE, "-t", "openai-chat", "--replies", replies, *args)
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_a_bad_regex_is_a_usage_error(replies):
    result = run(EXAMPLE, "-t", "openai-chat", "--replies", replies, "--regex", "(")
    assert result.exit_code == 2 and "--regex" in result.output


def test_a_report_folder_that_is_a_file(tmp_path, replies):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(EXAMPLE, "--split", "test", "-t", "openai-chat", "--replies", replies, "-o", str(blocker))
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_the_docs_example_run_is_real_output(tmp_path, monkeypatch):
    """docs/evaluation.md's transcript is what the command prints, figure for figure."""
    import shlex

    from helpers import REPO

    doc = (REPO / "docs" / "evaluation.md").read_text(encoding="utf-8")
    block = doc.split("```console\n", 1)[1].split("\n```", 1)[0].splitlines()
    command = next(line for line in block if line.startswith("$ polyprompt eval"))
    shown = block[block.index(command) + 1:block.index("$ echo $?")]
    args = shlex.split(command[len("$ polyprompt "):])
    args[args.index("-o") + 1] = str(tmp_path / "report")
    monkeypatch.chdir(EXAMPLES / "eval_moderation")
    result = CliRunner().invoke(cli, args)
    assert result.stdout.splitlines() == shown
    assert result.exit_code == int(block[block.index("$ echo $?") + 1])
