"""`polyprompt.evaluate.evaluate` (issue 15 items 1, 3): rows from a dataset block or --data,
recorded replies of every API target's reply shape, parse failures counted, bad input with clear
errors, a target failing mid-run kept and marked partial, `expect` clauses in the report."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("sacrebleu")

import polyprompt  # noqa: E402
from polyprompt import backends  # noqa: E402
from polyprompt.evaluate import EvalError, Options, evaluate  # noqa: E402
from polyprompt.evaluate.targets import Answer, TargetFailed  # noqa: E402

from helpers import EXAMPLES  # noqa: E402

FAST = Options(resamples=200)
PROMPT = '''enum Label { spam, ham }

prompt classify(text: str) -> Label {
  user "Is this spam? {{ text }}"
}

test classify "an ad is spam" {
  text = "Buy now!!!"
  expect output == spam
}

dataset classify "mail" from "mail.jsonl" {
  text = row.body
  output = row.label
}
'''
LABELS = ["spam", "ham", "spam", "ham", "ham", "spam", "ham", "spam"]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "mail.prompt").write_text(PROMPT)
    (tmp_path / "mail.jsonl").write_text("".join(json.dumps({"body": f"mail {i}", "label": label}) + "\n"
                                                 for i, label in enumerate(LABELS)))
    return tmp_path


def provider_reply(target: str, text: str) -> dict:
    """A reply of the provider's real shape (as tests/test_replies.py's) holding `text`."""
    if target in ("openai-chat", "openai-compatible"):
        return {"id": "chatcmpl-1", "object": "chat.completion", "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}}
    if target == "mistral":
        return {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": [
            {"type": "text", "text": text}]}}], "usage": {"prompt_tokens": 21, "completion_tokens": 4}}
    if target == "ollama":
        return {"done": True, "done_reason": "stop", "message": {"role": "assistant", "content": text},
                "prompt_eval_count": 22, "eval_count": 5}
    if target == "anthropic":
        return {"type": "message", "stop_reason": "end_turn", "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": 23, "output_tokens": 6}}
    if target in ("gemini", "vertex"):
        return {"candidates": [{"finishReason": "STOP", "content": {"role": "model", "parts": [{"text": text}]}}],
                "usageMetadata": {"promptTokenCount": 24, "candidatesTokenCount": 7}}
    if target == "openai-responses":
        return {"status": "completed", "output": [{"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": text, "annotations": []}]}], "usage": {"input_tokens": 25, "output_tokens": 8}}
    if target == "bedrock-converse":
        return {"stopReason": "end_turn", "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "usage": {"inputTokens": 26, "outputTokens": 9}}
    raise AssertionError(target)


def reply_text(pf, target: str, value: str) -> str:
    """The text a target's structured output holds for `value` (wrapped in an object where it must be)."""
    output = pf.compile(target, {"text": "x"}).request.output
    return json.dumps({output.wrapped: value} if output.wrapped else value)


