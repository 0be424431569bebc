"""Bulk-run speed (issue 16): 1,000 rows against a sender with a realistic network latency.

Two prompts: a plain one the compile session renders with its generated renderer (~20 us a row),
and the review moderation example, which goes through the lowering passes (~0.2 ms a row). A
cached re-run does not compile a row: the reply cache's inputs index (run/cache.py) finds the body
key from the program's fingerprint and the row's inputs, so both prompts cost the same from it.

Run: `.venv/bin/python bench/run_speed.py [--rows 1000] [--latency-ms 20] [--provider-latency-ms 400]`.
Prints a table and writes bench/results/run_speed.json. Three runs of the same rows of each prompt
through `run/bulk.py`, each compiling (or, from the cache, looking up) every row for openai-chat,
journaling it and writing the results file:

1. one at a time (`concurrency=1`), with a fresh reply cache;
2. `concurrency=32`, with another fresh reply cache (every row sent, every reply stored);
3. the same as 2 again: every reply comes from the cache, nothing is sent.

The sender sleeps `latency-ms` per request (asyncio, so concurrent requests overlap as they do
over HTTP) and answers in the OpenAI shape. Targets: run 2 >= 20x faster than run 1; run 3 >= 100x
faster than the first run (reported against run 1, and against run 2 as well).

The ratios grow with the provider's latency (the cached run does not wait for it), so runs 2 and 3
are made again at `--provider-latency-ms` (default 400 ms: an assumption, see PROVIDER_LATENCY);
run 1 is not (1,000 requests one at a time would take 1,000 x that): its time is estimated as the
rows times that latency plus the per-row overhead measured in run 1 at `--latency-ms`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

#: where the default provider latency comes from (no measurement of ours: we have no provider access)
PROVIDER_LATENCY = ("an assumption: about 0.4 s to the first token for gpt-4o-mini, a third-party figure "
                    "(https://apikeyhealth.com/blogs/the-latency-tradeoff, 2026-03); a label of a few tokens "
                    "ends about then. Larger models are slower (~1.2 s for gpt-4o there), which only raises the ratios")
REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "run_speed.json"


class Reply:
    """A sender's result (the fields of `run/api.py` `ApiResult`)."""

    def __init__(self, value, text, latency_ms):
        self.value, self.text, self.latency_ms = value, text, latency_ms
        self.raw = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        self.usage = {"prompt_tokens": 180, "completion_tokens": 3, "total_tokens": 183}
        self.parse_error = self.tool_calls = None


def sender(latency_s: float):
    """An async sender: waits like a provider would, answers `publish`, counts requests."""
    calls = [0]

    async def send(compiled):
        calls[0] += 1
        started = time.perf_counter()
        await asyncio.sleep(latency_s)
        return Reply("publish", '"publish"', (time.perf_counter() - started) * 1000)

    send.calls = calls  # type: ignore[attr-defined]
    return send


#: a prompt the compile session renders with its generated renderer (about 20 us a row)
SIMPLE = """\
enum Decision { publish reject needs_review }

prompt moderate_review(review: str, rating: int, product_title: str, verified_purchase: bool = false) -> Decision {
  model "gpt-4o-mini" { temperature: 0, max_tokens: 20 }
  system "You moderate marketplace reviews. Answer publish, reject or needs_review."
  user \"\"\"
    Product: {{ product_title }}
    Rating: {{ rating }}/5
    {{ review }}
    \"\"\"
}
"""


def rows(n: int) -> list[dict]:
    """n distinct inputs of the review moderation prompt."""
    return [{"review": f"Review number {i}: the pan heats evenly and the handle stays cool.", "rating": i % 5 + 1,
             "product_title": f"Frying pan model {i}", "verified_purchase": i % 2 == 0} for i in range(n)]


def timed(pf, inputs, send, folder: Path, name: str, concurrency: int, cache) -> tuple[float, object]:
    from polyprompt.run import bulk

    started = time.perf_counter()
    summary = bulk.run_rows(pf, inputs, "openai-chat", send, out=folder / f"{name}.jsonl", concurrency=concurrency,
                            cache=cache, progress=False)
    return time.perf_counter() - started, summary


