"""Running compiled prompts: sending a compiled body to a model and reading its answer.

- `local`: open models run locally with torch and transformers on the CPU (`polyprompt run`):
  loading, converting GGUF files, generation, choosing among allowed values by log-likelihood.

This part sits above the compiler and the backends (it imports them, never the command line), and
imports torch and transformers only inside the functions that run a model.
"""

if __name__ != "polyprompt.run":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.run, not {__name__!r} (repo root is on sys.path)")
