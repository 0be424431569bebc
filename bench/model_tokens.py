"""Render + tokenize a conversation: polyprompt against
`tokenizer.apply_chat_template(..., tokenize=True)` on the same tokenizers and
conversations, ids checked equal first (issue 5 target: >= 5x faster).

Run: `.venv/bin/python bench/model_tokens.py` after `bash .ci/fetch-model-assets .venv`.
The measuring code lives with the test conversations in tests/hf_assets.py, so the
benchmark and the parity tests use the same inputs; docs/model-tokens.md holds a run, and
bench/results/model_tokens.json the last one.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "model_tokens.json"
sys.path.insert(0, str(REPO / "tests"))

import hf_assets  # noqa: E402

if __name__ == "__main__":
    rows = hf_assets.main()
    results = {r["name"]: {"engine": r["engine"], "conversations": r["conversations"],
                           "transformers_us": round(r["hf"], 1), "ours_us": round(r["ours"], 1),
                           "ratio": round(r["hf"] / r["ours"], 2), "median_ratio": round(r["median"], 2),
                           "render_ratio": round(r["hf_render"] / r["ours_render"], 2),
                           "tokenize_ratio": round(r["hf_encode"] / r["ours_encode"], 2)} for r in rows}
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, OUT)  # written whole or not at all
