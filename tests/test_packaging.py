"""Packaging: one import name, every subpackage listed, the wheel works alone."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

from helpers import REPO

#: the design card's fixed layout; each new part (session, ...) is a top-level folder mapped the same way
FIXED = {"polyprompt": "polyprompt", "polyprompt.grammar": "grammar", "polyprompt.compiler": "compiler",
         "polyprompt.backends": "backends", "polyprompt.stdlib": "stdlib"}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


MAPPED = pyproject()["tool"]["setuptools"]["package-dir"]


def test_every_subpackage_is_listed():
    """setuptools silently leaves out an unlisted subpackage: keep the list exact."""
    found = set()
    for package, folder in MAPPED.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder)
            found.add(".".join([package, *rel.parts]))
    assert set(pyproject()["tool"]["setuptools"]["packages"]) == found


def test_package_dirs_map_the_fixed_layout_and_every_part():
    """The fixed folders, and every other top-level folder with an `__init__.py`, each as
    `polyprompt.<folder>`."""
    parts = {f"polyprompt.{p.parent.name}": p.parent.name for p in REPO.glob("*/__init__.py")
             if p.parent.name not in ("polyprompt", "tests", "bench", "examples", "docs")}
    assert MAPPED == {**FIXED, **parts}


def test_no_generic_top_level_modules(tmp_path):
    """Seen from outside the tree, the installed package adds no `compiler` or `backends`."""
    code = ("import importlib.util as u; import polyprompt.compiler; "
            "print([n for n in %r if u.find_spec(n)])" % [f for f in MAPPED.values() if f != "polyprompt"])
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_torch_install_uses_one_pinned_version():
    """The .ci scripts install torch first, pinned (an unpinned torch pulls a CUDA build of several GB):
    they must pin the same version, or pip installs a second torch over the first; the package itself
    takes a range (the `torch` extra), so an existing torch is kept."""
    scripts = [REPO / ".ci" / name for name in ("setup", "run", "fetch-model-assets")]
    found = {m for path in scripts for m in re.findall(r"torch[=<>!~]=?[\w.]+", path.read_text())}
    assert len(found) == 1 and next(iter(found)).startswith("torch=="), found
    extra = pyproject()["project"]["optional-dependencies"]["torch"]
    assert any(d.startswith("torch>=") for d in extra) and not any(d.startswith("torch==") for d in extra)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(REPO)], check=True, capture_output=True)
    [whl] = out.glob("polyprompt-*.whl")
    return whl


def test_wheel_holds_only_the_polyprompt_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("polyprompt-")}
    assert tops == {"polyprompt"}
    assert "polyprompt/grammar/polyprompt.lark" in names
    assert "polyprompt/stdlib/std/output.prompt" in names
    assert "polyprompt/compiler/check/names.py" in names
    assert "polyprompt/run/local.py" in names and "polyprompt/backends/hf/probe/facts.py" in names
    assert "polyprompt/backends/hf/templates/qwen3.jinja" in names
    assert "polyprompt/backends/request_fields.json" in names  # body fields are checked against it


def test_installed_wheel_imports_and_finds_its_data(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import polyprompt, polyprompt.api as api, importlib.util as u;"
        f"assert polyprompt.__file__.startswith({str(site)!r}), polyprompt.__file__;"
        "assert u.find_spec('compiler') is None and u.find_spec('backends') is None;"
        "from polyprompt import stdlib, grammar;"
        "assert stdlib.find('std.output') and 'prompt_decl' in grammar.grammar_text();"
        "print(len(api.check_text('import std.output\\nprompt p() -> str {\\n  user \"{{ output.typed(str) }}\"\\n}\\n')))"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


@pytest.mark.parametrize("package", ["compiler", "run"])
def test_importing_from_the_repo_root_is_refused(package):
    out = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode != 0 and f"import polyprompt.{package}" in out.stderr
