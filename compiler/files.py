"""Where polyprompt keeps its caches, and how it replaces a file whole.

`cache_dir(kind)` is the one rule for every on-disk cache (the grammar tables,
compiled prompts, model assets): `$XDG_CACHE_HOME/polyprompt/<kind>`, else
`~/.cache/polyprompt/<kind>`. Without a home folder there is no disk cache:
a world-writable temporary folder would let another user plant cache files,
an unexpanded `~` would make a `./~` folder wherever the command runs, and
`HOME=/` is no folder of the user's own. (The grammar keeps no cache at all:
its tables ship in the package, see `grammar.tables`.)

`write_atomic(path, data)` writes a file so that a reader sees the old
content or the new, never half of it, and a crash leaves no stray file.
"""
from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path


def home() -> Path | None:
    """The user's home folder, or None when `HOME` is unset or empty, `~` does not expand to an
    absolute path, or it is the root folder (`HOME=/`, as services and containers run: not a
    folder of this user's own)."""
    if os.name == "posix" and not os.environ.get("HOME"):
        return None
    expanded = os.path.expanduser("~")
    if expanded == "~" or not os.path.isabs(expanded) or Path(expanded) == Path(expanded).parent:
        return None
    return Path(expanded)


def cache_dir(kind: str) -> Path | None:
    """The cache folder for `kind` (not created): `$XDG_CACHE_HOME/polyprompt/<kind>`, else
    `~/.cache/polyprompt/<kind>`; None (no disk cache) when there is no home folder. A relative
    `XDG_CACHE_HOME` is ignored, as the XDG specification asks."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        user_home = home()
        if user_home is None:
            return None
        base = os.path.join(user_home, ".cache")
    return Path(base) / "polyprompt" / kind


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace the content of `path` with `data` (text is written as UTF-8, newlines as given).

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed
    over the file, so readers never see a partial file. A symlink is followed: its target is
    written and the link kept. A file that is not a regular file (a FIFO, `/dev/null`, a
    device) is written in place, not replaced. The mode of an existing file is kept; a new
    file gets the mode the umask allows. On any failure the temporary file is removed and
    the old content stays.
    """
    target = Path(os.path.realpath(path))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        with open(target, "wb") as handle:
            handle.write(payload)
        return
    tmp, fd = _create_temp(target)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), stat.S_IMODE(mode))
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(target.parent)


def _create_temp(target: Path) -> tuple[Path, int]:
    """A new file beside `target`, opened for writing. Created with mode 0o666 so the kernel
    applies the umask (and any default ACL) as for a plain new file; `mkstemp` would give 0o600."""
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _sync_folder(folder: Path) -> None:
    """Flush the rename to disk where the system allows it (best effort: not on every OS)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class UnreadableFile(OSError):
    """A file polyprompt will not read: not a regular file (a FIFO would block forever, a device
    never end), or larger than the limit for its kind."""


def read_regular(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; UnreadableFile otherwise (and the
    OSError of a file that cannot be opened). A FIFO is opened without waiting for a writer."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnreadableFile(f"{os.fspath(path)}: not a regular file")
        if st.st_size > limit:
            raise UnreadableFile(f"{os.fspath(path)}: larger than {limit:,} bytes")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:  # it grew while being read
            raise UnreadableFile(f"{os.fspath(path)}: larger than {limit:,} bytes")
        return data
    finally:
        os.close(fd)
