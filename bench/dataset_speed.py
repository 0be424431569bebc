"""Fine-tune dataset export: polyprompt's `dataset` build beside the reference loops, in one run.

- `tokenized`: rows/s of `polyprompt.dataset.build(..., "tokenized", target="hf-family:qwen3")`
  (read, align, lower, render with Qwen3's training template, ids with the bulk engine, masks,
  write) beside a loop over transformers' `apply_chat_template(..., tokenize=True,
  return_dict=True, return_assistant_tokens_mask=True)` with the same template on the same
  conversations (already built: the loop does less than the build). Ids and masks are checked
  equal first. Target (issue 13): >= 10x.
- `openai-sft`: rows/s of a short prompt's export on one core (CPU time). Target: >= 50k rows/s.
- memory: peak RSS of a fresh process exporting 10k and 200k rows (`openai-sft`). Target: flat
  (within 10%).

Run: `.venv/bin/python bench/dataset_speed.py [--rows N]`; prints a table and writes
bench/results/dataset_speed.json.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "dataset_speed.json"

SHORT = '''
prompt classify(text: str) -> "positive" | "negative" {
  system "Classify the sentiment."
  user "{{ text }}"
}

dataset classify "sentiment" from "rows.jsonl" {
  text = row.text
  output = row.label
}
'''

WORDS = ("the lid is flimsy but for the price I am happy it arrived broken and the seller ignored my emails "
         "great blender charger overheated melted the socket works fine").split()


def moderation_rows(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"text": f"{i}: " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))),
             "stars": rng.randint(1, 5), "product": f"Product {i}", "verified": bool(i % 2), "lang": "en",
             "label": rng.choice(["publish", "reject", "needs_review"])} for i in range(n)]


def write_rows(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def tokenized(folder: Path, n: int) -> dict:
    import polyprompt
    from polyprompt import dataset
    from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir
    from polyprompt.dataset.answers import answer_text
    from polyprompt.dataset.formats import tokenized as fmt
    from transformers import AutoTokenizer

    (folder / "data").mkdir()
    source = (REPO / "examples" / "review_moderation.prompt").read_text().replace("  split validation 20% seed 7\n", "")
    (folder / "m.prompt").write_text(source)
    write_rows(folder / "data" / "moderation.jsonl", moderation_rows(n))
    pf = polyprompt.load(folder / "m.prompt")
    dataset.build(pf, "tokenized", folder / "warm.jsonl", target="hf-family:qwen3", progress=False)  # loads
    started = time.perf_counter()
    summary = dataset.build(pf, "tokenized", folder / "tok.jsonl", target="hf-family:qwen3", progress=False)
    ours = time.perf_counter() - started
    assert summary.written == n, summary.line()
    rows = [json.loads(line) for line in (folder / "tok.jsonl").read_text().splitlines()]
    # the anchor: the same conversations through transformers
    backend = pf.backend("hf-family:qwen3")
    template = fmt.training_template(backend).source
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir("qwen3")))
    conversations = []  # the rows' conversations, as the build made them
    for row in moderation_rows(n):
        request, _ = pf.lower("hf-family:qwen3", {"review": row["text"], "rating": row["stars"],
                                                  "product_title": row["product"],
                                                  "verified_purchase": row["verified"]})
        turns = backend.write_messages(request.messages)
        answer = answer_text(row["label"], request.output, backend)
        conversations.append(turns + [{"role": "assistant", "content": answer}])
    started = time.perf_counter()
    reference = [tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
                                         chat_template=template) for c in conversations]
    anchor = time.perf_counter() - started
    for ours_row, ref in zip(rows, reference):
        assert ours_row["input_ids"] == list(ref["input_ids"])
        assert ours_row["assistant_masks"] == list(ref["assistant_masks"])
    return {"rows": n, "polyprompt_build_us_per_row": round(ours / n * 1e6, 1),
            "transformers_apply_chat_template_us_per_row": round(anchor / n * 1e6, 1),
            "ratio": round(anchor / ours, 2)}


def openai_sft(folder: Path, n: int) -> dict:
    import polyprompt
    from polyprompt import dataset

    (folder / "s.prompt").write_text(SHORT)
    write_rows(folder / "rows.jsonl", [{"text": f"Review {i}: I liked it a lot.",
                                        "label": "positive" if i % 3 else "negative"} for i in range(n)])
    pf = polyprompt.load(folder / "s.prompt")
    dataset.build(pf, "openai-sft", folder / "warm.jsonl", progress=False)
    started = time.process_time()
    dataset.build(pf, "openai-sft", folder / "sft.jsonl", progress=False)
    cpu = time.process_time() - started
    return {"rows": n, "rows_per_cpu_second": round(n / cpu)}


def peak_rss(folder: Path, n: int) -> int:
    """The peak RSS (KiB) of a fresh process exporting n short rows."""
    (folder / "s.prompt").write_text(SHORT)
    write_rows(folder / "rows.jsonl", [{"text": f"Review {i}: it works, {i % 97} stars of joy.",
                                        "label": "positive"} for i in range(n)])
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of this (large) process
    # would report the parent's peak
    code = ("import sys; from polyprompt import dataset; "
            "dataset.build(sys.argv[1], 'openai-sft', sys.argv[2], progress=False); "
            "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder / "s.prompt"), str(folder / "m.jsonl")],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000, help="rows of the tokenized export")
    parser.add_argument("--sft-rows", type=int, default=20000)
    parser.add_argument("--memory-rows", type=int, nargs=2, default=(10_000, 200_000))
    args = parser.parse_args()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t").mkdir()
        results["tokenized"] = tokenized(Path(tmp) / "t", args.rows)
        (Path(tmp) / "s").mkdir()
        results["openai_sft"] = openai_sft(Path(tmp) / "s", args.sft_rows)
        small, large = args.memory_rows
        rss = {}
        for n in (small, large):
            (Path(tmp) / f"m{n}").mkdir()
            rss[n] = peak_rss(Path(tmp) / f"m{n}", n)
        results["memory"] = {"rows": [small, large], "peak_rss_kib": [rss[small], rss[large]],
                             "growth": round(rss[large] / rss[small] - 1, 3)}
    results["machine"] = {"cores": 2, "python": sys.version.split()[0]}
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    t, s, m = results["tokenized"], results["openai_sft"], results["memory"]
    print(f"tokenized (qwen3, {t['rows']} rows): polyprompt {t['polyprompt_build_us_per_row']} us/row, "
          f"apply_chat_template {t['transformers_apply_chat_template_us_per_row']} us/row: {t['ratio']}x")
    print(f"openai-sft: {s['rows_per_cpu_second']:,} rows per CPU second")
    print(f"peak RSS: {m['peak_rss_kib'][0]:,} KiB at {m['rows'][0]:,} rows, {m['peak_rss_kib'][1]:,} KiB at "
          f"{m['rows'][1]:,} rows ({m['growth']:+.1%})")


if __name__ == "__main__":
    main()
