"""`polyprompt train` on a tiny model built here: each method learns (the loss falls), the output
folder is a model folder that transformers, peft, `compile -t hf:OUT` and `run -t hf:OUT` load,
multi-task runs log per-task losses, options come from a config file, and bad input is one line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_model import build_tiny_model  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: a tiny model's steps are faster so on a shared machine (and reproducible)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
from polyprompt.train import TrainFailure, train  # noqa: E402

LABELS = {"billing": "charged twice invoice refund", "bug": "export button does nothing login fails",
          "other": "where is my order thanks please"}

PROMPT = '''enum Category { billing, bug, other }

prompt triage(ticket: str) -> Category {
  system "Sort support tickets. Answer with the category only."
  user "{{ ticket }}"
}

prompt reply(ticket: str) -> str {
  system "Answer the customer in one friendly sentence."
  user "{{ ticket }}"
}

dataset triage "tickets" from "tickets.jsonl" {
  ticket = row.body
  output = row.label
  split validation 20% seed 1
}

dataset reply "replies" from "tickets.jsonl" {
  ticket = row.body
  output = row.answer
  weight 0.5
}
'''


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import random

    root = tmp_path_factory.mktemp("train")
    build_tiny_model(root / "tiny")
    rng = random.Random(0)
    with open(root / "tickets.jsonl", "w") as f:
        for _ in range(48):
            label = rng.choice(sorted(LABELS))
            body = " ".join(rng.sample(LABELS[label].split(), 3))
            f.write(json.dumps({"body": body, "label": label, "answer": f"thanks, it is {label}"}) + "\n")
    (root / "t.prompt").write_text(PROMPT)
    rows = train(root / "t.prompt", model=f"hf:{root / 'tiny'}", datasets=["tickets"], output=root / "base-run",
                 max_steps=1, save_steps=0, plot=False, tensorboard=False)
    return {"root": root, "model": f"hf:{root / 'tiny'}", "rows": rows.output / "data" / "rows.jsonl"}


def losses(out: Path, kind="train", stage=None) -> list[float]:
    records = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if r["kind"] == kind and (stage is None or r["stage"] == stage)]


def fell(values: list[float]) -> bool:
    k = max(1, len(values) // 3)
    return sum(values[-k:]) / k < sum(values[:k]) / k


def test_sft_learns_and_the_output_is_a_model_folder(project, tmp_path):
    from transformers import AutoModelForCausalLM

    result = train(data=project["rows"], model=project["model"], method="sft", output=tmp_path / "sft", lr=3e-3,
                   packing=True, max_steps=12, eval_steps=6, save_steps=0, tensorboard=False)
    assert fell(losses(result.output))
    assert len(losses(result.output, "eval")) == 2
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", "loss_curve.png",
            "train_log.jsonl", "metrics.json", "run.json"} <= set(result.files)
    assert result.metrics["steps"] == 12 and result.metrics["eval_loss"] is not None
    AutoModelForCausalLM.from_pretrained(result.output)


def test_lora_saves_an_adapter_that_transformers_and_peft_load(project, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = train(data=project["rows"], model=project["model"], method="lora", output=tmp_path / "lora",
                   lr=2e-2, max_steps=10, save_steps=0, plot=False, tensorboard=False)
    assert fell(losses(result.output))
    assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= set(result.files)
    assert "model.safetensors" not in result.files
    loaded = AutoModelForCausalLM.from_pretrained(result.output)
    assert any("lora_" in name for name, _ in loaded.named_parameters())
    base = AutoModelForCausalLM.from_pretrained(project["root"] / "tiny")
    assert isinstance(PeftModel.from_pretrained(base, result.output), PeftModel)


def test_two_lora_runs_in_one_process_give_the_same_adapter(project, tmp_path):
    """The adapter's initial weights come from the run's seed, not from the process's RNG: two
    identical runs in one process, whose global RNG the caller left in different states (a run
    without dropout draws nothing from it, so only the caller's draws tell), train the same
    adapter, bit for bit."""
    from safetensors.torch import load_file

    def run(i):
        torch.manual_seed(1000 + i)  # the caller's own use of the RNG between the runs
        return train(data=project["rows"], model=project["model"], method="lora", output=tmp_path / f"lora{i}",
                     lr=2e-2, max_steps=3, save_steps=0, plot=False, tensorboard=False)

    runs = [run(i) for i in range(2)]
    first, second = (load_file(str(r.output / "adapter_model.safetensors")) for r in runs)
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def test_a_test_split_is_never_the_validation_split(project, tmp_path):
    """A dataset with a `test` split and no `validation` split: the run neither validates nor stops
    early on the test rows (they are held out for `polyprompt eval`), and metrics.json says how many
    examples each split gave and where the dataset's other rows went."""
    held = project["root"] / "held.prompt"
    held.write_text(PROMPT.replace("split validation 20% seed 1", "split test 25% seed 3"))
    result = train(held, datasets=["tickets"], model=project["model"], output=tmp_path / "held", max_steps=2,
                   eval_steps=1, save_steps=0, plot=False, tensorboard=False)
    run = json.loads((result.output / "run.json").read_text())
    by_split = run["dataset_summary"]["by_split"]
    assert by_split["test"] > 0 and run["examples"]["validation"] == 0
    assert losses(result.output, "eval") == []
    data = result.metrics["data"]
    assert result.metrics["train_examples"] == data["train"] == by_split["train"]
    assert data["validation"] == 0 and data["held_out"] == {"test": by_split["test"]}
    summary = run["dataset_summary"]
    assert data["read"] == summary["read"] and data["duplicates"] == summary["duplicates"]


def test_lora_merge_gives_a_plain_model_equal_to_the_adapter(project, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    result = train(data=project["rows"], model=project["model"], method="lora", output=tmp_path / "merged",
                   lr=2e-2, max_steps=4, save_steps=0, merge=True, plot=False, tensorboard=False,
                   lora_targets=["q_proj", "v_proj"])
    merged = AutoModelForCausalLM.from_pretrained(result.output)
    assert not any("lora_" in name for name, _ in merged.named_parameters())
    adapter = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(project["root"] / "tiny"),
                                        result.output / "adapter")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    assert torch.allclose(merged(ids).logits, adapter(ids).logits, atol=1e-3)


def test_compile_and_run_use_the_trained_folder(project, tmp_path):
    result = train(data=project["rows"], model=project["model"], output=tmp_path / "out", lr=3e-3, max_steps=2,
                   save_steps=0, plot=False, tensorboard=False)
    inputs = tmp_path / "in.json"
    inputs.write_text(json.dumps({"ticket": "charged twice"}))
    from click.testing import CliRunner

    from polyprompt.cli import cli as main

    prompt = str(project["root"] / "t.prompt")
    compiled = CliRunner().invoke(main, ["compile", prompt, "-t", f"hf:{result.output}", "-i", str(inputs)])
    assert compiled.exit_code == 0, compiled.output
    body = json.loads(compiled.stdout)
    assert body["prompt"].startswith("<|im_start|>system\nSort support tickets.")
    ran = CliRunner().invoke(main, ["run", prompt, "-t", f"hf:{result.output}", "-i", str(inputs)])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout.strip() in LABELS


def test_the_ids_trained_on_are_the_ids_compile_sends(project):
    """No train/serve skew: the prompt part of a training row is the compiled body's token ids."""
    from polyprompt.session import load

    rows = [json.loads(line) for line in Path(str(project["rows"]).replace("rows.jsonl", "rows.train.jsonl"))
            .read_text().splitlines()]
    data = [json.loads(line) for line in (project["root"] / "tickets.jsonl").read_text().splitlines()]
    compiled = load(project["root"] / "t.prompt").compile(project["model"], {"ticket": data[0]["body"]},
                                                         prompt="triage")
    prompt_ids = compiled.body["token_ids"]
    assert any(row["input_ids"][:len(prompt_ids)] == prompt_ids for row in rows)


def test_multi_task_mixes_datasets_and_logs_per_task_losses(project, tmp_path):
    result = train(project["root"] / "t.prompt", model=project["model"], output=tmp_path / "multi", lr=3e-3,
                   max_steps=4, save_steps=0, eval_steps=2, plot=False, tensorboard=False)
    records = [json.loads(line) for line in (result.output / "train_log.jsonl").read_text().splitlines()]
    keys = {k for r in records if r["kind"] == "train" for k in r}
    assert {"loss/tickets", "loss/replies"} <= keys
    run = json.loads((result.output / "run.json").read_text())
    assert run["tasks"] == ["tickets", "replies"] or sorted(run["tasks"]) == ["replies", "tickets"]


def test_domain_trains_on_the_corpus_then_sft(project, tmp_path):
    corpus = tmp_path / "manuals.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"the export button {i} does nothing when billing fails"}) + "\n"
                              for i in range(24)))
    result = train(data=project["rows"], model=project["model"], method="domain", corpus=str(corpus),
                   output=tmp_path / "domain", lr=3e-3, max_steps=8, corpus_epochs=3, batch_size=4, save_steps=0,
                   plot=False, tensorboard=False)
    assert fell(losses(result.output, stage="corpus"))
    assert len(losses(result.output, stage="sft")) == 8
    assert set(result.metrics["stages"]) == {"corpus", "sft"}
    stages = result.metrics["stages"]  # each stage counts its own examples: 24 texts, then the SFT rows
    assert stages["corpus"]["examples"] == 24 and stages["sft"]["examples"] == result.metrics["train_examples"]


