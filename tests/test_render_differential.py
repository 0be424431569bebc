"""One semantics: random prompts of the statement language with random JSON inputs, compiled for
every API target. Whichever way makes the body (the generated renderer, the compile cache, or the
closures and the passes), it is the same body, the same report and the same error."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

import polyprompt
from polyprompt import backends
from polyprompt.compiler.inputs import InputError
from polyprompt.session.targets import info as target_info

HEADER = '''type Rec {
  a: str
  k: int
  tags: list[str]
}

enum Color { red, green }

tool lookup(id: int, note: str = "n") -> str "Look a thing up."

fragment greet(who: str, end: str = "!") "Hello {{ who }}{{ end }}"

fragment intro(x: str) {
  system "Intro {{ x }}{{ greet(x) }}"
  if x == "x" {
    user "{{ x | upper }}"
  }
}

prompt p(s: str, n: int, b: bool, xs: list[str], r: Rec, j: json, c: Color, o: str? = null, h: messages = []) {
  model "m" { temperature: 0 }
  tools lookup
'''

TEXT_EXPRS = ["greet(s)", "greet(r.a, end = '?')", "s", "r.a", "c", "o | default('none')", "xs | join(', ')", "s | upper", "s | trim", "s | truncate(5)",
              "xs | bullets", "xs | numbered", "j | json", "j | string", "n", "r.k", "xs | length", "j.key",
              "xs[0]", "xs[-1]", "xs | first", "r.tags | join('-')", "'lit'", "s | indent", "o", "target.name",
              "b", "j['key']", "r.tags | last"]
BOOL_EXPRS = ["b", "not b", "n < 3", "r.k >= n", "s == 'x'", "c == Color.red", "s in xs", "'a' in s", "j == 'x'",
              "j == 1", "target == 'openai'", "target != 'anthropic'", "target.family == 'openai'", "xs", "o",
              "b and n > 1", "b or s == ''", "j.key == 'v'", "'key' in j", "n in [1, 2]", "s", "j"]
LISTS = ["xs", "r.tags"]
WORDS = st.sampled_from(["Hi", " ", "  ", "\\n", "a", "b.", ":", "-", "x y", "\\t", "é", "ok "])


@st.composite
def template(draw, depth: int = 0, loop_vars: tuple = ()) -> str:
    """The inside of a one-line string: text, `{{ }}`, `{% if %}` and `{% for %}` pieces."""
    pieces = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["text", "text", "expr", "if", "for"] if depth < 2 else ["text", "expr"]))
        if kind == "text":
            pieces.append(draw(WORDS))
        elif kind == "expr":
            pieces.append("{{ " + draw(st.sampled_from(TEXT_EXPRS + list(loop_vars))) + " }}")
        elif kind == "if":
            cond = draw(st.sampled_from(BOOL_EXPRS + list(loop_vars)))
            body = draw(template(depth + 1, loop_vars))
            orelse = draw(st.one_of(st.none(), template(depth + 1, loop_vars)))
            pieces.append(f"{{% if {cond} %}}{body}" + (f"{{% else %}}{orelse}" if orelse is not None else "")
                          + "{% end %}")
        else:
            var = f"v{depth}"
            body = draw(template(depth + 1, loop_vars + (var,)))
            pieces.append(f"{{% for {var} in {draw(st.sampled_from(LISTS))} %}}{body}{{{{ {var} }}}}{{% end %}}")
    return "".join(pieces)


@st.composite
def statements(draw, depth: int = 0, loop_vars: tuple = ()) -> list[str]:
    pad = "  " * (depth + 1)
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["msg", "msg", "msg", "for", "if", "other", "block"] if depth < 2 else ["msg", "other"]))
        if kind == "other":
            out.append(pad + draw(st.sampled_from(OTHER_STATEMENTS)))
        elif kind == "block":
            head = draw(st.sampled_from(["priority 1 {", "priority 2 {", 'target "openai" {', 'target "anthropic" {',
                                         'target "gemini" {']))
            out.append(pad + head)
            out += draw(statements(depth + 1, loop_vars))
            out.append(pad + "}")
        elif kind == "msg":
            role = draw(st.sampled_from(["system", "user", "user", "assistant"]))
            out.append(f'{pad}{role} "{draw(template(0, loop_vars))}"')
        elif kind == "for":
            var = f"w{depth}"
            out.append(f"{pad}for {var} in {draw(st.sampled_from(LISTS))} {{")
            out += draw(statements(depth + 1, loop_vars + (var,)))
            out.append(pad + "}")
        else:
            out.append(f"{pad}if {draw(st.sampled_from(BOOL_EXPRS + list(loop_vars)))} {{")
            out += draw(statements(depth + 1, loop_vars))
            if draw(st.booleans()):
                out.append(f"{pad}}} elif {draw(st.sampled_from(BOOL_EXPRS))} {{")
                out += draw(statements(depth + 1, loop_vars))
            if draw(st.booleans()):
                out.append(pad + "} else {")
                out += draw(statements(depth + 1, loop_vars))
            out.append(pad + "}")
    return out


#: statements other than messages and blocks, each on one line
OTHER_STATEMENTS = ["cache", 'cache "1h"', "budget 20", "use intro(s)", "use intro(x = r.a)", "history h",
                    "tool_call lookup(id = n)", 'tool_call lookup(id = r.k, note = s) id "c1"',
                    "tool_result lookup \"{{ s }} found\"", 'tool_result lookup id "c1" "done"',
                    'user { "look:" image(j.key) }']

TEXT = st.text(st.sampled_from(list("ab x\n\t{}\"'é😀-")), max_size=8)
JSON = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | TEXT | st.just("v") | st.just("x"),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["key", "k2"]), inner,
                                                                                max_size=2), max_leaves=6)


@st.composite
def inputs(draw) -> dict:
    values = {"s": draw(TEXT | st.just("x")), "n": draw(st.integers(-2, 5)), "b": draw(st.booleans()),
              "xs": draw(st.lists(TEXT, max_size=3)),
              "r": {"a": draw(TEXT), "k": draw(st.integers(-2, 5)), "tags": draw(st.lists(TEXT, max_size=2))},
              "j": draw(JSON), "c": draw(st.sampled_from(["red", "green"]))}
    if draw(st.booleans()):
        values["o"] = draw(st.none() | TEXT)
    if draw(st.booleans()):
        values["h"] = draw(st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                                           "content": TEXT}), max_size=3))
    if draw(st.booleans()) and isinstance(values["j"], dict):
        values["j"]["key"] = draw(st.sampled_from(["https://example.com/a.png", "data:image/png;base64,iVBORw0KGgo=",
                                                   ""]))
    return values


def outcome(make):
    """A compile's body and report codes, or the kind of error it raised."""
    try:
        result = make()
    except (polyprompt.CompileError, InputError) as err:
        return type(err).__name__, str(err)
    return json.dumps(result.body, sort_keys=True), [(d.code, d.message) for d in result.report]


