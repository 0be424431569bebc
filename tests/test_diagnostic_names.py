"""`Diagnostic.names`: the names a finding is about, set where it is made and read by tools
(the recovery filter, the JSON output) instead of being parsed back out of the message."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from polyprompt.api import check_text
from polyprompt.compiler.check import _drop_recovery_cascades
from polyprompt.compiler.diagnostics import Diagnostic, Sink, to_json
from polyprompt.compiler.span import SourceFile, Span

TYPES = 'type R { a: str, b: str }\nfragment f(x: str) """\n  {{ x }}\n  """\n'


@pytest.mark.parametrize("body, code, names", [
    ('user "{{ nope }}"', "PP200", ("nope",)),
    ('user "{{ r.c }}"', "PP203", ("c",)),
    ('user "{{ f() }}"', "PP224", ("x",)),
    ('user "hi"', "PP240", ("r",)),
])
def test_name_checks_set_the_names(body, code, names):
    text = TYPES + f'prompt p(r: R) {{\n  {body}\n}}\n'
    found = [d for d in check_text(text) if d.code == code]
    assert found and found[0].names == names, [(d.code, d.message, d.names) for d in check_text(text)]


def test_an_unknown_type_and_missing_fields_name_themselves():
    found = {d.code: d.names for d in check_text('prompt p(x: Nope) {\n  user "{{ x }}"\n}\n')}
    assert found["PP202"] == ("Nope",)
    text = TYPES + 'prompt p(r: R) {\n  user "{{ r.a }}"\n}\ntest p "t" {\n  r = { c: "x" }\n}\n'
    found = {d.code: d.names for d in check_text(text)}
    assert found["PP224"] == ("a", "b")


def test_json_output_lists_the_names():
    [item] = json.loads(to_json([d for d in check_text('prompt p() {\n  user "{{ nope }}"\n}\n')]))
    assert item["names"] == ["nope"]
    [plain] = json.loads(to_json([_diagnostic("PP400", ())]))
    assert "names" not in plain


def _diagnostic(code: str, names: tuple[str, ...]) -> Diagnostic:
    source = SourceFile("t.prompt", "zzz")
    return Diagnostic(code, "error", "a message without the name", Span(source, 0, 3), names=names)


def test_recovery_filter_reads_the_names_not_the_message():
    source = SourceFile("t.prompt", "  user foo(bar)\n")
    program = SimpleNamespace(modules={"t": SimpleNamespace(tree=SimpleNamespace(skipped=(Span(source, 0, 15),)))})
    sink = Sink()
    dropped, kept = _diagnostic("PP200", ("foo",)), _diagnostic("PP200", ("other",))
    partly = _diagnostic("PP224", ("missing", "bar"))
    for d in (dropped, kept, partly):
        sink.add(d)
    _drop_recovery_cascades(program, sink)
    assert sink.items == [kept]
