"""The per-row function: one data row to one training line, in any process.

`RowFunction` holds only what names the work (the prompt file, the format, the datasets, the
target, the options) and loads the rest on its first call in each process, so it pickles small
and the same object serves `build(..., workers=N)`, `datasets.Dataset.map(num_proc=N)`, Ray Data's
`map_batches` or Spark's `mapInPandas`:

    >>> fn = polyprompt.dataset.row_fn("triage.prompt", "openai-sft")
    >>> data = datasets.load_dataset("json", data_files="tickets.jsonl", split="train")
    >>> lines = data.map(fn, num_proc=8, remove_columns=data.column_names)

Each call returns the columns `line` (the line as JSON text, or None), `split`, `field` and
`problem` (why the row was not written, or None): a bad row is a row with a problem, never an
exception and never a row dropped. `where` and `limit` are the caller's (`build` applies them).
"""
from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from ..compiler.runtime import copy_json
from .align import RowProblem, Task
from .writers import line_text

if TYPE_CHECKING:
    from ..compiler.inputs import InputError
    from ..session.compiled import CompileError


class RowFunction:
    """A row to a line for one dataset of a prompt file (picklable; loads lazily per process)."""

    def __init__(self, prompt_file: str, format: str, dataset: Any = None, target: str | None = None,
                 train_on: str = "last", tag: bool = False, max_length: int | None = None, truncate: bool = False):
        self.args = (str(prompt_file), format, dataset, target, train_on, tag, max_length, truncate)
        self._state: tuple[Any, Any, str, Any, list[Task]] | None = None
        self._outputs: dict[str, tuple[Any]] = {}
        self._fast: dict[str, Any] = {}  # task name -> LoweredTurns, or False
        self._renderers: dict[str, Any] = {}  # task name -> (generated path, its renderer, the output)

    @classmethod
    def loaded(cls, pf: Any, fmt: Any, target: str, options: Any, tasks: list[Task], tag: bool) -> "RowFunction":
        """A row function over an already loaded file and tasks (what `build` runs in its own process)."""
        fn = cls(pf.path, fmt.name, None, target, options.train_on, tag, options.max_length, options.truncate)
        fn.args = (pf.path, fmt.name, [t.name for t in tasks], target, options.train_on, tag, options.max_length,
                   options.truncate)
        fn._state = (pf, fmt, target, options, tasks)
        return fn

    def __getstate__(self) -> dict:
        return {"args": self.args}

    def __setstate__(self, state: dict) -> None:
        self.args, self._state, self._outputs, self._fast, self._renderers = state["args"], None, {}, {}, {}

    def __call__(self, row: dict) -> dict:
        """The columns of one row's outcome (for `datasets.Dataset.map` and its like)."""
        from . import splits

        task = self.state[4][0]
        row = row if type(row) is dict else dict(row)  # datasets passes a lazy mapping, Spark a Row
        try:
            line = self.line(task, row)
        except RowProblem as problem:
            return {"line": None, "split": None, "field": problem.field, "problem": problem.reason}
        return {"line": line_text(line),
                "split": splits.split_of(splits.row_key(row), task.splits, task.seed), "field": None, "problem": None}

    @property
    def state(self) -> tuple[Any, Any, str, Any, list[Task]]:
        """(prompt file, format, target, options, tasks), loaded on first use in this process."""
        if self._state is None:
            from ..session.prompt_file import load
            from . import formats
            from .tasks import tasks_of

            path, fmt_name, name, target, train_on, _tag, max_length, truncate = self.args
            pf = load(path)
            fmt = formats.get(fmt_name)
            tasks = tasks_of(pf, name if isinstance(name, list) else [name] if name else None)
            self._state = (pf, fmt, target or fmt.target, formats.Options(train_on, max_length, truncate), tasks)
        return self._state

    def _output(self, task: Task, compiled: Any) -> Any:
        """The prompt's lowered output for the target: the same for every row, so it is read
        once (reading `compiled.request` makes a compile served by the generated renderer whole)."""
        found = self._outputs.get(task.name)
        if found is None:
            found = self._outputs[task.name] = (compiled.request.output,)
        return found[0]

    def _rendered(self, task: Task, pf: Any, target: str, values: dict) -> "RenderedRow | None":
        """The row's body from the prompt's generated renderer, when compiles for the target are
        served by it (after the first row's compile): its messages rendered from the checked
        inputs, the other fields shared with every row (what `compile` would copy per row). None:
        compile the row."""
        fast = self._renderers.get(task.name)
        if fast is None:  # asked until the first row's compile made the path; kept from then on
            path = pf.generated(target, task.prompt.name)
            if path is None or task.name not in self._outputs:
                return None
            # the same renderer as the path's: a prompt the path serves has no `cache` statement
            fast = self._renderers[task.name] = (path, pf.text_turns(target, task.prompt.name)[0],
                                                 self._outputs[task.name][0])
        path, render, output = fast
        messages = render(values)
        if messages is None:
            return None
        return RenderedRow(messages, path, output, values)

    def _turns(self, task: Task, pf: Any, target: str, values: dict) -> Any:
        """The task's lowered turns (dataset/turns.py), decided on its first row; False when its
        rows go through the passes."""
        found = self._fast.get(task.name)
        if found is None:
            from .turns import LATER, LoweredTurns

            found = LoweredTurns.build(pf, target, task.prompt.name, values)
            if found == LATER:
                return False  # asked again on the next row
            self._fast[task.name] = found = found or False
        return found

    def line(self, task: Task, row: dict) -> dict:
        """The line of one row of `task`; RowProblem when the row does not fit."""
        pf, fmt, target, options, _tasks = self.state
        input_error, compile_error = _errors()
        example = task.example(row, tool_calls=True)
        try:
            view: Any
            if fmt.needs_body:
                view = self._rendered(task, pf, target, example.inputs)
                if view is None:
                    compiled = pf.compile(target, example.inputs, prompt=task.prompt.name)
                    view = CompiledRow(compiled, self._output(task, compiled))
            else:
                fast = self._turns(task, pf, target, example.inputs)
                view = fast.row(example.inputs) if fast else None
                if view is None:
                    request, _report = pf.lower(target, example.inputs, prompt=task.prompt.name)
                    view = LoweredRow(request, pf.backend(target))
        except input_error as err:
            raise RowProblem(err.problems[0].path if err.problems else "inputs", str(err)) from None
        except compile_error as err:
            raise RowProblem("target", "; ".join(d.message for d in err.diagnostics)) from None
        line = fmt.line(example, view, options)
        found = fmt.problems(line)
        if found:
            raise RowProblem("line", f"the {fmt.name} line would be invalid: {'; '.join(found)}")
        if self.args[5] and fmt.extra_keys:
            line["task"] = task.name
        return line


