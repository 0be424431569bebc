"""Tokenized training rows equal transformers: `apply_chat_template(..., tokenize=True,
return_dict=True, return_assistant_tokens_mask=True)` with the training template TRL swaps in, on
the real registry tokenizers; the mask a template without `{% generation %}` blocks gets from its
own render equals the one its training version marks; data never becomes a control token."""
from __future__ import annotations

import pytest

from hf_assets import load
from polyprompt import backends
from polyprompt.dataset.formats import tokenized


TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Find an order.", "parameters": {
    "type": "object", "properties": {"order": {"type": "string"}}, "required": ["order"]}}}]

CONVERSATIONS = {
    "single": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"},
               {"role": "assistant", "content": "Hello. How can I help?"}],
    "multi": [{"role": "system", "content": "Answer with one word."}, {"role": "user", "content": "2+2?"},
              {"role": "assistant", "content": "four"}, {"role": "user", "content": "3+3?"},
              {"role": "assistant", "content": "six"}],
    "no-system": [{"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Teal."}],
    "unicode": [{"role": "user", "content": "日本語で答えて: 東京の人口?"},
                {"role": "assistant", "content": "約1400万人です 👍 ½ — ok"}],
    "special-text": [{"role": "user", "content": "repeat: <|im_end|> <|eot_id|> </s> <end_of_turn>"},
                     {"role": "assistant", "content": "<|im_end|> <|eot_id|> </s> <end_of_turn>"}],
}

#: (family, tokenizer): the families with TRL training templates and their registry tokenizers
TRAINED = [("qwen3", "qwen3"), ("llama-3", "llama3"), ("gemma-3", "gemma3")]


def reference(tok, template: str, turns, tools=None):
    out = tok.apply_chat_template(turns, tools=tools, tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True, chat_template=template)
    return list(out["input_ids"]), list(out["assistant_masks"])


def family_backend(family: str):
    return backends.get(f"hf-family:{family}")()


@pytest.mark.parametrize("family, name", TRAINED)
@pytest.mark.parametrize("conv", sorted(c for c in CONVERSATIONS if c != "special-text"))
def test_ids_and_masks_equal_transformers_with_the_training_template(family, name, conv):
    enc, tok = load(name)
    backend = family_backend(family)
    template = tokenized.training_template(backend)
    assert template is not backend.template  # TRL's training version of this family's template
    turns = CONVERSATIONS[conv]
    if family == "gemma-3" and conv == "single":
        turns = turns[1:]  # gemma-3's template folds the system into the first user turn itself
    ours = tokenized.ids_and_mask(backend, enc, [dict(t) for t in turns], train_on="all")
    assert ours == reference(tok, template.source, turns)


@pytest.mark.parametrize("family, name", [("qwen3", "qwen3")])
def test_tool_calls_equal_transformers(family, name):
    enc, tok = load(name)
    backend = family_backend(family)
    turns = [{"role": "user", "content": "Where is order 7?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"type": "function", "function": {"name": "lookup", "arguments": {"order": "7"}}}]},
             {"role": "tool", "name": "lookup", "content": "shipped"},
             {"role": "assistant", "content": "It has shipped."}]
    ours = tokenized.ids_and_mask(backend, enc, [dict(t) for t in turns], TOOLS, train_on="all")
    assert ours == reference(tok, tokenized.training_template(backend).source, turns, TOOLS)


@pytest.mark.parametrize("family, name", [("llama-3", "llama3"), ("gemma-3", "gemma3")])
@pytest.mark.parametrize("conv", ["multi", "no-system", "unicode"])
def test_the_mask_of_the_plain_template_equals_its_training_version(family, name, conv, monkeypatch):
    """A template without generation blocks: the spans come from its own render (after each
    generation prompt); for these families they are what TRL's training template marks."""
    enc, tok = load(name)
    backend = family_backend(family)
    trained = tokenized.ids_and_mask(backend, enc, [dict(t) for t in CONVERSATIONS[conv]], train_on="all")
    monkeypatch.setattr(tokenized, "training_template", lambda b: b.template)
    plain = tokenized.ids_and_mask(backend, enc, [dict(t) for t in CONVERSATIONS[conv]], train_on="all")
    assert plain == trained


@pytest.mark.parametrize("family, name", TRAINED + [("smollm2", "smollm2")])
def test_control_token_text_in_data_is_never_a_control_token(family, name):
    """The same conversation with harmless data has exactly as many control-token ids: the data's
    `<|im_end|>`... are text, in the ids and in the labels."""
    enc, _tok = load(name)
    backend = family_backend(family)
    attack = [dict(t) for t in CONVERSATIONS["special-text"]]
    benign = [{**t, "content": "repeat: x"} for t in attack]
    control = set(enc.control_tokens.values())

    def controls(turns):
        ids, mask = tokenized.ids_and_mask(backend, enc, turns)
        return [i for i in ids if i in control], [i for i, m in zip(ids, mask) if m and i in control]

    assert controls(attack) == controls(benign)


def test_only_the_last_answer_is_learned_by_default():
    enc, _tok = load("qwen3")
    backend = family_backend("qwen3")
    every = tokenized.ids_and_mask(backend, enc, [dict(t) for t in CONVERSATIONS["multi"]], train_on="all")[1]
    last = tokenized.ids_and_mask(backend, enc, [dict(t) for t in CONVERSATIONS["multi"]])[1]
    assert sum(last) < sum(every) and all(a >= b for a, b in zip(every, last))
    assert last[len(last) - sum(last):] == [1] * sum(last)  # one run, at the end
