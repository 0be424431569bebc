"""The docs run: every example in docs/*.md is checked against the compiler.

docs/diagnostics.md: each `## PPxxx: title` section's title must equal
CODES[code], and every code in CODES needs a section. A section's example is
"`name.prompt`:" with a ``` block of source, then a line ending in "prints:"
with a ``` block of output. The source is written under that name to a fresh
folder (which holds a `polyprompt.toml`, so it is the project root), checked
from inside it with `check_file`, and `render_all` of the diagnostics must
equal the printed block exactly. Sections without an example (PP3xx-PP5xx,
not emitted yet) are skipped; every PP1xx/PP2xx code needs one. The PP109
example needs a byte that is not UTF-8: a section whose prose says the file is
"saved as Latin-1" has its source written as Latin-1, so the `é` shown
becomes the byte 0xE9.

docs/language.md and docs/types.md: every ```polyprompt block is a whole
file. All of a doc's blocks are written to one folder first (so examples can
import each other), each named by an HTML comment on the lines above its fence
(`<!-- file: style/tone.prompt -->`, else `block<line>.prompt`), then each
is checked:

- a plain block must give no diagnostic at all, and be in canonical form
  (`format_text(src) == src`);
- `<!-- expect: PP220 -->` marks a block that shows an error: it must give at
  least one error, and exactly the listed codes (comma-separated); when the
  next fence is a ```text block showing a diagnostic, the real rendering must
  appear in it (around it may be a `$ polyprompt ...` line and the summary);
- `<!-- nofmt -->` skips the formatting check;
- `<!-- fmt-before -->` marks a clean block that is not canonical on purpose:
  `polyprompt fmt` must turn it into the next ```polyprompt block.

In docs/types.md, `<!-- schema: Triage -->` (or `example:`, `notation:`)
above a block says it is exactly what `schema(Triage)` inserts, for a type
declared in the doc's ```polyprompt blocks.

Other tags (```text for outlines and rendered values, ```json) are not run, nor
are the blocks of the other docs; every doc uses one fence name per language
(`FENCE_NAMES`). The README's quick start and `.ci/main`'s compile command are
run as written (the last section of this file).

When the compiler's output changes, refresh the docs instead of editing them:

    POLYPROMPT_UPDATE_DOCS=1 pytest -q tests/test_docs.py

In that mode a differing diagnostics.md output block or types.md view is
rewritten with the real output (and the test passes); review the result with
`git diff` and fix any prose that no longer matches. Source blocks are never
rewritten. (Run it without pytest-xdist: the tests rewrite one file in turn.)
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import NamedTuple

import click
import pytest

from polyprompt.api import analyze, check_file, format_text
from polyprompt.compiler.builtins import FUNCTIONS
from polyprompt.compiler.diagnostics import CODES, render_all

DOCS = Path(__file__).resolve().parent.parent / "docs"
DIAGNOSTICS_MD = DOCS / "diagnostics.md"
SOURCE_DOCS = ("language.md", "types.md")
UPDATE = os.environ.get("POLYPROMPT_UPDATE_DOCS") == "1"

_SECTION = re.compile(r"^## (PP\d{3}): (.*)$", re.M)
_NEXT_HEADING = re.compile(r"^## ", re.M)
_EXAMPLE = re.compile(
    r"^`(?P<name>[\w./-]+\.prompt)`:\n\n```\n(?P<src>.*?)^```\n\n"
    r"^(?P<cmd>[^\n]*)prints(?: on stderr)?:\n\n```\n(?P<out>.*?)\n?^```$",
    re.M | re.S,
)
_FENCE = re.compile(r"^```(?P<lang>[\w-]*)\n(?P<body>.*?)^```$", re.M | re.S)
_NOTE = re.compile(r"<!--\s*([\w-]+)(?::\s*(.*?))?\s*-->")


def replace(path: Path, span: tuple[int, int], new: str) -> None:
    """Rewrite `path` with `new` in place of the characters in `span`."""
    text = path.read_text(encoding="utf-8")
    path.write_text(text[:span[0]] + new + text[span[1]:], encoding="utf-8")


# ------------------------------------------------------------ diagnostics.md
class Example(NamedTuple):
    name: str
    source: bytes
    printed: str
    out_span: tuple[int, int]  # where the printed text is in the file
    command: str = ""  # the line before "prints": a `polyprompt compile` example runs that command


def sections(text: str) -> dict[str, tuple[str, int, int]]:
    """`{code: (title, start, end)}` for every `## PPxxx: title` section."""
    out = {}
    for m in _SECTION.finditer(text):
        nxt = _NEXT_HEADING.search(text, m.end())
        out[m.group(1)] = (m.group(2).strip(), m.start(), nxt.start() if nxt else len(text))
    return out


def example(code: str) -> Example | None:
    """The example of `code`'s section, or None when it has none."""
    text = DIAGNOSTICS_MD.read_text(encoding="utf-8")
    _title, start, end = sections(text)[code]
    m = _EXAMPLE.search(text, start, end)
    if m is None:
        return None
    # Prose saying the file "is saved as Latin-1" (PP109): write those bytes.
    encoding = "latin-1" if "saved as Latin-1" in text[start:m.start()] else "utf-8"
    return Example(m.group("name"), m.group("src").encode(encoding), m.group("out"), m.span("out"), m.group("cmd"))


