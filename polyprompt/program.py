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
from .compiler.targets import Unsupported
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
    """One prompt compiled for one target.

    `request` is the lowered IR; on the generated fast path it is rendered
    only when asked for.
    """

    target: str
    prompt: str
    body: dict
    report: tuple[Diagnostic, ...]
    backend: Any = attrs.field(default=None, repr=False, eq=False)
    _request: Any = attrs.field(default=None, repr=False, eq=False, alias="request")
    _lazy: Any = attrs.field(default=None, repr=False, eq=False, alias="lazy")

    @property
    def request(self):
        if self._request is None and self._lazy is not None:
            object.__setattr__(self, "_request", self._lazy())
        return self._request

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
        self._backends: dict[str, Any] = {}
        self._fast: dict[tuple[str, str], FastPath | None] = {}
        self._quick: dict[str, _QuickInputs] = {}
        self._targets: dict[str, TargetInfo] = {}

    @property
    def diagnostics(self) -> tuple[Diagnostic, ...]:
        return self.analysis.diagnostics

    @property
    def prompts(self) -> list[str]:
        return [n for n, s in self._scope.own.items() if s.kind == "prompt"]

    def prompt(self, name: str | None = None) -> CompiledPrompt:
        """The compiled prompt (the first one of the file by default)."""
        found = self._compiled.get(name if name is not None else "")
        if found is not None:
            return found
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
            if name == self.prompts[0]:
                self._compiled[""] = self._compiled[name]  # the default prompt
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
        overrides, options, model = {}, {}, None
        for item in decl.items:
            if isinstance(item, ast.Caps):
                overrides.update({s.name.name: constant_value(s.value) for s in item.settings})
            elif isinstance(item, ast.ModelStmt):
                model = item.model
            else:
                options[item.name.name] = constant_value(item.value)
        backend = cls(options=options, caps_overrides=overrides)
        if model:
            backend.default_model = model
        backend.name = target
        return backend

    def compile(self, target: str, prompt: str | None = None, inputs: dict | None = None, strict: bool = False,
                **kwargs: Any) -> Compiled:
        """The request body of a prompt for a target, and the lowering report."""
        backend = self._backends.get(target) or self._backends.setdefault(target, self.backend(target))
        compiled = self.prompt(prompt)
        values = self._values(compiled, {**(inputs or {}), **kwargs})
        info = self._targets.get(target) or self._targets.setdefault(target, TargetInfo(
            name=target, family=backend.family, backend=type(backend).name))
        fast = self._fast.get((compiled.name, target))
        if fast is not None:
            result = fast.compile(values, info, strict)
            if result is not None:
                return result
        result = self._general(compiled, backend, values, info, strict)
        if (compiled.name, target) not in self._fast:
            fast = self._fast[(compiled.name, target)] = FastPath.build(compiled, backend, result, self._static)
            if fast is not None:
                self._store(fast, compiled, info, prompt, target)
        return result

    def _store(self, fast: "FastPath", compiled: CompiledPrompt, info: TargetInfo, prompt, target: str) -> None:
        """Put the generated path in the compile cache (compiler/cache.py), when it can be stored."""
        import json

        from .compiler import cache

        quick = self._quick.get(compiled.name)
        source, check = getattr(fast.render, "source", None), getattr(quick.check, "source", None) if quick else None
        if not cache.enabled() or source is None or check is None:
            return
        record = {"prompt": compiled.name, "render": source, "check": check, "defaults": quick.defaults,
                  "body": {**fast.template.body, "messages": None}, "target_value": info.value,
                  "report": bool(fast.template.report), "lowering": bool(fast.lowering)}
        try:
            json.dumps(record)
        except (TypeError, ValueError):
            return  # a default or a body part that is not JSON: no cache
        files = {key: cache._sha(key) for key in self.analysis.program.modules}
        cache.store(str(self.analysis.program.entry.key), files, f"{prompt or ''}\0{target}", record)

    def _general(self, compiled: CompiledPrompt, backend, values: dict, info: TargetInfo, strict: bool) -> Compiled:
        """Render to the IR, run the passes, emit."""
        request = compiled.render(values, info)
        report = Sink()
        lowered = backend.lower(request, report)
        if report.has_errors:  # what the target cannot express is never emitted
            _raise_errors(report.sorted(), strict=False)
        try:
            body = backend.emit(lowered)
        except Unsupported as err:  # what the emitter cannot write: an error, as the passes' are
            err.report(report, lowered.span)
            _raise_errors(report.sorted(), strict=False)
        notes = tuple(report.sorted())
        _raise_errors(notes, strict)
        return Compiled(target=info.name, prompt=compiled.name, body=body, report=notes, request=lowered,
                        backend=backend)

    def _values(self, compiled: CompiledPrompt, given: dict) -> dict:
        """Checked inputs with defaults: a quick pass for the common case, else the full check."""
        quick = self._quick.get(compiled.name)
        if quick is None:
            quick = self._quick[compiled.name] = _QuickInputs(compiled.decl, self._resolve)
        values = quick(given)
        return values if values is not None else self.check_inputs(compiled, given)

    def _resolve(self, texpr):
        return TypeResolver(self._scope, Sink(), self.analysis.scopes).resolve(texpr)

    def _static(self, expr):
        """The compile-time value of a name in a prompt of this file (for generated code)."""
        from .compiler.codegen import Unsupported
        from .compiler.evaluate import MISSING, Compiler, FragmentCache, FragmentRef

        value = Compiler(self._scope, self.analysis.scopes, FragmentCache()).static(expr, frozenset())
        if value is MISSING or isinstance(value, FragmentRef):
            raise Unsupported("name")
        return value


