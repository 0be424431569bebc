"""A tiny causal LM built in the tests: a random-initialized Llama (hidden 32, 2 layers) and a
byte-level BPE tokenizer trained here with `tokenizers`, with a ChatML template whose assistant
turns are `{% generation %}` blocks. Nothing is downloaded; the same seed gives the same weights,
and every seed the same tokenizer (so two tiny models can be teacher and student)."""
from __future__ import annotations

from pathlib import Path

#: The text the tokenizer is trained on: enough for a few hundred merges of ordinary English.
CORPUS = [
    "The flight was delayed again and nobody at the gate could tell us why.",
    "I love the new phone, the battery lasts two days and the screen is bright.",
    "Self-driving cars will change how cities look in twenty years.",
    "Customer support answered within minutes and fixed my billing problem.",
    "The package arrived broken, and the seller ignored three emails.",
    "Is the update out yet? My laptop still shows the old version.",
    "positive negative neutral: classify the sentiment of the tweet.",
    "Thanks for the quick reply, that solved it! Great service as always.",
    "Worst experience ever: lost luggage, rude staff, cold food.",
    "The meeting moved to Thursday at ten; bring the quarterly numbers.",
    "Answer with one word. You are a helpful assistant.",
] * 4
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}<|im_start|>assistant\n"
    "{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}\n"
    "{% else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(folder: Path) -> None:
    """Train the byte-level BPE tokenizer and save it (tokenizer.json and its config) into `folder`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(folder))


def build_tiny_model(folder: str | Path, seed: int = 0) -> Path:
    """A tiny Llama and its tokenizer saved into `folder` (created); the folder loads with
    `AutoModelForCausalLM.from_pretrained` and `AutoTokenizer.from_pretrained`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None, use_cache=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(str(folder))
    return folder
