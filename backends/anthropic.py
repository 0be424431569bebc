"""Anthropic Messages: `POST /v1/messages`.

https://docs.anthropic.com/en/api/messages
Schema: `CreateMessageParams` (refdata/anthropic/openapi.json): `additionalProperties: false`
throughout, `max_tokens` required, system text in the top-level `system` field, tool
results as `tool_result` blocks of a user turn, cache markers on content blocks.
"""
from __future__ import annotations

import base64
import binascii

import attrs

from ..compiler import ir
from ..compiler.targets import MediaTypes, Refusals, SchemaDialect, Unsupported
from ._emit import claude_thinking, declare_history_tools
from .base import Backend, Caps

#: `output_config.format`: a JSON Schema with an object root, passed through
ANTHROPIC_SCHEMA = SchemaDialect(name="anthropic", object_root=True)
#: `Base64ImageSource.media_type`'s enum
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: inline documents: `Base64PDFSource` (application/pdf) and `PlainTextSource` (text/plain, the text itself)
DOCUMENT_TYPES = frozenset({"application/pdf", "text/plain"})


class Anthropic(Backend):
    """The Anthropic Messages API (`POST /v1/messages`)."""
    name = "anthropic"
    family = "anthropic"
    default_model = "claude-sonnet-4-5"
    docs = "https://docs.anthropic.com/en/api/messages"
    caps = Caps(
        tool_result_media=True,
        system="top_level",
        alternation=True,  # "consecutive user or assistant turns ... will be combined"
        first_user=True,
        tools=True,
        tool_results="user_turn",
        media=frozenset({"image", "file"}),  # file: PDF and plain-text documents
        media_urls=frozenset({"image", "file"}),
        structured_output="anthropic",  # output_config.format
        cache="blocks",  # cache_control on a content block
        max_cache_breakpoints=4,
        settings={"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "max_tokens": "max_tokens",
                  "stop": "stop_sequences", "reasoning_tokens": "thinking"},
        temperature_max=1.0,
        default_max_tokens=1024,
        strict_tools=True,  # Tool.strict
    )
    model_prefixes = ("claude-",)
    dialects = (ANTHROPIC_SCHEMA,)
    passes = (claude_thinking, declare_history_tools)
    schema = ("anthropic/openapi.json", "CreateMessageParams")
    body_owned = {"model": "the `model` statement", "messages": "the prompt's turns",
                  "system": "the prompt's system turns", "tools": "the `tools` statement",
                  "output_config": "the prompt's output type"}
    sample_reply = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                    "content": [{"type": "text", "text": "Hello."}], "stop_reason": "end_turn",
                    "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 2}}
    sample_reading = {"text": "Hello.", "finish_reason": "end_turn"}

    def refusals(self) -> Refusals:
        """Other providers' models, and inline media outside the Messages API's source types: images
        other than JPEG, PNG, GIF and WebP; documents other than PDF and plain text."""
        types = {"image": MediaTypes(accepted=IMAGE_TYPES, noun="images", help="convert it to PNG or JPEG first"),
                 "file": MediaTypes(accepted=DOCUMENT_TYPES, noun="documents",
                                    help="convert it to PDF, or pass a text file (Markdown, CSV...) as text/plain")}
        return attrs.evolve(super().refusals(), media_types=types)

    def write_messages(self, messages) -> list[dict]:
        """Messages API `messages`: each turn as content blocks (system turns go to `system`)."""
        return [{"role": m.role, "content": self.blocks(m)} for m in messages]

    def emit(self, request: ir.Request) -> dict:
        system = [m for m in request.messages if m.role == "system"]
        turns = [m for m in request.messages if m.role != "system"]
        body: dict = {"model": request.model, "messages": self.write_messages(turns)}
        if system:
            body["system"] = [block for m in system for block in self.blocks(m)]
        if request.tools:
            body["tools"] = [self.tool(t) for t in request.tools]
            if request.tools_cache:
                body["tools"][-1]["cache_control"] = self.cache_control(request.tools_cache)
        if request.output is not None and self.caps.structured_output is not None:
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.output.schema}}
        return self.settings_into(body, request)  # reasoning_tokens: the `thinking` object (claude_thinking)

    def read_reply(self, reply: dict):
        """`Message`: text blocks joined, `tool_use` blocks as calls."""
        from ..compiler.replies import Reply

        blocks = reply.get("content") or []
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        calls = tuple(ir.ToolCall(id=b["id"], name=b["name"], arguments=b.get("input") or {})
                      for b in blocks if b.get("type") == "tool_use")
        return Reply(text=text, tool_calls=calls, finish_reason=reply.get("stop_reason"))

    def tool(self, t: ir.Tool) -> dict:
        """A `tools` entry: name, `input_schema` and the description when there is one."""
        out: dict = {"name": t.name, "input_schema": t.parameters}
        if t.description:
            out["description"] = t.description
        if t.strict:
            out["strict"] = True
        return out

    def cache_control(self, ttl: str) -> dict:
        """A block's `cache_control` marker; the `ttl` only when it is one the API takes (5m, 1h)."""
        return {"type": "ephemeral", **({"ttl": ttl} if ttl in ("5m", "1h") else {})}

    def blocks(self, m: ir.Message) -> list[dict]:
        """A turn's content blocks, its cache marker on the last one."""
        blocks = [self.block(p) for p in m.parts]
        if m.cache and blocks:
            blocks[-1]["cache_control"] = self.cache_control(m.cache)
        return blocks

    def block(self, p) -> dict:
        """One content block: text, image or document, `tool_use` or `tool_result`."""
        if isinstance(p, ir.Text):
            return {"type": "text", "text": p.text}
        if isinstance(p, ir.Media):
            return {"type": "image" if p.kind == "image" else "document", "source": self.source(p)}
        if isinstance(p, ir.ToolCall):
            return {"type": "tool_use", "id": p.id, "name": p.name, "input": p.arguments}
        content = [self.block(c) for c in p.content]
        out = {"type": "tool_result", "tool_use_id": p.id, "content": content}
        if p.is_error:
            out["is_error"] = True
        return out

    @staticmethod
    def source(m: ir.Media) -> dict:
        """A media block's `source`: a URL, base64 data (images, PDFs), or a plain-text document's text.
        `Unsupported` for another inline type (check_media refuses those first) or text that is not UTF-8."""
        if m.url is not None:
            return {"type": "url", "url": m.url}
        media_type = (m.media_type or "").lower()
        if media_type == "text/plain" and m.kind == "file":
            try:
                text = base64.b64decode(m.data or "", validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise Unsupported("PP302", "a text/plain document must be UTF-8 text in base64", m.span,
                                  help="re-encode the file as UTF-8") from None
            return {"type": "text", "media_type": "text/plain", "data": text}
        if media_type not in (IMAGE_TYPES if m.kind == "image" else DOCUMENT_TYPES):
            raise Unsupported("PP302", f"anthropic cannot take `{m.media_type}` {m.kind} data", m.span,
                              help="it takes JPEG, PNG, GIF and WebP images, PDF and plain-text documents")
        return {"type": "base64", "media_type": media_type, "data": m.data}
