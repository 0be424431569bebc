"""The per-row shortcuts of a build give what the full path gives: a label checked once is
remembered by type and value (`True` is no `1`), and its answer text is the same as made anew."""
from __future__ import annotations

import json

from polyprompt import dataset
from polyprompt.dataset import answers

COUNT = '''
prompt count(text: str) -> int {
  user "How many words? {{ text }}"
}

dataset count "counts" from "rows.jsonl" {
  text = row.text
  output = row.n
}
'''


def test_a_label_remembered_as_fitting_is_kept_apart_by_type(tmp_path):
    """1 fits `-> int` and is remembered; then `true` (equal to 1 in Python) is still checked, and refused."""
    (tmp_path / "c.prompt").write_text(COUNT)
    rows = [{"text": "a b", "n": 1}, {"text": "c d", "n": True}, {"text": "e", "n": 1}, {"text": "f", "n": 1.5}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = dataset.build(tmp_path / "c.prompt", "openai-sft", tmp_path / "out.jsonl", progress=False)
    assert (summary.written, summary.rejected) == (2, 2)
    rejects = [json.loads(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rejects] == [2, 4]


def test_remembered_answer_text_equals_a_fresh_one(tmp_path):
    """The memo of scalar answers gives the text `_answer_text` makes, for each type apart."""
    import polyprompt

    (tmp_path / "c.prompt").write_text(COUNT)
    pf = polyprompt.load(tmp_path / "c.prompt")
    for target in ("openai-chat", "hf-family:qwen3"):
        request, _ = pf.lower(target, {"text": "x"})
        backend = pf.backend(target)
        for value in (1, True, 1.0, "1", 1, True):
            assert answers.answer_text(value, request.output, backend) == answers._answer_text(
                value, request.output, backend)
        assert answers.answer_text(True, request.output, backend) != answers.answer_text(1, request.output, backend)
