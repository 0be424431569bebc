"""vertex: bodies valid against the Vertex AI v1 protos (`google.cloud.aiplatform.v1.
GenerateContentRequest`, checked field by field by tests/proto_schema.py), and its edges
against the Gemini API it shares most of the body with: the model as a resource name,
function calls and responses without ids, `output`/`error` response keys, media of tool
results as `functionResponse.parts`, `responseJsonSchema` (which Vertex v1 has).

The same proto checker also holds the gemini target's bodies to the v1beta protos, a
stricter proof than the community OpenAPI document."""
from __future__ import annotations

import attrs

import pytest

from helpers import compile_source
from polyprompt import backends
from polyprompt.backends.gemini import Gemini
from polyprompt.backends.vertex import Vertex, guess_media_type
from polyprompt.compiler import ir

import proto_schema
from test_golden import EXAMPLE_FILES, compile_example

TARGET = "vertex"
VERTEX = "google.cloud.aiplatform.v1.GenerateContentRequest"
GEMINI = "google.ai.generativelanguage.v1beta.GenerateContentRequest"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_example_body_names_a_model_path(path):  # valid against the schema: tests/test_backends.py
    body = compile_example(path, TARGET).body
    assert body["model"].startswith("publishers/google/models/")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_every_gemini_body_is_valid_against_the_v1beta_protos(path):
    body = compile_example(path, "gemini").body
    assert proto_schema.errors(body, GEMINI) == []


def test_the_parser_reads_json_names_and_kinds():
    fields = proto_schema.fields_of(VERTEX)
    assert fields["systemInstruction"] == "optional Content" and fields["contents"] == "repeated Content"
    assert fields["labels"] == "map<string, string>"
    part = proto_schema.fields_of("google.cloud.aiplatform.v1.Part")
    assert part["inlineData"] == "Blob (oneof data)" and part["thoughtSignature"] == "bytes"
    config = proto_schema.fields_of("google.cloud.aiplatform.v1.GenerationConfig")
    assert config["responseJsonSchema"] == "optional google.protobuf.Value"  # Vertex v1 takes JSON Schema
    assert "id" not in proto_schema.fields_of("google.cloud.aiplatform.v1.FunctionCall")
    assert "id" in proto_schema.fields_of("google.ai.generativelanguage.v1beta.FunctionCall")


def test_the_parser_handles_nesting_oneofs_maps_and_options():
    registry = proto_schema.parse('''
syntax = "proto3";
package t.v1;
option (google.api.resource_definition) = { type: "x/Y" pattern: "a/{a}" };
// a comment with message Fake { }
message Outer {
  message Inner { enum Kind { KIND_UNSPECIFIED = 0; BIG = 1 [deprecated = true]; } Kind kind = 1; }
  reserved 7, 8;
  oneof choice {
    string name_text = 1 [(google.api.field_behavior) = OPTIONAL];
    Inner inner = 2;
  }
  map<string, Inner> by_key = 3;
  repeated int64 counts = 4 [(google.api.field_behavior) = REQUIRED, (google.api.resource_reference) = {
    type: "z" }];
  google.protobuf.Struct extra = 5 [(google.api.field_behavior) = OUTPUT_ONLY];
}
service S { rpc Get(Outer) returns (Outer) { option (google.api.http) = { post: "/v1/x" body: "*" }; } }
''')
    assert set(registry) == {"t.v1.Outer", "t.v1.Outer.Inner", "t.v1.Outer.Inner.Kind"}
    ok = {"nameText": "a", "byKey": {"k": {"kind": "BIG"}}, "counts": ["1", 2]}
    assert proto_schema.errors(ok, "t.v1.Outer", registry) == []
    bad = {"name_text": "a", "inner": {"kind": "HUGE"}, "byKey": [], "counts": 3, "extra": {}}
    assert proto_schema.errors(bad, "t.v1.Outer", registry) == [
        "/name_text: not a field of t.v1.Outer (the JSON name is `nameText`)",
        "/inner/kind: 'HUGE' is not a value of enum t.v1.Outer.Inner.Kind (KIND_UNSPECIFIED, BIG)",
        "/byKey: expected an object (map) for `by_key`",
        "/counts: expected a list for repeated `counts`",
        "/extra: output only in t.v1.Outer",
    ]
    both = {"nameText": "a", "inner": {}, "counts": []}
    assert proto_schema.errors(both, "t.v1.Outer", registry) == [
        "/: t.v1.Outer sets ['inner', 'nameText'], members of one oneof `choice`"]
    assert proto_schema.errors({}, "t.v1.Outer", registry) == ["/: t.v1.Outer requires `counts`"]


