"""The lines load in `datasets` and TRL's trainers take them with no code: `SFTTrainer` with
`assistant_only_loss=True` (conversational lines), `SFTTrainer` on prompt-completion lines and on
the tokenized rows, `DPOTrainer` on preference lines, each built on the real SmolLM2-135M and
giving one batch. Slow: trainers import and build a model."""
from __future__ import annotations

import json
import shutil

import pytest

from helpers import EXAMPLES
from polyprompt import dataset
from test_dataset import PREFERENCE as PAIRS


@pytest.fixture(scope="module")
def smollm2():
    from polyprompt.run.local import ModelUnavailable, load_model

    try:
        model, folder = load_model("hf-family:smollm2")
    except ModelUnavailable as err:
        pytest.skip(str(err))
    from transformers import AutoTokenizer

    return model, AutoTokenizer.from_pretrained(str(folder))


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "review_moderation.prompt", tmp_path / "m.prompt")
    (tmp_path / "data").mkdir()
    shutil.copy(EXAMPLES / "data" / "moderation.jsonl", tmp_path / "data" / "moderation.jsonl")
    (tmp_path / "pairs.prompt").write_text(PAIRS)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"q": f"Question {i}?", "good": f"A fine answer {i}.",
                                                              "bad": "No."}) + "\n" for i in range(4)))
    return tmp_path


def one_batch(trainer):
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 2
    return batch


def config(cls, tmp_path, **more):
    return cls(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2, max_steps=1, report_to=[],
               use_cpu=True, dataloader_num_workers=0, **more)


def test_sft_trainer_takes_conversational_lines_with_assistant_only_loss(project, smollm2, tmp_path):
    """With Qwen3's tokenizer (a registry asset), whose template TRL swaps for its training version:
    SmolLM2's ChatML template has no `{% generation %}` blocks and TRL cannot patch it (the
    `tokenized` format is the way to train SmolLM2 on the answers only). The batch is prepared,
    not run, so SmolLM2's weights serve."""
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir

    model, _smollm2_tokenizer = smollm2
    from polyprompt.backends.hf.families import FAMILIES

    qwen3 = AutoTokenizer.from_pretrained(str(tokenizer_dir("qwen3")))
    qwen3.chat_template = FAMILIES["qwen3"].source_text()  # Qwen3's own, as hf-family:qwen3 renders it
    dataset.build(project / "m.prompt", "trl-conversational", project / "conv", split="train",
                  target="hf-family:qwen3")
    data = datasets.load_from_disk(str(project / "conv"))
    trainer = SFTTrainer(model=model, args=config(SFTConfig, tmp_path, assistant_only_loss=True),
                         train_dataset=data, processing_class=qwen3)
    batch = one_batch(trainer)
    labels = batch["labels"][0].tolist()
    learned = [t for t in labels if t != -100]
    assert 0 < len(learned) < len(labels) / 4  # the answer only, not the long system text
    answer = qwen3.decode(learned)
    assert any(word in answer for word in ("publish", "reject", "needs_review")), answer


def test_sft_trainer_takes_tokenized_rows(project, smollm2, tmp_path):
    import datasets
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = smollm2
    dataset.build(project / "m.prompt", "tokenized", project / "tok.jsonl", split="train")
    data = datasets.load_dataset("json", data_files=str(project / "tok.jsonl"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    trainer = SFTTrainer(model=model, args=config(SFTConfig, tmp_path), train_dataset=data,
                         processing_class=tokenizer)  # the rows carry `labels`: TRL takes them as they are
    batch = one_batch(trainer)
    rows = {tuple(r["input_ids"]): r["labels"] for r in data}
    for ids, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        key = next(k for k in rows if list(k) == ids[:len(k)])  # the row this sequence is (then padding)
        assert labels[:len(key)] == rows[key]  # TRL trains on exactly the labels the rows carry


def test_sft_trainer_takes_prompt_completion_lines(project, smollm2, tmp_path):
    import datasets
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = smollm2
    dataset.build(project / "m.prompt", "trl-prompt-completion", project / "pc.parquet", split="train")
    data = datasets.load_dataset("parquet", data_files=str(project / "pc.parquet"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    trainer = SFTTrainer(model=model, args=config(SFTConfig, tmp_path), train_dataset=data,
                         processing_class=tokenizer)
    assert any(t != -100 for t in one_batch(trainer)["labels"][0].tolist())


def test_dpo_trainer_takes_preference_lines(project, smollm2, tmp_path):
    import datasets
    from trl import DPOConfig, DPOTrainer

    model, tokenizer = smollm2
    dataset.build(project / "pairs.prompt", "trl-preference", project / "pref.jsonl")
    data = datasets.load_dataset("json", data_files=str(project / "pref.jsonl"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    trainer = DPOTrainer(model=model, args=config(DPOConfig, tmp_path), train_dataset=data,
                         processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    assert batch  # the trainer prepared the pairs and collated a batch
