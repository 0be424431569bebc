"""Probing a chat template's tools: the tool list, tool calls (arguments as dict or JSON string),
tool results, and the rules Mistral's templates enforce (9-character call ids, an assistant turn
after tool results). `facts.probe` calls `tool_facts`.
"""
from __future__ import annotations

import json
from typing import Any

from .conversations import A1, U1, U2, Renderer, assistant, common_prefix, user

RESULT = "ZQresultQZ"
TOOL_NAME, TOOL_DESC, ARG_VALUE = "zq_probe_tool", "ZQtooldescQZ", "ZQargQZ"
CALL_ID = "ZQcall001"  # 9 alphanumerics: Mistral templates insist
_ARGS = {"probe_arg": ARG_VALUE}
#: the ways a template may write the arguments object as JSON
_ARGS_FORMS = (json.dumps(_ARGS, indent=4), json.dumps(_ARGS), json.dumps(_ARGS, separators=(",", ":")))
_TOOL = {"type": "function", "function": {
    "name": TOOL_NAME, "description": TOOL_DESC,
    "parameters": {"type": "object", "properties": {"probe_arg": {"type": "string"}}, "required": ["probe_arg"]}}}


def _arguments_shown(text: str) -> bool:
    """The arguments appear as a JSON object (not as a quoted, escaped JSON string)."""
    return any(a in text for a in _ARGS_FORMS)


def _call_message(arguments: Any, content: str | None) -> dict:
    call = {"id": CALL_ID, "type": "function", "function": {"name": TOOL_NAME, "arguments": arguments}}
    message = {"role": "assistant", "tool_calls": [call]}
    if content is not None:
        message["content"] = content
    return message


def tool_facts(render: Renderer, user_open: str) -> dict:
    """What the template does with a tool list, tool calls and tool results."""
    facts: dict[str, Any] = {}
    listed, _ = render([user(U1), assistant(A1), user(U2)], tools=[_TOOL], add_generation_prompt=True)
    if listed is None:
        listed, _ = render([user(U1)], tools=[_TOOL], add_generation_prompt=True)
    if listed is not None and (TOOL_NAME in listed or TOOL_DESC in listed):
        facts["tools"] = True
        facts["tools_placement"] = _placement(listed, user_open)

    # a tool call: arguments as a dict and as a JSON string, content "" or absent
    forms, shape, errors, rendered = [], None, [], False
    for form, arguments in (("dict", _ARGS), ("string", json.dumps(_ARGS))):
        for content in ("", None):
            convo = [user(U1), _call_message(arguments, content)]
            out, err = render(convo, tools=[_TOOL])
            rendered = rendered or out is not None
            if out is not None and TOOL_NAME in out[out.index(U1):] and _arguments_shown(out):
                forms.append(form)
                if shape is None:
                    shape = (convo, out)
                break
            errors.append(err)
    if shape is None:
        # every form raised: keep the first message; else the calls are silently left out
        facts["tool_call_error"] = None if rendered else next((e for e in errors if e), None)
        facts["tool_results"], facts["tool_result_error"] = _bare_result(render)
        return facts
    facts["tool_calls"] = True
    facts["tool_arguments"] = "both" if len(forms) == 2 else forms[0]
    convo, called = shape
    facts["tool_call_render"] = _shape(called[called.index(U1) + len(U1):])
    result = {"role": "tool", "tool_call_id": CALL_ID, "name": TOOL_NAME, "content": RESULT}
    full, err = render(convo + [result], tools=[_TOOL], add_generation_prompt=True)
    if full is None:
        facts.update(tool_results="raises", tool_result_error=err)
    elif RESULT not in full:
        facts["tool_results"] = "dropped"
    else:
        start = _after_call(full, called)
        facts["tool_result_render"] = _shape(full[start:])
        facts["tool_results"] = "user-turn" if user_open and user_open in full[start:full.index(RESULT)] else "own-turn"
        facts["answer_after_tool_results"] = _needs_answer_after_results(render, convo + [result], tools=[_TOOL])
    facts["nine_character_call_ids"] = _needs_nine_character_ids(render, convo)
    return facts


def _needs_nine_character_ids(render: Renderer, called: list[dict]) -> bool:
    """Does a tool call whose id is not 9 letters and digits raise, where CALL_ID renders?"""
    other = json.loads(json.dumps(called).replace(CALL_ID, "call_" + CALL_ID))
    return render(other, tools=[_TOOL])[0] is None


def _needs_answer_after_results(render: Renderer, called: list[dict], tools: list[dict]) -> bool:
    """Does a user turn right after tool results raise, where an assistant answer first renders?"""
    direct, _ = render(called + [user(U2)], tools=tools, add_generation_prompt=True)
    answered, _ = render(called + [assistant(A1), user(U2)], tools=tools, add_generation_prompt=True)
    return direct is None and answered is not None


def _call_end(text: str) -> int:
    """Where the rendered arguments (or else the tool name) of the last tool call end."""
    ends = [text.rfind(a) + len(a) for a in _ARGS_FORMS if a in text]
    return max(ends) if ends else text.rindex(TOOL_NAME) + len(TOOL_NAME)


def _after_call(full: str, called: str) -> int:
    """Where the tool call turn ends in `full`: after the text that closes it in `called`."""
    tail = called[_call_end(called):]
    at = _call_end(full[:full.index(RESULT)])
    if full.startswith(tail, at):
        return at + len(tail)
    return common_prefix(full, called)


def _bare_result(render: Renderer) -> tuple[str | None, str | None]:
    """A tool result after a plain assistant turn, for templates that render no tool calls."""
    result = {"role": "tool", "tool_call_id": CALL_ID, "name": TOOL_NAME, "content": RESULT}
    out, err = render([user(U1), assistant(A1), result])
    if out is None:
        return "raises", err
    return ("own-turn" if RESULT in out else "dropped"), None


def _placement(text: str, user_open: str) -> str:
    at = min(text.index(m) for m in (TOOL_NAME, TOOL_DESC) if m in text)
    if U1 in text and at < text.index(U1):
        return "system" if user_open and user_open in text[at:text.index(U1)] else "first-user"
    if U2 in text and at < text.index(U2):
        return "last-user"
    return "after-user"


def _shape(text: str) -> str:
    """Rendered text with the probe values replaced by placeholders."""
    for args in _ARGS_FORMS:
        text = text.replace(args, "{arguments}")
    return text.replace(TOOL_NAME, "{name}").replace(CALL_ID, "{id}").replace(RESULT, "{content}")
