"""Probe a chat template: learn its quirks by rendering conversations through it.

Nothing here knows any model family. `probe(template)` renders a few dozen small conversations
whose contents are unique marker strings (`ZQuser1QZ`, `ZQsysQZ`...), then searches the output for
the markers: where the system text landed, whether the template raised, what it added on its own.
The result is a `Probe`: the facts, `caps()` (the capability table the lowering passes read) and
`notes()` (sentences for the lowering report).

    system prompt   [system S, user U1, assistant A1, user U2]: S before the first user turn with
                    markup between them -> "native"; inside the first user turn -> "merged"
                    (first-user); inside the last one -> "merged" (last-user); absent -> "dropped";
                    a raise -> "raises" (the message is kept)
    late system     [user, assistant, system S, user]: in place, moved, merged, dropped or raises
    turn markup     [user U1, assistant A1, user U2] against [user U1, assistant A1]: the text
                    that opens a user turn (what separates "native" from "merged")
    default system  [user U1]: what the template writes before the first user turn besides bos and
                    the user-turn opening is a system turn it injects; its content, less the part a
                    given system message keeps (a preamble such as Llama 3.1's dated header), is
                    the default system prompt
    alternation     [user, user] and [assistant, user] raise or not
    generation      [user U1] with add_generation_prompt True against False
    tools           the tool list (name or description shown, and where), an assistant tool call
                    (arguments as a dict and as a JSON string), a tool result (role "tool")
    reasoning       `reasoning_content` and inline `<think>` in an assistant turn before and after
                    the last user turn; `enable_thinking` / `thinking` set True and False
    bos, trimming   does the text start with bos_token; does "\\tX\\t" come out as "X"
    images          [user [image, text U1]] against [user [text U1]] (transformers' content blocks):
                    the text the image block adds is the template's image placeholder
                    (`<start_of_image>`, `[IMG]`); else the list is printed, dropped, or raises

A template that depends on today's date (`strftime_now`) is rendered a second time with another
date to tell (`dated`). `docs/model-probing.md` has the table of the built-in families.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
from typing import Any

import attrs

from ...base import Caps
from ..chat_template.render import ChatTemplate
from ..chat_template.budget import deadline
from .conversations import (A1, BOS, SYS, SYS2, THINK, TRIM, U1, U2, Renderer, assistant, common_prefix,
                            system_message, text_block, user, user_blocks)
from .tools import tool_facts

__all__ = ["Probe", "ProbeError", "probe"]


#: an image in transformers' multimodal message format: what the hf target emits for one
_IMAGE_BLOCK = {"type": "image"}

_THINKING_VARS = ("enable_thinking", "thinking")
#: The lowering-report code of each kind of template quirk (docs/diagnostics.md).
NOTE_CODES = {"system": "PP420", "text": "PP421", "turns": "PP422", "whitespace": "PP423", "tools": "PP424",
              "reasoning": "PP425", "ends": "PP426"}
_OTHER_DATE = _dt.date(2001, 2, 3)
_NOTE_CHARS = 80  # long texts are shortened in notes


class ProbeError(ValueError):
    """The template cannot render even a single user turn: nothing can be learned from it."""


@attrs.frozen(kw_only=True)
class Probe:
    """What rendering probe conversations taught about one chat template."""

    #: a label for notes ("gemma-2"); None: "the template"
    name: str | None = None
    #: the template's bos_token variable, and whether the render starts with it (None: no bos_token)
    bos_token: str | None = None
    starts_with_bos: bool | None = None
    #: the roles whose content comes out with surrounding whitespace removed
    trims: tuple[str, ...] = ()
    #: what add_generation_prompt=True appends, and what the render ends with instead without it
    generation_prompt: str = ""
    without_generation_prompt: str = ""
    #: the text after the last user text of a prompt (generation prompt included): what the model reads last
    prompt_end: str = ""
    #: "native" | "merged" | "dropped" | "raises"
    system: str = "native"
    #: for "merged": "first-user" or "last-user"
    system_merge: str | None = None
    #: for "raises": the template's message
    system_error: str | None = None
    #: for "native": the text around the system text (its markup; a preamble included)
    system_open: str | None = None
    system_close: str | None = None
    #: for "merged": what separates the system text from the user text
    system_joiner: str | None = None
    #: a system message after the conversation started: "in-place" | "moved" | "merged" | "dropped" | "raises"
    late_system: str = "in-place"
    late_system_error: str | None = None
    #: the system prompt the template writes when no system message is given (a given one replaces it)
    default_system: str | None = None
    #: text the template writes into the system turn whether or not a system message is given
    system_preamble: str | None = None
    #: the render depends on today's date (strftime_now)
    dated: bool = False
    #: two user turns in a row raise; a conversation starting with an assistant turn raises
    alternation: bool = False
    alternation_error: str | None = None
    first_user: bool = False
    first_user_error: str | None = None
    #: the `tools` list is rendered (a tool's name or description appears), and where:
    #: "system" (before the first user turn), "first-user", "last-user" (inside that user turn)
    tools: bool = False
    tools_placement: str | None = None
    #: an assistant turn's tool_calls are rendered; arguments taken as "dict", "string" or "both"
    tool_calls: bool = False
    tool_arguments: str | None = None
    tool_call_error: str | None = None
    #: a role "tool" message: "own-turn" | "user-turn" (inside a user turn) | "dropped" | "raises"
    tool_results: str | None = None
    tool_result_error: str | None = None
    #: a user turn right after a tool result raises, and renders once an assistant turn answers the result
    answer_after_tool_results: bool = False
    #: tool call ids other than 9 letters and digits raise (Mistral's templates)
    nine_character_call_ids: bool = False
    #: the rendered shape of a user turn's end + tool call ({name}, {arguments}, {id}) and of a result
    tool_call_render: str | None = None
    tool_result_render: str | None = None
    #: an assistant turn's reasoning, as `reasoning_content` and as inline <think>...</think>:
    #: "kept" | "dropped" | "last-only" (kept only after the last user turn) | "history-only" | None (raises)
    reasoning_content: str | None = None
    inline_think: str | None = None
    #: (variable, value, generation prompt) for each thinking switch that changes the generation prompt
    thinking_switches: tuple[tuple[str, bool, str], ...] = ()
    #: a user turn whose content is [{"type": "image"}, {"type": "text", ...}]: "placeholder" (the image
    #: becomes `image_placeholder`), "printed" (the list is written out as text), "dropped" (no trace of
    #: the image), "raises" (on the image block: `image_error`), "strings-only" (a content list raises,
    #: even of text blocks only: `image_error`); None: not probed
    images: str | None = None
    image_placeholder: str | None = None
    image_error: str | None = None

    # -- what the compiler uses

    def caps(self) -> Caps:
        """The capability table the lowering passes read (images when the template has a placeholder for
        them, no native structured output)."""
        if self.system in ("raises", "dropped"):
            system = "merge"  # the compiler merges system text into the first user turn and says so
        elif self.late_system in ("raises", "dropped", "moved"):
            system = "top_level"  # leading system turns as they are; later ones become user turns
        else:
            system = "message"
        return Caps(system=system, alternation=self.alternation, first_user=self.first_user or self.alternation,
                    tools=self.tools and self.tool_calls and self.tool_results in ("own-turn", "user-turn"),
                    tool_results="tool_message", media=self._media(), media_urls=self._media(),
                    structured_output=None, cache="none",
                    one_system_turn=system == "top_level",  # the template reads the first message only
                    answer_after_tool_results=self.answer_after_tool_results,
                    tool_call_ids="nine_alnum" if self.nine_character_call_ids else "any")

    def _media(self) -> frozenset:
        # the body carries each image beside the prompt, inline or by URL: a processor loads either
        return frozenset({"image"}) if self.images == "placeholder" else frozenset()

    def image_refusal(self) -> str | None:
        """Why an image cannot be given to this template (None: it can, or it was not probed)."""
        if self.images == "strings-only":
            return (f"its chat template takes message content only as a string (a list of content blocks raises "
                    f"{_quote(self.image_error)})")
        if self.images == "raises":
            return f"its chat template raises on an image block ({_quote(self.image_error)})"
        if self.images == "printed":
            return "its chat template has no image placeholder (it writes a list of content blocks out as text)"
        if self.images == "dropped":
            return "its chat template has no image placeholder (an image block leaves no trace in the prompt)"
        return None

    def notes(self) -> list[str]:
        """Sentences for the lowering report: what the template does to a prompt on its own."""
        return [text for _, _, text in self.coded_notes()]

    def coded_notes(self) -> list[tuple[str, str | None, str]]:
        """The notes as (code, about, sentence): one code per kind of quirk (NOTE_CODES); `about` is
        what a prompt must hold for the note to concern it ("system", "tools", "assistant"), or None."""
        return [(NOTE_CODES[kind], about, text) for kind, about, text in self._notes()]

    def _notes(self):
        who = self.name or "the template"
        yield from self._system_notes(who)
        if self.default_system is not None:
            yield "text", None, (f"{who} injects a default system prompt when none is given: "
                                 f"{_quote(self.default_system)}" + (" (it holds today's date)" if self.dated else ""))
        if self.system_preamble is not None:
            yield "text", None, (f"{who} always writes a system header: {_quote(self.system_preamble.strip())}"
                                 + (" (it holds today's date)" if self.dated else ""))
        elif self.dated and self.default_system is None:
            yield "text", None, f"{who} writes today's date into the prompt"
        if self.alternation:
            yield "turns", None, f"{who} raises unless user and assistant turns alternate: same-role turns are merged"
        if self.first_user or self.alternation:
            yield "turns", None, f"{who} needs the conversation to start with a user turn"
        if self.trims:
            yield "whitespace", None, f"{who} trims whitespace around {', '.join(self.trims)} content"
        if self.starts_with_bos is False:
            yield "ends", None, f"{who} does not write bos_token {_quote(self.bos_token)} into the prompt"
        yield from self._tool_notes(who)
        if "last-only" in (self.reasoning_content, self.inline_think):
            yield "reasoning", "assistant", f"{who} drops the reasoning of assistant turns before the last user turn"
        elif self.inline_think == "dropped":
            yield "reasoning", "assistant", f"{who} drops <think> reasoning from assistant turns"
        for var, value, prompt in self.thinking_switches:
            yield "reasoning", None, f"{who}: {var}={value} makes the generation prompt {_quote(prompt)}"
        if not self.generation_prompt:
            yield "ends", None, (f"{who} has no generation prompt: the prompt ends with the last user turn's own "
                                 f"closing {_quote(self.prompt_end)}")

    def _system_notes(self, who: str):
        if self.system == "raises":
            yield "system", "system", (f"{who} raises on a system role ({_quote(self.system_error)}): "
                                       "system text is merged into the first user turn")
        elif self.system == "dropped":
            yield "system", "system", f"{who} silently drops system messages: system text is merged into the first user turn"
        elif self.system == "merged" and self.system_merge == "last-user":
            yield "system", "system", f"{who} has no system turn: it prepends system text to the last user turn"
        elif self.system == "merged":
            yield "system", "system", f"{who} has no system turn: it merges system text into the first user turn"
        elif not (self.system_open or self.system_close):
            yield "system", "system", f"{who} writes system text without markup of its own, before the first user turn"
        if self.system not in ("raises", "dropped") and self.late_system != "in-place":
            how = {"raises": "raises on a system message after the first turn",
                   "dropped": "drops a system message after the first turn",
                   "moved": "moves a system message after the first turn to the start of the prompt",
                   "merged": "merges a system message after the first turn into the next user turn"}[self.late_system]
            tail = ": such a message is sent as a user turn" if self.caps().system == "top_level" else ""
            yield "system", "system", f"{who} {how}{tail}"

    def _tool_notes(self, who: str):
        if not self.tools:
            also = " (tool calls and results are rendered)" if self.tool_calls else ""
            yield "tools", "tools", f"{who} renders no tool list{also}: tools cannot be given to this model"
        elif self.tool_arguments == "string":
            yield "tools", "tools", f"{who} takes tool-call arguments only as a JSON string"
        if self.nine_character_call_ids:
            yield "tools", "tools", f"{who} raises on tool call ids other than 9 letters and digits: ids are rewritten"
        if self.answer_after_tool_results:
            yield "tools", "tools", f"{who} raises on a user turn right after tool results: an assistant turn is inserted"

    # -- goldens

    def as_dict(self) -> dict:
        """The fields as JSON types (tuples become lists)."""
        return json.loads(json.dumps(attrs.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> Probe:
        """The inverse of `as_dict`."""
        data = dict(data)
        data["trims"] = tuple(data.get("trims", ()))
        data["thinking_switches"] = tuple(tuple(s) for s in data.get("thinking_switches", ()))
        return cls(**data)


def _quote(text: str | None) -> str:
    text = text or ""
    if len(text) > _NOTE_CHARS:
        text = text[:_NOTE_CHARS - 3] + "..."
    return repr(text)


# ---------------------------------------------------------------------------------------------


#: Wall time all the renders of one probe may take (each render also has its own budget): a
#: template that stays under each render's budget still cannot keep probing going for minutes.
PROBE_SECONDS = 20.0


def probe(template: ChatTemplate, name: str | None = None) -> Probe:
    """Learn `template`'s quirks by rendering probe conversations (see the module docstring). A
    render over its budget stops probing: `BudgetError` (chat_template/budget.py)."""
    with deadline(PROBE_SECONDS):
        return _probe(template, name)


def _probe(template: ChatTemplate, name: str | None) -> Probe:
    render = Renderer(template)
    bos = template.variables.get("bos_token") or None
    starts_with_bos = _starts_with_bos(template) if bos else None

    base, err = render([user(U1)])
    if base is None or U1 not in base:
        raise ProbeError(f"{name or 'the template'} cannot render a single user turn: {err or 'its text is missing'}")
    base_gp, _ = render([user(U1)], add_generation_prompt=True)
    base_gp = base_gp or base
    at = common_prefix(base, base_gp)
    facts: dict[str, Any] = {
        "name": name, "bos_token": bos,
        "starts_with_bos": starts_with_bos,
        "generation_prompt": base_gp[at:], "without_generation_prompt": base[at:],
        "prompt_end": base_gp[base_gp.index(U1) + len(U1):],
    }
    user_open = _user_open(render)
    lead = bos if starts_with_bos else None
    facts.update(_system_facts(render, user_open, lead))
    facts.update(_default_system(base, user_open, lead, facts))
    facts["dated"] = _dated(template, base)
    facts.update(_alternation(render))
    facts["trims"] = _trims(render, facts["system"])
    facts.update(tool_facts(render, user_open))
    facts.update(_reasoning(render))
    facts["thinking_switches"] = _thinking(render, base, facts["generation_prompt"])
    facts.update(_images(render))
    return Probe(**facts)


def _user_open(render: Renderer) -> str:
    """The text that opens a user turn: what lies between an assistant turn's end and the next user text."""
    three, _ = render([user(U1), assistant(A1), user(U2)])
    two, _ = render([user(U1), assistant(A1)])
    if three is None or A1 not in three or U2 not in three:
        return ""
    gap = three[three.index(A1) + len(A1):three.index(U2)]
    close = two[two.index(A1) + len(A1):] if two and A1 in two else ""
    return gap[common_prefix(gap, close):]


