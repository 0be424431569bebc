"""SFT training speed on the tiny test model: TRL's `SFTTrainer` (`assistant_only_loss=True`), a
plain torch loop, and polyprompt's training loop, in tokens per second on the same conversations,
in one run.

- The model is tests/tiny_model.py's tiny Llama (hidden 32, 2 layers, a BPE vocabulary of 384, a
  ChatML template with `{% generation %}` blocks), random weights, seed 0, built afresh for each
  contender.
- The data: `--rows` synthetic conversations (a user turn of 8 to 100 words, an answer of 1 to 24
  words, seeded), the loss on the answer only. TRL tokenizes them itself from the `messages`; the
  plain loop and polyprompt take the rows `apply_chat_template(..., return_assistant_tokens_mask=
  True)` gives, which are TRL's.
- Every contender: batch 8, AdamW at 1e-3, fp32, `--steps` optimizer steps. Tokens/s counts the
  input tokens of the steps (padding excluded). TRL and the plain loop are timed after
  `--warmup` steps. polyprompt's figure is its own `metrics["tokens_per_second"]` (from its first
  step on, with its checkpoints, masks and logs).
- Target (issue 14): polyprompt >= 2x TRL. The issue measured TRL at 8.9k tokens/s and a plain
  torch loop at 15.6k.

Run: `.venv/bin/python bench/train_speed.py [--rows 256] [--steps 40] [--warmup 5] [--threads N]`.
It prints a table and writes bench/results/train_speed.json. Without `polyprompt.train.loop` (the
training loop not installed yet) polyprompt's row is skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "train_speed.json"
BATCH, LR = 8, 1e-3
WORDS = ("the flight was delayed again and nobody at the gate could tell us why i love the new phone battery lasts "
         "two days screen is bright customer support answered within minutes fixed my billing problem package "
         "arrived broken seller ignored three emails thanks for quick reply").split()


def conversations(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` two-turn chats of varied length (so batches pad as real data does)."""
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    return [[{"role": "user", "content": text(8, 100)}, {"role": "assistant", "content": text(1, 24)}]
            for _ in range(n)]


def tiny_model(folder: Path) -> Path:
    """The tests' tiny model, built into `folder`."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_model import build_tiny_model

    return build_tiny_model(folder, seed=0, max_positions=2048)  # rows of about 375 tokens, packed up to 2048


def tokenized(model_dir: Path, chats: list[list[dict]]) -> list[dict]:
    """The rows TRL trains on: ids and labels (-100 outside the assistant's `{% generation %}` spans)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    rows = []
    for chat in chats:
        enc = tok.apply_chat_template(chat, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        ids, mask = list(enc["input_ids"]), list(enc["assistant_masks"])
        rows.append({"input_ids": ids, "labels": [i if m else -100 for i, m in zip(ids, mask)]})
    return rows


def trl_tokens_per_s(model_dir: Path, chats: list[list[dict]], steps: int, warmup: int) -> float:
    """TRL's SFTTrainer, assistant_only_loss=True: input tokens (no padding) per second after `warmup` steps."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    marks: dict[str, Any] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                marks["start"], marks["seen"] = time.perf_counter(), state.num_input_tokens_seen
            if state.global_step == steps:
                marks["end"], marks["seen_end"] = time.perf_counter(), state.num_input_tokens_seen

    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(output_dir=tmp, per_device_train_batch_size=BATCH, max_steps=steps, learning_rate=LR,
                           lr_scheduler_type="constant", assistant_only_loss=True, packing=False, max_length=1024,
                           save_strategy="no", report_to=[], logging_steps=10_000, disable_tqdm=True, seed=0,
                           use_cpu=True, dataloader_num_workers=0, include_num_input_tokens_seen="non_padding")
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        trainer = SFTTrainer(model=model, args=config, processing_class=AutoTokenizer.from_pretrained(str(model_dir)),
                             train_dataset=datasets.Dataset.from_list([{"messages": c} for c in chats]),
                             callbacks=[Clock()])
        trainer.train()
    return (marks["seen_end"] - marks["seen"]) / (marks["end"] - marks["start"])


def plain_tokens_per_s(model_dir: Path, rows: list[dict], steps: int, warmup: int) -> float:
    """A plain torch loop over padded batches (HF's own loss): input tokens per second after `warmup` steps."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    model.config.use_cache = False
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    order = [i for _ in range(steps * BATCH // len(rows) + 1) for i in torch.randperm(len(rows)).tolist()]
    pad = model.config.pad_token_id or 0
    tokens, start = 0, time.perf_counter()
    for step in range(steps):
        if step == warmup:
            tokens, start = 0, time.perf_counter()
        batch = [rows[i] for i in order[step * BATCH:(step + 1) * BATCH]]
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in batch])
        labels = torch.tensor([r["labels"] + [-100] * (width - len(r["labels"])) for r in batch])
        mask = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
    return tokens / (time.perf_counter() - start)


def polyprompt_tokens_per_s(model_dir: Path, rows: list[dict], steps: int, threads: int | None) -> tuple[float | None, str]:
    """polyprompt's training loop (`polyprompt.train.train`, method sft) on the same rows, with its
    checkpoints, masks and logs: (tokens/s, note); None with the reason when the loop is not installed."""
    try:
        from polyprompt.train import loop  # noqa: F401 (only whether the core training loop is there)
        from polyprompt.train import train
    except ImportError as err:
        return None, f"skipped: polyprompt.train.loop is not importable yet ({err})"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        result = train(data=data, model=f"hf:{model_dir}", method="sft", output=Path(tmp) / "out", overwrite=True,
                       batch_size=BATCH, max_steps=steps, lr=LR, seed=0, threads=threads, progress=False,
                       tensorboard=False, plot=False)
    return result.metrics.get("tokens_per_second"), "from the first step, checkpoints and logs on"


def main(argv: list[str] | None = None) -> int:
    """Run the three contenders, print the table, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    import torch
    import transformers
    import trl

    if args.threads:
        torch.set_num_threads(args.threads)
    import datasets

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    chats = conversations(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = tiny_model(Path(tmp) / "tiny")
        rows = tokenized(model_dir, chats)
        results = {"trl": trl_tokens_per_s(model_dir, chats, args.steps, args.warmup),
                   "plain": plain_tokens_per_s(model_dir, rows, args.steps, args.warmup)}
        results["polyprompt"], note = polyprompt_tokens_per_s(model_dir, rows, args.steps, args.threads)
    real = sum(len(r["input_ids"]) for r in rows)
    print(f"tiny Llama (hidden 32, 2 layers, vocab 384), {args.rows} chats ({real / args.rows:.0f} tokens on average), "
          f"batch {BATCH}, {args.steps} steps, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"trl {trl.__version__}, {torch.get_num_threads()} threads")
    print(f"{'contender':<12} {'tokens/s':>10} {'x TRL':>7}")
    for name, value in results.items():
        cell = f"{value:>10,.0f} {value / results['trl']:>6.2f}x" if value else f"{'-':>10} {'-':>7}  {note}"
        print(f"{name:<12} {cell}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"args": vars(args), "tokens_per_s": results, "polyprompt_note": note,
                               "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                            "trl": trl.__version__}, "threads": torch.get_num_threads()},
                              indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
