"""The fast paths of dataset builds give what the plain ones give, byte for byte:

- line JSON from the prebuilt encoder, and tokenized lines that write their own JSON, equal
  `json.dumps` (random values with unicode and control characters; random masks; rows that begin
  with the ids whose text is written once, with part of them, or with none);
- open-model rows lowered once per prompt (dataset/turns.py) equal the passes' turns on random
  rows (whitespace, empty turns, the output instructions inside the data, control-token text);
- openai-sft rows from the generated renderer, and tokenized rows from the lowered turns, give
  the same files as builds with those paths turned off;
- an answer boundary found from the short side equals the one found from the long side;
- the tokenized line check says what the check item by item says (random lines).
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

import polyprompt
from polyprompt import dataset
from polyprompt.dataset import turns as turns_module
from polyprompt.dataset.formats import tokenized
from polyprompt.dataset.writers import TextLine, _encode, line_text

#: what the compact output instructions of `"alpha" | "beta"` say (the data may hold them)
INSTRUCTIONS = "Answer with exactly one of: alpha, beta. Output only that word."
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ODD = ["", " ", "\n\n", "\t x \t", "é", "日本語", "😀", "\x00", "\x1f", "\u2028", "\ud800", '"', "\\", "</think>",
       "<|im_end|>", "<|eot_id|>", "</s>", "{{ x }}", "Reply with one of: publish, reject, needs_review"]


def odd_text(rng: random.Random, json_only: bool = False) -> str:
    """Text with what is hard to write: unicode, control characters, control-token text, the
    output instructions; lone surrogates only where a JSON value (not an input) is made."""
    pool = ODD + ["word", " and ", "\n"]
    return "".join(c for c in (rng.choice(pool) for _ in range(rng.randint(0, 8))) if json_only or c != "\ud800")


def odd_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return odd_text(rng, json_only=True)
    if kind == 1:
        return rng.choice([0, -100, 1, 2**63, -1.5, 1e300, True, False, None])
    if kind == 2:
        return rng.randrange(-10**6, 10**6)
    if kind == 3:
        return rng.random()
    if kind in (4, 5):
        return {odd_text(rng, json_only=True): odd_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [odd_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_the_prebuilt_encoder_writes_what_json_dumps_writes():
    rng = random.Random(13)
    for _ in range(2000):
        value = {"messages": [odd_value(rng) for _ in range(3)], "x": odd_value(rng)}
        assert line_text(value) == _encode(value) == dumps(value)
    with pytest.raises(TypeError):
        line_text({"x": object()})
    assert line_text({"a": 1}) == '{"a":1}'  # a failed call leaves nothing behind


def test_tokenized_lines_write_their_json_as_json_dumps_does():
    rng = random.Random(7)
    for _ in range(3000):
        n = rng.randint(1, 60)
        ids = [rng.randrange(200_000) for _ in range(n)]
        mask = [int(rng.random() < rng.choice([0.0, 0.2, 0.8, 1.0])) for _ in range(n)]
        if rng.random() < 0.3:  # runs, as real masks have
            start = rng.randrange(n)
            mask = [0] * start + [1] * rng.randint(0, n - start)
            mask += [0] * (n - len(mask))
        line = tokenized.tokenized_line(ids, mask, cut=rng.choice([0, 3]))
        assert line.text == dumps(dict(line))
        assert line["labels"] == [i if m else -100 for i, m in zip(ids, mask)]
        assert line["attention_mask"] == [1] * n and line["assistant_masks"] == mask
    line = tokenized.tokenized_line([5, 6], [0, 1])
    line["task"] = "t"  # a changed line is written again, not from its old text
    assert line_text(line) == dumps(dict(line)) and '"task":"t"' in line_text(line)
    assert isinstance(line, TextLine)


def test_tokenized_lines_sharing_a_start_write_their_json_as_json_dumps_does(monkeypatch):
    """Rows that begin with the same ids (the prefix whose text is written once), rows that share
    only part of it, fewer ids than it, exactly it, or nothing: every line's text is `json.dumps`'s."""
    prefix = tokenized._Prefix()
    monkeypatch.setattr(tokenized, "_PREFIX", prefix)
    rng = random.Random(11)
    starts = [[rng.randrange(200_000) for _ in range(n)] for n in (3, 20, 150, 5000)]
    for n in (5000, 5000, tokenized._Prefix.LONGEST):  # longer than the prefix keeps, then as long
        line = tokenized.tokenized_line(starts[3][:n], [0] * (n - 1) + [1])
        assert line.text == dumps(dict(line)) and prefix.ids == starts[3][:tokenized._Prefix.LONGEST]
    hits = 0
    for _ in range(3000):
        start = rng.choice(starts)
        kind = rng.randrange(6)
        if kind == 0:  # the start, then the row's own ids
            ids = start + [rng.randrange(200_000) for _ in range(rng.randint(0, 40))]
        elif kind == 1:  # part of the start, then other ids
            cut = rng.randint(0, len(start))
            ids = start[:cut] + [rng.randrange(200_000) for _ in range(rng.randint(0, 40))]
        elif kind == 2:  # the start with one id changed
            ids = list(start)
            ids[rng.randrange(len(ids))] += 1
        elif kind == 3:  # the prefix itself, or its first ids only
            ids = prefix.ids[:rng.randint(1, len(prefix.ids))] if prefix.ids else [1]
        else:  # what the prefix holds now, then other ids (a hit)
            ids = prefix.ids + [rng.randrange(200_000) for _ in range(rng.randint(0, 5))] or [2]
        hits += bool(prefix.ids) and ids[:len(prefix.ids)] == prefix.ids
        mask = [0] * len(ids)
        answer = rng.randint(0, min(len(ids), 10))
        mask[len(ids) - answer:] = [1] * answer
        line = tokenized.tokenized_line(ids, mask)
        assert line.text == dumps(dict(line))
        assert len(prefix.ids) <= tokenized._Prefix.LONGEST
    assert hits > 1000  # the prefix's text served the rows that begin with it


def test_the_shared_start_of_two_lists_of_ids():
    rng = random.Random(3)
    for _ in range(2000):
        a = [rng.randrange(3) for _ in range(rng.randint(0, 30))]
        b = a[:rng.randint(0, len(a))] + [rng.randrange(3) for _ in range(rng.randint(0, 5))]
        expected = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert tokenized._shared_start(a, b) == tokenized._shared_start(b, a) == expected


PROMPTS = {
    "moderation": (EXAMPLES / "review_moderation.prompt").read_text(),
    "no system, enum": '''
prompt label(text: str, lang: str = "en") -> "yes" | "no" {
  user "{{ text }}"
  cache
  if lang == "de" {
    assistant "Ja?"
    user "{{ text }} ({{ lang }})"
  }
}
''',
    "system, enum": '''
prompt pick(text: str, extra: str = "") -> "alpha" | "beta" {
  system "Choose.{{ extra }}"
  user "{{ text }}"
}
''',
    "runs of one role": '''
prompt runs(text: str, twice: bool = false, opener: bool = false) -> str {
  if opener {
    assistant "Hello, how can I help?"
  }
  system "Answer in one line."
  user "{{ text }}"
  if twice {
    user "Once more: {{ text }}"
  }
  system "Be kind."
  assistant "Noted."
  user "{{ text }}?"
}
''',
    "text answer, loop": '''
prompt chat(text: str, notes: list[str] = []) -> str {
  system "Be brief.{% for n in notes %} Note: {{ n }}{% end %}"
  user "{{ text }}"
}
''',
}


def random_inputs(name: str, rng: random.Random) -> dict:
    if name == "moderation":
        return {"review": odd_text(rng), "rating": rng.randint(1, 5), "product_title": odd_text(rng),
                "verified_purchase": rng.random() < 0.5,
                "strictness": rng.choice(["lenient", "standard", "strict"])}
    if name == "no system, enum":
        return {"text": odd_text(rng), "lang": rng.choice(["en", "de"])}
    if name == "runs of one role":
        return {"text": odd_text(rng), "twice": rng.random() < 0.5, "opener": rng.random() < 0.5}
    if name == "system, enum":  # the instructions in the data now and then: none are added then
        return {"text": odd_text(rng), "extra": rng.choice(["", " ", odd_text(rng), INSTRUCTIONS])}
    return {"text": odd_text(rng), "notes": [odd_text(rng) for _ in range(rng.randint(0, 3))]}


@pytest.mark.parametrize("target", ["hf-family:qwen3", "hf-family:smollm2", "hf-family:llama-3", "hf-family:gemma-2",
                                    "hf-family:gemma-3", "hf-family:phi-3"])
@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_turns_lowered_once_per_prompt_equal_the_passes(tmp_path, name, target):
    (tmp_path / "p.prompt").write_text(PROMPTS[name])
    pf = polyprompt.load(tmp_path / "p.prompt")
    prompt = pf.prompt()
    rng = random.Random(hash((name, target)) & 0xFFFF)
    first = pf.check_inputs(prompt, random_inputs(name, random.Random(1)) | {"text": "hello"}
                            if name != "moderation" else random_inputs(name, random.Random(1)) | {"review": "ok"})
    fast = turns_module.LoweredTurns.build(pf, target, prompt.name, first)
    assert fast is not None, "these prompts are plain text turns: lowered once"
    backend = pf.backend(target)
    served = 0
    for _ in range(150):
        values = pf.check_inputs(prompt, random_inputs(name, rng))
        ours = fast.turns(values)
        try:
            request, _ = pf.lower(target, values)
        except polyprompt.CompileError:
            assert ours is None  # a turn left empty: the passes say so
            continue
        if ours is None:
            continue  # left to the passes (an empty turn, noted)
        assert ours == backend.write_messages(request.messages)
        served += 1
    assert served > 50


def test_a_target_whose_passes_change_the_turns_is_lowered_per_row(tmp_path):
    (tmp_path / "p.prompt").write_text(PROMPTS["moderation"])
    pf = polyprompt.load(tmp_path / "p.prompt")
    values = pf.check_inputs(pf.prompt(), random_inputs("moderation", random.Random(2)) | {"review": "ok"})
    # Mistral's templates take only an answer after tool results: repair_alternation adds turns there
    assert turns_module.LoweredTurns.build(pf, "hf-family:mistral-v3", pf.prompt().name, values) is None


def _project(tmp_path: Path, rows: int) -> Path:
    shutil.copy(EXAMPLES / "review_moderation.prompt", tmp_path / "m.prompt")
    (tmp_path / "data").mkdir()
    rng = random.Random(5)
    with open(tmp_path / "data" / "moderation.jsonl", "w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(json.dumps({"text": odd_text(rng) + f" {i}", "stars": rng.randint(1, 5), "product": odd_text(rng),
                                  "verified": rng.random() < 0.5, "lang": "en",
                                  "label": rng.choice(["publish", "reject", "needs_review"])}) + "\n")
    return tmp_path / "m.prompt"


@pytest.mark.parametrize("target", ["hf-family:qwen3", "hf-family:smollm2"])
def test_tokenized_builds_equal_builds_through_the_passes(tmp_path, monkeypatch, target):
    source = _project(tmp_path, 120)
    fast = dataset.build(source, "tokenized", tmp_path / "fast.jsonl", target=target, progress=False,
                         split="train")
    monkeypatch.setattr(turns_module.LoweredTurns, "build", classmethod(lambda cls, *a: None))
    slow = dataset.build(source, "tokenized", tmp_path / "slow.jsonl", target=target, progress=False,
                         split="train")
    assert fast.to_json() | {"outputs": None} == slow.to_json() | {"outputs": None}
    assert (tmp_path / "fast.jsonl").read_bytes() == (tmp_path / "slow.jsonl").read_bytes()
    assert fast.written > 50


@pytest.mark.parametrize("fmt", ["openai-sft", "openai-dpo", "trl-conversational", "vertex-sft"])
def test_api_format_builds_equal_builds_compiled_row_by_row(tmp_path, monkeypatch, fmt):
    source = _project(tmp_path, 120)
    text = source.read_text()
    if fmt == "openai-dpo":
        text = text.replace("output = row.label", "chosen = row.label\n  rejected = \"reject\"")
    source.write_text(text.replace("  cache \"1h\"\n", ""))  # a prompt the generated renderer serves
    pf = polyprompt.load(source)
    fast = dataset.build(pf, fmt, tmp_path / "fast.jsonl", progress=False, split="train")
    if fmt.startswith("openai"):  # the formats of the target the generated renderer serves
        assert pf.generated("openai-chat") is not None
    monkeypatch.setattr(type(pf), "generated", lambda self, target, prompt=None: None)
    slow = dataset.build(source, fmt, tmp_path / "slow.jsonl", progress=False, split="train")
    assert fast.to_json() | {"outputs": None} == slow.to_json() | {"outputs": None}
    assert (tmp_path / "fast.jsonl").read_bytes() == (tmp_path / "slow.jsonl").read_bytes()


@pytest.mark.parametrize("family", ["qwen3", "smollm2", "llama-3"])
def test_the_answer_boundary_from_the_short_side_equals_the_long_side(family, monkeypatch):
    from polyprompt import backends

    backend = backends.get(f"hf-family:{family}")()
    encoder = backend.encoder()
    assert encoder.context_free
    rng = random.Random(3)
    conversations = []
    for _ in range(60):
        turns = [{"role": "user", "content": odd_text(rng) or "x"},
                 {"role": "assistant", "content": odd_text(rng) or "y"}]
        if rng.random() < 0.5:
            turns = [{"role": "system", "content": odd_text(rng) or "s"}] + turns
        conversations.append(turns)

    def both(turns):
        try:
            return tokenized.ids_and_mask(backend, encoder, [dict(t) for t in turns], train_on="all")
        except tokenized.RowProblem as problem:
            return problem.reason

    short = [both(c) for c in conversations]
    monkeypatch.setattr(encoder, "context_free", False)
    assert short == [both(c) for c in conversations]


def test_metaspace_tokenizers_are_not_context_free():
    from polyprompt import backends

    assert not backends.get("hf-family:mistral-v3")().encoder().context_free


def test_a_first_row_with_an_empty_turn_leaves_the_decision_to_the_next(tmp_path):
    (tmp_path / "p.prompt").write_text(PROMPTS["no system, enum"])
    pf = polyprompt.load(tmp_path / "p.prompt")
    prompt = pf.prompt()
    empty = pf.check_inputs(prompt, {"text": "  \n "})
    assert turns_module.LoweredTurns.build(pf, "hf-family:qwen3", prompt.name, empty) == turns_module.LATER
    fine = pf.check_inputs(prompt, {"text": "hello"})
    assert isinstance(turns_module.LoweredTurns.build(pf, "hf-family:qwen3", prompt.name, fine),
                      turns_module.LoweredTurns)


def _problems_one_by_one(line: dict) -> list[str]:
    """The tokenized line check, item by item (what `tokenized.problems` must say)."""
    n = len(line.get("input_ids", ()))
    found = [f"`{k}` has {len(line.get(k, ()))} items for {n} ids"
             for k in ("attention_mask", "labels", "assistant_masks") if len(line.get(k, ())) != n]
    if not found and not any(line["assistant_masks"]):
        found.append("no token is learned")
    return found


def test_the_tokenized_line_check_says_what_the_check_item_by_item_says():
    rng = random.Random(17)
    for _ in range(3000):
        n = rng.randint(0, 12)
        line = {"input_ids": list(range(n))}
        for key in ("attention_mask", "labels", "assistant_masks"):
            if rng.random() < 0.9:
                size = n if rng.random() < 0.7 else rng.randint(0, 14)
                line[key] = [int(rng.random() < rng.choice([0.0, 0.1, 0.9])) for _ in range(size)]
        try:
            expected = _problems_one_by_one(line)
        except KeyError:  # no ids, no lists: both read the missing mask
            with pytest.raises(KeyError):
                tokenized.problems(line)
            continue
        assert tokenized.problems(line) == expected
    assert tokenized.problems({"input_ids": [1, 2], "attention_mask": [1, 1], "labels": [-100, -100],
                               "assistant_masks": [0, 0]}) == ["no token is learned"]


def test_an_int_reads_in_text_as_json_spells_it():
    """Rendered rows spell ints (the bench's `rating`) without a `json.dumps` call: the same text."""
    import enum

    from polyprompt.compiler.runtime import text_of

    class Level(enum.IntEnum):
        LOW = 3

    rng = random.Random(23)
    values = [0, -1, 2**63, -(10**40), Level.LOW, 1.5, -0.0, 1e300, float("nan"), float("inf")]
    values += [rng.randrange(-10**rng.randint(1, 30), 10**rng.randint(1, 30)) for _ in range(2000)]
    for value in values:
        assert text_of(value) == json.dumps(value)
    assert (text_of(True), text_of(False), text_of(None)) == ("true", "false", "")


def _json_line(rng: random.Random) -> bytes:
    """A JSONL line as data files hold them, good or broken."""
    text = dumps({"text": odd_text(rng, json_only=True), "n": rng.randrange(-9, 10**6), "x": odd_value(rng)})
    kind = rng.randrange(12)
    if kind == 0:
        text = text[:rng.randrange(len(text))]  # truncated
    elif kind == 1:
        text = rng.choice([" ", "\t", "\r", "\ufeff", "\x0c", "\u00a0"]) + text  # before the value
    elif kind == 2:
        text += rng.choice([" ", " \t\r", "\x0c", "\u00a0", " x", "{}", " 1", "\u2028"])  # after it
    elif kind == 3:
        text = rng.choice(["[1, 2]", '"a"', "12", "-", "nul", "NaN", "1e999", "[" * 3000 + "]" * 3000, "9" * 5000,
                           '{"a": "\\ud800"}', '{"a": "\\x"}', '{"a" 1}', "{}", '{"a":1,"a":2}'])
    raw = text.encode("utf-8", "surrogatepass") + rng.choice([b"\n", b"\r\n", b""])
    return raw if kind != 4 else raw.replace(b'"', b"\xff", 1)  # not UTF-8


def test_jsonl_rows_read_as_json_loads_reads_them(monkeypatch):
    """The JSONL reader's scan of a line (no regexes around it) gives json.loads's rows and rejects."""
    from polyprompt.dataset import sources

    rng = random.Random(29)
    lines = [_json_line(rng) for _ in range(4000)]
    fast = [sources._json_record(raw, i, i) for i, raw in enumerate(lines)]
    monkeypatch.setattr(sources, "_loads", json.loads)
    slow = [sources._json_record(raw, i, i) for i, raw in enumerate(lines)]
    assert fast == slow
    assert 500 < sum(isinstance(r, sources.BadRow) for r in fast) < 3500