def _system_facts(render: Renderer, user_open: str, bos: str | None) -> dict:
    """Where a leading system message lands (and, from `_late_system`, a later one)."""
    out, err = render([system_message(SYS), user(U1), assistant(A1), user(U2)])
    facts: dict[str, Any] = _late_system(render, user_open)
    if out is None:
        return {**facts, "system": "raises", "system_error": err}
    if SYS not in out:
        return {**facts, "system": "dropped"}
    s, u1, u2 = out.index(SYS), out.index(U1), out.index(U2)
    a1 = out.index(A1) if A1 in out else u1
    if s < u1 and (user_open and user_open in out[s:u1]):
        start = len(bos) if bos and out.startswith(bos) else 0
        close = out[s + len(SYS):u1]
        close = close[:close.rindex(user_open)]
        facts.update(system="native", system_open=out[start:s], system_close=close)
    elif s < u1:
        facts.update(system="merged", system_merge="first-user", system_joiner=out[s + len(SYS):u1])
    elif a1 < s < u2 and not (user_open and user_open in out[s:u2]):
        facts.update(system="merged", system_merge="last-user", system_joiner=out[s + len(SYS):u2])
    elif u1 < s < a1:
        facts.update(system="merged", system_merge="first-user", system_joiner=out[u1 + len(U1):s])
    elif s > u2:
        facts.update(system="merged", system_merge="last-user", system_joiner=out[u2 + len(U2):s])
    else:  # a system turn of its own after the first exchange: treat as native, keep no markup
        facts.update(system="native")
    return facts


