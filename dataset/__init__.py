"""Fine-tune datasets from prompt sources (`polyprompt.dataset`).

A `dataset` block binds the columns of a data file to a prompt's parameters and names the answer
to train on; `build` turns its rows into training files of any registered format (`formats/`):
OpenAI, Vertex AI, Bedrock and TRL lines, each holding the provider's own messages for that
prompt, so a model is tuned on exactly what it is later sent.

    >>> from polyprompt import dataset
    >>> summary = dataset.build("examples/review_moderation.prompt", "openai-sft", "out/moderation.jsonl")
    >>> print(summary.line())

- `sources.py`: rows from JSONL, JSON, CSV/TSV, Parquet or a `datasets` folder; bad rows numbered.
- `align.py`: a `dataset` block compiled into a `Task`: a row to checked inputs and answers.
- `splits.py`: a row's split from a hash of its content and the seed.
- `formats/`: one module a line format, each with its rules check.
- `writers.py`: JSONL, Parquet and `datasets` folders, written atomically.
- `tasks.py`: a file's `dataset` blocks as tasks; `rowfn.py`: the per-row function (any engine).
- `stream.py`: rows read, filtered, turned into lines (in workers too), de-duplicated, weighted.
- `pipeline.py`: `build`, which runs it all and accounts for every row (`Summary`).
"""
from __future__ import annotations

if __name__ != "polyprompt.dataset":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.dataset, not {__name__!r} (repo root is on sys.path)")

_EXPORTS = {
    "build": "pipeline",
    "tasks_of": "tasks",
    "row_fn": "rowfn",
    "Summary": "pipeline",
    "Reject": "pipeline",
    "DatasetError": "tasks",
    "format_names": "formats",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polyprompt.dataset' has no attribute {name!r}")
    import importlib

    found = importlib.import_module(f"{__name__}.{module}")
    return getattr(found, "names" if name == "format_names" else name)