def test_the_validator_rejects_wrong_bodies():
    good = {"model": "publishers/google/models/gemini-2.5-flash",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    assert proto_schema.errors(good, VERTEX) == []
    assert proto_schema.errors({**good, "generation_config": {}}, VERTEX) == [
        ("/generation_config: not a field of google.cloud.aiplatform.v1.GenerateContentRequest "
         "(the JSON name is `generationConfig`)")]
    wrong = {
        **good,
        "contents": [{"role": "user", "parts": [
            {"text": "hi", "inlineData": {"mimeType": "image/png", "data": "iVBO"}},  # two members of oneof data
            {"functionCall": {"id": "c1", "name": "f", "args": {}}},  # Vertex v1 calls have no id
            {"fileData": {"fileUri": "gs://b/o.png"}},  # mimeType is required
            {"inlineData": {"mimeType": "image/png", "data": "not base64!"}},
        ]}],
        "generationConfig": {"maxOutputTokens": "many", "temperature": True, "stopSequences": "END"},
        "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}},
    }
    found = proto_schema.errors(wrong, VERTEX)
    assert any("members of one oneof `data`" in e for e in found)
    assert any(e.startswith("/contents/0/parts/1/functionCall/id: not a field") for e in found)
    assert any(e.endswith("FileData requires `mimeType`") for e in found)
    assert any(e.startswith("/contents/0/parts/3/inlineData/data: expected base64") for e in found)
    assert any(e.startswith("/generationConfig/maxOutputTokens: expected an integer") for e in found)
    assert any(e.startswith("/generationConfig/temperature: expected a number") for e in found)
    assert any(e.startswith("/generationConfig/stopSequences: expected a list") for e in found)
    assert any("'SOMETIMES' is not a value of enum" in e for e in found)
    assert len(found) == 8


def compile_text(tmp_path, text: str, target: str = TARGET, **inputs):
    return compile_source(tmp_path, text, target, **inputs)


def test_model_resource_name_and_url(tmp_path):
    src = '''
target eu "vertex" {
  model "gemini-2.5-pro"
  project: "acme-ml"
  location: "europe-west4"
}
target anywhere "vertex" { project: "acme-ml" }
prompt p() {
  user "hi"
}
'''
    eu = compile_text(tmp_path, src, target="eu").body
    assert eu["model"] == "projects/acme-ml/locations/europe-west4/publishers/google/models/gemini-2.5-pro"
    assert Vertex.url(eu) == ("https://europe-west4-aiplatform.googleapis.com/v1/projects/acme-ml/locations/"
                              "europe-west4/publishers/google/models/gemini-2.5-pro:generateContent")
    anywhere = compile_text(tmp_path, src, target="anywhere").body
    assert anywhere["model"] == "projects/acme-ml/locations/global/publishers/google/models/gemini-2.5-flash"
    assert Vertex.url(anywhere, "streamGenerateContent").startswith("https://aiplatform.googleapis.com/v1/projects/")
    plain = compile_text(tmp_path, src).body
    assert plain["model"] == "publishers/google/models/gemini-2.5-flash"
    assert Vertex.url(plain) == ("https://aiplatform.googleapis.com/v1/publishers/google/models/"
                                 "gemini-2.5-flash:generateContent")
    model, rest = Vertex.split(plain)
    assert model == plain["model"] and "model" not in rest
    for body in (eu, anywhere, plain):
        assert proto_schema.errors(body, VERTEX) == []


def test_turns_tools_and_schema(tmp_path):
    r = compile_text(tmp_path, '''
tool weather(city: str) "Current weather."
tool alerts(city: str)
type Place { name: str }
type Answer { place: Place, temp?: float }
prompt p(city: str) -> Answer {
  model { temperature: 0.2, top_k: 3, max_tokens: 100, seed: 7, reasoning_tokens: 512 }
  system "Be brief."
  tools weather, alerts
  user "{{ city }}?"
  tool_call weather(city = city)
  tool_result weather "12C"
}
''', city="Oslo")
    b = r.body
    assert b["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in b["contents"]] == ["user", "model", "user"]
    assert b["contents"][1]["parts"] == [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]
    assert b["contents"][2]["parts"] == [{"functionResponse": {"name": "weather", "response": {"output": "12C"}}}]
    declarations = b["tools"][0]["functionDeclarations"]
    assert declarations[0]["description"] == "Current weather." and "description" not in declarations[1]
    assert declarations[1]["parametersJsonSchema"]["required"] == ["city"]
    config = b["generationConfig"]
    assert config["topK"] == 3 and config["maxOutputTokens"] == 100 and config["seed"] == 7
    assert config["thinkingConfig"] == {"thinkingBudget": 512}
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["place"]["properties"] == {"name": {"type": "string"}}
    assert "$defs" not in config["responseJsonSchema"] and "responseSchema" not in config
    assert any(d.code == "PP405" and "inlined" in d.message for d in r.report)
    assert proto_schema.errors(b, VERTEX) == []


def test_tool_errors_and_media_results():
    v = Vertex()
    error = ir.ToolResult(id="c1", name="f", content=(ir.Text(text="timeout"),), is_error=True)
    assert v.part(error) == {"functionResponse": {"name": "f", "response": {"error": "timeout"}}}
    shot = ir.ToolResult(id="c2", name="screenshot", content=(
        ir.Text(text="done"), ir.Media(kind="image", data="iVBORw0KGgo=", media_type="image/png"),
        ir.Media(kind="file", url="gs://bucket/report.pdf")))
    assert v.part(shot) == {"functionResponse": {"name": "screenshot", "response": {"output": "done"}, "parts": [
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.pdf"}}]}}
    body = {"model": "publishers/google/models/m",
            "contents": [{"role": "user", "parts": [v.part(error), v.part(shot)]}]}
    assert proto_schema.errors(body, VERTEX) == []
    # not so in the Gemini API: its FunctionResponsePart has no fileData
    gemini_body = {"model": "models/m", "contents": [{"role": "user", "parts": [v.part(shot)]}]}
    assert proto_schema.errors(gemini_body, GEMINI) == [
        ("/contents/0/parts/0/functionResponse/parts/1/fileData: not a field of "
         "google.ai.generativelanguage.v1beta.FunctionResponsePart")]


def test_media_types_of_urls():
    def url(u, kind="image", media_type=None):
        return guess_media_type(ir.Media(kind=kind, url=u, media_type=media_type))

    assert url("https://x/a.JPG?size=2") == "image/jpeg"
    assert url("gs://b/clip.webm", kind="audio") == "audio/webm"
    assert url("gs://b/talk.m4a", kind="audio") == "audio/mp4"
    assert url("gs://b/no-extension") == "application/octet-stream"
    assert url("gs://b/a.png", media_type="image/webp") == "image/webp"  # a given type wins


def test_images_inline_and_by_url(tmp_path):
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    r = compile_text(tmp_path, 'prompt p(a: image, b: image) {\n  user { "Compare:" image(a) image(b) }\n}\n',
                     a=f"data:image/png;base64,{png}", b="gs://bucket/photo.jpg")
    parts = r.body["contents"][0]["parts"]
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": png}}
    assert parts[2] == {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/photo.jpg"}}
    assert proto_schema.errors(r.body, VERTEX) == []


def test_registered_with_the_gemini_table():
    assert backends.get("vertex") is Vertex and "vertex" in backends.names()
    assert Vertex.caps == attrs.evolve(Gemini.caps, tool_result_media=True) and Vertex.family == "google"
    assert Vertex().model_path("models/gemini-2.0-flash") == "publishers/google/models/gemini-2.0-flash"