def _late_system(render: Renderer, user_open: str) -> dict:
    out, err = render([user(U1), assistant(A1), system_message(SYS2), user(U2)])
    if out is None:
        return {"late_system": "raises", "late_system_error": err}
    if SYS2 not in out:
        return {"late_system": "dropped"}
    s, u2 = out.index(SYS2), out.index(U2)
    a1 = out.index(A1) if A1 in out else -1
    if not a1 < s < u2:
        return {"late_system": "moved"}
    if user_open and user_open in out[s:u2]:
        return {"late_system": "in-place"}
    return {"late_system": "merged"}


def _default_system(base: str, user_open: str, bos: str | None, facts: dict) -> dict:
    """What the template writes before the first user turn when no system message is given."""
    head = base[:base.index(U1)]
    if bos and head.startswith(bos):
        head = head[len(bos):]
    if user_open and head.endswith(user_open):
        head = head[:-len(user_open)]
    if not head:
        return {}
    opening, closing = facts.get("system_open"), facts.get("system_close")  # set together (_system_facts)
    if facts["system"] != "native" or opening is None or closing is None \
            or not (head.startswith(opening) and head.endswith(closing) and len(head) >= len(opening) + len(closing)):
        return {"default_system": head}  # not a system turn as a given one is rendered: keep it whole
    content = head[len(opening):len(head) - len(closing)]
    preamble = _preamble(opening, user_open)
    out = {"default_system": content or None}
    if preamble:
        out["system_preamble"] = preamble
    return out


