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
    "load": "polyprompt.session",
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


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), _RENAMED.get(name, name))
