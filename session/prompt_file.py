"""`load`: a `.prompt` file, ready to compile for any target.

    >>> pf = load("examples/ticket_triage.prompt")
    >>> result = pf.compile("anthropic", inputs={"ticket": "I was charged twice"})
    >>> result.body            # the request body
    >>> result.report          # what changed for this target (PP4xx notes), with source spans

A compile is served, in this order, by the compile cache (session/cache.py: no parsing, no
compiler), by the prompt's generated renderer (session/generated.py), or by a render through the
passes and the backend's emitter; all three give the same `Compiled`. The file is parsed and
checked on first need, and each prompt is compiled once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from ..compiler.runtime import copy_json
from . import cache
from .compiled import CompileError, Compiled
from .generated import GeneratedPath, InputCheck


class PromptFile:
    """A `.prompt` file. `compile` raises CompileError if it has errors."""

    def __init__(self, path: str | os.PathLike, root: str | None = None, text: str | None = None):
        self.path, self.root = str(Path(path).resolve()), root
        #: the source, when given instead of the file's (a file plus a dataset block from the
        #: command line): such a file is never served from nor stored in the compile cache
        self.text = text
        #: data paths the user named on the command line (a dataset's root rule does not apply to them)
        self.command_line_data: set[Path] = set()
        self._analysis = None
        self._compiled: dict[str, Any] = {}  # prompt name ("" for the default) -> CompiledPrompt
        self._backends: dict[str, Any] = {}
        self._infos: dict[str, Any] = {}
        self._checks: dict[str, Any] = {}  # prompt name -> InputCheck
        self._generated: dict[tuple[str, str], Any] = {}  # (prompt, target) -> GeneratedPath or None
        self._hits: dict[tuple[str | None, str], Any] = {}  # cache records read
        self._turns: dict[tuple[str, str], Any] = {}  # (prompt, target) -> text_turns(...)

    # ---------------------------------------------------------------- the checked file
    @property
    def analysis(self):
        """The file parsed and checked with its imports (session/analysis.py), on first use."""
        if self._analysis is None:
            from .analysis import analyze

            self._analysis = analyze(self.path, self.root, self.text)
        return self._analysis

    @property
    def diagnostics(self) -> tuple:
        """Every diagnostic of the file and its imports, sorted."""
        return self.analysis.diagnostics

    @property
    def prompts(self) -> list[str]:
        """The names of the file's prompts, in source order."""
        return [n for n, s in self.analysis.entry_scope.own.items() if s.kind == "prompt"]

    def prompt(self, name: str | None = None):
        """The compiled prompt (compiler/render.py), the first one of the file by default."""
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
            from ..compiler.render import compile_prompt

            sym = self.analysis.entry_scope.own.get(name)
            if sym is None or sym.kind != "prompt":
                raise LookupError(f"no prompt `{name}`; prompts: {', '.join(self.prompts) or 'none'}")
            self._compiled[name] = compile_prompt(sym, self.analysis.scopes)
            if name == self.prompts[0]:
                self._compiled[""] = self._compiled[name]  # the default prompt
        return self._compiled[name]

    def backend(self, target: str):
        """The backend for a target name: a `target` declaration of the file, or a built-in."""
        found = self._backends.get(target)
        if found is None:
            from .targets import resolve

            found = self._backends[target] = resolve(self.analysis.program.entry.tree, target, Path(self.path).parent)
        return found

    def check_inputs(self, prompt, values: dict) -> dict:
        """Inputs checked against a compiled prompt's parameters, with defaults; InputError lists
        every problem. The prompt's generated check answers the common case; the full check
        (`compiler.inputs.validate`) the rest, and says what is wrong."""
        check = self._checks.get(prompt.name)
        if check is None:
            check = self._checks[prompt.name] = InputCheck(prompt.decl, self._resolve)
        checked = check(values)
        return checked if checked is not None else self._full_check(prompt, values)

    def _full_check(self, prompt, values: dict) -> dict:
        from ..compiler import inputs

        return inputs.validate(prompt.decl, self._resolve, values)

    def read_inputs(self, source: str | os.PathLike, prompt: str | None = None, *, inline_files: bool = True,
                    stdin_text: str | bytes | None = None) -> dict:
        """Inputs for a prompt of this file from a JSON or YAML file (`-`: `stdin_text`). Local
        media files named where the prompt takes media are inlined as data: URIs, from the inputs
        file's folder or the project root only (compiler/inline.py); `inline_files=False` reads
        none, and a local path is then an InputError, as it is in `compile`."""
        from ..compiler.inputs import read_inputs

        decl = self.prompt(prompt).decl
        types = {p.name.name: self._resolve(p.type) for p in decl.params}
        return read_inputs(source, stdin_text, types=types, inline_files=inline_files,
                           root=self.analysis.program.root)

    # ---------------------------------------------------------------- compiling
    def compile(self, target: str, inputs: Mapping[str, Any] | None = None, *, prompt: str | None = None,
                strict: bool = False, extra_body: Mapping[str, Any] | None = None) -> Compiled:
        """The request body of a prompt for a target, and the lowering report.

        `inputs` is the one mapping of parameter names to values; the options are keyword-only, so
        no input (a parameter named `prompt`, `strict` or `inputs`, or request data spread into
        the call) can pick another prompt or turn a check off. `extra_body`: request-body fields
        of the provider's own (OpenAI's `service_tier`...), added as given once the target takes
        them (PP415 notes; PP304 for a field it does not take or that polyprompt writes)."""
        if inputs is not None and not isinstance(inputs, Mapping):
            raise TypeError(f"inputs must be a mapping of parameter names to values, not {type(inputs).__name__}")
        values = dict(inputs or {})
        if extra_body:
            return self._with_extra_body(self._compile(target, prompt, values, strict), target, extra_body, strict)
        if self._analysis is None:
            hit = self._cache_hit(prompt, target)
            if hit is not None and not (strict and hit.lowering):
                result = hit.compile(values, lambda: self._compile(target, prompt, values, strict))
                if result is not None:
                    return result
        return self._compile(target, prompt, values, strict)

    def _compile(self, target: str, prompt: str | None, given: dict, strict: bool) -> Compiled:
        backend = self.backend(target)
        compiled = self.prompt(prompt)
        values = self.check_inputs(compiled, given)
        info = self._infos.get(target) or self._target_info(target, backend)
        key = (compiled.name, target)
        generated = self._generated.get(key)
        if generated is not None:
            result = generated.compile(values, info.value, strict)
            if result is not None:
                return result
        result = self._through_passes(compiled, backend, values, info, strict)
        if key not in self._generated:
            generated = self._generated[key] = GeneratedPath.build(
                compiled, backend, result, compiled.render(values, info), self._statics(),
                full=lambda later: self._through_passes(compiled, backend, later, info, False))
            if generated is not None:
                self._store(generated, compiled, info, prompt, target)
        return result

    def lower(self, target: str, inputs: Mapping[str, Any] | None = None, *, prompt: str | None = None):
        """The prompt rendered and lowered for a target, not emitted: `(request, report)`, the IR
        request every body of that target is written from and the lowering notes. For stages that
        read the conversation rather than the body (a tokenized training row); CompileError when
        the target cannot express the prompt."""
        backend = self.backend(target)
        compiled = self.prompt(prompt)
        values = self.check_inputs(compiled, dict(inputs or {}))
        info = self._infos.get(target) or self._target_info(target, backend)
        lowered, report = _lowered(compiled, backend, values, info)
        return lowered, tuple(report.sorted())

    def text_turns(self, target: str, prompt: str | None = None):
        """For stages that lower many inputs of one prompt (datasets): `(render, first)`, the
        prompt's generated renderer of plain text turns (compiler/codegen/messages.py) bound to
        `target`, `render(checked_inputs) -> [{"role", "content"}]` (each turn trimmed; None for a
        render with an empty turn), the turns *before* the target's passes; and `first(checked_inputs)`,
        that render as an IR request, before the passes. None when the prompt has other statements
        (`cache` statements are passed over: the caller decides what the passes do with marks)."""
        compiled = self.prompt(prompt)
        key = (compiled.name, target)
        if key not in self._turns:
            from ..compiler.codegen import compile_messages

            backend = self.backend(target)
            info = self._infos.get(target) or self._target_info(target, backend)
            render = compile_messages(compiled.decl, self._statics(), skip_cache=True)
            self._turns[key] = None if render is None else (
                lambda values: render(values, info.value), lambda values: compiled.render(values, info))
        return self._turns[key]

    def generated(self, target: str, prompt: str | None = None):
        """The generated path serving compiles of a prompt for `target` (session/generated.py), once
        a first compile made it; None while the passes serve them."""
        return self._generated.get((self.prompt(prompt).name, target))

    def _with_extra_body(self, result: Compiled, target: str, fields: Mapping[str, Any], strict: bool) -> Compiled:
        """`result` with `fields` added to its body, as the target takes them (see `compile`)."""
        from ..backends._fields import add_fields
        from ..compiler.diagnostics import Sink
        from ..compiler.passes.map_settings import body_fields, no_body
        from ..compiler.span import SourceFile, Span
        from ..compiler.targets import Unsupported

        backend = self.backend(target)
        source = SourceFile("<extra_body>", json.dumps({str(k): v for k, v in fields.items()}, ensure_ascii=False,
                                                       default=repr))
        whole = Span(source, 0, len(source.text))
        report = Sink()
        plain = {}
        for field, value in fields.items():
            span = _key_span(source, str(field)) or whole
            if isinstance(field, str) and _is_json(value):
                plain[field] = value
            else:
                report.error("PP304", f"body field `{field}` is not JSON: a body field is a string key and a JSON "
                             f"value", span, help="pass str keys, and dicts, lists, strings, numbers, booleans or None")
        rules, spans = backend.refusals().body, (lambda field: _key_span(source, field) or whole)
        taken = (body_fields(plain, rules, backend.name, spans, report) if rules is not None
                 else no_body(plain, backend.name, spans, report))
        try:
            body = add_fields(result.body, copy_json(taken), backend.name, whole)
        except Unsupported as err:
            err.report(report, whole)
        notes = tuple(report.sorted())
        _raise_errors(notes, strict=False)
        return result.with_body(body, report=tuple(result.report) + notes)

    def _target_info(self, target: str, backend):
        from .targets import info

        found = self._infos[target] = info(target, backend)
        return found

    def _through_passes(self, compiled, backend, values: dict, info, strict: bool) -> Compiled:
        """Render to the IR, run the passes, emit."""
        from ..compiler.targets import Unsupported

        lowered, report = _lowered(compiled, backend, values, info)
        try:
            body = copy_json(backend.request_body(lowered))  # emitters may share the IR's schemas and values
        except Unsupported as err:  # what only the emitter can find out: an error, as the passes' are
            err.report(report, lowered.span)
            _raise_errors(report.sorted(), strict=False)
        notes = tuple(report.sorted())
        _raise_errors(notes, strict)
        return Compiled(info.name, compiled.name, body, "passes", report=notes, request=lowered, backend=backend)

    def _resolve(self, texpr):
        from ..compiler.check.names import TypeResolver
        from ..compiler.diagnostics import Sink

        return TypeResolver(self.analysis.entry_scope, Sink(), self.analysis.scopes).resolve(texpr)

    def _statics(self):
        """The compile-time values of the names of this file (for generated code)."""
        from ..compiler.statics import Statics

        return Statics(self.analysis.entry_scope, self.analysis.scopes)

    # ---------------------------------------------------------------- the compile cache
    def _cache_hit(self, prompt: str | None, target: str) -> "_CacheHit | None":
        key = (prompt, target)
        if self.text is not None:
            return None
        if key not in self._hits:  # looked up once per file, prompt and target
            record = cache.lookup(self.path, self._record_key(prompt, target), build_id()) if cache.enabled() else None
            if record is not None and not _imports_resolve_as(record.get("imports")):
                record = None  # an import now names another file (a switched symlink): compile again
            self._hits[key] = _CacheHit.of(record) if record is not None else None
        return self._hits[key]

    def _store(self, generated, compiled, info, prompt: str | None, target: str) -> None:
        """Put the generated path in the compile cache, when it can be stored."""
        check = self._checks[compiled.name]
        source, check_source = getattr(generated.render, "source", None), getattr(check.check, "source", None)
        if not cache.enabled() or source is None or check_source is None or self.text is not None:
            return
        record = {"prompt": compiled.name, "target": info.name, "render": source, "check": check_source,
                  "defaults": check.defaults, "body": {**generated.body, "messages": None},
                  "target_value": info.value, "report": bool(generated.first.report),
                  "lowering": bool(generated.lowering), "imports": self._import_map()}
        try:
            json.dumps(record)
        except (TypeError, ValueError):
            return  # a default or a body part that is not JSON: no cache
        digests = {key: cache.file_digest(key) for key in self.analysis.program.modules}
        files = {key: digest for key, digest in digests.items() if digest is not None}
        if len(files) != len(digests):
            return  # a source file that cannot be read again cannot vouch for the record
        cache.store(self.path, files, self._record_key(prompt, target), record, build_id())

    def _record_key(self, prompt: str | None, target: str) -> str:
        """A record per prompt, target and project root (the root decides which imports are allowed)."""
        return f"{prompt or ''}\0{target}\0{self.root or ''}"

    def _import_map(self) -> list[list[str]]:
        """Each file import as (the importing file, the path written, the file it resolved to)."""
        return [[module.key, decl.path, found.key] for module in self.analysis.program.modules.values()
                for decl, found in module.imports if decl.path is not None and found is not None]


