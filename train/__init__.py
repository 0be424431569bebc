"""Training open models from prompt sources (`polyprompt.train`, `polyprompt train`).

Fine-tuning (full or LoRA), distillation from a teacher, multi-task mixing and domain adaptation,
on the tokenized datasets of `polyprompt.dataset`: the model learns exactly the text that
`polyprompt compile -t hf:OUT` later sends it. torch, transformers and peft are imported only
inside the functions that train (the `train` extra).
"""
from __future__ import annotations

if __name__ != "polyprompt.train":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.train, not {__name__!r} (repo root is on sys.path)")

_EXPORTS = {
    "train": "api",
    "TrainResult": "api",
    "TrainConfig": "config",
    "TrainFailure": "config",
    "LossOut": "objectives",
    "Objective": "objectives",
    "CausalLM": "objectives",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.train' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
