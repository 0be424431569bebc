"""History: a `messages` input, in any supported provider's shape, read into IR turns.

A `messages` value (what `history` splices) may be written in the shape of any target polyprompt
compiles for, turn by turn: OpenAI Chat / Mistral / Ollama messages (`role`, `content`,
`tool_calls`, `tool_call_id`, `tool_name`, `images`), OpenAI Responses input items (`message`,
`function_call`, `function_call_output`), Anthropic and Bedrock Converse content blocks
(`tool_use` / `tool_result`, `toolUse` / `toolResult`), Gemini contents (`role` user/model,
`parts`). Each turn becomes IR turns (text, media, tool calls, tool results), which every target
writes in its own shape. What cannot be converted is a problem naming the turn and the part
(`history[2].content[1]`): nothing is dropped in silence. The roles come from the role fields only:
text is data and never becomes a role. docs/history.md lists the shapes.

Tool results are matched with the calls earlier in the same history (by id, or by tool name for
Ollama's id-less results): a result that answers no call is a problem, as every provider refuses
it. A turn of tool results becomes one IR `tool` turn per result, as the prompt's own
`tool_result` statements do; a user turn mixing results and other content is split in order.
"""
from __future__ import annotations

from typing import Any

from . import ir
from .history_parts import (IGNORED, NOT_CARRIED, Refused, arguments, bedrock_media, flag, gemini_media, kind, obj,
                            only, refuse_not_carried, response_text, sniff_image, text_of, typed_part, url_media)

#: a message's role -> the IR role (Gemini's `model` is the assistant; OpenAI's `developer` a system turn)
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant", "tool": "tool"}
_GEMINI_ROLES = {"user": "user", "model": "assistant", "function": "user"}
#: a message's own keys (beyond the parts' metadata); `name` is a tool's name in a tool message only
_MESSAGE_IGNORED = (IGNORED - {"name"}) | frozenset(NOT_CARRIED)  # NOT_CARRIED keys: refused first when set
_MESSAGE_KEYS = frozenset({"role", "content", "type", "tool_calls", "images", "refusal", "cache_control"})
_TOOL_MESSAGE_KEYS = _MESSAGE_KEYS | {"tool_call_id", "tool_name", "name"}
_CACHE_TTLS = ("5m", "1h")


def read(value: Any, path: str = "history", span=None) -> tuple[list[ir.Message], list[tuple[str, str]]]:
    """The IR turns of a `messages` value, and its problems as (JSON path, message) pairs."""
    if not isinstance(value, (list, tuple)):
        return [], [(path, f"expected a list of messages, got {kind(value)}")]
    calls = _Calls()
    out: list[ir.Message] = []
    problems: list[tuple[str, str]] = []
    for i, m in enumerate(value):
        try:
            out += _Turn(calls, f"{path}[{i}]", span, i).read(m)
        except Refused as err:
            problems.append((err.where, err.message))
    return out, problems


class _Calls:
    """The tool calls of one history, so each result is matched with the call it answers."""

    def __init__(self) -> None:
        self.open: dict[str, str] = {}  # call id -> tool name, not yet answered, in call order
        self.seen: set[str] = set()

    def call(self, call_id: Any, name: Any, where: str, made: str) -> ir.ToolCall:
        """A call (`made` is the id of a call the shape gives none: Ollama, Gemini)."""
        name = text_of(name, where + ".name")
        if not name:
            raise Refused(where + ".name", "a tool call needs the tool's name")
        call_id = made if call_id is None else text_of(call_id, where + ".id")
        if not call_id or call_id in self.seen:
            raise Refused(where, f"tool call id `{call_id}` is used twice" if call_id else "a tool call id is empty")
        self.seen.add(call_id)
        self.open[call_id] = name
        return ir.ToolCall(id=call_id, name=name, arguments={})

    def answer(self, call_id: Any, name: Any, where: str) -> tuple[str, str]:
        """The (id, tool name) a result answers: by id, else the oldest open call of the tool."""
        name = text_of(name, where + ".name") if name is not None else None
        if call_id is None:
            found = next((c for c, n in self.open.items() if n == name), None)
            if found is None:
                raise Refused(where, f"a result of `{name}` answers no earlier call of that tool in the history")
            call_id = found
        call_id = text_of(call_id, where + ".id")
        if call_id not in self.open:
            again = "a second time" if call_id in self.seen else "which no earlier turn of the history makes"
            raise Refused(where, f"a tool result answers call `{call_id}`, {again}: a result follows the call it "
                                 "answers, in the same history")
        called = self.open.pop(call_id)
        if name and name != called:
            raise Refused(where, f"a result of `{name}` answers call `{call_id}`, which calls `{called}`")
        return call_id, called


