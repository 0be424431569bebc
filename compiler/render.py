"""Compile a checked prompt into a renderer: inputs + target -> IR `Request`.

`compile_prompt` compiles the prompt's statements to one generated Python function once
(compiler/codegen/statements.py); `CompiledPrompt.render` runs it with the inputs, writing to a
`RenderState`. Messages come out in source order; consecutive
`tool_call` statements become one assistant turn (parallel calls). A `cache`
statement marks a breakpoint after the message before it; `priority N { }`
tags the messages inside it for budget pruning; `target "x" { }` runs only
for a target named `x` or of family `x`.
"""
from __future__ import annotations

from typing import Any, Callable, cast

import attrs

from . import ast, ir, schema
from . import types as T
from .check.consts import constant_value
from .check.names import ModuleScope, Symbol, TypeResolver
from .conversation import media
from .diagnostics import Sink
from .inline import is_local_path, local_path_message
from .statics import Statics


@attrs.frozen(slots=False)
class TargetInfo:
    """What `target` means inside a prompt: `target.name`, `.family`, `.kind`."""

    name: str
    family: str
    kind: str = "api"
    #: the backend of a declared target (`target fast "openai-chat"` has name `fast`)
    backend: str | None = None

    @property
    def value(self) -> dict:
        """The `target` value a prompt reads: name, family and kind (made once: the target is immutable)."""
        cached = self.__dict__.get("_value")
        if cached is None:
            cached = {"name": self.name, "family": self.family, "kind": self.kind}
            object.__setattr__(self, "_value", cached)
        return cached

    def matches(self, wanted: str) -> bool:
        """`target "x" { }` applies to a target named x, of family x, or declared on backend x."""
        return wanted in (self.name, self.family, self.backend)


class RenderState:
    """What the statements of one render write to (the generated renderer calls these methods)."""

    def __init__(self, target: TargetInfo, prompt: str):
        self.target, self.prompt = target, prompt
        self.messages: list[ir.Message] = []
        self.settings: dict[str, ir.Setting] = {}
        self.model: str | None = None
        self.model_span = None
        self.tools: dict[str, ir.Tool] = {}
        self.budget: int | None = None
        self.priority: int | None = None
        self.tools_cache: str | None = None
        self.calls = 0
        self.open_calls: list[tuple[str, str]] = []  # (tool name, id) not yet answered

    def add(self, message: ir.Message) -> None:
        """A turn, tagged with the priority of the `priority N { }` it is in."""
        if self.priority is not None and message.priority is None:
            message = attrs.evolve(message, priority=self.priority)
        self.messages.append(message)

    def set_model(self, model: str | None, span, settings: dict) -> None:
        """A `model` statement: the model (when named) and its settings."""
        if model is not None:
            self.model, self.model_span = model, span
        self.settings.update(settings)

    def add_tools(self, tools) -> None:
        """A `tools` statement: each tool once, in the order first named."""
        for t in tools:
            self.tools.setdefault(t.name, t)

    def tool_call(self, tool: str, call_id: str | None, arguments: dict, span) -> None:
        """A `tool_call`: consecutive calls are one assistant turn (parallel calls)."""
        cid = call_id if call_id is not None else self._next_id()
        self.open_calls.append((tool, cid))
        part = ir.ToolCall(id=cid, name=tool, arguments=arguments, span=span)
        last = self.messages[-1] if self.messages else None
        if last is not None and last.role == "assistant" and last.parts and all(
                isinstance(p, ir.ToolCall) for p in last.parts) and last.source == "prompt":
            self.messages[-1] = attrs.evolve(last, parts=last.parts + (part,))
        else:
            self.add(ir.Message(role="assistant", parts=(part,), span=span))

    def tool_result(self, tool: str, call_id: str | None, parts: tuple, span) -> None:
        """A `tool_result`: answers the given call, else the oldest open call of that tool."""
        if call_id is not None:
            self.open_calls = [c for c in self.open_calls if c[1] != call_id]
        else:
            call_id = self._answer(tool)
        result = ir.ToolResult(id=call_id, name=tool, content=parts, span=span)
        self.add(ir.Message(role="tool", parts=(result,), span=span))

    def splice(self, history, span) -> None:
        """A `history` statement: the turns of a `messages` input, in any supported shape (compiler/history.py;
        the inputs check read them already, so a problem here is one of inputs that skipped it)."""
        from .history import read

        turns, problems = read(history if history is not None else [], "history", span)
        if problems:
            from .inputs import InputError, InputProblem

            raise InputError(self.prompt, [InputProblem(where, message) for where, message in problems])
        for m in turns:
            self.add(m)

    def media(self, kind: str, value, where, span) -> ir.Media:
        """A media part from a URL or a `data:` URI; any other value (a `json` input can hold
        anything), and a local path (compiler/inline.py), is an InputError naming the expression
        (`where`, its span)."""
        if value.__class__ is not str:
            from .inputs import InputError, InputProblem, kind_of

            raise InputError(self.prompt, [InputProblem(where.text, f"used as {kind}: expected a URL or a data: URI, "
                                                                      f"got {kind_of(value)}")])
        if is_local_path(value):  # a `str` or `json` value: never read, never sent as a URL
            from .inputs import InputError, InputProblem

            raise InputError(self.prompt, [InputProblem(where.text, f"used as {kind}: "
                                                                    f"{local_path_message(kind, value)}")])
        return media(kind, value, span)

    def mark_cache(self, ttl: str) -> None:
        """A `cache` statement: a breakpoint after the message before it (or the tool definitions)."""
        if self.messages:
            self.messages[-1] = attrs.evolve(self.messages[-1], cache=ttl)
        else:
            self.tools_cache = ttl  # before any message: the tool definitions are the stable prefix

    def _next_id(self) -> str:
        self.calls += 1
        return f"call_{self.calls}"

    def _answer(self, tool: str) -> str:
        for i, (name, call_id) in enumerate(self.open_calls):
            if name == tool:
                del self.open_calls[i]
                return call_id
        return self._next_id()


