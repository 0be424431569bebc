"""FSDP (`distributed: fsdp`, `--fsdp`): torch's FSDP2 `fully_shard` under torchrun, gloo on the CPU.

Each decoder layer (the classes the model names in `_no_split_modules`, e.g. `LlamaDecoderLayer`)
is one FSDP unit, and the root holds the rest (embeddings, the tied LM head, the final norm), as
torchtune and accelerate's `TRANSFORMER_BASED_WRAP` do. Every rank keeps one shard of each
parameter, gradient and optimizer state; a unit's full weights exist only during its forward and
backward. Gradients are averaged over the ranks (as DDP does), so the loop's loss division holds.

What differs from DDP, and is handled here and in the loop:

- every forward all-gathers: every rank runs the same number of forwards and backwards (a rank
  short of micro-batches or validation batches runs a discarded one: `equal_count`);
- checkpoints hold the full state, gathered on rank 0 (`full_state`: the trainable parameters by
  name, the optimizer state keyed by parameter name); every rank reads it back on `--resume`
  (`load_full_state`), so a checkpoint needs a file system all ranks see, as under DDP;
- the output is written from a plain copy of the model that rank 0 loads the gathered weights into
  (`plain_copy`): LoRA adapters, `--merge` and `save_pretrained` work as without FSDP.
"""
from __future__ import annotations

from typing import Any, Callable

#: the `distributed` modes of a run under torchrun
MODES = ("ddp", "fsdp")


def _inner(model: Any) -> Any:
    """The transformers model under peft's wrapper (it names the decoder layer classes)."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def layer_classes(model: Any) -> set[str]:
    """The class names of the model's decoder layers (each becomes one FSDP unit)."""
    names = set(getattr(_inner(model), "_no_split_modules", None) or [])
    return names or {type(m).__name__ for m in model.modules() if type(m).__name__.endswith("DecoderLayer")}


def shard(model: Any, world: int, device: Any) -> Any:
    """`model` sharded in place by `fully_shard` over a 1-D mesh of `world` ranks: each decoder layer,
    then the root."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cuda" if str(device).startswith("cuda") else "cpu", (world,))
    classes = layer_classes(model)
    for module in list(model.modules()):
        if type(module).__name__ in classes:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def is_sharded(model: Any) -> bool:
    """Whether `model` was sharded by `fully_shard` (FSDP2)."""
    return callable(getattr(model, "set_requires_gradient_sync", None))


def local_share(model: Any) -> float:
    """The share of the model's parameter elements this rank holds (about 1/world when sharded)."""
    full = local = 0
    for p in model.parameters():
        full += p.numel()
        to_local = getattr(p, "to_local", None)
        local += to_local().numel() if callable(to_local) else p.numel()
    return local / max(full, 1)


def scalar(value: Any) -> float:
    """A float from a tensor that may be a DTensor (a gradient norm over sharded parameters)."""
    full = getattr(value, "full_tensor", None)
    return float(full() if callable(full) else value)


def equal_count(count: int, world: int) -> int:
    """The largest `count` over the ranks (each rank then runs that many forwards)."""
    import torch
    import torch.distributed as td

    found = torch.tensor([count])
    if world > 1:
        td.all_reduce(found, op=td.ReduceOp.MAX)
    return int(found)


def _options(**kw: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kw)


def full_state(model: Any, optimizer: Any | None = None, trainable_only: bool = True) -> tuple[dict, dict | None]:
    """The full (unsharded) model state, on the CPU, and the optimizer's, keyed by parameter name:
    on rank 0; other ranks get empty dicts. Every rank must call it (it gathers)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_optimizer_state_dict

    state = get_model_state_dict(model, options=_options(cpu_offload=True))
    if trainable_only:
        keep = {name for name, p in model.named_parameters() if p.requires_grad}
        state = {k: v for k, v in state.items() if k in keep}
    optim = get_optimizer_state_dict(model, optimizer, options=_options(cpu_offload=True)) if optimizer else None
    return state, optim


def load_full_state(model: Any, optimizer: Any, model_state: dict, optim_state: dict) -> None:
    """A checkpoint's full states into the sharded model and optimizer (each rank keeps its shard)."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_optimizer_state_dict

    set_model_state_dict(model, model_state, options=_options(strict=False))
    set_optimizer_state_dict(model, optimizer, optim_state, options=_options())


def plain_copy(model: Any, build: Callable[[], Any], main: bool) -> Any | None:
    """Rank 0: a fresh unsharded model from `build()` holding `model`'s gathered weights (to save);
    None on the other ranks. Every rank must call it."""
    state, _ = full_state(model, trainable_only=False)
    if not main:
        return None
    fresh = build()
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    wrong = [k for k in missing if k in state] + list(unexpected)
    if wrong:  # pragma: no cover (the same model class on both sides)
        raise RuntimeError(f"gathered FSDP state does not fit the model: {wrong[:3]}")
    return fresh