def at_provider_latency(pf, inputs, latency_s: float, concurrency: int, folder: Path, measured: dict) -> dict:
    """Runs 2 and 3 of one prompt at a provider's latency; run 1 estimated from `measured` (the
    case at the bench latency): rows x latency + its per-row overhead."""
    from polyprompt.run.cache import ReplyCache

    overhead = measured["one_at_a_time_s"] / len(inputs) - measured["latency_ms"] / 1000
    serial = len(inputs) * (latency_s + max(overhead, 0.0))
    cache = ReplyCache(folder / "cache-provider")
    parallel, _ = timed(pf, inputs, sender(latency_s), folder, "parallel-provider", concurrency, cache)
    cached, summary = timed(pf, inputs, sender(latency_s), folder, "cached-provider", concurrency, cache)
    return {"latency_ms": round(latency_s * 1000, 1), "one_at_a_time_s_estimated": round(serial, 3),
            "concurrent_s": round(parallel, 3), "from_cache_s": round(cached, 3),
            "concurrent_speedup": round(serial / parallel, 1),
            "cache_speedup_vs_one_at_a_time": round(serial / cached, 1),
            "cache_speedup_vs_concurrent": round(parallel / cached, 1), "rows_from_cache": summary.cached}


def case(pf, inputs, latency_s: float, concurrency: int, folder: Path) -> dict:
    """The three runs of one prompt: one at a time, concurrent, and concurrent again from the cache."""
    from polyprompt.run.cache import ReplyCache

    pf.compile("openai-chat", inputs[0])  # the prompt compiled once before timing
    started = time.perf_counter()
    for row in inputs:
        pf.compile("openai-chat", row)
    compile_us = (time.perf_counter() - started) / len(inputs) * 1e6
    serial_send, parallel_send, cached_send = sender(latency_s), sender(latency_s), sender(latency_s)
    serial, _ = timed(pf, inputs, serial_send, folder, "serial", 1, ReplyCache(folder / "cache-serial"))
    cache = ReplyCache(folder / "cache")
    parallel, _ = timed(pf, inputs, parallel_send, folder, "parallel", concurrency, cache)
    cached, summary = timed(pf, inputs, cached_send, folder, "cached", concurrency, cache)
    return {"latency_ms": round(latency_s * 1000, 1), "compile_us_per_row": round(compile_us, 1),
            "made_by": pf.compile("openai-chat", inputs[0]).made_by,
            "one_at_a_time_s": round(serial, 3), "concurrent_s": round(parallel, 3), "from_cache_s": round(cached, 3),
            "concurrent_speedup": round(serial / parallel, 1),
            "cache_speedup_vs_one_at_a_time": round(serial / cached, 1),
            "cache_speedup_vs_concurrent": round(parallel / cached, 1),
            "cached_us_per_row": round(cached / len(inputs) * 1e6, 1),
            "requests_sent": {"one_at_a_time": serial_send.calls[0], "concurrent": parallel_send.calls[0],  # type: ignore[attr-defined]
                              "from_cache": cached_send.calls[0]},  # type: ignore[attr-defined]
            "rows_from_cache": summary.cached}  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--provider-latency-ms", type=float, default=400.0,
                        help="a provider's latency for runs 2 and 3 again (0: not run)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from polyprompt.session import load

    inputs = rows(args.rows)
    result: dict = {"rows": args.rows, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
                    "targets": {"concurrent_speedup": 20, "cache_speedup": 100},
                    "provider_latency_ms": args.provider_latency_ms, "provider_latency_source": PROVIDER_LATENCY,
                    "python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "cases": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "simple.prompt").write_text(SIMPLE)
        prompts = {"generated renderer (a plain prompt)": load(folder / "simple.prompt"),
                   "examples/review_moderation.prompt (through the passes)":
                       load(REPO / "examples" / "review_moderation.prompt")}
        for name, pf in prompts.items():
            work = folder / str(len(result["cases"]))
            work.mkdir()
            found = result["cases"][name] = case(pf, inputs, args.latency_ms / 1000, args.concurrency, work)
            print(f"{name}: {args.rows} rows, {args.latency_ms:g} ms a request, compile {found['compile_us_per_row']} us a row")
            print(f"  one at a time      {found['one_at_a_time_s']:8.3f} s")
            print(f"  concurrency {args.concurrency:<5}  {found['concurrent_s']:8.3f} s   "
                  f"{found['concurrent_speedup']:>6}x  (target >= 20x)")
            print(f"  from the cache     {found['from_cache_s']:8.3f} s   {found['cache_speedup_vs_one_at_a_time']:>6}x "
                  f"vs one at a time, {found['cache_speedup_vs_concurrent']}x vs concurrent (target >= 100x)")
            if args.provider_latency_ms > 0:
                real = found["at_provider_latency"] = at_provider_latency(
                    pf, inputs, args.provider_latency_ms / 1000, args.concurrency, work, found)
                print(f"  at {args.provider_latency_ms:g} ms a request: one at a time ~{real['one_at_a_time_s_estimated']:.1f} s "
                      f"(estimated), concurrency {args.concurrency} {real['concurrent_s']:.3f} s, from the cache "
                      f"{real['from_cache_s']:.3f} s: {real['cache_speedup_vs_one_at_a_time']}x vs one at a time, "
                      f"{real['cache_speedup_vs_concurrent']}x vs concurrent")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
