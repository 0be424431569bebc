"""gemini: bodies valid against the (community) OpenAPI `GenerateContentRequest`, and
its edges: systemInstruction, user/model turns, functionCall/functionResponse parts,
responseJsonSchema with `$ref`s inlined, camelCase generationConfig."""
from __future__ import annotations

import polyprompt

import schemas

TARGET = "gemini"


def test_the_validator_rejects_snake_case():
    assert schemas.errors("gemini", "GenerateContentRequest",
                          {"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generation_config": {}})


def test_turns_tools_and_schema(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text('''
tool weather(city: str) "Current weather."
type Place { name: str }
type Answer { place: Place, temp?: float }
prompt p(city: str) -> Answer {
  model { temperature: 0.2, top_k: 3, max_tokens: 100 }
  system "Be brief."
  tools weather
  user "{{ city }}?"
  tool_call weather(city = city)
  tool_result weather "12C"
}
''')
    r = polyprompt.load(path).compile(TARGET, {"city": "Oslo"})
    b = r.body
    assert b["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in b["contents"]] == ["user", "model", "user"]
    assert b["contents"][1]["parts"][0]["functionCall"]["args"] == {"city": "Oslo"}
    assert b["contents"][2]["parts"][0]["functionResponse"]["response"] == {"result": "12C"}
    config = b["generationConfig"]
    assert config["topK"] == 3 and config["maxOutputTokens"] == 100 and config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"]["properties"]["place"]["properties"] == {"name": {"type": "string"}}
    assert "$defs" not in config["responseJsonSchema"]
    assert any(d.code == "PP405" and "inlined" in d.message for d in r.report)
