"""`polyprompt test`: snapshots per target and `expect` against recorded replies."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from polyprompt.session.prompt_tests import collect

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool }
prompt triage(ticket: str) -> Triage {
  user "{{ ticket }}"
}

test triage "double charge" {
  ticket = "I was charged twice"
  reply { category: "billing", urgent: false }
  expect category == billing and not urgent
}

test triage "recorded in a file" {
  ticket = "The app crashes"
  reply "replies/crash.json"
  expect output.category == bug
  expect urgent
}
'''


def write(tmp_path, text=PROMPT):
    (tmp_path / "replies").mkdir(exist_ok=True)
    (tmp_path / "replies" / "crash.json").write_text(json.dumps({"category": "bug", "urgent": False}))
    path = tmp_path / "t.prompt"
    path.write_text(text)
    return path


def test_snapshots_then_expectations(tmp_path):
    write(tmp_path)
    cases = collect([tmp_path])
    assert [str(c) for c in cases] == ["t.prompt::double charge", "t.prompt::recorded in a file"]
    first = cases[0].run(["openai-chat"], new="fail")
    assert not first.passed and "no snapshot" in first.outcomes[0].message and "--update" in first.outcomes[0].message
    assert all(c.run(["openai-chat", "anthropic"], update=True).outcomes[0].passed for c in cases)
    assert cases[0].run(["openai-chat", "anthropic"]).passed
    second = cases[1].run(["openai-chat"])
    assert [o.passed for o in second.outcomes] == [True, True, False]  # snapshot, output.category, urgent
    assert "fails for" in second.outcomes[2].message
    snapshot = json.loads(cases[0].snapshot("anthropic").read_text())
    assert snapshot["messages"][0]["content"][0]["text"] == "I was charged twice"


def test_a_changed_prompt_fails_its_snapshot(tmp_path):
    path = write(tmp_path)
    for case in collect([tmp_path]):
        case.run(["gemini"], update=True)
    path.write_text(PROMPT.replace('user "{{ ticket }}"', 'user "Ticket: {{ ticket }}"'))
    result = collect([tmp_path])[0].run(["gemini"])
    assert not result.passed and "differs" in result.outcomes[0].message


def test_cli_exit_codes(tmp_path):
    write(tmp_path)
    cli = [sys.executable, "-m", "polyprompt", "test", str(tmp_path), "-t", "openai-chat"]
    assert subprocess.run(cli + ["--ci"], capture_output=True).returncode == 1  # no snapshots yet
    assert subprocess.run(cli, capture_output=True).returncode == 1  # snapshots written; `expect urgent` fails
    (tmp_path / "replies" / "crash.json").write_text(json.dumps({"category": "bug", "urgent": True}))
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 tests passed, 0 failed" in out.stderr


def test_a_file_whose_errors_hide_its_tests_fails_the_run(tmp_path):
    """A syntax error can leave no `test` block to run: the file is still reported and counted."""
    write(tmp_path)
    (tmp_path / "broken.prompt").write_text("prompt p( {\n")
    cli = [sys.executable, "-m", "polyprompt", "test", str(tmp_path), "-t", "openai-chat", "--update"]
    subprocess.run(cli, capture_output=True)
    (tmp_path / "replies" / "crash.json").write_text(json.dumps({"category": "bug", "urgent": True}))
    out = subprocess.run(cli[:-1], capture_output=True, text=True)
    assert out.returncode == 1
    assert "broken.prompt:1:11: error[PP101]" in out.stderr
    assert "2 tests passed, 1 failed" in out.stderr


def test_a_recorded_reply_is_checked_against_the_output_type(tmp_path):
    """An `expect` is only evaluated on a reply of the output type: a missing field fails the test
    (it once made `expect urgent` hold, the bare name read as text), an unreadable file too; a
    strict-mode null for an absent optional field is fine."""
    text = PROMPT.replace("type Triage { category: Category, urgent: bool }",
                          "type Triage { category: Category, urgent: bool, note?: str }")
    write(tmp_path, text)
    crash = tmp_path / "replies" / "crash.json"
    for content, message in [('{"category": "bug"}', "'urgent' is a required property"),
                             ('{"category": "bug"', "replies/crash.json cannot be read as JSON"),
                             (b"\xff", "replies/crash.json cannot be read as JSON"),
                             ("[1, 2]", "is not of type 'object'")]:
        crash.write_bytes(content if isinstance(content, bytes) else content.encode())
        result = collect([tmp_path])[1].run([])
        assert not result.passed and message in result.outcomes[0].message, (content, result.outcomes)
    crash.write_text('{"category": "bug", "urgent": true, "note": null}')
    assert collect([tmp_path])[1].run([]).passed


NO_REPLY = PROMPT + '''
test triage "never answered" {
  ticket = "The app is slow"
  expect category == bug
  expect not urgent
}
'''


def test_an_expect_nothing_answered_is_skipped_not_passed(tmp_path):
    """Without a recorded reply (or a model) an `expect` was never evaluated: it is a skipped
    outcome, counted, never a "holds" (it used to be one passing outcome)."""
    write(tmp_path, NO_REPLY)
    case = collect([tmp_path])[2]
    result = case.run([])
    assert result.skipped == 2 and [o.skipped for o in result.outcomes] == [True, True]
    assert all("skipped: no recorded reply" in o.message and "holds" not in o.message for o in result.outcomes)
    assert collect([tmp_path])[0].run([]).skipped == 0


def test_the_cli_counts_skipped_expects_and_require_replies_fails_them(tmp_path):
    write(tmp_path, NO_REPLY)
    (tmp_path / "replies" / "crash.json").write_text(json.dumps({"category": "bug", "urgent": True}))
    cli = [sys.executable, "-m", "polyprompt", "test", str(tmp_path), "-t", "openai-chat"]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS t.prompt::never answered (2 expects skipped)" in out.stdout
    assert "3 tests passed, 0 failed; 2 expect clauses not evaluated (no reply)" in out.stderr
    strict = subprocess.run(cli + ["--require-replies"], capture_output=True, text=True)
    assert strict.returncode == 1
    assert "FAIL t.prompt::never answered" in strict.stdout and "`category == bug` skipped" in strict.stdout
    assert "2 tests passed, 1 failed" in strict.stderr


def test_the_first_run_writes_the_snapshots_and_ci_refuses(tmp_path):
    """As Jest does: a missing snapshot is written (and said), `--ci` fails on it and says how."""
    write(tmp_path)
    (tmp_path / "replies" / "crash.json").write_text(json.dumps({"category": "bug", "urgent": True}))
    cli = [sys.executable, "-m", "polyprompt", "test", str(tmp_path), "-t", "anthropic"]
    ci = subprocess.run(cli + ["--ci"], capture_output=True, text=True)
    assert ci.returncode == 1 and "`polyprompt test --update` writes it" in ci.stdout
    assert not (tmp_path / "__snapshots__").exists()
    first = subprocess.run(cli, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "2 new snapshots written" in first.stderr
    assert (tmp_path / "__snapshots__" / "t" / "double-charge.anthropic.json").is_file()


def test_a_changed_body_shows_a_diff(tmp_path):
    path = write(tmp_path)
    collect([tmp_path])[0].run(["openai-chat"])
    path.write_text(PROMPT.replace('user "{{ ticket }}"', 'user "Ticket: {{ ticket }}"'))
    message = collect([tmp_path])[0].run(["openai-chat"]).outcomes[0].message
    assert '-      "content": "I was charged twice"' in message
    assert '+      "content": "Ticket: I was charged twice"' in message
    assert "--update` accepts it" in message


def test_an_answer_function_is_checked_like_a_recorded_reply(tmp_path):
    """A target with an answer function (a local model, from the CLI) evaluates the expects on its
    answer; one that cannot answer skips them, saying why; a reply of the wrong type fails."""
    from polyprompt.compiler.replies import ReplyError
    from polyprompt.session.prompt_tests import Unanswered

    write(tmp_path, NO_REPLY)
    case = collect([tmp_path])[2]
    seen = []

    def answer(compiled):
        seen.append(compiled.target)
        return {"category": "bug", "urgent": True}

    result = case.run(["openai-chat"], answers={"openai-chat": answer})
    assert seen == ["openai-chat"] and result.skipped == 0
    assert [(o.target, o.passed) for o in result.outcomes[1:]] == [
        ("expect [openai-chat]", True), ("expect [openai-chat]", False)]

    def unavailable(compiled):
        raise Unanswered("no weights")

    assert case.run(["openai-chat"], answers={"openai-chat": unavailable}).skipped == 2

    def bad(compiled):
        raise ReplyError("not JSON")

    result = case.run(["openai-chat"], answers={"openai-chat": bad})
    assert not result.passed and "the model's reply: not JSON" in result.outcomes[-1].message


MOOD = '''
enum Mood { happy, sad }

prompt mood(text: str) -> Mood {
  system "Classify the mood of the text."
  user "{{ text }}"
}

test mood "a sunny day" {
  text = "I love this sunny day, everything is wonderful!"
  expect output == happy or output == sad
  expect output == sad and output == happy
}
'''


@pytest.mark.slow
def test_a_local_model_answers_the_expects(tmp_path):
    """`polyprompt test -t hf-family:smollm2` runs the embedded SmolLM2-135M on the case (CPU) and
    evaluates the expects on its real answer: one always holds for a Mood, one never can."""
    (tmp_path / "c.prompt").write_text(MOOD)
    out = subprocess.run([sys.executable, "-m", "polyprompt", "test", str(tmp_path), "-t", "hf-family:smollm2"],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "expect [hf-family:smollm2]: line 11: `output == happy or output == sad` holds" in out.stdout
    assert "expect [hf-family:smollm2]: line 12: `output == sad and output == happy` fails for" in out.stdout
    assert "skipped" not in out.stdout
