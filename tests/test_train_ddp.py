"""DDP under torchrun on the CPU (gloo): two processes give the loss curve of one process with the
same global batch (to 1e-5), and the same final weights (to 1e-5)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_model import build_tiny_model  # noqa: E402

CHILD = """
import sys
from polyprompt.train import train

rows, model, out, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
train(data=rows, model=model, output=out, max_steps=8, batch_size=batch, grad_accum=2, lr=3e-3, threads=1,
      eval_steps=4, save_steps=0, plot=False, tensorboard=False, progress=False)
"""


def rows_file(path: Path, n: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with open(path, "w") as f:
        for _ in range(n):
            length = int(torch.randint(6, 30, (1,), generator=gen))
            ids = torch.randint(3, 300, (length,), generator=gen).tolist()
            cut = int(torch.randint(1, length - 1, (1,), generator=gen))  # ranks hold different token counts
            f.write(json.dumps({"input_ids": ids, "labels": [-100] * cut + ids[cut:]}) + "\n")


def losses(out: Path) -> list[tuple[str, int, float]]:
    return [(r["kind"], r["step"], r["loss"]) for r in
            map(json.loads, (out / "train_log.jsonl").read_text().splitlines())]


@pytest.mark.slow
def test_two_processes_give_the_loss_curve_of_one(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    build_tiny_model(tmp_path / "tiny")
    rows_file(tmp_path / "rows.train.jsonl", 64, 1)
    rows_file(tmp_path / "rows.validation.jsonl", 8, 2)
    (tmp_path / "child.py").write_text(CHILD)
    args = [str(tmp_path / "rows.jsonl"), f"hf:{tmp_path / 'tiny'}"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run([sys.executable, str(tmp_path / "child.py"), *args, str(tmp_path / "one"), "4"], env=env,
                         capture_output=True, text=True, timeout=900)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(tmp_path / "child.py"), *args,
                          str(tmp_path / "two"), "2"], env=env, capture_output=True, text=True, timeout=900)
    assert two.returncode == 0, two.stderr
    a, b = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [x[:2] for x in a] == [x[:2] for x in b] and len(a) == 10
    assert max(abs(x[2] - y[2]) for x, y in zip(a, b)) < 1e-5
    from safetensors.torch import load_file

    wa, wb = load_file(str(tmp_path / "one" / "model.safetensors")), load_file(str(tmp_path / "two" /
                                                                                    "model.safetensors"))
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=1e-5), name
