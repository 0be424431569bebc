"""`polyprompt train --method distill` end to end on tiny models built here: the student learns from
a local teacher that shares its tokenizer (the loss falls, the output is a model folder), and a
teacher whose vocabulary differs is refused in one line before any step."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from click.testing import CliRunner  # noqa: E402
from test_train import PROMPT, LABELS, fell, losses  # noqa: E402
from tiny_model import build_tiny_model  # noqa: E402

from polyprompt.train import TrainFailure, train  # noqa: E402


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import random

    root = tmp_path_factory.mktemp("distill")
    build_tiny_model(root / "student")
    build_tiny_model(root / "teacher", hidden=48, seed=1)
    rng = random.Random(0)
    with open(root / "tickets.jsonl", "w") as f:
        for _ in range(32):
            label = rng.choice(sorted(LABELS))
            body = " ".join(rng.sample(LABELS[label].split(), 3))
            f.write(json.dumps({"body": body, "label": label, "answer": f"thanks, it is {label}"}) + "\n")
    (root / "t.prompt").write_text(PROMPT)
    return root


def test_the_student_learns_from_the_teacher(project, tmp_path):
    torch.set_num_threads(1)
    result = train(project / "t.prompt", datasets=["tickets"], model=f"hf:{project / 'student'}", method="distill",
                   teacher=f"hf:{project / 'teacher'}", temperature=2.0, alpha=0.5, output=tmp_path / "out",
                   lr=3e-3, max_steps=10, save_steps=0, plot=False, tensorboard=False)
    assert fell(losses(result.output))
    assert (result.output / "config.json").is_file() and (result.output / "tokenizer.json").is_file()


def test_a_teacher_with_another_vocabulary_is_one_line(project, tmp_path):
    other = tmp_path / "other"
    build_tiny_model(other, seed=2)
    tokenizer = json.loads((other / "tokenizer.json").read_text())
    vocab = tokenizer["model"]["vocab"]
    token = next(t for t in sorted(vocab) if t.isalpha() and len(t) > 2)
    vocab[token + "x"] = vocab.pop(token)
    (other / "tokenizer.json").write_text(json.dumps(tokenizer))
    with pytest.raises(TrainFailure) as err:
        train(project / "t.prompt", datasets=["tickets"], model=f"hf:{project / 'student'}", method="distill",
              teacher=f"hf:{other}", output=tmp_path / "out", max_steps=1, save_steps=0, plot=False,
              tensorboard=False)
    assert "\n" not in str(err.value) and "teacher" in str(err.value)
    from polyprompt.cli import cli

    result = CliRunner().invoke(cli, ["train", str(project / "t.prompt"), "-d", "tickets", "--model",
                                      f"hf:{project / 'student'}", "--method", "distill", "--teacher", f"hf:{other}",
                                      "-o", str(tmp_path / "cli"), "--max-steps", "1", "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("error:") and result.stderr.count("\n") == 1
