"""`train(...)`: one training run, from a prompt file's datasets (or tokenized rows) to a model folder.

    >>> from polyprompt.train import train
    >>> result = train("triage.prompt", model="hf:./base", method="lora", output="out/triage-lora")
    >>> result.output, result.metrics["train_loss"]

The output folder holds the model (full weights, a merged LoRA model, or a LoRA adapter with its
base's config.json), the base's tokenizer and chat template, `run.json` (the options, the model,
the data), `metrics.json`, `train_log.jsonl`, `loss_curve.png`, `data/` (the rows built here) and
`checkpoints/`. Under `torchrun` the same call trains with DDP (gloo on the CPU, nccl on a GPU).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import attrs

from . import fsdp, loop
from .config import ConfigError, TrainConfig, TrainFailure, make, read_file
from .data import TrainData, check_lengths, check_vocab, from_corpus, from_prompt_file, from_rows
from .logs import RunLog, plot
from .model import check_tokenizer, load, model_folder, save_output, with_lora
from .objectives import CausalLM

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"


class TrainError(TrainFailure):
    """A run that cannot start or go on; the message says why (one line)."""


@attrs.define
class TrainResult:
    """A finished run: the output folder, its metrics and the files in it."""
    output: Path
    method: str
    metrics: dict
    files: list[str]


def train(file: str | os.PathLike | None = None, *, model: str | None = None, method: str | None = None,
          output: str | os.PathLike | None = None, datasets: Sequence[str] | None = None,
          data: str | os.PathLike | None = None, validation_data: str | os.PathLike | None = None,
          config: str | os.PathLike | None = None, resume: bool = False, overwrite: bool = False,
          **options: Any) -> TrainResult:
    """Train `model` (`hf:<dir>` or `hf-family:smollm2`) with `method` (sft, lora, distill,
    domain) on `file`'s `dataset` blocks (`datasets` names some) or on tokenized rows (`data`),
    into `output`. `config` is a YAML/TOML file whose `train` section gives any option; the
    keyword `options` are `TrainConfig`'s fields and win over the file's."""
    given = {"file": file, "model": model, "method": method, "output": output, "datasets": datasets, "data": data,
             "validation_data": validation_data}
    run_opts, cfg = _options(config, given, options)
    if not run_opts.get("model") or not run_opts.get("output"):
        raise ConfigError("a run needs a model (--model hf:<dir>) and an output folder (-o)")
    if not run_opts.get("file") and not run_opts.get("data"):
        raise ConfigError("a run needs a prompt file with `dataset` blocks, or tokenized rows (--data PATH)")
    method = run_opts.get("method") or "sft"
    cfg.check(method)
    dist = _init_dist()
    dist.fsdp = dist.world > 1 and cfg.distributed == "fsdp"
    try:
        return _train(run_opts, method, cfg, dist, resume or bool(run_opts.get("resume")),
                      overwrite or bool(run_opts.get("overwrite")))
    finally:
        _end_dist(dist)


def _options(config: Any, given: dict, options: dict) -> tuple[dict, TrainConfig]:
    """The run's keys and its TrainConfig: the config file's, overridden by what was given."""
    from_file = read_file(config) if config else {}
    run_opts = {k: from_file.pop(k) for k in list(from_file) if k in given or k in ("resume", "overwrite")}
    run_opts.update({k: v for k, v in given.items() if v})
    from_file.update({k: v for k, v in options.items() if v is not None})
    return run_opts, make(from_file)


def _train(run_opts: dict, method: str, cfg: TrainConfig, dist: loop.Dist, resume: bool,
           overwrite: bool) -> TrainResult:
    import torch

    out = Path(run_opts["output"])
    if dist.main:
        _prepare_output(out, resume, overwrite)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    folder = model_folder(str(run_opts["model"]))
    net = load(folder, dist.device)
    check_tokenizer(folder, net)
    train_data = _data(run_opts, folder, out, cfg, dist)
    context = cfg.max_length or int(getattr(net.config, "max_position_embeddings", 0) or 0) or None
    dropped = check_lengths(train_data, context, cfg.too_long) if context else 0
    check_vocab(train_data, net.get_input_embeddings().weight.shape[0])
    lora = method == "lora" or cfg.lora
    if lora:
        loop.seed_everything(cfg.seed)  # the adapter's initial weights come from the seed, not the process's RNG state
        net = with_lora(net, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets)
    log = RunLog(out, dist.main, cfg.tensorboard)
    if dist.main:
        _write_run(out, run_opts, method, cfg, train_data, folder, dropped, dist)
    stages = _stages(method, cfg, net, train_data, folder, out, log, resume, dist, lora)
    wrapped = _wrap(net, dist)
    results = {}
    for stage in stages:
        stage.model = wrapped
        results[stage.name] = loop.run(stage)
    log.close()
    share = fsdp.local_share(wrapped) if dist.fsdp else None
    if dist.fsdp:  # the gathered weights in a plain copy (rank 0): it saves, merges and loads as usual
        net = fsdp.plain_copy(net, lambda: _fresh(folder, cfg, lora), dist.main)
    return _finish(out, method, net, folder, cfg, lora, results, dist, train_data, share)


def _fresh(folder: Path, cfg: TrainConfig, lora: bool) -> Any:
    """The model as the run built it before training (the base, with its adapter for LoRA), on the CPU."""
    net = load(folder)
    return with_lora(net, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.lora_targets) if lora else net


def _prepare_output(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a folder that is not empty (unless resuming its run, or overwriting it)."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a folder")
    busy = out.is_dir() and any(out.iterdir())
    if resume:
        if busy and not (out / RUN_FILE).is_file():
            raise TrainError(f"{out}: no run to resume here (no {RUN_FILE})")
        out.mkdir(parents=True, exist_ok=True)  # nothing to resume yet: the run starts from the beginning
        return
    if busy and not overwrite:
        raise TrainError(f"{out}: the output folder is not empty: pass --overwrite to replace it, or --resume to "
                         "go on with its run")
    if busy:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _data(run_opts: dict, folder: Path, out: Path, cfg: TrainConfig, dist: loop.Dist) -> TrainData:
    """The examples: built from the file's datasets by rank 0 (the others read its rows), or read."""
    if run_opts.get("data"):
        return from_rows(run_opts["data"], run_opts.get("validation_data"))
    if dist.main:
        found = from_prompt_file(run_opts["file"], folder, out / "data", datasets=run_opts.get("datasets"),
                                 train_on=cfg.train_on)
    _barrier(dist)
    if not dist.main:
        found = from_rows(out / "data" / "rows.jsonl")
    return found