def compiled(folder: Path, ex: Example) -> str:
    """What the example's `polyprompt compile ...` command prints on stderr (PP3xx/PP4xx).

    The command line reads "With `inputs.json` holding `{...}`, `polyprompt compile X -t T ...`".
    """
    import json
    import subprocess
    import sys

    holding = re.search(r"holding `(\{.*?\})`", ex.command)
    if holding:
        (folder / "inputs.json").write_text(json.dumps(json.loads(holding.group(1))), encoding="utf-8")
    args = re.search(r"`polyprompt (compile [^`]*)`", ex.command).group(1).split()
    out = subprocess.run([sys.executable, "-m", "polyprompt", *args], cwd=folder, capture_output=True, text=True)
    blocks = out.stderr.strip().split("\n\n")
    code = f"[{ex.printed.split('[', 1)[1][:5]}]" if "[PP" in ex.printed else None
    chosen = [b for b in blocks if code and code in b]
    return "\n\n".join(chosen) if chosen else out.stderr.strip()


def rendered(folder: Path, name: str, source: bytes, monkeypatch, ex: Example | None = None) -> str:
    """What `polyprompt check NAME` (or the example's compile command) prints, run inside `folder`."""
    (folder / "polyprompt.toml").write_text("", encoding="utf-8")
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(source)
    monkeypatch.chdir(folder)
    if ex is not None and "polyprompt compile" in ex.command:
        return compiled(folder, ex)
    _program, diagnostics = check_file(name)
    return render_all(diagnostics)


_SECTIONS = sections(DIAGNOSTICS_MD.read_text(encoding="utf-8"))
_WITH_EXAMPLE = [code for code in _SECTIONS if example(code)]


def test_every_code_has_a_section_with_its_title() -> None:
    for code, title in CODES.items():
        assert code in _SECTIONS, f"docs/diagnostics.md has no `## {code}: {title}` section"
        assert _SECTIONS[code][0] == title, f"{code}: the doc says {_SECTIONS[code][0]!r}, CODES says {title!r}"
    assert not set(_SECTIONS) - set(CODES), f"sections for unknown codes: {sorted(set(_SECTIONS) - set(CODES))}"


def test_emitted_codes_have_examples() -> None:
    front_end = {c for c in CODES if c.startswith(("PP1", "PP2"))}
    assert not front_end - set(_WITH_EXAMPLE), f"no example for {sorted(front_end - set(_WITH_EXAMPLE))}"


