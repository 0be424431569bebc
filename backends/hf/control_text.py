"""The control-token text of a chat template when no tokenizer is at hand (PP411).

With a tokenizer, `tokens.encoder.Encoder` knows the control tokens and encodes data holding their
text as plain text. Without one (the families with no registry tokenizer, an `hf:<dir>` without
tokenizer.json, a GGUF file not converted yet) the body's `prompt` carries the data verbatim, so the
lowering report must say when data holds markup the template itself writes. That markup is read
from the template: its named special tokens, the literal text of its source shaped like chat
markup (`<|im_start|>`, `<start_of_turn>`, `[INST]`, `<｜User｜>`, `<think>`...), and the image
placeholder probing found.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import jinja2.nodes

from .chat_template.render import ChatTemplate
from .tokens.spm import trie_pattern

__all__ = ["markup", "finder"]

#: Literal text shaped like chat markup: <|name|>, <｜name｜>, [NAME] / [/NAME], <name> / </name>.
MARKUP = re.compile(r"<\|[^\s|<>]{1,64}\|>|<｜[^\s｜]{1,64}｜>|\[/?[A-Z][A-Z0-9_]{1,63}\]|</?[A-Za-z_][\w▁.-]{0,63}>")


def markup(template: ChatTemplate, image_placeholder: str | None = None) -> frozenset[str]:
    """The control-token texts of `template`: named special tokens, markup-shaped literals, the
    image placeholder (stripped of surrounding whitespace)."""
    found = {v for v in template.variables.values() if isinstance(v, str) and v.strip()}
    try:
        tree = template.compiled.environment.parse(template.source)
    except (jinja2.TemplateError, RecursionError):
        tree = None
    if tree is not None:
        for node in tree.find_all((jinja2.nodes.TemplateData, jinja2.nodes.Const)):
            text = getattr(node, "data" if isinstance(node, jinja2.nodes.TemplateData) else "value", None)
            if isinstance(text, str):
                found.update(MARKUP.findall(text))
    if image_placeholder and image_placeholder.strip():
        found.add(image_placeholder.strip())
    return frozenset(found)


def finder(texts: frozenset[str]) -> Callable[[str], list[str]]:
    """`find(text)`: the `texts` a string holds, leftmost-longest, in order."""
    pattern = re.compile(trie_pattern(sorted(texts)))
    return pattern.findall
