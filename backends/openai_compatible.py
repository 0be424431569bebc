"""OpenAI-compatible servers (vLLM, the llama.cpp server, and others): `POST {base_url}/chat/completions`.

https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html
https://github.com/ggml-org/llama.cpp/tree/master/tools/server
Schema: OpenAI's `CreateChatCompletionRequest` (refdata/openai/openapi.yaml); the
servers accept a subset of it plus sampling fields of their own.

The Chat Completions body of `openai-chat`, with the caps of a local server.
Declare one per server; its `caps` override this table and its `model` is the
model the server serves (the prompt's model is kept only when it names no
hosted provider's model, PP404):

    target local "openai-compatible" {
      model "llama3"
      caps { tools: false }
      base_url: "http://localhost:8000/v1"
    }

`base_url` and other options are for the client: they are not part of the body.

- One system message, first: the servers render the conversation with the
  model's chat template, and many templates (Mistral, Gemma) take a single
  leading system message. The leading system turns are joined by a blank line
  (as the system field of a top-level target), a later system turn is sent as a
  user turn (PP400). `caps { system: "message" }` sends them as they are.
  Templates that also need user/assistant alternation and a first user turn
  (Mistral, Gemma) want `caps { alternation: true, first_user: true }`.
- `max_tokens` is sent as `max_tokens`, the field every compatible server reads
  (`max_completion_tokens` is newer and not read by all of them).
- `top_k` is sent: vLLM and the llama.cpp server take it as an extra sampling
  field. `reasoning` and `reasoning_tokens` are dropped (PP403): vLLM's
  `reasoning_effort` takes only low/medium/high and other servers ignore it.
- At most 4 `stop` strings, as OpenAI and Hugging Face TGI (`max_stop_sequences`)
  take; vLLM and llama.cpp take more (`caps { max_stop: 16 }`).
- Structured output: `response_format` {type: "json_schema", json_schema: {name,
  schema}} with the output type's schema as it is, optional fields and all, and
  no `strict`. vLLM (guided decoding) and the llama.cpp server (a grammar from the
  schema) always constrain the reply to the schema and ignore `strict`; OpenAI's
  strict rules (every field required, optional ones nullable) are not needed.
  `caps { structured_output: "openai_strict" }` gives the strict form, for a
  server that enforces OpenAI's rules; `caps { structured_output: null }` writes
  the schema into the system text instead (PP406).
- Media: images, inline or by URL (both servers fetch URLs); audio and files
  differ between servers and models, so they are off (`caps { media: [...] }`).
- Caching: the servers reuse the KV cache of a shared prefix by themselves (vLLM
  automatic prefix caching, llama.cpp `cache_prompt`); `cache` marks are dropped
  (PP407).
"""
from __future__ import annotations

import attrs

from ..compiler import ir
from ..compiler.targets import SchemaDialect, TargetOption, is_text
from .base import Caps
from .openai_chat import OpenAIChat

#: the output type's schema as it is: the server constrains decoding to it
JSON_SCHEMA = SchemaDialect(name="json_schema")


class OpenAICompatible(OpenAIChat):
    """An OpenAI-compatible server (vLLM, llama.cpp, ...): Chat Completions with a narrower capability table."""
    name = "openai-compatible"
    family = "openai-compatible"
    default_model = "local-model"
    docs = "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"
    caps = Caps(
        system="top_level",  # one leading system message (see above)
        tools=True,  # vLLM: --enable-auto-tool-choice --tool-call-parser; llama.cpp: --jinja
        tool_results="tool_message",
        media=frozenset({"image"}),
        media_urls=frozenset({"image"}),
        structured_output="json_schema",  # the schema as it is; the server constrains decoding
        cache="automatic",
        settings={
            "temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "max_tokens": "max_tokens",
            "stop": "stop", "seed": "seed", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty",
        },
        max_stop=4,
    )
    model_prefixes = ()  # any model a server serves; hosted providers' names are refused (PP404)
    OPTIONS = {"base_url": TargetOption("openai-compatible: the server the client sends to (not part of the body)",
                                        is_text, "a URL")}
    dialects = (JSON_SCHEMA,)

    def write_messages(self, messages) -> list[dict]:
        """The Chat Completions messages, the leading system turns as one (see above)."""
        return super().write_messages(self._one_message_per_part(messages))

    def emit(self, request: ir.Request) -> dict:
        body = super().emit(request)
        fmt = body.get("response_format")
        if fmt is not None:
            if self.caps.structured_output is None:  # the schema went into the system text (PP406)
                del body["response_format"]
            elif self.caps.structured_output != "openai_strict":
                del fmt["json_schema"]["strict"]
        return body

    def _one_message_per_part(self, messages) -> list[ir.Message]:
        """The leading system turns as one message; tool turns with one result each.

        Tool turns hold several results when `caps { alternation: true }` merged a
        run of them; Chat Completions takes one `tool` message per result.
        """
        messages = list(messages)
        out: list[ir.Message] = []
        if self.caps.system == "top_level":
            lead = []
            while messages and messages[0].role == "system":
                lead.append(messages.pop(0))
            if lead:
                text = "\n\n".join(m.text for m in lead)
                out.append(attrs.evolve(lead[0], parts=(ir.Text(text=text, span=lead[0].span),)))
        for m in messages:
            results = [p for p in m.parts if isinstance(p, ir.ToolResult)]
            if m.role == "tool" and len(results) > 1:
                out += [attrs.evolve(m, parts=(r,)) for r in results]
            else:
                out.append(m)
        return out