class CompiledPrompt:
    """A prompt compiled to a generated renderer (compiler/codegen/); render it as often as needed."""

    def __init__(self, decl: ast.PromptDecl, run: Callable[[dict, RenderState], None], output: ir.Output | None):
        self.decl, self.run, self.output = decl, run, output
        self.name = decl.name.name

    def render(self, inputs: dict[str, Any], target: TargetInfo) -> ir.Request:
        """Render with validated inputs (defaults applied) for one target."""
        out = RenderState(target, self.name)
        self.run(inputs, out)
        return ir.Request(prompt=self.name, target=target.name, model=out.model, messages=tuple(out.messages),
                          tools=tuple(out.tools.values()), output=self.output, settings=out.settings,
                          budget=out.budget, tools_cache=out.tools_cache, span=self.decl.span,
                          model_span=out.model_span)


def compile_prompt(sym: Symbol, scopes: dict[str, ModuleScope]) -> CompiledPrompt:
    """A checked prompt compiled once: its generated renderer and its output type."""
    from .codegen import compile_render

    scope = scopes[sym.module.key]
    decl = cast(ast.PromptDecl, sym.decl)
    run = compile_render(decl, Statics(scope, scopes), lambda tool: tool_definition(tool, scopes))
    output = None
    if decl.returns is not None:
        t = TypeResolver(scope, Sink(), scopes).resolve(decl.returns, allow_meta=False)
        if t != T.STR:
            from .stdlib_text import output_instructions

            output = ir.Output(name=decl.name.name, type=t, schema=schema.json_schema(t), span=decl.returns.span,
                               instructions=output_instructions(t))
    return CompiledPrompt(decl, run, output)


def tool_definition(sym: Symbol, scopes: dict[str, ModuleScope]) -> ir.Tool:
    """A tool's parameters as the JSON Schema of one object."""
    decl = cast(ast.ToolDecl, sym.decl)
    resolver = TypeResolver(scopes[sym.module.key], Sink(), scopes)
    record = T.RecordT(decl.name.name)
    for p in decl.params:
        record.fields[p.name.name] = T.FieldT(
            p.name.name, resolver.resolve(p.type, allow_meta=False), required=not p.optional and p.default is None,
            description=p.description, default=constant_value(p.default) if p.default is not None else None,
            has_default=p.default is not None)
    return ir.Tool(name=decl.name.name, description=decl.description, parameters=schema.json_schema(record),
                   strict=decl.strict, span=decl.span)
