"""OpenAI Responses API: `POST /v1/responses`.

https://platform.openai.com/docs/api-reference/responses/create
Schema: `CreateResponse` (refdata/openai/openapi.yaml).

The body is self-contained, as for Chat Completions: the whole conversation is
in `input`, nothing refers to a stored response (`previous_response_id`).

- System text: the leading system turns go into `instructions` (joined by a
  blank line); a system turn later in the conversation stays where it is, as a
  `system` input message (`developer` with `caps { system: "developer" }`, which
  also sends the leading ones as developer messages instead of `instructions`).
- Turns are `input` items: user and assistant turns are messages whose content
  is a string (text only) or `input_text` / `input_image` / `input_file` parts;
  tool calls are `function_call` items {call_id, name, arguments: JSON string}
  and results `function_call_output` items {call_id, output}, the output a string,
  or parts when the result holds images or files.
- Media: images and files (PDF), inline or by URL (`image_url`, `file_url`);
  there is no audio input. Images are sent with `detail: "auto"` (the field is
  required), inline files with a `filename` made from their media type.
- Structured output: `text.format` = {type: "json_schema", name, schema, strict:
  true}, flattened (no nested `json_schema` object), same strict schema rules as
  Chat Completions.
- Tools: flattened function tools {type, name, description?, parameters,
  strict}. `strict` is required by the schema; it is `false`, the Chat
  Completions default, because tool parameters keep their optional parameters
  and defaults, which strict mode rejects; `true` for a `strict tool`, whose
  parameters the strict_tools pass made strict-valid.
- Settings: `max_tokens` -> `max_output_tokens` (at least 16: a lower value is
  raised, PP404), `reasoning` -> `reasoning.effort`; there is no `stop`, `seed`,
  `top_k`, penalty or reasoning budget (dropped by map_settings, PP403).
- `store`: not written, so the API default applies (`true`: the response is kept
  for 30 days and can be looked up and chained). polyprompt sends no reference to
  a stored response, so nothing depends on it; a target declaration can set it,
  e.g. `target private "openai-responses" { store: false }` for stateless use or
  zero data retention.
- Caching is automatic (long prefixes); `cache` marks are dropped (PP407). The
  schema's explicit `prompt_cache_breakpoint` is documented for gpt-5.6 and
  later models only, so it is not written.
"""
from __future__ import annotations

import attrs

from ..compiler import ir
from ..compiler.targets import TargetOption
from ._emit import arguments_json, data_uri, file_name, parse_arguments, schema_name
from .base import Backend, Caps
from .openai_chat import OPENAI_MODELS, OPENAI_STRICT

#: `max_output_tokens` has `minimum: 16` in the schema
MIN_OUTPUT_TOKENS = 16
#: target options written into the body as they are
BODY_OPTIONS = ("store",)


def min_output_tokens(request: ir.Request, ctx) -> ir.Request:
    """A pass: `max_tokens` under the schema's minimum of `max_output_tokens` is raised to it (PP404)."""
    setting = request.settings.get("max_tokens")
    if setting is None or not isinstance(setting.value, int) or setting.value >= MIN_OUTPUT_TOKENS:
        return request
    ctx.note("PP404", f"`max_tokens` {setting.value} raised to {MIN_OUTPUT_TOKENS}: {ctx.name} takes "
             f"no lower `max_output_tokens`", setting.span or request.span)
    settings = {**request.settings, "max_tokens": attrs.evolve(setting, value=MIN_OUTPUT_TOKENS)}
    return attrs.evolve(request, settings=settings)


