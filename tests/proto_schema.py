"""A validator for proto3 JSON request bodies, built from the `.proto` files in
tests/data/refdata/google/protos (Gemini v1beta, Vertex AI v1; copied from ../shared/refdata).

`load()` parses every file into a registry of messages and enums by full name;
`errors(body, "google.cloud.aiplatform.v1.GenerateContentRequest")` walks a JSON body
against a message and lists what the protobuf JSON mapping would reject or what the
API marks wrong:

- a key that is not the lowerCamelCase JSON name of a field (snake_case is accepted by
  proto parsers, but polyprompt emits camelCase, so it is reported here);
- a wrong JSON type for a scalar (string, bytes as base64, bool, 32/64-bit integers,
  float/double), a repeated field that is not a list, a map that is not an object;
- an enum value that is not one of the enum's names (or numbers);
- two members of one `oneof` set in the same object;
- a field marked `(google.api.field_behavior) = REQUIRED` that is missing, and one
  marked `OUTPUT_ONLY` that is set.

Well-known types follow their JSON mapping (`google.protobuf.Value` is any JSON,
`Struct` an object, `Duration` a string like "1.5s"...). Types from files not in
refdata are reported as unknown rather than passed silently.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

import attrs

from helpers import REFDATA

PROTOS = REFDATA / "google" / "protos"

SCALARS = {"double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64",
           "sfixed32", "sfixed64", "bool", "string", "bytes"}
_INT32 = {"int32", "uint32", "sint32", "fixed32", "sfixed32"}
_INT64 = {"int64", "uint64", "sint64", "fixed64", "sfixed64"}

#: well-known and common Google types: name -> a check of the JSON value (None when fine)
_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")


def _is_object(v):
    return None if isinstance(v, dict) else "expected an object"


WELL_KNOWN = {
    "google.protobuf.Value": lambda v: None,
    "google.protobuf.Struct": _is_object,
    "google.protobuf.ListValue": lambda v: None if isinstance(v, list) else "expected a list",
    "google.protobuf.NullValue": lambda v: None if v is None or v == "NULL_VALUE" else "expected null",
    "google.protobuf.Duration": lambda v: None if isinstance(v, str) and _DURATION.match(v) else "expected a duration like \"1.5s\"",
    "google.protobuf.Timestamp": lambda v: None if isinstance(v, str) and _TIMESTAMP.match(v) else "expected an RFC 3339 timestamp",
    "google.protobuf.Empty": _is_object,
    "google.protobuf.FieldMask": lambda v: None if isinstance(v, str) else "expected a string",
    "google.protobuf.Any": _is_object,
    "google.type.Date": _is_object,
    "google.type.LatLng": _is_object,
    "google.type.Interval": _is_object,
}
for _name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"):
    WELL_KNOWN[f"google.protobuf.{_name}Value"] = lambda v: None


@attrs.define
class Field:
    name: str  # as written in the .proto
    json_name: str
    type: str  # a scalar name, or a type name as written (resolved later)
    label: str = ""  # "", "repeated", "optional", "map"
    key_type: str | None = None  # for maps
    oneof: str | None = None
    behavior: frozenset = frozenset()  # REQUIRED, OPTIONAL, OUTPUT_ONLY, ...
    scope: str = ""  # the full name of the message holding it (for type resolution)


@attrs.define
class Message:
    full_name: str
    fields: dict = attrs.field(factory=dict)  # json name -> Field


@attrs.define
class Enum:
    full_name: str
    values: dict = attrs.field(factory=dict)  # name -> number


def json_name(name: str) -> str:
    """protoc's JSON name: underscores dropped, the letter after each one upper-cased."""
    out, upper = [], False
    for ch in name:
        if ch == "_":
            upper = True
        else:
            out.append(ch.upper() if upper else ch)
            upper = False
    return "".join(out)


# ---------------------------------------------------------------- parsing

_TOKEN = re.compile(r"""\s+|//[^\n]*|/\*.*?\*/|(?P<tok>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_.][\w.]*|-?\d[\w.]*|[{}\[\]()<>=;,:])""",
                    re.DOTALL)


def tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SyntaxError(f"cannot tokenize at {text[pos:pos + 30]!r}")
        if m.group("tok"):
            tokens.append(m.group("tok"))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], registry: dict):
        self.t, self.i, self.registry, self.package = tokens, 0, registry, ""

    def peek(self, k: int = 0) -> str | None:
        return self.t[self.i + k] if self.i + k < len(self.t) else None

    def next(self) -> str:
        tok = self.t[self.i]
        self.i += 1
        return tok

    def expect(self, tok: str) -> None:
        got = self.next()
        if got != tok:
            raise SyntaxError(f"expected {tok!r}, got {got!r} near token {self.i}")

    def skip_statement(self) -> None:
        """Up to and including the `;` or the balanced `{...}` that ends a statement."""
        depth = 0
        while True:
            tok = self.next()
            if tok in "{[(":
                depth += 1
            elif tok in "}])":
                depth -= 1
                if depth == 0 and tok == "}":
                    if self.peek() == ";":
                        self.next()
                    return
            elif tok == ";" and depth == 0:
                return

    def bracket_options(self) -> list[str]:
        """The tokens of a `[...]` option list (balanced), or [] when there is none."""
        if self.peek() != "[":
            return []
        depth, out = 0, []
        while True:
            tok = self.next()
            out.append(tok)
            if tok in "[{(":
                depth += 1
            elif tok in "]})":
                depth -= 1
                if depth == 0:
                    return out

    def file(self) -> None:
        while self.peek() is not None:
            tok = self.peek()
            if tok == "package":
                self.next()
                self.package = self.next()
                self.expect(";")
            elif tok == "message":
                self.message(self.package)
            elif tok == "enum":
                self.enum(self.package)
            elif tok == ";":
                self.next()
            else:  # syntax, import, option, service, extend
                self.skip_statement()

    def message(self, scope: str) -> None:
        self.expect("message")
        full = f"{scope}.{self.next()}".lstrip(".")
        msg = Message(full)
        self.registry[full] = msg
        self.expect("{")
        self.body(msg, oneof=None)

    def body(self, msg: Message, oneof: str | None) -> None:
        while True:
            tok = self.peek()
            if tok == "}":
                self.next()
                return
            if tok == ";":
                self.next()
            elif tok == "message":
                self.message(msg.full_name)
            elif tok == "enum":
                self.enum(msg.full_name)
            elif tok == "oneof":
                self.next()
                name = self.next()
                self.expect("{")
                self.body(msg, oneof=name)
            elif tok in ("option", "reserved", "extensions", "extend"):
                self.skip_statement()
            else:
                self.field(msg, oneof)

    def field(self, msg: Message, oneof: str | None) -> None:
        label, key_type = "", None
        if self.peek() in ("repeated", "optional", "required"):
            label = self.next()
        if self.peek() == "map":
            self.next()
            self.expect("<")
            key_type = self.next()
            self.expect(",")
            type_ = self.next()
            self.expect(">")
            label = "map"
        else:
            type_ = self.next()
        name = self.next()
        self.expect("=")
        self.next()  # the field number
        options = self.bracket_options()
        self.expect(";")
        behavior = set()
        for k, tok in enumerate(options):
            if tok.endswith("field_behavior") and k + 3 < len(options) and options[k + 2] == "=":
                behavior.add(options[k + 3])
        msg.fields[json_name(name)] = Field(name=name, json_name=json_name(name), type=type_, label=label,
                                            key_type=key_type, oneof=oneof, behavior=frozenset(behavior),
                                            scope=msg.full_name)

    def enum(self, scope: str) -> None:
        self.expect("enum")
        full = f"{scope}.{self.next()}".lstrip(".")
        enum = Enum(full)
        self.registry[full] = enum
        self.expect("{")
        while True:
            tok = self.next()
            if tok == "}":
                return
            if tok == ";":
                continue
            if tok in ("option", "reserved"):
                self.i -= 1
                self.skip_statement()
                continue
            self.expect("=")
            enum.values[tok] = int(self.next())
            self.bracket_options()
            self.expect(";")


def parse(text: str, registry: dict | None = None) -> dict:
    """Messages and enums of one .proto source, by full name (added to `registry`)."""
    registry = {} if registry is None else registry
    _Parser(tokenize(text), registry).file()
    return registry


@functools.lru_cache(maxsize=1)
def load(folder: Path = PROTOS) -> dict:
    registry: dict = {}
    for path in sorted(folder.glob("*.proto")):
        parse(path.read_text(encoding="utf-8"), registry)
    return registry


def resolve(type_name: str, scope: str, registry: dict) -> str | None:
    """The full name a type reference means in `scope` (protobuf's scoping rules)."""
    if type_name.startswith("."):
        name = type_name[1:]
        return name if name in registry or name in WELL_KNOWN else None
    parts = scope.split(".")
    for n in range(len(parts), -1, -1):
        candidate = ".".join(parts[:n] + [type_name])
        if candidate in registry:
            return candidate
    return type_name if type_name in WELL_KNOWN else None


