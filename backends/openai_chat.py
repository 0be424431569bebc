"""OpenAI Chat Completions: `POST /v1/chat/completions`.

https://platform.openai.com/docs/api-reference/chat/create
Schema: `CreateChatCompletionRequest` (refdata/openai/openapi.yaml).
"""
from __future__ import annotations

from typing import ClassVar

import attrs

from ..compiler import ir
from ..compiler.strict_schema import KEYWORDS as STRICT_KEYWORDS
from ..compiler.targets import MediaTypes, Refusals, SchemaDialect
from ._emit import (AUDIO_FORMATS, CONVERT_AUDIO, audio_format, chat_messages, data_uri, file_name, function_calls,
                    tool_result_text, tools_and_json_schema)
from .base import Backend, Caps

#: https://platform.openai.com/docs/guides/structured-outputs (supported schemas): compiler/strict_schema.py
OPENAI_KEYWORDS = STRICT_KEYWORDS
#: OpenAI strict mode: an object root, every property required (optional ones nullable), the supported keywords;
#: a schema that still breaks a strict rule goes with `strict: false` (PP413)
OPENAI_STRICT = SchemaDialect(name="openai_strict", object_root=True, strict=True, keywords=OPENAI_KEYWORDS)
#: the model-name prefixes of OpenAI's models
OPENAI_MODELS = ("gpt-", "o1", "o3", "o4", "chatgpt-", "text-", "davinci")


class OpenAIChat(Backend):
    """OpenAI's Chat Completions API (`POST /v1/chat/completions`)."""
    name = "openai-chat"
    family = "openai"
    default_model = "gpt-4o-mini"
    docs = "https://platform.openai.com/docs/api-reference/chat/create"
    plain_text_turns = True
    caps = Caps(
        system="message",
        tools=True,
        tool_results="tool_message",
        media=frozenset({"image", "audio", "file"}),
        media_urls=frozenset({"image"}),
        structured_output="openai_strict",
        cache="automatic",  # prefixes of 1024+ tokens are cached without markers
        settings={
            "temperature": "temperature", "top_p": "top_p", "max_tokens": "max_completion_tokens",
            "stop": "stop", "seed": "seed", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty", "reasoning": "reasoning_effort",
        },
        max_stop=4,
        strict_tools=True,  # FunctionObject.strict
    )
    model_prefixes: ClassVar[tuple[str, ...]] = OPENAI_MODELS
    dialects = (OPENAI_STRICT,)
    schema = ("openai/openapi.yaml", "CreateChatCompletionRequest")
    body_owned = {"model": "the `model` statement", "messages": "the prompt's turns",
                  "tools": "the `tools` statement", "response_format": "the prompt's output type"}
    sample_reply = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": "Hello.", "refusal": None}}]}
    sample_reading = {"text": "Hello.", "finish_reason": "stop"}

    def refusals(self) -> Refusals:
        """Other providers' models, and audio outside `input_audio.format`'s enum (`wav`, `mp3`)."""
        audio = MediaTypes(accepted=frozenset(AUDIO_FORMATS), noun="audio", help=CONVERT_AUDIO)
        return attrs.evolve(super().refusals(), media_types={"audio": audio})

    def write_messages(self, messages) -> list[dict]:
        """Chat Completions `messages`: one per turn, one `tool` message per tool result."""
        return chat_messages(messages, self.message, self.tool_message)

    def emit(self, request: ir.Request) -> dict:
        body: dict = {"model": request.model, "messages": self.write_messages(request.messages)}
        return self.settings_into(tools_and_json_schema(self, body, request), request)

    def read_reply(self, reply: dict):
        """`ChatCompletion`: the first choice's message."""
        from ..compiler.replies import Reply
        from ._emit import parse_arguments

        choice = (reply.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = tuple(ir.ToolCall(id=c.get("id", ""), name=c["function"]["name"],
                                  arguments=parse_arguments(c["function"].get("arguments")))
                      for c in message.get("tool_calls") or ())
        return Reply(text=message.get("content") or "", tool_calls=calls, finish_reason=choice.get("finish_reason"))

    def function(self, tool: ir.Tool) -> dict:
        """A tool's `function`: name, parameters, the description when there is one, `strict: true` for a
        strict tool (its parameters made strict-valid by the strict_tools pass)."""
        fn: dict = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            fn["description"] = tool.description
        if tool.strict:
            fn["strict"] = True
        return fn

    def tool_message(self, r: ir.ToolResult) -> dict:
        """A tool result as a `tool` message (text only: check_media refused media in results)."""
        return {"role": "tool", "tool_call_id": r.id, "content": tool_result_text(r)}

    def message(self, m: ir.Message) -> dict:
        """One message (a system turn as `developer` when the caps say so); tool calls as `tool_calls`."""
        role = "developer" if m.role == "system" and self.caps.system == "developer" else m.role
        calls = [p for p in m.parts if isinstance(p, ir.ToolCall)]
        rest = [p for p in m.parts if not isinstance(p, ir.ToolCall)]
        out: dict = {"role": role, "content": self.content(rest, m.role)}
        if calls:
            out["tool_calls"] = function_calls(calls)
            if not rest:
                out["content"] = None
        return out

    def content(self, parts: list, role: str):
        """A message's `content`: one string when all parts are text, else a list of content parts."""
        if all(isinstance(p, ir.Text) for p in parts):
            return "".join(p.text for p in parts)
        return [self.part(p) for p in parts]

    def part(self, p) -> dict:
        """One content part: text, `image_url`, `input_audio` or `file` (inline, with a `filename`)."""
        if isinstance(p, ir.Text):
            return {"type": "text", "text": p.text}
        if p.kind == "image":
            return {"type": "image_url", "image_url": {"url": data_uri(p)}}
        if p.kind == "audio":
            return {"type": "input_audio", "input_audio": {"data": p.data or "", "format": audio_format(p)}}
        return {"type": "file", "file": {"filename": file_name(p), "file_data": data_uri(p)}}
