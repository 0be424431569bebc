"""Hugging Face chat templates, rendered exactly as transformers renders them, with jinja2 only.

For an open model the "platform" is its chat template: a Jinja program in the tokenizer's config.
`ChatTemplate` reproduces `tokenizer.apply_chat_template(..., tokenize=False)` of transformers 5.x
(`transformers/utils/chat_template_utils.py`) byte for byte, without importing transformers:

- the same environment: `ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)`
  with the `loopcontrols` extension, the `{% generation %}` tag, a `tojson` filter that does not
  escape HTML, the `raise_exception` and `strftime_now` globals and the guarded `dict`/`namespace`;
- the same input preparation: message objects become dicts, keys whose value is None are dropped,
  everything the template sees is rebuilt from plain JSON types, and reasoning is aliased under
  `reasoning_content` and `thinking`;
- the same `continue_final_message` cut (render with a tag after the final message, cut there).

`strftime_now` reads the `date` given to `ChatTemplate` (a fixed date makes renders reproducible),
else today. A template is compiled once per process for each (source, date) pair: by Jinja, with
the faster code generator of jinja_fast.py, and, when its constructs allow, to one plain Python
function by compiler.py (the same results; Jinja renders what that function cannot).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import sys
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jinja2
import jinja2.ext
import jinja2.meta
import jinja2.nodes
import jinja2.utils

from . import budget
from .budget import BudgetError
from .jinja_fast import FastEnvironment, FastSandboxedEnvironment
from .compiler import Bail, compile_render
from .spans import CLOSE, OPEN, holds_markers, marked_source, spans_of
from .splice import Splicer

__all__ = ["BudgetError", "ChatTemplate", "TemplateError", "compile_template"]

# What transformers appends to the final message to find where it ends in the render.
_CONTINUE_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
# Names a message's reasoning is passed under; the first is the one chat templates read.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


class TemplateError(jinja2.exceptions.TemplateError):
    """A chat template refused its input: `raise_exception(message)` was called.

    `str(error)` is the template's message, e.g. "System role not supported".
    """


def _check_jinja_version() -> None:
    """transformers refuses jinja2 < 3.1.6 (sandbox escapes); so do we."""
    parts = tuple(int(p) if p.isdigit() else 0 for p in jinja2.__version__.split(".")[:3])
    if parts < (3, 1, 6):
        raise ImportError(f"chat templates need jinja2>=3.1.6, found {jinja2.__version__}")


# ---------------------------------------------------------------------------------------------
# The environment (a copy of transformers' `_cached_compile_jinja_template`)


class _SpanTracker:
    """What `{% generation %}` needs while a render runs: the length output so far, the spans."""

    def __init__(self) -> None:
        self.length = 0
        self.spans: list[tuple[int, int]] = []


class GenerationTracker(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`: records the character span of its output.

    As in transformers, the start of a span is the length of the blocks the template has yielded
    so far, so a generation block inside a macro or a `set` block is placed where transformers
    places it.
    """

    tags = {"generation"}

    def __init__(self, environment: jinja2.Environment):
        super().__init__(environment)
        environment.extend(activate_tracker=self.activate_tracker)
        self._tracking: ContextVar[_SpanTracker | None] = ContextVar("generation_tracker", default=None)

    def parse(self, parser: Any) -> jinja2.nodes.CallBlock:
        """Parse the body up to `endgeneration` into a call of `_generation_support`."""
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_generation_support")
        block = jinja2.nodes.CallBlock(call, [], [], body)
        block.set_lineno(lineno)
        return block

    @jinja2.pass_eval_context
    def _generation_support(self, context: Any, caller: Any) -> str:
        rv = caller()
        tracker = self._tracking.get()
        if tracker is not None:
            tracker.spans.append((tracker.length, tracker.length + len(rv)))
        return rv

    @contextmanager
    def activate_tracker(self, tracker: _SpanTracker):
        """Track spans into `tracker` for the renders inside the `with` block."""
        if self._tracking.get() is not None:
            raise ValueError("AssistantTracker should not be reused before closed")
        token = self._tracking.set(tracker)
        try:
            yield
        finally:
            self._tracking.reset(token)


