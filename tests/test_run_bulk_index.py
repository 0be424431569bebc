"""The reply cache's inputs index (run/cache.py, run/bulk.py; issue 16, the cache speed target): a
re-run answers its rows without compiling them, and no change to the program, an imported file,
the target, a target option, the endpoint, the compiler or a row's inputs ever reaches a stale
entry. The sender answers with a digest of the exact body it was given, so a stale answer shows."""
from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

import polyprompt
from polyprompt.run import bulk
from polyprompt.run.cache import InputsKeys, ReplyCache, inputs_key

LABELS = 'enum Label { good bad }\n'
PROMPT = '''import "./labels.prompt" { Label }

target private "openai-responses" {
  store: false
}

prompt label(text: str, n: int = 0) -> Label {
  model "gpt-4o-mini" { temperature: 0 }
  user "Label: {{ text }} ({{ n }})"
}
'''


class Echo:
    """Answers each body with its digest (value) and counts the bodies sent."""

    def __init__(self):
        self.sent: list[str] = []

    async def __call__(self, compiled):
        digest = hashlib.sha256(json.dumps(compiled.body, sort_keys=True).encode()).hexdigest()[:16]
        self.sent.append(digest)
        await asyncio.sleep(0)
        return {"value": digest, "text": digest, "raw": {}, "usage": None, "latency_ms": 1.0, "parse_error": None,
                "tool_calls": None}


def expected(pf, target: str, rows: list[dict]) -> list[str]:
    """The digest of each row's body as it compiles now (what a fresh answer holds)."""
    return [hashlib.sha256(json.dumps(pf.compile(target, row).body, sort_keys=True).encode()).hexdigest()[:16]
            for row in rows]


def counting(pf):
    """`pf` with its compiles counted in `pf.compiles`."""
    original = pf.compile
    pf.compiles = 0

    def compile(*args, **kwargs):
        pf.compiles += 1
        return original(*args, **kwargs)

    pf.compile = compile
    return pf


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "labels.prompt").write_text(LABELS)
    (tmp_path / "label.prompt").write_text(PROMPT)
    return tmp_path


ROWS = [{"text": f"t{i}", "n": i} for i in range(40)]


def run(project: Path, rows=ROWS, target="openai-chat", endpoint=None, pf=None):
    """One bulk run with the project's reply cache; (values, rows sent, compiles, summary)."""
    pf = counting(pf or polyprompt.load(project / "label.prompt"))
    send = Echo()
    summary = bulk.run_rows(pf, rows, target, send, out=project / "out.jsonl", resume=False,
                            cache=ReplyCache(project / "replies"), endpoint=endpoint, progress=False)
    values = [json.loads(line)["value"] for line in (project / "out.jsonl").read_text().splitlines()]
    return values, len(send.sent), pf.compiles, summary


def test_a_rerun_is_answered_without_compiling_a_row(project):
    values, sent, _compiles, _ = run(project)
    assert sent == len(ROWS)
    again, sent, compiles, summary = run(project)
    assert (sent, compiles, summary.cached) == (0, 0, len(ROWS))
    assert again == values == expected(polyprompt.load(project / "label.prompt"), "openai-chat", ROWS)


@pytest.mark.parametrize("change", ["prompt text", "imported file", "target option", "target", "endpoint"])
def test_a_change_that_changes_the_body_or_endpoint_is_sent_again(project, change):
    run(project)
    target, endpoint = "openai-chat", None
    if change == "prompt text":
        (project / "label.prompt").write_text(PROMPT.replace("Label: ", "Label this: "))
    elif change == "imported file":
        (project / "labels.prompt").write_text('enum Label { good bad unsure }\n')
    elif change == "target option":
        run(project, target="private")
        (project / "label.prompt").write_text(PROMPT.replace("store: false", "store: true"))
        target = "private"
    elif change == "target":
        target = "mistral"
    else:
        endpoint = {"base_url": "http://127.0.0.1:9/v1"}
    values, sent, _compiles, summary = run(project, target=target, endpoint=endpoint)
    assert sent == len(ROWS) and summary.cached == 0
    assert values == expected(polyprompt.load(project / "label.prompt"), target, ROWS)


def test_a_changed_input_sends_that_row_only(project):
    run(project)
    rows = [dict(row) for row in ROWS]
    rows[7]["text"] = "changed"
    rows[8] = {"n": 8, "text": "t8"}  # the same inputs in another key order: compiled, then found by its body
    values, sent, compiles, summary = run(project, rows)
    assert (sent, summary.cached) == (1, len(ROWS) - 1) and compiles == 2
    assert values == expected(polyprompt.load(project / "label.prompt"), "openai-chat", rows)


def test_another_compiler_build_compiles_again_and_the_body_store_answers(project, monkeypatch):
    from polyprompt.session import prompt_file

    values, _sent, _c, _ = run(project)
    monkeypatch.setattr(prompt_file, "_BUILD", "another-build")
    again, sent, compiles, summary = run(project)
    assert (sent, compiles, summary.cached) == (0, len(ROWS), len(ROWS)) and again == values
    assert run(project)[2] == 0  # the new build's index is filled by that run


def test_inputs_that_are_not_plain_json_are_compiled_every_time(project):
    class Text(str):
        pass

    rows = [{"text": Text(f"t{i}"), "n": i} for i in range(5)]
    run(project, rows)
    _values, sent, compiles, _ = run(project, rows)
    assert (sent, compiles) == (0, 5)


def test_inputs_keys_tell_values_and_orders_apart():
    keys = InputsKeys("f" * 64, "openai-chat", "label", {"base_url": "http://h/v1"})
    one = keys({"text": "a", "n": 1})
    assert one == inputs_key("f" * 64, "openai-chat", "label", {"text": "a", "n": 1}, {"base_url": "http://h/v1"})
    others = [keys({"n": 1, "text": "a"}), keys({"text": "a", "n": 1.0}), keys({"text": "a", "n": True}),
              keys({"text": "a ", "n": 1}), InputsKeys("e" * 64, "openai-chat", "label")({"text": "a", "n": 1}),
              InputsKeys("f" * 64, "mistral", "label", {"base_url": "http://h/v1"})({"text": "a", "n": 1}),
              InputsKeys("f" * 64, "openai-chat", "other", {"base_url": "http://h/v1"})({"text": "a", "n": 1}),
              InputsKeys("f" * 64, "openai-chat", "label")({"text": "a", "n": 1})]
    assert len({one, *others}) == len(others) + 1
    assert keys({"text": ("a",)}) is None and keys({"x": float("nan")}) is None
    # credentials never enter a key
    assert InputsKeys("f" * 64, "t", "p", {"api_key": "sk-1"})({}) == InputsKeys("f" * 64, "t", "p")({})


def test_an_open_model_target_has_no_index(project):
    pf = polyprompt.load(project / "label.prompt")
    assert bulk.program_fingerprint(pf, "openai-chat") is not None
    assert bulk.program_fingerprint(pf, "hf-family:smollm2") is None


def test_only_a_run_that_paid_for_replies_waits_for_the_disk(project, monkeypatch):
    from polyprompt.run import journal

    synced: list[int] = []
    real = journal.os.fsync
    monkeypatch.setattr(journal.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    monkeypatch.setattr(journal, "sync_folder", lambda folder: synced.append(-1))
    run(project)
    assert synced, "replies paid for are on disk before the run ends"
    synced.clear()
    assert run(project)[1] == 0 and synced == []  # all from the cache: running again costs nothing
