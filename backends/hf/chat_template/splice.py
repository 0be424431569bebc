"""Render a chat template once per conversation shape, then splice each row's message texts in.

A dataset renders the same template over many conversations that differ only in their messages'
text. `Splicer` renders the first conversation of a shape (its roles, in order) with every message
`content` replaced by a `Traced` string, a stand-in that is not a `str` and follows what the
template does with it:

- what the template writes out, concatenates (`+`, `~`) or transforms with a pure string function
  (`trim`, `strip`, `lstrip`, `rstrip`, `upper`, `replace`...) becomes a *recipe*: literal text,
  message texts by index, and functions applied to recipes;
- every question the template asks of a text (`'</think>' in content`, `content.startswith(...)`,
  `content == ''`, `if content`, `content | length`, a test such as `is string`) is answered from the
  real text and recorded as a *guard*: the recipe, the question and the answer;
- anything else (iterating a text, indexing it, hashing it, `tojson` of it, formatting it, a filter
  or test that could read it in a way not listed here) raises `Unsafe`, a BaseException no template
  code can catch, and the shape is rendered the plain way.

`Traced` is not a `str`, so C code that reads string data directly (`str.join`, the JSON encoder,
`str.__contains__` with a Traced needle) raises TypeError instead of reading it; a probe that raises
anything is dropped. The compiled code's own type checks (`type(x) is str`, `isinstance(x, str)`)
are answered for a Traced as for a str (`_probe_type`, `_probe_isinstance`), so the probe takes the
path a str takes.

A later conversation of the same shape whose texts answer every guard of a plan as the probe's did
takes the same path through the template, making the same operations: its render is the plan's
recipe with its texts. Only the messages' texts vary within a shape: the roles, the keys of each
message, `add_generation_prompt` and the template's variables are the shape; conversations with
tools, documents, other message keys or template variables are rendered the plain way.
tests/test_chat_template_splice.py checks spliced renders against the plain ones on random
conversations for every training and family template.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, NamedTuple, cast

import jinja2
import jinja2.filters
import jinja2.tests
from jinja2.utils import Namespace, _PassArg

from ....compiler.memo import by_identity
from .compiler import SpecializingCodeGenerator, compile_root

__all__ = ["Splicer", "Unsafe"]

#: plans kept for one shape (guards answered differently), and probes that may fail on it
MAX_PLANS = 8
MAX_FAILURES = 8
#: shapes kept for one template
MAX_SHAPES = 1024


class Unsafe(BaseException):
    """The probe met an operation on a message text it does not follow (a BaseException: no
    `except Exception` in Jinja's runtime or the template's code swallows it)."""


class Apply(NamedTuple):
    """`fn(text of recipe, *args)`: a pure str -> str function of a recipe's text."""

    fn: Callable[..., str]
    args: tuple
    recipe: tuple


class Cut(NamedTuple):
    """A character of the template's own output that `Splicer.render` takes out, returning where it stood."""

    character: str


def text_of(recipe: tuple, values: list[str]) -> str:
    """The text a recipe makes from the row's message texts: its items are literal str, the index
    of a message text (int), or an `Apply`."""
    return "".join([item if type(item) is str else values[item] if type(item) is int
                    else item.fn(text_of(item.recipe, values), *item.args) for item in recipe])


#: str methods that make a new str from their object and plain arguments: followed as recipes
TRANSFORMS = frozenset({"strip", "lstrip", "rstrip", "upper", "lower", "title", "capitalize", "casefold",
                        "swapcase", "replace", "removeprefix", "removesuffix", "expandtabs", "zfill",
                        "center", "ljust", "rjust"})
#: str methods that answer a question about their object: guards
QUESTIONS = frozenset({"startswith", "endswith", "find", "rfind", "count", "isdigit", "isalpha", "isalnum",
                       "isspace", "isupper", "islower", "istitle", "isnumeric", "isdecimal", "isascii",
                       "isidentifier", "isprintable"})
#: the types of a guard's arguments and answers (compared by value and type)
_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any) -> bool:
    kind = type(value)
    return kind in _PLAIN or (kind is tuple and all(_plain(v) for v in value))