def test_a_config_file_gives_the_options(project, tmp_path):
    config = tmp_path / "train.yaml"
    config.write_text(f"train:\n  model: hf:{project['root'] / 'tiny'}\n  data: {project['rows']}\n"
                      f"  output: {tmp_path / 'cfg'}\n  max_steps: 3\n  lr: 0.003\n  save_steps: 0\n  plot: false\n")
    result = train(config=config, tensorboard=False)
    assert result.metrics["steps"] == 3
    toml = tmp_path / "train.toml"
    toml.write_text(f"[train]\nmodel = 'hf:{project['root'] / 'tiny'}'\ndata = '{project['rows']}'\n"
                    f"output = '{tmp_path / 'cfg2'}'\nmax_steps = 2\nsave_steps = 0\nplot = false\n")
    assert train(config=toml, tensorboard=False, max_steps=1).metrics["steps"] == 1  # the argument wins


def cli(*args):
    """`polyprompt train ARGS` in this process (an exception escaping the command fails the test)."""
    from click.testing import CliRunner

    from polyprompt.cli import cli as main

    return CliRunner().invoke(main, ["train", *map(str, args)], catch_exceptions=False)


def one_line_error(result, *words):
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_bad_input_is_one_clear_line(project, tmp_path):
    model, rows = project["model"], project["rows"]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    one_line_error(cli("--data", rows, "--model", model, "-o", busy), "not empty", "--overwrite")
    empty = tmp_path / "noweights"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    one_line_error(cli("--data", rows, "--model", f"hf:{empty}", "-o", tmp_path / "o1"), "no weights")
    one_line_error(cli("--data", rows, "--model", model, "--method", "lora", "--lora-targets", "qkv_proj", "-o",
                       tmp_path / "o2"), "qkv_proj", "q_proj")
    one_line_error(cli("--data", rows, "--model", model, "--max-length", "20", "-o", tmp_path / "o3"),
                   "longer than the model's context of 20", "--too-long drop")
    config = tmp_path / "bad.yaml"
    config.write_text("train:\n  learning_rate: 0.1\n")
    one_line_error(cli("--data", rows, "--model", model, "-c", config, "-o", tmp_path / "o4"),
                   "unknown training option `learning_rate`")
    one_line_error(cli("--data", rows, "-o", tmp_path / "o5"), "needs a model")
    one_line_error(cli("--data", tmp_path / "none.jsonl", "--model", model, "-o", tmp_path / "o6"), "no such file")