def _raise_exception(message: Any) -> None:
    raise TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    """transformers' `tojson`: no HTML escaping, and the options of `json.dumps`."""
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(date: _dt.date | None):
    """`strftime_now(format)`: today, or the fixed `date` (at midnight) when one is given."""
    if date is None:
        return lambda format: _dt.datetime.now().strftime(format)
    moment = date if isinstance(date, _dt.datetime) else _dt.datetime.combine(date, _dt.time())
    return lambda format: moment.strftime(format)


class _TemplateDict:
    """`dict(...)` in a template: builds dicts, exposes nothing else of the type."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


class _TemplateNamespace(jinja2.utils.Namespace):
    """`namespace(...)` that refuses underscore-prefixed attributes (no CPython internals)."""

    def __init__(*args: Any, **kwargs: Any):
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        if type(name) is not str or name[:1] == "_":  # the usual plain name skips the call
            _TemplateNamespace._check_name(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check_name(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"Chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}. "
                "Please rename the attribute.")


def compile_template(source: str, date: _dt.date | None = None, trusted: bool = False) -> jinja2.Template:
    """Compile `source` in transformers' environment; cached per (source, date, trusted).

    `trusted` is for the templates that ship in this package (the built-in families): they are
    rendered without the sandbox, which costs about half the render time. A template read from a
    model folder is never trusted: it runs in transformers' immutable sandbox.
    """
    if not trusted and len(source) > MAX_SOURCE:
        raise jinja2.exceptions.TemplateError(f"the chat template is {len(source):,} characters long, more than "
                                              f"the {MAX_SOURCE:,} polyprompt compiles")
    try:
        return _compile(source, date, trusted)
    except RecursionError:
        raise jinja2.exceptions.TemplateError("the chat template nests deeper than Python's recursion limit") from None
    except MemoryError:
        raise jinja2.exceptions.TemplateError("compiling the chat template ran out of memory") from None


#: Renders of plain messages after which a template renders them from plans of their shape
#: (splice.py): its tracing code costs about one compile, paid by templates that render many.
SPLICE_AFTER = 3

#: The longest untrusted chat template compiled (real ones are under 100,000 characters).
MAX_SOURCE = 1_000_000


@lru_cache(maxsize=256)
def _compile(source: str, date: _dt.date | None, trusted: bool = False) -> jinja2.Template:
    _check_jinja_version()
    kind = FastEnvironment if trusted else FastSandboxedEnvironment  # the same semantics: see jinja_fast.py
    env = kind(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now(date)
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    if not trusted:  # the globals and filters that can grow without bound, checked (budget.py)
        budget.guard(env)
    template = env.from_string(source)
    # Jinja keeps the globals as a ChainMap over the environment's and copies it into every render's
    # context, a slow walk; the environment is complete here, so one plain dict gives the same context.
    template.globals = dict(template.globals)
    return template


@lru_cache(maxsize=256)
def _compile_render(source: str, date: _dt.date | None, trusted: bool = False):
    """The template compiled to one Python function (compiler.py), or None: Jinja renders it."""
    return compile_render(_compile(source, date, trusted), source)


@lru_cache(maxsize=256)
def _span_render(source: str, date: _dt.date | None, trusted: bool = False):
    """The template with its generation blocks as markers compiled to one Python function
    (spans.py), or None: Jinja renders spans."""
    marked = _marked(source, date, trusted)
    return compile_render(_compile(marked, date, trusted), marked) if marked is not None else None


@lru_cache(maxsize=256)
def _marked(source: str, date: _dt.date | None, trusted: bool = False) -> str | None:
    """The template with its generation blocks as marker outputs (spans.py), or None."""
    if "generation" not in source:
        return None
    return marked_source(_compile(source, date, trusted), source)


# ---------------------------------------------------------------------------------------------
# Input preparation (transformers' `_normalize_chat_messages`, `_plain_template_data`, ...)


def _to_dicts(value: Any) -> Any:
    """Message objects (dataclasses, pydantic models) to dicts, recursively; the rest as is."""
    if isinstance(value, Mapping):
        return {key: _to_dicts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_dicts(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_to_dicts(item) for item in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_dicts(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _to_dicts(value.model_dump())
    return value


def _normalize(conversation: Any) -> list[dict]:
    """Messages as plain dicts without the keys whose value is None (OpenAI's `content=None`)."""
    messages = conversation if type(conversation) is list else getattr(conversation, "messages", conversation)
    if type(messages) is list:  # the usual case, dicts: no objects to convert
        out = []
        for m in messages:
            if type(m) is not dict:
                break
            out.append({key if type(key) is str else _plain(key): value if type(value) is str else _plain(value)
                        for key, value in m.items() if value is not None})
        else:
            return out
    out = []
    for message in _to_dicts(messages):
        if not isinstance(message, dict):
            raise TypeError(f"Chat messages should be dicts, dataclasses or pydantic models, but got {message!r}.")
        out.append(_plain({key: value for key, value in message.items() if value is not None}))
    return out


def _is_numpy_scalar(value: Any) -> bool:
    numpy = sys.modules.get("numpy")  # never imported here: without numpy loaded there are no numpy values
    return numpy is not None and isinstance(value, numpy.generic)


def _plain(value: Any) -> Any:
    """Rebuild `value` from plain JSON types; any other object becomes a "<TypeName>" placeholder."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is dict:
        return {key if type(key) is str else _plain(key): _plain(item) for key, item in value.items()}
    if kind is list:
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if _is_numpy_scalar(value):
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


def _alias_reasoning(chat: list[dict]) -> list[dict]:
    """Copy a message's reasoning to `reasoning_content` and `thinking` (gpt-oss reads the latter)."""
    out = []
    for message in chat:
        if "reasoning_content" in message or "thinking" in message or "reasoning" in message:
            reasoning = next((message[k] for k in _REASONING_FIELDS if message.get(k) is not None), None)
            if reasoning is not None:
                message = {"thinking": reasoning, **message, "reasoning_content": reasoning}
        out.append(message)
    return out


def _check_tools(tools: Any, documents: Any) -> None:
    for tool in tools or ():
        if not isinstance(tool, dict):
            raise TypeError(f"tools must be JSON-schema dicts (transformers also accepts functions), got {tool!r}")
    for document in documents or ():
        if not isinstance(document, dict):
            raise TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")


# ---------------------------------------------------------------------------------------------
# continue_final_message


def _tag_final_message(chat: list[dict], field: str, source: str) -> str:
    """Append the tag to the final message's `field` (in place); return the text to continue."""
    final = chat[-1].get(field)
    if final is None:
        raise ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
    fields = [field]
    if field in _REASONING_FIELDS:
        fields = [f for f in _REASONING_FIELDS if chat[-1].get(f) == final]
    if not any(f in source for f in fields):
        raise ValueError(
            f'continue_final_message is set to "{field}" but this is not an accepted field in the chat_template')
    if isinstance(final, (list, tuple)):
        for block in reversed(final):
            if "text" in block:
                text = block["text"]
                block["text"] = text + _CONTINUE_TAG
                return text
        raise ValueError(
            "continue_final_message is set but we could not find any text to continue in the final message!")
    for f in fields:
        chat[-1][f] = chat[-1][f] + _CONTINUE_TAG
    return final


def _cut_after_final_message(rendered: str, final: str) -> str:
    """Cut the render where the tagged final message ends, as transformers does."""
    tag = _CONTINUE_TAG.strip()
    if final.strip() not in rendered or tag not in rendered:
        raise ValueError(
            "continue_final_message is set but the final message does not appear in the chat after "
            "applying the chat template! This can happen if the chat template deletes portions of "
            "the final message. Please verify the chat template and final message in your chat to "
            "ensure they are compatible."
            f"Final message to continue: {final.strip()}\nRendered chat:\n{rendered}")
    at = rendered.rindex(tag)
    if rendered[at:at + len(_CONTINUE_TAG)] == _CONTINUE_TAG:
        return rendered[:at]
    return rendered[:at].rstrip()  # the template trimmed the message's trailing space


# ---------------------------------------------------------------------------------------------
# The public class


class ChatTemplate:
    """One HF chat template with the special tokens it is rendered with.

    `bos_token`/`eos_token` are passed to the template like the tokenizer's special tokens (a None
    token is left undefined, as transformers leaves out unset special tokens); `extra` adds more
    template variables (e.g. `pad_token`, or a family's `date_string`); `date` fixes what
    `strftime_now` returns. An untrusted template (`trusted=False`, the default) renders within a
    time and memory budget (budget.py): going over it raises `BudgetError`, naming `name`.
    """

    def __init__(self, source: str, *, bos_token: str | None = None, eos_token: str | None = None,
                 extra: dict | None = None, date: _dt.date | None = None, trusted: bool = False,
                 name: str = "the chat template"):
        self.source = source
        self.date = date
        self.trusted = trusted
        self.name = name  # what a BudgetError calls it (the folder or file it came from)
        variables = {name: token for name, token in (("bos_token", bos_token), ("eos_token", eos_token))
                     if token is not None}
        variables.update(extra or {})
        self._plain_variables = _plain(variables)  # prepared once, not per render
        self.variables: Mapping[str, Any] = MappingProxyType(variables)
        self.compiled = compile_template(source, date, trusted)
        #: `render(variables) -> str`, the same text or error as `compiled`, or None (Jinja renders)
        self.compiled_render = _compile_render(source, date, trusted)
        #: the same for renders with `{% generation %}` spans: markers where they stand (spans.py)
        self.span_render = _span_render(source, date, trusted) if self.compiled_render is None else None
        self._splicer: Splicer | None | bool = None  # made at the SPLICE_AFTER-th render of plain messages
        self._plain_renders = 0

    def __repr__(self) -> str:
        return f"ChatTemplate({self.source[:40]!r}..., variables={sorted(self.variables)})"

    def render(self, messages: list[dict], *, tools: list[dict] | None = None, documents: Any = None,
               add_generation_prompt: bool = False, continue_final_message: bool | str = False,
               **template_vars: Any) -> str:
        """The prompt text for `messages`, as `apply_chat_template(..., tokenize=False)` gives it."""
        text, _ = self._render(messages, tools, documents, add_generation_prompt, continue_final_message,
                               template_vars, spans=False)
        return text

    def render_with_spans(self, messages: list[dict], *, tools: list[dict] | None = None,
                          documents: Any = None, add_generation_prompt: bool = False,
                          **template_vars: Any) -> tuple[str, list[tuple[int, int]]]:
        """The text and the [start, end) character spans of its `{% generation %}` blocks.

        These are the spans transformers turns into `assistant_masks`; a template without the tag
        gives no spans.
        """
        return self._render(messages, tools, documents, add_generation_prompt, False, template_vars, spans=True)

    def undeclared_variables(self) -> frozenset[str]:
        """The names the template reads from its context (messages, tools, enable_thinking...)."""
        env = self.compiled.environment
        return frozenset(jinja2.meta.find_undeclared_variables(env.parse(self.source)))

    def _render(self, messages: Any, tools: Any, documents: Any, add_generation_prompt: bool,
                continue_final_message: bool | str, template_vars: dict, *, spans: bool):
        if isinstance(messages, (list, tuple)) and not messages:
            raise ValueError("Cannot apply chat template to an empty conversation. Provide at least one message.")
        if continue_final_message and add_generation_prompt:
            raise ValueError(
                "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message "
                "when you want the model to continue the final message, and add_generation_prompt when you want "
                "to add a header that will prompt it to start a new assistant message instead.")
        if tools is None and documents is None and not template_vars and not continue_final_message \
                and type(messages) is list:
            spliced = self._spliced(messages, add_generation_prompt)
            if spliced is not None:
                return spliced
        _check_tools(tools, documents)
        chat = _alias_reasoning(_normalize(messages))
        final = None
        if continue_final_message:
            field = continue_final_message if isinstance(continue_final_message, str) else "content"
            final = _tag_final_message(chat, field, self.source)
        variables = _plain({**self.variables, **template_vars}) if template_vars else self._plain_variables
        context = dict(messages=chat, tools=_plain(tools), documents=_plain(documents),
                       add_generation_prompt=add_generation_prompt, **variables)
        text, found = self._run(context, spans)
        if final is not None:
            text = _cut_after_final_message(text, final)
        return text, found

    def _spliced(self, messages: list, add_generation_prompt: bool) -> tuple[str, list[tuple[int, int]]] | None:
        """The text and `{% generation %}` spans of plain {"role", "content"} messages from a plan
        of their shape (splice.py), or None: render them the plain way. Built-in (trusted)
        templates the compiler takes, whose render does not read the clock."""
        splicer = self._splicer
        if splicer is None:
            self._plain_renders += 1
            if self._plain_renders < SPLICE_AFTER:  # a one-off render does not pay for the tracing code
                return None
            splicer = self._splicer = self._make_splicer()
        if splicer is False:
            return None
        found = splicer.render(messages, add_generation_prompt)  # type: ignore[union-attr]
        if found is None:
            return None
        text, cuts = found
        if not cuts:
            return text, []
        opens, closes = cuts[0::2], cuts[1::2]
        if len(opens) != len(closes) or any(o[0] != OPEN or c[0] != CLOSE for o, c in zip(opens, closes)):
            return None  # markers that do not pair: Jinja says what the spans are
        return text, [(o[1], c[1]) for o, c in zip(opens, closes)]

    def _make_splicer(self) -> Splicer | bool:
        """The splicer of this template (of its marked source when it has generation blocks), or False."""
        if not self.trusted or (self.date is None and "strftime_now" in self.source):
            return False
        if self.compiled_render is not None:
            return Splicer(self.compiled, self.source, self._plain_variables)
        marked = _marked(self.source, self.date, self.trusted) if self.span_render is not None else None
        if marked is None:
            return False
        return Splicer(_compile(marked, self.date, self.trusted), marked, self._plain_variables, cut=(OPEN, CLOSE))

    def _run(self, context: dict, spans: bool) -> tuple[str, list[tuple[int, int]]]:
        if self.trusted:
            return self._run_either(context, spans)
        try:  # an untrusted template: bounded time and memory (budget.py)
            return budget.spend_on(self._run_either, context, spans)
        except BudgetError as err:
            raise BudgetError(f"{self.name}: went over its render budget: {err}") from None

    def _run_either(self, context: dict, spans: bool) -> tuple[str, list[tuple[int, int]]]:
        if not spans and self.compiled_render is not None:
            try:
                return self.compiled_render(context), []
            except Bail:  # raised before any effect: this input needs Jinja's runtime
                pass
        if spans and self.span_render is not None and not holds_markers(context):
            try:
                found = spans_of(self.span_render(context))
            except Bail:
                found = None
            if found is not None:
                return found
        return self._run_jinja(context, spans)

    def _run_jinja(self, context: dict, spans: bool) -> tuple[str, list[tuple[int, int]]]:
        if not spans:  # Template.render(**context), without copying the context again
            compiled = self.compiled
            chunks = compiled.root_render_func(compiled.new_context(context))
            return ("".join(chunks) if self.trusted else budget.written(chunks)), []
        tracker = _SpanTracker()
        blocks = []
        environment: Any = self.compiled.environment  # activate_tracker: set by GenerationTracker (extend)
        with environment.activate_tracker(tracker):
            for block in self.compiled.generate(**context):
                blocks.append(block)
                tracker.length += len(block)
                if not self.trusted:
                    budget.current().write(len(block))
        return "".join(blocks), tracker.spans
