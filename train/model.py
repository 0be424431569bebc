"""The model a run trains: found, loaded, checked against its tokenizer, wrapped for LoRA, saved.

`--model hf:<dir>` is a model folder (config.json and weights, a tokenizer and a chat template);
`hf-family:smollm2` is the embedded SmolLM2-135M-Instruct (`run/local.py`). The output folder is
a model folder too: the trained weights (full, merged, or a LoRA adapter with the base's
config.json), and the tokenizer files and chat template of the model it was trained from, so
`polyprompt compile -t hf:OUT` renders exactly the text it was trained on.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

from .config import TrainFailure

#: the tokenizer and chat-template files copied from the base model into the output folder
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "chat_template.json", "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
                   "generation_config.json")


class ModelError(TrainFailure):
    """A model that cannot be trained as asked; the message says why (one line)."""


def model_folder(spec: str) -> Path:
    """The folder of `hf:<dir>` or `hf-family:smollm2` (or a plain path), checked to hold weights."""
    from ..run.local import ModelUnavailable, default_model_dir

    if spec.startswith("hf-family:"):
        if spec != "hf-family:smollm2":
            raise ModelError(f"no model is embedded for {spec}: only hf-family:smollm2 has one; train "
                             "--model hf:<dir> with a model folder (config.json and weights)")
        try:
            return default_model_dir()
        except ModelUnavailable as err:
            raise ModelError(str(err)) from None
    folder = Path(spec[3:] if spec.startswith("hf:") else spec).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder")
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: no config.json: not a model folder")
    if not (any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))):
        raise ModelError(f"{folder}: no weights (model.safetensors or pytorch_model.bin): a model folder to train "
                         "needs them")
    if not (folder / "tokenizer.json").is_file():
        raise ModelError(f"{folder}: no tokenizer.json: the data is tokenized with the model's own tokenizer")
    return folder


def load(folder: Path, device: Any = "cpu") -> Any:
    """The model in float32 for training (no KV cache: it would merge packed examples' attention)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        with quiet():
            model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    except Exception as err:  # noqa: BLE001 (a damaged folder: OSError, ValueError, SafetensorError...)
        raise ModelError(f"{folder}: the model does not load ({type(err).__name__}: {err})") from None
    model.config.use_cache = False
    return model.to(device)


def check_tokenizer(folder: Path, model: Any) -> None:
    """The tokenizer's ids must all be rows of the model's embedding (a tokenizer copied from
    another model gives ids the model has no row for)."""
    from tokenizers import Tokenizer

    size = Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size(with_added_tokens=True)
    rows = model.get_input_embeddings().weight.shape[0]
    if size > rows:
        raise ModelError(f"{folder}: the tokenizer has {size:,} tokens but the model {rows:,} embeddings: the "
                         "tokenizer is not this model's")


def linear_names(model: Any) -> list[str]:
    """The short names of the model's linear layers (what LoRA `target_modules` name)."""
    import torch

    names = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    return sorted(names)


def with_lora(model: Any, r: int, alpha: float, dropout: float, targets: str | list[str]) -> Any:
    """`model` wrapped by peft with a LoRA adapter on `targets` ("all-linear" or module names)."""
    from peft import LoraConfig, get_peft_model

    if targets != "all-linear":
        names = [targets] if isinstance(targets, str) else list(targets)
        known = linear_names(model)
        missing = [n for n in names if n not in known]
        if missing:
            raise ModelError(f"LoRA target module `{missing[0]}` is not in the model; its linear layers: "
                             f"{', '.join(known)} (or all-linear)")
        targets = names
    import warnings

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft calls a transformers method deprecated in v5 (FutureWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(model, config)


def trainable_state(model: Any) -> dict:
    """The trainable parameters by name (the whole model for SFT, the adapter for LoRA)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def load_trainable(model: Any, state: dict) -> None:
    """Put saved trainable parameters back (exactly: a copy of the saved tensors)."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


def save_output(model: Any, base: Path, out: Path, *, lora: bool, merge: bool) -> list[str]:
    """Write the trained model into `out` (weights, config, tokenizer, chat template); the files written."""
    out.mkdir(parents=True, exist_ok=True)
    with quiet():
        _save_weights(model, out, base, lora, merge)
    for name in TOKENIZER_FILES:
        if (base / name).is_file() and not (out / name).exists():
            shutil.copy2(base / name, out / name)
    return sorted(p.name for p in out.iterdir())


def _save_weights(model: Any, out: Path, base: Path, lora: bool, merge: bool) -> None:
    if lora:
        model.save_pretrained(str(out / "adapter") if merge else str(out))
        _point_adapter_at(out / "adapter" if merge else out, base)
        if merge:
            model.merge_and_unload().save_pretrained(str(out))
    else:
        model.save_pretrained(str(out))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """transformers without its loading and saving bars (they would break the run's own bar)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _point_adapter_at(folder: Path, base: Path) -> None:
    """The adapter's base model as an absolute folder, so peft and transformers find it from anywhere."""
    path = folder / "adapter_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = str(base.resolve())
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