def write_replies(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def test_recorded_replies_of_every_api_target(project):
    """Each of the API targets answers from replies of its own shape: one wrong answer, one reply
    that does not parse (counted apart, never a crash), the rest right."""
    pf = polyprompt.load(project / "mail.prompt")
    targets = backends.names()
    assert len(targets) == 9
    lines = []
    for target in targets:
        for row, label in enumerate(LABELS, start=1):
            text = reply_text(pf, target, label if row != 2 else "spam")  # row 2 (ham) answered wrong
            if row == 3:
                text = "I cannot decide."  # no JSON, no label: a parse failure
            lines.append({"row": row, "target": target, "reply": provider_reply(target, text), "latency_ms": 100 + row})
    report = evaluate(str(project / "mail.prompt"), targets, replies=write_replies(project / "r.jsonl", lines),
                      options=FAST)
    data = report.to_json()
    assert data["output_kind"] == "enum" and data["rows"] == 8 and not data["partial"]
    for entry in data["targets"]:
        assert entry["metrics"]["accuracy"]["value"] == pytest.approx(6 / 8), entry["target"]
        assert entry["parse_failures"] == 1 and entry["errors"] == 0, entry["target"]
        assert entry["metrics"]["parse_failure_rate"]["value"] == pytest.approx(1 / 8)
        assert entry["confusion"]["labels"] == ["spam", "ham", "(no answer)"]
        assert entry["confusion"]["matrix"] == [[3, 0, 1], [1, 3, 0], [0, 0, 0]]
        assert entry["tokens"]["input"] > 0 and entry["latency_ms"]["p50"] == pytest.approx(104.5)
    assert len(data["comparisons"]) == 2 * 36  # every pair, accuracy (McNemar) and macro F1
    same = data["comparisons"][0]
    assert same["test"] == "mcnemar" and same["difference"] == 0 and same["p_value"] == 1.0
    assert len(report.predictions) == 9 * 8
    bad = [p for p in report.predictions if p["row"] == 3]
    assert all(p["parse_error"] and p["value"] is None and p["correct"] is False for p in bad)


def test_a_bare_label_and_prose_replies(project):
    """A reply that is the bare label (what `one_of` asks for) is an answer; a missing reply is an error."""
    lines = [{"row": 1, "target": "anthropic", "reply": provider_reply("anthropic", "spam")},
             {"row": 2, "target": "anthropic", "reply": "ham"}]  # a recorded text
    report = evaluate(str(project / "mail.prompt"), ["anthropic"], replies=write_replies(project / "r.jsonl", lines),
                      options=FAST)
    entry = report.to_json()["targets"][0]
    assert entry["errors"] == 6 and entry["parse_failures"] == 0
    assert entry["metrics"]["accuracy"]["value"] == pytest.approx(2 / 8)
    assert report.predictions[2]["error"] == "no recorded reply of anthropic for row 3"


def test_replies_for_rows_that_do_not_exist(project):
    lines = [{"row": 1, "target": "openai-chat", "reply": "spam"}, {"row": 9, "target": "openai-chat", "reply": "ham"}]
    with pytest.raises(EvalError, match=r"r.jsonl:2: a reply of openai-chat for row 9, but the data has rows 1-8"):
        evaluate(str(project / "mail.prompt"), ["openai-chat"], replies=write_replies(project / "r.jsonl", lines))


@pytest.mark.parametrize("line, message", [
    ("{not json", r"r.jsonl:1: not JSON"),
    ('{"row": 1, "reply": "x"}', r'r.jsonl:1: a line is \{"row": N, "target": T, "reply": ...\}'),
    ('{"row": "1", "target": "openai-chat", "reply": "x"}', r"r.jsonl:1: `row` must be a row number"),
])
def test_malformed_replies_files(project, line, message):
    (project / "r.jsonl").write_text(line + "\n")
    with pytest.raises(EvalError, match=message):
        evaluate(str(project / "mail.prompt"), ["openai-chat"], replies=str(project / "r.jsonl"))


def test_a_dataset_without_expected_outputs(project):
    (project / "mail.prompt").write_text(PROMPT.replace("  output = row.label\n", ""))
    with pytest.raises(EvalError, match="has no expected outputs: bind `output = row.<column>`"):
        evaluate(str(project / "mail.prompt"), ["openai-chat"])


def test_an_unknown_target_is_an_error(project):
    with pytest.raises(EvalError, match="unknown target `nope`"):
        evaluate(str(project / "mail.prompt"), ["nope"])


def test_a_split_the_dataset_does_not_have(project):
    with pytest.raises(EvalError, match="has no split `test`; its splits: train"):
        evaluate(str(project / "mail.prompt"), ["openai-chat"], split="test")


class Flaky:
    """A target of one's own that answers right, then fails at its fourth row."""
    label, target, kind = "flaky", "openai-chat", "custom"

    def __init__(self):
        self.calls = 0

    def answer_rows(self, compiled, rows):
        out = []
        for row in rows:
            if row == 4:
                raise TargetFailed("flaky: the connection dropped")
            out.append(Answer(LABELS[row - 1], LABELS[row - 1], latency_ms=1.0))
        return out

    def test_answer(self, title):
        return lambda compiled: "spam"


def test_a_target_failing_mid_run_keeps_its_rows_and_marks_the_report_partial(project):
    from polyprompt.evaluate.runner import run_target
    from polyprompt.evaluate.rows import load_rows

    report = evaluate(str(project / "mail.prompt"), [Flaky()], options=FAST, batch_size=1)
    data = report.to_json()
    assert data["partial"] and report.partial
    entry = data["targets"][0]
    assert entry["answered_rows"] == 3 and entry["failure"] == "flaky: the connection dropped"
    assert entry["metrics"]["accuracy"] == {**entry["metrics"]["accuracy"], "value": 1.0, "n": 3}
    assert [p["row"] for p in report.predictions] == [1, 2, 3]
    assert "stopped after 3 rows" in report.table()
    # batched: the rows of the failing batch are lost, those before it kept
    run = run_target(Flaky(), load_rows(str(project / "mail.prompt")), batch_size=2)
    assert list(run.answers) == [1, 2] and run.failure


def test_expect_clauses_run_for_each_target(project):
    lines = [{"test": "an ad is spam", "target": "openai-chat", "reply": provider_reply("openai-chat", '{"value": "spam"}')},
             {"test": "an ad is spam", "target": "gemini", "reply": provider_reply("gemini", '"ham"')}]
    lines += [{"row": r, "target": t, "reply": "spam"} for r in range(1, 9) for t in ("openai-chat", "gemini")]
    report = evaluate(str(project / "mail.prompt"), ["openai-chat", "gemini"], options=FAST,
                      replies=write_replies(project / "r.jsonl", lines), fail_under={"expects": 1.0})
    expects = report.to_json()["expects"]
    assert [(e["target"], e["passed"]) for e in expects] == [("openai-chat", True), ("gemini", False)]
    assert "fails for \"ham\"" in expects[1]["message"]
    gates = report.to_json()["gates"]
    assert [(g["target"], g["passed"]) for g in gates] == [("openai-chat", True), ("gemini", False)]
    assert not report.passed


def test_gates_and_their_names(project):
    lines = [{"row": r, "target": "openai-chat", "reply": label} for r, label in enumerate(LABELS, start=1)]
    replies = write_replies(project / "r.jsonl", lines)
    report = evaluate(str(project / "mail.prompt"), ["openai-chat"], replies=replies, options=FAST,
                      fail_under={"accuracy": 0.9, "macro_f1": 1.0})
    assert report.passed and [g["value"] for g in report.to_json()["gates"]] == [1.0, 1.0]
    with pytest.raises(EvalError, match="--fail-under chrf: no such metric for this prompt's output"):
        evaluate(str(project / "mail.prompt"), ["openai-chat"], replies=replies, fail_under={"chrf": 0.5})


def test_two_labels_of_one_target_and_a_command_line_dataset(project):
    """--data/--bind rows on the example's prompt; LABEL=TARGET tells two recordings apart."""
    data = project / "reviews.jsonl"
    data.write_text((EXAMPLES / "eval_moderation" / "reviews.jsonl").read_text())
    lines = []
    for r in range(1, 41):
        lines.append({"row": r, "target": "before", "reply": "publish"})
        lines.append({"row": r, "target": "after", "reply": json.loads(data.read_text().splitlines()[r - 1])["label"]})
    report = evaluate(str(EXAMPLES / "review_moderation.prompt"), ["before=openai-chat", "after=openai-chat"],
                      data=str(data), bind=["review=row.text", "rating=row.stars", "product_title=row.product",
                                            "output=row.label"], replies=write_replies(project / "r.jsonl", lines),
                      options=FAST)
    data_json = report.to_json()
    assert [t["label"] for t in data_json["targets"]] == ["before", "after"]
    assert data_json["rows"] == 40 and data_json["prompt"] == "moderate_review"
    after = data_json["targets"][1]["metrics"]["accuracy"]
    assert after["value"] == 1.0 and after["low"] < 1.0  # Wilson on 40 rows: never certain
    accuracy = data_json["comparisons"][0]
    assert accuracy["test"] == "mcnemar" and accuracy["difference"] < 0 and accuracy["p_value"] < 0.001
    # review_moderation's three tests have no recorded replies for these labels: skipped, not passed
    assert len(data_json["expects"]) == 6 and all(e["skipped"] for e in data_json["expects"])


def test_the_example_split(project):
    """The eval example's `split test 50% seed 3` picks the same rows every time."""
    from polyprompt.evaluate.rows import load_rows

    rows = load_rows(str(EXAMPLES / "eval_moderation" / "eval_moderation.prompt"), split="test")
    assert [r.number for r in rows.rows] == [1, 11, 17, 18, 19, 20, 21, 23, 24, 26, 27, 28, 29, 30, 31, 33, 36, 37, 40]
    assert rows.dataset == "labelled reviews" and rows.split == "test"


RECORD_PROMPT = '''enum Category { billing, bug }
type Ticket { category: Category, urgent: bool, amount?: float, tags: list[str] }

prompt triage(text: str) -> Ticket {
  user "Triage: {{ text }}"
}

dataset triage "tickets" from "tickets.jsonl" {
  text = row.text
  output = row.want
}
'''


def test_a_record_output_scored_field_by_field(tmp_path):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "t.prompt").write_text(RECORD_PROMPT)
    want = [{"category": "billing", "urgent": False, "amount": 20.0, "tags": ["refund"]},
            {"category": "bug", "urgent": True, "tags": ["crash", "ios"]},
            {"category": "bug", "urgent": False, "tags": []}]
    (tmp_path / "tickets.jsonl").write_text("".join(json.dumps({"text": f"t{i}", "want": w}) + "\n"
                                                    for i, w in enumerate(want)))
    got = [{"category": "billing", "urgent": False, "amount": 20.1, "tags": ["refund"]},
           {"category": "bug", "urgent": False, "tags": ["crash"]},
           {"category": "bug", "urgent": False, "tags": []}]
    lines = [{"row": i + 1, "target": "gemini", "reply": {"candidates": [{"content": {"parts": [{"text": json.dumps(g)}]}}]}}
             for i, g in enumerate(got)]
    report = evaluate(str(tmp_path / "t.prompt"), ["gemini"], replies=write_replies(tmp_path / "r.jsonl", lines),
                      options=Options(rel_tolerance=0.01, resamples=200),
                      fail_under={"urgent.accuracy": 0.9, "tags.recall": 0.5})
    entry = report.to_json()["targets"][0]
    assert report.to_json()["output_kind"] == "record"
    assert entry["metrics"]["exact_match"]["value"] == pytest.approx(1 / 3)
    fields = entry["fields"]
    assert fields["category"]["accuracy"]["value"] == 1.0
    assert fields["urgent"]["accuracy"]["value"] == pytest.approx(2 / 3)
    assert fields["amount"]["within_tolerance"]["value"] == 1.0  # 20.1 within 1%; absent on both sides
    assert fields["tags"]["recall"]["value"] == pytest.approx(2 / 3) and fields["tags"]["precision"]["value"] == 1.0
    assert [(g["metric"], g["passed"]) for g in report.to_json()["gates"]] == [("urgent.accuracy", False),
                                                                               ("tags.recall", True)]
    assert "urgent.accuracy" in report.table()


