"""Open models (Hugging Face format): their chat templates and tokenizers are the platform.

- `target`: the `hf-family:<name>`, `hf:<dir>` and `hf:<file.gguf>` backends (probe -> Caps -> the
  shared passes -> prompt text, token ids, stop ids, images);
- `families`: the built-in `hf-family:<name>` profiles, their template files in `templates/`, and
  the registry tokenizers their token ids come from (`TOKENIZERS`);
- `chat_template/`: `ChatTemplate`, which renders a HF chat template exactly as transformers does,
  with jinja2 only (transformers is never imported here), and what makes it fast;
- `probe/`: what a template does (system role, alternation, tools, images...), learned by rendering;
- `tokens/`: `Encoder`, token ids equal to `apply_chat_template(tokenize=True)`, data never a control
  token, and its engines (tiktoken for byte-level and SentencePiece-style BPE, fastokens in bulk);
- `assets/`: model files: the GGUF header reader, the registry tokenizers and the folders converted
  into the asset cache.

Running a model is not here: `polyprompt.run.local` (`polyprompt run`). Nothing is imported until it
is used: `from polyprompt.backends.hf import ChatTemplate` loads `chat_template.render` (and jinja2)
on first access.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {"ChatTemplate": "chat_template.render", "TemplateError": "chat_template.render",
         "FAMILIES": "families", "Family": "families", "UnknownFamily": "families", "family": "families"}

__all__ = ["FAMILIES", "ChatTemplate", "Family", "TemplateError", "UnknownFamily", "family"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
