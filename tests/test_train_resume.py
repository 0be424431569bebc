"""Checkpoints and resume: a run killed with SIGKILL and resumed reaches the uninterrupted run's
final weights bit for bit (CPU, one thread, attention dropout on so the RNG states matter); a
half-written or damaged checkpoint is never taken for a good one; a full disk is one line."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_model import build_tiny_model  # noqa: E402
from polyprompt.train import checkpoint  # noqa: E402

TESTS = Path(__file__).parent

CHILD = """
import sys, time
from polyprompt.train import loop, train

rows, model, out, pause, resume = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"
if pause:
    step = loop._step

    def slow(*args, **kwargs):
        result = step(*args, **kwargs)
        time.sleep(pause)  # time for the driver to kill it mid-run; no effect on the numbers
        return result

    loop._step = slow
train(data=rows, model=model, output=out, max_steps=12, save_steps=3, eval_steps=4, lr=3e-3, threads=1,
      batch_size=4, grad_accum=2, warmup_steps=2, scheduler="cosine", resume=resume, plot=False, tensorboard=False)
"""


def rows_file(folder: Path, n: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with open(folder, "w") as f:
        for _ in range(n):
            length = int(torch.randint(6, 24, (1,), generator=gen))
            ids = torch.randint(3, 300, (length,), generator=gen).tolist()
            f.write(json.dumps({"input_ids": ids, "labels": [-100] * (length // 2) + ids[length // 2:]}) + "\n")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    build_tiny_model(root / "tiny", dropout=0.1)
    rows_file(root / "rows.train.jsonl", 40, 1)
    rows_file(root / "rows.validation.jsonl", 8, 2)
    (root / "child.py").write_text(CHILD)
    return root


def child(root: Path, out: Path, pause: float = 0.0, resume: bool = False) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, str(root / "child.py"), str(root / "rows.jsonl"), f"hf:{root / 'tiny'}",
                             str(out), str(pause), "1" if resume else "0"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_a_run_killed_with_sigkill_resumes_to_the_same_weights_bit_for_bit(setup):
    whole = child(setup, setup / "whole")
    assert whole.wait(timeout=600) == 0, whole.stderr.read()
    killed = child(setup, setup / "killed", pause=0.4)
    deadline = time.monotonic() + 600
    while not (setup / "killed" / "checkpoints" / "sft" / "step-000006").exists():
        assert killed.poll() is None, killed.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (setup / "killed" / "model.safetensors").exists()  # it did not finish
    resumed = child(setup, setup / "killed", resume=True)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    a, b = weights(setup / "whole"), weights(setup / "killed")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    metrics = json.loads((setup / "killed" / "metrics.json").read_text())
    assert metrics["resumed_from"] >= 6

    def log(folder):
        return [(r["kind"], r["step"], r["loss"]) for r in
                map(json.loads, (folder / "train_log.jsonl").read_text().splitlines())]

    assert log(setup / "whole") == log(setup / "killed")  # the killed run's extra lines were dropped


def test_a_half_written_or_damaged_checkpoint_is_never_taken(tmp_path):
    good = checkpoint.save(tmp_path, 3, {"position": {"step": 3}})
    (tmp_path / ".tmp-step-000006-abcd").mkdir()  # a write that was killed: not a checkpoint
    (tmp_path / ".tmp-step-000006-abcd" / checkpoint.STATE).write_bytes(b"partial")
    (tmp_path / "step-000009").mkdir()  # no state file
    damaged = tmp_path / "step-000012"
    damaged.mkdir()
    (damaged / checkpoint.STATE).write_bytes(b"not a torch file")
    path, state = checkpoint.latest(tmp_path)
    assert path == good and state["position"]["step"] == 3


def test_a_full_disk_mid_checkpoint_is_one_line_and_leaves_no_checkpoint(tmp_path, monkeypatch):
    checkpoint.save(tmp_path, 3, {"position": {"step": 3}})

    def full(obj, handle):
        handle.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(checkpoint.CheckpointError, match="step 6 could not be written .*No space left on device"):
        checkpoint.save(tmp_path, 6, {"position": {"step": 6}})
    assert [p.name for p in tmp_path.iterdir()] == ["step-000003"]
    monkeypatch.undo()
    assert checkpoint.latest(tmp_path)[1]["position"]["step"] == 3
