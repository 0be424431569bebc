"""Golden before/after pairs for every lowering pass: tests/passes/<pass>.txt.

A fixture file holds cases; each renders a small `.prompt` source for a target,
runs the passes before this one, and records the IR just before the pass, just
after it (`compiler/ir_printer.py`), and the notes the pass added::

    === merge: the system text opens the first user turn
    target: mistral
    caps: {"system": "merge"}
    --- prompt
    prompt p() { ... }
    --- inputs
    {"name": "Ada"}
    --- before
    request p -> mistral
    ...
    --- after
    (unchanged)  or the printed IR
    --- notes
    (none)  or  info PP400 2:3 system turn merged ...

`target` names a built-in API target; `caps` (optional, JSON) overrides some of
its capabilities; `options` (optional, JSON) are target options; `inputs` is optional. Every pass of `PASSES` needs a file with
at least `MIN_CASES` cases, and no file may name a pass that is gone.
The cases of a pass must together run every line of the functions they call
in its module (`UNREACHABLE` names the few that no prompt can reach).
`pytest --update-goldens tests/test_pass_goldens.py` recomputes `before`,
`after` and `notes` (a new case needs only its title, target and prompt); review
the diff in git.
"""
from __future__ import annotations

import contextlib
import difflib
import json
import re
import sys
import tempfile
import textwrap
from pathlib import Path

import attrs
import pytest

import polyprompt
from polyprompt import backends
from polyprompt.backends.base import Backend, Caps
from polyprompt.compiler import ir
from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.ir_printer import format_request
from polyprompt.compiler.passes import PASSES, PassContext, run_passes
from polyprompt.compiler.render import TargetInfo

from helpers import REPO

FIXTURES = REPO / "tests" / "passes"
PASS_NAMES = [p.__module__.rsplit(".", 1)[1] for p in PASSES]
MIN_CASES = 3
SECTIONS = ("prompt", "inputs", "before", "after", "notes")
UNCHANGED, NO_NOTES = "(unchanged)", "(none)"
#: Lines (stripped) of a pass that no case can run: guards for sub-schemas that are not objects,
#: which the compiler never writes.
UNREACHABLE = {"lower_output_schema": {"return", "return node"}}


def request_for(source: str, target: str, inputs: dict, caps: dict,
                options: dict | None = None) -> tuple[ir.Request, Backend]:
    """The rendered (not yet lowered) IR of the file's first prompt for `target`, and the backend whose
    capability table the passes read (`caps` applied on top). The one place that drives the compiler."""
    caps = {k: frozenset(v) if isinstance(attrs.fields_dict(Caps)[k].default, frozenset) else v
            for k, v in caps.items()}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "case.prompt"
        path.write_text(source, encoding="utf-8")
        pf = polyprompt.load(path)
        compiled = pf.prompt()
        backend = backends.get(target)(options=options, caps_overrides=caps)
        info = TargetInfo(name=target, family=backend.family, backend=type(backend).name)
        return compiled.render(pf.check_inputs(compiled, inputs), info), backend


@attrs.define
class Case:
    """One fixture case: its source fields, and the recorded sections (None while not yet recorded)."""

    title: str
    target: str
    caps: str | None = None  # JSON text, kept as written
    options: str | None = None  # JSON text, kept as written
    sections: dict[str, str] = attrs.field(factory=dict)


def parse_fixture(text: str) -> tuple[str, list[Case]]:
    """The comment lines before the first case, and the cases."""
    preamble, cases, section = [], [], None
    for line in text.splitlines():
        if line.startswith("=== "):
            cases.append(Case(title=line[4:].strip(), target=""))
            section = None
        elif not cases:
            preamble.append(line)
        elif line.startswith("--- ") and line[4:].strip() in SECTIONS:
            section = line[4:].strip()
            cases[-1].sections[section] = ""
        elif section is not None:
            cases[-1].sections[section] += line + "\n"
        elif line.strip():
            key, _, value = line.partition(":")
            assert key in ("target", "caps", "options"), f"unknown case header `{line}` in case {cases[-1].title!r}"
            setattr(cases[-1], key, value.strip())
    for case in cases:
        case.sections = {k: v.rstrip("\n") for k, v in case.sections.items()}
    return "\n".join(preamble).rstrip("\n"), cases


def format_fixture(preamble: str, cases: list[Case]) -> str:
    """The file text of a preamble and cases, sections in `SECTIONS` order."""
    blocks = [preamble] if preamble else []
    for case in cases:
        lines = [f"=== {case.title}", f"target: {case.target}"] + ([f"caps: {case.caps}"] if case.caps else [])
        lines += [f"options: {case.options}"] if case.options else []
        for name in SECTIONS:
            if name in case.sections:
                lines += [f"--- {name}", case.sections[name]]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def recompute(case: Case, index: int, run: "LinesRun | None" = None) -> Case:
    """The case with `before`, `after` and `notes` of the pass at `PASSES[index]` as they are now
    (`run` records the lines the pass itself runs: tracing the whole compile would take seconds)."""
    inputs = json.loads(case.sections.get("inputs") or "{}")
    request, backend = request_for(case.sections["prompt"] + "\n", case.target, inputs, json.loads(case.caps or "{}"),
                                   json.loads(case.options or "{}"))
    before = run_passes(request, backend.context(Sink()),
                        passes=PASSES[:index])
    ctx = backend.context(Sink())
    with run.tracing() if run is not None else contextlib.nullcontext():
        after = PASSES[index](before, ctx)
    before_text, after_text = format_request(before), format_request(after)
    sections = {k: case.sections[k] for k in ("prompt", "inputs") if k in case.sections}
    sections.update(before=before_text, after=UNCHANGED if after_text == before_text else after_text,
                    notes=format_notes(ctx.report.items) or NO_NOTES)
    return attrs.evolve(case, sections=sections)


