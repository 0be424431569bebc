"""LoRA adapter folders as local models: what `polyprompt train --method lora` writes without `--merge`
(and what peft's `save_pretrained` writes): ``adapter_config.json``, ``adapter_model.safetensors``
(or ``.bin``), the base model's tokenizer and chat template, and often ``run.json``.

The base model is a local model folder (config.json and full weights), named by
``base_model_name_or_path`` in ``adapter_config.json`` (`polyprompt train` writes it absolute), or
else by ``model_folder`` in ``run.json``; a relative path is taken from the adapter's folder. A
hub name is never fetched: a base that is not a model folder on this machine is one clear error.
The base is loaded by transformers and the adapter by peft, both from local files only and with no
code from either folder (``trust_remote_code`` stays off); the adapter is then merged into that
private copy of the base, so it answers as fast as the base (and as a `--merge` output would).

torch, transformers and peft are imported inside the functions only.
"""
from __future__ import annotations

import json
from pathlib import Path

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
RUN_FILE = "run.json"


class AdapterError(RuntimeError):
    """An adapter folder that cannot be loaded; the message says why (one line)."""


def has_full_weights(folder: Path) -> bool:
    """config.json and a model's own weights (an adapter's weight file does not count)."""
    if not (folder / "config.json").is_file():
        return False
    files = [*folder.glob("*.safetensors"), *folder.glob("pytorch_model*.bin")]
    return any(f.name not in WEIGHTS for f in files)


def is_adapter(folder: Path) -> bool:
    """A LoRA adapter folder: its config and weights, and no full model beside them."""
    return ((folder / CONFIG).is_file() and any((folder / name).is_file() for name in WEIGHTS)
            and not has_full_weights(folder))


def base_folder(folder: Path) -> Path:
    """The base model folder of the adapter in `folder`, checked to hold a model (AdapterError if not)."""
    named, source = _base_name(folder)
    if not named:
        raise AdapterError(f"{folder}: a LoRA adapter that names no base model (base_model_name_or_path in {CONFIG})")
    base = Path(named).expanduser()
    if not base.is_absolute():
        base = folder / base
    if not base.is_dir():
        raise AdapterError(f"{folder}: a LoRA adapter whose base model folder {named} (from {source}) does not exist "
                           "here; models are never downloaded: set base_model_name_or_path to a local model folder")
    if not has_full_weights(base):
        raise AdapterError(f"{folder}: a LoRA adapter whose base {base} (from {source}) is not a model folder "
                           "(config.json and weights)")
    return base


def _base_name(folder: Path) -> tuple[str | None, str]:
    config = _json(folder / CONFIG)
    named = config.get("base_model_name_or_path")
    if isinstance(named, str) and named.strip():
        return named, CONFIG
    run = _json(folder / RUN_FILE) if (folder / RUN_FILE).is_file() else {}
    named = run.get("model_folder")
    return (named, RUN_FILE) if isinstance(named, str) and named.strip() else (None, CONFIG)


def _json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AdapterError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise AdapterError(f"{path}: not a JSON object")
    return data


def load(folder: Path):
    """The base model with the adapter of `folder` merged in, in float32, in eval mode."""
    import torch
    from transformers import AutoModelForCausalLM

    base = base_folder(folder)
    try:
        from peft import PeftModel
    except ImportError as err:
        raise AdapterError(f"{folder}: running a LoRA adapter needs peft (pip install 'polyprompt[train]'): "
                           f"{err}") from None
    import warnings

    try:
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32, trust_remote_code=False)
        with warnings.catch_warnings():  # peft calls a transformers method deprecated in v5 (FutureWarning)
            warnings.simplefilter("ignore", FutureWarning)
            tuned = PeftModel.from_pretrained(model, str(folder), is_trainable=False)
        merged = tuned.merge_and_unload()
    except Exception as err:  # noqa: BLE001 (a damaged folder or a mismatch: OSError, ValueError, KeyError...)
        raise AdapterError(f"{folder}: the LoRA adapter does not load on {base} ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else ''})") from None
    merged.eval()
    return merged
