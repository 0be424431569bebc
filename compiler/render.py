"""Compile a checked prompt into a renderer: inputs + target -> IR `Request`.

`compile_prompt` turns each statement into a closure once; `CompiledPrompt.render`
runs them with the inputs. Messages come out in source order; consecutive
`tool_call` statements become one assistant turn (parallel calls). A `cache`
statement marks a breakpoint after the message before it; `priority N { }`
tags the messages inside it for budget pruning; `target "x" { }` runs only
for a target named `x` or of family `x`.
"""
from __future__ import annotations

from typing import Any, Callable

import attrs

from . import ast, ir, schema
from . import types as T
from .check.consts import constant_value
from .check.names import ModuleScope, Symbol, TypeResolver
from .conversation import from_openai, media
from .diagnostics import Sink
from .evaluate import Compiler, FragmentCache, text_of


@attrs.frozen(slots=False)
class TargetInfo:
    """What `target` means inside a prompt: `target.name`, `.family`, `.kind`."""

    name: str
    family: str
    kind: str = "api"
    #: the backend of a declared target (`target fast "openai-chat"` has name `fast`)
    backend: str | None = None

    def as_value(self) -> dict:
        return {"name": self.name, "family": self.family, "kind": self.kind}

    @property
    def value(self) -> dict:
        """`as_value()`, made once (the target is immutable)."""
        cached = self.__dict__.get("_value")
        if cached is None:
            cached = self.as_value()
            object.__setattr__(self, "_value", cached)
        return cached

    def matches(self, wanted: str) -> bool:
        """`target "x" { }` applies to a target named x, of family x, or declared on backend x."""
        return wanted in (self.name, self.family, self.backend)


class _Out:
    """What the statements of one render write to."""

    def __init__(self, target: TargetInfo):
        self.target = target
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
        if self.priority is not None and message.priority is None:
            message = attrs.evolve(message, priority=self.priority)
        self.messages.append(message)

    def call_id(self, tool: str) -> str:
        self.calls += 1
        return f"call_{self.calls}"

    def result_id(self, tool: str) -> str:
        for i, (name, call_id) in enumerate(self.open_calls):
            if name == tool:
                del self.open_calls[i]
                return call_id
        return self.call_id(tool)


Stmt = Callable[[dict, _Out], None]


class CompiledPrompt:
    """A prompt compiled to closures; render it as often as needed."""

    def __init__(self, decl: ast.PromptDecl, body: list[Stmt], output: ir.Output | None):
        self.decl, self.body, self.output = decl, body, output
        self.name = decl.name.name

    def render(self, inputs: dict[str, Any], target: TargetInfo) -> ir.Request:
        """Render with validated inputs (defaults applied) for one target."""
        out = _Out(target)
        env = {**inputs, "target": target.as_value()}
        for stmt in self.body:
            stmt(env, out)
        return ir.Request(prompt=self.name, target=target.name, model=out.model, messages=tuple(out.messages),
                          tools=tuple(out.tools.values()), output=self.output, settings=out.settings,
                          budget=out.budget, tools_cache=out.tools_cache, span=self.decl.span,
                          model_span=out.model_span)


def compile_prompt(sym: Symbol, scopes: dict[str, ModuleScope]) -> CompiledPrompt:
    scope = scopes[sym.module.key]
    builder = _StatementCompiler(Compiler(scope, scopes, FragmentCache()), scopes)
    decl: ast.PromptDecl = sym.decl
    locals_ = frozenset(p.name.name for p in decl.params) | {"target"}
    body = builder.block(decl.body, locals_)
    output = None
    if decl.returns is not None:
        t = TypeResolver(scope, Sink(), scopes).resolve(decl.returns, allow_meta=False)
        if t != T.STR:
            from .stdlib_text import output_instructions

            output = ir.Output(name=decl.name.name, type=t, schema=schema.json_schema(t), span=decl.returns.span,
                               instructions=output_instructions(t))
    return CompiledPrompt(decl, body, output)


def tool_definition(sym: Symbol, scopes: dict[str, ModuleScope]) -> ir.Tool:
    """A tool's parameters as the JSON Schema of one object."""
    decl: ast.ToolDecl = sym.decl
    resolver = TypeResolver(scopes[sym.module.key], Sink(), scopes)
    record = T.RecordT(decl.name.name)
    for p in decl.params:
        record.fields[p.name.name] = T.FieldT(
            p.name.name, resolver.resolve(p.type, allow_meta=False), required=not p.optional and p.default is None,
            description=p.description, default=constant_value(p.default) if p.default is not None else None,
            has_default=p.default is not None)
    return ir.Tool(name=decl.name.name, description=decl.description, parameters=schema.json_schema(record),
                   span=decl.span)


