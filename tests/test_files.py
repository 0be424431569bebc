"""compiler/files.py: the one cache-folder rule and the one atomic write."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from polyprompt.compiler import files
from polyprompt.compiler.files import cache_dir, write_atomic

from helpers import REPO

posix_only = pytest.mark.skipif(os.name != "posix", reason="modes, umask, FIFOs and symlinks are POSIX")


# --- cache_dir ----------------------------------------------------------------------------------------


def test_cache_dir_under_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("grammar") == tmp_path / "polyprompt" / "grammar"


def test_cache_dir_under_home_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("compiled") == tmp_path / ".cache" / "polyprompt" / "compiled"


def test_a_relative_xdg_cache_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir("assets") == tmp_path / ".cache" / "polyprompt" / "assets"


@posix_only
@pytest.mark.parametrize("home", [None, "", "~", "relative", "/", "//"])
def test_no_home_means_no_disk_cache(monkeypatch, home):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    if home is None:
        monkeypatch.delenv("HOME", raising=False)
    else:
        monkeypatch.setenv("HOME", home)
    assert cache_dir("grammar") is None


@posix_only
def test_without_a_home_the_parser_writes_nothing(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HOME", "XDG_CACHE_HOME")}
    code = "from polyprompt.api import check_text; print(check_text('prompt p() { user \\'hi\\' }'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    assert list(tmp_path.iterdir()) == [], "no ./~ folder, nothing in the working folder"


def test_the_compile_cache_follows_the_rule_and_the_grammar_keeps_none(monkeypatch, tmp_path):
    from polyprompt.session import cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POLYPROMPT_CACHE_DIR", raising=False)
    code = "from polyprompt import grammar; grammar.parse('', 'module')"
    subprocess.run([sys.executable, "-c", code], env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)}, check=True)
    assert list(tmp_path.iterdir()) == [], "the grammar's tables ship in the package: no cache folder"
    assert cache.folder() == tmp_path / "polyprompt" / "compiled"


def test_the_asset_cache_follows_the_rule(monkeypatch, tmp_path):
    from polyprompt.backends.hf.assets import cache as assets

    monkeypatch.delenv("POLYPROMPT_ASSETS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert assets.cache_dir() == tmp_path / "polyprompt" / "assets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME")
    with pytest.raises(RuntimeError, match="POLYPROMPT_ASSETS"):
        assets.cache_dir()


# --- write_atomic ----------------------------------------------------------------------------------


def test_writes_text_and_bytes_exactly(tmp_path):
    path = tmp_path / "a.txt"
    write_atomic(path, "line\r\nü\n")
    assert path.read_bytes() == "line\r\nü\n".encode()
    write_atomic(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@posix_only
def test_a_symlink_is_kept_and_its_target_written(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"


@posix_only
def test_dev_null_is_written_not_replaced():
    before = os.stat(os.devnull)
    write_atomic(os.devnull, "discarded")
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@posix_only
def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    write_atomic(fifo, "through the pipe")
    assert reader.communicate(timeout=10)[0] == b"through the pipe"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@posix_only
def test_the_mode_of_an_existing_file_is_kept(tmp_path):
    path = tmp_path / "script.sh"
    path.write_text("old")
    path.chmod(0o751)
    write_atomic(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o751


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_new_file_honours_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o666 & ~umask


def test_the_temporary_file_is_removed_after_a_failure(monkeypatch, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def failing_fsync(fd):
        raise OSError(5, "disk gone")

    monkeypatch.setattr(files.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="disk gone"):
        write_atomic(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_missing_folder_is_an_error_and_leaves_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "a.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_compile_output_goes_through_write_atomic(tmp_path):
    from click.testing import CliRunner

    from polyprompt.cli import cli

    src = tmp_path / "p.prompt"
    src.write_text('prompt hello() {\n  user "hi"\n}\n')
    target = tmp_path / "body.json"
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "out.json"
    link.symlink_to(target)
    result = CliRunner().invoke(cli, ["compile", str(src), "-t", "openai-chat", "-o", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and '"messages"' in target.read_text()
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@posix_only
def test_read_regular_refuses_what_would_block_or_never_end(tmp_path):
    """A FIFO given as a prompt or inputs file blocked forever; /dev/zero read until memory ran out
    (issue 12, item 13)."""
    from polyprompt.compiler.files import UnreadableFile, read_regular

    fifo = tmp_path / "f.prompt"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_regular(fifo, 100)  # opened without waiting for a writer
    with pytest.raises(UnreadableFile, match="not a regular file"):
        read_regular("/dev/zero", 100)
    big = tmp_path / "big"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UnreadableFile, match="larger than 100 bytes"):
        read_regular(big, 100)
    assert read_regular(big, 101) == b"x" * 101


@posix_only
def test_the_cli_says_so_in_one_line(tmp_path):
    fifo = tmp_path / "f.prompt"
    os.mkfifo(fifo)
    cmd = [sys.executable, "-m", "polyprompt"]
    out = subprocess.run(cmd + ["check", str(fifo)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.strip() == f"error: {fifo}: not a regular file"
    example = REPO / "examples" / "ticket_triage.prompt"
    out = subprocess.run(cmd + ["compile", str(example), "-t", "openai-chat", "-i", "/dev/zero"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1 and "/dev/zero: not a regular file" in out.stderr


@posix_only
def test_a_system_that_cannot_name_the_unnamed_file_gets_a_named_one(monkeypatch, tmp_path):
    """Where linking through /proc is refused, the write falls back to a named temporary file."""
    def refused(*args, **kwargs):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(files.os, "link", refused)
    path = tmp_path / "a.txt"
    path.write_text("old")
    write_atomic(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
