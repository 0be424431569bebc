"""`{% generation %}` spans from the compiled renderer (compiler.py), which has no call blocks.

A template's generation blocks are rewritten as marker outputs, each tag's whitespace control
kept on an `if true` around it:

    {%- generation %}BODY{%- endgeneration %}
    ->  {%- if true %}{{ OPEN }}{% if true %}BODY{%- endif %}{{ CLOSE }}{% endif %}

and the rewritten template is compiled to one Python function; a render's markers are taken out
and where they stood are the spans (`spans_of`), what Jinja's `GenerationTracker` records. A
block's body runs in the caller macro's scope under Jinja: the rewrite is made only when no body
sets a plain name or reads `loop`, `caller`, `varargs` or `kwargs` outside a `for` of its own
(then the scopes cannot differ). Data holding a marker character is rendered by Jinja.
tests/test_dataset_spans.py proves the text and spans equal Jinja's on every training template.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

from jinja2 import nodes

#: private-use characters of plane 15 (the token sentinels are in plane 16)
OPEN, CLOSE = "\U000F0000", "\U000F0001"
_MARKERS = re.compile(f"[{OPEN}{CLOSE}]")
_TAG = re.compile(r"\{%(-?)\s*(generation|endgeneration)\s*(-?)%\}")
_COMMENT = re.compile(r"\{#.*?#\}", re.S)
#: names a caller macro's body reads as its own
_CALLER_NAMES = frozenset({"loop", "caller", "varargs", "kwargs"})


def marked_source(template: Any, source: str) -> str | None:
    """`source` with its generation blocks written as marker outputs, or None when that could
    render otherwise (see the module docstring). `template`: Jinja's compile of `source`."""
    if OPEN in source or CLOSE in source:
        return None
    comments = [m.span() for m in _COMMENT.finditer(source)]
    tags = [t for t in _TAG.finditer(source) if not any(a <= t.start() < b for a, b in comments)]
    if "{% raw" in source or "{%- raw" in source:
        return None
    if not tags or [t.group(2) for t in tags] != ["generation", "endgeneration"] * (len(tags) // 2):
        return None
    blocks = [n for n in template.environment.parse(source).find_all(nodes.CallBlock)]
    if len(blocks) != len(tags) // 2 or not all(_scope_free(block.body) for block in blocks):
        return None
    out, at = [], 0
    for tag in tags:
        left, right = tag.group(1), tag.group(3)
        if tag.group(2) == "generation":
            written = f"{{%{left} if true %}}{{{{ '{OPEN}' }}}}{{% if true {right}%}}"
        else:
            written = f"{{%{left} endif %}}{{{{ '{CLOSE}' }}}}{{% endif {right}%}}"
        out += [source[at:tag.start()], written]
        at = tag.end()
    out.append(source[at:])
    return "".join(out)


def _scope_free(body: list) -> bool:
    """Whether statements render the same in a caller macro and in place: no plain name set and
    no caller-macro name read, outside a `for` of their own (a loop has its own scope either way)."""
    for node in body:
        if isinstance(node, nodes.For):
            if not all(_reads_no_caller_names(part) for part in (node.iter, node.test) if part is not None):
                return False
            if not _scope_free(node.else_):
                return False
            continue
        if isinstance(node, (nodes.Macro, nodes.CallBlock, nodes.AssignBlock, nodes.FilterBlock, nodes.Scope)):
            return False
        if isinstance(node, nodes.Assign) and not isinstance(node.target, nodes.NSRef):
            return False
        if not _reads_no_caller_names(node, skip_loops=True):
            return False
        if isinstance(node, nodes.If) and not all(_scope_free(part) for part in (node.body, node.else_, node.elif_)):
            return False
    return True


def _reads_no_caller_names(node: nodes.Node, skip_loops: bool = False) -> bool:
    for name in node.find_all(nodes.Name):
        if name.name in _CALLER_NAMES and not (skip_loops and _inside_loop(node, name)):
            return False
    return True


def _inside_loop(root: nodes.Node, target: nodes.Node) -> bool:
    """Whether `target` sits in the body of a `for` within `root` (a name of that loop's own)."""
    return any(target in set(loop.find_all(nodes.Name)) for loop in root.find_all(nodes.For))


def spans_of(marked: str) -> tuple[str, list[tuple[int, int]]] | None:
    """The render without its markers, and the [start, end) spans they enclosed; None when they
    do not pair (then Jinja renders)."""
    pieces, spans, at, length, opened = [], [], 0, 0, None
    for match in _MARKERS.finditer(marked):
        piece = marked[at:match.start()]
        pieces.append(piece)
        length += len(piece)
        if match.group() == OPEN:
            if opened is not None:
                return None
            opened = length
        else:
            if opened is None:
                return None
            spans.append((opened, length))
            opened = None
        at = match.end()
    if opened is not None:
        return None
    pieces.append(marked[at:])
    return "".join(pieces), spans


def holds_markers(context: dict) -> bool:
    """Whether any string of a render's context holds a marker character: one look at its JSON
    text (non-JSON values, or none: a walk over its strings)."""
    try:
        text = _json_text(list(context.values()))
    except (TypeError, ValueError, RecursionError):
        return _walk(context)
    return OPEN in text or CLOSE in text


def _walk(value: Any) -> bool:
    if isinstance(value, str):
        return OPEN in value or CLOSE in value
    if isinstance(value, dict):
        return any(_walk(k) or _walk(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_walk(v) for v in value)
    return False


def _make_json_text() -> Callable[[Any], str]:
    """JSON text with every character as it is (`ensure_ascii=False`), from one prebuilt encoder."""
    from json.encoder import encode_basestring

    try:
        from _json import make_encoder
    except ImportError:  # not CPython's _json
        return lambda value: json.dumps(value, ensure_ascii=False)
    encode = make_encoder(None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, True)
    return lambda value: "".join(encode(value, 0))


_json_text = _make_json_text()


SpanRender = Callable[[dict], str]
