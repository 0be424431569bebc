"""A tool-call answer as the assistant turn of the target's own messages.

An answer column may hold tool calls (`answers.ToolCalls`, recognised by `align`): the training
answer is then the assistant turn calling them, written by the target's own message writer, so
each format gets the shape its platform trains on: OpenAI's `tool_calls` (arguments as JSON
text), Gemini's `functionCall` part, a chat template's `tool_calls` (arguments as an object).

Each call is checked against the tools the prompt offers on that row, for that target: a tool the
prompt does not offer, or arguments that do not fit the tool's parameters, are a row problem
naming the answer's field (`output.arguments.order_id`) and the reason. A `strict tool` sent
strict on a target whose strict mode makes every parameter required (OpenAI's: an optional one
becomes nullable) gets `null` for an optional argument the data leaves out, as the model's call
under strict mode carries it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ...compiler import ir
from ..align import RowProblem
from ..answers import ToolCalls


def call_turn(calls: ToolCalls, compiled: Any, which: str) -> dict:
    """The assistant turn calling `calls`, in the target's message shape; RowProblem for a call the
    prompt's tools do not take."""
    offered, used = _offered(compiled)
    parts = []
    for i, (name, arguments, call_id) in enumerate(calls):
        where = f"{which}[{i}]" if len(calls) > 1 else which
        found = offered.get(name)
        if found is None:
            raise RowProblem(f"{where}.name", _unknown(name, offered))
        parameters, strict = found
        if strict:
            arguments = _nulls_filled(arguments, parameters, parameters)
        _check_arguments(arguments, name, parameters, f"{where}.arguments")
        if call_id is None:
            call_id = _next_id(used)
        used.add(call_id)
        parts.append(ir.ToolCall(id=call_id, name=name, arguments=arguments))
    return compiled.backend.write_messages([ir.Message(role="assistant", parts=tuple(parts))])[0]


def _offered(compiled: Any) -> tuple[dict[str, tuple[dict, bool]], set[str]]:
    """The tools the row's prompt offers for the target, name -> (parameters as sent, strict), and
    the call ids its conversation uses. Read from the body when the format has one (asking for the
    lowered request would lower the row a second time, through every pass); else the request's."""
    body = getattr(compiled, "body", None)
    if body is None or not compiled.backend.has_body:  # an open model's "body" is its prompt text
        request = compiled.request
        return ({t.name: (t.parameters, t.strict) for t in request.tools},
                {p.id for m in request.messages for p in m.parts if isinstance(p, (ir.ToolCall, ir.ToolResult))})
    offered = {}
    for tool in body.get("tools") or ():
        for found in tool.get("functionDeclarations") or [tool.get("function", tool)]:
            parameters = found.get("parameters", found.get("parametersJsonSchema", found.get("input_schema")))
            if isinstance(found.get("name"), str) and isinstance(parameters, dict):
                offered[found["name"]] = (parameters, found.get("strict") is True)
    return offered, set(_ids(body.get("messages", body.get("contents"))))


#: the keys under which a body's turns carry call ids (OpenAI, Anthropic, Gemini)
_ID_KEYS = frozenset({"id", "tool_call_id", "tool_use_id"})


def _ids(node: Any, depth: int = 0) -> Any:
    """Every call id in a body's turns (an id of another kind too: a few extra names are harmless)."""
    if depth > 32:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                yield value
            elif isinstance(value, (dict, list)):
                yield from _ids(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _ids(item, depth + 1)


def _unknown(name: str, offered: dict) -> str:
    if not offered:
        return f"a call of `{name}`, but the prompt offers no tools"
    from ...compiler.check.names import suggest

    hint = suggest(name, offered)
    return f"the prompt offers no tool `{name}`" + (f" ({hint})" if hint else "") + f"; its tools: {', '.join(offered)}"


def _next_id(used: set[str]) -> str:
    """`call_N` for the first N not used yet (the compiler numbers the prompt's own calls so)."""
    n = len(used) + 1
    while f"call_{n}" in used:
        n += 1
    return f"call_{n}"


def _check_arguments(arguments: dict, name: str, parameters: dict, where: str) -> None:
    """RowProblem naming the first argument that does not fit the tool's parameters."""
    validator = _validator(json.dumps(parameters, sort_keys=True))
    error = next(iter(sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))), None)
    if error is not None:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise RowProblem(where + path, f"does not fit the parameters of `{name}`: {error.message}")


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Any:
    """A validator per parameters schema (rows repeat the same few tools)."""
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(schema_text))


def _nulls_filled(value: Any, node: Any, root: dict, depth: int = 0) -> Any:
    """`value` with `null` for each property a strict schema requires and lets be null but the
    value leaves out, in nested objects too (a copy; the data's own value is never changed)."""
    node = _resolved(node, root)
    if depth > 64 or not isinstance(node, dict):
        return value
    if isinstance(value, dict):
        objects = [node] + [b for b in (_resolved(b, root) for b in node.get("anyOf", ())) if "properties" in b]
        shape = next((o for o in objects if "properties" in o), None)
        if shape is None:
            return value
        props = shape["properties"]
        out = {k: _nulls_filled(v, props[k], root, depth + 1) if k in props else v for k, v in value.items()}
        for key in shape.get("required", ()):
            if key not in out and key in props and _takes_null(_resolved(props[key], root), root):
                out[key] = None
        return out
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [_nulls_filled(v, node["items"], root, depth + 1) for v in value]
    return value


def _resolved(node: Any, root: dict) -> Any:
    """A schema node with a local `$ref` (`#/$defs/Name`) followed."""
    for _ in range(16):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            break
        ref = node["$ref"]
        node = root if ref == "#" else (root.get("$defs") or {}).get(ref.rsplit("/", 1)[-1], {})
    return node


def _takes_null(node: Any, root: dict) -> bool:
    if not isinstance(node, dict):
        return False
    kind = node.get("type")
    if kind == "null" or isinstance(kind, list) and "null" in kind:
        return True
    return any(_takes_null(_resolved(b, root), root) for b in node.get("anyOf", ()))
