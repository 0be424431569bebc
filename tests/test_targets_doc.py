"""docs/targets.md stays true to the backends, so the reference cannot drift.

(a) The capability matrix between `<!-- capabilities:begin -->` and `<!-- capabilities:end -->`
    is exactly `polyprompt.capabilities.markdown()`.
(b) The table between `<!-- settings:begin -->` and `<!-- settings:end -->` is exactly
    `settings_table()` below, made from each backend's `caps.settings`.
(c) Every built-in target has a `## <name>` section that names its documentation URL, family
    and default model, and is listed under its family in the table of families.
(d) Every ```polyprompt block checks clean and is in canonical form, and each target it
    declares builds (its `caps` are `Caps` fields).

When a backend changes, `POLYPROMPT_UPDATE_DOCS=1 pytest -q tests/test_targets_doc.py`
rewrites the two generated tables (review the diff, then the prose around them).
"""
from __future__ import annotations

import os
import re

import pytest

import polyprompt
from polyprompt import backends, capabilities
from polyprompt.api import check_file, format_text
from polyprompt.compiler import ast
from polyprompt.compiler.check.decls import SETTINGS

from helpers import REPO

DOC = REPO / "docs" / "targets.md"
UPDATE = os.environ.get("POLYPROMPT_UPDATE_DOCS") == "1"


def settings_table() -> str:
    """Rows: the neutral settings; columns: the targets; cells: the provider field, or — (PP403)."""
    names = backends.names()
    lines = ["| setting | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for setting in SETTINGS:
        if setting == "body":
            continue  # the provider's own fields, as given: targets.md "Body fields"
        fields = [backends.get(n).caps.settings.get(setting) for n in names]
        lines.append(f"| `{setting}` | " + " | ".join(f"`{f}`" if f else "—" for f in fields) + " |")
    return "\n".join(lines)


def block(name: str) -> re.Match:
    m = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", DOC.read_text(encoding="utf-8"), re.S)
    assert m, f"docs/targets.md has no <!-- {name}:begin --> ... <!-- {name}:end --> block"
    return m


@pytest.mark.parametrize("name, expected", [("capabilities", capabilities.markdown), ("settings", settings_table)])
def test_generated_block(name, expected):
    m, real = block(name), expected()
    if m.group(1) != real and UPDATE:
        text = DOC.read_text(encoding="utf-8")
        DOC.write_text(text[:m.start(1)] + real + text[m.end(1):], encoding="utf-8")
        return
    assert m.group(1) == real, f"the {name} block of docs/targets.md is stale (POLYPROMPT_UPDATE_DOCS=1 rewrites it)"


def test_settings_are_neutral_names():
    for name in backends.names():
        unknown = set(backends.get(name).caps.settings) - set(SETTINGS)
        assert not unknown, f"{name} maps settings the language does not have: {sorted(unknown)}"


@pytest.mark.parametrize("name", backends.names())
def test_target_section(name):
    text = DOC.read_text(encoding="utf-8")
    m = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"docs/targets.md has no `## {name}` section"
    cls = backends.get(name)
    assert cls.docs in m.group(1), f"the {name} section does not link {cls.docs}"
    assert f"`{cls.default_model}`" in m.group(1), f"the {name} section does not name `{cls.default_model}`"
    assert f"**Family** `{cls.family}`" in m.group(1), f"the {name} section does not give its family"
    table = re.search(r"^\| family \| targets \|\n\|---\|---\|\n((?:\|.*\n)+)", text, re.M)
    families = dict(row.strip("| ").split(" | ") for row in table.group(1).splitlines())
    assert f"`{name}`" in families.get(f"`{cls.family}`", "").split(", "), f"the families table misses {name}"


def test_polyprompt_blocks(tmp_path, monkeypatch):
    sources = re.findall(r"^```polyprompt\n(.*?)^```$", DOC.read_text(encoding="utf-8"), re.M | re.S)
    assert sources, "docs/targets.md has no ```polyprompt block"
    (tmp_path / "polyprompt.toml").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for i, source in enumerate(sources):
        path = f"block{i}.prompt"
        (tmp_path / path).write_text(source, encoding="utf-8")
        _program, diagnostics = check_file(path)
        assert diagnostics == [], f"block {i} of docs/targets.md:\n" + "\n".join(d.message for d in diagnostics)
        assert format_text(source) == source, f"block {i} of docs/targets.md is not in canonical form"
        pf = polyprompt.load(path)
        for decl in pf.analysis.program.entry.tree.decls:
            if isinstance(decl, ast.TargetDecl):
                assert pf.backend(decl.name.name).name == decl.name.name
