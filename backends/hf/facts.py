"""The open-model targets' facts that the checker and the registry read without loading a
template or a tokenizer (no jinja2): the options a `target NAME "hf-family:..."` or
`"hf:<dir>"` declaration may give."""
from __future__ import annotations

from ...compiler.targets import TargetOption, is_iso_date

#: options of `hf-family:` and `hf:` targets (read by backends/hf/target.py)
OPTIONS = {
    "date": TargetOption("hf-family and hf: the date a chat template reads as today (default 2024-07-26)",
                         lambda v: isinstance(v, str) and is_iso_date(v), 'a date written "YYYY-MM-DD"'),
    "tokenizer": TargetOption('hf-family and hf: the token-id engine, "default" or "bulk" (slower to load, '
                              'faster for many conversations: docs/model-tokens.md)',
                              lambda v: v in ("default", "bulk"), '"default" or "bulk"'),
}
