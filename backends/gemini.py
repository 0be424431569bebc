"""Google Gemini Developer API: `POST /v1beta/models/{model}:generateContent`.

https://ai.google.dev/api/generate-content
Schema: `GenerateContentRequest` (refdata/google/protos, JSON names in lowerCamelCase).
The model is part of the URL; the body carries it as `model` only so that a body is
complete on its own: `Gemini.split(body)` gives (model, body to POST).
"""
from __future__ import annotations

from ..compiler import ir
from ..compiler.targets import SchemaDialect
from ._emit import tool_result_text
from .base import Backend, Caps

#: generationConfig.responseJsonSchema: the keywords the Gemini API documents as supported
GEMINI_KEYWORDS = frozenset({"$id", "$defs", "$ref", "$anchor", "type", "format", "title", "description", "enum",
                             "items", "prefixItems", "minItems", "maxItems", "minimum", "maximum", "anyOf", "oneOf",
                             "properties", "additionalProperties", "required", "propertyOrdering"})
#: `$ref`s inlined where they do not recurse, the documented keywords only
GEMINI_SCHEMA = SchemaDialect(name="gemini", inline_refs=True, keywords=GEMINI_KEYWORDS)


class Gemini(Backend):
    """The Google Gemini Developer API's `generateContent`."""
    name = "gemini"
    family = "google"
    default_model = "gemini-2.5-flash"
    docs = "https://ai.google.dev/api/generate-content"
    caps = Caps(
        system="top_level",  # systemInstruction
        alternation=True,
        first_user=True,
        tools=True,
        tool_results="user_turn",  # functionResponse parts in a user turn
        media=frozenset({"image", "audio", "file"}),
        media_urls=frozenset({"image", "audio", "file"}),  # fileData.fileUri
        structured_output="gemini",  # generationConfig.responseJsonSchema
        cache="automatic",  # implicit caching; explicit caches are separate cachedContent objects
        settings={
            "temperature": "generationConfig.temperature", "top_p": "generationConfig.topP",
            "top_k": "generationConfig.topK", "max_tokens": "generationConfig.maxOutputTokens",
            "stop": "generationConfig.stopSequences", "seed": "generationConfig.seed",
            "presence_penalty": "generationConfig.presencePenalty",
            "frequency_penalty": "generationConfig.frequencyPenalty",
            "reasoning_tokens": "generationConfig.thinkingConfig.thinkingBudget",
        },
        max_stop=5,
    )
    model_field = "model"
    model_prefixes = ("gemini-", "gemma-", "learnlm-")
    dialects = (GEMINI_SCHEMA,)
    schema = ("google/gemini-native.openapi.json", "GenerateContentRequest")
    sample_reply = {"candidates": [{"index": 0, "finishReason": "STOP",
                                    "content": {"role": "model", "parts": [{"text": "Hello."}]}}],
                    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
                    "modelVersion": "gemini-2.5-flash"}
    sample_reading = {"text": "Hello.", "finish_reason": "STOP"}

    def write_messages(self, messages) -> list[dict]:
        """`contents`: each turn as parts, assistant turns in the `model` role (system turns go apart)."""
        return [{"role": "model" if m.role == "assistant" else "user", "parts": [self.part(p) for p in m.parts]}
                for m in messages]

    def emit(self, request: ir.Request) -> dict:
        system = [m for m in request.messages if m.role == "system"]
        turns = [m for m in request.messages if m.role != "system"]
        body: dict = {self.model_field: self.model_path(request.model or self.default_model), "contents": self.write_messages(turns)}
        if system:
            body["systemInstruction"] = {"parts": [self.part(p) for m in system for p in m.parts]}
        if request.tools:
            body["tools"] = [{"functionDeclarations": [self.function(t) for t in request.tools]}]
        self.settings_into(body, request)
        if request.output is not None and self.caps.structured_output is not None:
            config = body.setdefault("generationConfig", {})
            config["responseMimeType"] = "application/json"
            config["responseJsonSchema"] = request.output.schema
        return body

    def read_reply(self, reply: dict):
        """`GenerateContentResponse`: the first candidate's parts. A field whose value is null counts as
        absent, and the snake_case names of google-genai's `model_dump()` are read as the REST ones."""
        from ..compiler.replies import Reply

        candidate = (reply.get("candidates") or [{}])[0]
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p["text"] for p in parts if p.get("text") is not None and not p.get("thought"))
        calls = tuple(self.tool_call(_field(p, "functionCall", "function_call"), i)
                      for i, p in enumerate(parts) if _field(p, "functionCall", "function_call") is not None)
        return Reply(text=text, tool_calls=calls, finish_reason=_field(candidate, "finishReason", "finish_reason"))

    @staticmethod
    def tool_call(call: dict, i: int) -> ir.ToolCall:
        """A `functionCall` part as a tool call (numbered when the API gave no id)."""
        return ir.ToolCall(id=call.get("id") or f"call_{i + 1}", name=call["name"], arguments=call.get("args") or {})

    def model_path(self, model: str) -> str:
        """The model's resource name, `models/` prefixed when it is not already."""
        return model if model.startswith("models/") else f"models/{model}"

    @staticmethod
    def split(body: dict) -> tuple[str, dict]:
        """The model (for the URL) and the body to POST."""
        rest = dict(body)
        return rest.pop("model"), rest

    def function(self, t: ir.Tool) -> dict:
        """A `functionDeclarations` entry, the parameters as `parametersJsonSchema`."""
        return {"name": t.name, "description": t.description or "", "parametersJsonSchema": t.parameters}

    def part(self, p) -> dict:
        """One `Part`: text, inline or file data, `functionCall` or `functionResponse`."""
        if isinstance(p, ir.Text):
            return {"text": p.text}
        if isinstance(p, ir.Media):
            if p.url is not None:
                return {"fileData": {"mimeType": p.media_type or "application/octet-stream", "fileUri": p.url}}
            return {"inlineData": {"mimeType": p.media_type, "data": p.data}}
        if isinstance(p, ir.ToolCall):
            return {"functionCall": {"id": p.id, "name": p.name, "args": p.arguments}}
        return {"functionResponse": {"id": p.id, "name": p.name, "response": {"result": tool_result_text(p)}}}


def _field(obj: dict, name: str, snake: str):
    """A reply field under its REST name or google-genai's snake_case one; None when absent or null."""
    value = obj.get(name)
    return obj.get(snake) if value is None else value
