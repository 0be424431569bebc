"""Open models (Hugging Face format): their chat templates and tokenizers are the platform.

- `target`: the `hf-family:<name>`, `hf:<dir>` and `hf:<file.gguf>` backends (probe -> Caps -> the
  shared passes -> prompt text, token ids, stop ids, images);
- `template`: `ChatTemplate`, which renders a HF chat template exactly as transformers does, with
  jinja2 only (transformers is never imported here); `jinja_fast` (a faster Jinja code generator)
  and `template_compiler` (a template as one Python function, Jinja as the fallback) make it fast;
- `probe`, `probe_tools`: what a template does (system role, alternation, tools, images...);
- `tokens`: `Encoder`, token ids equal to `apply_chat_template(tokenize=True)`, data never a control
  token; its engines: `byte_level` (byte-level BPE encoded by tiktoken), `spm` (SentencePiece-style
  BPE, Gemma and Mistral v3, encoded by tiktoken), `bulk` (fastokens, for many conversations);
- `families`: the built-in `hf-family:<name>` profiles and their template files in `templates/`;
- `gguf`: a GGUF header reader; `assets`: registry tokenizers and converted folders in the asset
  cache; `run`: local generation with transformers (`polyprompt run`).

Nothing is imported until it is used: `from polyprompt.backends.hf import ChatTemplate` loads
`template` (and jinja2) on first access.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"ChatTemplate": "template", "TemplateError": "template",
         "FAMILIES": "families", "Family": "families", "UnknownFamily": "families", "family": "families"}

__all__ = ["FAMILIES", "ChatTemplate", "Family", "TemplateError", "UnknownFamily", "family"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
