"""The polyprompt compiler: parse, check, and (later stages) lower and emit."""

if __name__ != "polyprompt.compiler":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.compiler, not {__name__!r} (repo root is on sys.path)")
