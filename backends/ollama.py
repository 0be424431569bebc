"""Ollama chat: `POST /api/chat` (a local server, http://localhost:11434 by default).

https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion
(refdata/ollama/api.md). There is no machine-readable schema: tests/test_backend_ollama.py
holds a JSON Schema written from that page, section by section.

- Body: `model`, `messages`, `tools`, `format`, `options`, `think`, `stream`.
- `"stream": false` always: the endpoint streams NDJSON unless told otherwise ("Streaming can
  be disabled using `"stream": false`"), and a compiled body is one request for one reply.
- Messages `{role: system|user|assistant|tool, content, images?, tool_calls?, tool_name?}`:
  content is one string (the text parts joined, as `Message.text`); images go in the
  message's `images` list as bare base64 ("The images should be provided as an array, with the
  individual images encoded in Base64"), never as URLs, so an image URL is PP302
  (`caps.media_urls` is empty). No audio or file input.
- Tool calls carry no id: `{"function": {"name", "arguments": {...}}}` with arguments an
  object; a result is `{"role": "tool", "content", "tool_name"}`, paired with its call by order.
  Tools use the OpenAI shape `{type: "function", function: {name, description, parameters}}`.
- Settings go in `options` under Modelfile names: `max_tokens` is `num_predict`, `stop` a list.
  `reasoning` is the top-level `think`: `none` -> false, `low|medium|high` as they are,
  `minimal` -> "low" (PP404; Ollama's levels are low, medium, high, max).
- Structured output: `format` is the JSON Schema itself (`caps.structured_output = "ollama"`,
  left as it is by the shared pass).
- No prompt caching markers (`cache = "none"`).
"""
from __future__ import annotations

import re

import attrs

from ..compiler import ir
from ..compiler.targets import Refusals, SchemaDialect
from ._emit import chat_messages
from .anthropic import Anthropic
from .base import Backend, Caps
from .mistral import Mistral
from .openai_chat import OPENAI_MODELS

#: `format`: the JSON Schema as it is
OLLAMA_SCHEMA = SchemaDialect(name="ollama")
MISTRAL_MODELS = Mistral.model_prefixes
#: names of hosted-API models, which no Ollama server has (open-weight names such as
#: `gpt-oss`, `gemma3` or `mistral-nemo` are Ollama models and are kept)
_HOSTED = {
    "openai": tuple(p for p in OPENAI_MODELS if p != "gpt-") + ("gpt-3", "gpt-4", "gpt-5"),
    "anthropic": Anthropic.model_prefixes,
    "google": ("gemini-", "learnlm-"),
}
#: Mistral's API names end in `-latest` or a date (`mistral-large-latest`, `codestral-2501`), or are
#: `open-mistral-*`; Ollama's own (`mistral-small`, `mistral-nemo:12b`) do not
_MISTRAL_API = re.compile(r"^(?:open-mistral|open-mixtral|.*-(?:latest|\d{4})$)")


def hosted_model(model: str) -> str | None:
    """The provider a hosted API's model name is made for (no Ollama server has it), else None."""
    family = next((f for f, prefixes in _HOSTED.items() if model.startswith(prefixes)), None)
    if family is None and model.startswith(MISTRAL_MODELS) and _MISTRAL_API.match(model):
        family = "mistral"
    if ":" in model or "/" in model:  # `name:tag` and `namespace/name` are Ollama's
        return None
    return family


def choose_ollama_model(request: ir.Request, ctx) -> ir.Request:
    """A pass: the prompt's model unless it names a hosted API's model, else the default (PP404)."""
    model = request.model
    family = hosted_model(model) if model is not None else None
    if family is None:
        return request
    ctx.note("PP404", f"model `{model}` is made for {family}: {ctx.name} uses `{ctx.default_model}`",
             request.model_span or request.span,
             help=f'set the model for it in a `target "{ctx.name}" {{ model "..." }}` block')
    return attrs.evolve(request, model=ctx.default_model)


def think_level(request: ir.Request, ctx) -> ir.Request:
    """A pass: `reasoning` as Ollama's `think`: none -> false, minimal -> "low" (PP404), others as they are."""
    setting = request.settings.get("reasoning")
    if setting is None or setting.value not in ("none", "minimal"):
        return request
    if setting.value == "minimal":
        ctx.note("PP404", f"`reasoning` minimal sent as \"low\": {ctx.name} thinks at low, medium or high",
                 setting.span or request.span)
    value = False if setting.value == "none" else "low"
    return attrs.evolve(request, settings={**request.settings, "reasoning": attrs.evolve(setting, value=value)})


