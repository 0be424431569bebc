"""Batches: which examples go into each optimizer step, and how a micro-batch becomes tensors.

The order of an epoch is a pure function of (seed, epoch) (`plan_epoch`), so a run resumed from
a checkpoint at (epoch, step) sees exactly the batches the uninterrupted run saw. A step holds
`batch_size × grad_accum` examples, in `grad_accum` micro-batches; under DDP rank r takes the
examples r, r + world, ... of each micro-batch.

A micro-batch becomes tensors in one of two ways:

- `pack`: padding-free. The examples are laid end to end in one row (1, Σ lengths); the position
  ids restart at 0 for each example, the attention mask is block-diagonal (4D, additive), so no
  example attends to another, and the first label of each example is dropped (it would be
  predicted from the previous example's last token, which unpacked training never does). The
  loss and gradients equal the padded batch's (`tests/test_train_batching.py`).
- `pad`: a (B, max length) batch padded on the right, with a 2D attention mask; with
  `group_by_length` the examples of a step are drawn from a window of similar lengths, so little
  of each batch is padding.
"""
from __future__ import annotations

from typing import Any, Sequence

from .objectives import IGNORE

#: examples sorted together when grouping by length: this many micro-batches' worth
GROUP_WINDOW = 50


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The example order of an epoch: a permutation depending only on (seed, epoch)."""
    import torch

    gen = torch.Generator().manual_seed(seed * 1000 + epoch)
    return torch.randperm(n, generator=gen).tolist()


def plan_epoch(lengths: Sequence[int], seed: int, epoch: int, batch_size: int, grad_accum: int = 1,
               group_by_length: bool = False) -> list[list[list[int]]]:
    """The steps of an epoch: each a list of micro-batches, each a list of example indices.

    The last step may be short (fewer micro-batches, or a short last micro-batch)."""
    order = epoch_order(len(lengths), seed, epoch)
    if group_by_length:
        order = _grouped(order, lengths, batch_size, seed, epoch)
    micro = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    return [micro[i:i + grad_accum] for i in range(0, len(micro), grad_accum)]


def _grouped(order: list[int], lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[int]:
    """`order` with each window of GROUP_WINDOW micro-batches sorted by length (longest first),
    then its micro-batches shuffled, so a batch holds examples of similar length."""
    import torch

    window = batch_size * GROUP_WINDOW
    chunks: list[list[int]] = []
    for start in range(0, len(order), window):
        part = sorted(order[start:start + window], key=lambda i: -lengths[i])
        chunks.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    full = [c for c in chunks if len(c) == batch_size]
    short = [c for c in chunks if len(c) != batch_size]  # kept last, so only the last batch is short
    gen = torch.Generator().manual_seed(seed * 1000 + epoch + 7919)
    shuffled = [full[i] for i in torch.randperm(len(full), generator=gen).tolist()]
    return [i for chunk in shuffled + short for i in chunk]


def shard(indices: list[int], rank: int, world: int) -> list[int]:
    """This rank's examples of a micro-batch."""
    return indices[rank::world]


def learned(labels: Sequence[int]) -> int:
    """The tokens an example learns (its first label is never a target: nothing predicts it)."""
    return sum(1 for t in labels[1:] if t != IGNORE)


def pack(examples: Sequence[dict]) -> dict:
    """One packed row: `input_ids`, `labels`, `position_ids`, `task_ids` (1, L) and a
    block-diagonal 4D `attention_mask` (1, 1, L, L)."""
    import torch

    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    tasks: list[int] = []
    for ex in examples:
        n = len(ex["input_ids"])
        ids.extend(ex["input_ids"])
        labels.append(IGNORE)  # the first token of an example is not predicted across the boundary
        labels.extend(ex["labels"][1:])
        positions.extend(range(n))
        tasks.extend([ex.get("task", 0)] * n)
    pos = torch.tensor([positions])
    return {"input_ids": torch.tensor([ids]), "labels": torch.tensor([labels]), "position_ids": pos,
            "attention_mask": block_mask(pos), "task_ids": torch.tensor([tasks])}


def block_mask(position_ids: Any, dtype: Any = None) -> Any:
    """The additive causal mask (1, 1, L, L) of a packed row: a token attends to the earlier
    tokens of its own example only (a new example starts where the position is 0)."""
    import torch

    dtype = dtype or torch.float32
    pos = position_ids[0]
    seg = (pos == 0).cumsum(0)
    size = pos.shape[0]
    ok = (seg[:, None] == seg[None, :]) & torch.ones(size, size, dtype=torch.bool).tril()
    return torch.zeros(size, size, dtype=dtype).masked_fill(~ok, torch.finfo(dtype).min)[None, None]


def pad(examples: Sequence[dict], pad_id: int) -> dict:
    """A right-padded batch: `input_ids`, `labels` (-100 on padding), `position_ids`, `task_ids`
    (-1 on padding) and a 2D `attention_mask`, each (B, max length)."""
    import torch

    width = max(len(ex["input_ids"]) for ex in examples)
    ids, labels, mask, tasks = [], [], [], []
    for ex in examples:
        n = len(ex["input_ids"])
        fill = width - n
        ids.append(list(ex["input_ids"]) + [pad_id] * fill)
        labels.append(list(ex["labels"]) + [IGNORE] * fill)
        mask.append([1] * n + [0] * fill)
        tasks.append([ex.get("task", 0)] * n + [-1] * fill)
    attention = torch.tensor(mask)
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "position_ids": positions,
            "attention_mask": attention, "task_ids": torch.tensor(tasks)}


def collate(examples: Sequence[dict], packing: bool, pad_id: int) -> dict:
    """A micro-batch's tensors: packed (one row) or padded."""
    return pack(examples) if packing else pad(examples, pad_id)


def pack_groups(examples: Sequence[dict], cap: int) -> list[list[dict]]:
    """The examples in order, cut into groups of at most `cap` tokens (an example longer than
    `cap` alone): one packed row each, since a row's attention costs the square of its length."""
    groups: list[list[dict]] = []
    size = 0
    for ex in examples:
        n = len(ex["input_ids"])
        if not groups or size + n > cap:
            groups.append([])
            size = 0
        groups[-1].append(ex)
        size += n
    return groups


def batches(examples: Sequence[dict], packing: bool, pad_id: int, cap: int) -> list[dict]:
    """A micro-batch's tensors: packed rows of at most `cap` tokens each, or one padded batch."""
    if not packing:
        return [pad(examples, pad_id)]
    return [pack(group) for group in pack_groups(examples, cap)]


def to_device(batch: dict, device: Any) -> dict:
    """The batch's tensors on `device` (numbers stay)."""
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
