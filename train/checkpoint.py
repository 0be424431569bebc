"""Checkpoints: everything a run needs to go on exactly where it stopped, written atomically.

A checkpoint is a folder `step-000020/` holding `state.pt`: the trainable parameters (the whole
model, or the LoRA adapter), the optimizer and scheduler states, the RNG states (torch, Python,
numpy) and the run's position (step, epoch, step within the epoch, the early-stopping state,
the options). It is written into a hidden temporary folder beside it, synced, then renamed into
place, so a kill or a full disk mid-write leaves no folder that looks like a checkpoint; the
temporary folder is removed, or removed by the next run. `state.pt` loads with
`torch.load(weights_only=True)` (numpy's state is stored as lists).
"""
from __future__ import annotations

import importlib
import os
import random
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from .config import TrainFailure

STATE = "state.pt"
_STEP = re.compile(r"^step-(\d+)$")


class CheckpointError(TrainFailure):
    """A checkpoint that could not be written or read; the message says why (one line)."""


def numpy() -> Any:
    """numpy when installed (its RNG is saved and seeded too: data code may draw from it), else None."""
    try:
        return importlib.import_module("numpy")  # by name: numpy is optional and has no stubs here
    except ImportError:
        return None


def rng_state() -> dict:
    """The RNG states of torch, Python and numpy (as plain lists, for `weights_only` loading)."""
    import torch

    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    np = numpy()
    if np is not None:
        kind, key, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = (kind, key.tolist(), pos, has_gauss, cached)
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved."""
    import torch

    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np = numpy()
    if "numpy" in state and np is not None:
        kind, key, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.array(key, dtype=np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder: Path, step: int, state: dict, keep: int = 2) -> Path:
    """Write `state` as checkpoint `step` under `folder`, atomically; keep the newest `keep`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    temp = folder / f".tmp-step-{step:06d}-{secrets.token_hex(4)}"
    try:
        temp.mkdir()
        with open(temp / STATE, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():
            shutil.rmtree(final)
        os.replace(temp, final)
    except OSError as err:
        shutil.rmtree(temp, ignore_errors=True)
        raise CheckpointError(f"the checkpoint at step {step} could not be written to {folder} "
                              f"({err.strerror or err}); the last complete checkpoint is kept") from None
    _prune(folder, keep)
    return final


def _prune(folder: Path, keep: int) -> None:
    """Remove all but the newest `keep` checkpoints (and any temporary folders)."""
    for stale in folder.glob(".tmp-step-*"):
        shutil.rmtree(stale, ignore_errors=True)
    done = steps(folder)
    for _, path in done[:-keep] if keep > 0 else []:
        shutil.rmtree(path, ignore_errors=True)


def steps(folder: Path) -> list[tuple[int, Path]]:
    """The complete checkpoints under `folder` (renamed into place, with a state file), oldest first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _STEP.match(path.name)
        if match and (path / STATE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest(folder: Path) -> tuple[Path, dict] | None:
    """The newest checkpoint that loads, and its state (a damaged one is skipped); None if none."""
    import torch

    for _, path in reversed(steps(folder)):
        try:
            return path, torch.load(path / STATE, weights_only=True)
        except Exception:  # noqa: BLE001 (a damaged file: pickle, zip or OS errors; the one before serves)
            continue
    return None
