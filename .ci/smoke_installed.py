"""Smoke test of a regular install, run from outside the source tree.

Checks the one import name, the packaged grammar and stdlib, the console
script, and that every example checks clean through the installed package.
"""
import importlib.util
import pathlib
import shutil
import subprocess
import sys

import polyprompt
from polyprompt import grammar, stdlib

repo = pathlib.Path(sys.argv[1])
assert "site-packages" in polyprompt.__file__, polyprompt.__file__
for name in ("compiler", "backends", "grammar", "run", "stdlib"):
    assert importlib.util.find_spec(name) is None, f"top-level module {name!r} leaked"
assert stdlib.find("std.output") is not None
assert "prompt_decl" in grammar.grammar_text()
script = shutil.which("polyprompt", path=str(pathlib.Path(sys.executable).parent))
result = subprocess.run([script, "check", str(repo / "examples"), str(repo / "stdlib")], capture_output=True, text=True)
assert result.returncode == 0, result.stdout + result.stderr
print("installed package ok:", polyprompt.__file__)