@pytest.mark.parametrize("code", _WITH_EXAMPLE)
def test_diagnostic_example(code: str, tmp_path: Path, monkeypatch) -> None:
    ex = example(code)
    real = rendered(tmp_path, ex.name, ex.source, monkeypatch, ex)
    assert f"[{code}]" in real or code == "PP300", f"the {code} example does not report {code}:\n{real}"
    if real != ex.printed and UPDATE:
        empty = ex.out_span[0] == ex.out_span[1]  # an empty block has no newline to keep
        replace(DIAGNOSTICS_MD, ex.out_span, real + "\n" * empty)
        return
    assert real == ex.printed, f"{code}: the output changed (POLYPROMPT_UPDATE_DOCS=1 rewrites it)"


# ------------------------------------------------ language.md and types.md
class Block(NamedTuple):
    doc: str
    line: int
    lang: str
    body: str
    span: tuple[int, int]  # where the body is in the file
    notes: dict[str, str]
    next_fence: tuple[str, str] | None  # (lang, body) of the following block

    @property
    def name(self) -> str:
        return self.notes.get("file") or f"block{self.line}.prompt"

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def notes_above(lines: list[str], index: int) -> dict[str, str]:
    """The `<!-- key: value -->` comments on the lines just above line `index`."""
    out: dict[str, str] = {}
    while index > 0 and (m := _NOTE.fullmatch(lines[index - 1].strip())):
        out[m.group(1)] = m.group(2) or ""
        index -= 1
    return out


def fences(doc: str) -> list[Block]:
    """Every fenced block of a doc, whatever its tag."""
    text = (DOCS / doc).read_text(encoding="utf-8")
    lines = text.split("\n")
    found = list(_FENCE.finditer(text))
    out = []
    for m, nxt in zip(found, found[1:] + [None]):
        line = text.count("\n", 0, m.start())
        out.append(Block(doc, line + 1, m.group("lang"), m.group("body"), m.span("body"),
                         notes_above(lines, line), (nxt.group("lang"), nxt.group("body")) if nxt else None))
    return out


def blocks(doc: str) -> list[Block]:
    """Every ```polyprompt block of a doc."""
    return [b for b in fences(doc) if b.lang == "polyprompt"]


def write_all(doc: str, folder: Path, monkeypatch) -> None:
    """Write every ```polyprompt block of `doc` into `folder`, and go there."""
    for block in blocks(doc):
        path = folder / block.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.body, encoding="utf-8")
    monkeypatch.chdir(folder)


_BLOCKS = [b for doc in SOURCE_DOCS for b in blocks(doc)]


def test_source_docs_have_blocks() -> None:
    for doc in SOURCE_DOCS:
        assert blocks(doc), f"docs/{doc} has no ```polyprompt block: were the fences renamed?"
    names = [b.name for doc in SOURCE_DOCS for b in blocks(doc)]
    assert len(names) == len(set(names)), "two blocks of a doc use the same <!-- file: --> name"
    assert len(views()) >= 3, "docs/types.md lost its <!-- schema: T --> annotations"


@pytest.mark.parametrize("block", _BLOCKS, ids=lambda b: b.id)
def test_source_block(block: Block, tmp_path: Path, monkeypatch) -> None:
    write_all(block.doc, tmp_path, monkeypatch)
    _program, diagnostics = check_file(block.name)
    shown = render_all(diagnostics)
    if "expect" in block.notes:
        expected = {c.strip() for c in block.notes["expect"].split(",")}
        assert any(d.is_error for d in diagnostics), f"{block.id} should show an error:\n{shown}"
        assert {d.code for d in diagnostics} == expected, f"{block.id} expects {sorted(expected)}:\n{shown}"
        if block.next_fence and block.next_fence[0] == "text" and "error[" in block.next_fence[1]:
            assert shown in block.next_fence[1], f"{block.id}: the output shown is not the real one:\n{shown}"
        return
    assert diagnostics == [], f"{block.id} should check clean:\n{shown}"
    if "fmt-before" in block.notes:
        after = block.next_fence
        assert after and after[0] == "polyprompt", f"{block.id}: no ```polyprompt block follows"
        assert format_text(block.body) == after[1], f"{block.id}: `fmt` gives another result"
    elif "nofmt" not in block.notes:
        assert format_text(block.body) == block.body, f"{block.id} is not in canonical form"


