"""`polyprompt.load`: a checked `.prompt` file, ready to compile for any target.

    >>> pf = polyprompt.load("examples/ticket_triage.prompt")
    >>> result = pf.compile("anthropic", ticket="I was charged twice")
    >>> result.body            # the request body: client.messages.create(**result.body)
    >>> result.report          # what changed for this target (PP4xx notes), with source spans

Each prompt is compiled to closures once, on first use, and cached.
"""
from __future__ import annotations

import os
from typing import Any

import attrs

from . import backends
from .api import Analysis, analyze
from .compiler import ast, inputs as inputs_mod
from .compiler.check.names import TypeResolver
from .compiler.diagnostics import Diagnostic, Sink, render_all
from .compiler.render import CompiledPrompt, TargetInfo, compile_prompt


class CompileError(Exception):
    """The file has errors, or the target cannot express the prompt."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        super().__init__(render_all(self.diagnostics))


@attrs.frozen
class Compiled:
    """One prompt compiled for one target."""

    target: str
    prompt: str
    body: dict
    report: tuple[Diagnostic, ...]
    request: Any  # the lowered IR (compiler.ir.Request)
    backend: Any = attrs.field(default=None, repr=False, eq=False)

    def parse(self, reply: dict):
        """The provider's reply to this body: text, tool calls and the typed output value."""
        return parse(self.backend or self.target, reply, output=self.request.output,
                     tolerant=self.backend is not None and self.backend.caps.structured_output is None)


class PromptFile:
    """A loaded and checked file. `compile` raises CompileError if it has errors."""

    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self._scope = analysis.scopes[analysis.program.entry.key]
        self._compiled: dict[str, CompiledPrompt] = {}

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.analysis.diagnostics

    @property
    def prompts(self) -> list[str]:
        return [n for n, s in self._scope.own.items() if s.kind == "prompt"]

    def prompt(self, name: str | None = None) -> CompiledPrompt:
        """The compiled prompt (the first one of the file by default)."""
        errors = [d for d in self.diagnostics if d.is_error]
        if errors:
            raise CompileError(errors)
        if name is None:
            if not self.prompts:
                raise LookupError(f"{self.analysis.program.entry.source.path} declares no prompt")
            name = self.prompts[0]
        if name not in self._compiled:
            sym = self._scope.own.get(name)
            if sym is None or sym.kind != "prompt":
                raise LookupError(f"no prompt `{name}`; prompts: {', '.join(self.prompts) or 'none'}")
            self._compiled[name] = compile_prompt(sym, self.analysis.scopes)
        return self._compiled[name]

    def check_inputs(self, prompt: CompiledPrompt, values: dict) -> dict:
        resolver = TypeResolver(self._scope, Sink(), self.analysis.scopes)
        return inputs_mod.validate(prompt.decl, lambda t: resolver.resolve(t), values)

    def backend(self, target: str):
        """The backend for a target name: a `target` declaration of the file, or a built-in."""
        decl = next((d for d in self.analysis.program.entry.tree.decls
                     if isinstance(d, ast.TargetDecl) and d.name.name == target), None)
        if decl is None:
            return backends.get(target)()
        from .compiler.check.consts import constant_value

        cls = backends.get(decl.backend)
        caps, options, model = cls.caps, {}, None
        for item in decl.items:
            if isinstance(item, ast.Caps):
                caps = attrs.evolve(caps, **{s.name.name: constant_value(s.value) for s in item.settings})
            elif isinstance(item, ast.ModelStmt):
                model = item.model
            else:
                options[item.name.name] = constant_value(item.value)
        backend = cls(caps=caps, options=options)
        if model:
            backend.default_model = model
        backend.name = target
        return backend

    def compile(self, target: str, prompt: str | None = None, inputs: dict | None = None, strict: bool = False,
                **kwargs: Any) -> Compiled:
        """The request body of a prompt for a target, and the lowering report."""
        backend = self.backend(target)
        compiled = self.prompt(prompt)
        values = self.check_inputs(compiled, {**(inputs or {}), **kwargs})
        request = compiled.render(values, TargetInfo(name=target, family=backend.family))
        report = Sink()
        lowered = backend.lower(request, report)
        body = backend.emit(lowered, report)
        notes = tuple(report.sorted())
        errors = [d for d in notes if d.is_error or (strict and d.code.startswith("PP4"))]
        if errors:
            raise CompileError(errors)
        return Compiled(target=target, prompt=compiled.name, body=body, report=notes, request=lowered,
                        backend=backend)


def parse(target, reply: dict, output=None, tolerant: bool = False):
    """Read a provider's reply: `Reply(text, tool_calls, finish_reason, value)`.

    `target` is a target name or backend; `output` the prompt's output (an IR
    `Output`, as on `Compiled.request.output`): the text is then parsed and
    validated into `value` (ReplyError when it does not fit). `tolerant` looks
    for the JSON inside prose, for targets that got the schema as instructions.
    """
    import attrs as _attrs

    from .compiler.replies import parse_output

    backend = backends.get(target)() if isinstance(target, str) else target
    reply_parts = backend.read_reply(reply)
    if output is None or reply_parts.tool_calls and not reply_parts.text:
        return reply_parts
    return _attrs.evolve(reply_parts, value=parse_output(reply_parts.text, output, tolerant))


def load(path: str | os.PathLike, root: str | None = None) -> PromptFile:
    """Load and check a `.prompt` file (with its imports)."""
    return PromptFile(analyze(path, root))
