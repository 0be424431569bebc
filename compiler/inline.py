"""Local media files named in inputs: which are read, and which are refused.

A media value is a URL (`https://...`, `gs://...`), a `data:` URI, or a provider file id
(`file-abc123`). A value that names a local file instead (`cat.png`, `./scans/a.pdf`,
`/tmp/x.wav`, `file:///...`) is never sent as a URL: the provider could not fetch it, and
it would leak the local path. Two things may happen to it:

- `inline_files` (the CLI's `-i`, `PromptFile.read_inputs`) reads it and puts a `data:` URI
  in its place, but only where the prompt takes media: a parameter of type `image`, `audio`
  or `file` (inside lists, maps, records and optionals too) and the media parts of a
  `messages` input (`image_url.url`, `file.file_data`). The file must resolve, symlinks
  followed, inside the inputs file's folder or the project root, be a regular file of at
  most MAX_INLINE_BYTES, and have an extension of its kind (an image for `image`...).
  Anything else is an InputProblem naming the value's path; plain `str` or `json` values
  are never read, whatever they hold.
- everywhere else (the Python API's `compile`, `--no-inline-files`) it is an InputProblem:
  `local_path_problems` for the values of typed parameters (compiler/inputs.py), and
  `is_local_path` for a `str` or `json` value used as media at render time (compiler/render.py).
"""
from __future__ import annotations

import base64
import os
import re
import stat
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from . import types as T
from .conversation import MEDIA_TYPES, media_type_of

#: the largest local file inlined (the largest inline media providers take: 32 MB PDFs)
MAX_INLINE_BYTES = 32 * 1024 * 1024

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def is_local_path(value: str) -> bool:
    """Does a media value name a local file, rather than a URL, a `data:` URI or a file id?

    A `file:` URL, or a value without a scheme that holds a path separator, starts with `.`
    or `~`, or ends in a known media extension. `C:\\x.png` is a path (a one-letter scheme is a
    drive letter); `file-abc123` is a provider's file id."""
    found = _SCHEME.match(value)
    if found and len(found.group(1)) > 1:
        return found.group(1).lower() == "file"
    return "/" in value or "\\" in value or value.startswith((".", "~")) or media_type_of(value) is not None


