"""Data alignment: a `dataset` declaration (or its command-line form) applied to one row.

A `Task` holds what a `dataset` block says, compiled once: each binding (`param = row.field`)
as a function of the row, the `where` condition, `limit`, the splits and their seed, the weight.
`Task.example(row)` gives the row's `Example`: the prompt's inputs, checked against the
parameter types, and the answer(s) to train on, checked against the output type; a row that
does not fit raises `RowProblem` naming the field and the reason.
"""
from __future__ import annotations

from typing import Any, Callable

import attrs

from ..compiler import ast
from ..compiler.check.decls import DATASET_ANSWERS
from ..compiler.inputs import InputError, _lone_surrogates  # the inputs' own check of JSON text
from ..compiler.replies import ReplyError, typed_value
from .answers import ToolCalls, is_tool_call, tool_calls


class RowProblem(ValueError):
    """A row that cannot become a training example: the field (an input or an answer) and why."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@attrs.frozen
class Example:
    """One training example: the prompt's checked inputs and the answers to train on (`output`,
    or `chosen` and `rejected` for a preference pair; None when not bound)."""
    inputs: dict[str, Any]
    output: Any = None
    chosen: Any = None
    rejected: Any = None
    has_output: bool = False


@attrs.define
class Task:
    """A `dataset` block, compiled: what turns a row into an `Example`."""

    name: str
    prompt: Any                 # the compiled prompt (compiler.render.CompiledPrompt)
    source: str                 # the data path as written
    bindings: dict[str, Callable[[dict], Any]]
    answers: dict[str, Callable[[dict], Any]]
    where: Callable[[dict], Any] | None = None
    limit: int | None = None
    splits: tuple[tuple[str, float], ...] = ()
    seed: int = 0
    weight: float = 1.0
    teacher: str | None = None
    check_inputs: Callable[[Any, dict], dict] | None = None
    coerce_text: bool = False   # CSV/TSV cells are text: "4" may fill an `int` parameter
    #: binding name -> the column it reads when it is plainly `row.column` (to name a missing one)
    columns: dict[str, str] = attrs.Factory(dict)
    #: (type, value) of scalar answers already checked against the output type (labels repeat:
    #: the schema check runs once per distinct label)
    fitting: set = attrs.Factory(set)
    #: whether the prompt's answer is plain text (None until the first row asks)
    text_output: bool | None = None

    @property
    def is_preference(self) -> bool:
        """Whether the task binds a preference pair (`chosen` and `rejected`)."""
        return "chosen" in self.answers

    def keeps(self, row: dict) -> bool:
        """Whether the `where` condition holds for the row (always, without one)."""
        if self.where is None:
            return True
        try:
            return bool(self.where({"row": row}))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as err:
            raise RowProblem("where", f"cannot be evaluated ({err})") from None

    def example(self, row: dict, tool_calls: bool = False) -> Example:
        """The row as a training example; RowProblem when it does not fit the prompt's types. With
        `tool_calls` (the dataset formats), an answer shaped as a tool call that is not a value of the
        output type is an `answers.ToolCalls`; other readers of the rows (evaluation) take values only."""
        env = {"row": row}
        inputs = self._checked(self._values(self.bindings, env))
        answers = {name: self._answer(name, value, tool_calls)
                   for name, value in self._values(self.answers, env).items()}
        return Example(inputs, answers.get("output"), answers.get("chosen"), answers.get("rejected"),
                       has_output="output" in answers)

    def _values(self, fns: dict[str, Callable[[dict], Any]], env: dict) -> dict[str, Any]:
        """The bindings' values for the row: at once when every one evaluates to a value, else one
        by one, to name the binding that fails or the column the row lacks."""
        try:
            found = {name: fn(env) for name, fn in fns.items()}
        except _EVALUATION_ERRORS:
            found = None
        if found is None or None in found.values():
            found = {name: self._value(name, fn, env) for name, fn in fns.items()}
        return found

    def _value(self, name: str, fn: Callable[[dict], Any], env: dict) -> Any:
        """A binding's value for the row; RowProblem naming the column when the row lacks it."""
        value = _evaluate(fn, env, name)
        column = self.columns.get(name)
        if value is None and column is not None and column not in env["row"]:
            from ..compiler.check.names import suggest

            hint = suggest(column, env["row"])
            raise RowProblem(name, f"the row has no column `{column}`" + (f" ({hint})" if hint else ""))
        return value

    def _checked(self, raw: dict) -> dict:
        """The inputs checked against the parameter types. CSV cells are text: a cell that fails
        the check is read as JSON once more (`"4"` fills an `int`; `"007"` stays text for a `str`)."""
        if self.check_inputs is None:
            return raw
        try:
            return self.check_inputs(self.prompt, raw)
        except InputError as err:
            failed = {p.path.split(".")[0].split("[")[0] for p in err.problems}
            retry = {k: _parse_cell(v) if k in failed and isinstance(v, str) else v for k, v in raw.items()}
            if not self.coerce_text or retry == raw:
                raise _row_problem(err) from None
        try:
            return self.check_inputs(self.prompt, retry)
        except InputError as err:
            raise _row_problem(err) from None

    def _answer(self, name: str, value: Any, calls_ok: bool = False) -> Any:
        _sound(name, value)
        output = self.prompt.output
        if self.text_output is None:  # the same for every row: asked once
            self.text_output = output is None or output.is_text
        if self.text_output:
            if calls_ok and self.coerce_text and type(value) is str and value.startswith(("{", "[")):
                value = _call_cell(value)  # a CSV cell holding a call's JSON
            if not isinstance(value, str):
                calls = _calls(name, value) if calls_ok else None
                if calls is None:
                    what = "text or a tool call" if calls_ok else "text"
                    raise RowProblem(name, f"the answer must be {what}, got {_json_kind(value)}")
                return calls
            return value
        if self.coerce_text and isinstance(value, str):
            value = _parse_cell(value)
        scalar = type(value) in _SCALARS
        if scalar and (type(value), value) in self.fitting:
            return value
        try:
            found = typed_value(value, output)
        except ReplyError as err:
            # not a value of the output type: a tool call, when shaped as one
            calls = _calls(name, value) if calls_ok else None
            if calls is None:
                raise RowProblem(name, str(err).replace("the reply does not match", "not a value of")) from None
            return calls
        if scalar and found is value and len(self.fitting) < _FITTING:
            self.fitting.add((type(value), value))
        return found


