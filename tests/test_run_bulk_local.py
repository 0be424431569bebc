"""A bulk run on the embedded local model (SmolLM2-135M-Instruct through run/local.py), one row at
a time in a worker thread: the same answers as `generate` gives row by row."""
from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from polyprompt.run import bulk  # noqa: E402

pytest.importorskip("torch")
pytestmark = [pytest.mark.slow, pytest.mark.parity]  # runs a real model

SOURCE = """\
enum Sentiment { positive, negative }

prompt classify(review: str) -> Sentiment {
  system "Classify the sentiment of the customer review."
  user "{{ review }}"
}

prompt hello(name: str) -> str {
  model "smollm2" { max_tokens: 8 }
  user "Say hello to {{ name }} in one short sentence."
}
"""


def test_a_bulk_run_on_the_local_model_equals_generate_row_by_row(tmp_path):
    from polyprompt.run import local
    from polyprompt.session import load

    try:
        local.load_model("hf-family:smollm2")
    except local.ModelUnavailable as err:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(err))
    path = tmp_path / "local.prompt"
    path.write_text(SOURCE)
    pf = load(path)
    reviews = [{"review": "I love it, works great."}, {"review": "Broke after a day. Awful."}, {"review": 3}]
    out = tmp_path / "out.jsonl"
    summary = bulk.run_rows(pf, reviews, "hf-family:smollm2", bulk.local_sender(), prompt="classify", out=out,
                            concurrency=2, cache=None)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    for row, line in zip(reviews[:2], lines):
        expected = local.generate(pf.compile("hf-family:smollm2", row, prompt="classify"))
        assert (line["value"], line["text"], line["error"]) == (expected.value, expected.text, None)
        assert line["value"] in ("positive", "negative") and line["latency_ms"] > 0
    assert lines[2]["error"] and lines[2]["value"] is None  # a wrong input type is the row's error
    assert (summary.sent, summary.errors) == (2, 1)
    free = tmp_path / "hello.jsonl"
    bulk.run_rows(pf, [{"name": "Ada"}], "hf-family:smollm2", bulk.local_sender(max_new_tokens=8), prompt="hello",
                  out=free, cache=None)
    line = json.loads(free.read_text())
    expected = local.generate(pf.compile("hf-family:smollm2", {"name": "Ada"}, prompt="hello"), max_new_tokens=8)
    assert line["text"] == expected.text and line["usage"] == {"completion_tokens": len(expected.token_ids)}
