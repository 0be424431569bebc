"""A few LoRA steps on the embedded SmolLM2-135M-Instruct: the loss falls, the adapter is saved,
reloaded with transformers, and generates from the prompt `compile -t hf:OUT` renders (slow)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

PROMPT = '''enum Mood { happy, sad }

prompt mood(text: str) -> Mood {
  system "Say whether the text is happy or sad."
  user "{{ text }}"
}

dataset mood "moods" from "moods.jsonl" {
  text = row.text
  output = row.label
}
'''


@pytest.mark.slow
def test_lora_steps_on_smollm2_save_reload_and_generate(tmp_path):
    from transformers import AutoModelForCausalLM

    from polyprompt.run.local import ModelUnavailable, default_model_dir
    from polyprompt.session import load
    from polyprompt.train import train

    try:
        default_model_dir()
    except ModelUnavailable as err:
        pytest.skip(str(err))
    texts = [("What a lovely sunny day", "happy"), ("I lost my keys and cried", "sad"),
             ("We won the game!", "happy"), ("Everything went wrong today", "sad")] * 2
    (tmp_path / "moods.jsonl").write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in texts))
    (tmp_path / "m.prompt").write_text(PROMPT)
    result = train(tmp_path / "m.prompt", model="hf-family:smollm2", method="lora", output=tmp_path / "out",
                   max_steps=4, batch_size=4, lr=1e-3, lora_targets=["q_proj", "v_proj"], save_steps=2,
                   plot=False, tensorboard=False)
    log = [json.loads(line) for line in (result.output / "train_log.jsonl").read_text().splitlines()]
    steps = [r["loss"] for r in log if r["kind"] == "train"]
    assert len(steps) == 4 and steps[-1] < steps[0]
    model = AutoModelForCausalLM.from_pretrained(result.output)
    assert any("lora_" in name for name, _ in model.named_parameters())
    compiled = load(tmp_path / "m.prompt").compile(f"hf:{result.output}", {"text": "We won the game!"})
    ids = torch.tensor([compiled.body["token_ids"]])
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > ids.shape[1]
