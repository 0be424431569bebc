"""Choosing the target object of a `-t` option (`make_target`): recorded replies
(targets.py `RepliesTarget`), a local model (`LocalTarget`), or an API target sent over HTTP
(api_target.py `ApiTarget`)."""
from __future__ import annotations

from typing import Any

from .targets import EvalError, LocalTarget, Recorded, RepliesTarget


def split_label(spec: str) -> tuple[str, str]:
    """`LABEL=TARGET` (to tell two models of one kind apart, e.g. base=hf:./base) or a bare TARGET."""
    label, sep, target = spec.partition("=")
    if sep and label and all(ch.isalnum() or ch in "_.-" for ch in label) and target:
        return label, target
    return spec, spec


def check_target(target: str) -> None:
    """EvalError unless `target` names a target (a built-in name, a model folder or file)."""
    from .. import backends

    try:
        backends.get(target)
    except (LookupError, OSError) as err:  # an unknown name, a model folder that is not one
        raise EvalError(str(err).strip("'\"")) from None


def make_target(spec: str, recorded: Recorded | None, api: dict | None = None, batch_size: int = 8) -> Any:
    """The target of a `-t` option: recorded replies when the replies file has lines for it (by
    label or target name), a local model for hf:/hf-family: (`batch_size` rows per forward pass),
    else the API target sent over HTTP (evaluate/api_target.py, with the settings `api`:
    concurrency, base_url, cache)."""
    from .. import backends

    label, target = split_label(spec)
    check_target(target)
    if recorded is not None:
        for key in (label, target):
            if key in recorded.rows or key in recorded.tests:
                return RepliesTarget(label, target, recorded.rows.get(key, {}), recorded.tests.get(key, {}))
    if target.startswith(backends.MODEL_PREFIXES):
        return LocalTarget(label, target, batch_size=batch_size)
    from ..backends.extras import missing

    if missing("api"):
        raise EvalError(f"{label}: evaluating an API target sends its requests with the api extra: "
                        f"pip install 'polyprompt[api]'; or give its recorded replies (--replies FILE)")
    from .api_target import ApiTarget

    return ApiTarget(label, target, **(api or {}))
