"""The target contract: what the compiler knows about targets, and what a backend provides.

The core (checker, passes) never imports a backend. It reads targets through the
types of this module, which the backends (`backends/`) implement and fill in:

- `Caps`: what a target can express; the passes lower a request by it.
- `TargetOption`: an option a `target NAME "backend" { name: value }` declaration may give.
- `SchemaDialect`: how a target's structured output wants the output schema written.
- `Refusals`: what a target refuses beyond its capability table (media types, models...).
- `BodyFields`: the request-body fields a `body` setting or `extra_body` may add to a target's body.
- `TargetCatalog`: the target names a declaration may name, and the options it may give;
  `polyprompt.backends.catalog()` is the real one, handed to the checker.
- `Unsupported`: what an emitter cannot write; the compile driver reports it as an error.
"""
from __future__ import annotations

import datetime
import difflib
from typing import Any, Callable, Iterable, Mapping, Sequence

import attrs


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
    #: native structured output dialect (a `SchemaDialect` name), or None (the schema goes into the
    #: prompt as instructions)
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
    #: a `strict tool` is sent strict (the provider holds its arguments to the parameters' schema)
    strict_tools: bool = False


#: The capability names a `caps { }` block may set.
CAPS_FIELDS = tuple(f.name for f in attrs.fields(Caps))


@attrs.frozen
class TargetOption:
    """An option a `target` declaration may give: what it does, and the values it takes."""

    doc: str
    accepts: Callable[[Any], bool]  # value -> bool; the checker reports any other value (PP229)
    wanted: str  # the values it takes, in words


def is_text(value: Any) -> bool:
    """A non-empty string (an option such as a URL or a project id)."""
    return isinstance(value, str) and bool(value)


def is_iso_date(value: Any) -> bool:
    """A date written "YYYY-MM-DD"."""
    try:
        datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


@attrs.frozen(kw_only=True)
class SchemaDialect:
    """How a target wants the output type's JSON Schema (the `lower_output_schema` pass applies it)."""

    name: str
    #: the root must be an object: any other value is wrapped as {"value": ...}
    object_root: bool = False
    #: OpenAI strict mode: every property required, optional ones nullable, objects closed
    strict: bool = False
    #: `$ref`s are replaced by their definitions where they do not recurse
    inline_refs: bool = False
    #: the keywords the provider documents; others are dropped (None: all are kept)
    keywords: frozenset | None = None


#: a dialect nobody declared: the schema as it is
AS_IS = SchemaDialect(name="json_schema")

#: How a target without native structured output is told the output type (`lower_output_schema`):
#: "compact" (the default) fits the type (an enum: the allowed words; a type of one line: one line;
#: a record: its compact typed notation), "schema" the whole JSON Schema, "none" nothing (the
#: prompt says it itself). The reply is checked against the type's schema either way.
OUTPUT_INSTRUCTIONS = ("compact", "schema", "none")

#: options every target reads
COMMON_OPTIONS = {
    "output_instructions": TargetOption(
        "every target without native structured output: how the output type is written into the system text, "
        '"compact" (default: an enum\'s words, one line, or a record\'s typed notation), "schema" or "none"',
        lambda v: v in OUTPUT_INSTRUCTIONS, '"compact", "schema" or "none"'),
}


@attrs.frozen(kw_only=True)
class MediaTypes:
    """Media types a target takes for one media kind (others are PP302)."""

    accepted: frozenset
    noun: str  # "images", "documents": how the error message names the kind
    #: what the error's help adds after the accepted types (e.g. how to convert the data)
    help: str | None = None


