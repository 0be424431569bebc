"""A tiny Llama-type model folder built in the test: a random-initialized `LlamaForCausalLM`
(hidden 32, 2 layers), a byte-level BPE tokenizer trained with `tokenizers` over a few hundred
lines, and a ChatML chat template with `{% generation %}` blocks. `build_tiny_model(folder)`
writes it as a plain HF folder (config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, chat_template.jinja) that `hf:<folder>` compiles for and transformers loads.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

#: ChatML, the assistant's text and end-of-turn inside a generation block (assistant-only loss)
TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

WORDS = ("the a ticket billing bug other charged twice month export button does nothing login fails invoice "
         "refund sort support tickets answer with category only plan free pro customer friendly sentence "
         "where is my order shipped yes no good bad happy sad neutral tweet sentiment positive negative "
         "system user assistant exactly one of output that word value json please help thanks").split()


def corpus_lines(n: int = 400, seed: int = 0) -> list[str]:
    """`n` pseudo-sentences over a small vocabulary (the tokenizer's training text)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))).capitalize() + rng.choice(".?!:,")
            for _ in range(n)]


def build_tokenizer(vocab_size: int = 384):
    """A byte-level BPE `tokenizers.Tokenizer` trained on `corpus_lines()`, with ChatML's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    lines = corpus_lines() + [f"{w} {w.upper()} {w.capitalize()}" for w in WORDS] + ["0123456789 {}[]\":,"]
    tok.train_from_iterator(lines, trainer)
    return tok


def build_tiny_model(folder, *, hidden: int = 32, layers: int = 2, seed: int = 0, max_positions: int = 512,
                     dropout: float = 0.0) -> Path:
    """Write the tiny model folder at `folder` (created) and return its path (`dropout`: the
    attention dropout, so that a run depends on the RNG)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(folder / "tokenizer.json"))
    ids = {t: tok.token_to_id(t) for t in SPECIALS}
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": None, "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>", "unk_token": None, "model_max_length": max_positions,
        "add_bos_token": False, "add_eos_token": False}, indent=2))
    (folder / "chat_template.jinja").write_text(TEMPLATE)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=max_positions, tie_word_embeddings=True, attention_dropout=dropout,
                         bos_token_id=None, eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder)
    return folder
