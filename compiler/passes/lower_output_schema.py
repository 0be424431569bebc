"""lower_output_schema: the output type in the target's structured-output dialect.

    openai_strict:  refund?: float  ->  "refund": {"anyOf": [{"type": "number"}, {"type": "null"}]}, required  (PP405)
                    meta: map[str]  ->  sent with `strict: false`: strict mode has no open object      (PP413)
    gemini:         {"$ref": "#/$defs/Party"}  ->  the Party schema inlined                             (PP405)
    None:           the type goes into the system text: an enum's words, one line, a record's notation,
                    or the whole schema (the `output_instructions` option)                             (PP406)

Each dialect keeps only the keywords the provider documents; what it drops
or rewrites is reported once per kind. The dialects are data the target modules
define (`compiler.targets.SchemaDialect`: OpenAI's in backends/openai_chat.py,
Gemini's in backends/gemini.py...); the context hands this pass the target's one.
"""
from __future__ import annotations

import copy

import attrs

from .. import ir
from ..memo import by_identity
from ..schema import compact_form
from ..strict_schema import FORMATS, strict_schema_problems

_SCHEMA_MAPS = ("properties", "$defs")
_SCHEMA_LISTS = ("anyOf", "oneOf", "prefixItems")


def run(request: ir.Request, ctx) -> ir.Request:
    """The request with its output schema in the target's dialect, or written as instructions when it has none."""
    out = request.output
    if out is None:
        return request
    if ctx.caps.structured_output is None:
        return _as_instructions(request, ctx)
    lowered, wrapped, notes, problems = _lowered(out, ctx.dialect)
    for note in notes:
        ctx.note("PP405", f"output schema for {ctx.name}: {note}", out.span or request.span)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        ctx.note("PP413", f"output schema for {ctx.name} sent with `strict: false`: strict mode cannot express it: "
                 f"{problems[0]}{more}", out.span or request.span, help=STRICT_HELP)
    return attrs.evolve(request, output=attrs.evolve(out, schema=lowered, original=out.type_schema, wrapped=wrapped,
                                                     strict=not problems))


#: why a schema has no strict form, and what has one
STRICT_HELP = ("strict mode needs a closed object and a type everywhere: a `map[T]` or `json` value has no strict "
               "form; a record (or a list of key-value records) has, and gets the schema enforced")


@by_identity
def _lowered(out: ir.Output, dialect) -> tuple[dict, str | None, tuple[str, ...], tuple[str, ...]]:
    """The output's schema in `dialect`, the wrap key if it was wrapped, the notes (sorted), and the
    strict-mode rules the schema still breaks (a strict dialect: then it goes with `strict: false`).
    Once per output and dialect: the output of a compiled prompt is the same object on every render
    and its schema never changes (the deep copy was a third of a compile). Bodies never share the
    result: the session copies every body."""
    lowered = copy.deepcopy(out.schema)
    notes: set[str] = set()
    wrapped = None
    if dialect.object_root and lowered.get("type") != "object":
        lowered, wrapped = _wrap(lowered), WRAP_KEY
        notes.add(f"the {_kind(out.schema)} output is wrapped as `{{\"{WRAP_KEY}\": ...}}`: the root must be an object")
    if dialect.strict:
        _strict(lowered, notes)
    if dialect.inline_refs:
        lowered = _inline_refs(lowered, notes)
    if dialect.keywords is not None:
        lowered = _keep(lowered, dialect.keywords, notes)
    problems: list[str] = []
    if dialect.strict:
        _lone_refs(lowered, notes)
        problems = strict_schema_problems(lowered)
    return lowered, wrapped, tuple(sorted(notes)), tuple(problems)


#: Dialects whose root schema must be an object (`object_root`: OpenAI strict mode, Anthropic and
#: Bedrock tool-style schemas) get the value wrapped in this one property, unwrapped when the
#: reply is parsed.
WRAP_KEY = "value"


def _wrap(schema: dict) -> dict:
    defs = schema.pop("$defs", None)
    out = {"type": "object", "properties": {WRAP_KEY: schema}, "required": [WRAP_KEY], "additionalProperties": False}
    if defs:
        out["$defs"] = defs
    return out


def _kind(schema: dict) -> str:
    if "enum" in schema:
        return "enum"
    return {"array": "list", "string": "text", "integer": "number", "number": "number", "boolean": "boolean"}.get(
        str(schema.get("type")), "non-object")


def _walk(schema, visit) -> None:
    """Call `visit` on every sub-schema (dicts only), depth first."""
    if not isinstance(schema, dict):
        return
    visit(schema)
    for key in _SCHEMA_MAPS:
        for sub in (schema.get(key) or {}).values():
            _walk(sub, visit)
    for key in _SCHEMA_LISTS:
        for sub in schema.get(key) or ():
            _walk(sub, visit)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            _walk(schema[key], visit)


def _strict(schema: dict, notes: set[str]) -> None:
    """OpenAI strict mode: every property required, optional ones nullable; a type on every enum; only the
    string formats it knows."""
    def visit(node):
        if "enum" in node and "type" not in node:  # a literal of mixed kinds: `"auto" | 1`
            node["type"] = sorted({_json_kind(v) for v in node["enum"]})
        if isinstance(node.get("format"), str) and node["format"] not in FORMATS:
            notes.add(f"format `{node.pop('format')}` dropped (not supported)")
        if node.get("type") != "object" or "properties" not in node:
            return
        required = set(node.get("required", ()))
        for name, prop in node["properties"].items():
            if name not in required:
                node["properties"][name] = _nullable(prop)
                notes.add("optional fields are required and nullable in strict mode")
        node["required"] = list(node["properties"])
        node["additionalProperties"] = False

    _walk(schema, visit)