class Trace:
    """The guards one probe recorded, in order."""

    __slots__ = ("guards",)

    def __init__(self) -> None:
        self.guards: list[tuple[tuple, Callable, tuple, Any]] = []


class Traced:
    """A message text in a probe render: its real text, its recipe and the trace it records into."""

    __slots__ = ("value", "recipe", "trace")

    def __init__(self, value: str, recipe: tuple, trace: Trace):
        self.value, self.recipe, self.trace = value, recipe, trace

    def ask(self, fn: Callable, *args: Any) -> Any:
        """`fn(text, *args)`, answered from the real text and recorded as a guard."""
        if not all(_plain(a) for a in args):
            raise Unsafe(f"{getattr(fn, '__name__', fn)} with a non-plain argument")
        answer = fn(self.value, *args)
        if type(answer) not in _PLAIN:
            raise Unsafe(f"{getattr(fn, '__name__', fn)} answered a {type(answer).__name__}")
        self.trace.guards.append((self.recipe, fn, args, answer))
        return answer

    def apply(self, fn: Callable[..., str], *args: Any) -> "Traced":
        """The text `fn(text, *args)` as a new recipe."""
        if not all(_plain(a) for a in args):
            raise Unsafe(f"{getattr(fn, '__name__', fn)} with a non-plain argument")
        value = fn(self.value, *args)
        if type(value) is not str:
            raise Unsafe(f"{getattr(fn, '__name__', fn)} made a {type(value).__name__}")
        return Traced(value, (Apply(fn, args, self.recipe),), self.trace)

    def concat(self, other: Any, left: bool) -> "Traced":
        """`other + text` (`left`) or `text + other`, of a str or another text of the same probe."""
        if type(other) is str:
            recipe = (other, *self.recipe) if left else (*self.recipe, other)
            return Traced(other + self.value if left else self.value + other, recipe, self.trace)
        if type(other) is Traced and other.trace is self.trace:
            first, second = (other, self) if left else (self, other)
            return Traced(first.value + second.value, first.recipe + second.recipe, self.trace)
        raise Unsafe(f"+ with a {type(other).__name__}")

    def __add__(self, other: Any) -> "Traced":
        return self.concat(other, left=False)

    def __radd__(self, other: Any) -> "Traced":
        return self.concat(other, left=True)

    def __contains__(self, item: Any) -> bool:
        return self.ask(operator.contains, item)

    def __eq__(self, other: Any) -> bool:
        return self.ask(operator.eq, other)

    def __ne__(self, other: Any) -> bool:
        return self.ask(operator.ne, other)

    def __lt__(self, other: Any) -> bool:
        return self.ask(operator.lt, other)

    def __le__(self, other: Any) -> bool:
        return self.ask(operator.le, other)

    def __gt__(self, other: Any) -> bool:
        return self.ask(operator.gt, other)

    def __ge__(self, other: Any) -> bool:
        return self.ask(operator.ge, other)

    def __bool__(self) -> bool:
        return self.ask(operator.truth)

    def __len__(self) -> int:
        return self.ask(len)

    def __getattr__(self, name: str) -> Any:
        if name in TRANSFORMS:
            method = getattr(str, name)
            return lambda *args: self.apply(method, *args)
        if name in QUESTIONS:
            method = getattr(str, name)
            return lambda *args: self.ask(method, *args)
        raise Unsafe(f"the attribute {name!r} of a message text")

    def _unsafe(self, *args: Any) -> Any:
        raise Unsafe("an operation that reads a message text another way")

    # every other way to read the text (iterate, index, hash, convert, format, repeat)
    __hash__ = __iter__ = __reversed__ = __getitem__ = __str__ = __repr__ = __format__ = _unsafe
    __index__ = __int__ = __float__ = __complex__ = __bytes__ = __fspath__ = _unsafe
    __mul__ = __rmul__ = __mod__ = __rmod__ = __sub__ = __rsub__ = __call__ = _unsafe


