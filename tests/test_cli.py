"""The command line, run as a user runs it: exit codes and output."""
from __future__ import annotations

import json
import subprocess
import sys

from helpers import EXAMPLES, REPO, STDLIB

CLI = [sys.executable, "-m", "polyprompt"]


def run(*args: str, stdin: str | None = None, cwd=None):
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, cwd=cwd or REPO / "tests")


def test_check_clean_files_exit_0():
    result = run("check", str(EXAMPLES), str(STDLIB))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stderr


def test_check_reports_errors_with_position_caret_and_help(tmp_path):
    bad = tmp_path / "bad.prompt"
    bad.write_text('prompt p(x: str) {\n  user "{{ y }}"\n  user "{{ x | shout }}"\n}\n')
    result = run("check", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "bad.prompt:2:12: error[PP200]: unknown name `y`"
    assert lines[2] == '2 |   user "{{ y }}"'
    assert lines[3] == "  |            ^"
    assert "bad.prompt:3:16: error[PP222]: unknown filter `shout`" in result.stdout
    assert "= help:" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_check_json_format(tmp_path):
    bad = tmp_path / "bad.prompt"
    bad.write_text('prompt p() {\n  user "{{ nope }}"\n}\n')
    result = run("check", "--format", "json", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    [item] = json.loads(result.stdout)
    assert {k: item[k] for k in ("file", "line", "col", "end_line", "end_col", "severity", "code")} == {
        "file": "bad.prompt", "line": 2, "col": 12, "end_line": 2, "end_col": 16, "severity": "error", "code": "PP200"}
    assert item["message"] == "unknown name `nope`"


def test_usage_errors_exit_2(tmp_path):
    assert run("check").returncode == 2
    assert run("check", str(tmp_path / "missing.prompt")).returncode == 2
    assert run("check", "--format", "xml", str(EXAMPLES)).returncode == 2
    assert run("nonsense").returncode == 2


def test_fmt_check_and_write(tmp_path):
    f = tmp_path / "a.prompt"
    f.write_text('prompt  p(){user "hi"} // c\n')
    result = run("fmt", "--check", str(f))
    assert result.returncode == 1 and "would reformat" in result.stderr
    assert f.read_text() == 'prompt  p(){user "hi"} // c\n'
    assert run("fmt", str(f)).returncode == 0
    assert f.read_text() == 'prompt p() {\n  user "hi"\n}  // c\n'
    assert run("fmt", "--check", str(f)).returncode == 0


def test_fmt_refuses_syntax_errors_and_keeps_the_file(tmp_path):
    f = tmp_path / "a.prompt"
    f.write_text('prompt p( {\n')
    result = run("fmt", str(f))
    assert result.returncode == 1
    assert "syntax errors" in result.stderr
    assert f.read_text() == 'prompt p( {\n'


def test_fmt_stdin():
    result = run("fmt", "-", stdin='enum  E{a,b}\n')
    assert result.returncode == 0
    assert result.stdout == "enum E { a, b }\n"


def test_invalid_utf8_is_a_diagnostic(tmp_path):
    f = tmp_path / "b.prompt"
    f.write_bytes(b'prompt p() {\n  user "caf\xe9"\n}\n')
    result = run("check", str(f), cwd=tmp_path)
    assert result.returncode == 1
    assert "b.prompt:2:12: error[PP109]" in result.stdout


def test_fmt_stdin_check_and_diff():
    messy = 'enum  E{a,b}\n'
    check = run("fmt", "--check", "-", stdin=messy)
    assert check.returncode == 1 and check.stdout == "" and "would reformat <stdin>" in check.stderr
    diff = run("fmt", "--diff", "-", stdin=messy)
    assert diff.returncode == 1 and "+enum E { a, b }" in diff.stdout
    assert run("fmt", "--check", "-", stdin="enum E { a, b }\n").returncode == 0


def test_a_bad_inputs_file_is_an_error_not_a_crash(tmp_path):
    """Unreadable, not UTF-8, not JSON or YAML, not an object, half a surrogate pair: exit 1 and one
    line per problem, for compile, diff and run alike; stdin too."""
    prompt = str(EXAMPLES / "commit_message.prompt")
    cases = {"half.json": b'{"diff": "a \\ud800 b"}', "broken.json": b'{"diff": [', "latin1.json": b'{"diff": "\xe9"}',
             "list.json": b"[1]"}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    for args in (["compile", prompt, "-t", "openai-chat"], ["diff", prompt, "-t", "openai-chat", "-t", "anthropic"],
                 ["run", prompt, "-t", "hf-family:smollm2"]):
        for name in [*cases, "missing.json"]:
            result = run(*args, "-i", str(tmp_path / name))
            assert result.returncode == 1, (args, name, result.stderr)
            assert result.stderr.startswith("error: invalid inputs:\n"), (args, name, result.stderr)
            assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run([*CLI, "compile", prompt, "-t", "openai-chat", "-i", "-"], input=b"\xff", capture_output=True)
    assert result.returncode == 1 and b"stdin: is not UTF-8 text" in result.stderr


def test_a_surrogate_pair_escape_is_one_character(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text('prompt p() {\n  user "smile \\ud83d\\ude00"\n}\n')
    result = run("compile", str(path), "-t", "openai-chat")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages"][0]["content"] == "smile 😀"


def test_an_output_file_that_cannot_be_written_is_an_error(tmp_path):
    prompt = str(EXAMPLES / "commit_message.prompt")
    inputs = str(EXAMPLES / "commit_message.input.json")
    result = run("compile", prompt, "-t", "openai-chat", "-i", inputs, "-o", str(tmp_path / "missing" / "x.json"))
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert result.stderr.startswith(f"error: cannot write {tmp_path / 'missing' / 'x.json'}: No such file or directory")
    assert not list(tmp_path.rglob("*"))  # nothing left behind
