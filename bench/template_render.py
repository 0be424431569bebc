"""Chat-template rendering alone: polyprompt's ChatTemplate against transformers' own
`render_jinja_template` (transformers/utils/chat_template_utils.py, what apply_chat_template calls
with tokenize=False), on the same built-in family templates and a four-message conversation,
outputs checked equal first. Both sandboxed (a template read from a model folder) and, for ours,
trusted (the templates shipped in the package).

Run: `.venv/bin/python bench/template_render.py`; docs/model-templates.md holds a run.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

FAMILIES = ("qwen3", "llama-3.1", "gemma-3", "mistral-v3", "deepseek-v3", "chatml")
CONVERSATION = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"},
                {"role": "user", "content": "Who are you?"}]


def best_us(fn, number: int = 2000, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best * 1e6


OUT = Path(__file__).resolve().parent / "results" / "template_render.json"


def main() -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    from polyprompt.backends.hf.families import family
    from polyprompt.backends.hf.chat_template.render import ChatTemplate

    results = {}
    print("| family | transformers render_jinja_template | ours, sandboxed | ratio | ours, trusted | ratio |")
    print("|---|---|---|---|---|---|")
    for name in FAMILIES:
        fam = family(f"hf-family:{name}")
        trusted = fam.chat_template(date=None)
        variables = dict(trusted.variables)
        sandboxed = ChatTemplate(fam.source_text(), extra=variables)
        conv = CONVERSATION

        def theirs():
            return render_jinja_template(conversations=[conv], chat_template=fam.source_text(),
                                         add_generation_prompt=True, **variables)[0][0]

        expected = theirs()
        assert sandboxed.render(conv, add_generation_prompt=True) == expected == \
            trusted.render(conv, add_generation_prompt=True), name
        t_hf = best_us(theirs)
        t_sb = best_us(lambda: sandboxed.render(conv, add_generation_prompt=True))
        t_tr = best_us(lambda: trusted.render(conv, add_generation_prompt=True))
        print(f"| {name} | {t_hf:.1f} µs | {t_sb:.1f} µs | {t_hf / t_sb:.1f}× | {t_tr:.1f} µs | {t_hf / t_tr:.1f}× |")
        results[name] = {"transformers_us": round(t_hf, 2), "sandboxed_us": round(t_sb, 2), "trusted_us": round(t_tr, 2),
                         "ratio_sandboxed": round(t_hf / t_sb, 2), "ratio_trusted": round(t_hf / t_tr, 2)}
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(tmp, OUT)


if __name__ == "__main__":
    main()
