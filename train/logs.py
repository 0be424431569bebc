"""What a run reports: `train_log.jsonl` (one JSON object per logged step and validation),
TensorBoard event files (when `tensorboard` is installed), a progress bar on stderr (tqdm: loss,
tokens/s, ETA) and, at the end, `loss_curve.png` (matplotlib, the Agg backend)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LOG = "train_log.jsonl"
PLOT = "loss_curve.png"


class RunLog:
    """The JSONL log (and TensorBoard) of a run; only rank 0 writes."""

    def __init__(self, out: Path, enabled: bool = True, tensorboard: bool = True):
        self.path = out / LOG
        self.enabled = enabled
        self.board = _board(out / "tensorboard") if enabled and tensorboard else None

    def write(self, record: dict) -> None:
        """Append one record (a step's or a validation's metrics)."""
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.board is not None:
            prefix = f"{record.get('stage', 'train')}/{record['kind']}"
            for key, value in record.items():
                if isinstance(value, (int, float)) and key not in ("step", "epoch"):
                    self.board.add_scalar(f"{prefix}/{key}", value, record["step"])

    def truncate(self, stage: str, step: int) -> None:
        """Drop the records of `stage` after `step` (a killed run logged past its last checkpoint)."""
        if not self.enabled or not self.path.exists():
            return
        kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                if line and not _after(json.loads(line), stage, step)]
        self.path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.board is not None:
            self.board.close()


def _after(record: dict, stage: str, step: int) -> bool:
    return record.get("stage") == stage and record.get("step", 0) > step


def _board(folder: Path) -> Any:
    """A TensorBoard writer, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))


def progress_bar(total: int, initial: int, enabled: bool | None, desc: str) -> Any:
    """A tqdm bar on stderr (shown on a terminal unless `enabled` says otherwise)."""
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, initial=initial, disable=not show, desc=desc, unit="step", dynamic_ncols=True)


def read(path: Path) -> list[dict]:
    """The records of a run's log."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def plot(out: Path) -> Path | None:
    """`loss_curve.png`: training loss per step and validation loss, one panel per stage."""
    records = read(out / LOG)
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = list(dict.fromkeys(r.get("stage", "train") for r in records))
    fig, axes = plt.subplots(1, len(stages), figsize=(6 * len(stages), 4), squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for kind, style in (("train", "-"), ("eval", "o-")):
            points = [(r["step"], r["loss"]) for r in records if r.get("stage") == stage and r["kind"] == kind]
            if points:
                ax.plot(*zip(*points), style, label=f"{kind} loss")
        ax.set_title(stage)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend()
    fig.tight_layout()
    path = out / PLOT
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
