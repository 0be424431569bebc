"""Types as JSON Schema: valid schemas, examples that validate, stable shapes."""
from __future__ import annotations

import jsonschema
import pytest

from polyprompt.api import analyze, check_text
from polyprompt.compiler import schema
from polyprompt.compiler import types as T

from helpers import EXAMPLES

FILES = sorted(EXAMPLES.glob("*.prompt"))


def declared_types():
    for path in FILES:
        for name, t in analyze(path).types().items():
            yield pytest.param(t, id=f"{path.stem}.{name}")


@pytest.mark.parametrize("t", list(declared_types()))
def test_schema_is_valid_and_example_validates(t):
    s = schema.json_schema(t)
    jsonschema.Draft202012Validator.check_schema(s)
    jsonschema.validate(schema.example_value(t), s, cls=jsonschema.Draft202012Validator)


def types_of(text: str, tmp_path) -> dict:
    path = tmp_path / "t.prompt"
    path.write_text(text)
    result = analyze(path)
    assert [d.message for d in result.diagnostics if d.is_error] == []
    return result.types()


def test_record_mapping(tmp_path):
    t = types_of('enum Color "A color" { red "warm", blue }\n'
                 'type Node { name: str "the name", color: Color = red, tags?: list[str], kids: list[Node] = [],\n'
                 '  score: float?, meta: map[int], unit: "c" | "f" }\n', tmp_path)["Node"]
    s = schema.json_schema(t)
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert s["required"] == ["name", "score", "meta", "unit"]
    p = s["properties"]
    assert p["name"] == {"type": "string", "description": "the name"}
    assert p["color"] == {"$ref": "#/$defs/Color", "default": "red"}
    assert p["tags"] == {"type": "array", "items": {"type": "string"}}
    assert p["kids"] == {"type": "array", "items": {"$ref": "#"}, "default": []}
    assert p["score"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert p["meta"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert p["unit"] == {"type": "string", "enum": ["c", "f"]}
    assert s["$defs"]["Color"] == {"type": "string", "enum": ["red", "blue"],
                                   "description": "A color. Members: red: warm."}
    example = schema.example_value(t)
    assert example["kids"] == [] and example["color"] == "red"
    jsonschema.validate(example, s)


def test_same_name_from_two_modules_gets_two_defs(tmp_path):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "other.prompt").write_text('type Item { b: int }\n')
    types = types_of('import "./other.prompt" { Item as OtherItem }\ntype Item { a: str }\n'
                     'type Message { x: str }\n'
                     'type Pair { one: Item, two: OtherItem, m: Message, h: messages }\n', tmp_path)
    s = schema.json_schema(types["Pair"])
    refs = [s["properties"][k].get("$ref") or s["properties"][k]["items"]["$ref"] for k in ("one", "two", "m", "h")]
    assert len(set(refs)) == 4
    assert s["$defs"]["Item"]["properties"] == {"a": {"type": "string"}}
    assert s["$defs"]["Item_2"]["properties"] == {"b": {"type": "integer"}}


def test_notation_is_compact_and_typed(tmp_path):
    t = types_of('type R { a: str "what a is", b?: list[int], c: "x" | "y" }\n', tmp_path)["R"]
    assert schema.notation(t) == '{\n  a: string, // what a is\n  b?: int[],\n  c: "x" | "y",\n}'


def test_builtin_functions_type_check():
    assert check_text('type R { a: str }\nprompt p() {\n  user "{{ schema(R) }}{{ example(R) }}{{ notation(R) }}"\n}\n') == []
    assert [d.code for d in check_text('prompt p(x: str) {\n  user "{{ schema(x) }}"\n}\n')] == ["PP220"]


def test_primitive_types():
    assert schema.json_schema(T.STR) == {"type": "string"}
    assert schema.json_schema(T.JSON) == {}
    assert schema.json_schema(T.MediaT("image"))["contentMediaType"] == "image/*"


# -- OpenAI strict mode (issue 11 item 1): a schema goes with `strict: true` only when it meets every rule

from polyprompt.compiler.strict_schema import strict_schema_problems  # noqa: E402

CLOSED = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}


def _with(**props) -> dict:
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