def shown(value: str, limit: int = 120) -> str:
    """A path or value as quoted in a message: at most `limit` characters, control characters escaped."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def local_path_message(kind: str, value: str) -> str:
    """Why a local path is refused as a media value, and what to do instead."""
    return (f"`{shown(value)}` is a local path, not a URL or a data: URI: polyprompt does not send local paths "
            f"as {kind} URLs (give the file in an inputs file with `-i`, which inlines it, or pass a data: URI)")


# --------------------------------------------------------------------------- walking media slots

#: fn(kind, value, path) -> the value to put in its place
MediaFn = Callable[[str, str, str], str]


def takes_media(t: T.Type, seen: set[int] | None = None) -> bool:
    """Can a value of type `t` hold a media slot? (False skips walking a large value of plain data.)"""
    if isinstance(t, (T.MediaT, T.MessagesT)):
        return True
    if isinstance(t, T.OptionalT):
        return takes_media(t.inner, seen)
    if isinstance(t, T.ListT):
        return takes_media(t.item, seen)
    if isinstance(t, T.MapT):
        return takes_media(t.value, seen)
    if isinstance(t, T.RecordT):
        seen = set() if seen is None else seen
        if id(t) in seen:  # a recursive record: its fields are being looked at already
            return False
        seen.add(id(t))
        return any(takes_media(f.type, seen) for f in t.fields.values())
    return False


def map_media(value: Any, t: T.Type, path: str, fn: MediaFn, depth: int = 0) -> Any:
    """`value` (of type `t`) with `fn` applied to every string in a media slot: values of media
    types, and the media parts of `messages`. Only changed containers are copied; a value of
    another shape than its type is left for the type check to report."""
    if depth > 100:  # deeper values are refused by the type check
        return value
    if isinstance(t, T.OptionalT):
        return value if value is None else map_media(value, t.inner, path, fn, depth)
    if isinstance(t, T.MediaT):
        return fn(t.kind, value, path) if isinstance(value, str) and value else value
    if isinstance(t, T.ListT) and isinstance(value, list):
        return _same_or_new(value, [map_media(v, t.item, f"{path}[{i}]", fn, depth + 1) for i, v in enumerate(value)])
    if isinstance(t, T.MapT) and isinstance(value, dict):
        return _same_or_new(value, {k: map_media(v, t.value, f"{path}.{k}", fn, depth + 1) for k, v in value.items()})
    if isinstance(t, T.RecordT) and isinstance(value, dict):
        return _same_or_new(value, {k: map_media(v, t.fields[k].type, f"{path}.{k}", fn, depth + 1)
                                    if k in t.fields else v for k, v in value.items()})
    if isinstance(t, T.MessagesT) and isinstance(value, list):
        return _same_or_new(value, [_message_media(m, f"{path}[{i}]", fn) for i, m in enumerate(value)])
    return value


def _message_media(message: Any, path: str, fn: MediaFn) -> Any:
    """A `messages` item with `fn` applied to its `image_url.url` and `file.file_data` parts."""
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return message
    parts = [_part_media(p, f"{path}.content[{i}]", fn) for i, p in enumerate(content)]
    return message if all(a is b for a, b in zip(parts, content)) else {**message, "content": parts}


def _part_media(part: Any, path: str, fn: MediaFn) -> Any:
    if not isinstance(part, dict):
        return part
    slots = {"image_url": ("image", "url"), "file": ("file", "file_data")}.get(str(part.get("type")))
    if slots is None:
        return part
    kind, field = slots
    inner = part.get(part["type"])
    if kind == "image" and isinstance(inner, str):  # `image_url` given as a bare string
        new = fn(kind, inner, f"{path}.image_url") if inner else inner
        return part if new is inner else {**part, "image_url": new}
    if not isinstance(inner, dict) or not isinstance(inner.get(field), str) or not inner[field]:
        return part
    new = fn(kind, inner[field], f"{path}.{part['type']}.{field}")
    return part if new is inner[field] else {**part, part["type"]: {**inner, field: new}}


def _same_or_new(old: Any, new: Any) -> Any:
    """The old container when nothing in it changed (no copy), else the new one."""
    values = old.values() if isinstance(old, dict) else old
    changed = new.values() if isinstance(new, dict) else new
    return old if all(a is b for a, b in zip(values, changed)) else new


# --------------------------------------------------------------------------- refusing

def local_path_problems(value: Any, t: T.Type, path: str) -> list[tuple[str, str]]:
    """(path, message) for every media slot of `value` holding a local path."""
    found: list[tuple[str, str]] = []

    def check(kind: str, text: str, where: str) -> str:
        if is_local_path(text):
            found.append((where, local_path_message(kind, text)))
        return text

    if takes_media(t):
        map_media(value, t, path, check)
    return found


# --------------------------------------------------------------------------- inlining

class Inliner:
    """Reads the local files named in media slots, under the rule of the module docstring.

    `base` is the folder relative paths start from (the inputs file's, or the working folder
    for stdin); `roots` the folders a file must resolve inside. Problems are collected in
    `problems` as (path, message); the value is then left as it was."""

    def __init__(self, base: Path, roots: Iterable[Path], limit: int = MAX_INLINE_BYTES):
        self.base = Path(os.path.realpath(base))
        self.roots = [Path(os.path.realpath(r)) for r in roots]
        self.limit = limit
        self.problems: list[tuple[str, str]] = []

    def __call__(self, kind: str, value: str, path: str) -> str:
        if not is_local_path(value):
            return value
        try:
            return self._inline(kind, value)
        except _Refused as why:
            self.problems.append((path, f"`{shown(value)}`: {why}"))
            return value

    def _inline(self, kind: str, value: str) -> str:
        name = _file_url_path(value) if value.lower().startswith("file:") else value
        if "\0" in name:
            raise _Refused("a file name cannot hold a NUL character")
        media_type = _media_type(kind, name)
        full = Path(os.path.realpath(self.base / os.path.expanduser(name)))
        if not any(full.is_relative_to(root) for root in self.roots):
            raise _Refused("outside the inputs file's folder and the project root; local files are inlined only from "
                           f"there ({', '.join(str(r) for r in self.roots)})")
        data = self._read(full)
        return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"

    def _read(self, full: Path) -> bytes:
        """The bytes of a regular file, opened without following a symlink (`full` is already
        resolved: a link that appears now is a race) and without waiting on a FIFO."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(full, flags)
        except FileNotFoundError:
            raise _Refused(f"no such file (relative paths start at {self.base})") from None
        except (OSError, ValueError) as err:
            raise _Refused(f"cannot be read ({getattr(err, 'strerror', None) or err})") from None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise _Refused("not a regular file")
        with os.fdopen(fd, "rb") as handle:
            if st.st_size > self.limit:
                raise _Refused(f"larger than {self.limit:,} bytes, the most inlined")
            data = handle.read(self.limit + 1)
        if len(data) > self.limit:  # it grew while being read
            raise _Refused(f"larger than {self.limit:,} bytes, the most inlined")
        return data


class _Refused(Exception):
    """Why a local file is not inlined."""


def _file_url_path(value: str) -> str:
    """The path of a `file:` URL (`file:///a/b%20c.png` -> `/a/b c.png`); a URL naming another
    host is refused."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(value)
    if parts.netloc not in ("", "localhost"):
        raise _Refused("a file: URL of another host")
    return unquote(parts.path)


def _media_type(kind: str, name: str) -> str:
    """The media type of a file for a slot of `kind`, from its extension; _Refused when unknown or
    not of that kind (a PDF given as an image)."""
    media_type = media_type_of(name)
    if media_type is None:
        raise _Refused(f"no known media extension ({', '.join('.' + e for e in MEDIA_TYPES)})")
    if kind == "audio" and media_type.startswith("video/"):
        media_type = "audio/" + media_type.split("/", 1)[1]  # an .mp4 / .webm given as audio
    if kind in ("image", "audio") and not media_type.startswith(kind + "/"):
        raise _Refused(f"not {'an image' if kind == 'image' else 'audio'} ({media_type})")
    return media_type


def inline_files(values: Mapping[str, Any], types: Mapping[str, T.Type], inliner: Inliner) -> dict[str, Any]:
    """`values` with the local files of their media slots inlined (by the parameter `types`;
    values of unknown names are left as they are). Problems are in `inliner.problems`."""
    return {name: map_media(value, types[name], name, inliner) if name in types and takes_media(types[name])
            else value for name, value in values.items()}