# ------------------------------------------------ types.md: schema, example, notation
def views() -> dict[str, Block]:
    """`{"schema: Triage": block}` for every annotated view in types.md."""
    return {f"{k}: {v}": b for b in fences("types.md") for k, v in b.notes.items() if k in FUNCTIONS}


@pytest.mark.parametrize("key", list(views()))
def test_type_view(key: str, tmp_path: Path, monkeypatch) -> None:
    block = views()[key]
    write_all("types.md", tmp_path, monkeypatch)
    types: dict = {}
    for source in blocks("types.md"):
        types.update(analyze(source.name).types())
    view, name = key.split(": ")
    real = FUNCTIONS[view].run(types[name]) + "\n"
    if real != block.body and UPDATE:
        replace(DOCS / "types.md", block.span, real)
        return
    assert real == block.body, f"{block.id}: `{key}` changed (POLYPROMPT_UPDATE_DOCS=1 rewrites it):\n{real}"


# ------------------------------------------------ README, the CLI's docs, fences
REPO = DOCS.parent
README = REPO / "README.md"
ALL_DOCS = [README, *sorted(DOCS.glob("*.md"))]
#: One fence name per language: `polyprompt` for the language, `bash` for commands, `console` for a
#: transcript (`$ ` lines and their output), `text` for output, no name for diagnostics.md's examples.
FENCE_NAMES = {"", "polyprompt", "bash", "console", "json", "python", "text"}


def quick_start() -> list[str]:
    """The README's quick start as lines of bash: its first ```bash block."""
    text = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    return text.split("```bash\n", 1)[1].split("\n```", 1)[0].splitlines()


def run_bash(lines: list[str], cwd: Path):
    import subprocess
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(lines)], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_the_readme_opens_with_the_two_commands() -> None:
    """A fresh machine: the main job (setup, examples, bodies) and the whole suite, before anything else."""
    text = README.read_text(encoding="utf-8")
    first = _FENCE.search(text)
    assert first and first.group("lang") == "bash" and first.group("body") == "bash .ci/main\nbash .ci/run\n"
    assert text.index("## Prerequisites") < text.index("## Quick start") < text.index("## What works today")


