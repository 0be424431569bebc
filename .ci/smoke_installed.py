"""Smoke test of a regular install, run from outside the source tree.

    python smoke_installed.py REPO core     after `pip install .`
    python smoke_installed.py REPO models   after `pip install '.[models]'`

core: the one import name, the packaged grammar and stdlib, the console script, every example
checks clean, an API target compiles, no extra came along, and an open-model target says which
extra to install (exit 2, no traceback). models: an open-model target compiles with the template
files shipped in the package.
"""
import importlib.util
import json
import pathlib
import shutil
import subprocess
import sys

import polyprompt
from polyprompt import grammar, stdlib

repo, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
assert "site-packages" in polyprompt.__file__, polyprompt.__file__
for name in ("compiler", "backends", "grammar", "run", "session", "stdlib"):
    assert importlib.util.find_spec(name) is None, f"top-level module {name!r} leaked"
assert stdlib.find("std.output") is not None
assert "prompt_decl" in grammar.grammar_text()
script = shutil.which("polyprompt", path=str(pathlib.Path(sys.executable).parent))
example = repo / "examples" / "ticket_triage.prompt"
inputs = repo / "examples" / "ticket_triage.input.json"


def polyprompt_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([script, *args], capture_output=True, text=True)


if mode == "core":
    result = polyprompt_cli("check", str(repo / "examples"), str(repo / "stdlib"))
    assert result.returncode == 0, result.stdout + result.stderr
    result = polyprompt_cli("compile", str(example), "-t", "anthropic", "-i", str(inputs))
    assert result.returncode == 0 and "messages" in json.loads(result.stdout), result.stderr
    extras = [m for m in ("jinja2", "tokenizers", "tiktoken", "fastokens", "torch", "transformers")
              if importlib.util.find_spec(m) is not None]
    assert not extras, f"the core install brought {extras}"
    result = polyprompt_cli("compile", str(example), "-t", "hf-family:qwen3", "-i", str(inputs))
    assert result.returncode == 2 and "pip install 'polyprompt[models]'" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
elif mode == "models":
    result = polyprompt_cli("compile", str(example), "-t", "hf-family:qwen3", "-i", str(inputs))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["prompt"].startswith("<|im_start|>"), result.stdout[:300]
else:
    sys.exit(f"unknown mode {mode!r}: core or models")
print(f"installed package ok ({mode}):", polyprompt.__file__)
