"""TRL's trainers take tool-call answers with no code (issue 13, item 1): `trl-conversational`
lines whose answer calls a tool, saved as a `datasets` folder, go into `SFTTrainer` with
`assistant_only_loss=True` and Qwen3's tokenizer (TRL swaps in its training template, which renders
tool calls), and the tokens learned are the call; `trl-preference` lines with a tool call as the
chosen answer go into `DPOTrainer`. Slow: the trainers import and build SmolLM2."""
from __future__ import annotations

import json

import pytest

from polyprompt import dataset
from test_dataset_tools import PAIRS, ROWS, SUPPORT
from test_dataset_trl import config, one_batch, smollm2  # noqa: F401 (a fixture)



@pytest.fixture
def qwen3():
    from transformers import AutoTokenizer

    from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir
    from polyprompt.backends.hf.families import FAMILIES

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir("qwen3")))
    tokenizer.chat_template = FAMILIES["qwen3"].source_text()  # Qwen3's own, as hf-family:qwen3 renders it
    return tokenizer


def test_sft_trainer_learns_the_tool_call(tmp_path, smollm2, qwen3):  # noqa: F811
    import datasets
    from trl import SFTConfig, SFTTrainer

    (tmp_path / "support.prompt").write_text(SUPPORT)
    rows = [ROWS[0], ROWS[4]]  # one call, two parallel calls
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = dataset.build(tmp_path / "support.prompt", "trl-conversational", tmp_path / "conv",
                            target="hf-family:qwen3")
    assert summary.written == 2
    data = datasets.load_from_disk(str(tmp_path / "conv"))
    trainer = SFTTrainer(model=smollm2[0], args=config(SFTConfig, tmp_path, assistant_only_loss=True),
                         train_dataset=data, processing_class=qwen3)
    batch = one_batch(trainer)
    learned = sorted((qwen3.decode([t for t in labels if t != -100]) for labels in batch["labels"].tolist()),
                     key=lambda text: text.count("<tool_call>"))
    assert learned[0].count("<tool_call>") == 1 and '"arguments": {"order_id": "A17"}' in learned[0]
    assert learned[1].count("<tool_call>") == 2 and '"include_items": true' in learned[1]
    assert all("You help Acme" not in text for text in learned)  # the prompt side is not learned


def test_dpo_trainer_takes_a_tool_call_as_the_chosen_answer(tmp_path, smollm2, qwen3):  # noqa: F811
    import datasets
    from trl import DPOConfig, DPOTrainer

    (tmp_path / "pairs.prompt").write_text(PAIRS)
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"q": f"Where is A{i}?", "bad": "I cannot know.", "good": {
        "name": "lookup_order", "arguments": {"order_id": f"A{i}"}}}) + "\n" for i in range(2)))
    dataset.build(tmp_path / "pairs.prompt", "trl-preference", tmp_path / "pref.jsonl", target="hf-family:qwen3")
    data = datasets.load_dataset("json", data_files=str(tmp_path / "pref.jsonl"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    trainer = DPOTrainer(model=smollm2[0], args=config(DPOConfig, tmp_path), train_dataset=data,
                         processing_class=qwen3)
    batch = next(iter(trainer.get_train_dataloader()))
    chosen = qwen3.decode(trainer.train_dataset[0]["chosen_ids"])
    assert batch and '{"name": "lookup_order", "arguments": {"order_id": "A0"}}' in chosen