def _preamble(opening: str, user_open: str) -> str | None:
    """The text a system turn always starts with, after its role header.

    The header is guessed from the user turn's: the same markup with "system" for "user"
    (`<|start_header_id|>user<|end_header_id|>\\n\\n` -> `...system...`).
    """
    if "user" not in user_open:
        return None
    header = user_open.replace("user", "system")
    if opening.startswith(header) and len(opening) > len(header):
        return opening[len(header):]
    return None


def _starts_with_bos(template: ChatTemplate) -> bool:
    """Rendered with a marker for bos_token, does the text start with it? (A template that does not
    use bos_token may still start with the same text: SmolLM2's bos is `<|im_start|>`.)"""
    marked = ChatTemplate(template.source, extra={**template.variables, "bos_token": BOS}, date=template.date,
                          trusted=template.trusted, name=template.name)
    text, _ = Renderer(marked)([user(U1)])
    return bool(text and text.startswith(BOS))


def _dated(template: ChatTemplate, base: str) -> bool:
    other = _OTHER_DATE if template.date != _OTHER_DATE else _OTHER_DATE.replace(year=2002)
    again = ChatTemplate(template.source, extra=dict(template.variables), date=other, trusted=template.trusted,
                         name=template.name)
    text, _ = Renderer(again)([user(U1)])
    return text != base


