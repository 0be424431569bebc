"""Mistral chat completions: `POST /v1/chat/completions`.

https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post
Schema: `ChatCompletionRequest` (refdata/mistral/openapi.yaml, `additionalProperties: false`
throughout). Where it differs from OpenAI's chat body:

- `random_seed`, not `seed` (a `seed` key is rejected); `max_tokens`; `stop` has no count limit;
  `temperature` at most 1.5; no `top_k`.
- Tools: `function.parameters` is required. Assistant `tool_calls` are
  `{id, type: "function", function: {name, arguments}}` (arguments an object or a JSON string:
  the string is what the API itself returns, so that is what is replayed).
- Image chunks are `{"type": "image_url", "image_url": "<url or data URI>"}` (the spec's own
  example for `ImageURLChunk`); audio chunks `{"type": "input_audio", "input_audio": "<base64>"}`
  (https://docs.mistral.ai/capabilities/audio_transcription); documents
  `{"type": "document_url", "document_url": "<url>"}`: a local document must be uploaded first
  for a signed URL (https://docs.mistral.ai/capabilities/OCR/document_understanding), so an
  inline file is PP302.
- Message order and tool call ids are checked by the server with mistral-common's
  `MistralRequestValidatorV3` (mistralai/mistral-common
  `src/mistral_common/protocol/instruct/validator.py`; the API returns its messages verbatim,
  e.g. code 3230 "Unexpected role 'user' after role 'tool'"):
  * a tool result may be followed only by an assistant turn or another result: the passes
    insert an assistant turn before anything else (`caps.answer_after_tool_results`, PP402);
  * the last turn is a user or tool turn, or an assistant turn with `prefix: true` (a prefill:
    "force the model to start its answer by the content of the message");
  * tool call ids match `^[a-zA-Z0-9]{9}$`: the passes rewrite other ids to a stable
    9-character hash, the same for a call and its result (`caps.tool_call_ids`, PP410).

Structured output (`caps.structured_output = "mistral"`: the shared pass leaves the schema as
it is). Mistral's strict mode does not have OpenAI's rules: its own SDK
(`client.chat.parse`, mistralai/client-python `src/mistralai/extra/utils/response_format.py`
and `_pydantic_helper.py`) sends the pydantic schema unchanged except for
`additionalProperties: false` on every object, with `strict: true`, optional fields left out
of `required` (https://docs.mistral.ai/capabilities/structured-output/custom_structured_output).
polyprompt's schemas already close every object, so they go out unchanged with `strict: true`,
the way Mistral's SDK sends them; rewriting optional fields as required-and-nullable
(openai_strict) would change the reply's shape for no gain.
"""
from __future__ import annotations

import attrs

from ..compiler import ir
from ..compiler.targets import Refusals, SchemaDialect
from ._emit import chat_messages, data_uri, function_calls, tools_and_json_schema
from .base import Backend, Caps

#: `response_format` json_schema with `strict: true`, the schema as it is (see above)
MISTRAL_SCHEMA = SchemaDialect(name="mistral")

class Mistral(Backend):
    """Mistral's chat completions API (`POST /v1/chat/completions`)."""
    name = "mistral"
    family = "mistral"
    default_model = "mistral-large-latest"  # the spec's example model
    docs = "https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post"
    caps = Caps(
        system="message",
        alternation=False,  # user/user and assistant/assistant runs are accepted
        first_user=False,
        tools=True,
        tool_results="tool_message",
        media=frozenset({"image", "audio", "file"}),  # audio: Voxtral models; file: document_url
        media_urls=frozenset({"image", "file"}),  # input_audio is base64 only
        structured_output="mistral",  # response_format json_schema, the schema as is (see above)
        cache="automatic",  # no markers; usage reports `cached_tokens`, `prompt_cache_key` routes
        settings={
            "temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens", "stop": "stop",
            "seed": "random_seed", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty", "reasoning": "reasoning_effort",
        },
        max_stop=None,
        temperature_max=1.5,
        answer_after_tool_results=True,  # validator: only an assistant turn or results after a result
        tool_call_ids="nine_alnum",  # validator: ids of exactly 9 letters and digits
    )
    model_prefixes = ("mistral-", "ministral-", "codestral-", "pixtral-", "magistral-", "open-mistral",
                      "open-mixtral", "devstral-")
    dialects = (MISTRAL_SCHEMA,)
    schema = ("mistral/openapi.yaml", "ChatCompletionRequest")
    sample_reply = {"id": "cmpl-1", "object": "chat.completion", "model": "mistral-large-latest", "created": 1,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": "Hello.", "tool_calls": None}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    sample_reading = {"text": "Hello.", "finish_reason": "stop"}

    def refusals(self) -> Refusals:
        """Other providers' models, and documents given inline (Mistral reads them from a URL)."""
        help = "upload the file to Mistral (purpose \"ocr\") and pass its signed URL"
        return attrs.evolve(super().refusals(), url_only={"file": ("documents", help)})

    def write_messages(self, messages) -> list[dict]:
        """Mistral `messages`: one per turn, one `tool` message per tool result."""
        return chat_messages(messages, self.message, self.tool_message)

    def emit(self, request: ir.Request) -> dict:
        messages = self.write_messages(request.messages)
        if messages and messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls"):
            messages[-1]["prefix"] = True  # a prefill: the reply continues this text
        body: dict = {"model": request.model, "messages": messages}
        return self.settings_into(tools_and_json_schema(self, body, request), request)

    def read_reply(self, reply: dict):
        """`ChatCompletionResponse`: the first choice; content may be a string or text chunks."""
        from ..compiler.replies import Reply
        from ._emit import parse_arguments

        choice = (reply.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(c.get("text", "") for c in content if c.get("type") == "text")
        calls = tuple(ir.ToolCall(id=c.get("id", ""), name=c["function"]["name"],
                                  arguments=parse_arguments(c["function"].get("arguments")))
                      for c in message.get("tool_calls") or ())
        return Reply(text=content, tool_calls=calls, finish_reason=choice.get("finish_reason"))

    def function(self, tool: ir.Tool) -> dict:
        """A tool's `function`: name, description when there is one, and the (required) parameters."""
        fn: dict = {"name": tool.name}
        if tool.description:
            fn["description"] = tool.description
        fn["parameters"] = tool.parameters  # required by Mistral's `Function`
        return fn

    def tool_message(self, r: ir.ToolResult) -> dict:
        """A tool result as a `tool` message, with the tool's name."""
        return {"role": "tool", "tool_call_id": r.id, "name": r.name, "content": self.content(list(r.content))}

    def message(self, m: ir.Message) -> dict:
        """A turn as a message; its tool calls as OpenAI-style `tool_calls`."""
        calls = [p for p in m.parts if isinstance(p, ir.ToolCall)]
        rest = [p for p in m.parts if not isinstance(p, ir.ToolCall)]
        out: dict = {"role": m.role, "content": self.content(rest)}
        if calls:
            out["tool_calls"] = function_calls(calls)
        return out

    def content(self, parts: list):
        """A string for text, else chunks."""
        if all(isinstance(p, ir.Text) for p in parts):
            return "".join(p.text for p in parts)
        return [self.chunk(p) for p in parts]

    def chunk(self, p) -> dict:
        """One content chunk; documents by URL only (check_media refused inline ones)."""
        if isinstance(p, ir.Text):
            return {"type": "text", "text": p.text}
        if p.kind == "image":
            return {"type": "image_url", "image_url": data_uri(p)}
        if p.kind == "audio":
            return {"type": "input_audio", "input_audio": p.data or ""}
        return {"type": "document_url", "document_url": p.url or ""}
