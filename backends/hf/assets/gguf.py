"""GGUF files: what compiling for `hf:/path/model.gguf` reads from one.

A GGUF file (llama.cpp's format) holds a model's weights and, as metadata, its tokenizer and chat
template. Compiling needs only the metadata, which this module reads from the file's header with the
standard library (no gguf, numpy, transformers or torch): the chat template
(``tokenizer.chat_template``) and the special tokens (``tokenizer.ggml.bos_token_id``,
``eos_token_id``, ``unknown_token_id``, ``padding_token_id``, ``eot_token_id``, ``eom_token_id``,
looked up in ``tokenizer.ggml.tokens``), as transformers' GGUF loader reads them.

The format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): the magic ``GGUF``, a uint32
version (2 or 3; version 1 counted in 32 bits and is not read), a uint64 tensor count, a uint64
key/value count, then the key/values: a string key, a uint32 value type, the value. A string is a
uint64 length and UTF-8 bytes; an array is a uint32 element type, a uint64 count and the elements.
Little-endian, or big-endian (the version then reads byte-swapped).

Token ids need the vocabulary as a tokenizer, which transformers builds from the metadata
(`tokenizers.gguf_tokenizer_dir` converts it once into the asset cache, keyed by `Metadata.digest`);
compiling only uses a tokenizer converted before and says so when there is none (PP412). The target
class, `target.GGUFModel`, reads the file through this module; `polyprompt models inspect FILE.gguf`
prints what it reads.
"""
from __future__ import annotations

import functools
import hashlib
import mmap
import os
import struct
from pathlib import Path
from typing import Any

import attrs

__all__ = ["GGUFError", "Metadata", "content_digest", "is_gguf_path", "read_metadata"]

MAGIC = b"GGUF"
VERSIONS = (2, 3)
SUFFIX = ".gguf"

# value type -> struct format of the fixed-size types; 8 is a string, 9 an array
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9
#: How deep arrays of arrays may nest in the metadata read.
MAX_ARRAY_DEPTH = 32
# the string arrays read in full; every other array is skipped and kept as its length
_KEPT_ARRAYS = frozenset({"tokenizer.ggml.tokens"})
# the special tokens a tokenizer built from the file has (the names transformers gives them)
SPECIAL_TOKEN_IDS = {"bos_token": "tokenizer.ggml.bos_token_id", "eos_token": "tokenizer.ggml.eos_token_id",
                     "unk_token": "tokenizer.ggml.unknown_token_id", "pad_token": "tokenizer.ggml.padding_token_id"}
# the ids llama.cpp stops generating at: end of sequence, end of turn, end of message
STOP_TOKEN_IDS = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")


class GGUFError(OSError):
    """A file that is not a GGUF file, or a damaged one (an OSError, as gzip's BadGzipFile is)."""


@attrs.frozen
class Metadata:
    """What a GGUF file's header says. `values` maps each key to its value (an array other than the
    vocabulary as its length); `digest` is the SHA-256 of the header up to the end of the key/values
    (the vocabulary, merges, template and settings: everything a tokenizer is built from)."""

    path: Path
    version: int
    tensor_count: int
    values: dict[str, Any] = attrs.field(repr=False)
    digest: str

    @property
    def architecture(self) -> str | None:
        """The model architecture (`general.architecture`), or None."""
        return self.values.get("general.architecture")

    @property
    def chat_template(self) -> str | None:
        """The default chat template's source, or None when the file has none."""
        template = self.values.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template else None

    @property
    def tokens(self) -> list[str]:
        """The vocabulary's token texts, in id order (empty when the file has none)."""
        tokens = self.values.get("tokenizer.ggml.tokens")
        return tokens if isinstance(tokens, list) else []

    def token(self, key: str) -> str | None:
        """The text of the token whose id is stored under `key` (None when absent or out of range)."""
        token_id, tokens = self.values.get(key), self.tokens
        if isinstance(token_id, int) and 0 <= token_id < len(tokens):
            return tokens[token_id]
        return None

    def special_tokens(self) -> dict[str, str]:
        """bos/eos/unk/pad token texts, as a tokenizer built from the file has them."""
        found = {name: self.token(key) for name, key in SPECIAL_TOKEN_IDS.items()}
        return {name: text for name, text in found.items() if text is not None}

    def stop_tokens(self) -> tuple[str, ...]:
        """The texts of the end-of-sequence, end-of-turn and end-of-message tokens, deduplicated."""
        return tuple(dict.fromkeys(t for t in (self.token(k) for k in STOP_TOKEN_IDS) if t))

    def stop_ids(self) -> list[int]:
        """The ids of the end-of-sequence, end-of-turn and end-of-message tokens, sorted, in range only."""
        ids = (self.values.get(k) for k in STOP_TOKEN_IDS)
        return sorted({i for i in ids if isinstance(i, int) and 0 <= i < len(self.tokens)})


def is_gguf_path(path: Path) -> bool:
    """Whether `hf:<path>` names a GGUF file rather than a model folder: any file, or a `.gguf` name
    that is not a folder (so a missing file is reported as such)."""
    return path.is_file() or (path.suffix.lower() == SUFFIX and not path.is_dir())