def _stages(method: str, cfg: TrainConfig, net: Any, train_data: TrainData, folder: Path, out: Path, log: RunLog,
            resume: bool, dist: loop.Dist, lora: bool) -> list[loop.Stage]:
    """The stages of the method: one, or the corpus then SFT for `domain`."""
    pad = _pad_id(net)
    lr = cfg.peak_lr(lora)
    objective = _distill_objective(cfg, dist, folder) if method == "distill" else CausalLM()
    main = loop.Stage("sft" if method != "distill" else "distill", net, objective, train_data, cfg,
                      out / "checkpoints" / ("sft" if method != "distill" else "distill"), log, pad, lr, cfg.epochs,
                      resume, dist)
    if method != "domain":
        return [main]
    corpus_dir = out / "data"
    corpus = from_corpus(cfg.corpus or "", folder, corpus_dir, column=cfg.corpus_column, holdout=cfg.corpus_holdout,
                         seed=cfg.seed) if dist.main else None
    _barrier(dist)
    if corpus is None:
        corpus = from_rows(corpus_dir / "corpus.jsonl")
    context = int(getattr(_config_of(net), "max_position_embeddings", 0) or 0)
    if context:
        check_lengths(corpus, cfg.max_length or context, cfg.too_long)
    corpus_cfg = attrs.evolve(cfg, epochs=cfg.corpus_epochs, max_steps=None)
    first = loop.Stage("corpus", net, CausalLM(), corpus, corpus_cfg, out / "checkpoints" / "corpus", log, pad, lr,
                       cfg.corpus_epochs, resume, dist)
    return [first, main]