@pytest.mark.parametrize("bad, rule", [
    ({"type": "array", "items": {"type": "string"}}, "the root must be an object"),
    ({"anyOf": [CLOSED, {"type": "null"}]}, "not `anyOf`"),
    ({**CLOSED, "additionalProperties": True}, "needs `additionalProperties: false`, got `true`"),
    ({k: v for k, v in CLOSED.items() if k != "additionalProperties"}, "needs `additionalProperties: false`"),
    (_with(m={"type": "object", "additionalProperties": {"type": "integer"}}), "a `map` has open keys"),
    ({**CLOSED, "required": []}, "every property must be required"),
    ({**CLOSED, "required": ["a", "b"]}, "`required` names what `properties` lacks: b"),
    (_with(j={}), "at #/properties/j: no `type`"),
    (_with(j={"description": "any JSON"}), "no `type`"),
    (_with(e={"enum": ["a", 1]}), "no `type`"),
    (_with(t={"type": "date"}), "`type` `date` is not one of"),
    (_with(d={"type": "string", "default": "x"}), "`default` is not supported"),
    (_with(s={"type": "string", "minLength": 1}), "`minLength` is not supported"),
    (_with(o={"oneOf": [{"type": "string"}]}), "`oneOf` is not supported"),
    (_with(a={"allOf": [{"type": "string"}]}), "`allOf` is not supported"),
    (_with(t={"type": "array", "prefixItems": [{"type": "string"}]}), "`prefixItems` is not supported"),
    (_with(u={"type": "string", "format": "uri-reference"}), "format `uri-reference` is not supported"),
    (_with(r={"$ref": "#/$defs/Missing"}), "names no definition"),
    ({**_with(r={"$ref": "#/$defs/P", "description": "who"}), "$defs": {"P": CLOSED}}, "beside `$ref` (description)"),
    (_with(n={**CLOSED, "$defs": {"P": CLOSED}}), "`$defs` only at the root"),
    (_with(x={"anyOf": []}), "`anyOf` must be a non-empty list"),
    (_with(i={"type": "array", "items": [{"type": "string"}]}), "`items` must be one schema"),
    (_with(**{f"p{i}": {"type": "string"} for i in range(5001)}), "at most 5,000 object properties"),
    (_with(e={"type": "string", "enum": [f"v{i}" for i in range(1001)]}), "at most 1,000 enum values"),
    (_with(e={"type": "string", "enum": [f"{i:060d}" for i in range(251)]}), "at most 15,000 characters"),
    (_with(**{f"{i:0200d}": {"type": "string"} for i in range(601)}), "at most 120,000 characters"),
])
def test_each_strict_rule_is_checked(bad, rule):
    assert strict_schema_problems(CLOSED) == []
    problems = strict_schema_problems(bad)
    assert any(rule in p for p in problems), problems


