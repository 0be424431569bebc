"""Security, area "code" (grammar part): the parser's tables never come from a pickle.

The grammar tables ship in the package as JSON (`grammar/polyprompt.tables.json`, see
`polyprompt.grammar.tables`); no file outside the package is read for them, so a pickle planted
in a cache folder, the temp folder or a `./~` folder never runs (issue 12 item 1).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import lark
import pytest

from polyprompt import grammar
from polyprompt.grammar import tables


class _Planted:
    """A pickle that creates `marker` when it is unpickled (any code could run instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _cache_names() -> list[str]:
    """The names a grammar cache had or could have: polyprompt's (the key of the old
    `grammar._cache_path`) and Lark's own default (`cache=True`, in the temp folder)."""
    text = grammar.grammar_text()
    key = hashlib.sha256((text + lark.__version__).encode()).hexdigest()[:16]
    return [f"{key}.lark-cache", f".lark_cache_{os.environ.get('USER', 'root')}"]


def _plant(folder: Path, marker: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = b"0" * 64 + b"\n" + pickle.dumps(_Planted(marker)) + pickle.dumps(_Planted(marker))
    for name in _cache_names():
        (folder / name).write_bytes(payload)


@pytest.mark.parametrize("where", ["home", "xdg", "tmp", "literal-tilde", "no-home"])
def test_a_planted_grammar_pickle_is_never_read(tmp_path, where):
    marker = tmp_path / "ran"
    home, xdg, tmp, work = (tmp_path / name for name in ("home", "xdg", "tmp", "work"))
    for folder in (home, tmp, work):
        folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME", "TMPDIR")}
    env["TMPDIR"] = str(tmp)
    if where == "home":
        env["HOME"] = str(home)
        _plant(home / ".cache" / "polyprompt" / "grammar", marker)
    elif where == "xdg":
        env["HOME"], env["XDG_CACHE_HOME"] = str(home), str(xdg)
        _plant(xdg / "polyprompt" / "grammar", marker)
    elif where == "tmp":
        _plant(tmp, marker)
        _plant(tmp / "polyprompt" / "grammar", marker)
    elif where == "literal-tilde":
        env["HOME"] = "~"
        _plant(work / "~" / ".cache" / "polyprompt" / "grammar", marker)
    else:
        _plant(work / ".cache" / "polyprompt" / "grammar", marker)
    (work / "p.prompt").write_text('prompt p() {\n  user "hi"\n}\n')
    run = subprocess.run([sys.executable, "-m", "polyprompt", "check", "p.prompt"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not marker.exists(), f"a planted pickle ran ({where})"


def test_loading_the_parser_unpickles_nothing(tmp_path):
    code = ("import pickle\n"
            "def refuse(*a, **k): raise AssertionError('pickle read')\n"
            "pickle.load = pickle.loads = refuse\n"
            "from polyprompt.api import check_text\n"
            "assert check_text('prompt p() { user \"hi\" }') == []\n"
            "from polyprompt import grammar\n"
            "assert grammar.parser().source_path == '<deserialized>', 'the shipped tables were not used'\n")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
    assert list(tmp_path.iterdir()) == [], "nothing is written for the grammar"


def test_the_shipped_tables_equal_a_fresh_build():
    shipped = (Path(grammar.__file__).parent / tables.TABLES_FILE).read_text(encoding="utf-8")
    assert shipped == tables.dump(grammar.grammar_text()), (
        "grammar/polyprompt.tables.json is stale: run `python -m polyprompt.grammar.tables`")


def test_tables_built_from_another_grammar_are_not_used(monkeypatch):
    assert tables.load(grammar.grammar_text()) is not None
    assert tables.load(grammar.grammar_text() + "\n// edited\n") is None


def test_the_table_encoding_round_trips_exactly():
    value = {"a": (1, [2, (3,)]), 4: {"__x": None}, (5, 6): True, "s": "__t"}
    assert tables.decode(__import__("json").dumps(tables.encode(value))) == value
    with pytest.raises(TypeError):
        tables.encode({"f": 1.5j})


def test_a_parser_from_the_tables_parses_as_a_fresh_build():
    source = 'prompt p(x: str) {\n  // note\n  user "{{ x | upper }} {% if x %}y{% end %}"\n}\n'
    loaded = grammar.parser()
    fresh = tables.build(grammar.grammar_text(), postlex=grammar._KeywordsAsNames())
    assert loaded.parse(source, start="module") == fresh.parse(source, start="module")
