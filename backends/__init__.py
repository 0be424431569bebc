"""Backends: one module per target platform, found by name.

`get("openai-chat")` imports `polyprompt.backends.openai_chat` on first use;
`names()` lists the modules of this folder. Third-party backends register
through the entry-point group `polyprompt.backends`.

This is also the registry of the providers' facts, read from the modules
themselves (there is no other list): `api_targets()` (each target's class, with
its options, model prefixes, dialects, official schema and sample reply),
`catalog()` (the `compiler.targets.TargetCatalog` the checker receives),
`foreign_model()` and `dialect()` (what lowering reads).
"""
from __future__ import annotations

import functools
import importlib
import pkgutil

from ..compiler.targets import TargetCatalog, did_you_mean

if __name__ != "polyprompt.backends":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.backends, not {__name__!r} (repo root is on sys.path)")

_NOT_TARGETS = {"base", "extras"}  # modules of this folder that are not targets


class UnknownTarget(LookupError):
    """A target name no module, model family or folder gives; `help` says what is near."""

    def __init__(self, name: str, help: str | None = None):
        self.help = help or did_you_mean(name, names()) or f"targets: {', '.join(names())}"
        super().__init__(f"unknown target `{name}`; {self.help}")


def names() -> list[str]:
    """Every built-in target name."""
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)
                  if m.name not in _NOT_TARGETS and not m.name.startswith("_") and not m.ispkg)


#: Prefixes of targets named by a parameter: `hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>` (open models).
MODEL_PREFIXES = TargetCatalog.PREFIXES


def hf_families() -> list[str]:
    """The built-in open-model families (`hf-family:<name>` targets)."""
    from .hf.families import FAMILIES

    return sorted(FAMILIES)


def get(name: str):
    """The backend class of a target name; `polyprompt.backends.extras.MissingExtra` for an open-model
    target when the `models` extra is not installed."""
    from .base import REGISTRY

    _load_builtins()  # every built-in API target registered: facts across targets read the registry
    if name.startswith(MODEL_PREFIXES):
        from .extras import require

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


_LOADED = False


def _load_builtins() -> None:
    """Import every built-in API target's module, once (each registers its backend class)."""
    global _LOADED
    if not _LOADED:
        _LOADED = True
        for name in names():
            importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def _load_entry_point(name: str) -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group="polyprompt.backends"):
        if ep.name == name:
            ep.load()


def api_targets() -> dict:
    """Every built-in API target's backend class, by name (imports their modules)."""
    return {name: get(name) for name in names()}


def hf_options() -> dict:
    """The options of the open-model targets (without importing jinja2 or a tokenizer)."""
    from .hf.facts import OPTIONS

    return dict(OPTIONS)


class Registry(TargetCatalog):
    """The real target catalog: this folder's modules, the built-in model families, and the
    options the targets read, each looked up on first use (a file without target declarations
    imports no backend module)."""

    def names(self) -> list[str]:
        """The built-in API target names."""
        return names()

    def families(self) -> list[str]:
        """The built-in open-model families."""
        return hf_families()

    @functools.cached_property
    def _all_options(self) -> dict:
        from ..compiler.targets import COMMON_OPTIONS

        found: dict = {}
        for cls in api_targets().values():
            found.update(cls.OPTIONS)
        found.update(hf_options())
        found.update(COMMON_OPTIONS)
        return found

    def options(self) -> dict:
        """Every option some target reads, in target order."""
        return self._all_options


@functools.lru_cache(maxsize=1)
def catalog() -> Registry:
    """The target catalog the checker receives (`compiler.check.check_program`)."""
    return Registry()


def model_prefixes() -> dict[str, tuple[str, ...]]:
    """Model-name prefixes by provider family, from each target's `model_prefixes`."""
    from .base import model_prefixes

    api_targets()
    return model_prefixes()


def foreign_model(model: str, family: str) -> str | None:
    """The provider family a model name is made for, when it is not `family` (None: unknown or its own)."""
    from .base import foreign_model

    api_targets()
    return foreign_model(model, family)


def dialect(name: str):
    """The structured-output dialect a target module defines under `name` (the schema as it is if none)."""
    from .base import dialect

    api_targets()
    return dialect(name)