def _imports_resolve_as(imports) -> bool:
    """Do the written import paths of a cache record still resolve to the files it was made from?"""
    if not isinstance(imports, list):
        return False
    try:
        return all(os.path.realpath(Path(importer).parent / written) == resolved
                   for importer, written, resolved in imports)
    except (TypeError, ValueError, OSError):
        return False


class _CacheHit:
    """A generated renderer read back from the compile cache, for one prompt and target."""

    #: the fields of a record (`PromptFile._store`) and their JSON types
    FIELDS = {"prompt": str, "target": str, "render": str, "check": str, "defaults": dict, "body": dict,
              "target_value": dict, "report": bool, "lowering": bool, "imports": list}

    @classmethod
    def of(cls, record: dict) -> "_CacheHit | None":
        """The hit of a record, or None (a miss) when it is not of the shape `_store` writes or its
        code does not compile: authentic records of another shape only come from a bug, never a crash."""
        if any(not isinstance(record.get(name), kind) for name, kind in cls.FIELDS.items()):
            return None
        try:
            return cls(record)
        except (SyntaxError, ValueError, TypeError, KeyError):
            return None

    def __init__(self, record: dict):
        from ..compiler.runtime import load_check, load_source

        self.record = record
        self.render = load_source(record["render"], {}, record["prompt"])
        self.check = load_check(record["check"])
        self.defaults, self.body, self.target = record["defaults"], record["body"], record["target_value"]
        self.lowering = record["lowering"]

    def compile(self, values: dict, full) -> Compiled | None:
        """The compile of `values`, or None when they need the full check or the passes."""
        if not self.check(values):
            return None  # the full check reports the problems
        messages = self.render({**self.defaults, **values} if self.defaults else values, self.target)
        if messages is None:
            return None
        body = {k: (messages if k == "messages" else copy_json(v)) for k, v in self.body.items()}
        return Compiled(self.record["target"], self.record["prompt"], body, "cache",
                        report=None if self.record["report"] else (), full=full)