def fields_of(message: str, registry: dict | None = None) -> dict[str, str]:
    """The JSON field names of a message with their kinds, e.g. {"contents": "repeated Content"}."""
    registry = registry or load()
    out = {}
    for name, f in registry[message].fields.items():
        kind = f.type if f.type in SCALARS else (resolve(f.type, f.scope, registry) or f"unknown {f.type}")
        kind = kind.rsplit(".", 1)[-1] if "." in kind and kind in registry else kind
        label = f"map<{f.key_type}, {kind}>" if f.label == "map" else f"{f.label} {kind}".strip()
        out[name] = label + (f" (oneof {f.oneof})" if f.oneof else "")
    return out


# ---------------------------------------------------------------- checking


def errors(body, message: str, registry: dict | None = None) -> list[str]:
    """Everything wrong with a JSON value as the message `message` (a full name)."""
    registry = registry or load()
    found: list[str] = []
    _check_message(body, message, registry, "", found)
    return found


def _check_message(value, name: str, registry: dict, path: str, found: list) -> None:
    if name in WELL_KNOWN:
        problem = WELL_KNOWN[name](value)
        if problem:
            found.append(f"{path or '/'}: {problem} for {name}")
        return
    msg = registry[name]
    if not isinstance(msg, Message):
        raise TypeError(f"{name} is not a message")
    if not isinstance(value, dict):
        found.append(f"{path or '/'}: expected an object for {name}")
        return
    oneofs: dict[str, list[str]] = {}
    for key, sub in value.items():
        field = msg.fields.get(key)
        if field is None:
            snake = next((f.json_name for f in msg.fields.values() if f.name == key), None)
            hint = f" (the JSON name is `{snake}`)" if snake and snake != key else ""
            found.append(f"{path}/{key}: not a field of {name}{hint}")
            continue
        if "OUTPUT_ONLY" in field.behavior:
            found.append(f"{path}/{key}: output only in {name}")
        if field.oneof is not None:
            oneofs.setdefault(field.oneof, []).append(key)
        _check_field(sub, field, registry, f"{path}/{key}", found)
    for oneof, keys in oneofs.items():
        if len(keys) > 1:
            found.append(f"{path or '/'}: {name} sets {sorted(keys)}, members of one oneof `{oneof}`")
    for field in msg.fields.values():
        if "REQUIRED" in field.behavior and field.json_name not in value:
            found.append(f"{path or '/'}: {name} requires `{field.json_name}`")


def _check_field(value, field: Field, registry: dict, path: str, found: list) -> None:
    if field.label == "map":
        if not isinstance(value, dict):
            found.append(f"{path}: expected an object (map) for `{field.name}`")
            return
        for k, v in value.items():
            _check_single(v, field, registry, f"{path}/{k}", found)
        return
    if field.label == "repeated":
        if not isinstance(value, list):
            found.append(f"{path}: expected a list for repeated `{field.name}`")
            return
        for i, v in enumerate(value):
            _check_single(v, field, registry, f"{path}/{i}", found)
        return
    _check_single(value, field, registry, path, found)


def _check_single(value, field: Field, registry: dict, path: str, found: list) -> None:
    t = field.type
    if t in SCALARS:
        problem = _scalar(value, t)
        if problem:
            found.append(f"{path}: {problem} (`{field.name}` is {t})")
        return
    full = resolve(t, field.scope, registry)
    if full is None:
        found.append(f"{path}: type `{t}` of `{field.name}` is not in refdata; cannot check")
        return
    target = registry.get(full)
    if isinstance(target, Enum):
        ok = (isinstance(value, str) and value in target.values) or (
            isinstance(value, int) and not isinstance(value, bool) and value in target.values.values())
        if not ok:
            found.append(f"{path}: {value!r} is not a value of enum {full} ({', '.join(target.values)})")
        return
    _check_message(value, full, registry, path, found)


def _scalar(value, t: str) -> str | None:
    if t == "string":
        return None if isinstance(value, str) else "expected a string"
    if t == "bytes":
        return None if isinstance(value, str) and _BASE64.match(value) else "expected base64 text"
    if t == "bool":
        return None if isinstance(value, bool) else "expected true or false"
    if t in _INT32 or t in _INT64:
        if isinstance(value, bool):
            return "expected an integer"
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return None
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            return None
        return "expected an integer"
    # float, double
    if isinstance(value, bool):
        return "expected a number"
    if isinstance(value, (int, float)) or value in ("NaN", "Infinity", "-Infinity"):
        return None
    if isinstance(value, str):
        try:
            float(value)
            return None
        except ValueError:
            pass
    return "expected a number"
