"""tests/data/refdata is what tests/data/refresh.py makes from the shared reference folder."""
from __future__ import annotations

import importlib.util

from helpers import REFDATA, REPO, shared


def _refresh():
    spec = importlib.util.spec_from_file_location("refresh", REPO / "tests" / "data" / "refresh.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_copy_equals_the_shared_refdata():
    """Fails when ../shared/refdata changed (or a copy was edited): run tests/data/refresh.py."""
    expected = _refresh().expected_files(shared("refdata"))
    have = {p.relative_to(REFDATA).as_posix(): p.read_bytes() for p in REFDATA.rglob("*") if p.is_file()}
    assert sorted(have) == sorted(expected)
    stale = [rel for rel, data in expected.items() if have[rel] != data]
    assert stale == [], "run `python tests/data/refresh.py`"


def test_a_cut_schema_keeps_every_schema_it_references():
    """The subset of a small OpenAPI document: the roots and their references, nothing else."""
    doc = {"components": {"schemas": {
        "A": {"properties": {"b": {"$ref": "#/components/schemas/B"}}},
        "B": {"items": [{"$ref": "#/components/schemas/C"}]},
        "C": {"type": "string"},
        "D": {"type": "integer"},
    }}}
    assert list(_refresh().openapi_subset(doc, ["A"])["components"]["schemas"]) == ["A", "B", "C"]