def through_passes(pf, target: str, values: dict):
    """The body made by the closures, the passes and the emitter, whatever else is there."""
    compiled = pf.prompt()
    backend = pf.backend(target)
    return pf._through_passes(compiled, backend, pf.check_inputs(compiled, values), target_info(target, backend),
                              False)


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("POLYPROMPT_DIFF_EXAMPLES", "25")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking: a compile per target is slow
@given(body=statements(), first=inputs(), later=inputs())
def test_every_way_gives_the_same_body(body, first, later):
    source = HEADER + "\n".join(body) + "\n}\n"
    assume(not [d for d in polyprompt.check_text(source) if d.is_error])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.prompt"
        path.write_text(source)
        old = os.environ.get("POLYPROMPT_CACHE_DIR")
        os.environ["POLYPROMPT_CACHE_DIR"] = str(Path(tmp) / "cache")
        try:
            for target in backends.names():
                pf = polyprompt.load(path)
                pf.compile  # noqa: B018
                outcome(lambda: pf.compile(target, inputs=first))  # builds the generated path, stores the cache
                reference = outcome(lambda: through_passes(pf, target, later))
                assert outcome(lambda: pf.compile(target, inputs=later)) == reference, (target, source, later)
                again = polyprompt.load(path)  # a fresh load: from the compile cache when stored
                assert outcome(lambda: again.compile(target, inputs=later)) == reference, (target, source, later)
        finally:
            if old is None:
                os.environ.pop("POLYPROMPT_CACHE_DIR", None)
            else:
                os.environ["POLYPROMPT_CACHE_DIR"] = old


def test_the_generated_and_cached_ways_are_taken(tmp_path, monkeypatch):
    """The property above is not vacuous: prompts of its kind do take the other two ways."""
    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "p.prompt"
    header = HEADER.replace(", h: messages = []", "")  # the quick input check takes no `messages`
    path.write_text(header + '  user "{% for v0 in xs %}{{ v0 | upper }}{% end %}{{ j.key }}{{ greet(s) }}"\n}\n')
    values = {"s": "x", "n": 1, "b": True, "xs": ["a"], "r": {"a": "", "k": 1, "tags": []}, "j": {"key": 1},
              "c": "red"}
    pf = polyprompt.load(path)
    assert [pf.compile("openai-chat", inputs=values).made_by for _ in range(2)] == ["passes", "generated"]
    assert polyprompt.load(path).compile("openai-chat", inputs=values).made_by == "cache"
