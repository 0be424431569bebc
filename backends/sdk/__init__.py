"""The official Python SDK call that sends a compiled body: one module per provider.

A compiled `body` is the exact JSON of the HTTP request. The providers' SDKs take it apart
differently: Anthropic's takes `temperature` only through `extra_body`, google-genai takes
`model`, `contents` and a flat `config`, boto3 wants blobs as bytes. `sdk_call(backend, body)`
gives the `SdkCall` of a target: the client, the method and the keyword arguments with which
the SDK puts `body` on the wire (docs/sdk.md lists, per SDK, what it adds on its own).

Nothing here imports an SDK: the calls are data, checked against the real SDKs by
tests/test_sdk*.py. `reply_json` reads the SDKs' response objects back as the provider's JSON.
"""
from __future__ import annotations

import base64
import copy
import importlib
import pprint
import textwrap
from typing import Any

import attrs

#: target kind (the backend class's `name`) -> the module of this folder that makes its call
MODULES = {"openai-chat": "openai", "openai-responses": "openai", "openai-compatible": "openai",
           "anthropic": "anthropic", "gemini": "google", "vertex": "google", "bedrock-converse": "bedrock",
           "mistral": "mistral", "ollama": "ollama"}


class NoSdkCall(LookupError):
    """The target has no provider SDK to send its body (an open model's chat template)."""


@attrs.frozen(eq=False)
class SdkCall:
    """One call of a provider's official Python SDK: `client.<method>(**kwargs)` sends the body.

    `package` is what to `pip install`, `imports` and `client` the Python source that makes a
    client, `method` the dotted path of the method on it. `notes` say where the SDK changes
    the request on its own (empty when the JSON it sends is the body) and what to do instead.
    """

    package: str
    imports: tuple[str, ...]
    client: str
    method: str
    kwargs: dict[str, Any]
    notes: tuple[str, ...] = ()

    def __call__(self, client: Any) -> Any:
        """Make the call on `client` (an SDK client) and return the SDK's response object."""
        method = client
        for name in self.method.split("."):
            method = getattr(method, name)
        return method(**self.kwargs)

    def source(self) -> str:
        """The call as a Python snippet: imports, the client, then the call with every argument."""
        lines = [line for note in self.notes for line in textwrap.wrap(note, 98, initial_indent="# ",
                                                                       subsequent_indent="#   ")]
        lines += (["import base64"] if _has_bytes(self.kwargs) else []) + list(self.imports)
        lines += ["", f"client = {self.client}", f"response = client.{self.method}("]
        for name, value in self.kwargs.items():
            head = f"    {name}="
            text = pprint.pformat(_Literal.wrap(value), width=max(40, 100 - len(head)), sort_dicts=False)
            lines.append(head + text.replace("\n", "\n" + " " * len(head)) + ",")
        return "\n".join(lines + [")"]) + "\n"


def sdk_call(backend, body: dict) -> SdkCall:
    """The SDK call that sends `body`, compiled for `backend`; `NoSdkCall` for a target without one."""
    kind = getattr(type(backend), "name", None)
    module = MODULES.get(kind) if isinstance(kind, str) else None
    if module is None:
        raise NoSdkCall(f"{getattr(backend, 'name', kind)}: no provider SDK sends this body; the SDK calls are "
                        f"for the API targets ({', '.join(sorted(MODULES))})")
    maker = importlib.import_module(f"{__name__}.{module}").call
    return maker(backend, copy.deepcopy(body))  # the kwargs share nothing with the caller's body


def split_known(body: dict, known: frozenset[str]) -> dict:
    """`body`'s keys the SDK method names as parameters; the rest as `extra_body` (Stainless SDKs
    merge it into the JSON as it is)."""
    kwargs = {k: v for k, v in body.items() if k in known}
    extra = {k: v for k, v in body.items() if k not in known}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def reply_json(reply: Any) -> Any:
    """A reply as the provider's JSON: a dict as it is, an SDK's response object (pydantic:
    OpenAI, Anthropic, google-genai, Mistral, Ollama) dumped under the API's field names,
    None fields left out. Anything else is returned as it is."""
    if isinstance(reply, dict):
        return reply
    dump = getattr(reply, "model_dump", None)
    if callable(dump):  # pydantic v2; by_alias: google-genai's camelCase names, as on the wire
        return dump(mode="json", by_alias=True, exclude_none=True)
    to_dict = getattr(reply, "to_json_dict", None) or getattr(reply, "to_dict", None)
    return to_dict() if callable(to_dict) else reply


def _has_bytes(value: Any) -> bool:
    if isinstance(value, bytes):
        return True
    if isinstance(value, dict):
        return any(_has_bytes(v) for v in value.values())
    return isinstance(value, list) and any(_has_bytes(v) for v in value)


class _Literal:
    """Bytes printed as `base64.b64decode('...')`: as long as the body's text, not four times it."""

    def __init__(self, data: bytes):
        self.data = data

    def __repr__(self) -> str:
        return f"base64.b64decode({base64.b64encode(self.data).decode()!r})"

    @classmethod
    def wrap(cls, value: Any) -> Any:
        """`value` with every bytes object wrapped."""
        if isinstance(value, bytes):
            return cls(value)
        if isinstance(value, dict):
            return {k: cls.wrap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [cls.wrap(v) for v in value]
        return value


def decode_blobs(node: Any, parent: str, field: str, skip: frozenset[str] = frozenset()) -> None:
    """Decode, in place, every base64 string under a `field` key of a `parent` object (bytes, as the
    SDK wants them); free-form values (keys in `skip`: tool arguments, schemas) are left alone."""
    if isinstance(node, list):
        for item in node:
            decode_blobs(item, parent, field, skip)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in skip:
                continue
            if key == parent and isinstance(value, dict) and isinstance(value.get(field), str):
                value[field] = base64.b64decode(value[field])
            decode_blobs(value, parent, field, skip)
