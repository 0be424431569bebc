"""`polyprompt test`: snapshots per target and `expect` against recorded replies."""
from __future__ import annotations

import json
import subprocess
import sys

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
    first = cases[0].run(["openai-chat"])
    assert not first.passed and "no snapshot" in first.outcomes[0].message
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
    assert subprocess.run(cli, capture_output=True).returncode == 1  # no snapshots yet
    assert subprocess.run(cli + ["--update"], capture_output=True).returncode == 1  # `expect urgent` fails
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