class _StatementCompiler:
    def __init__(self, exprs: Compiler, scopes):
        self.exprs, self.scopes = exprs, scopes

    def block(self, body, locals_) -> list[Stmt]:
        return [getattr(self, "_" + type(s).__name__)(s, locals_) for s in body]

    def _run(self, stmts: list[Stmt]) -> Stmt:
        def run(env, out):
            for s in stmts:
                s(env, out)
        return run

    def _ModelStmt(self, s: ast.ModelStmt, locals_) -> Stmt:
        settings = {x.name.name: ir.Setting(value=constant_value(x.value), span=x.span) for x in s.settings}
        model, span = s.model, s.span

        def apply(env, out):
            if model is not None:
                out.model, out.model_span = model, span
            out.settings.update(settings)

        return apply

    def _ToolsStmt(self, s: ast.ToolsStmt, locals_) -> Stmt:
        tools = [tool_definition(self.exprs.scope.names[t.name], self.scopes) for t in s.tools]

        def add(env, out):
            for t in tools:
                out.tools.setdefault(t.name, t)

        return add

    def _parts(self, parts, locals_) -> Callable[[dict], tuple]:
        fns = []
        for part in parts:
            if isinstance(part, ast.Template):
                render = self.exprs.template(part, locals_)
                fns.append(lambda env, r=render, sp=part.span: (ir.Text(text=r(env), span=sp),))
            else:
                value = self.exprs.expr(part.expr, locals_)
                fns.append(lambda env, v=value, k=part.kind, sp=part.span:
                           (media(k, v(env), sp),) if v(env) else ())
        return lambda env: tuple(p for f in fns for p in f(env))

    def _Message(self, s: ast.Message, locals_) -> Stmt:
        parts, role, span = self._parts(s.parts, locals_), s.role, s.span
        return lambda env, out: out.add(ir.Message(role=role, parts=parts(env), span=span))

    def _ToolCall(self, s: ast.ToolCall, locals_) -> Stmt:
        name = s.tool.name
        sym = self.exprs.scope.names[name]
        bind = self.exprs.bind(sym.decl.params, s.args, locals_)
        call_id = self.exprs.expr(s.call_id, locals_) if s.call_id is not None else None
        defaults = {p.name.name for p in sym.decl.params if p.default is not None}
        given = {a.name.name for a in s.args if a.name is not None} | {
            p.name.name for p, a in zip(sym.decl.params, [a for a in s.args if a.name is None])}
        span = s.span

        def call(env, out):
            args = {k: v for k, v in bind(env).items() if k != "target" and (k in given or k in defaults)}
            cid = text_of(call_id(env)) if call_id is not None else out.call_id(name)
            out.open_calls.append((name, cid))
            part = ir.ToolCall(id=cid, name=name, arguments=args, span=span)
            last = out.messages[-1] if out.messages else None
            if last is not None and last.role == "assistant" and last.parts and all(
                    isinstance(p, ir.ToolCall) for p in last.parts) and last.source == "prompt":
                out.messages[-1] = attrs.evolve(last, parts=last.parts + (part,))  # parallel calls: one turn
            else:
                out.add(ir.Message(role="assistant", parts=(part,), span=span))

        return call

    def _ToolResult(self, s: ast.ToolResult, locals_) -> Stmt:
        name, span = s.tool.name, s.span
        parts = self._parts(s.parts, locals_)
        call_id = self.exprs.expr(s.call_id, locals_) if s.call_id is not None else None

        def result(env, out):
            if call_id is not None:
                cid = text_of(call_id(env))
                out.open_calls = [c for c in out.open_calls if c[1] != cid]
            else:
                cid = out.result_id(name)
            part = ir.ToolResult(id=cid, name=name, content=parts(env), span=span)
            out.add(ir.Message(role="tool", parts=(part,), span=span))

        return result

    def _History(self, s: ast.History, locals_) -> Stmt:
        name, span = (s.param.name if s.param else "history"), s.span

        def splice(env, out):
            for m in from_openai(env.get(name) or [], span):
                out.add(m)

        return splice

    def _Cache(self, s: ast.Cache, locals_) -> Stmt:
        ttl = s.ttl or "default"

        def mark(env, out):
            if out.messages:
                out.messages[-1] = attrs.evolve(out.messages[-1], cache=ttl)
            else:
                out.tools_cache = ttl  # before any message: the tool definitions are the stable prefix

        return mark

    def _Budget(self, s: ast.Budget, locals_) -> Stmt:
        tokens = s.tokens

        def set_budget(env, out):
            out.budget = tokens

        return set_budget

    def _Priority(self, s: ast.Priority, locals_) -> Stmt:
        body, level = self._run(self.block(s.body, locals_)), s.level

        def scoped(env, out):
            outer, out.priority = out.priority, level if out.priority is None else min(out.priority, level)
            body(env, out)
            out.priority = outer

        return scoped

    def _Use(self, s: ast.Use, locals_) -> Stmt:
        func: ast.Expr = ast.Name(name=s.fragment[0].name, span=s.fragment[0].span)
        for part in s.fragment[1:]:
            func = ast.GetAttr(obj=func, attr=part, span=part.span)
        sym = self.exprs.static(func, locals_).symbol
        decl: ast.FragmentDecl = sym.decl
        bind = self.exprs.bind(decl.params, s.args, locals_)

        def build():
            inner = _StatementCompiler(self.exprs.for_module(sym.module.key), self.scopes)
            return inner._run(inner.block(decl.body, frozenset(p.name.name for p in decl.params) | {"target"}))

        body = self.exprs.fragments.body(sym, build)
        return lambda env, out: body(bind(env), out)

    def _For(self, s: ast.For, locals_) -> Stmt:
        items, var = self.exprs.expr(s.iterable, locals_), s.var.name
        body = self._run(self.block(s.body, locals_ | {var}))

        def loop(env, out):
            inner = dict(env)
            for item in items(env) or ():
                inner[var] = item
                body(inner, out)

        return loop

    def _If(self, s: ast.If, locals_) -> Stmt:
        branches = [(self.exprs.expr(c, locals_), self._run(self.block(b, locals_))) for c, b in s.branches]
        orelse = self._run(self.block(s.orelse, locals_)) if s.orelse is not None else None

        def choose(env, out):
            for cond, body in branches:
                if cond(env):
                    return body(env, out)
            if orelse is not None:
                orelse(env, out)

        return choose

    def _TargetBlock(self, s: ast.TargetBlock, locals_) -> Stmt:
        body, wanted = self._run(self.block(s.body, locals_)), s.target

        def only_for(env, out):
            if out.target.matches(wanted):
                body(env, out)

        return only_for
