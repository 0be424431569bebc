"""The IR as small, readable text: what a reviewer reads to see what a pass changed.

`format_request` renders an `ir.Request` (compiler/ir.py) one item a line, in a
fixed order, so two requests that print alike are equal (spans are not
shown: notes carry them). tests/passes/*.txt hold a request printed
before and after each lowering pass::

    request triage -> anthropic
    model "gpt-4o-mini"
    setting temperature: 0
    tool lookup "Find an order."
      parameters {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
    output triage: Triage
      schema {"type": "object", ...}
    system cache=default
      text "You are the assistant.\\n"
           "Answer briefly."
    assistant
      call c1 lookup {"id": "A1"}
    tool
      result c1 lookup
        text "shipped"

Text is quoted as JSON strings, one quoted piece per source line; JSON values
(schemas, arguments, settings) are written on one line when they fit in
`WIDTH` columns, else one entry a line. Media data is shown by its size and a
short hash, never inline. Ids and names are written bare when they are one
plain word, else quoted. A message's flags are shown only when set: `cache=`,
`priority=`, `source=history`.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from . import ir

#: Lines are kept within this many columns where a JSON value can be broken.
WIDTH = 100
INDENT = "  "
_WORD = re.compile(r"[\w.:/-]+")


def format_request(request: ir.Request) -> str:
    """The whole request: header, settings, tools, output, then each message (no final newline)."""
    lines = [f"request {word(request.prompt)} -> {word(request.target)}",
             f"model {quote(request.model) if request.model is not None else 'none'}"]
    if request.budget is not None:
        lines.append(f"budget {request.budget}")
    for name, setting in request.settings.items():
        lines += layout(setting.value, "", f"setting {word(name)}: ")
    for tool in request.tools:
        lines += format_tool(tool)
    if request.tools_cache is not None:
        lines.append(f"tools cache={request.tools_cache}")
    if request.output is not None:
        lines += format_output(request.output)
    for message in request.messages:
        lines += format_message(message)
    return "\n".join(lines)


def format_tool(tool: ir.Tool) -> list[str]:
    """`tool NAME "description"`, then its parameters schema."""
    head = ("strict " * tool.strict + f"tool {word(tool.name)}"
            + (f" {quote(tool.description)}" if tool.description is not None else ""))
    return [head, *layout(tool.parameters, INDENT, "parameters ")]


def format_output(output: ir.Output) -> list[str]:
    """The output type, its schema, and what lowering recorded: the type's own schema (`(the same)`
    when lowering kept it), the wrapper key, and `strict false` when strict mode cannot take the schema."""
    lines = [f"output {word(output.name)}: {output.type}", *layout(output.schema, INDENT, "schema ")]
    if output.original is not None:  # set by lowering: the schema before it
        lines += ([f"{INDENT}original (the same)"] if output.original == output.schema
                  else layout(output.original, INDENT, "original "))
    if output.wrapped is not None:
        lines.append(f"{INDENT}wrapped {quote(output.wrapped)}")
    if not output.strict:
        lines.append(f"{INDENT}strict false")
    return lines


def format_message(message: ir.Message) -> list[str]:
    """The role with the flags that are set, then one entry per part, indented."""
    flags = []
    if message.cache is not None:
        flags.append(f"cache={message.cache}")
    if message.priority is not None:
        flags.append(f"priority={message.priority}")
    if message.source != "prompt":
        flags.append(f"source={message.source}")
    lines = [" ".join([message.role, *flags])]
    for part in message.parts:
        lines += format_part(part, INDENT)
    if not message.parts:
        lines.append(f"{INDENT}(no parts)")
    return lines


def format_part(part: ir.Part, indent: str) -> list[str]:
    """One part of a message (or of a tool result's content) at `indent`."""
    if isinstance(part, ir.Text):
        return format_text(part.text, indent + "text ")
    if isinstance(part, ir.Media):
        return [indent + format_media(part)]
    if isinstance(part, ir.ToolCall):
        return layout(part.arguments, indent, f"call {word(part.id)} {word(part.name)} ")
    if isinstance(part, ir.ToolResult):
        lines = [f"{indent}result {word(part.id)} {word(part.name)}" + (" error" if part.is_error else "")]
        for item in part.content:
            lines += format_part(item, indent + INDENT)
        return lines
    raise TypeError(f"not an IR part: {part!r}")


def format_text(text: str, prefix: str) -> list[str]:
    """`text` as quoted pieces, one per line of it, the later ones aligned under the first."""
    pieces = text.split("\n")
    quoted = [quote(p + "\n") for p in pieces[:-1]]
    if pieces[-1] or not quoted:
        quoted.append(quote(pieces[-1]))
    pad = " " * len(prefix)
    return [prefix + quoted[0], *(pad + q for q in quoted[1:])]


def format_media(media: ir.Media) -> str:
    """`KIND [MEDIA_TYPE] url "..."` or `KIND MEDIA_TYPE data (N chars, sha256 XXXXXXXX)`."""
    words = [media.kind] + ([media.media_type] if media.media_type else [])
    if media.url is not None:
        words.append(f"url {quote(media.url)}")
    if media.data is not None:
        digest = hashlib.sha256(media.data.encode("utf-8")).hexdigest()[:8]
        words.append(f"data ({len(media.data)} chars, sha256 {digest})")
    return " ".join(words)


def word(text: str) -> str:
    """An id or a name as it is when it is one plain word, else quoted (a call id may hold spaces)."""
    return text if _WORD.fullmatch(text) else quote(text)


def quote(text: str) -> str:
    """A JSON string literal: newlines, tabs, quotes and control characters escaped, other text as is."""
    return json.dumps(text, ensure_ascii=False)


def layout(value: Any, indent: str, prefix: str = "") -> list[str]:
    """A JSON value after `indent + prefix`: on that one line when it fits in `WIDTH` columns,
    else an object's entries or a list's items one a line, each laid out the same way."""
    flat = indent + prefix + _compact(value)
    if len(flat) <= WIDTH or not isinstance(value, (dict, list)) or not value:
        return [flat]
    inner = indent + INDENT
    if isinstance(value, dict):
        entries = [layout(v, inner, f"{quote(str(k))}: ") for k, v in value.items()]
        open_, close = "{", "}"
    else:
        entries = [layout(v, inner) for v in value]
        open_, close = "[", "]"
    lines = [indent + prefix + open_]
    for i, entry in enumerate(entries):
        lines += entry[:-1] + [entry[-1] + ("," if i < len(entries) - 1 else "")]
    return lines + [indent + close]


def _compact(value: Any) -> str:
    """One-line JSON with a space after `,` and `:`; a value JSON cannot write is shown by its repr."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=repr)