def _distill_objective(cfg: TrainConfig, dist: loop.Dist, student: Path) -> Any:
    """The logit-distillation objective with its teacher (`train/distill.py`), once the teacher is
    known to share the student's tokenizer (else one line saying where they differ)."""
    from .distill import LogitDistillation, TokenizerMismatch, check_shared_tokenizer

    teacher_folder = model_folder(cfg.teacher or "")
    try:
        shared = check_shared_tokenizer(student, teacher_folder)
    except TokenizerMismatch as err:
        raise TrainError(str(err)) from None
    teacher = load(teacher_folder, dist.device).eval()
    teacher.requires_grad_(False)
    return LogitDistillation(teacher, temperature=cfg.temperature, alpha=cfg.alpha, shared_vocab=shared)


def _config_of(net: Any) -> Any:
    return getattr(net, "config", None)


def _pad_id(net: Any) -> int:
    config = _config_of(net)
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(config, name, None)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, int):
            return value
    return 0


def _wrap(net: Any, dist: loop.Dist) -> Any:
    """DDP around the model under torchrun (rank 0's weights are broadcast), or the model sharded
    by FSDP (`distributed: fsdp`); the model alone in one process."""
    if dist.world == 1:
        return net
    if dist.fsdp:
        return fsdp.shard(net, dist.world, dist.device)
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(net)


def _write_run(out: Path, run_opts: dict, method: str, cfg: TrainConfig, data: TrainData, folder: Path,
               dropped: int, dist: loop.Dist) -> None:
    record = {"method": method, "model": str(run_opts["model"]), "model_folder": str(folder.resolve()),
              "file": str(run_opts.get("file") or ""), "datasets": list(run_opts.get("datasets") or []),
              "data": str(run_opts.get("data") or ""), "config": cfg.to_json(), "world_size": dist.world,
              "examples": {"train": len(data.train), "validation": len(data.validation), "dropped_too_long": dropped},
              "tasks": data.tasks, "dataset_summary": data.summary}
    (out / RUN_FILE).write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")


def _finish(out: Path, method: str, net: Any, folder: Path, cfg: TrainConfig, lora: bool, results: dict,
            dist: loop.Dist, data: TrainData, share: float | None = None) -> TrainResult:
    """Save the model, the plot and the metrics (rank 0); the result."""
    last = list(results.values())[-1]
    metrics = {"train_loss": last.train_loss, "eval_loss": last.eval_loss, "best_eval_loss": last.best_eval_loss,
               "steps": last.steps, "stopped": last.stopped, "tokens_per_second": last.tokens_per_second,
               "resumed_from": last.resumed_from, "train_examples": len(data.train),
               "validation_examples": len(data.validation), "data": _accounting(data),
               "stages": {name: attrs.asdict(r) for name, r in results.items()}}
    if share is not None:  # FSDP: the share of the weights rank 0 held while training
        metrics["fsdp_local_share"] = round(share, 4)
    files: list[str] = []
    if dist.main:
        files = save_output(net, folder, out, lora=lora, merge=cfg.merge)
        if cfg.plot:
            plot(out)
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        files = sorted(p.name for p in out.iterdir())
    _barrier(dist)
    return TrainResult(out, method, metrics, files)


def _accounting(data: TrainData) -> dict:
    """Where the rows went: the examples trained and validated on (after `--too-long drop`), the
    splits held out (`test`...), and the dataset build's own counts (rows read, duplicates, rows a
    `weight` below 1 left out, filtered, rejected) when the rows were built here."""
    summary = data.summary or {}
    held = {k: v for k, v in (summary.get("by_split") or {}).items() if k not in ("train", "validation")}
    found = {"train": len(data.train), "validation": len(data.validation), "held_out": held}
    found.update({k: summary[k] for k in ("read", "duplicates", "sampled_out", "filtered", "rejected", "repeated")
                  if k in summary})
    return found


def _init_dist() -> loop.Dist:
    """The process group under torchrun (WORLD_SIZE > 1): gloo on the CPU, nccl on GPUs."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    if world == 1:
        return loop.Dist(0, 1, "cuda" if cuda else "cpu")
    import torch.distributed as td

    rank = int(os.environ.get("RANK", "0"))
    if not td.is_initialized():
        td.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local)
    return loop.Dist(rank, world, f"cuda:{local}" if cuda else "cpu")


def _barrier(dist: loop.Dist) -> None:
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()


def _end_dist(dist: loop.Dist) -> None:
    """A barrier, then the group's end (without it a rank may abort at exit)."""
    if dist.world > 1:
        import torch.distributed as td

        td.barrier()
        td.destroy_process_group()