def read_metadata(path: str | os.PathLike) -> Metadata:
    """The metadata of a GGUF file, read once per process while the file is unchanged.

    Raises FileNotFoundError for a missing file and GGUFError for one that is not GGUF or is cut short.
    """
    path = Path(path).expanduser()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such GGUF file") from None
    if not path.is_file():
        raise GGUFError(f"{path}: not a file; hf: takes a model folder or a .gguf file")
    return _read_metadata(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _read_metadata(path: str, size: int, mtime_ns: int) -> Metadata:
    del mtime_ns  # part of the cache key only: a rewritten file is read again
    with open(path, "rb") as f:
        start = f.read(24)
        if start[:4] != MAGIC:
            # the file's own bytes are never echoed: it may be anything (a key file named model.gguf)
            raise GGUFError(f"{path}: not a GGUF file (it does not start with b'GGUF'); "
                            "hf: takes a model folder or a .gguf file")
        if len(start) < 24:
            raise GGUFError(f"{path}: damaged GGUF header: the file ends at byte {size}")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    with buf:
        reader = _Reader(buf, path)
        try:
            return reader.read(Path(path))
        except struct.error:  # a read past the end
            raise GGUFError(f"{path}: damaged GGUF header: the file ends at byte {size}, inside its metadata") from None
        except UnicodeDecodeError:
            raise GGUFError(f"{path}: damaged GGUF header: a string at byte {reader.pos} is not UTF-8") from None
        except (OverflowError, MemoryError) as err:
            raise GGUFError(f"{path}: damaged GGUF header at byte {reader.pos}: {err}") from None


class _Reader:
    """Walks a GGUF header in a memory map; `pos` is the offset of the next byte to read."""

    def __init__(self, buf: mmap.mmap, path: str):
        self.buf, self.path, self.pos, self.order = buf, path, 4, "<"

    def read(self, path: Path) -> Metadata:
        version = self._version()
        tensor_count, kv_count = self._unpack("QQ")
        values = {}
        for _ in range(kv_count):
            key = self._string()
            (value_type,) = self._unpack("I")
            values[key] = self._value(value_type, key in _KEPT_ARRAYS)
        with memoryview(self.buf) as view:  # released before the map is closed
            digest = hashlib.sha256(view[:self.pos]).hexdigest()
        return Metadata(path=path, version=version, tensor_count=tensor_count, values=values, digest=digest)

    def _version(self) -> int:
        (version,) = self._unpack("I")
        if version not in VERSIONS and struct.unpack(">I", struct.pack("<I", version))[0] in VERSIONS:
            self.order = ">"  # a big-endian file
            version = struct.unpack(">I", struct.pack("<I", version))[0]
        if version not in VERSIONS:
            raise GGUFError(f"{self.path}: GGUF version {version}; polyprompt reads versions 2 and 3")
        return version

    def _unpack(self, fmt: str) -> tuple:
        fmt = self.order + fmt
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def _string(self, errors: str = "strict") -> str:
        (length,) = self._unpack("Q")
        end = self.pos + length
        if end > len(self.buf):
            raise GGUFError(f"{self.path}: damaged GGUF header: a string runs past the end of the file")
        text = self.buf[self.pos:end].decode("utf-8", errors)
        self.pos = end
        return text

    def _value(self, value_type: int, keep: bool) -> Any:
        if value_type in _SCALARS:
            return self._unpack(_SCALARS[value_type])[0]
        if value_type == _STRING:
            return self._string()
        if value_type == _ARRAY:
            return self._array(keep)
        raise GGUFError(f"{self.path}: damaged GGUF header: unknown value type {value_type} at byte {self.pos - 4}")

    def _array(self, keep: bool, depth: int = 1) -> Any:
        if depth > MAX_ARRAY_DEPTH:  # real files nest an array or two; a hostile one, to the recursion limit
            raise GGUFError(f"{self.path}: damaged GGUF header: arrays nested more than {MAX_ARRAY_DEPTH} deep "
                            f"at byte {self.pos}")
        element_type, count = self._unpack("IQ")
        if count > len(self.buf) - self.pos:  # every element takes at least one byte
            raise GGUFError(f"{self.path}: damaged GGUF header: an array of {count} elements")
        if element_type in _SCALARS:
            fmt = f"{self.order}{count}{_SCALARS[element_type]}"
            if not keep:
                self.pos += struct.calcsize(fmt)
                return count
            return list(self._unpack(f"{count}{_SCALARS[element_type]}"))
        if element_type == _STRING:
            if keep:  # a vocabulary: a token that is not valid UTF-8 must not stop the template from loading
                return [self._string("replace") for _ in range(count)]
            self._skip_strings(count)
            return count
        if element_type == _ARRAY:
            for _ in range(count):
                self._array(False, depth + 1)
            return count
        raise GGUFError(f"{self.path}: damaged GGUF header: unknown array type {element_type}")

    def _skip_strings(self, count: int) -> None:
        length = struct.Struct(self.order + "Q")
        pos, buf = self.pos, self.buf
        for _ in range(count):
            pos += 8 + length.unpack_from(buf, pos)[0]
        if pos > len(buf):
            raise GGUFError(f"{self.path}: damaged GGUF header: strings run past the end of the file")
        self.pos = pos


# --- a stable key for a whole file --------------------------------------------------------------------

def content_digest(path: str | os.PathLike, stamps: Path | None = None) -> str:
    """The SHA-256 of a file's bytes (1.3 GB/s here). With `stamps`, a folder, the digest is kept in
    `<stamps>/<hash of the path>.json` with the file's size, mtime and inode, and reused while they match."""
    import json

    path = Path(path).expanduser().resolve()
    stat = path.stat()
    mark = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}
    stamp = stamps / f"{hashlib.sha256(str(path).encode()).hexdigest()[:24]}.json" if stamps else None
    if stamp is not None and stamp.is_file():
        try:
            known = json.loads(stamp.read_text(encoding="utf-8"))
            if {k: known.get(k) for k in mark} == mark and isinstance(known.get("sha256"), str):
                return known["sha256"]
        except (OSError, ValueError):
            pass  # rewritten below
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    if stamp is not None:
        _write_atomic(stamp, json.dumps({**mark, "sha256": digest.hexdigest()}))
    return digest.hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)

