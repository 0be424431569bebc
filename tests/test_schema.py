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
