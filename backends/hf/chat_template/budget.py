"""A time and memory budget for untrusted chat templates (a model folder's or a GGUF file's).

A chat template is a program: `range` nested in `range`, `lipsum(10**6)`, `'{:99999999}'.format(1)`,
`'%99999999d' % 1`, `'x' * 10**10`, a string doubled forty times with `~`... each runs for minutes or
takes all memory, and probing renders a template dozens of times. The sandboxed environment
(jinja_fast.FastSandboxedEnvironment) routes the operations that can grow without bound through
the checks below, in both renderers (Jinja's generated code and compiler.py's function):

- loops and `range()` spend steps: a sized iterable its length when the loop starts, any other
  one step per item; `join` spends one step per item;
- a string or list that an operation makes (`*`, `~`, `+`, `%`, `format`, `join`, `replace`,
  `center`...) is checked against `Limits.text` *before* it is made, format widths and
  precisions against `Limits.width`;
- the text a render writes is counted against `Limits.output`;
- every spend looks at the clock: a render past `Limits.seconds` stops, and so does any render
  once an enclosing `deadline()` (probing: all the renders of one template) has passed.

Going over a limit raises `BudgetError`, which names the limit; no thread is killed, nothing is
left running. The built-in families' templates are trusted and rendered without these checks.
"""
from __future__ import annotations

import math
import re
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter
from typing import Any, Iterable, Iterator

__all__ = ["BudgetError", "Limits", "Budget", "current", "deadline", "spend_on", "LIMITS"]


class BudgetError(Exception):
    """A chat template went over its render budget; the message names the limit."""


@dataclass(frozen=True)
class Limits:
    """What one render of an untrusted template may spend."""

    steps: int = 2_000_000  # loop iterations, range() items, join() items
    text: int = 16_000_000  # characters of one string an operation makes (items of one list)
    output: int = 64_000_000  # characters a render writes in all
    width: int = 10_000  # a format width or precision
    seconds: float = 5.0  # wall time of one render
    lipsum: int = 100  # lipsum() paragraphs and words per paragraph bound


LIMITS = Limits()
#: What the checks below stop the `format` of: a width or a precision, in `%` and `{}` specs.
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class Budget:
    """The spending of one render."""

    def __init__(self, limits: Limits | None = None, until: float | None = None):
        self.limits = limits = limits or LIMITS
        self.steps = 0
        self.output = 0
        self.started = time.monotonic()
        own = self.started + limits.seconds
        self.until = own if until is None else min(own, until)

    def spend(self, steps: int) -> None:
        """Count `steps` and look at the clock."""
        self.steps += steps
        if self.steps > self.limits.steps:
            raise BudgetError(f"more than {self.limits.steps:,} loop iterations")
        if time.monotonic() > self.until:
            raise BudgetError(f"more than {self.limits.seconds:g} seconds")

    def text(self, size: int, what: str) -> None:
        """A string or list of `size` items is about to be made by `what`."""
        if size > self.limits.text:
            raise BudgetError(f"{what} would make {size:,} characters (items), more than {self.limits.text:,}")

    def width(self, value: Any, what: str) -> None:
        """A format width or precision."""
        if isinstance(value, int) and abs(value) > self.limits.width:
            raise BudgetError(f"{what}: a width or precision of {value:,}, more than {self.limits.width:,}")

    def write(self, size: int) -> None:
        """The render writes `size` more characters."""
        self.output += size
        if self.output > self.limits.output:
            raise BudgetError(f"an output of more than {self.limits.output:,} characters")


_CURRENT: ContextVar[Budget | None] = ContextVar("chat_template_budget", default=None)
_DEADLINE: ContextVar[float | None] = ContextVar("chat_template_deadline", default=None)


def current() -> Budget:
    """The budget of the render under way (a fresh one outside a render: compile-time folding)."""
    budget = _CURRENT.get()
    return budget if budget is not None else Budget(until=_DEADLINE.get())


def spend_on(render: Any, *args: Any, limits: Limits | None = None) -> Any:
    """`render(*args)` under a fresh budget, `LIMITS` by default (within any enclosing `deadline`);
    running out of stack or memory is a BudgetError too."""
    token = _CURRENT.set(Budget(limits or LIMITS, _DEADLINE.get()))
    try:
        return render(*args)
    except RecursionError:
        raise BudgetError("more nesting than Python's recursion limit (a macro calling itself?)") from None
    except MemoryError:
        raise BudgetError("more memory than there is") from None
    finally:
        _CURRENT.reset(token)


