"""Tool-call answers (issue 13, item 1): an answer column holding a call of one of the prompt's
tools becomes the assistant turn each platform trains on (OpenAI `tool_calls` with arguments as
JSON text, Gemini `functionCall`, a chat template's `tool_calls`), checked against the tool's
parameters; a call the prompt's tools do not take is a numbered reject naming the field."""
from __future__ import annotations

import json

import pytest

from polyprompt import dataset
from polyprompt.dataset.align import RowProblem
from test_dataset import openai_line_validator, read_lines

SUPPORT = '''
tool lookup_order(order_id: str, include_items: bool = false) -> json "Fetch an order's status."
strict tool refund(order_id: str, amount: float, reason?: str) -> json "Refund part of an order."

prompt support(question: str, staff: bool = false) {
  system "You help Acme's customers. Call a tool when you need data."
  tools lookup_order
  if staff {
    tools refund
  }
  user "{{ question }}"
}

dataset support "calls" from "calls.jsonl" {
  question = row.question
  staff = row.staff
  output = row.answer
}
'''

#: (row, expected outcome): the rows of calls.jsonl
ROWS = [
    {"question": "Where is order A17?", "staff": False,
     "answer": {"name": "lookup_order", "arguments": {"order_id": "A17"}}},
    {"question": "Refund 5 on B2, it arrived broken.", "staff": True,
     "answer": {"name": "refund", "arguments": {"order_id": "B2", "amount": 5.5, "reason": "arrived broken"}}},
    {"question": "Refund 3 on C9.", "staff": True,  # OpenAI's own call shape, arguments as JSON text, an id
     "answer": {"type": "function", "id": "call_x", "function": {"name": "refund",
                                                                "arguments": "{\"order_id\": \"C9\", \"amount\": 3}"}}},
    {"question": "What are your hours?", "staff": False, "answer": "9 to 5, Monday to Friday."},
    {"question": "A1 and A2?", "staff": False, "answer": [
        {"name": "lookup_order", "arguments": {"order_id": "A1"}},
        {"name": "lookup_order", "arguments": {"order_id": "A2", "include_items": True}}]},
    {"question": "Cancel A3.", "staff": True, "answer": {"name": "cancel_order", "arguments": {"order_id": "A3"}}},
    {"question": "Refund A4.", "staff": True, "answer": {"name": "refund", "arguments": {"order_id": "A4",
                                                                                          "amount": "lots"}}},
    {"question": "Refund A5.", "staff": True, "answer": {"name": "refund", "arguments": "{not json"}},
    {"question": "Refund A6.", "staff": False, "answer": {"name": "refund", "arguments": {"order_id": "A6",
                                                                                           "amount": 1}}},
    {"question": "Where is A7?", "staff": False, "answer": {"name": "lookup_order", "arguments": {"order": "A7"}}},
    {"question": "And A8?", "staff": False, "answer": {"name": "lookup_order", "arguments": [1]}},
]

#: row number -> (field, words of the reason) of the rows every format rejects
REJECTS = {
    6: ("output.name", "the prompt offers no tool `cancel_order`; its tools: lookup_order, refund"),
    7: ("output.arguments.amount", "'lots' is not of type 'number'"),
    8: ("output.arguments", "the arguments' text is not JSON"),
    9: ("output.name", "the prompt offers no tool `refund`"),  # offered to staff only: not on this row
    10: ("output.arguments", "Additional properties are not allowed ('order' was unexpected)"),
    11: ("output.arguments", "a tool call's arguments are an object"),
}


@pytest.fixture
def project(tmp_path):
    (tmp_path / "support.prompt").write_text(SUPPORT)
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "polyprompt.toml").write_text("")
    return tmp_path


def build(project, fmt, name, **options):
    summary = dataset.build(project / "support.prompt", fmt, project / name, **options)
    rejects = read_lines(summary.rejects_path) if summary.rejects_path else []
    assert summary.read == summary.written + summary.rejected == len(ROWS)
    return read_lines(project / name), {r["row"]: r for r in rejects}


