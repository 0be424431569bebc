"""Request-body fields a prompt adds itself: the `body` setting, `--body-field`, `extra_body`.

A field the provider's API has and polyprompt does not write (OpenAI's `logprobs` or
`service_tier`, Anthropic's `metadata`...) goes into the body as given. Where the provider's
request schema is known (request_fields.json, made from the official schemas by
tests/request_fields.py) an unknown field or a value of the wrong shape is PP304, with a
did-you-mean; a field polyprompt writes (`model`, `messages`, `tools`, a setting's field...)
is PP304 too: it is never replaced. Each field taken is noted in the lowering report (PP415).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Mapping

from ..compiler.targets import BodyFields, Unsupported, did_you_mean

#: the shipped field schemas, by target (see tests/request_fields.py)
DATA = Path(__file__).with_name("request_fields.json")


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def body_fields(target: str, owned: Mapping[str, str]) -> BodyFields:
    """What a body field may be on `target` (its request schema's name), given the fields it writes."""
    known = _data().get(target)
    if known is None:
        return BodyFields(owned=owned)
    return BodyFields(owned=owned, schema=known["schema"], fields=frozenset(known["fields"]),
                      validate=functools.partial(_validate, target))


def _validate(target: str, field: str, value: Any) -> str | None:
    """What is wrong with `value` for `field` of `target`'s request (the first error), or None."""
    validator = _validator(target, field)
    if validator is None:
        return None
    import jsonschema

    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"`{field}{where}` {_wanted(error)}"


def _wanted(error) -> str:
    """What a value should have been, in words: the types or values the schema's branches allow."""
    got = _short(json.dumps(error.instance, ensure_ascii=False), 60)
    branches = [e for e in (error.context or ()) if not e.relative_path] if error.validator in ("anyOf", "oneOf") \
        else [error]
    wanted = []
    for e in branches:
        if e.validator == "type":
            wanted += [e.validator_value] if isinstance(e.validator_value, str) else list(e.validator_value)
        elif e.validator in ("enum", "const"):
            values = e.validator_value if e.validator == "enum" else [e.validator_value]
            wanted += [json.dumps(v) for v in values]
    if wanted and len(branches) == len(error.context or [error]):
        return f"takes {' or '.join(dict.fromkeys(wanted))}, got {got}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list((error.schema.get("properties") or {}))
        extra = next((k for k in error.instance if k not in allowed), None)
        if extra is not None:
            near = did_you_mean(extra, allowed)
            return f"has no field `{extra}`" + (f" ({near})" if near else f" (fields: {', '.join(allowed)})")
    return "is refused: " + _short(error.message)


@functools.lru_cache(maxsize=64)
def _validator(target: str, field: str):
    """A validator of one field's values (None for a field without a schema: polyprompt writes it)."""
    import jsonschema

    known = _data()[target]
    schema = known["schemas"].get(field)
    if schema is None:
        return None
    return jsonschema.Draft202012Validator({**schema, "$defs": known["$defs"]})


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


def add_fields(body: dict, fields: Mapping[str, Any], target: str, span) -> dict:
    """`body` with `fields` added; `Unsupported` (PP304) for a field the body already has (polyprompt
    wrote it: never replaced)."""
    for field, value in fields.items():
        if field in body:
            raise Unsupported("PP304", f"`{field}` is written by polyprompt on {target}: a body field may not "
                              f"replace it", span, help="leave it out of the body fields")
        body[field] = value
    return body

