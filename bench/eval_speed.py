"""Enum evaluation on SmolLM2: batched choice scoring beside a per-row run loop, in one run.

The prompt is `moderate_review` of examples/review_moderation.prompt (an enum output: publish,
reject, needs_review), on the embedded SmolLM2-135M-Instruct (`hf-family:smollm2`). The labelled
rows are the example's own 6 (examples/data/moderation.jsonl) and 40 more written for this
benchmark (bench/data/moderation_labelled.jsonl), all hand-labelled under the prompt's policy.

- per row: `polyprompt.run.local.choose` on each body, what `polyprompt run` does for one row
  (without the process start-up, which would only widen the gap);
- batched: `polyprompt.run.batched.choose_many` over the same bodies.

Both answer the same compiled bodies (compiling is not timed); the predictions are checked equal
and the log-likelihoods within 1e-4 before any figure is written. Target (issue 15): batched
rows/s >= 5x the per-row loop's.

Run: `.venv/bin/python bench/eval_speed.py [--quick] [--batch-size N]`; prints a table and writes
bench/results/eval_speed.json (`--quick`: the first 12 rows, about a minute on an idle 2-core machine;
marked `"quick": true` in the file). Both wall time and this process's CPU time are recorded: on a
shared machine the wall-clock ratio moves with the other jobs' load (recorded too), the CPU ratio
much less.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "eval_speed.json"
PROMPT = REPO / "examples" / "review_moderation.prompt"
DATA = [REPO / "examples" / "data" / "moderation.jsonl", REPO / "bench" / "data" / "moderation_labelled.jsonl"]


def rows() -> list[dict]:
    """The labelled rows, the example's first."""
    out = []
    for path in DATA:
        out += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def bodies(data: list[dict]) -> list:
    import polyprompt

    pf = polyprompt.load(str(PROMPT))
    return [pf.compile("hf-family:smollm2", {"review": r["text"], "rating": r["stars"], "product_title": r["product"],
                                            "verified_purchase": r["verified"]}, prompt="moderate_review")
            for r in data]


def timed(fn) -> tuple[float, float, list]:
    """Wall seconds, CPU seconds of this process (all its threads), and what `fn` returned."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - start, time.process_time() - cpu, out


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first 12 rows only")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from polyprompt.run import batched, local

    data = rows()[:12] if args.quick else rows()
    compiled = bodies(data)
    model, folder = local.load_model("hf-family:smollm2")
    tok = local.load_tokenizer(str(folder))
    # warm both paths (first calls allocate and pick kernels)
    local.choose(compiled[0], model, tok)
    batched.choose_many(compiled[:2], model, tok, batch_size=2)

    load = os.getloadavg()[0]
    per_row_s, per_row_cpu, single = timed(lambda: [local.choose(c, model, tok) for c in compiled])
    batch_s, batch_cpu, many = timed(lambda: batched.choose_many(compiled, model, tok, batch_size=args.batch_size))

    same = [a.value == b.value for a, b in zip(single, many)]
    drift = max(abs(a.scores[k] - b.scores[k]) for a, b in zip(single, many) for k in a.scores)
    if not all(same) or drift > 1e-4:
        print(f"MISMATCH: {same.count(False)} predictions differ, max score difference {drift:.2e}", file=sys.stderr)
        return 1
    labels = [r["label"] for r in data]
    accuracy = sum(r.value == want for r, want in zip(many, labels)) / len(labels)
    prompt_tokens = [len(c.body["token_ids"]) for c in compiled]
    result = {
        "prompt": "examples/review_moderation.prompt moderate_review -> Decision (3 values)",
        "model": "hf-family:smollm2 (SmolLM2-135M-Instruct, float32, CPU)",
        "data": [str(p.relative_to(REPO)) for p in DATA],
        "rows": len(data),
        "prompt_tokens": {"min": min(prompt_tokens), "max": max(prompt_tokens),
                          "mean": round(sum(prompt_tokens) / len(prompt_tokens), 1)},
        "batch_size": args.batch_size,
        "per_row_rows_per_s": round(len(data) / per_row_s, 2),
        "batched_rows_per_s": round(len(data) / batch_s, 2),
        "ratio": round(per_row_s / batch_s, 2),
        "per_row_cpu_s_per_row": round(per_row_cpu / len(data), 3),
        "batched_cpu_s_per_row": round(batch_cpu / len(data), 3),
        "cpu_ratio": round(per_row_cpu / batch_cpu, 2),
        "target_ratio": 5.0,
        "same_predictions": True,
        "max_score_difference": float(f"{drift:.2e}"),
        "accuracy": round(accuracy, 4),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "torch_threads": torch_threads(), "load_average_1m": [round(load, 2),
                                                                          round(os.getloadavg()[0], 2)]},
        "quick": args.quick,
    }
    print(f"{'path':<28}{'rows/s':>10}{'seconds':>10}{'CPU s/row':>11}")
    print(f"{'per row (local.choose)':<28}{result['per_row_rows_per_s']:>10}{per_row_s:>10.1f}"
          f"{result['per_row_cpu_s_per_row']:>11}")
    print(f"{'batched (choose_many)':<28}{result['batched_rows_per_s']:>10}{batch_s:>10.1f}"
          f"{result['batched_cpu_s_per_row']:>11}")
    print(f"ratio {result['ratio']}x wall, {result['cpu_ratio']}x CPU (target >= 5x); same predictions on "
          f"{len(data)} rows, max score difference {drift:.1e}; accuracy {accuracy:.3f}")
    OUT.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