def test_nesting_deeper_than_ten_objects_breaks_strict_mode():
    def nested(levels: int) -> dict:
        return CLOSED if levels == 1 else _with(inner=nested(levels - 1))

    assert strict_schema_problems(nested(10)) == []
    assert strict_schema_problems(nested(11)) == ["at #: at most 10 levels of nested objects, the schema has 11"]
    recursive = {**_with(kids={"type": "array", "items": {"$ref": "#"}}, child={"anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]}),
                 "$defs": {"N": _with(next={"anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]})}}
    assert strict_schema_problems(recursive) == []


def _strict_formats(body: dict) -> list[dict]:
    """The json_schema formats of a body (Chat Completions' and the Responses API's places)."""
    found = [(body.get("response_format") or {}).get("json_schema"), (body.get("text") or {}).get("format")]
    return [f for f in found if f]


@pytest.mark.parametrize("target", ["openai-chat", "openai-responses"])
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_strict_example_body_meets_the_rules(path, target):
    import json

    import polyprompt

    try:
        body = polyprompt.load(path).compile(target, inputs=json.loads(path.with_suffix(".input.json").read_text())).body
    except polyprompt.CompileError:
        return  # a prompt the target cannot express: no body
    for fmt in _strict_formats(body):
        assert fmt["strict"] is True and strict_schema_problems(fmt["schema"]) == [], path.stem


MAP_PROMPT = '''
type Usage { model: str, tokens: map[int] "tokens per model", extra?: json }
prompt p() -> Usage {
  user "Report the usage."
}
'''


@pytest.mark.parametrize("target", ["openai-chat", "openai-responses"])
def test_a_map_or_json_output_goes_with_strict_false_and_a_note(tmp_path, target):
    """OpenAI refuses `strict: true` with an open object or an untyped node (a 400): such a schema
    goes with `strict: false`, PP413 says why, and `--strict` fails."""
    import polyprompt

    path = tmp_path / "usage.prompt"
    path.write_text(MAP_PROMPT)
    result = polyprompt.load(path).compile(target)
    fmt, = _strict_formats(result.body)
    assert fmt["strict"] is False
    assert fmt["schema"]["properties"]["tokens"]["additionalProperties"] == {"type": "integer"}
    notes = [d for d in result.report if d.code == "PP413"]
    assert len(notes) == 1 and "sent with `strict: false`" in notes[0].message
    assert "a `map` has open keys" in notes[0].message and "(and 1 more)" in notes[0].message
    with pytest.raises(polyprompt.CompileError) as err:
        polyprompt.load(path).compile(target, strict=True)
    assert "PP413" in {d.code for d in err.value.diagnostics}


def test_a_strict_schema_is_lowered_to_meet_the_rules(tmp_path):
    """What has a strict form gets it: a literal of mixed kinds gets its types, a media value's
    `uri-reference` format goes, a described `$ref` is inlined (a recursive one loses the description)."""
    import polyprompt

    path = tmp_path / "t.prompt"
    path.write_text('type Party { name: str }\ntype Node { label: str, next: Node? "the next one" }\n'
                    'type Out { mode: "auto" | 1, pic: image, buyer: Party "who buys", chain: Node "a chain" }\n'
                    'prompt p() -> Out {\n  user "x"\n}\n')
    result = polyprompt.load(path).compile("openai-chat")
    fmt, = _strict_formats(result.body)
    props = fmt["schema"]["properties"]
    assert fmt["strict"] is True and strict_schema_problems(fmt["schema"]) == []
    assert props["mode"] == {"type": ["integer", "string"], "enum": ["auto", 1]}
    assert props["pic"] == {"type": "string"}
    assert props["buyer"] == {**fmt["schema"]["$defs"]["Party"], "description": "who buys"}
    assert props["chain"] == {"$ref": "#/$defs/Node"}


def test_strict_lowering_of_any_output_type():
    """For random output types: the strict dialect gives `strict: true` exactly when no `map`, `json`
    or `messages` value is reachable; a strict:true schema meets every rule; and a value of the type, as
    strict mode writes it (absent fields null), validates against the lowered schema."""
    from hypothesis import given, settings, strategies as st

    from polyprompt.backends.openai_chat import OPENAI_STRICT
    from polyprompt.compiler import ir
    from polyprompt.compiler.passes.lower_output_schema import _lowered
    from type_strategies import output_types, strict_reply, value_of

    @settings(max_examples=300, deadline=None)
    @given(output_types(), st.data())
    def check(t, data):
        out = ir.Output(name="p", type=t, schema=schema.json_schema(t))
        lowered, wrapped, _notes, problems = _lowered(out, OPENAI_STRICT)
        assert (problems == ()) == (not _open(t, set())), problems
        if not problems:
            assert strict_schema_problems(lowered) == []
        jsonschema.Draft202012Validator.check_schema(lowered)
        reply = strict_reply(value_of(data, t), t)
        jsonschema.validate({wrapped: reply} if wrapped else reply, lowered, cls=jsonschema.Draft202012Validator)

    check()


def _open(t, seen: set) -> bool:
    """Does a value of `t` hold a `map`, `json` or `messages` value somewhere (no strict form)?"""
    if isinstance(t, (T.MapT, T.JsonT, T.MessagesT)):
        return True
    if isinstance(t, (T.ListT, T.OptionalT)):
        return _open(t.item if isinstance(t, T.ListT) else t.inner, seen)
    if isinstance(t, T.RecordT) and id(t) not in seen:
        seen.add(id(t))
        return any(_open(f.type, seen) for f in t.fields.values())
    return False
