"""The properties every API target shares, parametrized by the registry (`backends.api_targets()`),
so a new target module is covered without a list to keep: its bodies are valid against its
official schema, its sample reply reads, its options are documented, its facts hold together.
Beside them, tests/test_backend_<target>.py test each target's own edges.

And the contract between the core and the backends (compiler/targets.py): the checker receives
the target catalog and imports no backend; passes see data, never a backend; emitters take the
lowered request alone and report nothing."""
from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler import passes
from polyprompt.compiler.targets import TargetCatalog

import schemas
from helpers import REPO
from test_golden import EXAMPLE_FILES, compile_example

TARGETS = backends.api_targets()
NAMES = sorted(TARGETS)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_body_is_valid(path, name):
    try:
        body = compile_example(path, name).body
    except polyprompt.CompileError as err:  # what the target cannot express (e.g. audio): PP3xx errors
        assert all(d.code.startswith("PP3") for d in err.diagnostics), err.diagnostics
        return
    assert schemas.body_errors(TARGETS[name].schema, body) == []


@pytest.mark.parametrize("name", NAMES)
def test_the_official_schema_is_at_hand(name):
    location, schema_name = TARGETS[name].schema
    assert schemas.local_copy(location).exists() and schema_name


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_reply_reads(name):
    cls = TARGETS[name]
    reply = polyprompt.parse(name, cls.sample_reply)
    for field, value in cls.sample_reading.items():
        assert getattr(reply, field) == value, field


@pytest.mark.parametrize("name", NAMES)
def test_options_are_documented(name):
    doc = (REPO / "docs" / "targets.md").read_text(encoding="utf-8")
    for option, spec in TARGETS[name].OPTIONS.items():
        assert spec.doc and spec.wanted and callable(spec.accepts)
        assert re.search(rf"^\s*\| `{re.escape(name)}` \|[^|\n]*`{option}`", doc, re.M), \
            f"docs/targets.md lists no `{option}` option of {name}"
        assert option in backends.catalog().options()


@pytest.mark.parametrize("name", NAMES)
def test_facts_hold_together(name):
    cls = TARGETS[name]
    assert backends.foreign_model(cls.default_model, cls.family) is None, "its default model is another's"
    dialect = cls.caps.structured_output
    if dialect is not None:
        assert backends.dialect(dialect).name == dialect, f"no module defines the dialect `{dialect}`"
    assert not (set(cls.__dict__) & {"lower", "compile"}), "lowering is passes only (`passes`)"


@pytest.mark.parametrize("name", NAMES + ["hf-family:qwen3"])
def test_emitters_take_the_lowered_request_alone(name):
    cls = backends.get(name)
    for method in ("emit", "write_messages"):
        params = list(inspect.signature(getattr(cls, method)).parameters)
        assert "report" not in params, f"{name}.{method} takes a report"


@pytest.mark.parametrize("name", NAMES + ["hf-family:qwen3"])
def test_the_message_writer_stands_alone(name):
    """The message writer takes lowered turns without a request (for dataset formats to reuse)."""
    from polyprompt.compiler import ir

    turns = [ir.Message(role="user", parts=(ir.Text(text="Where is my order?"),)),
             ir.Message(role="assistant", parts=(ir.Text(text="On its way."),))]
    written = backends.get(name)().write_messages(turns)
    assert len(written) == 2 and "Where is my order?" in str(written[0]) and "On its way." in str(written[1])


def test_passes_see_data_not_a_backend():
    fields = {f.name for f in passes.PassContext.__attrs_attrs__}
    assert {"name", "caps", "refusals"} <= fields and "backend" not in fields
    for module in (REPO / "compiler" / "passes").glob("*.py"):
        assert "backend." not in module.read_text(encoding="utf-8"), module.name


def test_the_checker_receives_the_catalog_and_imports_no_backend():
    code = """
import sys
from polyprompt.compiler.check import check_program
from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.loader import load_text
from polyprompt.compiler.targets import TargetCatalog
sink = Sink()
text = 'target q "hf-family:qwen" { model "m" }\\ntarget x "opnai-chat" { }\\nprompt p() {\\n  user "hi"\\n}\\n'
check_program(load_text(text, sink, "t.prompt"), sink, TargetCatalog(names=["openai-chat"], families=["qwen3"]))
print([d.help for d in sink.sorted() if d.code == "PP300"])
print(sorted(m for m in sys.modules if m.startswith("polyprompt.backends") or m == "jinja2"))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    helps, imported = out.splitlines()
    assert helps == "['did you mean `hf-family:qwen3`?', 'did you mean `openai-chat`?']"
    assert imported == "[]"


def test_the_real_catalog():
    catalog = backends.catalog()
    assert isinstance(catalog, TargetCatalog) and catalog.names() == NAMES
    assert catalog.unknown("hf:/any/folder") is None and catalog.unknown("hf-family:qwen3") is None
    assert catalog.unknown("anthropc") == "did you mean `anthropic`?"
    assert list(catalog.options())[:2] == ["base_url", "store"] and {"date", "tokenizer"} <= set(catalog.options())