def format_notes(diagnostics) -> str:
    """One line per diagnostic, `SEVERITY CODE LINE:COL MESSAGE`, and its help indented under it."""
    lines = []
    for d in diagnostics:
        where = "{}:{}".format(*d.span.start_line_col) if d.span is not None else "-"
        lines.append(f"{d.severity} {d.code} {where} {d.message}")
        if d.help:
            lines.append(f"  help: {d.help}")
    return "\n".join(lines)


@pytest.mark.parametrize("name", PASS_NAMES)
def test_pass_goldens(name, request):
    path = FIXTURES / f"{name}.txt"
    assert path.exists(), f"pass {name} has no fixture file {path.relative_to(REPO)}"
    text = path.read_text(encoding="utf-8")
    preamble, cases = parse_fixture(text)
    assert len(cases) >= MIN_CASES, f"{path.name}: {len(cases)} cases, at least {MIN_CASES} wanted"
    index = PASS_NAMES.index(name)
    module = sys.modules[PASSES[index].__module__]
    run = LinesRun(module.__file__)
    fresh = format_fixture(preamble, [recompute(c, index, run) for c in cases])
    if request.config.getoption("--update-goldens"):
        path.write_text(fresh, encoding="utf-8")
    else:
        diff = "".join(difflib.unified_diff(text.splitlines(True), fresh.splitlines(True), str(path), "now"))
        assert not diff, f"{path.name} differs (pytest --update-goldens, then review the diff):\n{diff}"
    if run.lines is not None:
        source = Path(module.__file__).read_text(encoding="utf-8").splitlines()
        missed = sorted(n for n in run.missed() if source[n - 1].strip() not in UNREACHABLE.get(name, ()))
        assert not missed, f"no case of {path.name} runs these lines of {name}.py: add cases for them\n" + "\n".join(
            f"{n}: {source[n - 1]}" for n in missed)


class LinesRun:
    """The lines of one file run inside its `tracing()` blocks, and the functions of it that were
    called (`lines` is None under another tracer: a debugger or a coverage tool, which this one
    would disturb)."""

    def __init__(self, filename: str):
        self.filename, self.called = filename, set()
        self.lines: set[int] | None = set() if sys.gettrace() is None else None

    @contextlib.contextmanager
    def tracing(self):
        """Record the lines of the file run inside the block."""
        if self.lines is None:
            yield
            return
        sys.settrace(self._call)
        try:
            yield
        finally:
            sys.settrace(None)

    def missed(self) -> set[int]:
        """The lines of the called functions that did not run (`def` lines left out). A function
        never called is not counted: its call site is a missed line, unless the module's other
        callers (not the pass) use it."""
        return {line for code in self.called for _, _, line in code.co_lines()
                if line is not None and line != code.co_firstlineno} - self.lines

    def _call(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename:
            return None
        self.called.add(frame.f_code)
        return self._line

    def _line(self, frame, event, arg):
        if event == "line":
            self.lines.add(frame.f_lineno)
        return self._line


def test_every_fixture_file_names_a_pass():
    assert sorted(p.stem for p in FIXTURES.glob("*.txt")) == sorted(PASS_NAMES)


def test_fixture_files_read_back_as_written():
    for path in sorted(FIXTURES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        assert format_fixture(*parse_fixture(text)) == text, path.name


def test_a_case_runs_under_its_target_and_caps():
    source = 'prompt p() {\n  system "S"\n  user "U"\n}\n'
    plain, backend = request_for(source, "mistral", {}, {})
    merged, merging = request_for(source, "mistral", {}, {"system": "merge", "media": ["image", "audio"]})
    assert plain == merged and [m.role for m in plain.messages] == ["system", "user"]
    assert backend.caps.system != "merge" and merging.caps.system == "merge"
    assert merging.caps.media == frozenset({"image", "audio"})


def test_the_case_shown_in_the_docs_is_a_real_one():
    doc = (REPO / "docs" / "compile.md").read_text(encoding="utf-8")
    block = re.search(r"^( *)```text\n(\1=== .*?)^\1```$", doc, re.M | re.S)
    assert block, "docs/compile.md shows a case of tests/passes/"
    shown = textwrap.dedent(block.group(2))
    assert any(shown in path.read_text(encoding="utf-8") for path in FIXTURES.glob("*.txt")), \
        "the case in docs/compile.md differs from its fixture: copy it again"
