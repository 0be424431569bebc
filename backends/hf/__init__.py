"""Open models (Hugging Face format): their chat templates are the platform.

- `template`: `ChatTemplate`, which renders a HF chat template exactly as transformers does,
  with jinja2 only (transformers is never imported here);
- `families`: the built-in `hf-family:<name>` profiles (Llama 3.x, Qwen, Gemma, Mistral, Phi,
  DeepSeek, SmolLM2, ChatML) and their template files in `templates/`;
- `assets`: the real tokenizers that tests check token ids against.

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