@cache
def _errors() -> tuple[type[InputError], type[CompileError]]:
    """(InputError, CompileError): imported on first use (the session is a layer above the formats'
    modules), once, not per row."""
    from ..compiler.inputs import InputError
    from ..session.compiled import CompileError

    return InputError, CompileError


def row_fn(prompt_file: str, format: str, dataset: str | None = None, target: str | None = None,
           train_on: str = "last", max_length: int | None = None, truncate: bool = False) -> RowFunction:
    """The per-row function of one dataset of a prompt file (the first one by default), for
    running the row work on another engine (`datasets.Dataset.map`, Ray, Spark)."""
    return RowFunction(prompt_file, format, dataset, target, train_on, False, max_length, truncate)


class CompiledRow:
    """What a format reads of one row's compile: the body and backend, the target's lowered
    output (shared by every row), and the lowered request when a format needs it."""

    __slots__ = ("compiled", "output")

    def __init__(self, compiled: Any, output: Any):
        self.compiled, self.output = compiled, output

    @property
    def body(self) -> dict:
        """The request body."""
        return self.compiled.body

    @property
    def backend(self) -> Any:
        """The target's backend."""
        return self.compiled.backend

    @property
    def request(self) -> Any:
        """The lowered IR request (a whole compile, when the generated renderer served this one)."""
        return self.compiled.request


class RenderedRow:
    """A row's compile from the generated renderer: the rendered messages in a body whose other
    fields are those every compile of the prompt shares (read only; `tools` copied: a line keeps them)."""

    __slots__ = ("messages", "path", "output", "values", "_request", "_body")

    def __init__(self, messages: list, path: Any, output: Any, values: dict):
        self.messages, self.path, self.output, self.values = messages, path, output, values
        self._request: Any = None
        self._body: dict | None = None

    @property
    def body(self) -> dict:
        """The request body (made on first read)."""
        if self._body is None:
            body = self._body = dict(self.path.body)
            body["messages"] = self.messages
            if "tools" in body:
                body["tools"] = copy_json(body["tools"])
        return self._body

    @property
    def backend(self) -> Any:
        """The target's backend."""
        return self.path.first.backend

    @property
    def request(self) -> Any:
        """The lowered IR request: the row compiled through the passes (on first read)."""
        if self._request is None:
            self._request = self.path.full(self.values).request
        return self._request


class LoweredRow:
    """What a format that needs no body reads of one row: the lowered request and the backend."""

    __slots__ = ("request", "backend")

    def __init__(self, request: Any, backend: Any):
        self.request, self.backend = request, backend

    @property
    def output(self) -> Any:
        """The target's lowered output."""
        return self.request.output


def outcome(fn: RowFunction, task_index: int, row: dict) -> tuple:
    """("line", line) or ("problem", field, reason) for one row of the task at `task_index`:
    what a worker process sends back to `build`."""
    try:
        return ("line", fn.line(fn.state[4][task_index], row))
    except RowProblem as problem:
        return ("problem", problem.field, problem.reason)