def _sound(name: str, value: Any) -> None:
    """RowProblem for an answer no file or tokenizer can carry: text holding half a surrogate pair
    (a JSON `\\ud800` escape alone), data nested deeper than the inputs may be (`MAX_DEPTH`)."""
    if value.isascii() if type(value) is str else type(value) in _SCALARS:
        return
    problems: list = []
    _lone_surrogates(value, name, problems)
    if problems:
        raise RowProblem(problems[0].path, problems[0].message)


def _call_cell(text: str) -> Any:
    """A text cell's JSON when it is shaped as a tool call, else the text itself."""
    parsed = _parse_cell(text)
    return parsed if is_tool_call(parsed) else text


def _calls(name: str, value: Any) -> ToolCalls | None:
    """The tool calls an answer holds when it is shaped as calls, else None (their tools and
    arguments are checked against the tools the prompt offers when the row is compiled)."""
    if not is_tool_call(value):
        return None
    try:
        calls = tool_calls(value)
    except ValueError as err:
        path, reason = err.args
        raise RowProblem(name + path, reason) from None
    for i, (_tool, arguments, _id) in enumerate(calls):  # arguments read from JSON text are new values
        _sound(f"{name}[{i}].arguments" if len(calls) > 1 else f"{name}.arguments", arguments)
    return calls


#: answer types whose check depends on the value alone (hashable, never changed)
_SCALARS = frozenset({str, int, float, bool})
#: distinct answers remembered as fitting, at most
_FITTING = 4096


#: what evaluating a binding on a row that does not fit it raises
_EVALUATION_ERRORS = (TypeError, ValueError, KeyError, IndexError, AttributeError)


def _evaluate(fn: Callable[[dict], Any], env: dict, name: str) -> Any:
    try:
        return fn(env)
    except _EVALUATION_ERRORS as err:
        raise RowProblem(name, f"cannot be evaluated ({err})") from None


def _row_problem(err: InputError) -> RowProblem:
    first = err.problems[0]
    more = f" (and {len(err.problems) - 1} more)" if len(err.problems) > 1 else ""
    return RowProblem(first.path, first.message + more)


def _parse_cell(value: str) -> Any:
    import json

    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return parsed if not isinstance(parsed, float) or parsed == parsed and abs(parsed) != float("inf") else value


def _json_kind(value: Any) -> str:
    return {dict: "an object", list: "an array", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def task_of(decl: ast.DatasetDecl, prompt: Any, statics: Any, check_inputs, coerce_text: bool = False) -> Task:
    """The `Task` of a checked `dataset` declaration."""
    from ..compiler.codegen import compile_expression

    def fn(expr):
        return compile_expression(expr, statics, {"row": None})

    bindings: dict[str, Callable] = {}
    answers: dict[str, Callable] = {}
    task = Task(decl.title or decl.prompt.name, prompt, decl.source, bindings, answers, check_inputs=check_inputs,
                coerce_text=coerce_text)
    for item in decl.items:
        if isinstance(item, ast.Binding):
            (answers if item.name.name in DATASET_ANSWERS else bindings)[item.name.name] = fn(item.value)
            if isinstance(item.value, ast.GetAttr) and isinstance(item.value.obj, ast.Name) and item.value.obj.name == "row":
                task.columns[item.name.name] = item.value.attr.name
        elif isinstance(item, ast.Where):
            task.where = fn(item.expr)
        elif isinstance(item, ast.Limit):
            task.limit = item.count
        elif isinstance(item, ast.Split):
            task.splits += ((item.name.name, item.percent),)
            if item.seed is not None and task.seed == 0:
                task.seed = item.seed
        elif isinstance(item, ast.Weight):
            task.weight = item.value
        elif isinstance(item, ast.Teacher):
            task.teacher = item.target
    return task
