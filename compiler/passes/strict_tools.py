"""strict_tools: a `strict tool`'s parameters made strict-valid, or the tool sent as a plain one.

    strict tool on openai-chat:  unit?: str  ->  "unit": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                                 required; `default` dropped                              (PP414)
    strict tool on anthropic:    the parameters as they are (records are closed objects)  (unchanged)
    strict tool on gemini:       sent without `strict`: no strict tools                    (PP414)
    a `map[str]` parameter:      sent without `strict`: strict mode needs closed objects   (PP414)

`caps.strict_tools` says whether the target has strict tools; the parameters are lowered as the
target's structured-output dialect lowers an output schema (`ctx.dialect`: OpenAI's strict mode
makes every property required, optional ones nullable, and keeps its supported keywords). A schema
strict mode still cannot express (an open object) makes the tool a plain one: the body stays valid.
The emitters write `strict: true` for the tools that keep it.
"""
from __future__ import annotations

import copy

import attrs

from .. import ir
from .lower_output_schema import _keep, _strict  # the same lowering as an output schema's


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with each strict tool's parameters in strict form, or the tool made plain (PP414)."""
    if not any(t.strict for t in request.tools):
        return request
    return attrs.evolve(request, tools=tuple(_tool(t, ctx, t.span or request.span) for t in request.tools))


def _tool(tool: ir.Tool, ctx, span) -> ir.Tool:
    if not tool.strict:
        return tool
    if not ctx.caps.strict_tools:
        ctx.note("PP414", f"tool `{tool.name}` sent without `strict`: {ctx.name} has no strict tools", span)
        return attrs.evolve(tool, strict=False)
    notes: set[str] = set()
    parameters = copy.deepcopy(tool.parameters)
    if ctx.dialect.strict:  # OpenAI; Anthropic takes the schema as it is (records are closed already)
        _strict(parameters, notes)
    if ctx.dialect.keywords is not None:
        parameters = _keep(parameters, ctx.dialect.keywords, notes)
    problem = next(iter(strict_problems(parameters, ctx.dialect.strict)), None)
    if problem is not None:
        ctx.note("PP414", f"tool `{tool.name}` sent without `strict`: {problem}", span,
                 help="make the parameter a record type, or declare the tool without `strict`")
        return attrs.evolve(tool, strict=False)
    for note in sorted(notes):
        ctx.note("PP414", f"tool `{tool.name}` parameters for strict mode: {note}", span)
    return attrs.evolve(tool, parameters=parameters)


def strict_problems(schema: dict, typed: bool) -> list[str]:
    """What strict mode cannot take in a tool's lowered parameters, each naming where: an open object (a
    `map`), and with `typed` (OpenAI) a property without a type (a `json` value). A small check of this
    pass's own (compiler/schema.py may grow a general one for output schemas)."""
    problems = []
    for where, node in _objects(schema, ""):
        if node.get("additionalProperties") is not False:
            problems.append(f"`{where or 'the parameters'}` is an open object (a map): strict mode needs every "
                            f"object closed")
        untyped = [name for name, sub in (node.get("properties") or {}).items() if not _typed(sub)]
        if typed and untyped:
            problems.append(f"`{_join(where, untyped[0])}` has no type (a `json` value): strict mode needs one")
    return problems


def _typed(schema) -> bool:
    return isinstance(schema, dict) and any(k in schema for k in ("type", "anyOf", "$ref", "enum", "const"))


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _objects(node, where: str):
    """Every object schema under `node` with where it is (`a.b`, `tags[]`, `$defs.Party`)."""
    if node.get("type") == "object":
        yield where, node
    for name, sub in (node.get("properties") or {}).items():
        yield from _objects(sub, _join(where, name))
    for name, sub in (node.get("$defs") or {}).items():
        yield from _objects(sub, f"$defs.{name}")
    for sub in node.get("anyOf") or ():
        yield from _objects(sub, where)
    if isinstance(node.get("items"), dict):
        yield from _objects(node["items"], f"{where}[]")


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes: it changes tools only."""
    return True
