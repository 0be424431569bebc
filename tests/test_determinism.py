"""Compiling is deterministic across processes: the same bodies under different hash seeds.

Set and dict iteration order of strings changes with PYTHONHASHSEED, so two compiles in one
process cannot catch an order that leaks into a body. Every example is compiled for every API
target and one open-model target in two fresh processes with different seeds and the compile
cache off (a cached body would be the first process's), and the outputs compared byte for byte.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from helpers import REPO

from polyprompt import backends

TARGETS = [*backends.names(), "hf-family:qwen3"]

# Prints {"<example> <target>": body as JSON, or the diagnostics} for every pair.
SCRIPT = """
import json, pathlib, sys
import polyprompt
from polyprompt.compiler.diagnostics import render_all
out = {}
for path in sorted(pathlib.Path("examples").glob("*.prompt")):
    inputs = json.loads(path.with_suffix(".input.json").read_text())
    pf = polyprompt.load(path)
    for target in sys.argv[1:]:
        try:
            body = json.dumps(pf.compile(target, inputs=inputs).body, ensure_ascii=False)
        except polyprompt.CompileError as err:
            body = "error: " + render_all(err.diagnostics)
        out[path.stem + " " + target] = body
print(json.dumps(out, ensure_ascii=False))
"""


def compile_everything(seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": seed, "POLYPROMPT_CACHE": "0",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, *TARGETS], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_two_processes_with_different_hash_seeds_write_the_same_bodies():
    first, second = compile_everything("1"), compile_everything("2")
    assert len(first) == len(TARGETS) * len(list((REPO / "examples").glob("*.prompt")))
    assert sum(not body.startswith("error: ") for body in first.values()) > len(first) // 2
    differ = sorted(key for key in first if first[key] != second[key])
    assert differ == [], f"bodies differ between hash seeds: {differ}"
