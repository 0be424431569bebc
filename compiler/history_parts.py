"""The content parts of a `messages` input, in every supported provider's shape, as IR parts.

One reader per part: a dict tagged by `type` (OpenAI Chat, OpenAI Responses, Anthropic, Mistral)
or by its one content key (Bedrock Converse blocks, Gemini parts). What no target can be given
(reasoning, server-tool blocks, provider file ids, video) raises `Refused` naming the part, so that
nothing is ever dropped in silence. compiler/history.py reads turns and calls these.
"""
from __future__ import annotations

import json
import re
from typing import Any

from . import ir
from .conversation import MEDIA_TYPES, media_type_of

#: keys that say nothing the model reads (ids, statuses, rendering hints, citations): accepted, not carried
IGNORED = frozenset({"id", "status", "detail", "annotations", "logprobs", "citations", "title", "context",
                     "thoughtSignature", "thought_signature", "partMetadata", "part_metadata", "videoMetadata",
                     "video_metadata", "document_name", "filename", "name", "format", "phase", "weight", "prefix"})

_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w=.-]+)*;base64,(?P<data>[A-Za-z0-9+/=\s]*)$")

#: Bedrock `ImageBlock.format` / `DocumentBlock.format` -> media type (the inverse of the emitter's tables)
BEDROCK_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
                   "pdf": "application/pdf", "csv": "text/csv", "doc": "application/msword",
                   "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                   "xls": "application/vnd.ms-excel",
                   "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   "html": "text/html", "txt": "text/plain", "md": "text/markdown"}

#: parts no target can be given, with why (refused: reasoning and server-side tools are the provider's own)
NOT_CARRIED = {
    "thinking": "reasoning", "redacted_thinking": "reasoning", "reasoning": "reasoning",
    "reasoningContent": "reasoning", "thought": "reasoning", "server_tool_use": "a server tool call",
    "web_search_tool_result": "a server tool result", "search_result": "a search result",
    "executableCode": "code execution", "executable_code": "code execution",
    "codeExecutionResult": "code execution", "code_execution_result": "code execution",
    "video": "video", "guardContent": "a guardrail block", "citationsContent": "a citations block",
    "container_upload": "a container upload", "tool_reference": "a tool reference",
}


class Refused(Exception):
    """A part that cannot be read: `where` (a JSON path) and what was expected there."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def kind(value: Any) -> str:
    """What a JSON value is, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}.get(
        type(value), "a value")


def text_of(value: Any, where: str) -> str:
    """A string, else Refused."""
    if not isinstance(value, str):
        raise Refused(where, f"expected a string, got {kind(value)}")
    return value


def obj(value: Any, where: str, what: str = "an object") -> dict:
    """An object, else Refused."""
    if not isinstance(value, dict):
        raise Refused(where, f"expected {what}, got {kind(value)}")
    return value


def only(d: dict, where: str, allowed: set[str] | frozenset[str], ignored: frozenset[str] = IGNORED) -> None:
    """Refuse a key that carries something this reader does not convert (null and empty values
    and the `ignored` metadata keys are accepted: an SDK's dump of a message is full of them)."""
    for key, value in d.items():
        if key in allowed or key in ignored or value is None or value == [] or value == {}:
            continue
        raise Refused(f"{where}.{key}", "is not converted by polyprompt (it would be dropped): remove it, "
                                        "or put what it says in the text")


def refuse_not_carried(key: str, where: str) -> None:
    """Refused for the part kinds no target can be given."""
    raise Refused(where, f"{NOT_CARRIED[key]} (`{key}`) cannot be carried into another request: remove the part")


def url_media(kind_: str, url: Any, where: str, media_type: str | None = None) -> ir.Media:
    """A media part from a URL or a base64 `data:` URI (another `data:` URI, or no URL, is Refused)."""
    url = text_of(url, where)
    if url.startswith("data:"):
        m = _DATA_URI.match(url)
        if not m:
            raise Refused(where, "a data: URI must be base64 (`data:<type>;base64,<data>`)")
        return ir.Media(kind=kind_, data=m.group("data"), media_type=m.group("type") or media_type
                        or _default_type(kind_))
    if not url.strip():
        raise Refused(where, "expected a URL or a data: URI, got an empty string")
    return ir.Media(kind=kind_, url=url, media_type=media_type or media_type_of(url))


def inline_media(kind_: str, data: Any, media_type: Any, where: str) -> ir.Media:
    """A media part from base64 data and its media type."""
    data = text_of(data, where + ".data")
    media_type = text_of(media_type, where + ".media_type") if media_type is not None else _default_type(kind_)
    return ir.Media(kind=kind_, data=data, media_type=media_type)


