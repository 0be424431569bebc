"""Media values: parts from URLs and `data:` URIs, and media types from file names.

(`messages` inputs, in every provider's shape, are read by compiler/history.py.)
"""
from __future__ import annotations

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
