"""`polyprompt.load`: a prompt file whose compiles may come from the compile cache.

A `QuickFile` is a `PromptFile` (polyprompt/program.py) loaded only when
needed: a `compile` whose generated renderer is in the compile cache
(compiler/cache.py) and whose sources are unchanged renders without parsing
the file or importing the compiler; anything else loads the file and goes the
usual way. Both give the same body and report (tests/test_compile_cache.py).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .compiler import cache
from .compiler.runtime import copy_json


class QuickFile:
    """Behaves as the `PromptFile` of `path`; see the module docstring."""

    def __init__(self, path: str | os.PathLike, root: str | None = None):
        self._path, self._root = str(Path(path).resolve()), root
        self._real = None
        self._hits: dict[tuple, Any] = {}

    def _file(self):
        if self._real is None:
            from .program import load as load_file

            self._real = load_file(self._path, self._root)
        return self._real

    def __getattr__(self, name: str):
        return getattr(self._file(), name)

    def compile(self, target: str, prompt: str | None = None, inputs: dict | None = None, strict: bool = False,
                **kwargs: Any):
        values = {**inputs, **kwargs} if kwargs and inputs else (inputs or kwargs)
        if self._real is None:
            hit = self._hits.get((prompt, target))
            if hit is None:
                record = cache.lookup(self._path, f"{prompt or ''}\0{target}") if cache.enabled() else None
                hit = self._hits[(prompt, target)] = _Hit(record) if record is not None else False
            if hit and not (strict and hit.lowering):
                result = hit.compile(values, self, target, prompt, strict)
                if result is not None:
                    return result
        return self._file().compile(target, prompt=prompt, inputs=values, strict=strict)


class _Hit:
    """A cached renderer for one prompt and target."""

    def __init__(self, record: dict):
        from .compiler.runtime import load_check, load_source

        self.record = record
        self.render = load_source(record["render"], {}, record["prompt"])
        self.check = load_check(record["check"])
        self.defaults, self.body, self.target = record["defaults"], record["body"], record["target_value"]
        self.lowering = record["lowering"]

    def compile(self, values: dict, file: QuickFile, target: str, prompt: str | None, strict: bool):
        if not self.check(values):
            return None  # the full check reports the problems
        messages = self.render({**self.defaults, **values} if self.defaults else values, self.target)
        if messages is None:
            return None
        body = {k: (messages if k == "messages" else copy_json(v)) for k, v in self.body.items()}
        return CachedCompiled(target, self.record["prompt"], body, self.record["report"],
                              lambda: file._file().compile(target, prompt=prompt, inputs=values, strict=strict))


class CachedCompiled:
    """A compile served from the cache: `body` at once; the rest (the report as
    Diagnostic objects, the IR, `parse`) from a full compile when asked for."""

    __slots__ = ("target", "prompt", "body", "_report", "_full", "_done")

    def __init__(self, target: str, prompt: str, body: dict, report: list, full):
        self.target, self.prompt, self.body, self._report, self._full, self._done = target, prompt, body, report, full, None

    def _compiled(self):
        if self._done is None:
            self._done = self._full()
        return self._done

    @property
    def report(self):
        return self._compiled().report if self._report else ()

    @property
    def request(self):
        return self._compiled().request

    @property
    def backend(self):
        return self._compiled().backend

    def parse(self, reply: dict):
        return self._compiled().parse(reply)


def load(path: str | os.PathLike, root: str | None = None) -> QuickFile:
    """Load a `.prompt` file (checked on first use; compiles may come from the compile cache)."""
    return QuickFile(path, root)