def test_the_quick_start_commands_work(tmp_path: Path) -> None:
    """Every quick-start command but installing and running the model (the slow test below runs it)."""
    lines = [line for line in quick_start() if not line.startswith(("pip install", "polyprompt run"))]
    assert sum(line.startswith("polyprompt ") for line in lines) == 4
    out = run_bash(lines, tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert '"max_completion_tokens": 10' in out.stdout and "info[PP405]" in out.stderr  # compile --explain
    assert json.loads((tmp_path / "anthropic.json").read_text())["max_tokens"] == 10
    assert "PASS triage.prompt::double charge" in out.stdout and "2 new snapshots written" in out.stderr
    assert "warning[" not in out.stderr and "error[" not in out.stderr and "error:" not in out.stderr


@pytest.mark.slow
def test_the_quick_start_runs_the_model(tmp_path: Path) -> None:
    out = run_bash([line for line in quick_start() if not line.startswith("pip install")], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert {"billing", "bug", "feature_request", "other"} & set(out.stdout.split())


def test_the_main_job_writes_the_reports(tmp_path: Path) -> None:
    """`.ci/main` sends each compile's stderr to `<name>.report.txt`: with `--explain` the report is
    there (the files were empty). Its compile command, run for one example and target."""
    import shutil
    import sys

    script = (REPO / ".ci" / "main").read_text(encoding="utf-8")
    command = re.search(r"if (\$pp compile .*?); then", script, re.S).group(1).replace("\\\n", " ")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    out = run_bash([f"pp='{sys.executable} -m polyprompt'", "target=anthropic", "name=ticket_triage",
                    "prompt=examples/$name.prompt", 'mkdir -p "out/$target"', command], tmp_path)
    assert out.returncode == 0, out.stderr
    report = (tmp_path / "out" / "anthropic" / "ticket_triage.report.txt").read_text()
    assert "[PP4" in report or "no changes" in report, report
    assert json.loads((tmp_path / "out" / "anthropic" / "ticket_triage.json").read_text())["messages"]


def test_every_command_is_in_the_docs() -> None:
    """docs/api.md's table has every command with its options, the README's table every command."""
    from polyprompt.cli import cli

    api = (DOCS / "api.md").read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8").split("## Commands", 1)[1]
    for name, command in cli.commands.items():
        assert f"| `polyprompt {name}" in api, f"docs/api.md does not list `polyprompt {name}`"
        assert f"| `polyprompt {name}" in readme, f"the README's commands do not list `polyprompt {name}`"
        row = next(line for line in api.splitlines() if line.startswith(f"| `polyprompt {name}"))
        for param in command.params:
            if isinstance(param, click.Option) and param.opts != ["--format"] and not any(
                    f"{o} " in row or f"{o}]" in row or f"{o}`" in row for o in param.opts):
                raise AssertionError(f"docs/api.md: `polyprompt {name}` does not show {param.opts[0]}")


def test_one_fence_name_per_language() -> None:
    for path in ALL_DOCS:
        for block in _FENCE.finditer(path.read_text(encoding="utf-8")):
            where = f"{path.name}: ```{block.group('lang')} {block.group('body')[:40]!r}"
            assert block.group("lang") in FENCE_NAMES, f"{where}: use one of {sorted(FENCE_NAMES)}"
            lines = block.group("body").splitlines()
            if block.group("lang") == "bash":
                assert not any(line.startswith("$ ") for line in lines), f"{where}: a transcript is ```console"
            if block.group("lang") == "console":
                assert lines[0].startswith("$ "), f"{where}: a ```console block starts with a `$ ` command"


def test_no_doc_promises_a_language_server() -> None:
    """There is none yet (editors are a later stage): the diagnostics page must not say it reports."""
    assert "language server" not in (DOCS / "diagnostics.md").read_text(encoding="utf-8")


def test_shell_completion_is_documented() -> None:
    install = (DOCS / "install.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"polyprompt completion {shell}" in install


def test_declared_target_blocks_apply_as_documented(tmp_path: Path, monkeypatch) -> None:
    """docs/targets.md and docs/language.md once disagreed: the blocks of the built-in target a
    declared target names apply to it; a condition compares the name and family only."""
    from polyprompt.session import load

    (tmp_path / "d.prompt").write_text('''target dev "openai-chat" {
  model "gpt-4o-mini"
}

prompt p() {
  target "openai-chat" {
    user "builtin"
  }
  target "openai" {
    user "family"
  }
  target "dev" {
    user "name"
  }
  user "{% if target == 'openai-chat' %}cond-builtin{% end %}{% if target == 'openai' %}cond-family{% end %}"
}
''')
    body = load(tmp_path / "d.prompt").compile("dev").body
    assert [m["content"] for m in body["messages"]] == ["builtin", "family", "name", "cond-family"]
    targets = " ".join((DOCS / "targets.md").read_text(encoding="utf-8").split())
    assert ('the blocks `target "dev" { }`, `target "openai" { }` and `target "openai-chat" { }` all apply'
            in targets)
    assert '`target == "openai-chat"` does not' in targets
    language = " ".join((DOCS / "language.md").read_text(encoding="utf-8").split())
    assert '(`target fast "openai-chat"` takes the `target "openai-chat"` blocks)' in language


def test_security_doc_names_every_security_test_module():
    """docs/security.md states each guarantee and the module that holds it: a new security module is
    named there, and a named module exists."""
    doc = (REPO / "docs" / "security.md").read_text()
    modules = {p.name for p in (REPO / "tests").glob("test_security_*.py")}
    named = set(re.findall(r"tests/(test_security_\w+\.py)", doc))
    assert modules == named
