"""`test` blocks: render every case for every target, compare with snapshots,
and check `expect` clauses against a recorded reply and against the answers of
local models (`answers`, given by the caller: running a model is `run/`'s part).

    test triage "double charge" {
      ticket = "I was charged twice"
      reply { category: "billing", urgent: false }   // or reply "replies/double.json"
      expect category == billing
    }

Snapshots live next to the file: `__snapshots__/<file>/<test>.<target>.json`
(the request body, or the errors when the target cannot express the prompt;
the test title and target name made safe as one file name). A missing snapshot
is written on the first run (`new="fail"` refuses instead, as `--ci` does);
`polyprompt test --update` rewrites changed ones; a changed body fails with a
diff. An `expect` that nothing answered (no `reply`, no local model) is a
skipped outcome, not a pass. A `reply "file.json"` is read only from a regular
file inside the project root, of at most `REPLY_FILE_LIMIT` bytes. From pytest:

    @pytest.mark.parametrize("case", polyprompt.session.prompt_tests.collect(["prompts"]), ids=str)
    def test_prompts(case):
        assert case.run(["openai-chat", "anthropic"]).passed
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, Callable

import attrs

from .. import backends
from ..compiler import ast
from ..compiler import types as T
from ..compiler.check.consts import constant_value, is_constant
from ..compiler.diagnostics import render_all
from ..compiler.files import UnreadableFile, read_regular, write_atomic
from ..compiler.inputs import InputError
from ..compiler.replies import ReplyError, typed_value
from .analysis import prompt_files
from .compiled import CompileError
from .prompt_file import PromptFile, load

#: The largest recorded reply file read (bytes): a reply is one model answer, not a data set.
REPLY_FILE_LIMIT = 16 * 1024 * 1024
#: The largest snapshot read back (bytes).
SNAPSHOT_LIMIT = 256 * 1024 * 1024
#: The most diff lines a failed snapshot shows.
DIFF_LINES = 60


class Unanswered(Exception):
    """Raised by an answer function when its target cannot answer (no model, a missing extra): the `expect`
    clauses are skipped for that target, with this message as the reason."""


#: A target's answer function: the compiled prompt -> the typed reply (ReplyError when the reply does not parse,
#: Unanswered when the target cannot answer).
Answer = Callable[[Any], Any]


@attrs.frozen
class Outcome:
    """One check of a test case: a target's snapshot or an `expect` clause, whether it passed and why; a skipped
    check (an `expect` nothing answered) counts as passed unless the caller requires replies."""
    target: str
    passed: bool
    message: str
    skipped: bool = False


@attrs.frozen
class CaseResult:
    """A test case's outcomes, one per check."""
    case: "TestCase"
    outcomes: tuple[Outcome, ...]

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return all(o.passed for o in self.outcomes)

    @property
    def skipped(self) -> int:
        """How many `expect` clauses were never evaluated (nothing answered)."""
        return sum(o.skipped for o in self.outcomes)


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
        """The snapshot file of this case for `target`: `__snapshots__/<file>/<title>.<target>.json`, the title and
        target made safe file-name parts (`hf:../x` cannot leave the folder); ValueError if it still would."""
        folder = self.path.parent / "__snapshots__" / self.path.stem
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.title).strip("-") or "test"
        path = folder / f"{slug}.{safe_name(target, 'target')}.json"
        if not os.path.abspath(path).startswith(os.path.abspath(folder) + os.sep):
            raise ValueError(f"the snapshot of {target!r} would be written outside {folder}")
        return path

    def inputs(self) -> dict:
        """The case's constant input bindings, by name."""
        return {b.name.name: constant_value(b.value) for b in self.decl.items
                if isinstance(b, ast.Binding) and is_constant(b.value)}

    def run(self, targets: list[str], update: bool = False, *, new: str = "write",
            answers: dict[str, Answer] | None = None) -> CaseResult:
        """Compare the body for each target with its snapshot (`update` rewrites changed ones; a missing one is
        written when `new` is "write", a failure when "fail"), then check the `expect` clauses against the recorded
        reply and against the answer of each target in `answers` (a target -> answer function)."""
        outcomes = [self._snapshot(t, update, new) for t in targets]
        outcomes += self._expectations([t for t in targets if t in (answers or {})], answers or {})
        return CaseResult(self, tuple(outcomes))

    def _snapshot(self, target: str, update: bool, new: str) -> Outcome:
        try:
            result = self.file.compile(target, prompt=self.decl.prompt.name, inputs=self.inputs())
            text = json.dumps(result.body, indent=2, ensure_ascii=False) + "\n"
        except CompileError as err:
            text = json.dumps({"errors": render_all(err.diagnostics).splitlines()}, indent=2) + "\n"
        except (InputError, LookupError, OSError) as err:  # bad inputs; a target that is unknown or not a model
            return Outcome(target, False, str(err))
        try:
            path = self.snapshot(target)
        except ValueError as err:
            return Outcome(target, False, str(err))
        if not path.exists():
            if new != "write" and not update:
                return Outcome(target, False, f"no snapshot {path}: `polyprompt test --update` writes it")
            return _write_snapshot(target, path, text, "snapshot written")
        try:  # a snapshot is a file of ours: a FIFO or a huge file planted there is not read
            old = read_regular(path, SNAPSHOT_LIMIT).decode("utf-8", errors="replace")
        except OSError as err:
            return Outcome(target, False, f"the snapshot cannot be read: {err}")
        if old == text:
            return Outcome(target, True, "matches the snapshot")
        if update:
            return _write_snapshot(target, path, text, "snapshot updated")
        return Outcome(target, False, f"the body differs from {path} (`polyprompt test --update` accepts it):\n"
                       + snapshot_diff(old, text, path))

    def _expectations(self, model_targets: list[str], answers: dict[str, Answer]) -> list[Outcome]:
        expects = [i for i in self.decl.items if isinstance(i, ast.Expect)]
        replies = [i for i in self.decl.items if isinstance(i, ast.Reply)]
        if not expects:
            return []
        out = []
        if replies:
            try:
                out += self._check(expects, "expect", self._typed(self._reply_value(replies[0])))
            except ReplyError as err:
                out.append(Outcome("expect", False, f"the recorded reply: {err}"))
        for target in model_targets:
            out += self._answered(expects, target, answers[target])
        if not out:
            reason = "no recorded reply (add `reply ...`, or test with a local model target: -t hf-family:smollm2)"
            out = [Outcome("expect", True, f"{_where(e)} skipped: {reason}", skipped=True) for e in expects]
        return out

    def check_expects(self, target: str, answer: Answer) -> list[Outcome]:
        """The `expect` clauses checked against one target's answer function (none without clauses),
        without the snapshot: what `polyprompt eval` reports next to its metrics."""
        expects = [i for i in self.decl.items if isinstance(i, ast.Expect)]
        return self._answered(expects, target, answer) if expects else []

    def _answered(self, expects: list, target: str, answer: Answer) -> list[Outcome]:
        """The `expect` clauses checked against `target`'s answer (skipped when it cannot answer)."""
        label = f"expect [{target}]"
        try:
            compiled = self.file.compile(target, prompt=self.decl.prompt.name, inputs=self.inputs())
            value = self._typed(answer(compiled))
        except (CompileError, InputError, LookupError, OSError):
            return [Outcome(label, False, "the prompt cannot be compiled for this target (see its snapshot)")]
        except Unanswered as err:
            return [Outcome(label, True, f"{_where(e)} skipped: {err}", skipped=True) for e in expects]
        except ReplyError as err:
            return [Outcome(label, False, f"the model's reply: {err}")]
        return self._check(expects, label, value)

    def _typed(self, value: Any) -> Any:
        """A reply as a value of the prompt's output type (ReplyError when it is not one)."""
        output = self.file.prompt(self.decl.prompt.name).output
        return typed_value(value, output) if output is not None and not output.is_text else value

    def _check(self, expects: list, label: str, value: Any) -> list[Outcome]:
        """Each `expect` clause evaluated on a typed reply."""
        from ..compiler.codegen import compile_expression
        from ..compiler.statics import Statics

        output = self.file.prompt(self.decl.prompt.name).output
        statics = Statics(self.file.analysis.entry_scope, self.file.analysis.scopes)
        fields = dict.fromkeys(output.type.fields) if output is not None and isinstance(output.type, T.RecordT) else {}
        env = {**fields, **(value if isinstance(value, dict) else {}), "output": value}  # absent fields: null
        out = []
        for e in expects:
            ok = bool(compile_expression(e.expr, statics, env)(env))
            out.append(Outcome(label, ok, f"{_where(e)} " + ("holds" if ok else f"fails for {json.dumps(value)[:200]}")))
        return out

    def _reply_value(self, reply: ast.Reply):
        """The recorded reply: a constant, or the JSON file it names (ReplyError when unreadable, outside the
        project root, not a regular file or too large)."""
        value = constant_value(reply.value)
        if isinstance(value, str) and isinstance(reply.value, ast.Literal) and value.endswith(".json"):
            path = self.path.parent / value
            if not os.path.lexists(path):
                if not any(c.isspace() for c in value):  # a file name: a missing file is not a reply text
                    raise ReplyError(f"no reply file {value} (next to {self.path.name}); a reply text that "
                                     "ends in .json holds a space, or is written as a record")
                return value  # a reply whose text merely ends in .json
            root = Path(self.file.analysis.program.root).resolve()
            if not path.resolve().is_relative_to(root):
                raise ReplyError(f"{value} is outside the project root `{root}`: a reply file must be inside it")
            try:
                return json.loads(read_regular(path.resolve(), REPLY_FILE_LIMIT).decode("utf-8"))
            except UnreadableFile as err:
                raise ReplyError(f"{value} cannot be read: {str(err).rsplit(': ', 1)[-1]}") from None
            except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
                raise ReplyError(f"{value} cannot be read as JSON ({err})") from None
        return value