def media_kind(media_type: str | None) -> str:
    """The IR media kind of a media type."""
    major = (media_type or "").split("/", 1)[0]
    return {"image": "image", "audio": "audio"}.get(major, "file")


def _default_type(kind_: str) -> str:
    return {"image": "image/png", "audio": "audio/wav"}.get(kind_, "application/octet-stream")


def sniff_image(data: str) -> str:
    """The media type of base64 image data from its first bytes (Ollama's `images` carry none)."""
    for prefix, media_type in (("iVBORw0KGgo", "image/png"), ("/9j/", "image/jpeg"), ("R0lGOD", "image/gif"),
                               ("UklGR", "image/webp")):
        if data.startswith(prefix):
            return media_type
    return "image/png"


def flag(value: Any, where: str, allowed: tuple) -> Any:
    """A flag's value when it is one of `allowed` (None: unset), else Refused (never read as a default)."""
    if value is not None and not any(type(a) is type(value) and a == value for a in allowed):  # 1 is not True
        raise Refused(where, f"expected one of {', '.join(json.dumps(a) for a in allowed)}, got {json.dumps(value)}")
    return value


def file_id_refused(where: str) -> None:
    """A provider's file id names a file stored at that provider: no other target can read it."""
    raise Refused(where, "a file id names a file stored at one provider: give the file's data or URL instead")


# ---------------------------------------------------------------- tagged parts (`type`)
def typed_part(p: dict, where: str) -> ir.Part:
    """A `{type: ...}` part of OpenAI Chat, OpenAI Responses, Anthropic or Mistral."""
    t = p.get("type")
    if not isinstance(t, str):
        raise Refused(where + ".type", f"expected a part type, got {kind(t)}")
    if t in ("text", "input_text", "output_text"):
        only(p, where, {"type", "text", "cache_control"})
        return ir.Text(text=text_of(p.get("text"), where + ".text"))
    if t == "refusal":
        only(p, where, {"type", "refusal"})
        return ir.Text(text=text_of(p.get("refusal"), where + ".refusal"))
    if t == "image_url":  # OpenAI {url, detail}; Mistral a plain string
        only(p, where, {"type", "image_url"})
        url = p.get("image_url")
        return url_media("image", url.get("url") if isinstance(url, dict) else url, where + ".image_url")
    if t == "input_image":
        only(p, where, {"type", "image_url", "file_id"})
        if p.get("file_id") is not None:
            file_id_refused(where + ".file_id")
        return url_media("image", p.get("image_url"), where + ".image_url")
    if t == "input_audio":
        return _audio(p, where)
    if t in ("file", "input_file"):
        return _file(p, where)
    if t == "document_url":  # Mistral
        only(p, where, {"type", "document_url"})
        return url_media("file", p.get("document_url"), where + ".document_url")
    if t in ("image", "document"):
        return _anthropic_media(p, where)
    if t in NOT_CARRIED:
        refuse_not_carried(t, where)
    raise Refused(where + ".type", f"`{t}` is not a content part polyprompt reads (text, image_url, input_audio, "
                                   "file, input_text, input_image, input_file, image, document, tool_use, "
                                   "tool_result, document_url)")


def _audio(p: dict, where: str) -> ir.Media:
    only(p, where, {"type", "input_audio"})
    audio = p.get("input_audio")
    if isinstance(audio, str):  # Mistral: the base64 data alone
        return ir.Media(kind="audio", data=audio, media_type="audio/wav")
    audio = obj(audio, where + ".input_audio")
    fmt = text_of(audio.get("format", "wav"), where + ".input_audio.format")
    return ir.Media(kind="audio", data=text_of(audio.get("data"), where + ".input_audio.data"),
                    media_type=MEDIA_TYPES.get(fmt, f"audio/{fmt}"))


def _file(p: dict, where: str) -> ir.Media:
    """OpenAI Chat `{type: file, file: {...}}` or Responses `{type: input_file, ...}`."""
    f = obj(p.get("file"), where + ".file") if p.get("type") == "file" else p
    at = where + ".file" if p.get("type") == "file" else where
    only(p, where, {"type", "file", "file_data", "file_id", "file_url"})
    only(f, at, {"type", "file_data", "file_id", "file_url"})
    if f.get("file_id") is not None:
        file_id_refused(at + ".file_id")
    if f.get("file_data") is not None:
        return url_media("file", f.get("file_data"), at + ".file_data",
                         media_type_of(f["filename"]) if isinstance(f.get("filename"), str) else None)
    return url_media("file", f.get("file_url"), at + ".file_url")


