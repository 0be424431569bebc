"""Render + tokenize a conversation: polyprompt against `tokenizer.apply_chat_template(...,
tokenize=True)` on the same tokenizers and conversations (issue 5 target: >= 5x faster).

Two polyprompt engines are measured (docs/model-tokens.md, "Engines"): the default one, which a
compile to `hf:<dir>` loads (tiktoken, or tiktoken with spm.py's tables), and the bulk one,
`Encoder(bulk=True)` (fastokens), which loads slower and is meant for many conversations. Their
load times are measured beside transformers' `AutoTokenizer.from_pretrained`.

The inputs are the test conversations of tests/hf_assets.py. Every round encodes fresh ones: round
r writes "(r) " in front of every non-empty message, so no engine serves a whole message from a
cache (tokenizers and fastokens keep the BPE of the words they have seen, and a SentencePiece-style
tokenizer's word is a whole message). The ids of every conversation of every round are checked
equal to transformers' first. Figures: µs per conversation, the best round's mean.

Run: `.venv/bin/python bench/model_tokens.py` after `bash .ci/fetch-model-assets .venv`; it prints
the table of docs/model-tokens.md and writes bench/results/model_tokens.json.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "model_tokens.json"
sys.path.insert(0, str(REPO / "tests"))

import hf_assets  # noqa: E402
from polyprompt.backends.hf.assets.tokenizers import NAMES, tokenizer_dir  # noqa: E402
from polyprompt.backends.hf.chat_template.render import ChatTemplate  # noqa: E402
from polyprompt.backends.hf.tokens.encoder import Encoder  # noqa: E402

ROUNDS = 7


def fresh(conv: dict, r: int) -> dict:
    """The conversation with "(r) " in front of every non-empty message."""
    def marked(message: dict) -> dict:
        content = message.get("content")
        return {**message, "content": f"({r}) {content}"} if isinstance(content, str) and content else message

    return {**conv, "messages": [marked(m) for m in conv["messages"]]}


def timed(fn, rounds: list[list]) -> tuple[float, list[float]]:
    """(the best round's mean, each item's best time), in µs; round r runs over `rounds[r]`."""
    best_round = float("inf")
    best_item = [float("inf")] * len(rounds[0])
    clock = time.perf_counter
    for items in rounds:
        total = 0.0
        for i, item in enumerate(items):
            t0 = clock()
            fn(item)
            dt = clock() - t0
            total += dt
            best_item[i] = min(best_item[i], dt)
        best_round = min(best_round, total / len(items))
    return best_round * 1e6, [t * 1e6 for t in best_item]


def load_seconds(make, tries: int = 2) -> float:
    """The best of `tries` loads, in s (the first may include imports and a cold file cache)."""
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        make()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(name: str) -> dict:
    from transformers import AutoTokenizer

    folder = tokenizer_dir(name)
    load = {"transformers": load_seconds(lambda: AutoTokenizer.from_pretrained(str(folder))),
            "default": load_seconds(lambda: Encoder.from_dir(folder)),
            "bulk": load_seconds(lambda: Encoder.from_dir(folder, bulk=True))}
    enc, tok = hf_assets.load(name)
    bulk = Encoder.from_dir(folder, bulk=True)
    template = ChatTemplate(enc.chat_template, bos_token=enc.bos_token, eos_token=enc.eos_token)

    def ours(encoder):
        def run(c):
            rendered = template.render(encoder.protect(c["messages"]), tools=encoder.protect(c.get("tools")),
                                       add_generation_prompt=c.get("gen", False))
            return encoder.encode_chat(rendered)
        return run

    def hf(c):
        return tok.apply_chat_template(c["messages"], tools=c.get("tools"), tokenize=True,
                                       add_generation_prompt=c.get("gen", False))["input_ids"]

    convs = hf_assets.conversations(name)
    rounds = [[fresh(c, r) for c in convs] for r in range(ROUNDS)]
    for items in rounds:
        for c in items:
            assert ours(enc)(c) == ours(bulk)(c) == hf(c), (name, c["id"])
    texts = [[template.render(enc.protect(c["messages"]), tools=enc.protect(c.get("tools")),
                              add_generation_prompt=c.get("gen", False)) for c in items] for items in rounds]

    hf_us, hf_each = timed(hf, rounds)
    default_us, default_each = timed(ours(enc), rounds)
    bulk_us, bulk_each = timed(ours(bulk), rounds)
    bulk_ratios = {c["id"]: h / b for c, h, b in zip(convs, hf_each, bulk_each)}
    default_ratios = {c["id"]: h / d for c, h, d in zip(convs, hf_each, default_each)}
    tokenize = {"transformers": timed(lambda t: tok(t, add_special_tokens=False)["input_ids"], texts)[0],
                "default": timed(enc.encode_chat, texts)[0], "bulk": timed(bulk.encode_chat, texts)[0]}
    return {"name": name, "engine": enc.engine, "bulk_engine": bulk.engine, "conversations": len(convs),
            "chars": sum(map(len, texts[0])) / len(convs), "transformers_us": hf_us,
            "default_us": default_us, "bulk_us": bulk_us,
            "default_ratio": hf_us / default_us, "bulk_ratio": hf_us / bulk_us,
            "default_median": _median(default_ratios), "default_lowest": _lowest(default_ratios),
            "bulk_median": _median(bulk_ratios), "bulk_lowest": _lowest(bulk_ratios),
            "tokenize_us": tokenize, "load_s": load}


def _median(ratios: dict) -> float:
    values = sorted(ratios.values())
    return values[len(values) // 2]


def _lowest(ratios: dict) -> list:
    conv, ratio = min(ratios.items(), key=lambda kv: kv[1])
    return [conv, ratio]


def table(rows: list[dict]) -> str:
    lines = [f"µs per conversation, best of {ROUNDS} rounds of fresh conversations, one run; ratio = transformers / ours",
             "",
             "| tokenizer | convs | chars/conv | transformers | default engine | ratio | median · lowest | bulk engine "
             "| ratio | median · lowest | tokenize only: transformers / default / bulk | load s: transformers / default / bulk |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        tk, ld = r["tokenize_us"], r["load_s"]
        lines.append(
            f"| {r['name']} | {r['conversations']} | {r['chars']:.0f} | {r['transformers_us']:.0f} "
            f"| {r['engine']} {r['default_us']:.0f} | **{r['default_ratio']:.1f}×** "
            f"| {r['default_median']:.1f}× · {r['default_lowest'][1]:.1f}× ({r['default_lowest'][0]}) "
            f"| {r['bulk_engine']} {r['bulk_us']:.0f} | **{r['bulk_ratio']:.1f}×** "
            f"| {r['bulk_median']:.1f}× · {r['bulk_lowest'][1]:.1f}× ({r['bulk_lowest'][0]}) "
            f"| {tk['transformers']:.0f} / {tk['default']:.0f} / {tk['bulk']:.0f} "
            f"| {ld['transformers']:.2f} / {ld['default']:.2f} / {ld['bulk']:.2f} |")
    return "\n".join(lines)


def main() -> list[dict]:
    rows = [measure(name) for name in NAMES if tokenizer_dir(name) is not None]
    print(table(rows))
    rounded = {r["name"]: _rounded(r) for r in rows}
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(rounded, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, OUT)  # written whole or not at all
    return rows


def _rounded(value):
    if isinstance(value, float):
        return round(value, 3 if value < 10 else 1)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
