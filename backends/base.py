"""What every backend is: a capability table, a pass pipeline, an emitter.

A backend module defines one `Backend` subclass; `__init_subclass__`
registers it by `name`, and `polyprompt.backends.get(name)` imports the module
on first use (module `openai_chat` for target `openai-chat`). A built-in
target is one module plus its folder of golden files: there is no other list.
"""
from __future__ import annotations

from typing import Any, ClassVar

import attrs

from ..compiler import ir
from ..compiler.diagnostics import Sink

REGISTRY: dict[str, type["Backend"]] = {}

def _iso_date(value: Any) -> bool:
    import datetime

    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


@attrs.frozen
class TargetOption:
    """An option a `target` declaration may give: what it does, and the values it takes."""

    doc: str
    accepts: Any  # value -> bool; the checker reports any other value (PP229)
    wanted: str  # the values it takes, in words


#: Options a `target NAME "backend" { name: value }` declaration may give; each is read by the
#: backends named (and ignored by the others).
TARGET_OPTIONS = {
    "base_url": TargetOption("openai-compatible: the server the client sends to (not part of the body)",
                             _text, "a URL"),
    "store": TargetOption("openai-responses: whether the provider stores the response",
                          lambda v: isinstance(v, bool), "true or false"),
    "project": TargetOption("vertex: the Google Cloud project of the model path", _text, "a project id"),
    "location": TargetOption("vertex: the region of the model path (default `global`)", _text, "a region name"),
    "date": TargetOption("hf-family and hf: the date a chat template reads as today (default 2024-07-26)",
                         lambda v: isinstance(v, str) and _iso_date(v), 'a date written "YYYY-MM-DD"'),
    "tokenizer": TargetOption('hf-family and hf: the token-id engine, "default" or "bulk" (slower to load, '
                              'faster for many conversations: docs/model-tokens.md)',
                              lambda v: v in ("default", "bulk"), '"default" or "bulk"'),
}


@attrs.frozen(kw_only=True)
class Caps:
    """What a target can express. The passes read it to lower a request."""

    #: where system text goes: "message" (a system turn), "developer" (a developer
    #: turn), "top_level" (a field of its own), "merge" (into the first user turn)
    system: str = "message"
    #: roles must alternate user/assistant (same-role runs are merged)
    alternation: bool = False
    #: the conversation must start with a user turn
    first_user: bool = False
    #: tool calling, and how calls and results are written
    tools: bool = True
    tool_results: str = "tool_message"  # or "user_turn" (results inside a user turn)
    #: media kinds a user turn may hold, and the kinds that may be given by URL (else inline data only)
    media: frozenset = frozenset({"image"})
    media_urls: frozenset = frozenset({"image"})
    #: native structured output dialect, or None (the schema goes into the prompt as instructions)
    structured_output: str | None = None
    #: "none", "automatic" (the provider caches prefixes itself), "blocks" (a marker on a
    #: content block) or "points" (a separate cache-point block)
    cache: str = "none"
    max_cache_breakpoints: int = 0
    #: neutral setting -> provider field (dotted for nested, e.g. "generationConfig.topK"); absent: unsupported
    settings: dict = attrs.field(factory=dict)
    max_stop: int | None = None
    temperature_max: float = 2.0
    #: a max_tokens value the provider requires when the prompt gives none
    default_max_tokens: int | None = None
    #: tool results may hold images and files (else only text)
    tool_result_media: bool = False
    #: the leading system turns are joined into one (a chat template that reads only the first message)
    one_system_turn: bool = False
    #: only an assistant turn (or more results) may follow tool results (Mistral's API and templates)
    answer_after_tool_results: bool = False
    #: what tool call ids must look like: "any", or "nine_alnum" (exactly 9 letters and digits: Mistral)
    tool_call_ids: str = "any"


#: The capability names a `caps { }` block may set.
CAPS_FIELDS = tuple(f.name for f in attrs.fields(Caps))


class Backend:
    """A target platform. Subclasses set the class attributes and `emit`."""

    name: ClassVar[str]
    family: ClassVar[str]
    caps: Caps  # the class's table; an instance's adds the `caps { }` overrides
    #: the provider documentation the emitter follows
    docs: ClassVar[str] = ""
    #: a text-only turn is written `{"role": role, "content": text}` (the generated fast path may render it)
    plain_text_turns: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def __init__(self, options: dict | None = None, caps_overrides: dict | None = None):
        """`options` and `caps_overrides`: a `target` declaration's options and `caps { }` values, the
        latter applied on top of the target's own capability table (`own_caps`)."""
        self.options = options or {}
        self.caps = self.own_caps()
        if caps_overrides:
            self.caps = attrs.evolve(self.caps, **caps_overrides)

    def own_caps(self) -> Caps:
        """The capability table before a declaration's overrides (an open model's: what probing found)."""
        return type(self).caps

    def lower(self, request: ir.Request, report: Sink) -> ir.Request:
        """Run the pass pipeline for this target; every change goes to `report`."""
        from ..compiler.passes import PassContext, run_passes

        return run_passes(request, PassContext(backend=self, caps=self.caps, report=report))

    def emit(self, request: ir.Request, report: Sink) -> dict[str, Any]:
        """The provider's request body for a lowered request."""
        raise NotImplementedError

    def read_reply(self, reply: dict):
        """The text, tool calls and finish reason of a provider reply (`compiler.replies.Reply`)."""
        raise NotImplementedError(f"{self.name} cannot read replies yet")

    def compile(self, request: ir.Request, report: Sink) -> dict[str, Any]:
        """Lower, then emit."""
        return self.emit(self.lower(request, report), report)

    # -- helpers shared by the emitters
    def settings_into(self, body: dict, request: ir.Request) -> dict:
        """Write the settings the target has under its own names (dotted = nested)."""
        for neutral, setting in request.settings.items():
            field = self.caps.settings.get(neutral)
            if field is None:
                continue
            node = body
            *parents, last = field.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = setting.value
        return body
