"""Conversations as data: `messages` inputs to the IR, and media values.

A `messages` input (what `history` splices) is a list in the OpenAI chat
format, the most widely produced one: `{role, content, tool_calls?,
tool_call_id?, name?}`, content a string or a list of `text` / `image_url` /
`input_audio` / `file` parts. Its text is data: it never becomes a role or
markup, whatever it contains.
"""
from __future__ import annotations

import json
import re

from . import ir

#: file extension -> media type, for URLs given without one (a fixed table: the `mimetypes`
#: module reads the machine's own files, and its built-in table varies by Python version)
MEDIA_TYPES = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "heic": "image/heic",
    "heif": "image/heif", "gif": "image/gif",
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav", "flac": "audio/flac", "aac": "audio/aac",
    "ogg": "audio/ogg", "opus": "audio/opus", "weba": "audio/webm",
    "pdf": "application/pdf", "txt": "text/plain", "md": "text/markdown", "html": "text/html", "csv": "text/csv",
    "mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm",
}


def guess_media_type(m: ir.Media) -> str:
    """The media type of a part: its own, else from the URL's file extension."""
    if m.media_type:
        return m.media_type
    guess = media_type_of(m.url or "")
    if guess and m.kind == "audio" and guess.startswith("video/"):
        guess = "audio/" + guess.split("/", 1)[1]  # an .mp4 / .webm given as audio
    return guess or "application/octet-stream"


def media_type_of(path: str) -> str | None:
    """The media type of a file name or URL, from the fixed table (None when unknown)."""
    path = path.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    return MEDIA_TYPES.get(path.rpartition(".")[2].lower()) if "." in path else None


def extension_of(media_type: str | None) -> str:
    """A file extension for a media type (`.bin` when unknown)."""
    for ext, known in MEDIA_TYPES.items():
        if known == media_type:
            return "." + ext
    return ".bin"


_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*;base64,(?P<data>.*)$", re.S)


def media(kind: str, value: str, span=None) -> ir.Media:
    """A media part from a URL or a `data:` URI."""
    m = _DATA_URI.match(value)
    if m:
        return ir.Media(kind=kind, data=m.group("data"), media_type=m.group("type") or _default_type(kind), span=span)
    return ir.Media(kind=kind, url=value, media_type=media_type_of(value), span=span)


def _default_type(kind: str) -> str:
    return {"image": "image/png", "audio": "audio/wav"}.get(kind, "application/octet-stream")


def from_openai(messages: list[dict], span=None) -> list[ir.Message]:
    """IR messages from OpenAI-style dicts (already validated against `messages`)."""
    out: list[ir.Message] = []
    names: dict[str, str] = {}  # tool call id -> tool name, for the results
    for m in messages:
        role = m.get("role", "user")
        if role == "developer":
            role = "system"
        parts: list = _content_parts(m.get("content"), span)
        for call in m.get("tool_calls") or ():
            fn = call.get("function", {})
            args = fn.get("arguments", {})
            if isinstance(args, str):
                try:
                    args = json.loads(args) if args.strip() else {}
                except json.JSONDecodeError:
                    args = {"_raw": args}
            names[call.get("id", "")] = fn.get("name", "")
            parts.append(ir.ToolCall(id=call.get("id", ""), name=fn.get("name", ""), arguments=args, span=span))
        if role == "tool":
            call_id = m.get("tool_call_id", "")
            parts = [ir.ToolResult(id=call_id, name=m.get("name") or names.get(call_id, ""),
                                   content=tuple(p for p in parts if isinstance(p, (ir.Text, ir.Media))), span=span)]
        out.append(ir.Message(role=role, parts=tuple(parts), source="history", span=span))
    return out


def _content_parts(content, span) -> list:
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.Text(text=content, span=span)] if content else []
    parts: list = []
    for item in content:
        kind = item.get("type")
        if kind == "text":
            parts.append(ir.Text(text=item.get("text", ""), span=span))
        elif kind == "image_url":
            url = item.get("image_url", {})
            parts.append(media("image", url.get("url", "") if isinstance(url, dict) else str(url), span))
        elif kind == "input_audio":
            audio = item.get("input_audio", {})
            parts.append(ir.Media(kind="audio", data=audio.get("data"), media_type=f"audio/{audio.get('format', 'wav')}",
                                  span=span))
        elif kind == "file":
            f = item.get("file", {})
            data = f.get("file_data") or ""
            parts.append(media("file", data, span) if data.startswith("data:") else
                         ir.Media(kind="file", url=f.get("file_id"), span=span))
    return parts
