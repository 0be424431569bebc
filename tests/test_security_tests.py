"""Security: `test` blocks (docs/security.md, "Test blocks:").

A recorded reply file is read only inside the project root (a symlink out is refused too), only
when it is a regular file (a FIFO would block) and at most `REPLY_FILE_LIMIT` bytes; what is
refused is never printed. A target name never leads a snapshot out of its folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from polyprompt.session import prompt_tests
from polyprompt.session.prompt_tests import collect

SECRET = {"category": "bug", "urgent": True, "note": "sk-very-secret"}


def project(tmp_path, reply: str):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "polyprompt.toml").write_text("")
    (root / "t.prompt").write_text(f'''enum Category {{ billing, bug }}
type Triage {{ category: Category, urgent: bool, note?: str }}
prompt triage(ticket: str) -> Triage {{
  user "{{{{ ticket }}}}"
}}

test triage "leak" {{
  ticket = "x"
  reply "{reply}"
  expect category == billing
}}
''')
    return root


def outcome(root):
    [case] = collect([root])
    [result] = case.run([]).outcomes
    return result


def test_a_reply_file_outside_the_project_is_refused_and_not_printed(tmp_path):
    (tmp_path / "secret.json").write_text(json.dumps(SECRET))
    root = project(tmp_path, "../secret.json")
    result = outcome(root)
    assert not result.passed and "outside the project root" in result.message
    assert "sk-very-secret" not in result.message
    out = subprocess.run([sys.executable, "-m", "polyprompt", "test", str(root), "-t", "openai-chat"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "sk-very-secret" not in out.stdout + out.stderr


def test_an_absolute_reply_path_is_refused(tmp_path):
    (tmp_path / "secret.json").write_text(json.dumps(SECRET))
    root = project(tmp_path, str(tmp_path / "secret.json"))
    assert "outside the project root" in outcome(root).message


def test_a_symlink_out_of_the_project_is_refused(tmp_path):
    (tmp_path / "secret.json").write_text(json.dumps(SECRET))
    root = project(tmp_path, "replies/link.json")
    (root / "replies").mkdir()
    os.symlink(tmp_path / "secret.json", root / "replies" / "link.json")
    result = outcome(root)
    assert "outside the project root" in result.message and "sk-very-secret" not in result.message


def test_a_fifo_reply_does_not_block(tmp_path):
    root = project(tmp_path, "replies/fifo.json")
    (root / "replies").mkdir()
    os.mkfifo(root / "replies" / "fifo.json")
    assert "cannot be read: not a regular file" in outcome(root).message


def test_a_reply_file_over_the_limit_is_refused(tmp_path, monkeypatch):
    root = project(tmp_path, "replies/big.json")
    (root / "replies").mkdir()
    (root / "replies" / "big.json").write_text(json.dumps({**SECRET, "note": "x" * 2000}))
    monkeypatch.setattr(prompt_tests, "REPLY_FILE_LIMIT", 1000)
    assert "cannot be read: larger than 1,000 bytes" in outcome(root).message


def test_a_reply_file_inside_the_project_is_read(tmp_path):
    root = project(tmp_path, "replies/ok.json")
    (root / "replies").mkdir()
    (root / "replies" / "ok.json").write_text(json.dumps({"category": "billing", "urgent": False}))
    assert outcome(root).passed


@pytest.mark.parametrize("target", ["hf:../../..", "hf:../../../../../../../../../../etc/x", "hf:/abs/p",
                                    "a/b", "..", ".hidden", "hf:a\\b"])
def test_a_target_name_is_one_safe_file_name(tmp_path, target):
    root = project(tmp_path, "x")
    [case] = collect([root])
    path = case.snapshot(target)
    assert path.parent == root / "__snapshots__" / "t"
    assert "/" not in path.name and "\\" not in path.name and not path.name.startswith(".")


def test_names_that_differ_get_different_files():
    from polyprompt.session.prompt_tests import safe_name

    assert safe_name("hf:a/b", "t") != safe_name("hf:a-b", "t")
    assert safe_name("openai-chat", "t") == "openai-chat"  # plain names keep their snapshot files


def test_update_with_a_dotted_model_target_writes_inside_the_snapshot_folder(tmp_path):
    """`test --update -t hf:<../../..>` once wrote `<title>.hf:../../...json`: the `..` parts took the
    snapshot out of the project. The model folder here is real (a chat template), so the body compiles."""
    model = tmp_path / "m"
    model.mkdir()
    (model / "chat_template.jinja").write_text("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}")
    root = project(tmp_path, "x")
    target = "hf:" + "../" * 30 + str(model).lstrip("/")
    before = set(tmp_path.rglob("*"))
    out = subprocess.run([sys.executable, "-m", "polyprompt", "test", "--update", "-t", target, "."],
                         cwd=root, capture_output=True, text=True)
    new = [p for p in set(tmp_path.rglob("*")) - before if p.is_file()]
    assert len(new) == 1 and new[0].parent == root / "__snapshots__" / "t", new
    assert "1 new snapshot written" in out.stderr, out.stdout + out.stderr
    assert json.loads(new[0].read_text())["prompt"].endswith("<|user|>x\n")


def test_a_fifo_planted_as_a_snapshot_does_not_block(tmp_path):
    root = project(tmp_path, "x")
    [case] = collect([root])
    path = case.snapshot("openai-chat")
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    [snapshot, _expect] = case.run(["openai-chat"]).outcomes
    assert not snapshot.passed and "not a regular file" in snapshot.message


def test_a_missing_reply_file_is_a_failed_case_not_a_reply_text(tmp_path):
    """`reply "replies/x.json"` naming no file was taken as the reply text itself."""
    from polyprompt.session import prompt_tests

    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "p.prompt").write_text('prompt p(x: str) -> str {\n  user "{{ x }}"\n}\n\n'
                                       'test p "missing file" {\n  x = "a"\n  reply "replies/none.json"\n'
                                       '  expect output == "replies/none.json"\n}\n')
    [case] = prompt_tests.collect([tmp_path / "p.prompt"])
    result = case.run([])
    assert not result.passed
    assert any("no reply file replies/none.json" in o.message for o in result.outcomes)
