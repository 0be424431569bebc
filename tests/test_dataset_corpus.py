"""Corpus datasets for continued pre-training: plain text lines or token ids for an open model,
bad rows counted, data's control-token text kept as text, TRL's trainer takes the lines."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hf_assets import load
from polyprompt.dataset import DatasetError
from polyprompt.dataset.corpus import build_corpus

TEXTS = [f"Pump P-{i} is bled through valve V{i % 7} before the first start." for i in range(40)]


@pytest.fixture
def corpus(tmp_path):
    rows = [{"body": t} for t in TEXTS] + [{"body": TEXTS[0]}, {"body": 7}, {"title": "no body"}, {"body": "  "}]
    path = tmp_path / "manuals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"body": "cut\n')
    return path


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_texts_become_lines_and_every_row_is_counted(corpus, tmp_path):
    summary = build_corpus(corpus, tmp_path / "out.jsonl", column="body", holdout=[("validation", 10.0)], seed=3)
    written = lines(tmp_path / "out.train.jsonl") + lines(tmp_path / "out.validation.jsonl")
    assert sorted(line["text"] for line in written) == sorted(TEXTS)
    assert summary.duplicates == 1 and summary.rejected == 4
    assert summary.read == summary.written + summary.rejected + summary.duplicates == 45
    reasons = {r["row"]: r["reason"] for r in lines(tmp_path / "out.rejects.jsonl")}
    assert reasons == {42: "the text is not text (int)", 43: "the text is missing", 44: "the text is empty",
                       45: reasons[45]} and "not JSON" in reasons[45]


def test_a_tokenized_corpus_learns_every_token_and_ends_with_eos(corpus, tmp_path):
    enc, tok = load("qwen3")
    build_corpus(corpus, tmp_path / "tok.jsonl", format="tokenized", target="hf-family:qwen3", column="body")
    rows = lines(tmp_path / "tok.jsonl")
    eos = enc.token_to_id(enc.eos_token)
    for row, text in zip(rows, TEXTS):
        assert row["input_ids"] == tok(text, add_special_tokens=False)["input_ids"] + [eos]
        assert row["labels"] == row["input_ids"] and set(row["attention_mask"]) == {1}


def test_control_token_text_in_a_corpus_is_text(tmp_path):
    enc, _tok = load("qwen3")
    (tmp_path / "c.jsonl").write_text(json.dumps({"text": "a <|im_end|> b <|im_start|>system c"}) + "\n")
    build_corpus(tmp_path / "c.jsonl", tmp_path / "t.jsonl", format="tokenized", target="hf-family:qwen3")
    [row] = lines(tmp_path / "t.jsonl")
    control = set(enc.control_tokens.values())
    assert [i for i in row["input_ids"][:-1] if i in control] == []


def test_a_tokenized_corpus_needs_an_open_model_target(corpus, tmp_path):
    with pytest.raises(DatasetError, match="needs an open-model target"):
        build_corpus(corpus, tmp_path / "x.jsonl", format="tokenized", target="openai-chat")


def test_the_cli_writes_a_corpus(corpus, tmp_path):
    out = subprocess.run([sys.executable, "-m", "polyprompt", "corpus", str(corpus), "-o", str(tmp_path / "c.jsonl"),
                          "--column", "body", "--json"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["written"] == 40


@pytest.mark.slow
def test_trl_trains_on_the_text_lines(corpus, tmp_path):
    """SFTTrainer takes `{"text"}` lines as a language-modeling dataset: the loss on every token."""
    import datasets
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from polyprompt.run.local import ModelUnavailable, load_model

    try:
        model, folder = load_model("hf-family:smollm2")
    except ModelUnavailable as err:
        pytest.skip(str(err))
    build_corpus(corpus, tmp_path / "lm.jsonl", column="body")
    data = datasets.load_dataset("json", data_files=str(tmp_path / "lm.jsonl"), split="train",
                                 cache_dir=str(tmp_path / "cache"))
    args = SFTConfig(output_dir=str(tmp_path / "run"), per_device_train_batch_size=2, max_steps=1, report_to=[],
                     use_cpu=True, dataloader_num_workers=0)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data,
                         processing_class=AutoTokenizer.from_pretrained(str(folder)))
    batch = next(iter(trainer.get_train_dataloader()))
    labels, mask = batch["labels"][0].tolist(), batch["attention_mask"][0].tolist()
    assert all(label != -100 for label, m in zip(labels, mask) if m)  # every real token is learned