def _anthropic_media(p: dict, where: str) -> ir.Media:
    """Anthropic `image` / `document` blocks: a base64, url or text source."""
    only(p, where, {"type", "source", "cache_control"})
    source = obj(p.get("source"), where + ".source", "a `source` object")
    at, s = where + ".source", source.get("type")
    kind_ = "image" if p["type"] == "image" else "file"
    if s == "base64":
        only(source, at, {"type", "media_type", "data"})
        media_type = text_of(source.get("media_type"), at + ".media_type")
        return ir.Media(kind=kind_ if kind_ == "image" else media_kind(media_type),
                        data=text_of(source.get("data"), at + ".data"), media_type=media_type)
    if s == "url":
        only(source, at, {"type", "url"})
        return url_media(kind_, source.get("url"), at + ".url")
    if s == "text":  # a plain-text document: its text, as a text/plain file
        only(source, at, {"type", "media_type", "data"})
        import base64

        data = base64.b64encode(text_of(source.get("data"), at + ".data").encode("utf-8")).decode()
        return ir.Media(kind="file", data=data, media_type="text/plain")
    if s == "file":
        file_id_refused(at)
    raise Refused(at + ".type", "expected `base64`, `url` or `text`")


# ---------------------------------------------------------------- Bedrock blocks and Gemini parts (one key)
def bedrock_media(key: str, block: Any, where: str) -> ir.Media:
    """A Converse `image`, `document` or `audio` block: `{format, source: {bytes}}` (an S3 location is a URL)."""
    block = obj(block, where)
    only(block, where, {"format", "source"})
    fmt = text_of(block.get("format"), where + ".format")
    media_type = BEDROCK_FORMATS.get(fmt) or (f"audio/{fmt}" if key == "audio" else None)
    if media_type is None:
        raise Refused(where + ".format", f"`{fmt}` is not a Converse {key} format")
    source = obj(block.get("source"), where + ".source")
    kind_ = "image" if key == "image" else "audio" if key == "audio" else "file"
    if "bytes" in source:
        only(source, where + ".source", {"bytes"})
        return ir.Media(kind=kind_, data=text_of(source["bytes"], where + ".source.bytes"), media_type=media_type)
    if "s3Location" in source:
        loc = obj(source["s3Location"], where + ".source.s3Location")
        only(loc, where + ".source.s3Location", {"uri", "bucketOwner"})
        return ir.Media(kind=kind_, url=text_of(loc.get("uri"), where + ".source.s3Location.uri"),
                        media_type=media_type)
    if "text" in source and key == "document":
        import base64

        data = base64.b64encode(text_of(source["text"], where + ".source.text").encode("utf-8")).decode()
        return ir.Media(kind="file", data=data, media_type="text/plain")
    raise Refused(where + ".source", "expected `bytes` or `s3Location`")


def gemini_media(key: str, value: Any, where: str) -> ir.Media:
    """A Gemini `inlineData` {mimeType, data} or `fileData` {mimeType?, fileUri} part."""
    value = obj(value, where)
    media_type = value.get("mimeType", value.get("mime_type"))
    media_type = text_of(media_type, where + ".mimeType") if media_type is not None else None
    if key in ("inlineData", "inline_data"):
        only(value, where, {"mimeType", "mime_type", "data", "displayName", "display_name"})
        if media_type is None:
            raise Refused(where + ".mimeType", "inline data needs its media type")
        return ir.Media(kind=media_kind(media_type), data=text_of(value.get("data"), where + ".data"),
                        media_type=media_type)
    only(value, where, {"mimeType", "mime_type", "fileUri", "file_uri", "displayName", "display_name"})
    uri = text_of(value.get("fileUri", value.get("file_uri")), where + ".fileUri")
    media_type = media_type or media_type_of(uri)
    return url_media(media_kind(media_type), uri, where + ".fileUri", media_type)


def arguments(value: Any, where: str) -> dict:
    """Tool-call arguments: an object, or its JSON text (OpenAI); anything else is Refused (never guessed)."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except (json.JSONDecodeError, RecursionError):
            raise Refused(where, "is not JSON text: tool-call arguments must be a JSON object") from None
    if not isinstance(value, dict):
        raise Refused(where, f"tool-call arguments must be a JSON object, got {kind(value)}")
    return value


def response_text(response: Any, where: str) -> str:
    """A Gemini `functionResponse.response` as text: its `result` (or `output`) string, else its JSON."""
    response = obj(response, where)
    if len(response) == 1:
        (key, value), = response.items()
        if key in ("result", "output") and isinstance(value, str):
            return value
    return json.dumps(response, ensure_ascii=False)
