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

from ..compiler import ir
from ._emit import arguments_json, choose_model, data_uri, tools_and_json_schema
from .base import Backend, Caps

class Mistral(Backend):
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

    # -- lowering: the message order Mistral's validator demands
    # -- emitting
    def emit(self, request: ir.Request, report) -> dict:
        messages = [out for m in request.messages for out in self.messages(m, report, request)]
        if messages and messages[-1]["role"] == "assistant" and not messages[-1].get("tool_calls"):
            messages[-1]["prefix"] = True  # a prefill: the reply continues this text
        body: dict = {"model": choose_model(request, self, report), "messages": messages}
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
        fn: dict = {"name": tool.name}
        if tool.description:
            fn["description"] = tool.description
        fn["parameters"] = tool.parameters  # required by Mistral's `Function`
        return fn

    def messages(self, m: ir.Message, report, request) -> list[dict]:
        """One turn as messages: a turn holding several tool results gives one message each."""
        if m.role == "tool" or (m.parts and all(isinstance(p, ir.ToolResult) for p in m.parts)):
            return [{"role": "tool", "tool_call_id": r.id, "name": r.name,
                     "content": self.content(list(r.content), report, request)}
                    for r in m.parts if isinstance(r, ir.ToolResult)]
        return [self.message(m, report, request)]

    def message(self, m: ir.Message, report, request) -> dict:
        calls = [p for p in m.parts if isinstance(p, ir.ToolCall)]
        rest = [p for p in m.parts if not isinstance(p, ir.ToolCall)]
        out: dict = {"role": m.role, "content": self.content(rest, report, request)}
        if calls:
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": arguments_json(c.arguments)}}
                                 for c in calls]
        return out

    def content(self, parts: list, report, request):
        if all(isinstance(p, ir.Text) for p in parts):
            return "".join(p.text for p in parts)
        return [self.chunk(p, report, request) for p in parts]

    def chunk(self, p, report, request) -> dict:
        if isinstance(p, ir.Text):
            return {"type": "text", "text": p.text}
        if p.kind == "image":
            return {"type": "image_url", "image_url": data_uri(p)}
        if p.kind == "audio":
            return {"type": "input_audio", "input_audio": p.data or ""}
        if p.url is None:
            report.error("PP302", f"{self.name} needs documents by URL, not inline data", p.span or request.span,
                         help="upload the file to Mistral (purpose \"ocr\") and pass its signed URL")
        return {"type": "document_url", "document_url": p.url or ""}
