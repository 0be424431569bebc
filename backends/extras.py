"""The optional parts of the install (pip extras) and the error that names the one a command needs.

`pip install polyprompt` checks, formats and compiles for every API target. The extras, listed
in pyproject.toml and docs/install.md:

- `models`: open-model targets (`hf-family:<name>`, `hf:<dir>`, `hf:<file.gguf>`): chat
  templates (jinja2) and token ids (tokenizers, with tiktoken and fastokens as fast engines);
- `torch`: running a local model (`polyprompt run`): torch, transformers and what they load
  GGUF files and adapters with; it includes `models`;
- `data`: fine-tune datasets in Parquet and Hugging Face `datasets` folders (`polyprompt dataset`);
- `api`: running a prompt on an API target (httpx; botocore signs Bedrock, google-auth for Vertex);
- `train`: training a local model (`polyprompt train`): torch, data, and matplotlib for the loss curve;
- `eval`: evaluating (`polyprompt eval`): scikit-learn metrics, matplotlib plots, sacrebleu's chrF;
- `serve`: serving prompts over HTTP (`polyprompt serve`): Starlette and uvicorn, and `api`;
- `all`: every extra.

Nothing here imports an extra's modules: `require` only looks them up.
"""
from __future__ import annotations

import importlib.util

#: Per extra, the modules a command cannot go without (import names). tiktoken and fastokens
#: are left out: without them the token ids come from a slower engine, not an error.
REQUIRED = {"models": ("jinja2", "tokenizers"), "torch": ("torch", "transformers"), "data": ("datasets", "pyarrow"),
            "api": ("httpx",), "train": ("torch", "transformers", "peft", "datasets"),
            "eval": ("sklearn",), "serve": ("starlette", "uvicorn", "httpx")}

#: Per extra, the top-level modules it installs, to name the extra behind a failed import.
PROVIDES = {"models": ("jinja2", "tokenizers", "tiktoken", "fastokens"),
            "torch": ("torch", "transformers", "accelerate", "gguf", "peft"),
            "data": ("datasets", "pyarrow"), "api": ("httpx", "botocore", "google"),
            "train": ("matplotlib",), "eval": ("sklearn", "sacrebleu"), "serve": ("starlette", "uvicorn")}


class MissingExtra(ImportError):
    """A command needs an extra that is not installed; the message says what to install."""

    def __init__(self, extra: str, action: str, module: str):
        self.extra, self.action = extra, action
        super().__init__(f"{action} needs the {extra} extra: pip install 'polyprompt[{extra}]' "
                         f"(no module named {module!r})", name=module)


def missing(extra: str) -> str | None:
    """The first module `extra` requires that cannot be found, or None when it is installed."""
    for module in REQUIRED[extra]:
        try:
            if importlib.util.find_spec(module) is None:
                return module
        except (ImportError, ValueError):  # a finder that refuses the name; a module without a spec
            return module
    return None


def require(extra: str, action: str) -> None:
    """Raise `MissingExtra` unless `extra` is installed; `action` begins the message, e.g.
    "compiling for hf-family:qwen3"."""
    module = missing(extra)
    if module is not None:
        raise MissingExtra(extra, action, module)


def explain(err: ImportError) -> str | None:
    """What to install for an import that failed: the message of a `MissingExtra`, a sentence
    naming the extra of a module one brings, or None for any other module."""
    if isinstance(err, MissingExtra):
        return str(err)
    top = (err.name or "").split(".")[0]
    extra = next((extra for extra, modules in PROVIDES.items() if top in modules), None)
    if not isinstance(err, ModuleNotFoundError) or extra is None:
        return None
    return f"this command needs the {extra} extra: pip install 'polyprompt[{extra}]' (no module named {top!r})"