class _Turn:
    """Reads one turn (whatever its shape) into IR turns."""

    def __init__(self, calls: _Calls, where: str, span, index: int):
        self.calls, self.where, self.span, self.index = calls, where, span, index
        self.cache: str | None = None
        self.made = 0

    def read(self, m: Any) -> list[ir.Message]:
        """The IR turns of one history turn."""
        m = obj(m, self.where, "a message object")
        item = m.get("type")
        if item is not None and not isinstance(item, str):
            raise Refused(self.where + ".type", f"expected an item type, got {kind(item)}")
        if item in ("function_call", "function_call_output"):
            return self._responses_item(m)
        if item is not None and item != "message":
            if item in NOT_CARRIED:
                refuse_not_carried(item, self.where + ".type")
            raise Refused(self.where + ".type", f"`{item}` is not an input item polyprompt reads (message, "
                                                "function_call, function_call_output)")
        if "parts" in m and "content" not in m:
            return self._gemini(m)
        return self._message(m)

    # ---------------------------------------------------------------- shapes of a turn
    def _message(self, m: dict) -> list[ir.Message]:
        """OpenAI Chat / Responses message / Mistral / Ollama / Anthropic / Bedrock: role and content."""
        given = m.get("role")
        role = ROLES.get(given) if isinstance(given, str) else None
        if role is None:
            raise Refused(self.where + ".role", "must be one of system, developer, user, assistant, tool")
        for key in m:
            if key in NOT_CARRIED and m[key] not in (None, "", [], {}):
                refuse_not_carried(key, f"{self.where}.{key}")
        only(m, self.where, _TOOL_MESSAGE_KEYS if role == "tool" else _MESSAGE_KEYS, ignored=_MESSAGE_IGNORED)
        self._cache_control(m.get("cache_control"), self.where + ".cache_control")
        parts = self._content(m.get("content"), self.where + ".content")
        if m.get("refusal"):  # OpenAI: the assistant's refusal, said as text
            parts.append((ir.Text(text=text_of(m["refusal"], self.where + ".refusal")), self.where + ".refusal"))
        for j, image in enumerate(_list(m.get("images"), self.where + ".images")):  # Ollama: base64 images
            at = f"{self.where}.images[{j}]"
            data = text_of(image, at)
            parts.append((url_media("image", data, at) if data.startswith("data:") else
                          ir.Media(kind="image", data=data, media_type=sniff_image(data)), at))
        for j, call in enumerate(_list(m.get("tool_calls"), self.where + ".tool_calls")):
            parts.append((self._function_call(call, f"{self.where}.tool_calls[{j}]"), f"{self.where}.tool_calls[{j}]"))
        if role == "tool":
            return [self._tool_message(m, parts)]
        return self._turns(role, parts)

    def _tool_message(self, m: dict, parts: list) -> ir.Message:
        """A tool message: its content answers the call named by `tool_call_id` (or Ollama's `tool_name`)."""
        call_id, name = m.get("tool_call_id"), m.get("tool_name", m.get("name"))
        if call_id is None and name is None:
            raise Refused(self.where + ".tool_call_id", "a tool message needs the id of its call")
        for part, where in parts:
            if not isinstance(part, (ir.Text, ir.Media)):
                raise Refused(where, "a tool message holds the result's text and media only")
        call_id, name = self.calls.answer(call_id, name, self.where)
        result = ir.ToolResult(id=call_id, name=name, content=tuple(p for p, _ in parts), span=self.span)
        return self._message_of("tool", [result])

    def _responses_item(self, m: dict) -> list[ir.Message]:
        """An OpenAI Responses `function_call` or `function_call_output` item."""
        if m["type"] == "function_call":
            only(m, self.where, {"type", "call_id", "name", "arguments"})
            call = self._call(m.get("call_id"), m.get("name"), m.get("arguments", "{}"), self.where, ".arguments")
            return [self._message_of("assistant", [call])]
        only(m, self.where, {"type", "call_id", "output"})
        call_id, name = self.calls.answer(text_of(m.get("call_id"), self.where + ".call_id"), None, self.where)
        output = m.get("output")
        content = (ir.Text(text=output),) if isinstance(output, str) else tuple(
            p for p, _ in self._content(output, self.where + ".output", results=False))
        return [self._message_of("tool", [ir.ToolResult(id=call_id, name=name, span=self.span,
                                                        content=_result_content(content, self.where + ".output"))])]

    def _gemini(self, m: dict) -> list[ir.Message]:
        """A Gemini `Content`: `role` user / model (unset: user) and `parts`."""
        role = m.get("role", "user")
        if not isinstance(role, str) or role not in _GEMINI_ROLES:
            raise Refused(self.where + ".role", "a Gemini turn's role must be `user` or `model`")
        only(m, self.where, {"role", "parts"})
        parts = [(self._part(p, f"{self.where}.parts[{j}]"), f"{self.where}.parts[{j}]")
                 for j, p in enumerate(_list(m["parts"], self.where + ".parts"))]
        return self._turns(_GEMINI_ROLES[role], [(p, w) for p, w in parts if p is not None])

    # ---------------------------------------------------------------- content and parts
    def _content(self, content: Any, where: str, results: bool = True) -> list[tuple[ir.Part, str]]:
        """A message's content: a string, null, or a list of parts (with each part's path)."""
        if content is None:
            return []
        if isinstance(content, str):
            return [(ir.Text(text=content, span=self.span), where)] if content else []
        out = []
        for j, p in enumerate(_list(content, where, "a string, a list of parts or null")):
            part = self._part(p, f"{where}[{j}]", results)
            if part is not None:
                out.append((part, f"{where}[{j}]"))
        return out

    def _part(self, p: Any, where: str, results: bool = True) -> ir.Part | None:
        """One part of any shape (None: a cache marker, which marks the turn)."""
        p = obj(p, where, "a content part object")
        if "type" in p:
            self._cache_control(p.get("cache_control"), where + ".cache_control")
            if p["type"] == "tool_use":  # Anthropic
                only(p, where, {"type", "id", "name", "input", "cache_control"}, ignored=frozenset())
                return self._call(p.get("id"), p.get("name"), p.get("input", {}), where, ".input")
            if p["type"] == "tool_result":
                return self._anthropic_result(p, where, results)
            return typed_part(p, where)
        keys = [k for k in p if k not in IGNORED and k != "thought"]
        if p.get("thought") is True:
            refuse_not_carried("thought", where)
        if len(keys) != 1:
            raise Refused(where, "expected a content part: `{type: ...}` or a block of one kind (`text`, "
                                 f"`image`, `toolUse`, `inlineData`, `functionCall`...), got keys {sorted(p)}")
        key, value = keys[0], p[keys[0]]
        return self._keyed(key, value, f"{where}.{key}", results)

    def _keyed(self, key: str, value: Any, where: str, results: bool) -> ir.Part | None:
        """A Bedrock block or a Gemini part: named by its one content key."""
        if key == "text":
            return ir.Text(text=text_of(value, where))
        if key == "cachePoint":
            point = obj(value, where)
            only(point, where, {"type", "ttl"})
            self.cache = point.get("ttl") if point.get("ttl") in _CACHE_TTLS else "default"
            return None
        if key in ("image", "document", "audio"):
            return bedrock_media(key, value, where)
        if key in ("inlineData", "inline_data", "fileData", "file_data"):
            return gemini_media(key, value, where)
        if key == "toolUse":
            use = obj(value, where)
            only(use, where, {"toolUseId", "name", "input", "type"})
            return self._call(use.get("toolUseId"), use.get("name"), use.get("input", {}), where, ".input")
        if key in ("functionCall", "function_call"):
            call = obj(value, where)
            only(call, where, {"id", "name", "args"}, ignored=frozenset())
            return self._call(call.get("id"), call.get("name"), call.get("args", {}), where, ".args")
        if key == "toolResult" and results:
            return self._bedrock_result(obj(value, where), where)
        if key in ("functionResponse", "function_response") and results:
            return self._gemini_result(obj(value, where), where)
        if key in NOT_CARRIED:
            refuse_not_carried(key, where)
        raise Refused(where, f"`{key}` is not a part polyprompt reads here")

    def _anthropic_result(self, p: dict, where: str, results: bool) -> ir.ToolResult:
        if not results:
            raise Refused(where, "a tool result cannot hold another")
        only(p, where, {"type", "tool_use_id", "content", "is_error", "cache_control"})
        call_id, name = self.calls.answer(text_of(p.get("tool_use_id"), where + ".tool_use_id"), None, where)
        content = tuple(part for part, _ in self._content(p.get("content"), where + ".content", results=False))
        return ir.ToolResult(id=call_id, name=name, content=_result_content(content, where),
                             is_error=flag(p.get("is_error"), where + ".is_error", (True, False)) is True,
                             span=self.span)

    def _bedrock_result(self, r: dict, where: str) -> ir.ToolResult:
        only(r, where, {"toolUseId", "content", "status", "type"})
        call_id, name = self.calls.answer(text_of(r.get("toolUseId"), where + ".toolUseId"), None, where)
        content: list[ir.Part] = []
        for j, block in enumerate(_list(r.get("content"), where + ".content")):
            at = f"{where}.content[{j}]"
            block = obj(block, at)
            if "json" in block and len(block) == 1:  # a JSON result: its JSON text
                import json

                content.append(ir.Text(text=json.dumps(block["json"], ensure_ascii=False)))
            else:
                part = self._part(block, at, results=False)
                if part is not None:
                    content.append(part)
        return ir.ToolResult(id=call_id, name=name, content=_result_content(tuple(content), where),
                             is_error=flag(r.get("status"), where + ".status", ("success", "error")) == "error",
                             span=self.span)

    def _gemini_result(self, r: dict, where: str) -> ir.ToolResult:
        only(r, where, {"id", "name", "response", "parts", "willContinue", "will_continue", "scheduling"},
             ignored=frozenset())
        call_id, name = self.calls.answer(r.get("id"), r.get("name"), where)
        content: list = [ir.Text(text=response_text(r.get("response", {}), where + ".response"))]
        for j, p in enumerate(_list(r.get("parts"), where + ".parts")):
            part = self._part(p, f"{where}.parts[{j}]", results=False)
            if part is not None:
                content.append(part)
        return ir.ToolResult(id=call_id, name=name, content=_result_content(tuple(content), where), span=self.span)

    def _function_call(self, call: Any, where: str) -> ir.ToolCall:
        """An OpenAI / Mistral / Ollama `tool_calls` entry: {id?, type?, function: {name, arguments}}."""
        call = obj(call, where, "a tool call object")
        only(call, where, {"id", "type", "function", "index"}, ignored=frozenset())
        if call.get("type", "function") != "function":
            raise Refused(where + ".type", f"`{call.get('type')}` calls cannot be carried: only `function` calls")
        fn = obj(call.get("function"), where + ".function", "a `function` object")
        only(fn, where + ".function", {"name", "arguments"}, ignored=frozenset())
        return self._call(call.get("id"), fn.get("name"), fn.get("arguments", {}), where, ".function.arguments")

    def _call(self, call_id: Any, name: Any, args: Any, where: str, args_key: str) -> ir.ToolCall:
        self.made += 1
        call = self.calls.call(call_id, name, where, f"call_h{self.index}_{self.made}")
        return ir.ToolCall(id=call.id, name=call.name, arguments=arguments(args, where + args_key), span=self.span)

    def _cache_control(self, marker: Any, where: str) -> None:
        """An Anthropic `cache_control` marker: a cache breakpoint after this turn."""
        if marker is None:
            return
        marker = obj(marker, where)
        only(marker, where, {"type", "ttl"})
        self.cache = marker.get("ttl") if marker.get("ttl") in _CACHE_TTLS else "default"

    # ---------------------------------------------------------------- IR turns
    def _turns(self, role: str, parts: list[tuple[ir.Part, str]]) -> list[ir.Message]:
        """The IR turns of a role's parts: each tool result a `tool` turn of its own, in order."""
        out: list[ir.Message] = []
        run: list[ir.Part] = []
        for part, where in parts:
            if isinstance(part, ir.ToolCall) and role != "assistant":
                raise Refused(where, f"a tool call belongs in an assistant turn, not a {role} turn")
            if isinstance(part, ir.ToolResult):
                if role != "user":
                    raise Refused(where, f"a tool result belongs in a user or tool turn, not a {role} turn")
                if run:
                    out.append(self._message_of(role, run))
                    run = []
                out.append(self._message_of("tool", [part]))
            else:
                run.append(part)
        if run or not out:  # an empty turn stays a turn: the passes report it (PP409), never drop it unseen
            out.append(self._message_of(role, run))
        if self.cache is not None:
            out[-1] = ir.Message(role=out[-1].role, parts=out[-1].parts, cache=self.cache, source="history",
                                 span=self.span)
        return out

    def _message_of(self, role: str, parts: list) -> ir.Message:
        spanned = tuple(_with_span(p, self.span) for p in parts)
        return ir.Message(role=role, parts=spanned, source="history", span=self.span)


def _list(value: Any, where: str, what: str = "a list") -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise Refused(where, f"expected {what}, got {kind(value)}")
    return list(value)


def _result_content(content: tuple, where: str) -> tuple:
    """A tool result's content: text and media only."""
    for part in content:
        if not isinstance(part, (ir.Text, ir.Media)):
            raise Refused(where, "a tool result holds text and media only")
    return content


def _with_span(part: ir.Part, span) -> ir.Part:
    if span is None or part.span is not None:
        return part
    import attrs

    return attrs.evolve(part, span=span)
