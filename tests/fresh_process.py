"""Run polyprompt in a fresh interpreter and see which modules it loaded, or how it behaves
without some: a meta-path finder makes their import fail as it does when they are not installed.

    result = fresh(cli=["check", "examples"])                  # the console script's path
    result = fresh(code="import polyprompt; ...", block=("jinja2",))
    result.modules     # top-level names in sys.modules at exit
    result.first       # {heavy module: the repository lines that imported it first}
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs

from helpers import REPO

#: Modules that only an extra brings, or that take long to import.
HEAVY = ("jinja2", "tokenizers", "tiktoken", "fastokens", "torch", "transformers", "numpy", "safetensors",
         "huggingface_hub", "accelerate", "gguf", "peft", "pygls",
         # the providers' SDKs and what they are built on: test dependencies only (docs/sdk.md)
         "openai", "anthropic", "google", "boto3", "botocore", "mistralai", "ollama", "httpx", "httpx2", "pydantic")

_PRELUDE = r'''
import atexit, json, os, sys, traceback

_BLOCKED, _WATCHED = set(json.loads(os.environ["PP_BLOCK"])), set(json.loads(os.environ["PP_WATCH"]))
_REPO, _FIRST = os.environ["PP_REPO"], {}


class _Finder:
    """Refuses the blocked modules; notes who imports a watched one first."""

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in _BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        if top in _WATCHED and top not in _FIRST:
            frames = [f for f in traceback.extract_stack()[:-1]
                      if f.filename.startswith(_REPO) and "site-packages" not in f.filename]
            _FIRST[top] = [f"{os.path.relpath(f.filename, _REPO)}:{f.lineno}" for f in frames[-3:]]
        return None


def _report():
    with open(os.environ["PP_REPORT"], "w") as out:
        json.dump({"modules": sorted({m.partition(".")[0] for m in sys.modules}), "first": _FIRST}, out)


sys.meta_path.insert(0, _Finder())
atexit.register(_report)
'''

_CLI = '\nsys.argv = ["polyprompt", *json.loads(os.environ["PP_ARGS"])]\nfrom polyprompt.cli import main\nmain()\n'


@attrs.frozen
class Fresh:
    """What a fresh interpreter did: its exit, output and loaded modules."""

    returncode: int
    stdout: str
    stderr: str
    modules: frozenset[str]
    first: dict[str, list[str]]

    def heavy(self) -> list[str]:
        """The heavy modules (HEAVY) it loaded."""
        return sorted(self.modules.intersection(HEAVY))

    def describe(self) -> str:
        """The third-party modules it loaded, and which lines imported each heavy one: a failure's story."""
        third_party = sorted(m for m in self.modules - set(sys.stdlib_module_names)
                             if m != "polyprompt" and not m.startswith("_"))  # (_: .pth hooks, __main__)
        lines = [f"loaded (not stdlib): {', '.join(third_party) or 'none'}"]
        lines += [f"  {name} first imported from {' <- '.join(reversed(where)) or '?'}"
                  for name, where in sorted(self.first.items())]
        if self.returncode:
            lines.append(f"exit {self.returncode}: {self.stderr[-1500:]}")
        return "\n".join(lines)


def fresh(*, code: str | None = None, cli: list[str] | None = None, block: tuple[str, ...] = (),
          cwd: Path = REPO, env: dict | None = None) -> Fresh:
    """Run `code`, or the command line `cli` as the console script runs it, in a new interpreter."""
    fd, name = tempfile.mkstemp(suffix=".json", prefix="polyprompt-imports-")
    os.close(fd)
    report = Path(name)
    environ = {**os.environ, "PP_BLOCK": json.dumps(list(block)), "PP_WATCH": json.dumps(HEAVY),
               "PP_REPO": str(REPO) + os.sep, "PP_REPORT": str(report), "PP_ARGS": json.dumps(cli or []),
               **(env or {})}
    program = _PRELUDE + (code if code is not None else _CLI)
    proc = subprocess.run([sys.executable, "-c", program], cwd=cwd, env=environ, capture_output=True, text=True)
    try:
        seen = json.loads(report.read_text())
    finally:
        report.unlink(missing_ok=True)
    return Fresh(proc.returncode, proc.stdout, proc.stderr, frozenset(seen["modules"]), seen["first"])
