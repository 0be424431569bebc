"""The generated path and input checks give exactly what the passes give."""
from __future__ import annotations

import copy
import json
import random
import sys

import pytest

import polyprompt
from polyprompt import backends
from polyprompt.compiler.inputs import InputError
from polyprompt.session.generated import GeneratedPath
from polyprompt.session.targets import info as target_info

from helpers import REPO, shared
from test_golden import EXAMPLE_FILES

BENCH = REPO / "bench" / "prompts" / "peers_bench.prompt"


def peers_common():
    """The peers' benchmark inputs and reference renderer (../shared/bench/peers/common.py), or skip."""
    sys.path.insert(0, str(shared("bench", "peers", "common.py").parent))
    import common

    return common


def general(pf, target, inputs):
    compiled = pf.prompt()
    values = pf.check_inputs(compiled, inputs)
    return pf._through_passes(compiled, pf.backend(target), values, target_info(target, pf.backend(target)), False)


#: the targets whose text turns the generated code may write (`plain_text_turns`), from the registry
PLAIN_TEXT_TARGETS = [name for name, cls in backends.api_targets().items() if cls.plain_text_turns]


@pytest.mark.parametrize("target", PLAIN_TEXT_TARGETS)
@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_examples_are_the_same_either_way(path, target):
    inputs = json.loads(path.with_suffix(".input.json").read_text())
    pf = polyprompt.load(path)
    try:
        first, second = pf.compile(target, inputs=inputs), pf.compile(target, inputs=inputs)
    except polyprompt.CompileError:
        return
    slow = general(pf, target, inputs)
    assert first.body == second.body == slow.body
    assert first.report == second.report == slow.report


def test_the_bench_prompt_takes_the_fast_path_and_matches_the_reference():
    common = peers_common()
    pf = polyprompt.load(BENCH)
    pf.compile("openai-chat", inputs=common.CANONICAL)
    assert isinstance(pf._generated[("bench", "openai-chat")], GeneratedPath)
    for inputs in [common.CANONICAL, common.TRICKY, *common.make_inputs(200)]:
        result = pf.compile("openai-chat", inputs=inputs)
        assert result.body["messages"] == common.reference(inputs)
        assert result.request.messages[0].role == "system"  # the IR is still there, rendered on demand


def test_an_empty_turn_goes_back_to_the_general_path(tmp_path):
    path = tmp_path / "p.prompt"
    path.write_text('prompt p(extra: str) {\n  user "Hi"\n  user "{{ extra }}"\n}\n')
    pf = polyprompt.load(path)
    pf.compile("openai-chat", {"extra": "x"})
    r = pf.compile("openai-chat", {"extra": "  "})
    assert [m["content"] for m in r.body["messages"]] == ["Hi"] and [d.code for d in r.report] == ["PP409"]


def mutate(value, rng: random.Random):
    """A random small change: another type, a missing or an extra key, a bad member."""
    if isinstance(value, dict) and value and rng.random() < 0.5:
        key = rng.choice(list(value))
        changed = dict(value)
        choice = rng.randrange(3)
        if choice == 0:
            del changed[key]
        elif choice == 1:
            changed[key + "_x"] = 1
        else:
            changed[key] = mutate(changed[key], rng)
        return changed
    if isinstance(value, list) and value and rng.random() < 0.5:
        changed = list(value)
        i = rng.randrange(len(changed))
        changed[i] = mutate(changed[i], rng)
        return changed
    return rng.choice([None, 1, 1.5, True, "s", [], {}, "refund"])


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.stem for p in EXAMPLE_FILES])
def test_the_quick_input_check_never_accepts_what_the_full_check_refuses(path):
    pf = polyprompt.load(path)
    compiled = pf.prompt()
    good = json.loads(path.with_suffix(".input.json").read_text())
    pf.check_inputs(compiled, good)
    check = pf._checks[compiled.name]
    rng = random.Random(path.name)
    accepted = 0
    for _ in range(150):
        candidate = mutate(copy.deepcopy(good), rng)
        quick = check(candidate) if isinstance(candidate, dict) else None
        try:
            full = pf.check_inputs(compiled, candidate) if isinstance(candidate, dict) else None
        except InputError:
            full = "error"
        if quick is not None:
            assert full == quick, (candidate, full)
            accepted += 1
    if check(good) is not None:  # where the quick check decides, some verdicts were compared above
        assert accepted > 0


def test_a_generated_compile_knows_its_backend_without_the_passes(tmp_path, monkeypatch):
    """Asking a compile served by the generated renderer for its backend ran the whole passes path
    (a dataset build asked once a row: 9k rows/s instead of 24k)."""
    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "p.prompt"
    path.write_text('prompt p(x: str) {\n  user "{{ x }}"\n}\n')
    pf = polyprompt.load(path)
    pf.compile("openai-chat", {"x": "a"})
    second = pf.compile("openai-chat", {"x": "b"})
    assert second.made_by == "generated"
    assert second.backend is pf.backend("openai-chat")
    assert second._full is not None  # still not made whole