@contextmanager
def deadline(seconds: float):
    """All the renders inside the `with` block stop once `seconds` have passed (probing)."""
    until = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(until if outer is None else min(outer, until))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


# -- the checked operations the sandboxed code generator writes -----------------------------------

def loop(iterable: Any) -> Any:
    """A loop's iterable: a small sized one is paid for at once and returned as it is (so the fast
    paths that list it still apply); a large or unsized one is paid item by item."""
    budget = current()
    try:
        size = len(iterable)
    except TypeError:  # a generator, an undefined value...: paid as it goes
        return _paid(iterable, budget) if hasattr(iterable, "__iter__") else iterable
    if size <= 1000:
        budget.spend(size)
        return iterable
    return _paid(iterable, budget)


def _paid(iterable: Iterable, budget: Budget) -> Iterator:
    for item in iterable:
        budget.spend(1)
        yield item


def safe_range(*args: int) -> range:
    """`range()` paid for by its length (Jinja's sandbox also caps it at 100,000 items)."""
    from jinja2.sandbox import safe_range as jinja_range

    made = jinja_range(*args)
    current().spend(len(made))
    return made


def lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's `lipsum` with its paragraph and word counts bounded."""
    from jinja2.utils import generate_lorem_ipsum

    bound = current().limits.lipsum
    for name, value in (("n", n), ("min", min), ("max", max)):
        if isinstance(value, int) and value > bound:
            raise BudgetError(f"lipsum({name}={value:,}): more than {bound}")
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


#: Strings up to this size are added without looking at the budget (the limit is never below it).
_QUICK = 1 << 20


def add(left: Any, right: Any) -> Any:
    """`left + right`: numbers and short strings at once, longer sequences checked first."""
    kind = type(left)
    if kind is int or kind is float or (kind is str and type(right) is str and len(left) + len(right) <= _QUICK):
        return left + right
    return binop("+", left, right)


def mul(left: Any, right: Any) -> Any:
    """`left * right`: numbers at once, sequence repetition checked first."""
    if type(left) in (int, float) and type(right) in (int, float):
        return left * right
    return binop("*", left, right)


def mod(left: Any, right: Any) -> Any:
    """`left % right`: numbers at once, `%` formatting checked first."""
    if type(left) in (int, float) and type(right) in (int, float):
        return left % right
    return binop("%", left, right)


def power(left: Any, right: Any) -> Any:
    """`left ** right`, refused when the result would have too many digits."""
    return binop("**", left, right)


def binop(operator: str, left: Any, right: Any) -> Any:
    """`left <operator> right` for `*`, `%`, `+` and `**`, refused when the result would be too large."""
    budget = current()
    if operator == "*":
        _repeat(budget, left, right) if isinstance(right, int) else _repeat(budget, right, left)
        return left * right
    if operator == "+":
        if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
            budget.text(len(left) + len(right), "`+`")
        return left + right
    if operator == "%":
        if isinstance(left, str):
            _percent_widths(budget, left, right)
        return left % right
    if operator == "**":
        _power(budget, left, right)
        return left ** right
    raise ValueError(f"no checked operator {operator!r}")


def _repeat(budget: Budget, seq: Any, times: Any) -> None:
    if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
        budget.text(len(seq) * max(times, 0), "`*`")


