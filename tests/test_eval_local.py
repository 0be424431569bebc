"""Local-model targets of `polyprompt eval` (issue 15 items 1, 3): the per-row function that can
be swapped, run/'s batched path when present, a model that fails mid-run, and (slow) the embedded
SmolLM2 evaluated for real on a few rows."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from polyprompt.cli import cli  # noqa: E402
from polyprompt.evaluate import Options, evaluate  # noqa: E402
from polyprompt.evaluate.choose import make_target  # noqa: E402
from polyprompt.evaluate.targets import LocalTarget  # noqa: E402
from polyprompt.run import local  # noqa: E402

from helpers import EXAMPLES  # noqa: E402

EXAMPLE = str(EXAMPLES / "eval_moderation" / "eval_moderation.prompt")
FAST = Options(resamples=200)


def _result(value):
    return local.RunResult(text=value, token_ids=(1, 2), value=value, finish_reason="choice")


def test_a_local_target_is_made_for_model_targets():
    target = make_target("tuned=hf-family:smollm2", None)
    assert isinstance(target, LocalTarget) and (target.label, target.target) == ("tuned", "hf-family:smollm2")


def test_the_per_row_function_answers_each_row():
    seen = []

    def run(compiled):
        seen.append(compiled)
        assert "token_ids" in compiled.body or "prompt" in compiled.body
        return _result("publish")

    report = evaluate(EXAMPLE, [LocalTarget("always-publish", "hf-family:smollm2", run=run)], split="test",
                      options=FAST)
    entry = report.to_json()["targets"][0]
    assert len(seen) == 19 + 2 and entry["answered_rows"] == 19  # the rows, then the 2 test blocks
    assert entry["per_class"]["publish"]["recall"]["value"] == 1.0
    assert entry["per_class"]["reject"]["recall"]["value"] == 0.0
    assert entry["latency_ms"]["p50"] >= 0 and entry["tokens"]["output"] == 2 * 19
    assert entry["tokens"]["input"] > 19 * 50  # the prompt's token ids, counted


def _fake_batched(monkeypatch) -> list:
    """run/batched.py replaced by a fake that records (function, rows, batch_size) of each call."""
    import sys
    import types

    calls: list = []

    def choose_many(compiled, batch_size=16):
        calls.append(("choose_many", len(compiled), batch_size))
        return [_result("reject") for _ in compiled]

    def generate_many(compiled, batch_size=8):
        calls.append(("generate_many", len(compiled), batch_size))
        return [_result("reject") for _ in compiled]

    fake = types.ModuleType("polyprompt.run.batched")
    fake.choose_many = choose_many  # type: ignore[attr-defined]
    fake.generate_many = generate_many  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "polyprompt.run.batched", fake)
    return calls


def test_run_batched_path_is_used_when_present(monkeypatch):
    """run/batched.py's choose_many, when run/ has it, scores a batch of choice rows in one call."""
    calls = _fake_batched(monkeypatch)
    report = evaluate(EXAMPLE, ["hf-family:smollm2"], split="test", options=FAST, batch_size=8)
    # 19 rows, then each of the 2 test blocks; every call scores its rows in one batch of 8
    assert calls == [("choose_many", 8, 8), ("choose_many", 8, 8), ("choose_many", 3, 8),
                     ("choose_many", 1, 8), ("choose_many", 1, 8)]
    assert report.to_json()["targets"][0]["per_class"]["reject"]["recall"]["value"] == 1.0