def _json_kind(value) -> str:
    return {type(None): "null", bool: "boolean", int: "integer", float: "number"}.get(type(value), "string")


def _lone_refs(schema: dict, notes: set[str]) -> None:
    """Strict mode takes no keyword beside a `$ref`: a described reference gets its definition inlined
    (OpenAI's own SDK does the same); a recursive one keeps the reference and loses the rest."""
    defs = schema.get("$defs", {})

    def visit(node):
        ref = node.get("$ref")
        if not isinstance(ref, str) or len(node) == 1:
            return
        beside = {k: node.pop(k) for k in list(node) if k != "$ref"}
        name = ref.rsplit("/", 1)[1] if ref.startswith("#/$defs/") else None
        if name in defs and not _reaches(defs, name, name, ()):
            del node["$ref"]
            body = copy.deepcopy(defs[name])
            if "description" in body and "description" in beside:  # the field's words, then the type's
                beside["description"] = f"{beside['description'].rstrip('.')}. {body['description']}"
            node.update({**body, **beside})
            notes.add("`$ref` with a description inlined (strict mode takes nothing beside a `$ref`)")
        else:
            notes.add(f"{', '.join(f'`{k}`' for k in beside)} beside a recursive `$ref` dropped "
                      f"(strict mode takes nothing beside a `$ref`)")

    _walk(schema, visit)


def _reaches(defs: dict, name: str, goal: str, seen: tuple[str, ...]) -> bool:
    """Does definition `name` refer to definition `goal`, directly or through others?"""
    refs: list[str] = []

    def collect(node):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            refs.append(ref.rsplit("/", 1)[1])

    _walk(defs[name], collect)
    return any(n == goal or (n in defs and n not in seen and _reaches(defs, n, goal, seen + (n,))) for n in refs)


def _nullable(prop: dict) -> dict:
    if any(alt.get("type") == "null" for alt in prop.get("anyOf", ())):
        return prop
    described = {k: prop[k] for k in ("description",) if k in prop}
    inner = {k: v for k, v in prop.items() if k != "description"}
    return {"anyOf": [inner, {"type": "null"}], **described}


def _keep(schema, allowed: set[str], notes: set[str]):
    """Drop keywords the dialect lacks (names under `properties` are kept)."""
    def clean(node):
        if not isinstance(node, dict):
            return node
        out = {}
        for k, v in node.items():
            if k not in allowed:
                notes.add(f"`{k}` dropped (not supported)")
                continue
            if k in _SCHEMA_MAPS:
                out[k] = {name: clean(sub) for name, sub in v.items()}
            elif k in _SCHEMA_LISTS:
                out[k] = [clean(sub) for sub in v]
            elif k in ("items", "additionalProperties") and isinstance(v, dict):
                out[k] = clean(v)
            else:
                out[k] = v
        return out

    return clean(schema)


def _inline_refs(schema: dict, notes: set[str]) -> dict:
    """Replace `$ref`s by their definitions where they do not recurse."""
    defs = schema.get("$defs", {})
    used: set[str] = set()

    def resolve(node, stack: tuple[str, ...]):
        if isinstance(node, list):
            return [resolve(x, stack) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name in stack or ref == "#":
                used.add(name)
                return {"$ref": ref}  # recursion stays a reference
            notes.add("`$ref` inlined")
            body = resolve(defs[name], stack + (name,))
            return {**body, **{k: v for k, v in node.items() if k != "$ref"}}
        if ref == "#":
            return node
        return {k: (resolve(v, stack) if k != "$defs" else v) for k, v in node.items()}

    out = resolve({k: v for k, v in schema.items() if k != "$defs"}, ())
    if used:
        out["$defs"] = {name: resolve(defs[name], (name,)) for name in sorted(used)}
    return out


def _as_instructions(request: ir.Request, ctx) -> ir.Request:
    """The output type written into the system text in the target's style (`output_instructions`),
    unless the prompt already holds those very instructions (or the style is "none")."""
    out = request.output
    assert out is not None and out.instructions is not None  # compile_prompt writes them for every output
    style = ctx.output_instructions
    text = out.instructions.get(style, "")
    if not text or any(text in m.text for m in request.messages):
        why = "`output_instructions: \"none\"`" if not text else "the prompt already holds them"
        ctx.note("PP406", f"{ctx.name} has no structured output: no instructions added ({why}); the reply is "
                 f"checked against the output type", out.span or request.span)
        return request
    what = "the schema" if style == "schema" else _COMPACT[compact_form(out.type)]
    ctx.note("PP406", f"{ctx.name} has no structured output: {what} is written into the system text, and the "
             f"reply is checked against the output type", out.span or request.span)
    messages = list(request.messages)
    if messages and messages[0].role == "system":
        first = messages[0]
        messages[0] = attrs.evolve(first, parts=first.parts + (ir.Text(text="\n\n" + text),))
    else:
        messages.insert(0, ir.Message(role="system", parts=(ir.Text(text=text),), span=out.span))
    return attrs.evolve(request, messages=tuple(messages))


#: what the compact instructions of each form are, in the PP406 note
_COMPACT = {"words": "the list of allowed answers", "line": "a one-line instruction",
            "typed": "the type's compact notation"}


def keeps_text_turns(ctx, request) -> bool:
    """Does this pass leave every render's plain text turns as they are, for the target of `ctx` and a prompt
    rendering like `request` (see `passes.text_turns_kept`)? Yes when a native schema changes only the output, the same for every render; instructions would add a system turn."""
    return request.output is None or ctx.caps.structured_output is not None
