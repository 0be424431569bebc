"""Render speed: the peers' benchmark prompt to OpenAI messages, beside the
hand-written f-string and a precompiled Jinja2 template in the same run.

Run: `.venv/bin/python bench/render_speed.py [--n 20000]`. The prompt is
bench/prompts/peers_bench.prompt, the same meaning as
../shared/bench/peers/prompts/* (system line, three few-shot turns looped from
a list, a final user turn with a bulleted context). Inputs and the reference
renderer come from ../shared/bench/peers/common.py. Outputs must equal the
reference exactly on the canonical, 300 varied and the tricky inputs.

Measured:
- `render`: the generated renderer alone (inputs already checked);
- `compile`: `PromptFile.compile("openai-chat", ...)`: input check, render, the
  full request body and the lowering report (made by the generated renderer);
  `compile_cached`: the same from a second `polyprompt.load`, served by the
  compile cache; `compile_passes`: the same body through the general path
  (closures to the IR, the passes, the emitter), as every prompt the generated
  renderer does not take, and every target but openai-chat/openai-compatible;
- cold: a fresh process that imports polyprompt, loads the file, compiles once,
  beside one that imports Jinja2 and renders once.
Targets (issue 4): warm render <= 3x the f-string; cold <= 0.5x the fastest
peer (the peers' own cold figures are in ../shared/bench/peers/RESULTS.md; the
fastest, the f-string process, is measured here).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PEERS = REPO.parent / "shared" / "bench" / "peers"
PROMPT = REPO / "bench" / "prompts" / "peers_bench.prompt"
OUT = REPO / "bench" / "results" / "render_speed.json"
sys.path.insert(0, str(PEERS))
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

def per_call(fn, n: int) -> float:
    """Best of 5 runs of n calls, in microseconds per call."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def jinja_renderer():
    import jinja2

    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True)
    system = env.from_string("You are {{ persona }}.{% if strict %}\n{{ sentence }}{% endif %}")
    user = env.from_string(
        "Question: {{ question }}\nContext:\n{% for c in context %}- {{ c }}{% if not loop.last %}\n{% endif %}{% endfor %}")

    def render(inp, sentence):
        msgs = [{"role": "system", "content": system.render(persona=inp["persona"], strict=inp["strict"],
                                                             sentence=sentence)}]
        for ex in inp["examples"]:
            msgs.append({"role": "user", "content": ex["question"]})
            msgs.append({"role": "assistant", "content": ex["answer"]})
        msgs.append({"role": "user", "content": user.render(question=inp["question"], context=inp["context"])})
        return msgs

    return render


def cold(code: str, runs: int = 7) -> float:
    subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, check=True)  # warm .pyc
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, check=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    import common

    import polyprompt

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    from polyprompt.session import load as load_file
    from polyprompt.session.targets import info as target_info

    pf = load_file(PROMPT)
    pf.analysis  # loaded: the compiler's own path, whatever the compile cache holds from an earlier run
    inputs = [common.CANONICAL, common.TRICKY, *common.make_inputs(300)]
    results = {name: common.compare(pf.compile("openai-chat", inputs=x).body["messages"], common.reference(x))
               for name, x in [("canonical", inputs[0]), ("tricky", inputs[1])]}
    varied = {common.compare(pf.compile("openai-chat", inputs=x).body["messages"], common.reference(x))
              for x in inputs[2:]}
    results["varied"] = varied.pop() if len(varied) == 1 else "different"
    fast = pf._generated[("bench", "openai-chat")]
    canon = common.CANONICAL
    assert pf.compile("openai-chat", inputs=canon).made_by == "generated"
    backend = pf.backend("openai-chat")
    info = target_info("openai-chat", backend)
    target = {"name": "openai-chat", "family": "openai", "kind": "api"}
    values = pf.check_inputs(pf.prompt(), canon)
    jinja = jinja_renderer()
    assert jinja(canon, common.STRICT_SENTENCE) == common.reference(canon)
    figures = {
        "fstring_us": per_call(lambda: common.reference(canon), args.n),
        "jinja2_us": per_call(lambda: jinja(canon, common.STRICT_SENTENCE), args.n),
        "polyprompt_render_us": per_call(lambda: fast.render(values, target), args.n),
        "polyprompt_compile_us": per_call(lambda: pf.compile("openai-chat", inputs=canon), args.n),
        "polyprompt_compile_passes_us": per_call(
            lambda: pf._through_passes(pf.prompt(), backend, pf.check_inputs(pf.prompt(), canon), info, False), args.n // 10),
    }
    assert pf._through_passes(pf.prompt(), backend, values, info, False).body == pf.compile(
        "openai-chat", inputs=canon).body
    cached = polyprompt.load(PROMPT)  # a second load: served by the compile cache (session/cache.py)
    assert cached.compile("openai-chat", inputs=canon).made_by == "cache"
    figures["polyprompt_compile_cached_us"] = per_call(lambda: cached.compile("openai-chat", inputs=canon), args.n)
    load = (f"import polyprompt; pf = polyprompt.load({str(PROMPT)!r}); import sys; sys.path.insert(0, {str(PEERS)!r}); "
            "import common; pf.compile('openai-chat', inputs=common.CANONICAL)")
    figures["cold_polyprompt_ms"] = cold(load)
    figures["cold_fstring_ms"] = cold(f"import sys; sys.path.insert(0, {str(PEERS)!r}); import common; "
                                      "common.reference(common.CANONICAL)")
    figures["cold_jinja2_ms"] = cold("import jinja2; jinja2.Template('You are {{ p }}.').render(p='x')")
    f = figures["fstring_us"]
    report = {**{k: round(v, 2) for k, v in figures.items()}, "outputs": results,
              "render_x_fstring": round(figures["polyprompt_render_us"] / f, 2),
              "compile_x_fstring": round(figures["polyprompt_compile_us"] / f, 2),
              "compile_passes_x_fstring": round(figures["polyprompt_compile_passes_us"] / f, 2),
              "jinja2_x_fstring": round(figures["jinja2_us"] / f, 2),
              "cold_x_jinja2": round(figures["cold_polyprompt_ms"] / figures["cold_jinja2_ms"], 2)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, OUT)  # written whole or not at all
    print(f"outputs vs reference: {results}")
    print("| measure | µs or ms | × f-string |")
    print("|---|---|---|")
    for key in ("fstring_us", "jinja2_us", "polyprompt_render_us", "polyprompt_compile_us",
                "polyprompt_compile_cached_us", "polyprompt_compile_passes_us"):
        print(f"| warm {key[:-3]} | {figures[key]:.2f} µs | {figures[key] / f:.1f}× |")
    for key in ("cold_fstring_ms", "cold_jinja2_ms", "cold_polyprompt_ms"):
        print(f"| cold {key[5:-3]} (whole process) | {figures[key]:.0f} ms | |")


if __name__ == "__main__":
    main()