_BUILD: str | None = None


def build_id() -> str:
    """The compiler build: the version and the size and time of every module of the package."""
    global _BUILD
    if _BUILD is None:
        import hashlib
        import importlib.util

        stamps = []
        for package in ("polyprompt", "polyprompt.grammar", "polyprompt.compiler", "polyprompt.backends",
                        "polyprompt.session"):
            spec = importlib.util.find_spec(package)
            for root in (spec.submodule_search_locations or ()) if spec else ():
                for dirpath, _dirs, files in sorted(os.walk(root)):
                    for name in sorted(files):
                        if name.endswith((".py", ".lark")):
                            st = os.stat(os.path.join(dirpath, name))
                            stamps.append(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}")
        _BUILD = hashlib.sha256("\n".join(stamps).encode()).hexdigest()[:24]
    return _BUILD


def _key_span(source, field: str):
    """The span of `"field"` as a key of the JSON text of `extra_body` (None when not found)."""
    from ..compiler.span import Span

    key = json.dumps(field, ensure_ascii=False) + ": "
    at = source.text.find(key)
    return Span(source, at, at + len(key) - 2) if at >= 0 else None


def _is_json(value) -> bool:
    """Whether `value` is plain JSON data (what a request body holds)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _raise_errors(notes, strict: bool) -> None:
    from ..compiler.diagnostics import is_lowering

    errors = [d for d in notes if d.is_error or (strict and is_lowering(d))]
    if errors:
        raise CompileError(errors)


def _lowered(compiled, backend, values: dict, info):
    """A prompt rendered to the IR and lowered through the target's passes: (request, report
    sink); CompileError when the target cannot express it (such a request is never emitted)."""
    from ..compiler.diagnostics import Sink

    report = Sink()
    lowered = backend.lower(compiled.render(values, info), report)
    if report.has_errors:
        _raise_errors(report.sorted(), strict=False)
    return lowered, report


def load(path: str | os.PathLike, root: str | None = None, text: str | None = None) -> PromptFile:
    """A `.prompt` file, checked on first need (with its imports); see `PromptFile`. `text`, when
    given, is the source in the file's place (its imports still resolve from the file's folder)."""
    return PromptFile(path, root, text)
