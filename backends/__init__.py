"""Backends: one module per target platform, found by name.

`get("openai-chat")` imports `polyprompt.backends.openai_chat` on first use;
`names()` lists the modules of this folder. Third-party backends register
through the entry-point group `polyprompt.backends`.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil

if __name__ != "polyprompt.backends":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.backends, not {__name__!r} (repo root is on sys.path)")

_NOT_TARGETS = {"base"}


class UnknownTarget(LookupError):
    def __init__(self, name: str, help: str | None = None):
        match = difflib.get_close_matches(name, names(), n=1)
        self.help = help or (f"did you mean `{match[0]}`?" if match else f"targets: {', '.join(names())}")
        super().__init__(f"unknown target `{name}`; {self.help}")


def names() -> list[str]:
    """Every built-in target name."""
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)
                  if m.name not in _NOT_TARGETS and not m.name.startswith("_") and not m.ispkg)


#: Prefixes of targets named by a parameter: `hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>` (open models).
MODEL_PREFIXES = ("hf-family:", "hf:")


def hf_families() -> list[str]:
    """The built-in open-model families (`hf-family:<name>` targets)."""
    from .hf.families import FAMILIES

    return sorted(FAMILIES)


def get(name: str):
    """The backend class of a target name; `polyprompt.extras.MissingExtra` for an open-model
    target when the `models` extra is not installed."""
    from .base import REGISTRY

    if name.startswith(MODEL_PREFIXES):
        from ..extras import require

        require("models", f"compiling for {name}")  # before jinja2 fails to import deep inside
        from .hf.target import HFModel

        try:
            return HFModel.for_target(name)
        except (LookupError, OSError) as err:
            raise UnknownTarget(name, getattr(err, "help", None) or str(err)) from err
    if name not in REGISTRY:
        module = name.replace("-", "_")
        if name in names():
            importlib.import_module(f"{__name__}.{module}")
        else:
            _load_entry_point(name)
    if name not in REGISTRY:
        raise UnknownTarget(name)
    return REGISTRY[name]


def _load_entry_point(name: str) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="polyprompt.backends"):
        if ep.name == name:
            ep.load()
