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


MISSPELT = 'prompt p() -> str {\n  model "gpt-4o" { max_token: 800 }\n  user "hi"\n}\n'


def test_warnings_are_shown_on_every_command(tmp_path):
    """`max_token: 800` once shipped silently with the default: compile, diff and test print the
    checker's warnings (with the did-you-mean) on stderr, and still succeed."""
    (tmp_path / "w.prompt").write_text(MISSPELT)
    warning = "w.prompt:2:20: warning[PP242]: unknown setting `max_token`: no target reads it"
    for args in (["compile", "w.prompt", "-t", "openai-chat"], ["diff", "w.prompt", "-t", "openai-chat", "-t", "gemini"],
                 ["test", ".", "-t", "openai-chat"]):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 0, (args, result.stderr)
        assert warning in result.stderr and "did you mean `max_tokens`?" in result.stderr, (args, result.stderr)
    assert json.loads(run("compile", "w.prompt", "-t", "openai-chat", cwd=tmp_path).stdout)["model"] == "gpt-4o"


def test_compile_refuses_a_second_target(tmp_path):
    """`compile -t a -t b` compiled only the last target, silently."""
    (tmp_path / "p.prompt").write_text('prompt p() {\n  user "hi"\n}\n')
    result = run("compile", "p.prompt", "-t", "openai-chat", "-t", "anthropic", cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert "compile takes one target, got 2 (openai-chat, anthropic)" in result.stderr


def test_an_unknown_target_lists_the_open_model_forms(tmp_path):
    (tmp_path / "p.prompt").write_text('prompt p() {\n  user "hi"\n}\n')
    for name in ("nope", "hf-family:nope"):
        result = run("compile", "p.prompt", "-t", name, cwd=tmp_path)
        assert result.returncode == 2
        assert "hf-family:<name>" in result.stderr or "families: " in result.stderr
        assert "qwen3" in result.stderr and "hf:<model folder> or hf:<file.gguf>" in result.stderr, result.stderr
    (tmp_path / "p.prompt").write_text('prompt p() {\n  user "hi"\n}\n\ntest p "t" {\n}\n')
    result = run("test", "p.prompt", "-t", "nope", cwd=tmp_path)
    assert result.returncode == 1 and "hf:<model folder> or hf:<file.gguf>" in result.stdout, result.stdout


def test_targets_lists_the_families_and_hf_forms():
    out = run("targets").stdout
    assert "hf-family:<name>" in out and "hf:<dir>" in out and "hf:<file.gguf>" in out
    from polyprompt import backends

    assert all(family in out for family in backends.hf_families())


def complete(shell: str, line: str, cwd) -> list[str]:
    """What the shell completion offers for `line` (the cursor at its end), as `polyprompt completion` wires it."""
    import os

    env = {**os.environ, "_POLYPROMPT_COMPLETE": f"{shell}_complete"}
    if shell == "bash":  # bash splits words at `:` (COMP_WORDBREAKS) as well as at spaces
        import re

        words = [w for w in re.split(r"( |:)", line) if w not in (" ",)]
        words = [w for i, w in enumerate(words) if w or i == len(words) - 1]
        if len(words) > 1 and words[-2:] == [":", ""]:  # the cursor right after a colon: bash's word is the colon
            words.pop()
        env.update(COMP_WORDS=" ".join(words), COMP_CWORD=str(len(words) - 1))
    elif shell == "zsh":
        env.update(COMP_WORDS=line, COMP_CWORD=str(len(line.split(" ")) - 1))
    else:  # fish passes the word being completed itself
        env.update(COMP_WORDS=line, COMP_CWORD=line.split(" ")[-1])
    result = subprocess.run([sys.executable, "-c", "from polyprompt.cli import main; main()"], env=env, cwd=cwd,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if shell == "zsh":  # type, value, help: one line each
        return result.stdout.splitlines()[1::3]
    return [line.split(",", 1)[1].split("\t")[0] for line in result.stdout.splitlines()]


def test_completion_scripts_for_bash_zsh_and_fish():
    for shell, marker in (("bash", "complete -o nosort -F"), ("zsh", "#compdef polyprompt"), ("fish", "complete ")):
        result = run("completion", shell)
        assert result.returncode == 0 and marker in result.stdout and "_POLYPROMPT_COMPLETE" in result.stdout
    assert run("completion", "tcsh").returncode == 2


def test_completion_of_commands_options_and_target_names(tmp_path):
    assert {"check", "compile", "test", "run", "completion"} <= set(complete("bash", "polyprompt ", tmp_path))
    assert "--explain" in complete("bash", "polyprompt compile p.prompt --ex", tmp_path)
    assert complete("bash", "polyprompt compile p.prompt -t openai-c", tmp_path) == ["openai-chat",
                                                                                     "openai-compatible"]
    # bash split `hf-family:qw` at the colon; it keeps `hf-family:` and replaces `qw`
    assert complete("bash", "polyprompt compile p.prompt -t hf-family:qw", tmp_path) == ["qwen2", "qwen2.5", "qwen3"]
    assert "smollm2" in complete("bash", "polyprompt run p.prompt -t hf-family:", tmp_path)
    assert "hf-family:qwen3" in complete("fish", "polyprompt test -t hf-fam", tmp_path)
    assert "hf-family:gemma-2" in complete("zsh", "polyprompt run p.prompt -t hf-family:gem", tmp_path)


def test_the_bash_script_completes_in_bash(tmp_path):
    """The script as bash sources it: `-t hf-family:qw<Tab>` (bash split the word at the colon) and
    `-t ant<Tab>`, through the function `complete -F` registers."""
    import os
    import shutil

    if shutil.which("bash") is None:
        import pytest

        pytest.skip("no bash")
    script = "\n".join([
        'eval "$(polyprompt completion bash)"',
        "COMP_WORDS=(polyprompt compile p.prompt -t hf-family : qw); COMP_CWORD=6",
        "_polyprompt_completion polyprompt; printf '%s\\n' \"${COMPREPLY[@]}\"; COMPREPLY=()",
        "COMP_WORDS=(polyprompt test -t ant); COMP_CWORD=3",
        "_polyprompt_completion polyprompt; printf '%s\\n' \"${COMPREPLY[@]}\""])
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert out.stdout.split() == ["qwen2", "qwen2.5", "qwen3", "anthropic"], out.stdout + out.stderr
