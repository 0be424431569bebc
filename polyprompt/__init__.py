"""polyprompt: write a prompt once, compile it for every platform.

The package keeps `import polyprompt` cheap: the API functions are loaded on
first use, and torch or transformers are imported only by the commands that
run or train models.
"""
from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "analyze": "polyprompt.api",
    "check": "polyprompt.api",
    "check_file": "polyprompt.api",
    "check_text": "polyprompt.api",
    "format_text": "polyprompt.api",
    "format_file": "polyprompt.api",
    "load": "polyprompt.prompt_file",
    "PromptFile": "polyprompt.prompt_file",
    "parse": "polyprompt.session.compiled",
    "CompileError": "polyprompt.session",
    "Client": "polyprompt.run.api",
    "ApiError": "polyprompt.run.api",
    "ApiResult": "polyprompt.run.api",
    "send": "polyprompt.run.api",
    "asend": "polyprompt.run.api",
}

#: facade names that differ from the name in their module
_RENAMED = {"parse": "parse_reply"}

__all__ = sorted(_API) + ["__version__"]


def _send(compiled, **options):
    """`Compiled.run`: the run layer's `send`, imported on first use."""
    from .run.api import send

    return send(compiled, **options)


async def _asend(compiled, **options):
    """`Compiled.arun`: the run layer's `asend`, imported on first use."""
    from .run.api import asend

    return await asend(compiled, **options)


def _install() -> None:
    """Give `Compiled.run`/`arun` their sender: the session sits below the run layer, so the top
    of the package hands it down (docs/run.md, "Python")."""
    from .session.compiled import install_runners

    install_runners(_send, _asend)


_install()


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), _RENAMED.get(name, name))
