"""Backends: one module per target platform, registered by name (issue 4 on)."""

if __name__ != "polyprompt.backends":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.backends, not {__name__!r} (repo root is on sys.path)")