def _raise_errors(notes, strict: bool) -> None:
    errors = [d for d in notes if d.is_error or (strict and d.code.startswith("PP4"))]
    if errors:
        raise CompileError(errors)


class _QuickInputs:
    """Inputs that surely fit: defaults applied without collecting problems (None otherwise)."""

    def __init__(self, decl, resolve):
        from .compiler.check.consts import constant_value
        from .compiler.checkgen import compile_check

        self.defaults = {p.name.name: constant_value(p.default) if p.default is not None else None
                         for p in decl.params if p.default is not None or p.optional}
        self.check = compile_check([(p.name.name, resolve(p.type), p.name.name not in self.defaults)
                                    for p in decl.params]) or (lambda given: False)

    def __call__(self, given: dict) -> dict | None:
        if not self.check(given):
            return None
        return {**self.defaults, **given} if self.defaults else dict(given)


class FastPath:
    """Generated code for one prompt and one target (see compiler/codegen.py).

    The parts of the body that do not depend on the inputs (model, settings,
    tools, output format) and the lowering report are taken from a render on
    the general path; the generated function writes the messages. Those parts
    are shared between the bodies it returns: copy a body before changing
    anything nested in it.
    """

    def __init__(self, render, template: Compiled, compiled: CompiledPrompt):
        self.render, self.template, self.compiled = render, template, compiled
        self.lowering = [d for d in template.report if d.code.startswith("PP4")]  # what --strict refuses

    @classmethod
    def build(cls, compiled: CompiledPrompt, backend, first: Compiled, static) -> "FastPath | None":
        from .backends.base import Backend
        from .compiler.codegen import compile_messages

        caps = backend.caps
        if not (getattr(backend, "plain_text_turns", False) and caps.system == "message" and not caps.alternation
                and not caps.first_user and type(backend).lower is Backend.lower and not type(backend).passes
                and not (compiled.output is not None and caps.structured_output is None)
                and all(d.code != "PP409" for d in first.report)):
            return None
        render = compile_messages(compiled.decl, static)
        if render is None:
            return None
        return cls(render, first, compiled)

    def compile(self, values: dict, info: TargetInfo, strict: bool) -> Compiled | None:
        messages = self.render(values, info.value)
        if messages is None:
            return None  # a turn came out empty: the general path drops and reports it
        if strict and self.lowering:
            raise CompileError(self.lowering)
        body = {k: (messages if k == "messages" else v) for k, v in self.template.body.items()}
        t, compiled = self.template, self.compiled
        return Compiled(target=t.target, prompt=t.prompt, body=body, report=t.report, backend=t.backend,
                        lazy=lambda: t.backend.lower(compiled.render(values, info), Sink()))


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
    reply_parts = _read_reply(backend, reply)
    if output is None or reply_parts.tool_calls and not reply_parts.text:
        return reply_parts
    return _attrs.evolve(reply_parts, value=parse_output(reply_parts.text, output, tolerant))


def _read_reply(backend, reply):
    """The backend's reading of a reply; ReplyError when the reply is not the shape of that
    provider's response (a field of the wrong type, a list where an object belongs...)."""
    from .compiler.replies import ReplyError

    if not isinstance(reply, dict):
        raise ReplyError(f"a {backend.name} reply is a JSON object, got {type(reply).__name__}")
    try:
        parts = backend.read_reply(reply)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as err:
        if isinstance(err, ReplyError):
            raise
        raise ReplyError(f"the reply does not have the shape of a {backend.name} response "
                         f"({type(err).__name__}: {err})") from None
    if not isinstance(parts.text, str):
        raise ReplyError(f"the reply does not have the shape of a {backend.name} response (its text is "
                         f"{type(parts.text).__name__})")
    return parts


def load(path: str | os.PathLike, root: str | None = None) -> PromptFile:
    """Load and check a `.prompt` file (with its imports)."""
    return PromptFile(analyze(path, root))
