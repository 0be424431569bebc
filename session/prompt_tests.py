"""`test` blocks run offline: render every case for every target, compare with
snapshots, and check `expect` clauses against a recorded reply.

    test triage "double charge" {
      ticket = "I was charged twice"
      reply { category: "billing", urgent: false }   // or reply "replies/double.json"
      expect category == billing
    }

Snapshots live next to the file: `__snapshots__/<file>/<test>.<target>.json`
(the request body, or the errors when the target cannot express the prompt).
`polyprompt test --update` writes them; review the diff. From pytest:

    @pytest.mark.parametrize("case", polyprompt.session.prompt_tests.collect(["prompts"]), ids=str)
    def test_prompts(case):
        assert case.run(["openai-chat", "anthropic"]).passed
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import attrs

from .. import backends
from ..compiler import ast
from ..compiler import types as T
from ..compiler.check.consts import constant_value, is_constant
from ..compiler.diagnostics import render_all
from ..compiler.files import write_atomic
from ..compiler.inputs import InputError
from ..compiler.replies import ReplyError, typed_value
from .analysis import prompt_files
from .compiled import CompileError
from .prompt_file import PromptFile, load


@attrs.frozen
class Outcome:
    """One check of a test case: a target's snapshot or the `expect` clauses, whether it passed and why."""
    target: str
    passed: bool
    message: str


@attrs.frozen
class CaseResult:
    """A test case's outcomes, one per check."""
    case: "TestCase"
    outcomes: tuple[Outcome, ...]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(o.passed for o in self.outcomes)


@attrs.define(eq=False)
class TestCase:
    """One `test` block of one file."""

    file: PromptFile
    path: Path
    decl: ast.TestDecl

    @property
    def title(self) -> str:
        """The test's title, or its prompt's name when it has none."""
        return self.decl.title or self.decl.prompt.name

    def __str__(self) -> str:
        return f"{self.path.name}::{self.title}"

    def snapshot(self, target: str) -> Path:
        """The snapshot file of this case for `target`: `__snapshots__/<file>/<title>.<target>.json`."""
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.title).strip("-") or "test"
        return self.path.parent / "__snapshots__" / self.path.stem / f"{slug}.{target}.json"

    def inputs(self) -> dict:
        """The case's constant input bindings, by name."""
        return {b.name.name: constant_value(b.value) for b in self.decl.items
                if isinstance(b, ast.Binding) and is_constant(b.value)}

    def run(self, targets: list[str], update: bool = False) -> CaseResult:
        """Compare the body for each target with its snapshot (or write it when `update`), then check the `expect`
        clauses."""
        outcomes = [self._snapshot(t, update) for t in targets]
        outcomes += self._expectations()
        return CaseResult(self, tuple(outcomes))

    def _snapshot(self, target: str, update: bool) -> Outcome:
        try:
            result = self.file.compile(target, prompt=self.decl.prompt.name, inputs=self.inputs())
            text = json.dumps(result.body, indent=2, ensure_ascii=False) + "\n"
        except CompileError as err:
            text = json.dumps({"errors": render_all(err.diagnostics).splitlines()}, indent=2) + "\n"
        except InputError as err:
            return Outcome(target, False, str(err))
        path = self.snapshot(target)
        if update:
            if not path.exists() or path.read_text() != text:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(path, text)
                except OSError as err:  # a read-only snapshot or folder: a failed case, not a crash
                    return Outcome(target, False, f"cannot write {path}: {err.strerror or err}")
                return Outcome(target, True, f"snapshot written: {path}")
            return Outcome(target, True, "snapshot unchanged")
        if not path.exists():
            return Outcome(target, False, f"no snapshot {path}: run `polyprompt test --update`")
        if path.read_text() != text:
            return Outcome(target, False, f"the body differs from {path}")
        return Outcome(target, True, "matches the snapshot")

    def _expectations(self) -> list[Outcome]:
        expects = [i for i in self.decl.items if isinstance(i, ast.Expect)]
        replies = [i for i in self.decl.items if isinstance(i, ast.Reply)]
        if not expects:
            return []
        if not replies:
            return [Outcome("expect", True, "skipped: no recorded reply")]
        try:
            value = self._reply_value(replies[0])
            output = self.file.prompt(self.decl.prompt.name).output
            if output is not None and not output.is_text:
                value = typed_value(value, output)
        except ReplyError as err:
            return [Outcome("expect", False, f"the recorded reply: {err}")]
        from ..compiler.codegen import compile_expression
        from ..compiler.statics import Statics

        statics = Statics(self.file.analysis.entry_scope, self.file.analysis.scopes)
        fields = dict.fromkeys(output.type.fields) if output is not None and isinstance(output.type, T.RecordT) else {}
        env = {**fields, **(value if isinstance(value, dict) else {}), "output": value}  # absent fields: null
        out = []
        for e in expects:
            ok = bool(compile_expression(e.expr, statics, env)(env))
            line = e.span.start_line_col[0]
            out.append(Outcome("expect", ok, f"line {line}: `{e.span.text[len('expect '):]}` "
                                         + ("holds" if ok else f"fails for {json.dumps(value)[:200]}")))
        return out

    def _reply_value(self, reply: ast.Reply):
        """The recorded reply: a constant, or the JSON file it names (ReplyError when unreadable)."""
        value = constant_value(reply.value)
        if isinstance(value, str) and isinstance(reply.value, ast.Literal):
            path = self.path.parent / value
            if path.suffix == ".json" and path.is_file():
                try:
                    return json.loads(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
                    raise ReplyError(f"{value} cannot be read as JSON ({err})") from None
        return value


def collect(paths) -> list[TestCase]:
    """Every `test` block in the files and folders given."""
    return cases_of(load_all(paths))


def load_all(paths) -> list[tuple[Path, Any]]:
    """(path, loaded file) for every `.prompt` file of the files and folders given."""
    return [(Path(path), load(path)) for path in prompt_files(paths)]


def cases_of(files: list[tuple[Path, Any]]) -> list[TestCase]:
    """The test cases of loaded files, one per `test` block, in file order."""
    return [TestCase(pf, path, decl) for path, pf in files
            for decl in pf.analysis.program.entry.tree.decls if isinstance(decl, ast.TestDecl)]


def default_targets() -> list[str]:
    """The targets tests run for: `POLYPROMPT_TEST_TARGETS` (comma-separated) when set, else every registered
    target."""
    return os.environ.get("POLYPROMPT_TEST_TARGETS", "").split(",") if os.environ.get(
        "POLYPROMPT_TEST_TARGETS") else backends.names()
