"""Evaluating a prompt on several platforms side by side (`polyprompt.evaluate`, `polyprompt eval`).

Each target answers every row; each reply is parsed into the prompt's output type and scored
against the expected output with typed metrics (accuracy, precision, recall, F1, per-field
scores), each with a 95% interval, and paired tests between targets. scikit-learn, matplotlib and
sacrebleu are imported only inside the functions that use them (the `eval` extra).

- `rows.py`: the rows and expected outputs (a `dataset` block, or `--data` with bindings).
- `targets.py`: recorded replies and local models as targets; `api_target.py`: API targets sent
  over HTTP with the reply cache; `choose.py`: the target of a `-t` option.
- `runner.py`: `evaluate`, which runs every target on every row and scores the answers.
- `judge.py`: `Judge`, a rubric prompt that grades free-text answers, answered by a judge target.
- `metrics.py` (typed scores), `intervals.py` (Wilson, bootstrap, McNemar), `report.py`
  (report.json, predictions.jsonl, gates), `table.py`, `plots.py`, `html.py` (report.html).
"""
from __future__ import annotations

if __name__ != "polyprompt.evaluate":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.evaluate, not {__name__!r} (repo root is on sys.path)")

#: public name -> the module that defines it (imported on first use: `import polyprompt.evaluate` stays light)
_EXPORTS = {"evaluate": "runner", "Options": "metrics", "Report": "report", "EvalError": "targets",
            "TargetFailed": "targets", "ApiTarget": "api_target", "make_target": "choose", "Judge": "judge"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.evaluate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
