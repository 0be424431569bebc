"""The polyprompt compiler: parse, check, render to the IR and lower it (backends/ emit the bodies)."""

if __name__ != "polyprompt.compiler":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.compiler, not {__name__!r} (repo root is on sys.path)")