def _alternation(render: Renderer) -> dict:
    facts: dict[str, Any] = {}
    out, err = render([user(U1), user(U2)])
    if out is None:
        facts.update(alternation=True, alternation_error=err)
    out, err = render([assistant(A1), user(U1)])
    if out is None:
        facts.update(first_user=True, first_user_error=err)
    return facts


def _trims(render: Renderer, system: str) -> tuple[str, ...]:
    pad = {role: f"\t{marker}\t" for role, marker in TRIM.items()}
    out, _ = render([user(pad["user"]), assistant(pad["assistant"])])
    roles = []
    for role in ("user", "assistant"):
        if out is not None and TRIM[role] in out and pad[role] not in out:
            roles.append(role)
    if system not in ("raises", "dropped"):
        out, _ = render([system_message(pad["system"]), user(U1)])
        if out is not None and TRIM["system"] in out and pad["system"] not in out:
            roles.append("system")
    return tuple(roles)


# -- reasoning


def _reasoning(render: Renderer) -> dict:
    field = {"reasoning_content": THINK}
    inline = f"<think>\n{THINK}\n</think>\n\n{A1}"
    return {
        "reasoning_content": _kept(render, lambda: assistant(A1, **field)),
        "inline_think": _kept(render, lambda: assistant(inline)),
    }


