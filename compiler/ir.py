"""The neutral IR: one rendered request before a backend writes it out.

A prompt rendered with its inputs for a target gives a `Request`: messages of
typed parts, tools, the output type and its schema, settings, cache
breakpoints and priorities. Every piece keeps the source span it came from, so
each change a pass makes can be reported against the source (the lowering
report). Passes (`compiler/passes/`) rewrite a Request into another with
`attrs.evolve`; backends (`backends/`) turn it into a provider's body.
"""
from __future__ import annotations

from typing import Any, Mapping, Union

import attrs

from . import types as T
from .span import Span

# Every IR class is `@attrs.frozen(kw_only=True)`, spelled out so that mypy's attrs plugin sees it.


@attrs.frozen(kw_only=True)
class Text:
    """A text part."""
    text: str
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Media:
    """An image, audio clip or file: a URL, or inline base64 `data` with its media type."""

    kind: str  # image | audio | file
    url: str | None = None
    data: str | None = None  # base64
    media_type: str | None = None
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class ToolCall:
    """A call of a tool by the assistant: the call's id, the tool's name and its arguments."""
    id: str
    name: str
    arguments: dict
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class ToolResult:
    """The result of a tool call (matched by `id`): text and media, and whether it is an error."""
    id: str
    name: str
    content: tuple[Union[Text, Media], ...]
    is_error: bool = False
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


Part = Union[Text, Media, ToolCall, ToolResult]


@attrs.frozen(kw_only=True)
class Message:
    """One turn. `role` is system, user, assistant or tool (tool results)."""

    role: str
    parts: tuple[Part, ...]
    #: cache breakpoint after this message: None, "default", "5m" or "1h"
    cache: str | None = None
    #: from `priority N { }`: lower numbers are dropped first when over budget
    priority: int | None = None
    #: "prompt" for messages the prompt wrote, "history" for spliced input turns
    source: str = "prompt"
    span: Span | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def text(self) -> str:
        """The text parts joined (what a text-only target sees)."""
        return "".join(p.text for p in self.parts if isinstance(p, Text))


@attrs.frozen(kw_only=True)
class Tool:
    """A tool the model may call: its name, description and parameters as a JSON Schema; `strict`:
    the provider must hold the call's arguments to that schema (`strict tool`)."""
    name: str
    description: str | None
    parameters: dict  # JSON Schema of an object
    strict: bool = False
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Output:
    """The prompt's return type: what the reply must be."""

    name: str
    type: Any = attrs.field(eq=False)  # compiler.types.Type
    schema: dict  # in the target's dialect once lowered
    span: Span | None = attrs.field(default=None, eq=False, repr=False)
    #: the type's own schema, before lowering: what a reply is checked against
    original: dict | None = None
    #: set when a dialect needs an object at the root: the value travels as {wrapped: value}
    wrapped: str | None = None
    #: the schema may go out with `strict: true`: False when lowering found a rule of OpenAI's strict
    #: mode it breaks (PP413: a `map[T]` or `json` value)
    strict: bool = True
    #: the type written as instructions for targets without native structured output, by style
    #: ("schema": `std.output.json_schema`; "compact": the fragment that fits the type); rendered when
    #: the prompt is compiled (`compiler.stdlib_text.output_instructions`), so no pass runs the front end
    instructions: Mapping[str, str] | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def type_schema(self) -> dict:
        """The type's own schema, before lowering (the lowered one when there is none)."""
        return self.original if self.original is not None else self.schema

    @property
    def is_text(self) -> bool:
        """Whether the output is plain text (`-> str`), with no schema to follow."""
        return self.type == T.STR


@attrs.frozen(kw_only=True)
class Setting:
    """A setting's value and where it was set."""
    value: Any
    span: Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Request:
    """One rendered request: its turns, tools, output, settings and budget, for one prompt and target."""
    prompt: str
    target: str
    model: str | None
    messages: tuple[Message, ...]
    tools: tuple[Tool, ...] = ()
    output: Output | None = None
    settings: dict[str, Setting] = attrs.field(factory=dict)
    budget: int | None = None
    #: cache breakpoint after the tool definitions
    tools_cache: str | None = None
    span: Span | None = attrs.field(default=None, eq=False, repr=False)
    #: where the model was named (the `model` statement), for notes about it
    model_span: Span | None = attrs.field(default=None, eq=False, repr=False)
