"""Security, writes: `compile -o`, `fmt` and snapshots never replace what the user did not mean
(issue 12 item 15; item 14 for `fmt`). Every write goes through compiler/files.py `write_atomic`.
"""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from polyprompt.cli import cli
from polyprompt.compiler import files
from polyprompt.compiler.files import write_atomic

posix_only = pytest.mark.skipif(os.name != "posix", reason="modes, umask, FIFOs and symlinks are POSIX")

SOURCE = 'prompt hello() {\n  user "hi"\n}\n'
UGLY = 'prompt hello( ) {\n      user "hi"\n}\n'


def compile_to(tmp_path: Path, output: Path, *extra: str):
    (tmp_path / "p.prompt").write_text(SOURCE)
    return CliRunner().invoke(cli, ["compile", str(tmp_path / "p.prompt"), "-t", "openai-chat", "-o", str(output),
                                    *extra])


def entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@posix_only
def test_a_symlink_is_written_through_and_kept(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "body.json"
    target.write_text("old")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    assert compile_to(tmp_path, link).exit_code == 0
    assert link.is_symlink() and '"messages"' in target.read_text()
    assert entries(tmp_path / "real") == ["body.json"]


@posix_only
def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    result = compile_to(tmp_path, fifo)
    reader.join(timeout=30)
    assert result.exit_code == 0 and b'"messages"' in got[0]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


@posix_only
def test_a_character_device_stays_a_device():
    """As root, -o /dev/null replaced /dev/null with a regular file."""
    before = os.stat(os.devnull)
    assert stat.S_ISCHR(before.st_mode)
    write_atomic(os.devnull, "discarded")
    after = os.stat(os.devnull)
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


@posix_only
def test_a_read_only_file_is_refused_unless_forced(tmp_path):
    """Read-only files were overwritten (as root, every file is writable: the mode bits decide)."""
    out = tmp_path / "body.json"
    out.write_text("keep")
    out.chmod(0o444)
    result = compile_to(tmp_path, out)
    assert result.exit_code == 1
    assert f"error: cannot write {out}: read-only file (--force or force=True replaces it)" in result.output
    assert out.read_text() == "keep"
    with pytest.raises(PermissionError):  # files.ReadOnlyFile
        write_atomic(out, "x")
    assert compile_to(tmp_path, out, "--force").exit_code == 0
    assert '"messages"' in out.read_text() and stat.S_IMODE(out.stat().st_mode) == 0o444
    assert entries(tmp_path) == ["body.json", "p.prompt"]


@posix_only
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_new_files_honour_the_umask(tmp_path, umask):
    """New files were created 0600 whatever the umask."""
    old = os.umask(umask)
    try:
        assert compile_to(tmp_path, tmp_path / "body.json").exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "body.json").stat().st_mode) == 0o666 & ~umask


@posix_only
def test_compile_cache_records_stay_private(tmp_path, monkeypatch):
    import polyprompt

    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "p.prompt").write_text(SOURCE)
    old = os.umask(0o022)
    try:
        polyprompt.load(tmp_path / "p.prompt").compile("openai-chat")
    finally:
        os.umask(old)
    records = list((tmp_path / "cache").glob("*.json"))
    assert records and all(stat.S_IMODE(r.stat().st_mode) == 0o600 for r in records)


def test_the_data_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(files.os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(files.os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    (tmp_path / "out.json").write_text("old")
    write_atomic(tmp_path / "out.json", "new")
    assert calls[:2] == ["fsync", "replace"]


KILLED_WRITER = """
import os, sys, time
from polyprompt.compiler import files
def stall(fd):
    print("writing", flush=True)
    time.sleep(60)
files.os.fsync = stall
files.write_atomic(sys.argv[1], "x" * 100000)
"""


@posix_only
def test_a_killed_write_leaves_no_temporary_file(tmp_path):
    """A process killed mid-write left a hidden `.name.xxxx.tmp` file behind."""
    out = tmp_path / "body.json"
    out.write_text("old")
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert entries(tmp_path) == ["body.json"] and out.read_text() == "old"


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    out = tmp_path / "body.json"
    out.write_text("old")
    monkeypatch.setattr(files.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError, match="No space left"):
        write_atomic(out, "new")
    assert entries(tmp_path) == ["body.json"] and out.read_text() == "old"


# ---------------------------------------------------------------- fmt


@posix_only
def test_fmt_refuses_a_read_only_file_unless_forced(tmp_path):
    path = tmp_path / "a.prompt"
    path.write_text(UGLY)
    path.chmod(0o444)
    result = CliRunner().invoke(cli, ["fmt", str(path)])
    assert result.exit_code == 1 and f"error: cannot write {path}: read-only file" in result.output
    assert path.read_text() == UGLY
    assert CliRunner().invoke(cli, ["fmt", "--force", str(path)]).exit_code == 0
    assert path.read_text() == SOURCE


def test_fmt_in_a_folder_it_cannot_write_is_one_error(tmp_path, monkeypatch):
    """`fmt` in a read-only folder was an internal error (exit 3). Root may write any folder, so
    the folder's refusal is simulated where the temporary file is made."""
    path = tmp_path / "a.prompt"
    path.write_text(UGLY)

    def refused(target, *args):
        raise PermissionError(13, "Permission denied", str(target.parent))

    monkeypatch.setattr(files, "_create_temp", refused)
    result = CliRunner().invoke(cli, ["fmt", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: cannot write {path}: Permission denied"


def test_fmt_stdin_cannot_be_mixed_with_files(tmp_path):
    """`fmt - file.prompt` was an internal error (FileNotFoundError: '-')."""
    path = tmp_path / "a.prompt"
    path.write_text(UGLY)
    result = CliRunner().invoke(cli, ["fmt", "-", str(path)], input=UGLY)
    assert result.exit_code == 2 and "`-` (stdin to stdout) cannot be mixed with files" in result.output
    assert path.read_text() == UGLY


@posix_only
def test_a_read_only_snapshot_is_a_failed_case_not_a_crash(tmp_path):
    """`test --update` writes through write_atomic: a read-only snapshot is kept, and the case says why."""
    from polyprompt.session.prompt_tests import collect

    (tmp_path / "t.prompt").write_text(SOURCE + '\ntest hello "hi" {\n}\n')
    case = collect([tmp_path])[0]
    assert case.run(["openai-chat"], update=True).passed
    snapshot = case.snapshot("openai-chat")
    snapshot.write_text("{}\n")
    snapshot.chmod(0o444)
    result = case.run(["openai-chat"], update=True)
    assert not result.passed and "read-only file" in result.outcomes[0].message
    assert snapshot.read_text() == "{}\n"
