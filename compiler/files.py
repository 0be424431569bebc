"""Where polyprompt keeps its caches, and how it replaces a file whole.

`cache_dir(kind)` is the one rule for every on-disk cache (the grammar tables,
compiled prompts, model assets): `$XDG_CACHE_HOME/polyprompt/<kind>`, else
`~/.cache/polyprompt/<kind>`. Without a home folder there is no disk cache:
a world-writable temporary folder would let another user plant cache files,
an unexpanded `~` would make a `./~` folder wherever the command runs, and
`HOME=/` is no folder of the user's own. (The grammar keeps no cache at all:
its tables ship in the package, see `grammar.tables`.)

`write_atomic(path, data)` writes a file so that a reader sees the old
content or the new, never half of it, and a crash leaves no stray file. It is
the one way polyprompt writes a file the user named (`compile -o`, `fmt`,
snapshots) or a cache file.
"""
from __future__ import annotations

import errno
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


class ReadOnlyFile(PermissionError):
    """`write_atomic` refused to replace a read-only file (no write permission bit) without `force`."""


def write_atomic(path: str | os.PathLike, data: str | bytes, *, force: bool = False, mode: int | None = None) -> None:
    """Replace the content of `path` with `data` (text is written as UTF-8, newlines as given).

    The data goes to a temporary file in the same folder, is flushed to disk, then renamed
    over the file, so readers never see a partial file. Where the system allows it (Linux's
    O_TMPFILE) the temporary file has no name until it is complete, so even a process killed
    mid-write leaves nothing behind; elsewhere it is removed on any failure. A symlink is
    followed: its target is written and the link kept. A file that is not a regular file (a
    FIFO, `/dev/null`, a device) is written in place, not replaced. A read-only file (no write
    bit) raises ReadOnlyFile unless `force`. The mode of an existing file is kept; a new file
    gets `mode` (default 0o666) less the umask.
    """
    target = Path(os.path.realpath(path))
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        st: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(target, "wb") as handle:
            handle.write(payload)
        return
    if st is not None and not force and (not st.st_mode & 0o222 or not os.access(target, os.W_OK)):
        raise ReadOnlyFile(errno.EACCES, "read-only file (--force or force=True replaces it)", os.fspath(path))
    _replace(target, payload, st, 0o666 if mode is None else mode, unnamed=True)
    sync_folder(target.parent)


def _replace(target: Path, payload: bytes, st: os.stat_result | None, mode: int, unnamed: bool) -> None:
    """Write `payload` to a temporary file beside `target` (unnamed when `unnamed` and the system
    allows it), fsync it, and rename it over `target`; on any failure remove it."""
    fd, tmp = _create_temp(target, mode, unnamed)
    try:
        with os.fdopen(fd, "wb") as handle:
            if st is not None:
                _keep_owner_and_mode(handle.fileno(), st)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
            if tmp is None:  # an unnamed file: it gets a name only now, complete and on disk
                tmp = _link_unnamed(handle.fileno(), target)
                if tmp is None:  # the system would not name it after all: write a named file
                    return _replace(target, payload, st, mode, unnamed=False)
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def _keep_owner_and_mode(fd: int, st: os.stat_result) -> None:
    """Give the new file the mode, and where allowed the owner and group, of the file it replaces."""
    if hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass  # only root may give a file away: it stays ours
    if hasattr(os, "fchmod"):
        os.fchmod(fd, stat.S_IMODE(st.st_mode))


def _create_temp(target: Path, mode: int, unnamed: bool = True) -> tuple[int, Path | None]:
    """A new file in `target`'s folder, opened for writing: unnamed (O_TMPFILE, path None) when
    asked and the system has it, else named `.<name>.<random>.tmp`. Created with `mode` so the
    kernel applies the umask (and any default ACL) as for a plain new file; `mkstemp` would give 0o600."""
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    if unnamed and hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(target.parent, flags | os.O_TMPFILE, mode), None
        except OSError as err:
            if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise  # a missing or unwritable folder: the same error a named file would get
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags | os.O_CREAT | os.O_EXCL, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {target}")


def _link_unnamed(fd: int, target: Path) -> Path | None:
    """A name beside `target` for the unnamed file open as `fd`: linkat(2) following /proc's link
    to it (a folder fd is given because `os.link` calls link(2), which would not follow it).
    None when the system refuses (a /proc that cannot be linked through)."""
    folder = os.open(target.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        for _ in range(100):
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
            try:
                os.link(f"/proc/self/fd/{fd}", tmp.name, dst_dir_fd=folder, follow_symlinks=True)
                return tmp
            except FileExistsError:
                continue
            except OSError:
                return None
    finally:
        os.close(folder)
    raise FileExistsError(f"no free temporary name beside {target}")


def sync_folder(folder: Path) -> None:
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