def check_rejects(rejects: dict, more: dict | None = None) -> None:
    expected = {**REJECTS, **(more or {})}
    assert sorted(rejects) == sorted(expected)
    for row, (field, words) in expected.items():
        assert rejects[row]["field"] == field and words in rejects[row]["reason"], rejects[row]
        assert rejects[row]["line"] == row


def test_openai_sft_lines_end_with_the_tool_calls_and_validate_against_the_official_schema(project):
    lines, rejects = build(project, "openai-sft", "sft.jsonl")
    check_rejects(rejects)
    validator = openai_line_validator("FineTuneChatRequestInput")
    for line in lines:
        assert not list(validator.iter_errors(line))
        assert dataset.formats.get("openai-sft").problems(line) == []
    answers = [line["messages"][-1] for line in lines]
    assert answers[0] == {"role": "assistant", "content": None, "weight": 1, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": '{"order_id":"A17"}'}}]}
    # `refund` is a strict tool: on OpenAI its optional `reason` is required and nullable, so the
    # model's call carries `null` for it; the data's id is kept
    assert answers[2]["tool_calls"] == [{"id": "call_x", "type": "function", "function": {
        "name": "refund", "arguments": '{"order_id":"C9","amount":3,"reason":null}'}}]
    assert json.loads(answers[1]["tool_calls"][0]["function"]["arguments"]) == ROWS[1]["answer"]["arguments"]
    assert answers[3] == {"role": "assistant", "content": "9 to 5, Monday to Friday.", "weight": 1}
    assert [c["id"] for c in answers[4]["tool_calls"]] == ["call_1", "call_2"]  # parallel calls, distinct ids
    assert [t["function"]["name"] for t in lines[1]["tools"]] == ["lookup_order", "refund"]
    assert [t["function"]["name"] for t in lines[0]["tools"]] == ["lookup_order"]


def test_the_openai_answer_turn_reads_back_as_the_same_calls(project):
    """What the model is trained to write is what `parse` reads from its reply: the calls of the data."""
    from polyprompt.session.compiled import parse_reply

    lines, _ = build(project, "openai-sft", "sft.jsonl")
    message = {k: v for k, v in lines[4]["messages"][-1].items() if k != "weight"}
    reply = parse_reply("openai-chat", {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": message}]})
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [(c["name"], c["arguments"]) for c in ROWS[4]["answer"]]


def test_vertex_sft_answers_are_function_call_parts(project):
    lines, rejects = build(project, "vertex-sft", "vertex.jsonl")
    check_rejects(rejects)
    assert all(dataset.formats.get("vertex-sft").problems(line) == [] for line in lines)
    assert lines[0]["contents"][-1] == {"role": "model", "parts": [
        {"functionCall": {"name": "lookup_order", "args": {"order_id": "A17"}}}]}
    # Gemini has no strict tools: the call is the data's, without a null for `reason`
    assert lines[2]["contents"][-1]["parts"] == [{"functionCall": {"name": "refund", "args": {"order_id": "C9",
                                                                                              "amount": 3}}}]
    assert len(lines[4]["contents"][-1]["parts"]) == 2
    assert lines[3]["contents"][-1] == {"role": "model", "parts": [{"text": "9 to 5, Monday to Friday."}]}


def test_bedrock_sft_rejects_a_tool_call_answer_with_the_reason(project):
    """Bedrock's Claude fine-tuning lines hold text content only (platforms.md 1b): a tool call
    cannot be written, and says so, row by row."""
    lines, rejects = build(project, "bedrock-sft", "bedrock.jsonl")
    assert [line["messages"][-1]["content"] for line in lines] == ["9 to 5, Monday to Friday."]
    assert len(rejects) == len(ROWS) - 1
    for row in (8, 11):  # a malformed call is so in any format
        assert (rejects.pop(row)["field"], row) == REJECTS[row][0:1] + (row,)
    assert all("Bedrock's Claude fine-tuning lines hold text turns only" in r["reason"] for r in rejects.values())


@pytest.mark.parametrize("fmt", ["trl-conversational", "trl-prompt-completion"])
def test_trl_lines_carry_the_calls_with_arguments_as_objects(project, fmt):
    lines, rejects = build(project, fmt, "trl.jsonl", target="hf-family:qwen3")
    check_rejects(rejects)
    key = "messages" if fmt == "trl-conversational" else "completion"
    assert all(dataset.formats.get(fmt).problems(line) == [] for line in lines)
    assert lines[0][key][-1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup_order", "arguments": {"order_id": "A17"}}}]}
    assert [t["function"]["name"] for t in lines[1]["tools"]] == ["lookup_order", "refund"]


def test_trl_lines_from_an_openai_body_take_the_calls_as_objects(project):
    lines, _ = build(project, "trl-conversational", "trl.jsonl", target="openai-chat")
    assert lines[2]["messages"][-1]["tool_calls"][0]["function"]["arguments"] == {"order_id": "C9", "amount": 3,
                                                                                  "reason": None}


def test_a_datasets_folder_holds_the_calls_exactly(project):
    """`datasets` stores the varying arguments and schemas as JSON: `load_from_disk` gives back the
    very lines (no key of another row's arguments added as null)."""
    import datasets

    lines, _ = build(project, "trl-conversational", "trl.jsonl", target="hf-family:qwen3")
    dataset.build(project / "support.prompt", "trl-conversational", project / "folder", target="hf-family:qwen3")
    assert [dict(row) for row in datasets.load_from_disk(str(project / "folder"))] == lines


PAIRS = '''
tool lookup_order(order_id: str) -> json "Fetch an order's status."

prompt support(question: str) {
  tools lookup_order
  user "{{ question }}"
}

dataset support "pairs" from "pairs.jsonl" {
  question = row.q
  chosen = row.good
  rejected = row.bad
}
'''


def test_preference_pairs_with_a_tool_call(tmp_path):
    (tmp_path / "pairs.prompt").write_text(PAIRS)
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"q": "Where is A1?", "bad": "I cannot know.", "good": {
        "name": "lookup_order", "arguments": {"order_id": "A1"}}}) + "\n")
    summary = dataset.build(tmp_path / "pairs.prompt", "trl-preference", tmp_path / "pref.jsonl",
                            target="hf-family:qwen3")
    [line] = read_lines(tmp_path / "pref.jsonl")
    assert summary.written == 1 and line["chosen"][0]["tool_calls"][0]["function"] == {
        "name": "lookup_order", "arguments": {"order_id": "A1"}}
    assert line["rejected"] == [{"role": "assistant", "content": "I cannot know."}]
    assert [t["function"]["name"] for t in line["tools"]] == ["lookup_order"]
    summary = dataset.build(tmp_path / "pairs.prompt", "openai-dpo", tmp_path / "dpo.jsonl")
    [reject] = read_lines(summary.rejects_path)
    assert summary.written == 0 and reject["field"] == "chosen" and "text outputs only" in reject["reason"]


def test_a_prompt_without_tools_rejects_a_call(tmp_path):
    (tmp_path / "p.prompt").write_text(SUPPORT.replace("  tools lookup_order\n", "").replace(
        "  if staff {\n    tools refund\n  }\n", "  if staff {\n    user \"(staff)\"\n  }\n"))
    (tmp_path / "calls.jsonl").write_text(json.dumps(ROWS[0]) + "\n")
    summary = dataset.build(tmp_path / "p.prompt", "openai-sft", tmp_path / "out.jsonl")
    [reject] = read_lines(summary.rejects_path)
    assert (reject["field"], reject["reason"]) == ("output.name", "a call of `lookup_order`, but the prompt offers "
                                                                  "no tools")


STRUCTURED = '''
tool lookup_order(order_id: str) -> json "Fetch an order's status."
type Answer { name: str, arguments: list[str] }

prompt triage(question: str) -> Answer {
  tools lookup_order
  user "{{ question }}"
}
'''


def test_a_value_of_the_output_type_is_never_taken_for_a_call(tmp_path):
    """An answer that fits the output type is that value, even when shaped like a call; one that
    does not fit and is shaped as a call is a call."""
    from polyprompt.dataset.answers import ToolCalls
    from polyprompt.session import load

    (tmp_path / "s.prompt").write_text(STRUCTURED + '\ndataset triage from "d.jsonl" {\n  question = row.q\n'
                                       '  output = row.a\n}\n')
    [task] = dataset.tasks_of(load(tmp_path / "s.prompt"))
    value = {"name": "x", "arguments": ["a"]}
    assert task.example({"q": "?", "a": value}, tool_calls=True).output == value
    calls = task.example({"q": "?", "a": {"name": "lookup_order", "arguments": {"order_id": "1"}}},
                         tool_calls=True).output
    assert isinstance(calls, ToolCalls) and calls == (("lookup_order", {"order_id": "1"}, None),)


def test_readers_of_values_still_reject_a_call(project):
    """Evaluation reads the rows' expected values: a call there is not a value of `str`."""
    from polyprompt.session import load

    [task] = dataset.tasks_of(load(project / "support.prompt"))
    with pytest.raises(RowProblem, match="the answer must be text, got an object"):
        task.example(ROWS[0])


@pytest.mark.parametrize("answer, field, reason", [
    ({"name": "", "arguments": {}}, "output.name", "names its tool"),
    ({"name": "lookup_order", "arguments": {}, "type": "custom"}, "output.type", "type is `function`"),
    ({"name": "lookup_order", "arguments": {}, "id": 7}, "output.id", "id is text"),
    ([{"name": "lookup_order", "arguments": {}}, {"function": {"name": 3, "arguments": {}}}],
     "output[1].function.name", "names its tool"),
    ({"text": "hi"}, "output", "the answer must be text or a tool call, got an object"),
])
def test_a_malformed_call_names_its_field(project, answer, field, reason):
    from polyprompt.session import load

    [task] = dataset.tasks_of(load(project / "support.prompt"))
    with pytest.raises(RowProblem) as found:
        task.example({"question": "?", "staff": False, "answer": answer}, tool_calls=True)
    assert found.value.field == field and reason in found.value.reason


def test_workers_write_the_same_bytes(project):
    dataset.build(project / "support.prompt", "openai-sft", project / "one.jsonl")
    dataset.build(project / "support.prompt", "openai-sft", project / "two.jsonl", workers=2)
    assert (project / "one.jsonl").read_bytes() == (project / "two.jsonl").read_bytes()


def test_a_csv_cell_holding_a_call_is_a_call(project):
    """CSV cells are text: a cell holding a call's JSON is that call; other text stays text."""
    import csv

    with open(project / "calls.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["question", "staff", "answer"])
        out.writerow(["Where is A17?", "false", json.dumps(ROWS[0]["answer"])])
        out.writerow(["Hours?", "false", "{9 to 5}"])
    (project / "csv.prompt").write_text(SUPPORT.replace("calls.jsonl", "calls.csv"))
    summary = dataset.build(project / "csv.prompt", "openai-sft", project / "csv.jsonl")
    lines = read_lines(project / "csv.jsonl")
    assert summary.written == 2 and lines[0]["messages"][-1]["tool_calls"][0]["function"]["name"] == "lookup_order"
    assert lines[1]["messages"][-1]["content"] == "{9 to 5}"


def test_trl_lines_from_an_openai_body_give_the_prompts_own_calls_as_objects(tmp_path):
    """A call the prompt writes (`tool_call`) reaches TRL with its arguments as an object, as chat
    templates take them (before, the OpenAI body's JSON text was passed on)."""
    (tmp_path / "f.prompt").write_text('''
tool lookup_order(order_id: str) -> json "Fetch an order's status."

prompt follow_up(order: str) {
  tools lookup_order
  user "Where is {{ order }}?"
  tool_call lookup_order(order_id = order) id "call_1"
  tool_result lookup_order id "call_1" "shipped"
}

dataset follow_up from "rows.jsonl" {
  order = row.order
  output = row.answer
}
''')
    (tmp_path / "rows.jsonl").write_text(json.dumps({"order": "A1", "answer": "It has shipped."}) + "\n")
    dataset.build(tmp_path / "f.prompt", "trl-conversational", tmp_path / "out.jsonl", target="openai-chat")
    [line] = read_lines(tmp_path / "out.jsonl")
    assert line["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"order_id": "A1"}
    assert line["messages"][2] == {"role": "tool", "content": "shipped", "tool_call_id": "call_1"}
