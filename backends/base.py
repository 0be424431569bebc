"""What every backend is: a capability table, a pass pipeline, an emitter.

A backend module defines one `Backend` subclass; `__init_subclass__`
registers it by `name`, and `polyprompt.backends.get(name)` imports the module
on first use (module `openai_chat` for target `openai-chat`). A built-in
target is one module plus its folder of golden files: there is no other list.

The contract it implements lives in the core, beside the IR (compiler/targets.py:
`Caps`, `TargetOption`, `SchemaDialect`, `Refusals`, `Unsupported`); the module holds
the provider's facts (options it reads, model prefixes, schema dialect, official schema,
a sample reply) as class attributes, which the registry (`polyprompt.backends`) exposes.

Lowering and emitting are apart: `lower` runs the shared passes and the target's own
(`passes`) with a `PassContext` (name, caps, refusals: never the backend), and every
note of the lowering report comes from them; `emit` is a pure function of the lowered
request (no report): `write_messages` writes the provider's message list, the rest of
`emit` the body around it. What an emitter cannot write it raises as `Unsupported`.
`request_body` is `emit` with the prompt's own body fields (the `body` setting) added.

A declared target's `model { }` settings (`default_settings`) apply under the prompt's own.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, Mapping, Sequence

import attrs

from ..compiler import ir
from ..compiler.diagnostics import Sink
from ..compiler.targets import CAPS_FIELDS, AS_IS, Caps, Refusals, SchemaDialect, TargetOption, Unsupported
from ._fields import add_fields, body_fields

REGISTRY: dict[str, type["Backend"]] = {}

__all__ = ["CAPS_FIELDS", "REGISTRY", "Backend", "Caps", "SchemaDialect", "TargetOption", "Unsupported"]


class Backend:
    """A target platform. Subclasses set the class attributes, `write_messages` and `emit`."""

    name: ClassVar[str]
    family: ClassVar[str]
    caps: Caps  # the class's table; an instance's adds the `caps { }` overrides
    default_model: ClassVar[str] = ""
    #: the provider documentation the emitter follows
    docs: ClassVar[str] = ""
    #: a text-only turn is written `{"role": role, "content": text}` (the session's generated path may render it)
    plain_text_turns: ClassVar[bool] = False
    #: the options a `target` declaration may give this target, with their docs and accepted values
    OPTIONS: ClassVar[Mapping[str, TargetOption]] = {}
    #: model-name prefixes of the provider's own models (other targets refuse them: PP404)
    model_prefixes: ClassVar[tuple[str, ...]] = ()
    #: the structured-output dialects this module defines (`caps.structured_output` names one)
    dialects: ClassVar[tuple[SchemaDialect, ...]] = ()
    #: the provider's official request schema: (file under ../shared/refdata, the body's schema name)
    schema: ClassVar[tuple[str, str] | None] = None
    #: a provider reply (text, or a tool call) as the API returns it, for the reply-reading tests
    sample_reply: ClassVar[dict | None] = None
    #: the text, tool calls and finish reason `sample_reply` reads as (`Reply` fields)
    sample_reading: ClassVar[dict | None] = None
    #: the target's own passes, run after the shared ones with the same context
    passes: ClassVar[tuple[Callable, ...]] = ()
    #: the target sends a provider request body, which `body` fields may add to (a chat template's
    #: prompt is none: they are dropped)
    has_body: ClassVar[bool] = True
    #: body fields the emitter writes besides the settings' (`caps.settings`), and what from
    body_owned: ClassVar[Mapping[str, str]] = {"model": "the `model` statement"}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def __init__(self, options: dict | None = None, caps_overrides: dict | None = None):
        """`options` and `caps_overrides`: a `target` declaration's options and `caps { }` values, the
        latter applied on top of the target's own capability table (`own_caps`)."""
        self.options = options or {}
        #: a declared target's `model { }` settings, applied under the prompt's own
        self.default_settings: dict[str, ir.Setting] = {}
        self.caps = self.own_caps()
        if caps_overrides:
            self.caps = attrs.evolve(self.caps, **caps_overrides)

    def own_caps(self) -> Caps:
        """The capability table before a declaration's overrides (an open model's: what probing found)."""
        return type(self).caps

    # -- lowering: the passes see this data, never the backend
    def refusals(self) -> Refusals:
        """What the target refuses beyond its caps; by default: other providers' models, and body fields
        outside its request schema or written by polyprompt."""
        family = self.family
        body = body_fields(type(self).name, self.owned_fields()) if self.has_body else None
        return Refusals(model=lambda model: foreign_model(model, family), body=body)

    def owned_fields(self) -> dict[str, str]:
        """The body fields polyprompt writes on this target (`body` fields may not replace them), and what from."""
        owned = dict(type(self).body_owned)
        for neutral, field in self.caps.settings.items():
            owned.setdefault(field.split(".")[0], f"the `{neutral}` setting")
        return owned

    def target_notes(self) -> tuple[tuple[str, str, str | None], ...]:
        """Notes (code, message, help) the target adds to every lowering report (an open model's quirks)."""
        return ()

    def dialect(self) -> SchemaDialect:
        """The `SchemaDialect` named by `caps.structured_output` (the schema as it is when none defines it)."""
        wanted = self.caps.structured_output
        own = next((d for d in type(self).dialects if d.name == wanted), None)
        return own or (dialect(wanted) if wanted is not None else AS_IS)

    def context(self, report: Sink):
        """The `PassContext` of this target: its name, caps, refusals and facts, and `report`."""
        from ..compiler.passes import PassContext

        return PassContext(name=self.name, kind=type(self).name, caps=self.caps, report=report,
                           refusals=self.refusals(), dialect=self.dialect(), default_model=self.default_model,
                           target_notes=self.target_notes(),
                           output_instructions=self.options.get("output_instructions", "compact"))

    def lower(self, request: ir.Request, report: Sink) -> ir.Request:
        """Run the pass pipeline for this target (shared passes, then its own); every change goes to `report`."""
        from ..compiler.passes import PASSES, run_passes

        if self.default_settings:
            request = attrs.evolve(request, settings={**self.default_settings, **request.settings})
        return run_passes(request, self.context(report), PASSES + type(self).passes)

    # -- emitting: pure functions of the lowered request
    def write_messages(self, messages: Sequence[ir.Message]) -> list:
        """The provider's message list for lowered turns (those the body's message list holds)."""
        raise NotImplementedError

    def emit(self, request: ir.Request) -> dict[str, Any]:
        """The provider's request body for a lowered request; `Unsupported` for what it cannot write."""
        raise NotImplementedError

    def request_body(self, request: ir.Request) -> dict[str, Any]:
        """`emit`, and the prompt's own body fields (the `body` setting, as lowering took them) added;
        `Unsupported` (PP304) for one the emitter wrote itself."""
        body = self.emit(request)
        fields = request.settings.get("body")
        if fields is not None and isinstance(fields.value, dict) and self.has_body:
            add_fields(body, fields.value, self.name, fields.span or request.span)
        return body

    def read_reply(self, reply: dict):
        """The text, tool calls and finish reason of a provider reply (`compiler.replies.Reply`)."""
        raise NotImplementedError(f"{self.name} cannot read replies yet")

    def compile(self, request: ir.Request, report: Sink) -> dict[str, Any] | None:
        """Lower, then emit; None when the target cannot express the request (the errors are in `report`)."""
        lowered = self.lower(request, report)
        if report.has_errors:
            return None
        try:
            return self.request_body(lowered)
        except Unsupported as err:
            err.report(report, lowered.span)
            return None

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


# -- facts across targets: read from the registry, which `backends.get` fills with every built-in
# API target before it returns one (so these need not import the registry: no cycle)
def model_prefixes() -> dict[str, tuple[str, ...]]:
    """Model-name prefixes by provider family, from each registered target's `model_prefixes`."""
    found: dict[str, tuple[str, ...]] = {}
    for cls in list(REGISTRY.values()):
        if cls.model_prefixes:
            found.setdefault(cls.family, cls.model_prefixes)
    return found


def foreign_model(model: str, family: str) -> str | None:
    """The provider family a model name is made for, when it is not `family` (None: unknown or its own)."""
    return next((f for f, prefixes in model_prefixes().items() if f != family and model.startswith(prefixes)), None)


def dialect(name: str) -> SchemaDialect:
    """The structured-output dialect a registered target defines under `name` (the schema as it is if none)."""
    for cls in list(REGISTRY.values()):
        for d in cls.dialects:
            if d.name == name:
                return d
    return AS_IS
