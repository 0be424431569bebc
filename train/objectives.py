"""What a training objective gives the loop (`LossOut`) and what it must offer (`Objective`).

A temporary copy of the two definitions the core training loop declares in this module: the
distillation objective (train/distill.py) implements `Objective`. At merge the core's version of
this file is kept; it has the same names.
"""
from __future__ import annotations

from typing import Any, Protocol

import attrs


@attrs.frozen
class LossOut:
    """The loss of one batch: `loss` is the mean over the learned tokens (labels != -100) and is
    differentiable; `tokens` counts those tokens; `per_task` maps a task id to (loss sum, tokens),
    for the logs."""

    loss: Any
    tokens: int
    per_task: dict[int, tuple[float, int]] = attrs.Factory(dict)


class Objective(Protocol):
    """A training objective: the loss of a batch (`input_ids`, `labels`, `attention_mask`,
    `position_ids`, optional per-token `task_ids`) for a model."""

    def loss(self, model: Any, batch: dict) -> LossOut:
        """The batch's loss under `model`."""
        ...
