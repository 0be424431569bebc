"""The asset cache: where the folders built from model files live, and how one is put there.

The cache is ``$POLYPROMPT_ASSETS``, by default ``~/.cache/polyprompt/assets``. A folder is built
aside (a temporary folder in the same place) and renamed into place in one step, so a half-built
folder is never seen and concurrent builders are safe. Installed packages that ship model files are
found without being imported (some cannot be imported without extra packages).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from ....compiler import files

__all__ = ["cache_dir", "distribution_version", "offline", "package_dir", "publish"]


def cache_dir() -> Path:
    """The asset cache: ``$POLYPROMPT_ASSETS``, else the shared cache rule (``compiler.files``:
    ``$XDG_CACHE_HOME/polyprompt/assets`` or ``~/.cache/polyprompt/assets``). Without a home
    folder there is none: RuntimeError asking for ``POLYPROMPT_ASSETS``."""
    env = os.environ.get("POLYPROMPT_ASSETS")
    if env:
        return Path(env).expanduser()
    folder = files.cache_dir("assets")
    if folder is None:
        raise RuntimeError("no home folder for the model asset cache: set POLYPROMPT_ASSETS to a folder")
    return folder


def package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def distribution_version(dist: str) -> str | None:
    """The installed version of a distribution (a PyPI name), None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def publish(tmp: Path, out: Path, ready, replace: bool = False) -> None:
    """Move a folder built aside into place in one rename; another process may win the race.

    `ready(out)` tells a usable folder; with `replace`, an existing (older or broken) one goes first.
    """
    tmp.chmod(0o755)  # mkdtemp made it private
    if replace and out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / "x")
        shutil.rmtree(old, ignore_errors=True)
    try:
        tmp.rename(out)
    except OSError:  # built meanwhile by another process
        if not ready(out):
            raise


def offline() -> None:
    """Keep transformers and huggingface_hub off the network (unless the caller set otherwise)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