def _kept(render: Renderer, turn) -> str | None:
    history, _ = render([user(U1), turn(), user(U2)], add_generation_prompt=True)
    last, _ = render([user(U1), turn()])
    if history is None or last is None:
        return None
    in_history, in_last = THINK in history, THINK in last
    return {(True, True): "kept", (False, False): "dropped", (False, True): "last-only",
            (True, False): "history-only"}[(in_history, in_last)]


def _thinking(render: Renderer, base: str, prompt: str) -> tuple[tuple[str, bool, str], ...]:
    switches = []
    for var in _THINKING_VARS:
        for value in (True, False):
            out, _ = render([user(U1)], add_generation_prompt=True, **{var: value})
            if out is None:
                continue
            plain, _ = render([user(U1)], **{var: value})
            gen = out[common_prefix(out, plain if plain is not None else base):]
            if gen != prompt:
                switches.append((var, value, gen))
    return tuple(switches)


# -- images


def _images(render: Renderer) -> dict:
    """What an image block renders as: the placeholder a processor fills with the image's tokens."""
    text_only, err = render([user_blocks(text_block(U1))], add_generation_prompt=True)
    if text_only is None:
        return {"images": "strings-only", "image_error": err}
    with_image, err = render([user_blocks(_IMAGE_BLOCK, text_block(U1))], add_generation_prompt=True)
    if with_image is None:
        return {"images": "raises", "image_error": err}
    if any(f"{q}type{q}: {q}image{q}" in with_image for q in "'\""):  # the list's repr or JSON
        return {"images": "printed"}
    placeholder = _inserted(text_only, with_image) if U1 in with_image else ""
    if not placeholder:
        return {"images": "dropped"}
    return {"images": "placeholder", "image_placeholder": placeholder}


def _inserted(without: str, with_: str) -> str:
    """The text `with_` holds where `without` does not, between their common prefix and suffix."""
    start = common_prefix(without, with_)
    end = _common_suffix(without[start:], with_[start:])
    return with_[start:len(with_) - end]


def _common_suffix(a: str, b: str) -> int:
    """The length of the common suffix, cut so that it does not start inside a special token.

    `[INST]X[/INST]` and `[INST][IMG]X[/INST]` share `]X[/INST]`, not a placeholder `[IMG`.
    """
    n = len(os.path.commonprefix([a[::-1], b[::-1]]))
    while n:
        tail = a[len(a) - n:]
        cut = max((tail.index(c) + 1 for o, c in (("<", ">"), ("[", "]"))
                   if c in tail and (o not in tail or tail.index(c) < tail.index(o))), default=0)
        if not cut:
            return n
        n -= cut
    return n
