"""FSDP (FSDP2 `fully_shard`) under torchrun on the CPU (gloo): two processes give the loss curve and
the final weights of one process with the same global batch; a run stopped after its checkpoint and
resumed under FSDP ends where the whole run does; an FSDP checkpoint is not taken by a DDP run."""
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

from test_train_ddp import losses, rows_file  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

CHILD = """
import sys
from polyprompt.train import train

rows, model, out, batch, method = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
extra = dict(arg.split("=", 1) for arg in sys.argv[6:])
train(data=rows, model=model, output=out, method=method, max_steps=8, batch_size=batch, grad_accum=2, lr=3e-3,
      threads=1, eval_steps=4, save_steps=4, plot=False, tensorboard=False, progress=False,
      lora_targets=["q_proj", "v_proj"], distributed=extra.get("distributed", "ddp"), resume="resume" in extra,
      overwrite="overwrite" in extra)
"""
TOL = 1e-5


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    name = "model.safetensors" if (folder / "model.safetensors").is_file() else "adapter_model.safetensors"
    return load_file(str(folder / name))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed")
    root = tmp_path_factory.mktemp("fsdp")
    build_tiny_model(root / "tiny")
    rows_file(root / "rows.train.jsonl", 64, 1)
    rows_file(root / "rows.validation.jsonl", 9, 2)  # odd: the ranks hold 5 and 4 validation rows
    (root / "child.py").write_text(CHILD)
    return {"root": root, "torchrun": torchrun}


def launch(setup, out: str, method: str, procs: int, *extra: str) -> subprocess.CompletedProcess:
    root = setup["root"]
    args = [str(root / "child.py"), str(root / "rows.jsonl"), f"hf:{root / 'tiny'}", str(root / out),
            str(8 // (2 * procs)), method, *extra]
    cmd = [sys.executable, *args] if procs == 1 else [setup["torchrun"], "--standalone", "--nproc_per_node",
                                                       str(procs), *args]
    return subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True,
                          timeout=900)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["sft", "lora"])
def test_two_fsdp_processes_give_the_loss_curve_of_one(setup, method):
    one = launch(setup, f"one-{method}", method, 1)
    assert one.returncode == 0, one.stderr
    two = launch(setup, f"fsdp-{method}", method, 2, "distributed=fsdp")
    assert two.returncode == 0, two.stderr
    root = setup["root"]
    a, b = losses(root / f"one-{method}"), losses(root / f"fsdp-{method}")
    assert [x[:2] for x in a] == [x[:2] for x in b] and len(a) == 10
    assert max(abs(x[2] - y[2]) for x, y in zip(a, b)) < TOL
    wa, wb = weights(root / f"one-{method}"), weights(root / f"fsdp-{method}")
    assert wa.keys() == wb.keys() and wa
    for name in wa:
        assert torch.allclose(wa[name], wb[name], atol=TOL), name
    run = json.loads((root / f"fsdp-{method}" / "run.json").read_text())
    assert run["world_size"] == 2 and run["config"]["distributed"] == "fsdp"
    share = json.loads((root / f"fsdp-{method}" / "metrics.json").read_text())["fsdp_local_share"]
    assert 0.45 < share < 0.55  # rank 0 held half of every weight: sharded, not replicated


@pytest.mark.slow
def test_an_fsdp_run_resumes_from_its_checkpoint_to_the_same_weights(setup):
    root = setup["root"]
    whole = launch(setup, "whole", "sft", 2, "distributed=fsdp")
    assert whole.returncode == 0, whole.stderr
    shutil.copytree(root / "whole", root / "cut")  # as if killed after the step-4 checkpoint
    shutil.rmtree(root / "cut" / "checkpoints" / "sft" / "step-000008")
    (root / "cut" / "model.safetensors").unlink()
    state = torch.load(root / "cut" / "checkpoints" / "sft" / "step-000004" / "state.pt", weights_only=True)
    assert state["distributed"] == "fsdp" and state["position"]["step"] == 4
    assert set(state["model"]) == set(weights(root / "whole"))  # the full weights, gathered, by name
    resumed = launch(setup, "cut", "sft", 2, "distributed=fsdp", "resume=1")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((root / "cut" / "metrics.json").read_text())["resumed_from"] == 4
    a, b = weights(root / "whole"), weights(root / "cut")
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert losses(root / "whole") == losses(root / "cut")
    ddp = launch(setup, "cut", "sft", 2, "resume=1")  # an FSDP checkpoint under DDP: one line
    assert ddp.returncode != 0 and "resume it under torchrun with --fsdp" in ddp.stderr
