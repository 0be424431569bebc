"""Security regressions of the compile cache (issue 12, items 2 and 10): the cache holds Python
source that is run, so a record is run only when the user's own key signed it, in a folder only the
user can write; a compile is keyed on how its imports resolved. See docs/security.md, "Code"."""
from __future__ import annotations

import json
import os

from test_compile_cache import fresh, project  # noqa: F401  (the fixture: a project with its own cache folder)


def _plant(project, edit):
    """Change the stored records of p.prompt with `edit(data)`, keeping the file's place."""
    [path] = (project / "cache").glob("*.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_a_planted_record_is_never_run(project):
    """The cache holds Python source that is run: a record the user's key did not sign is ignored."""
    fresh(project, name="Ada")

    def evil(data):
        for record in data["records"].values():
            record["render"] = "import os\nos.environ['PWNED'] = '1'\ndef render(inputs, target):\n    return []"

    _plant(project, evil)
    result = fresh(project, name="Ada")
    assert "PWNED" not in os.environ and result.made_by != "cache"
    assert result.body["messages"][-1]["content"] == "Hello Ada"


def test_a_record_with_a_recomputed_build_or_no_files_is_ignored(project):
    fresh(project, name="Ada")
    _plant(project, lambda data: data.update(files={}))
    assert fresh(project, name="Ada").made_by != "cache"


def test_a_folder_others_can_write_is_not_read(project):
    fresh(project, name="Ada")
    assert fresh(project, name="Ada").made_by == "cache"
    os.chmod(project / "cache", 0o777)
    assert fresh(project, name="Ada").made_by != "cache"
    os.chmod(project / "cache", 0o700)
    os.chmod(project / "cache" / ".key", 0o644)  # a key others can read signs nothing
    assert fresh(project, name="Ada").made_by != "cache"


def test_no_home_means_no_cache(project, monkeypatch):
    from polyprompt.session import cache

    monkeypatch.delenv("POLYPROMPT_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    for home in ("", "~", "relative"):
        monkeypatch.setenv("HOME", home)
        assert cache.folder() is None and not cache.enabled()
    monkeypatch.delenv("HOME")
    assert cache.folder() is None or cache.folder().is_absolute()


def test_a_switched_symlinked_import_is_compiled_again(project):
    """The cache keyed on the files an import resolved to: switching the link served the old body
    (issue 12, item 10)."""
    (project / "style_a.prompt").write_text("enum Tone { brief, kind }\n")
    (project / "style_b.prompt").write_text("enum Tone { brief, kind }\n// b\n")
    (project / "style.prompt").unlink()
    (project / "style.prompt").symlink_to(project / "style_a.prompt")
    assert fresh(project, name="Ada").made_by == "passes"
    assert fresh(project, name="Ada").made_by == "cache"
    (project / "style.prompt").unlink()
    (project / "style.prompt").symlink_to(project / "style_b.prompt")
    assert fresh(project, name="Ada").made_by == "passes"
