"""Training open models from prompt sources (`polyprompt.train`, `polyprompt train`).

Fine-tuning (full or LoRA), distillation from a teacher, multi-task mixing and domain adaptation,
on the tokenized datasets of `polyprompt.dataset`: the model learns exactly the text that
`polyprompt compile -t hf:OUT` later sends it. torch, transformers and peft are imported only
inside the functions that train (the `train` extra).
"""
from __future__ import annotations

if __name__ != "polyprompt.train":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.train, not {__name__!r} (repo root is on sys.path)")