def _power(budget: Budget, base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1 and exponent > 0:
        if exponent * math.log2(abs(base)) > 64 * budget.limits.width:
            raise BudgetError(f"`**`: {base} ** {exponent:,} has too many digits")


def _percent_widths(budget: Budget, spec: str, args: Any) -> None:
    """`'%99999999d' % x`: the widths and precisions written in the spec, and those given by `*`."""
    starred = False
    for match in _PERCENT_SPEC.finditer(spec):
        for value in match.groups():
            if value == "*":
                starred = True
            elif value:
                budget.width(int(value), "`%` formatting")
    if starred:
        for value in args if isinstance(args, tuple) else (args,):
            budget.width(value, "`%` formatting")


def format_spec_widths(budget: Budget, template: str, args: tuple, kwargs: dict) -> None:
    """`'{:99999999}'.format(x)`: the widths in each field's spec; a spec that takes a width from
    the arguments (`{:{w}}`) has every int argument checked."""
    for _, _, spec, _ in Formatter().parse(template):
        if not spec:
            continue
        if "{" in spec:
            for value in (*args, *kwargs.values()):
                budget.width(value, "`format`")
            format_spec_widths(budget, spec, args, kwargs)
            continue
        for digits in _DIGITS.findall(spec):
            budget.width(int(digits), "`format`")


def concat(values: tuple) -> str:
    """`a ~ b ~ ...`, refused when the result would be too large."""
    strings = [v if type(v) is str else str(v) for v in values]
    size = sum(map(len, strings))
    if size > _QUICK:
        current().text(size, "`~`")
    return "".join(strings)


def output(out: list):
    """The `append` of a compiled render's output list, counting what is written."""
    budget = current()
    append = out.append
    left = budget.limits.output - budget.output

    def write(text: Any) -> None:
        nonlocal left
        left -= len(text)
        if left < 0:
            budget.write(budget.limits.output + 1)  # raises, naming the limit
        append(text)

    return write


def written(chunks: Iterable[str]) -> str:
    """The text of a Jinja render's output stream, counted as it comes."""
    budget = current()
    out = []
    for chunk in chunks:
        budget.write(len(chunk))
        out.append(chunk)
    return "".join(out)


def str_method(obj: str, name: str, args: tuple, kwargs: dict) -> None:
    """Check the str methods whose result can outgrow their object (before they are called)."""
    budget = current()
    if name in ("center", "ljust", "rjust", "zfill") and args:
        budget.text(args[0] if isinstance(args[0], int) else 0, f"`{name}`")
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        budget.text(obj.count("\t") * (size if isinstance(size, int) else 0) + len(obj), "`expandtabs`")
    elif name == "join" and args:
        join(obj, args[0])
    elif name == "replace" and len(args) >= 2:
        replace(obj, args[0], args[1])


def join(separator: Any, items: Any) -> list:
    """Pay for joining `items` with `separator`; the items as a list (they may be a generator)."""
    budget = current()
    listed = list(_paid(items, budget)) if not isinstance(items, (list, tuple, str, range)) else items
    budget.spend(len(listed))
    size = sum(len(i) if isinstance(i, str) else len(str(i)) for i in listed)
    budget.text(size + len(str(separator)) * max(len(listed) - 1, 0), "`join`")
    return list(listed)


def replace(text: Any, old: Any, new: Any) -> None:
    """Pay for `text.replace(old, new)`."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        count = text.count(old) if old else len(text) + 1
        current().text(len(text) + count * (len(new) - len(old)), "`replace`")


# -- the environment's filters and globals that can grow without bound ----------------------------

def guard(env: Any) -> None:
    """Replace `env`'s unbounded globals and filters by checked ones (a sandboxed environment)."""
    import functools

    import jinja2.filters as F

    env.globals["range"] = safe_range
    env.globals["lipsum"] = lipsum

    from jinja2.utils import _PassArg

    def checked(filter_func, check):
        passed = _PassArg.from_obj(filter_func) is not None  # a first argument the check does not take

        @functools.wraps(filter_func)
        def run(*args: Any, **kwargs: Any) -> Any:
            check(*args[passed:], **kwargs)
            return filter_func(*args, **kwargs)
        return run

    def center(value: Any, width: int = 80) -> None:
        current().text(width if isinstance(width, int) else 0, "`center`")

    def indent(s: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
        pad = width if isinstance(width, int) else len(width) if isinstance(width, str) else 0
        current().text(len(str(s)) + pad * (str(s).count("\n") + 1), "`indent`")

    def format_(value: Any, *args: Any, **kwargs: Any) -> None:
        _percent_widths(current(), str(value), tuple(args) or tuple(kwargs.values()))

    def join_(value: Any, d: Any = "", attribute: Any = None) -> None:
        if attribute is None and isinstance(value, (list, tuple, str, range)):
            join(d, value)
        elif hasattr(value, "__len__"):
            current().spend(len(value))

    def replace_(s: Any, old: Any, new: Any, count: Any = None) -> None:
        replace(str(s), str(old), str(new))

    def slice_(value: Any, slices: Any, fill_with: Any = None) -> None:
        if isinstance(slices, int):
            current().spend(max(slices, 0))

    for name, check in (("center", center), ("indent", indent), ("format", format_), ("join", join_),
                        ("replace", replace_), ("slice", slice_)):
        original = env.filters.get(name)
        if original is getattr(F, f"do_{name}", None):
            env.filters[name] = checked(original, check)
    tojson = env.filters.get("tojson")
    if tojson is not None:
        def indent_(x: Any, ensure_ascii: Any = False, indent: Any = None, *args: Any, **kwargs: Any) -> None:
            if isinstance(indent, int):
                current().width(indent * 1000, "`tojson` indent")  # an indent is paid at every nesting level
            elif isinstance(indent, str):
                current().width(len(indent) * 1000, "`tojson` indent")
        env.filters["tojson"] = checked(tojson, indent_)
