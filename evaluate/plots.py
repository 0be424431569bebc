"""PNG plots of a report (matplotlib, the Agg backend: no display needed): `metrics.png`, the
metrics of every target as bars with their 95% intervals as whiskers, and
`confusion-<target>.png`, one confusion matrix per target of a choice output. Each file is
rendered in memory and written atomically."""
from __future__ import annotations

import io
import re
from pathlib import Path

from ..compiler.files import write_atomic

#: the metrics drawn (those on a 0-1 scale where higher is better), in this order when present
PLOTTED = ("accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall", "exact_match",
           "normalized_match", "contains", "regex", "chrf", "parse_failure_rate", "judge_pass_rate")


def write_plots(data: dict, folder: Path) -> list[Path]:
    """The plots of report.json's `data` written into `folder`; the paths written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    written = []
    path = folder / "metrics.png"
    write_atomic(path, _metric_bars(data))
    written.append(path)
    for entry in data["targets"]:
        confusion = entry.get("confusion")
        if confusion and confusion["matrix"]:
            path = folder / f"confusion-{_slug(entry['label'])}.png"
            write_atomic(path, _confusion(entry["label"], confusion))
            written.append(path)
    return written


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-.") or "target"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _metric_bars(data: dict) -> bytes:
    """Grouped bars: one group per metric, one bar per target, whiskers from low to high."""
    import matplotlib.pyplot as plt
    import numpy as np

    targets = data["targets"]
    names = [m for m in PLOTTED if any(m in t["metrics"] for t in targets)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(names) * max(1, len(targets)) ** 0.5 + 2), 4))
    width = 0.8 / max(len(targets), 1)
    x = np.arange(len(names))
    for i, t in enumerate(targets):
        values = [t["metrics"].get(m, {}).get("value", 0.0) for m in names]
        low = [v - t["metrics"].get(m, {}).get("low", v) for m, v in zip(names, values)]
        high = [t["metrics"].get(m, {}).get("high", v) - v for m, v in zip(names, values)]
        ax.bar(x + (i - (len(targets) - 1) / 2) * width, values, width, yerr=[low, high], capsize=3, label=t["label"])
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("value (95% interval)")
    ax.set_title(f"{data['prompt']}: {data['rows']} rows" + (f" ({data['split']})" if data["split"] else ""))
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _confusion(label: str, confusion: dict) -> bytes:
    """A confusion matrix: expected labels down, predicted across, counts in the cells."""
    import matplotlib.pyplot as plt
    import numpy as np

    labels, matrix = confusion["labels"], np.array(confusion["matrix"])
    size = max(3.5, 0.7 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("expected")
    ax.set_title(label)
    top = matrix.max() if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > top / 2 else "black")
    return _png(fig)
