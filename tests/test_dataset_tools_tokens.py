"""Tokenized rows whose answer calls a tool equal transformers: the `trl-conversational` line of the
same row, given to `apply_chat_template(..., tokenize=True, return_dict=True,
return_assistant_tokens_mask=True)` with Qwen3's training template (the `{% generation %}` template
TRL swaps in, which renders tool calls), gives the very ids and mask of the `tokenized` row (issue 13,
item 1; control-token text in arguments: tests/test_security_dataset.py)."""
from __future__ import annotations

import json

import pytest

from hf_assets import load
from polyprompt import backends, dataset
from polyprompt.dataset.formats import tokenized
from test_dataset import read_lines


FOLLOW_UP = '''
tool lookup_order(order_id: str, include_items: bool = false) -> json "Fetch an order's status."
strict tool refund(order_id: str, amount: float, reason?: str) -> json "Refund part of an order."

prompt follow_up(order: str, question: str) {
  system "You help Acme's customers."
  tools lookup_order, refund
  user "Where is my order {{ order }}?"
  tool_call lookup_order(order_id = order) id "call_1"
  tool_result lookup_order id "call_1" """
    {"status": "shipped"}
    """
  assistant "It has shipped."
  user "{{ question }}"
}

dataset follow_up from "rows.jsonl" {
  order = row.order
  question = row.question
  output = row.answer
}
'''

ROWS = [
    {"order": "A1", "question": "And the items?",
     "answer": {"name": "lookup_order", "arguments": {"order_id": "A1", "include_items": True}}},
    {"order": "B2", "question": "Refund 5, it broke.",
     "answer": {"name": "refund", "arguments": {"order_id": "B2", "amount": 5.0, "reason": "broke"}}},
    {"order": "C3", "question": "Both again, 日本語で?", "answer": [
        {"name": "lookup_order", "arguments": {"order_id": "C3"}},
        {"name": "refund", "arguments": {"order_id": "C3", "amount": 1.5}}]},
    {"order": "D4", "question": "Thanks!", "answer": "You are welcome 👍"},
]


@pytest.fixture
def project(tmp_path):
    (tmp_path / "f.prompt").write_text(FOLLOW_UP)
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS))
    return tmp_path


def reference(tok, line: dict) -> tuple[list[int], list[int]]:
    template = tokenized.training_template(backends.get("hf-family:qwen3")()).source
    out = tok.apply_chat_template(line["messages"], tools=line["tools"], tokenize=True, return_dict=True,
                                  return_assistant_tokens_mask=True, chat_template=template)
    return list(out["input_ids"]), list(out["assistant_masks"])


@pytest.mark.parametrize("train_on", ["last", "all"])
def test_tool_call_answers_equal_transformers_on_qwen3(project, train_on):
    _enc, tok = load("qwen3")
    for fmt in ("trl-conversational", "tokenized"):
        summary = dataset.build(project / "f.prompt", fmt, project / f"{fmt}.jsonl", target="hf-family:qwen3",
                                train_on=train_on)
        assert summary.written == len(ROWS), summary.line()
    lines, rows = read_lines(project / "trl-conversational.jsonl"), read_lines(project / "tokenized.jsonl")
    for line, row in zip(lines, rows):
        ids, mask = reference(tok, line)
        if train_on == "last":  # transformers marks every assistant turn; the row learns the answer only
            last = max(i for i, m in enumerate(mask) if m)
            start = last
            while mask[start - 1]:
                start -= 1
            mask = [int(start <= i <= last) for i in range(len(mask))]
        assert (row["input_ids"], row["assistant_masks"]) == (ids, mask)
        assert row["labels"] == [i if m else -100 for i, m in zip(ids, mask)]
    learned = tok.decode([i for i, m in zip(rows[2]["input_ids"], rows[2]["assistant_masks"]) if m])
    assert '{"name": "refund", "arguments": {"order_id": "C3", "amount": 1.5}}' in learned
    assert learned.count("<tool_call>") == (2 if train_on == "last" else 3)  # the prompt's own call too


def test_the_answer_call_gets_an_id_the_prompt_does_not_use(project):
    dataset.build(project / "f.prompt", "trl-conversational", project / "c.jsonl", target="hf-family:qwen3")
    line = read_lines(project / "c.jsonl")[2]
    assert [c["id"] for c in line["messages"][-1]["tool_calls"]] == ["call_2", "call_3"]

