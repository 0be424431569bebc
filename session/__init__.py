"""The compile session: load a `.prompt` file, resolve targets, compile, cache, run its tests.

Everything above the compiler goes through here: the CLI and the Python facade today; the
dataset, run and evaluation stages and the language server next.

    >>> from polyprompt.session import load
    >>> pf = load("examples/ticket_triage.prompt")
    >>> result = pf.compile("anthropic", inputs={"ticket": "I was charged twice"})
    >>> result.body, result.report

- `analysis.py`: `analyze(path)`: parse and check a file with its imports.
- `prompt_file.py`: `load(path)` gives a `PromptFile` (checked on first need) whose `compile`
  returns one `Compiled` type, whether it came from the compile cache, the generated renderer or
  the passes.
- `targets.py`: a target name to its backend: a `target` declaration of the file, a built-in,
  `hf-family:<name>` or `hf:<dir>`.
- `generated.py`: the input check and renderer generated for one prompt and target.
- `cache.py`: the compile cache on disk. `prompt_tests.py`: the file's `test` blocks.

Importing this package is cheap: a compile served by the compile cache imports neither the parser
nor the checker.
"""
from __future__ import annotations

if __name__ != "polyprompt.session":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.session, not {__name__!r} (repo root is on sys.path)")

_EXPORTS = {
    "load": "prompt_file",
    "PromptFile": "prompt_file",
    "Compiled": "compiled",
    "CompileError": "compiled",
    "parse_reply": "compiled",
    "analyze": "analysis",
    "Analysis": "analysis",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.session' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