def test_a_text_output_with_chrf(tmp_path):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "s.prompt").write_text('prompt title(text: str) {\n  user "A title for: {{ text }}"\n}\n\n'
                                       'dataset title "titles" from "titles.jsonl" {\n  text = row.text\n'
                                       '  output = row.title\n}\n')
    (tmp_path / "titles.jsonl").write_text("".join(json.dumps({"text": "x", "title": t}) + "\n"
                                                   for t in ("Fix the login bug", "Add dark mode", "Faster builds")))
    replies = ["Fix the login bug", "add dark mode!", "Speed up the build"]
    lines = [{"row": i + 1, "target": "ollama", "reply": provider_reply("ollama", r)} for i, r in enumerate(replies)]
    report = evaluate(str(tmp_path / "s.prompt"), ["ollama"], replies=write_replies(tmp_path / "r.jsonl", lines),
                      options=Options(resamples=200, regex="^[A-Z]"))
    metrics = report.to_json()["targets"][0]["metrics"]
    assert report.to_json()["output_kind"] == "text"
    assert (metrics["exact_match"]["value"], metrics["normalized_match"]["value"]) == (pytest.approx(1 / 3),
                                                                                       pytest.approx(2 / 3))
    assert metrics["regex"]["value"] == pytest.approx(2 / 3)
    assert 0.3 < metrics["chrf"]["value"] < 1 and metrics["chrf"]["low"] <= metrics["chrf"]["value"]


def test_a_file_with_errors_or_a_bad_binding_shows_the_diagnostics(project):
    (project / "bad.prompt").write_text(PROMPT.replace("output = row.label", "output = row.label +"))
    with pytest.raises(EvalError, match="bad.prompt has errors:\n.*bad.prompt:"):
        evaluate(str(project / "bad.prompt"), ["openai-chat"])
    with pytest.raises(EvalError, match="has errors:\n.*undefined_name"):
        evaluate(str(project / "mail.prompt"), ["openai-chat"], prompt="classify", data=str(project / "mail.jsonl"),
                 bind=["text=undefined_name", "output=row.label"])


def test_a_target_that_cannot_compile_fails_instead_of_scoring_errors(project):
    report = evaluate(str(project / "mail.prompt"), ["hf:" + str(project / "no-such-model")], options=FAST)
    entry = report.to_json()["targets"][0]
    assert report.partial and entry["answered_rows"] == 0
    assert entry["failure"].startswith(f"hf:{project}/no-such-model cannot compile the prompt: ")