def test_long_rows_can_be_dropped(project, tmp_path):
    rows = Path(str(project["rows"]).replace("rows.jsonl", "rows.train.jsonl")).read_text().splitlines()
    lengths = sorted(len(json.loads(line)["input_ids"]) for line in rows)
    result = train(data=project["rows"], model=project["model"], output=tmp_path / "drop",
                   max_length=lengths[len(lengths) // 2],
                   too_long="drop", max_steps=1, save_steps=0, plot=False, tensorboard=False)
    run = json.loads((result.output / "run.json").read_text())
    assert run["examples"]["dropped_too_long"] > 0


def test_a_tokenizer_that_is_not_the_models_is_refused(project, tmp_path):
    import shutil

    from tiny_model import build_tiny_model as build

    other = build(tmp_path / "small", hidden=16, layers=1)
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig.from_pretrained(other)
    config.vocab_size = 100
    AutoModelForCausalLM.from_config(config).save_pretrained(other)
    with pytest.raises(TrainFailure, match="tokenizer has .* tokens but the model 100 embeddings"):
        train(data=project["rows"], model=f"hf:{other}", output=tmp_path / "o", max_steps=1)
    shutil.rmtree(other)


def test_warm_up_then_decay_and_early_stopping(project, tmp_path):
    result = train(data=project["rows"], model=project["model"], output=tmp_path / "es", lr=1e-3, max_steps=20,
                   warmup_steps=3, scheduler="cosine", eval_steps=1, early_stopping_patience=2,
                   early_stopping_delta=10.0, save_steps=0, plot=False, tensorboard=False)
    records = [json.loads(line) for line in (result.output / "train_log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in records if r["kind"] == "train"]
    assert lrs == pytest.approx([0.0, 1e-3 / 3, 2e-3 / 3])  # the linear warm-up to the peak
    # no validation improves on the first by 10: patience 2 stops the run at step 3
    assert result.metrics["stopped"] == "early_stopping" and result.metrics["steps"] == 3
    assert len([r for r in records if r["kind"] == "eval"]) == 3
