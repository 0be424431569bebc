"""The options of a training run (`TrainConfig`), from keyword arguments or a config file's `train` section.

A config file is YAML (`.yaml`, `.yml`) or TOML (`.toml`); its `train` section (or the whole
file when it has none) holds any of `TrainConfig`'s fields, plus `file`, `datasets`, `data`,
`model`, `output` and `method`. Options given on the command line or as arguments win over the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

METHODS = ("sft", "lora", "distill", "domain")
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
#: the keys of a config file that are not TrainConfig fields
RUN_KEYS = ("file", "datasets", "data", "validation_data", "model", "output", "method", "resume", "overwrite")


class TrainFailure(Exception):
    """Why a run cannot start or go on, in one line (the CLI prints it; never a traceback)."""


class ConfigError(TrainFailure):
    """A config file or option that cannot be used; the message says which and why (one line)."""


@attrs.define
class TrainConfig:
    """Every option of a run; the defaults are TRL's where TRL has one."""
    epochs: int = 1
    #: stop after this many optimizer steps (overrides `epochs`)
    max_steps: int | None = None
    #: examples per micro-batch (per process)
    batch_size: int = 8
    grad_accum: int = 1
    #: the peak learning rate (default 2e-5 for full fine-tunes, 2e-4 for LoRA)
    lr: float | None = None
    weight_decay: float = 0.0
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    scheduler: str = "linear"
    max_grad_norm: float | None = 1.0
    seed: int = 42
    #: padding-free packing of each micro-batch into rows; else padded batches (the default: on
    #: the CPU a packed row's attention costs the square of its length, docs/training.md)
    packing: bool = False
    #: the longest packed row (tokens): a micro-batch longer than this is packed into several rows
    #: (attention over a row costs the square of its length on the CPU)
    pack_length: int = 2048
    #: with padded batches, draw each batch from examples of similar length
    group_by_length: bool = True
    #: rows longer than the model's context (or `max_length`): "refuse" or "drop"
    too_long: str = "refuse"
    max_length: int | None = None
    #: which assistant turns are learned when the data is built here: "last" or "all"
    train_on: str = "last"
    #: validation loss every N steps (0: at the end only)
    eval_steps: int = 50
    #: stop after this many validations without improvement (None: never)
    early_stopping_patience: int | None = None
    early_stopping_delta: float = 0.0
    #: a checkpoint every N steps (0: none)
    save_steps: int = 100
    save_total_limit: int = 2
    #: train a LoRA adapter in the `domain` and `distill` methods too (`lora` always does)
    lora: bool = False
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_targets: Any = "all-linear"
    merge: bool = False
    #: domain adaptation: the corpus (a data file), its text column, its epochs, its validation share
    corpus: str | None = None
    corpus_column: str = "text"
    corpus_epochs: int = 1
    corpus_holdout: float = 0.0
    #: logit distillation: the teacher model (hf:<dir>), temperature and the weight of the KL term
    teacher: str | None = None
    temperature: float = 2.0
    alpha: float = 0.5
    #: under torchrun: "ddp" (each rank holds the whole model) or "fsdp" (FSDP2 `fully_shard`: each
    #: rank holds a shard of the weights, gradients and optimizer state; train/fsdp.py)
    distributed: str = "ddp"
    #: torch threads (None: torch's default); stored with the run, since results depend on it
    threads: int | None = None
    progress: bool | None = None
    tensorboard: bool = True
    plot: bool = True

    def check(self, method: str) -> None:
        """ConfigError for options that do not go together."""
        if method not in METHODS:
            raise ConfigError(f"unknown method `{method}`: one of {', '.join(METHODS)}")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"unknown scheduler `{self.scheduler}`: one of {', '.join(SCHEDULERS)}")
        if self.distributed not in ("ddp", "fsdp"):
            raise ConfigError(f"distributed is `ddp` or `fsdp`, not `{self.distributed}`")
        if self.too_long not in ("refuse", "drop"):
            raise ConfigError(f"too_long is `refuse` or `drop`, not `{self.too_long}`")
        for name in ("epochs", "batch_size", "grad_accum", "lora_r"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if method == "domain" and not self.corpus:
            raise ConfigError("the domain method needs a corpus (--corpus PATH): the text of the domain")
        if method == "distill" and not self.teacher:
            raise ConfigError("the distill method needs a teacher model (--teacher hf:<dir>)")

    def peak_lr(self, lora: bool) -> float:
        """The learning rate: the one given, else 2e-4 for LoRA and 2e-5 for a full fine-tune."""
        return self.lr if self.lr is not None else (2e-4 if lora else 2e-5)

    def to_json(self) -> dict:
        """The options as JSON (stored with each checkpoint and in the output)."""
        return attrs.asdict(self)


FIELDS = {f.name for f in attrs.fields(TrainConfig)}


def make(options: dict) -> TrainConfig:
    """A TrainConfig from a mapping of options (unknown names refused, with the known ones)."""
    unknown = sorted(set(options) - FIELDS)
    if unknown:
        raise ConfigError(f"unknown training option `{unknown[0]}`; options: {', '.join(sorted(FIELDS))}")
    try:
        return TrainConfig(**options)
    except TypeError as err:
        raise ConfigError(str(err)) from None


def read_file(path: str | Path) -> dict:
    """The `train` section of a YAML or TOML config file (or its top level), as a dict."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror or err}") from None
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ConfigError(f"{path}: a config file is .yaml, .yml or .toml")
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 (yaml's and tomllib's parse errors)
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config is a mapping of options")
    section = data.get("train", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: `train` is a mapping of options")
    unknown = sorted(set(section) - FIELDS - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown training option `{unknown[0]}`")
    return dict(section)
