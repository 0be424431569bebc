"""The training loop: a plain recipe, in the order a step runs.

    seed -> AdamW + schedule (warm-up, then linear/cosine/constant) -> [resume from the newest
    checkpoint] -> for each step of each epoch: micro-batches (gradient accumulation), each
    loss = its summed token loss / the learned tokens of the whole step, backward, clip, step ->
    log (JSONL, TensorBoard, the bar) -> validation every `eval_steps` (early stopping) ->
    checkpoint every `save_steps`

The batches of an epoch are a pure function of (seed, epoch) (`batching.plan_epoch`); with the
RNG states, optimizer, scheduler and weights in each checkpoint, a run killed at any moment and
resumed reaches the same final weights as an uninterrupted one, bit for bit on the CPU (with
the same thread count). Under `torchrun` the model is wrapped in DDP; rank r takes examples
r, r + world, ... of each micro-batch, and each rank divides by the global token count times
the world size (DDP averages gradients), so the loss curve is the one process's.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import attrs

from . import batching, checkpoint, fsdp
from .config import TrainConfig
from .data import TrainData
from .logs import RunLog, progress_bar


@attrs.define
class Dist:
    """The process group of a run: rank, world size (1 without torchrun), the device, and whether
    the model is sharded by FSDP (else DDP)."""
    rank: int = 0
    world: int = 1
    device: Any = "cpu"
    fsdp: bool = False

    @property
    def main(self) -> bool:
        """Whether this process writes logs, checkpoints and outputs."""
        return self.rank == 0


@attrs.define
class Stage:
    """One training stage (`domain` runs two: the corpus, then SFT)."""
    name: str
    model: Any
    objective: Any
    data: TrainData
    config: TrainConfig
    checkpoints: Path
    log: RunLog
    pad_id: int
    lr: float
    epochs: int
    resume: bool = False
    dist: Dist = attrs.Factory(Dist)


@attrs.define
class StageResult:
    """What a stage did: steps run, the last training loss, the validation losses, why it stopped,
    and the examples it trained on (`domain`: the corpus's, then the SFT data's)."""
    steps: int
    train_loss: float | None
    eval_loss: float | None
    best_eval_loss: float | None
    stopped: str
    resumed_from: int | None = None
    tokens_per_second: float | None = None
    examples: int = 0


def seed_everything(seed: int) -> None:
    """The same seed for torch, Python and numpy."""
    import torch

    torch.manual_seed(seed)
    random.seed(seed)
    np = checkpoint.numpy()
    if np is not None:
        np.random.seed(seed % 2**32)


def total_steps(stage: Stage) -> int:
    """The optimizer steps of the stage: `max_steps`, else epochs × steps per epoch."""
    cfg = stage.config
    lengths = [len(ex["input_ids"]) for ex in stage.data.train]
    per_epoch = len(batching.plan_epoch(lengths, cfg.seed, 0, cfg.batch_size * stage.dist.world, cfg.grad_accum))
    return cfg.max_steps or per_epoch * stage.epochs


def make_optimizer(stage: Stage, total: int) -> tuple[Any, Any]:
    """AdamW over the trainable parameters, and the schedule with its warm-up."""
    import torch
    from transformers import get_scheduler

    cfg = stage.config
    params = [p for p in stage.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=stage.lr, weight_decay=cfg.weight_decay)
    warmup = cfg.warmup_steps or math.ceil(cfg.warmup_ratio * total)
    scheduler = get_scheduler(cfg.scheduler, optimizer, num_warmup_steps=warmup, num_training_steps=total)
    return optimizer, scheduler


def run(stage: Stage) -> StageResult:
    """Train the stage to its end (or early stop), resuming from its newest checkpoint if asked."""
    cfg = stage.config
    seed_everything(cfg.seed)
    total = total_steps(stage)
    optimizer, scheduler = make_optimizer(stage, total)
    pos: dict[str, Any] = {"step": 0, "epoch": 0, "index": 0, "best": None, "bad_evals": 0, "last_eval": None, "stopped": None}
    resumed = _resume(stage, optimizer, scheduler, pos) if stage.resume else None
    lengths = [len(ex["input_ids"]) for ex in stage.data.train]
    bar = progress_bar(total, pos["step"], cfg.progress if stage.dist.main else False, stage.name)
    stopped, last, speed = pos["stopped"] or "finished", None, _Speed()
    try:
        while pos["step"] < total and stopped == "finished":
            plan = batching.plan_epoch(lengths, cfg.seed, pos["epoch"], cfg.batch_size * stage.dist.world,
                                       cfg.grad_accum, group_by_length=not cfg.packing and cfg.group_by_length)
            while pos["index"] < len(plan) and pos["step"] < total:
                record = _step(stage, plan[pos["index"]], optimizer, scheduler)
                pos["step"] += 1
                pos["index"] += 1
                last = record["loss"]
                record.update(step=pos["step"], epoch=pos["epoch"], tokens_per_second=speed.add(record),
                              elapsed=round(speed.elapsed(), 4))
                stage.log.write(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", tok_s=f"{record['tokens_per_second']:.0f}", refresh=False)
                bar.update(1)
                if _eval_due(cfg, pos["step"], total) and _evaluate(stage, pos) == "early_stop":
                    stopped = pos["stopped"] = "early_stopping"
                if cfg.save_steps and (pos["step"] % cfg.save_steps == 0) and _saves(stage.dist):
                    _save(stage, optimizer, scheduler, pos)
                if stopped != "finished":
                    break
            if pos["index"] >= len(plan):
                pos["epoch"] += 1
                pos["index"] = 0
    finally:
        bar.close()
    pos["stopped"] = stopped
    if cfg.save_steps and _saves(stage.dist) and pos["step"] != (resumed or 0) and pos["step"] % cfg.save_steps:
        _save(stage, optimizer, scheduler, pos)  # the stage's end: a resumed run knows it is done
    return StageResult(pos["step"], last, pos["last_eval"], pos["best"], stopped, resumed, speed.rate(),
                       len(stage.data.train))


def _eval_due(cfg: TrainConfig, step: int, total: int) -> bool:
    return (bool(cfg.eval_steps) and step % cfg.eval_steps == 0) or step == total


def _step(stage: Stage, micro_batches: list[list[int]], optimizer: Any, scheduler: Any) -> dict:
    """One optimizer step over the micro-batches; its metrics."""
    import torch

    model, dist, examples = stage.model, stage.dist, stage.data.train
    model.train()
    global_tokens = sum(batching.learned(examples[i]["labels"]) for mb in micro_batches for i in mb)
    sums = torch.zeros(2)  # summed loss, learned tokens (this rank)
    tasks: dict[int, list[float]] = {}
    seen = 0
    pieces = [(batch, bool(mine)) for mb in micro_batches
              for mine in [batching.shard(mb, dist.rank, dist.world)]
              for batch in batching.batches([examples[i] for i in mine or mb[:1]], stage.config.packing,
                                            stage.pad_id, stage.config.pack_length)]
    if dist.fsdp:  # every forward all-gathers: each rank runs as many as the busiest one
        pieces += [(pieces[0][0], False)] * (fsdp.equal_count(len(pieces), dist.world) - len(pieces))
    for k, (batch, mine) in enumerate(pieces):
        batch = batching.to_device(batch, dist.device)
        batch["num_tokens"] = max(global_tokens, 1) / dist.world
        with _no_sync(model, k < len(pieces) - 1), _autocast(dist.device):  # one gradient all-reduce a step
            out = stage.objective.loss(model, batch)
        (out.loss if mine else out.loss * 0.0).backward()
        if mine:
            sums += torch.tensor([out.loss_sum, out.tokens])
            seen += int(batch["input_ids"].numel() if stage.config.packing else batch["attention_mask"].sum())
            for task, (s, n) in out.task_sums.items():
                acc = tasks.setdefault(task, [0.0, 0])
                acc[0] += s
                acc[1] += n
    norm = None
    if stage.config.max_grad_norm:
        norm = fsdp.scalar(torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad],
                                                          stage.config.max_grad_norm))
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    sums = _all_reduce(sums, dist)
    record = {"kind": "train", "stage": stage.name, "loss": float(sums[0] / max(float(sums[1]), 1.0)),
              "learned_tokens": int(sums[1]), "tokens": seen * dist.world, "lr": lr}
    if norm is not None:
        record["grad_norm"] = norm
    record.update(_task_losses(stage.data.tasks, tasks))
    return record


def _task_losses(names: list[str], tasks: dict[int, list[float]]) -> dict:
    """Per-task mean losses as `loss/<task>` (only when the run mixes several tasks)."""
    if len(names) < 2:
        return {}
    return {f"loss/{names[t]}": s / n for t, (s, n) in sorted(tasks.items()) if n and 0 <= t < len(names)}


def _evaluate(stage: Stage, pos: dict) -> str | None:
    """The validation loss (logged); "early_stop" when patience has run out."""
    import torch

    data, cfg = stage.data.validation, stage.config
    if not data:
        return None
    stage.model.eval()
    sums = torch.zeros(2)
    tasks: dict[int, list[float]] = {}
    mine = batching.shard(list(range(len(data))), stage.dist.rank, stage.dist.world)
    found = [b for start in range(0, len(mine), cfg.batch_size)
             for b in batching.batches([data[i] for i in mine[start:start + cfg.batch_size]], cfg.packing,
                                       stage.pad_id, cfg.pack_length)]
    runs = [(b, True) for b in found]
    if stage.dist.fsdp:  # as in `_step`: as many forwards on every rank (a rank without rows runs row 0's)
        spare = found[0] if found else batching.batches(data[:1], cfg.packing, stage.pad_id, cfg.pack_length)[0]
        runs += [(spare, False)] * (fsdp.equal_count(len(runs), stage.dist.world) - len(runs))
    with torch.no_grad():
        for batch, counted in runs:
            out = stage.objective.loss(stage.model, batching.to_device(batch, stage.dist.device))
            if not counted:
                continue
            sums += torch.tensor([out.loss_sum, out.tokens])
            for task, (s, n) in out.task_sums.items():
                acc = tasks.setdefault(task, [0.0, 0])
                acc[0] += s
                acc[1] += n
    sums = _all_reduce(sums, stage.dist)
    loss = float(sums[0] / max(float(sums[1]), 1.0))
    pos["last_eval"] = loss
    stage.log.write({"kind": "eval", "stage": stage.name, "step": pos["step"], "epoch": pos["epoch"], "loss": loss,
                     "learned_tokens": int(sums[1]), **_task_losses(stage.data.tasks, tasks)})
    if pos["best"] is None or loss < pos["best"] - cfg.early_stopping_delta:
        pos["best"], pos["bad_evals"] = loss, 0
        return None
    pos["bad_evals"] += 1
    patience = cfg.early_stopping_patience
    return "early_stop" if patience is not None and pos["bad_evals"] >= patience else None


def _saves(dist: Dist) -> bool:
    """Whether this rank takes part in a checkpoint: rank 0 writes it; under FSDP every rank gathers."""
    return dist.main or dist.fsdp


def _save(stage: Stage, optimizer: Any, scheduler: Any, pos: dict) -> None:
    from .model import trainable_state

    if stage.dist.fsdp:
        weights, optim = fsdp.full_state(stage.model, optimizer)
        if not stage.dist.main:
            return
    else:
        weights, optim = trainable_state(_inner(stage.model)), optimizer.state_dict()
    state = {"model": weights, "optimizer": optim, "scheduler": scheduler.state_dict(), "rng": checkpoint.rng_state(),
             "position": dict(pos), "config": stage.config.to_json(), "world": stage.dist.world,
             "distributed": _mode(stage.dist)}
    checkpoint.save(stage.checkpoints, pos["step"], state, stage.config.save_total_limit)


def _mode(dist: Dist) -> str:
    return "fsdp" if dist.fsdp else "ddp"


def _resume(stage: Stage, optimizer: Any, scheduler: Any, pos: dict) -> int | None:
    """Load the newest checkpoint of the stage into the run; its step (None when there is none)."""
    from .model import load_trainable

    found = checkpoint.latest(stage.checkpoints)
    if found is None:
        return None
    path, state = found
    saved = state.get("distributed", "ddp")
    if saved != _mode(stage.dist):  # the optimizer state is keyed by name under FSDP, by position else
        how = "under torchrun with --fsdp" if saved == "fsdp" else "without --fsdp"
        raise checkpoint.CheckpointError(f"{path}: written by a run {'with' if saved == 'fsdp' else 'without'} FSDP: "
                                         f"resume it {how}")
    if stage.dist.fsdp:
        fsdp.load_full_state(stage.model, optimizer, state["model"], state["optimizer"])
    else:
        load_trainable(_inner(stage.model), state["model"])
        optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    checkpoint.set_rng_state(state["rng"])
    pos.update(state["position"])
    stage.log.truncate(stage.name, pos["step"])
    return int(pos["step"])


def _inner(model: Any) -> Any:
    """The model inside a DDP wrapper."""
    return getattr(model, "module", model)


def _all_reduce(t: Any, dist: Dist) -> Any:
    if dist.world > 1:
        import torch.distributed as td

        td.all_reduce(t)
    return t


class _no_sync:
    """DDP's `no_sync` (FSDP's `set_requires_gradient_sync(False)`) for all but the last micro-batch:
    one gradient all-reduce (reduce-scatter) per step."""

    def __init__(self, model: Any, skip: bool):
        self.model, self.skip = model, skip
        self.ctx = model.no_sync() if skip and hasattr(model, "no_sync") else None

    def __enter__(self) -> None:
        if fsdp.is_sharded(self.model):
            self.model.set_requires_gradient_sync(not self.skip)
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


def _autocast(device: Any) -> Any:
    """bf16 autocast on a GPU; nothing on the CPU (float32, bit-for-bit reproducible)."""
    import contextlib

    import torch

    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class _Speed:
    """Tokens per second over the run (input tokens, padding excluded)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.tokens = 0

    def add(self, record: dict) -> float:
        self.tokens += record["tokens"]
        return self.tokens / max(time.perf_counter() - self.start, 1e-9)

    def elapsed(self) -> float:
        """Seconds since the stage started (in this process)."""
        return time.perf_counter() - self.start

    def rate(self) -> float | None:
        return self.tokens / max(time.perf_counter() - self.start, 1e-9) if self.tokens else None
