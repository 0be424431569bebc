"""Fine-tune dataset export: polyprompt's `dataset` build beside the reference loops, in one run.

- `tokenized`: rows/s of `polyprompt.dataset.build(..., "tokenized", target="hf-family:qwen3")`
  (read, align, lower, render with Qwen3's training template, ids with the bulk engine, masks,
  write) beside a loop over transformers' `apply_chat_template(..., tokenize=True,
  return_dict=True, return_assistant_tokens_mask=True)` with the same template on the same
  conversations (already built: the loop does less than the build), in CPU time, the best of
  interleaved rounds. Ids and masks are checked equal. Target (issue 13): >= 10x.
- `openai-sft`: rows/s of a short prompt's export on one core (CPU time, the best of interleaved
  rounds), beside a hand-written loop writing the same bytes with `json` alone. Target: >= 50k rows/s.
- memory: peak RSS of a fresh process exporting 10k and 1M rows (`openai-sft`), with and without
  the duplicate check. Target: flat (within 10%).

Run: `.venv/bin/python bench/dataset_speed.py [--rows N]` (several minutes: the 1M-row runs);
prints a table and writes bench/results/dataset_speed.json. `--quick`: small sizes, about a
minute, results file untouched.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "dataset_speed.json"
#: the registry tokenizer of a family, where its name differs
REGISTRY_TOKENIZERS = {"llama-3": "llama3", "gemma-3": "gemma3"}
#: interleaved rounds of the tokenized build and its anchor loop (the best CPU time of each counts)
ROUNDS = 3

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


def tokenized(folder: Path, n: int, family: str = "qwen3") -> dict:
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
    target = f"hf-family:{family}"
    dataset.build(pf, "tokenized", folder / "warm.jsonl", target=target, progress=False)  # loads
    # the anchor: the same conversations through transformers
    backend = pf.backend(target)
    template = fmt.training_template(backend).source
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir(REGISTRY_TOKENIZERS.get(family, family))))
    conversations = []  # the rows' conversations, as the build made them
    for row in moderation_rows(n):
        request, _ = pf.lower(target, {"review": row["text"], "rating": row["stars"],
                                                  "product_title": row["product"],
                                                  "verified_purchase": row["verified"]})
        turns = backend.write_messages(request.messages)
        answer = answer_text(row["label"], request.output, backend)
        conversations.append(turns + [{"role": "assistant", "content": answer}])
    ours = anchor = float("inf")
    for _ in range(ROUNDS):  # CPU time, best of interleaved rounds: the machine is shared
        started = time.process_time()
        summary = dataset.build(pf, "tokenized", folder / "tok.jsonl", target=target, progress=False)
        ours = min(ours, time.process_time() - started)
        assert summary.written == n, summary.line()
        started = time.process_time()
        reference = [tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=True,
                                             chat_template=template) for c in conversations]
        anchor = min(anchor, time.process_time() - started)
    rows = [json.loads(line) for line in (folder / "tok.jsonl").read_text().splitlines()]
    for ours_row, ref in zip(rows, reference, strict=True):
        assert ours_row["input_ids"] == list(ref["input_ids"])
        assert ours_row["assistant_masks"] == list(ref["assistant_masks"])
    return {"rows": n, "polyprompt_build_us_per_row": round(ours / n * 1e6, 1),
            "transformers_apply_chat_template_us_per_row": round(anchor / n * 1e6, 1),
            "ratio": round(anchor / ours, 2)}


def openai_sft(folder: Path, n: int) -> dict:
    """openai-sft rows per CPU second, beside the peer: a hand-written loop that reads the same
    rows and writes the same lines with `json` (no checks, no rejects, no dedup, no atomic write)."""
    import polyprompt
    from polyprompt import dataset

    (folder / "s.prompt").write_text(SHORT)
    write_rows(folder / "rows.jsonl", [{"text": f"Review {i}: I liked it a lot.",
                                        "label": "positive" if i % 3 else "negative"} for i in range(n)])
    pf = polyprompt.load(folder / "s.prompt")
    dataset.build(pf, "openai-sft", folder / "warm.jsonl", progress=False)
    cpu = hand = float("inf")
    for _ in range(ROUNDS):  # CPU time, best of interleaved rounds, as for the tokenized export
        started = time.process_time()
        dataset.build(pf, "openai-sft", folder / "sft.jsonl", progress=False)
        cpu = min(cpu, time.process_time() - started)
        started = time.process_time()
        hand_loop(pf, folder / "rows.jsonl", folder / "hand.jsonl")
        hand = min(hand, time.process_time() - started)
    assert (folder / "hand.jsonl").read_bytes() == (folder / "sft.jsonl").read_bytes()
    return {"rows": n, "rows_per_cpu_second": round(n / cpu), "hand_loop_rows_per_cpu_second": round(n / hand),
            "ratio_to_hand_loop": round(hand / cpu, 2)}


def hand_loop(pf, rows: Path, out: Path) -> None:
    """What a script writes for SHORT without polyprompt: the body's messages around the row's text,
    the answer as the structured-output JSON, one `json.dumps` a line."""
    first = pf.compile("openai-chat", {"text": "X"}).body
    system = first["messages"][0]
    with open(rows, encoding="utf-8") as source, open(out, "w", encoding="utf-8") as sink:
        for raw in source:
            row = json.loads(raw)
            line = {"messages": [system, {"role": "user", "content": row["text"]},
                                 {"role": "assistant", "content": json.dumps({"value": row["label"]}, separators=(", ", ": ")),
                                  "weight": 1}]}
            sink.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def peak_rss(folder: Path, n: int, dedup: bool) -> dict:
    """The peak RSS (KiB) and CPU seconds of a fresh process exporting n short rows."""
    (folder / "s.prompt").write_text(SHORT)
    if not (folder / "rows.jsonl").exists():
        write_rows(folder / "rows.jsonl", [{"text": f"Review {i}: it works, {i % 97} stars of joy.",
                                            "label": "positive"} for i in range(n)])
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of this (large) process
    # would report the parent's peak
    code = ("import sys, time; from polyprompt import dataset; started = time.process_time(); "
            "dataset.build(sys.argv[1], 'openai-sft', sys.argv[2], progress=False, dedup=sys.argv[3] == '1'); "
            "print(time.process_time() - started, "
            "next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", code, str(folder / "s.prompt"), str(folder / "m.jsonl"),
                          "1" if dedup else "0"], capture_output=True, text=True, check=True)
    cpu, kib = out.stdout.split()
    return {"peak_rss_kib": int(kib), "rows_per_cpu_second": round(n / float(cpu))}


def memory(folder: Path, sizes: tuple[int, int]) -> dict:
    """Peak RSS at two sizes, with and without the duplicate check."""
    found: dict = {"rows": list(sizes)}
    for dedup in (True, False):
        runs = []
        for n in sizes:
            (folder / f"m{n}").mkdir(exist_ok=True)
            runs.append(peak_rss(folder / f"m{n}", n, dedup))
        found["dedup" if dedup else "no_dedup"] = {
            "peak_rss_kib": [r["peak_rss_kib"] for r in runs],
            "rows_per_cpu_second": [r["rows_per_cpu_second"] for r in runs],
            "growth": round(runs[1]["peak_rss_kib"] / runs[0]["peak_rss_kib"] - 1, 3)}
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000, help="rows of the tokenized export")
    parser.add_argument("--sft-rows", type=int, default=20000)
    parser.add_argument("--memory-rows", type=int, nargs=2, default=(10_000, 1_000_000))
    parser.add_argument("--quick", action="store_true", help="small sizes (a minute): 200, 5k, 10k/100k rows; "
                        "the results file is left as it is")
    parser.add_argument("--family", default="qwen3", help="the tokenized export's family (one with a TRL training "
                        "template and a registry tokenizer: qwen3, llama-3, gemma-3); another than qwen3 runs "
                        "that part alone and leaves the results file as it is")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.sft_rows, args.memory_rows = 200, 5000, (10_000, 100_000)
    results: dict = {}
    load = os.getloadavg()[0]  # the machine is shared: the load at the start and at the end
    if args.family != "qwen3":
        with tempfile.TemporaryDirectory() as tmp:
            t = tokenized(Path(tmp), args.rows, args.family)
        print(f"tokenized ({args.family}, {t['rows']} rows): polyprompt {t['polyprompt_build_us_per_row']} us/row, "
              f"apply_chat_template {t['transformers_apply_chat_template_us_per_row']} us/row: {t['ratio']}x "
              f"(load {load:.2f} -> {os.getloadavg()[0]:.2f})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "t").mkdir()
        results["tokenized"] = tokenized(Path(tmp) / "t", args.rows)
        (Path(tmp) / "s").mkdir()
        results["openai_sft"] = openai_sft(Path(tmp) / "s", args.sft_rows)
        results["memory"] = memory(Path(tmp), tuple(args.memory_rows))
    results["machine"] = {"cores": 2, "python": sys.version.split()[0], "load_average_1m": [round(load, 2), round(os.getloadavg()[0], 2)]}
    if not args.quick:
        OUT.write_text(json.dumps(results, indent=2) + "\n")
    t, s, m = results["tokenized"], results["openai_sft"], results["memory"]
    print(f"tokenized (qwen3, {t['rows']} rows): polyprompt {t['polyprompt_build_us_per_row']} us/row, "
          f"apply_chat_template {t['transformers_apply_chat_template_us_per_row']} us/row: {t['ratio']}x")
    print(f"openai-sft: {s['rows_per_cpu_second']:,} rows per CPU second; the hand-written loop "
          f"{s['hand_loop_rows_per_cpu_second']:,} ({s['ratio_to_hand_loop']}x)")
    for key in ("dedup", "no_dedup"):
        kib, speed = m[key]["peak_rss_kib"], m[key]["rows_per_cpu_second"]
        print(f"peak RSS ({key.replace('_', ' ')}): {kib[0]:,} KiB at {m['rows'][0]:,} rows, {kib[1]:,} KiB at "
              f"{m['rows'][1]:,} rows ({m[key]['growth']:+.1%}); {speed[1]:,} rows per CPU second at the larger")


if __name__ == "__main__":
    main()