class OpenAIResponses(Backend):
    """OpenAI's Responses API (`POST /v1/responses`)."""
    name = "openai-responses"
    family = "openai"
    default_model = "gpt-4o-mini"
    docs = "https://platform.openai.com/docs/api-reference/responses/create"
    caps = Caps(
        tool_result_media=True,
        system="message",  # leading system turns -> `instructions`, later ones stay system messages
        tools=True,
        tool_results="tool_message",  # function_call_output items of their own
        media=frozenset({"image", "file"}),
        media_urls=frozenset({"image", "file"}),
        structured_output="openai_strict",
        cache="automatic",
        settings={
            "temperature": "temperature", "top_p": "top_p", "max_tokens": "max_output_tokens",
            "reasoning": "reasoning.effort",
        },
        strict_tools=True,  # FunctionTool.strict
    )
    model_prefixes = OPENAI_MODELS
    dialects = (OPENAI_STRICT,)
    passes = (min_output_tokens,)
    OPTIONS = {"store": TargetOption("openai-responses: whether the provider stores the response",
                                     lambda v: isinstance(v, bool), "true or false")}
    schema = ("openai/openapi.yaml", "CreateResponse")
    body_owned = {"model": "the `model` statement", "input": "the prompt's turns",
                  "instructions": "the prompt's leading system turns", "tools": "the `tools` statement",
                  "text": "the prompt's output type", "store": "the target option `store`"}
    sample_reply = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
                    "model": "gpt-4o-mini", "output": [{"type": "message", "id": "msg_1", "status": "completed",
                                                        "role": "assistant", "content": [
                                                            {"type": "output_text", "text": "Hello.",
                                                             "annotations": []}]}]}
    sample_reading = {"text": "Hello.", "finish_reason": "completed"}

    def write_messages(self, messages) -> list[dict]:
        """`input` items: messages, function calls and their outputs, in turn and part order."""
        return [item for m in messages for item in self.items(m)]

    def emit(self, request: ir.Request) -> dict:
        body: dict = {"model": request.model}
        messages = list(request.messages)
        if self.caps.system != "developer":
            leading = []
            while messages and messages[0].role == "system":
                leading.append(messages.pop(0))
            if leading:
                body["instructions"] = "\n\n".join(m.text for m in leading)
        body["input"] = self.write_messages(messages)
        if request.tools:
            body["tools"] = [self.tool(t) for t in request.tools]
        if request.output is not None and self.caps.structured_output is not None:
            body["text"] = {"format": {"type": "json_schema", "name": schema_name(request.output.name),
                                       "schema": request.output.schema, "strict": request.output.strict}}
        self.settings_into(body, request)
        for option in BODY_OPTIONS:
            if option in self.options:
                body[option] = self.options[option]
        return body

    def tool(self, t: ir.Tool) -> dict:
        """A `function` tool: name, description when there is one, parameters, `strict` (required by the
        schema: on for a strict tool, whose parameters the strict_tools pass made strict-valid)."""
        out: dict = {"type": "function", "name": t.name}
        if t.description:
            out["description"] = t.description
        out["parameters"] = t.parameters
        out["strict"] = t.strict
        return out

    def items(self, m: ir.Message) -> list[dict]:
        """The input items of one turn: messages, function calls and their outputs, in part order."""
        role = m.role
        if role == "system" and self.caps.system == "developer":
            role = "developer"
        out: list[dict] = []
        pending: list = []

        def flush():
            if pending:
                out.append({"role": "user" if role == "tool" else role, "content": self.content(pending, role)})
                pending.clear()

        for p in m.parts:
            if isinstance(p, ir.ToolCall):
                flush()
                out.append({"type": "function_call", "call_id": p.id, "name": p.name,
                            "arguments": arguments_json(p.arguments)})
            elif isinstance(p, ir.ToolResult):
                flush()
                out.append({"type": "function_call_output", "call_id": p.id, "output": self.result(p)})
            else:
                pending.append(p)
        flush()
        return out

    def content(self, parts: list, role: str):
        """A string for text (the only form an assistant turn replays), else content parts."""
        if all(isinstance(p, ir.Text) for p in parts):
            return "".join(p.text for p in parts)
        return [self.part(p) for p in parts]

    def result(self, r: ir.ToolResult):
        """A `function_call_output`'s output: one string when all parts are text, else input parts."""
        if all(isinstance(p, ir.Text) for p in r.content):
            return "".join(p.text for p in r.content if isinstance(p, ir.Text))
        return [self.part(p) for p in r.content]

    def part(self, p) -> dict:
        """One input part: `input_text`, `input_image`, or `input_file` by URL, file id or inline data."""
        if isinstance(p, ir.Text):
            return {"type": "input_text", "text": p.text}
        if p.kind == "image":
            return {"type": "input_image", "image_url": data_uri(p), "detail": "auto"}
        if p.url is not None:  # a URL, or a file id (`file-...`) from a `messages` input
            return {"type": "input_file", **({"file_url": p.url} if "://" in p.url else {"file_id": p.url})}
        return {"type": "input_file", "filename": file_name(p), "file_data": data_uri(p)}

    def read_reply(self, reply: dict):
        """`Response`: the text of its `message` items, its `function_call` items as calls."""
        from ..compiler.replies import Reply

        text, calls = [], []
        for item in reply.get("output") or ():
            if item.get("type") == "message":
                text += [c.get("text", "") for c in item.get("content") or () if c.get("type") == "output_text"]
            elif item.get("type") == "function_call":
                calls.append(ir.ToolCall(id=item.get("call_id", ""), name=item.get("name", ""),
                                         arguments=parse_arguments(item.get("arguments"))))
        status = reply.get("status")
        if status == "incomplete":
            status = (reply.get("incomplete_details") or {}).get("reason") or status
        return Reply(text="".join(text), tool_calls=tuple(calls), finish_reason=status)
