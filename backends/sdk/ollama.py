"""The `ollama` SDK: `client.chat(**kwargs)`.

Every field of the body is a parameter of `Client.chat`. The client rebuilds the request from
its own models, and so changes it on its own:

- a tool's `parameters` keep only the keywords `ollama.Tool` has fields for (`type`, `$defs`,
  `items`, `required`, `properties`, and in each property `type`, `items`, `description`,
  `enum`): `additionalProperties`, `default`, `minimum`, `format`, `anyOf`, a nested object's
  `properties`... are dropped, so the model sees a looser schema than the prompt's. `SdkCall.notes`
  names each one dropped; to send them, POST the body itself to `/api/chat`
  (`httpx.post("http://localhost:11434/api/chat", json=compiled.body)`);
- harmless: message fields with an empty value (`"content": ""` beside tool calls) are left
  out, and `"tools": []` is sent when there are none.
"""
from __future__ import annotations

from . import SdkCall

#: the keywords of a tool's `parameters` that `ollama.Tool.Function.Parameters` keeps
KEPT = frozenset({"type", "$defs", "items", "required", "properties"})
#: the keywords of one property that `ollama.Tool.Function.Parameters.Property` keeps
KEPT_IN_PROPERTY = frozenset({"type", "items", "description", "enum"})
#: what to do when the client would drop something
INSTEAD = "POST the body to send them: httpx.post('http://localhost:11434/api/chat', json=compiled.body)"


def call(backend, body: dict) -> SdkCall:
    """The ollama call of an `/api/chat` body, with a note for each tool whose schema the client cuts."""
    notes = tuple(note for tool in body.get("tools") or () if (note := dropped_note(tool)))
    return SdkCall("ollama", ("import ollama",), "ollama.Client()", "chat", body, notes)


def dropped(parameters: dict) -> list[str]:
    """The schema keywords of a tool's `parameters` the ollama client leaves out, as paths."""
    out = [key for key in parameters if key not in KEPT]
    for name, prop in (parameters.get("properties") or {}).items():
        if isinstance(prop, dict):
            out += [f"properties.{name}.{key}" for key in prop if key not in KEPT_IN_PROPERTY]
    return out


def dropped_note(tool: dict) -> str | None:
    """A note naming what the client drops from one tool's schema, or None."""
    function = tool.get("function") or {}
    keywords = dropped(function.get("parameters") or {})
    if not keywords:
        return None
    return (f"ollama's client drops from tool `{function.get('name')}`'s schema: {', '.join(keywords)}; "
            + INSTEAD)