def test_batch_size_reaches_the_batched_scoring_from_the_command_line(monkeypatch):
    """`polyprompt eval --batch-size 5` hands the local model 5 rows at a time and asks run/batched.py
    for batches of 5 (before, the CLI had no such option and the batch was fixed at 8)."""
    calls = _fake_batched(monkeypatch)
    result = CliRunner().invoke(cli, ["eval", EXAMPLE, "--split", "test", "-t", "hf-family:smollm2",
                                      "--batch-size", "5", "--json", "--no-plots", "--resamples", "200"])
    assert result.exit_code == 0, result.output
    assert [c[1:] for c in calls[:4]] == [(5, 5), (5, 5), (5, 5), (4, 5)]
    assert json.loads(result.stdout)["targets"][0]["answered_rows"] == 19
    bad = CliRunner().invoke(cli, ["eval", EXAMPLE, "-t", "hf-family:smollm2", "--batch-size", "0"])
    assert bad.exit_code == 2 and "--batch-size" in bad.output


def test_a_text_output_is_generated_in_batches_of_the_batch_size(monkeypatch, tmp_path):
    """A free-text prompt goes to generate_many with the batch size (the Python API's `batch_size`)."""
    calls = _fake_batched(monkeypatch)
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "echo.prompt").write_text('prompt echo(word: str) -> str {\n  user "Say {{ word }}."\n}\n')
    (tmp_path / "words.jsonl").write_text("".join(json.dumps({"w": f"w{i}"}) + "\n" for i in range(7)))
    evaluate(str(tmp_path / "echo.prompt"), ["hf-family:smollm2"], data=str(tmp_path / "words.jsonl"),
             bind=["word=row.w", "output=row.w"], options=FAST, batch_size=3)
    assert calls == [("generate_many", 3, 3), ("generate_many", 3, 3), ("generate_many", 1, 3)]


def test_a_model_that_fails_mid_run(monkeypatch):
    calls = []

    def run(compiled):
        calls.append(1)
        if len(calls) > 5:
            raise local.ModelUnavailable("the model folder vanished")
        return _result("publish")

    report = evaluate(EXAMPLE, [LocalTarget("local", "hf-family:smollm2", run=run)], split="test", options=FAST,
                      batch_size=5)
    entry = report.to_json()["targets"][0]
    assert report.partial and entry["answered_rows"] == 5 and "vanished" in entry["failure"]


def test_a_parse_failure_of_a_generated_reply_is_counted():
    def run(compiled):
        return local.RunResult(text="hmm", token_ids=(5,), value=None, finish_reason="stop", error="not JSON")

    report = evaluate(EXAMPLE, [LocalTarget("local", "hf-family:smollm2", run=run)], split="test", options=FAST)
    entry = report.to_json()["targets"][0]
    assert entry["parse_failures"] == 19 and entry["metrics"]["accuracy"]["value"] == 0.0


@pytest.mark.slow
def test_smollm2_evaluated_for_real(tmp_path):
    """The embedded SmolLM2 answers 4 rows by log-likelihood; the CLI writes the report files."""
    pytest.importorskip("torch")
    try:
        local.default_model_dir()
    except local.ModelUnavailable as err:
        pytest.skip(str(err))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["eval", str(EXAMPLES / "review_moderation.prompt"), "-t", "hf-family:smollm2",
                                      "--data", str(EXAMPLES / "eval_moderation" / "reviews.jsonl"), "--limit", "4",
                                      "--bind", "review=row.text", "--bind", "rating=row.stars",
                                      "--bind", "product_title=row.product", "--bind", "output=row.label",
                                      "-o", str(out), "--resamples", "200"])
    assert result.exit_code in (0, 1), result.output
    data = json.loads((out / "report.json").read_text())
    entry = data["targets"][0]
    assert data["rows"] == 4 and entry["answered_rows"] == 4 and entry["parse_failures"] == 0  # a choice always parses
    assert not data["partial"] and entry["latency_ms"]["p50"] > 0
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 4 and all(p["value"] in ("publish", "reject", "needs_review") for p in lines)
    assert len(data["expects"]) == 3 and all(not e["skipped"] for e in data["expects"])  # the model answered them
    assert (out / "metrics.png").stat().st_size > 1000 and (out / "confusion-hf-family-smollm2.png").exists()