def _where(expect: ast.Expect) -> str:
    """`line N: `clause`` for an outcome's message."""
    return f"line {expect.span.start_line_col[0]}: `{expect.span.text[len('expect '):]}`"


def safe_name(name: str, empty: str) -> str:
    """`name` as one safe file-name part: runs of other characters than letters, digits, `_`, `.` and `-` become `-`,
    with no leading or trailing dot or dash. A name that held a path separator, `..` or another character than those
    and `:` also gets a short hash of itself, so two such names never share a file (`hf:a/b` and `hf:a-b`)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or empty
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", name) or ".." in name:
        slug = f"{slug[:80]}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return slug


def snapshot_diff(old: str, new: str, path: Path) -> str:
    """A unified diff from the snapshot to the new body, cut at `DIFF_LINES` lines."""
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"{path.name} (snapshot)",
                                      f"{path.name} (now)", lineterm=""))
    if len(lines) > DIFF_LINES:
        lines = lines[:DIFF_LINES] + [f"... {len(lines) - DIFF_LINES} more diff lines"]
    return "\n".join(lines)


def _write_snapshot(target: str, path: Path, text: str, what: str) -> Outcome:
    """Write a snapshot; a read-only snapshot or folder is a failed case, not a crash."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)
    except OSError as err:
        return Outcome(target, False, f"cannot write {path}: {err.strerror or err}")
    return Outcome(target, True, f"{what}: {path}")


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
