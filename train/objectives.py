"""Training objectives: what every method minimises, behind one interface.

An objective turns a batch into a `LossOut`. A batch is a dict of tensors:

- `input_ids` (B, L) and `labels` (B, L): -100 marks a token that is not learned. `labels[:, t]`
  is the target of the logits at `t - 1` (the shift is the objective's), so `labels[:, 0]` is
  never learned;
- `position_ids` (B, L): restart at 0 for every example of a packed row;
- `attention_mask`: (B, L) with 1 on real tokens, or a 4D additive mask (B, 1, L, L) (0 where a
  token may attend, the dtype's minimum elsewhere: block-diagonal for packed rows);
- optionally `task_ids` (B, L): the task of each token (-1 on padding), for per-task losses;
- optionally `num_tokens` (a number): what the summed token loss is divided by. The training loop
  sets it to the learned tokens of the whole optimizer step (every micro-batch of a gradient
  accumulation, every rank under DDP, divided by the world size because DDP averages gradients),
  so the gradient is the one of the mean over the whole global batch, as one big batch gives.
  Without it the mean is over this batch's own learned tokens.

`CausalLM` is next-token cross-entropy on the learned tokens; `train/distill.py` adds
`LogitDistillation` behind the same `Objective` protocol.
"""
from __future__ import annotations

from typing import Any, Protocol

import attrs

IGNORE = -100


@attrs.define
class LossOut:
    """One batch's loss: `loss` (a tensor with grad) is the summed token loss divided by the
    batch's `num_tokens` (else by `tokens`); `tokens` counts the learned tokens of this batch;
    `loss_sum` is the summed token loss (a float, for logs); `task_sums` maps a task id to its
    (summed loss, learned tokens)."""
    loss: Any
    tokens: int
    loss_sum: float
    task_sums: dict[int, tuple[float, int]] = attrs.Factory(dict)

    @property
    def mean(self) -> float:
        """The mean token loss of this batch alone."""
        return self.loss_sum / self.tokens if self.tokens else 0.0


class Objective(Protocol):
    """What a training method minimises: `loss(model, batch) -> LossOut` (batch: see the module doc)."""

    def loss(self, model: Any, batch: dict) -> LossOut:
        """The loss of `model` on `batch`."""
        ...


def predicting(labels: Any) -> Any:
    """(B, L) bool: the positions whose logits predict a learned token (`labels[:, t+1] != -100`)."""
    import torch

    pred = torch.zeros_like(labels, dtype=torch.bool)
    pred[:, :-1] = labels[:, 1:] != IGNORE
    return pred


def forward_logits(model: Any, batch: dict, pred: Any) -> Any:
    """(N, V) logits at the positions `pred` marks, in order. Only those positions go through the
    LM head: a pre-hook on the output embeddings picks their hidden states, so the model's own
    forward still runs (DDP's and FSDP's gradient hooks, peft's adapters) while the head and the
    float32 logits, most of a small model's step and of its memory, cost N rows, not B x L."""
    kwargs = {"input_ids": batch["input_ids"], "position_ids": batch.get("position_ids"),
              "attention_mask": batch.get("attention_mask"), "use_cache": False}
    head = output_head(model)
    handle = head.register_forward_pre_hook(_pick(pred)) if head is not None else None
    try:
        logits = model(**kwargs).logits
    finally:
        if handle is not None:
            handle.remove()
    if logits.dim() == 3:  # no head found, or a model whose head did not see (B, L, H): index the full logits
        return logits[pred] if pred.any() else logits.new_zeros((0, logits.shape[-1]))
    return logits


def output_head(model: Any) -> Any:
    """The LM head inside `model` (through DDP, FSDP and peft wrappers), or None."""
    inner = getattr(model, "module", model)
    get = getattr(inner, "get_output_embeddings", None)
    try:
        return get() if callable(get) else None
    except (AttributeError, NotImplementedError):
        return None


def _pick(pred: Any) -> Any:
    """A forward pre-hook giving the head the hidden states of `pred`'s positions only."""

    def hook(_module: Any, args: tuple) -> tuple | None:
        hidden = args[0]
        if hidden.dim() != 3 or tuple(hidden.shape[:2]) != tuple(pred.shape):
            return None  # not the (B, L, H) of this batch: leave the call alone
        return (hidden[pred],) + tuple(args[1:])

    return hook


def targets(labels: Any, pred: Any) -> Any:
    """(N,) the learned token ids, aligned with `forward_logits(...)`'s rows."""
    shifted = labels.roll(-1, dims=1)
    return shifted[pred]


def task_sums(token_losses: Any, batch: dict, pred: Any) -> dict[int, tuple[float, int]]:
    """Per task id, the (summed loss, count) of the learned tokens (the task of a target token)."""
    tasks = batch.get("task_ids")
    if tasks is None or token_losses.numel() == 0:
        return {}
    ids = tasks.roll(-1, dims=1)[pred]
    found: dict[int, tuple[float, int]] = {}
    values = token_losses.detach()
    for task in ids.unique().tolist():
        sel = ids == task
        found[int(task)] = (float(values[sel].sum()), int(sel.sum()))
    return found


def reduce(token_losses: Any, batch: dict, pred: Any) -> LossOut:
    """A `LossOut` from per-token losses (N,): their sum over `num_tokens` (or their count)."""
    total = token_losses.sum()
    n = int(token_losses.numel())
    denominator = batch.get("num_tokens") or max(n, 1)
    return LossOut(total / denominator, n, float(total.detach()), task_sums(token_losses, batch, pred))


@attrs.define
class CausalLM:
    """Next-token cross-entropy on the learned tokens (SFT: the answers; a corpus: every token)."""

    def loss(self, model: Any, batch: dict) -> LossOut:
        """The summed cross-entropy over the learned tokens, divided as the module doc says."""
        import torch.nn.functional as F

        pred = predicting(batch["labels"])
        logits = forward_logits(model, batch, pred)
        token_losses = F.cross_entropy(logits.float(), targets(batch["labels"], pred), reduction="none")
        return reduce(token_losses, batch, pred)
