"""What a training objective gives the loop (`LossOut`) and what it must offer (`Objective`).

A temporary copy of the two definitions the core training loop declares in this module, as the
core branch has them: the distillation objective (train/distill.py) implements `Objective`. At
merge the core's version of this file is kept; it has the same names and fields.

A batch's loss is its summed token loss divided by ``batch["num_tokens"]`` when the loop sets it
(the learned tokens of the whole optimizer step), else by the batch's own learned tokens.
"""
from __future__ import annotations

from typing import Any, Protocol

import attrs


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
    """What a training method minimises: `loss(model, batch) -> LossOut`."""

    def loss(self, model: Any, batch: dict) -> LossOut:
        """The loss of `model` on `batch`."""
        ...
