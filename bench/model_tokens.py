"""Render + tokenize a conversation: polyprompt against
`tokenizer.apply_chat_template(..., tokenize=True)` on the same tokenizers and
conversations, ids checked equal first (issue 5 target: >= 5x faster).

Run: `.venv/bin/python bench/model_tokens.py` after `bash .ci/fetch-model-assets .venv`.
The measuring code lives with the test conversations in tests/hf_assets.py, so the
benchmark and the parity tests use the same inputs; docs/model-tokens.md holds a run.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import hf_assets  # noqa: E402

if __name__ == "__main__":
    hf_assets.main()