class _Slot(NamedTuple):
    """A written-out recipe in a probe's parts."""

    recipe: tuple


def _write(value: Any) -> Any:
    """What the tracing root writes: a Traced as its recipe, anything else as `str()` makes it
    (a container holding a Traced reaches `Traced.__repr__`: Unsafe)."""
    if type(value) is Traced:
        return _Slot(value.recipe)
    return str(value)


def _str_join(items: Any) -> Any:
    """Jinja's `~`: a Traced when any item is one."""
    found: Any = ""
    for item in items:
        found = found + (item if type(item) in (str, Traced) else str(item))
    return found


def _probe_type(value: Any) -> type:
    return str if type(value) is Traced else type(value)


def _probe_isinstance(value: Any, kind: Any) -> bool:
    return isinstance("", kind) if type(value) is Traced else isinstance(value, kind)


def _holds_traced(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind is Traced:
        return True
    if depth > 32:
        raise Unsafe("a deep value")
    if kind is dict:
        return any(_holds_traced(k, depth + 1) or _holds_traced(v, depth + 1) for k, v in value.items())
    if kind in (list, tuple):
        return any(_holds_traced(v, depth + 1) for v in value)
    if isinstance(value, Namespace):
        return _holds_traced(dict(object.__getattribute__(value, "_Namespace__attrs")), depth + 1)
    return False


_BUILTIN_FILTERS = {id(f): name for name, f in jinja2.filters.FILTERS.items()}
#: builtin filters that, on a list, tuple or dict, count or pick its items without reading them
_CONTAINER_FILTERS = frozenset({"length", "count", "first", "last", "list", "reverse", "items"})
_BUILTIN_TESTS = {id(t): name for name, t in jinja2.tests.TESTS.items()}


def _filter(fn: Callable) -> Callable:
    """A filter as the probe calls it: plainly when no Traced is among its arguments; on a Traced,
    only the builtin filters followed here."""
    builtin = _BUILTIN_FILTERS.get(id(fn))

    def traced_filter(*args: Any, **kwargs: Any) -> Any:
        if builtin is None and _PassArg.from_obj(fn) is _PassArg.context:
            raise Unsafe("a filter of the template's own that reads the context")
        if not _holds_traced(args) and not _holds_traced(kwargs):
            return fn(*args, **kwargs)
        if builtin in _CONTAINER_FILTERS and type(args[0]) in (list, tuple, dict) and not _holds_traced(args[1:]) \
                and not _holds_traced(kwargs):
            return fn(*args, **kwargs)  # they pick items, never read one
        if builtin is not None and _PassArg.from_obj(fn) is None and args and type(args[0]) is Traced \
                and not _holds_traced(args[1:]) and not _holds_traced(kwargs):
            text: Traced = args[0]
            if builtin == "trim":
                return text.apply(str.strip, *args[1:], *kwargs.values())
            if builtin in ("length", "count"):
                return len(text)
            if builtin == "string":
                return text
            if builtin in ("default", "d"):  # reads only `isinstance(.., Undefined)` and, maybe, truth
                return fn(*args, **kwargs)
        raise Unsafe(f"the filter {builtin or getattr(fn, '__name__', fn)!r} on a message text")

    return traced_filter


def _test(fn: Callable) -> Callable:
    """A test as the probe calls it: a builtin test of a Traced is a guard."""
    builtin = _BUILTIN_TESTS.get(id(fn))

    def traced_test(*args: Any, **kwargs: Any) -> Any:
        if not _holds_traced(args) and not _holds_traced(kwargs):
            return fn(*args, **kwargs)
        if builtin is not None and _PassArg.from_obj(fn) is None and args and type(args[0]) is Traced and not kwargs:
            return args[0].ask(fn, *args[1:])
        raise Unsafe(f"the test {builtin or getattr(fn, '__name__', fn)!r} on a message text")

    return traced_test


class _ProbeEnvironment:
    """What the tracing root calls `environment`: the template's environment, with its filters and
    tests wrapped, and attribute and item lookups on a Traced followed or refused."""

    def __init__(self, env: jinja2.Environment):
        self._env = env
        self.filters = {name: _filter(f) for name, f in env.filters.items()}
        self.tests = {name: _test(cast(Callable, t)) for name, t in env.tests.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._env, name)

    def getattr(self, obj: Any, attribute: Any) -> Any:
        """A str method of a Traced (as `Traced.__getattr__` follows it), else the environment's."""
        if type(obj) is Traced:  # its str methods only, never its own attributes
            if attribute in TRANSFORMS or attribute in QUESTIONS:
                return getattr(obj, attribute)
            raise Unsafe(f"the attribute {attribute!r} of a message text")
        if type(attribute) is Traced:
            raise Unsafe("a lookup by a message text")
        return self._env.getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Indexing by or into a Traced is refused; anything else is the environment's."""
        if type(obj) is Traced or type(argument) is Traced:
            raise Unsafe("indexing by or into a message text")
        return self._env.getitem(obj, argument)


class _TracingGenerator(SpecializingCodeGenerator):
    """The compiled root, writing each output through `_write` and returning the parts."""

    RETURN = "return _o"

    def _output_child_pre(self, node: Any, frame: Any, finalize: Any) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape or finalize.src is not None:
            raise jinja2.exceptions.TemplateRuntimeError("not traced")  # never in transformers' environment
        self.write("_write(")


class Plan(NamedTuple):
    """One path through the template: its guards, the recipe of its render, and the recipe as a
    function (`splice_function`)."""

    guards: tuple
    recipe: tuple
    splice: Callable[[list[str]], tuple[str, list[tuple[str, int]]]]

    def answers(self, values: list[str]) -> bool:
        """Whether these texts answer every guard as the probe's did."""
        for recipe, fn, args, answer in self.guards:
            text = values[recipe[0]] if len(recipe) == 1 and type(recipe[0]) is int else text_of(recipe, values)
            found = fn(text, *args)
            if found != answer or type(found) is not type(answer):
                return False
        return True


def splice_function(recipe: tuple) -> Callable[[list[str]], tuple[str, list[tuple[str, int]]]]:
    """`splice(values) -> (text, cuts)` for a plan's recipe, written as one Python function: the
    text with its `Cut`s taken out, and (character, position) for each. Equal to walking the
    recipe item by item (tests/test_chat_template_splice.py), without the walk per row."""
    names: dict[str, Any] = {"text_of": text_of}
    lines, pieces, length = [], [], ["0"]
    cuts = []
    for k, item in enumerate(recipe):
        kind = type(item)
        if kind is Cut:
            cuts.append(f"({item.character!r}, {' + '.join(length)})")
            continue
        if kind is str:
            pieces.append(repr(item))
            length.append(str(len(item)))
            continue
        name = f"t{k}"
        if kind is int:
            lines.append(f"{name} = values[{item}]")
        else:
            names[f"f{k}"], names[f"a{k}"], names[f"r{k}"] = item.fn, item.args, item.recipe
            single = len(item.recipe) == 1 and type(item.recipe[0]) is int  # a transformed text, the usual
            argument = f"values[{item.recipe[0]}]" if single else f"text_of(r{k}, values)"
            lines.append(f"{name} = f{k}({argument}, *a{k})")
        pieces.append(name)
        length.append(f"len({name})")
    joined = f"({', '.join(pieces)},)" if pieces else "()"
    body = "\n    ".join(lines + [f"return ''.join({joined}), [{', '.join(cuts)}]"])
    exec(f"def splice(values):\n    {body}\n", names)  # noqa: S102 - our own code, from literals and indices
    return names["splice"]


class Splicer:
    """Renders of one compiled template (`variables`: its fixed names, as the plain render has
    them) by plans made once per shape; `render` returns None where the plain render must be used
    (and for texts holding a character of `refuse`)."""

    def __init__(self, template: jinja2.Template, source: str, variables: dict, cut: tuple[str, ...] = ()):
        self.template, self.source, self.variables = template, source, variables
        self.cut = cut  # the caller's marker characters: cut from the template's text, refused in the data
        assert not any(character.isascii() for character in cut), "cut characters are not ASCII (render's check)"
        self._root: Any = None
        self._shapes: dict[tuple, list] = {}
        self._failures: dict[tuple, int] = {}

    def render(self, messages: list, add_generation_prompt: bool) -> tuple[str, list[tuple[str, int]]] | None:
        """The render of `messages` (a list of {"role", "content"} dicts of str) and where each
        `cut` character of the template's text stood (taken out), or None."""
        shape: list[Any] = [add_generation_prompt]
        values = []
        for message in messages:
            if type(message) is not dict or len(message) != 2:
                return None
            (first, role), (second, content) = message.items()
            if first != "role" or second != "content" or type(role) is not str or type(content) is not str:
                return None
            if not content.isascii():  # (the cut characters are not ASCII)
                for character in self.cut:
                    if character in content:
                        return None
            shape.append(role)
            values.append(content)
        key = tuple(shape)
        plans = self._shapes.get(key)
        if plans is not None:
            for plan in plans:
                if plan.answers(values):
                    return plan.splice(values)
        plan = self._probe(key, values)
        return None if plan is None else plan.splice(values)

    def _probe(self, key: tuple, values: list[str]) -> Plan | None:
        plans = self._shapes.get(key)
        if (plans is not None and len(plans) >= MAX_PLANS) or self._failures.get(key, 0) >= MAX_FAILURES \
                or (plans is None and len(self._shapes) >= MAX_SHAPES):
            return None
        plan = self._trace(key, values)
        if plan is None:
            self._failures[key] = self._failures.get(key, 0) + 1
            return None
        self._shapes.setdefault(key, []).append(plan)
        return plan

    def _trace(self, key: tuple, values: list[str]) -> Plan | None:
        """The plan of one probe render, or None when it cannot be followed."""
        root = self._tracing_root()
        if root is None:
            return None
        trace = Trace()
        messages = [{"role": role, "content": Traced(text, (k,), trace)} for k, (role, text)
                    in enumerate(zip(key[1:], values))]
        context = dict(self.template.globals, **self.variables)
        context.update(messages=messages, tools=None, documents=None, add_generation_prompt=key[0])
        try:
            parts = root(context)
        except Unsafe:
            return None
        except Exception:  # noqa: BLE001 (the plain render raises it again, or bails out to Jinja)
            return None
        recipe: list[Any] = []
        for part in parts:
            for item in part.recipe if type(part) is _Slot else (part,):
                if type(item) is not str:
                    recipe.append(item)
                    continue
                for piece in self._cut_at(item):
                    if type(piece) is str and recipe and type(recipe[-1]) is str:
                        recipe[-1] += piece
                    elif piece != "":
                        recipe.append(piece)
        return Plan(tuple(trace.guards), tuple(recipe), splice_function(tuple(recipe)))

    def _cut_at(self, text: str) -> list[Any]:
        """`text` as literal pieces and a `Cut` for each `cut` character in it."""
        pieces: list[Any] = [text]
        for character in self.cut:
            split: list[Any] = []
            for piece in pieces:
                if type(piece) is str and character in piece:
                    for k, part in enumerate(piece.split(character)):
                        split += [Cut(character), part] if k else [part]
                else:
                    split.append(piece)
            pieces = split
        return pieces

    def _tracing_root(self) -> Any:
        if self._root is None:
            self._root = _tracing_root(self.template, self.source) or False
        return self._root or None


def _make_tracing_root(template: jinja2.Template, source: str) -> Any:
    """The tracing variant of a template's compiled root, or None (the compiler does not take it)."""
    compiled = compile_root(template, source, _TracingGenerator, environment=_ProbeEnvironment(template.environment),
                            names={"_write": _write, "str_join": _str_join, "type": _probe_type,
                                   "isinstance": _probe_isinstance})
    return None if compiled is None else compiled[0]


#: one tracing root per compiled template (a Jinja template is shared by every ChatTemplate of its source)
_tracing_root = by_identity(_make_tracing_root, limit=256)
