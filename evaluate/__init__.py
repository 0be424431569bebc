"""Evaluating a prompt on several platforms side by side (`polyprompt.evaluate`, `polyprompt eval`).

Each target answers every row; each reply is parsed into the prompt's output type and scored
against the expected output with typed metrics (accuracy, precision, recall, F1, per-field
scores), each with a 95% interval, and paired tests between targets. scikit-learn, matplotlib and
sacrebleu are imported only inside the functions that use them (the `eval` extra).
"""
from __future__ import annotations

if __name__ != "polyprompt.evaluate":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.evaluate, not {__name__!r} (repo root is on sys.path)")

#: public name -> the module that defines it (imported on first use: `import polyprompt.evaluate` stays light)
_EXPORTS = {"evaluate": "runner", "Options": "metrics", "Report": "report", "EvalError": "targets",
            "TargetFailed": "targets"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.evaluate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