@attrs.frozen(kw_only=True)
class BodyFields:
    """The fields of a target's request body that a `body` setting (or `extra_body`) may add: any the
    provider's request schema has (checked against it when it is known) except those polyprompt writes."""

    #: field -> what polyprompt writes it from; such a field is refused (PP304), never replaced
    owned: Mapping[str, str] = attrs.field(factory=dict)
    #: the provider's request schema the fields are checked against (None: not checked)
    schema: str | None = None
    #: the request's top-level fields, when the schema is known
    fields: frozenset | None = None
    #: (field, value) -> what is wrong with the value, or None when it fits (a known schema only)
    validate: Callable[[str, Any], str | None] | None = None

    def refuse(self, target: str, field: str, value: Any) -> tuple[str, str] | None:
        """Why `target` refuses `field: value` in its body, as (message, help), or None."""
        if field in self.owned:
            return (f"`{field}` is written by polyprompt on {target}: a body field may not replace it",
                    f"it comes from {self.owned[field]}")
        if self.fields is not None and field not in self.fields:
            return (f"{target}'s request (`{self.schema}`) has no field `{field}`",
                    did_you_mean(field, self.fields) or f"see the fields of `{self.schema}`")
        problem = self.validate(field, value) if self.validate is not None else None
        if problem is not None:
            return (f"body field `{field}` does not fit `{self.schema}`: {problem}",
                    f"see `{field}` in {target}'s API reference")
        return None

    def note(self, target: str, field: str) -> str:
        """The lowering note of a field added to the body as given (PP415)."""
        if self.schema is None:
            return f"body field `{field}` added as given (not checked: no request schema of {target} is known)"
        return f"body field `{field}` added as given (checked against `{self.schema}`)"


@attrs.frozen(kw_only=True)
class Refusals:
    """What a target refuses beyond its capability table, as data the passes read (never a callback
    into a backend object)."""

    #: media kind -> why the target takes none (added to PP302: a chat template's own reason)
    media: Mapping[str, str] = attrs.field(factory=dict)
    #: media kind -> the media types it takes (lower-case), for targets with a closed list
    media_types: Mapping[str, MediaTypes] = attrs.field(factory=dict)
    #: media kind -> (noun, help), for kinds taken only by URL (inline data is PP302)
    url_only: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    #: model name -> the provider family it is made for, when the target does not serve it (PP404)
    model: Callable[[str], str | None] = lambda model: None
    #: the target's control-token texts a text holds, in order, repeats included (data holding any is PP411)
    control_text: Callable[[str], Sequence[str]] | None = None
    #: is such data encoded as plain text (a tokenizer at hand)? Else the body carries it verbatim
    control_text_protected: bool = True
    #: the fields a `body` setting may add (None: the target has no request body of its own)
    body: BodyFields | None = None


class Unsupported(Exception):
    """What an emitter cannot write, raised with the words of a PP3xx error.

    The one way a backend says "this cannot be expressed" at emit time; the compile
    driver turns it into an error diagnostic (`report`). Passes decide the same thing
    earlier from `Caps` and `Refusals` and report it as `PassContext.unsupported`: either
    way a PP3xx error, and the request is not emitted.
    """

    def __init__(self, code: str, message: str, span=None, help: str | None = None):
        super().__init__(message)
        self.code, self.message, self.span, self.help = code, message, span, help

    def report(self, sink, span=None) -> None:
        """Add this as an error to `sink` (at `span` when the emitter knew none)."""
        sink.error(self.code, self.message, self.span or span, help=self.help)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """`did you mean `x`?` for the closest candidate, if one is close."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None


class TargetCatalog:
    """The target names a `target` declaration may name, and the options it may give.

    Built-in API names (`openai-chat`...), open-model families (`hf-family:<name>`), and
    `hf:<dir>` (a folder read on compile, so any name passes). The checker receives one
    (`polyprompt.backends.catalog()` is the real catalog, read lazily); the default is empty.
    """

    #: prefixes of targets named by a parameter: `hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>`
    PREFIXES = ("hf-family:", "hf:")
    FAMILY_PREFIX, DIR_PREFIX = PREFIXES

    def __init__(self, names: Iterable[str] = (), families: Iterable[str] = (),
                 options: Mapping[str, TargetOption] | None = None):
        self._names, self._families, self._options = list(names), list(families), dict(options or {})

    def names(self) -> list[str]:
        """The built-in API target names."""
        return self._names

    def families(self) -> list[str]:
        """The built-in open-model families (`hf-family:<name>` targets)."""
        return self._families

    def options(self) -> Mapping[str, TargetOption]:
        """Every option some target reads, by name."""
        return self._options

    def unknown(self, name: str) -> str | None:
        """None for a target name a declaration may use, else the help for PP300 (did-you-mean)."""
        if name.startswith(self.DIR_PREFIX):
            return None  # a folder or GGUF file: read on compile
        known = self.names()
        if name.startswith(self.FAMILY_PREFIX):
            known = [self.FAMILY_PREFIX + f for f in self.families()]
        if name in known:
            return None
        return did_you_mean(name, known) or f"targets: {', '.join(known)}"