class Ollama(Backend):
    """Ollama's chat API (`POST /api/chat`)."""
    name = "ollama"
    family = "ollama"
    default_model = "llama3.2"  # the model of api.md's examples
    docs = "https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion"
    caps = Caps(
        tool_result_media=True,
        system="message",
        alternation=False,  # the model's chat template decides; the API takes any order
        first_user=False,
        tools=True,
        tool_results="tool_message",
        media=frozenset({"image"}),
        media_urls=frozenset(),  # images are base64 in `images`, never URLs
        structured_output="ollama",  # `format`: the JSON Schema as is
        cache="none",
        settings={
            "temperature": "options.temperature", "top_p": "options.top_p", "top_k": "options.top_k",
            "max_tokens": "options.num_predict", "stop": "options.stop", "seed": "options.seed",
            "presence_penalty": "options.presence_penalty", "frequency_penalty": "options.frequency_penalty",
            "reasoning": "think",
        },
        max_stop=None,
    )
    passes = (choose_ollama_model, think_level)
    dialects = (OLLAMA_SCHEMA,)
    schema = ("ollama/api.md", "chat request")  # no machine-readable schema: tests/test_backend_ollama.py
    sample_reply = {"model": "llama3.2", "created_at": "2024-01-01T00:00:00Z", "done": True,
                    "done_reason": "stop", "message": {"role": "assistant", "content": "Hello."}}
    sample_reading = {"text": "Hello.", "finish_reason": "stop"}

    def refusals(self) -> Refusals:
        """Hosted APIs' models are refused by its own pass (`choose_ollama_model`), with its own help."""
        return Refusals()

    def write_messages(self, messages) -> list[dict]:
        """`/api/chat` `messages`: one per turn, one `tool` message per tool result."""
        return chat_messages(messages, self.message, self.tool_message)

    def emit(self, request: ir.Request) -> dict:
        body: dict = {"model": request.model, "messages": self.write_messages(request.messages)}
        if request.tools:
            body["tools"] = [{"type": "function", "function": self.function(t)} for t in request.tools]
        if request.output is not None and self.caps.structured_output is not None:
            body["format"] = request.output.schema
        self.settings_into(body, request)  # reasoning: `think`, as think_level made it
        body["stream"] = False
        return body

    def read_reply(self, reply: dict):
        """A non-streamed `/api/chat` reply: `message` with `content` and `tool_calls` (no ids)."""
        from ..compiler.replies import Reply

        message = reply.get("message") or {}
        calls = tuple(ir.ToolCall(id=f"call_{i + 1}", name=c["function"]["name"],
                                  arguments=c["function"].get("arguments") or {})
                      for i, c in enumerate(message.get("tool_calls") or ()))
        return Reply(text=message.get("content") or "", tool_calls=calls, finish_reason=reply.get("done_reason"))

    def function(self, tool: ir.Tool) -> dict:
        """A tool's `function`: name, description when there is one, and the parameters."""
        fn: dict = {"name": tool.name}
        if tool.description:
            fn["description"] = tool.description
        fn["parameters"] = tool.parameters
        return fn

    def tool_message(self, r: ir.ToolResult) -> dict:
        """A tool result as a `tool` message named by its tool (calls carry no ids)."""
        return self._images({"role": "tool", "content": "".join(p.text for p in r.content if isinstance(p, ir.Text)),
                             "tool_name": r.name}, r.content)

    def message(self, m: ir.Message) -> dict:
        """One message: its text as `content`, images as base64 `images`, tool calls as `tool_calls`."""
        out: dict[str, object] = {"role": m.role, "content": m.text}
        self._images(out, m.parts)
        calls = [p for p in m.parts if isinstance(p, ir.ToolCall)]
        if calls:
            out["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]
        return out

    @staticmethod
    def _images(out: dict, parts) -> dict:
        images = [p.data for p in parts if isinstance(p, ir.Media) and p.kind == "image" and p.data is not None]
        if images:
            out["images"] = images
        return out
