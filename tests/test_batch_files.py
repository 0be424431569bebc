"""Provider batch files (run/batch_files.py): every input line validates against the provider's
documented batch line format (tests/data/batch) with its body valid for the official request
schema, and real-shaped output files, failures included and out of order, come back as typed
values joined to their rows."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import proto_schema
from helpers import REPO
from schemas import bedrock_errors, body_errors, errors
from polyprompt import backends
from polyprompt.run import batch_files, bulk
from polyprompt.session import load

BATCH = REPO / "tests" / "data" / "batch"
TARGETS = [("openai-chat", None), ("openai-responses", None), ("anthropic", None), ("mistral", None),
           ("gemini", None), ("vertex", None), ("bedrock-converse", None), ("anthropic", "bedrock")]


@pytest.fixture
def pf(tmp_path):
    """The review moderation example with a data file of 8 rows: row 5 lacks a column."""
    shutil.copy(REPO / "examples" / "review_moderation.prompt", tmp_path / "moderation.prompt")
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "data").mkdir()
    rows = [{"text": f"review {i}", "stars": i % 5 + 1, "product": f"item {i}", "verified": i % 2 == 0,
             "lang": "en", "label": "publish"} for i in range(1, 9)]
    del rows[4]["product"]
    (tmp_path / "data" / "moderation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load(tmp_path / "moderation.prompt")


def line_validator(name: str, part: str) -> jsonschema.Draft202012Validator:
    doc = json.loads((BATCH / f"{name}_batch.schema.json").read_text())
    return jsonschema.Draft202012Validator({**doc, "$ref": f"#/$defs/{part}"})


def anthropic_validator(schema: str) -> jsonschema.Draft202012Validator:
    doc = json.loads((BATCH / "anthropic_batch.openapi.json").read_text())
    registry = Registry().with_resource("urn:batch", Resource.from_contents(doc, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:batch#/components/schemas/{schema}"}, registry=registry)


def write(pf, tmp_path, target, fmt, name="batch.jsonl"):
    rows, prompt = bulk.rows_of(pf, None)
    out = tmp_path / name
    written = batch_files.write_batch(pf, rows, target, out, prompt=prompt, fmt=fmt)
    return written, out


def model_input_errors(target: str, line: dict) -> list[str]:
    """The errors of a line's request body against the official request schema."""
    if target == "anthropic" and "modelInput" in line:  # Claude's InvokeModel body: the Messages body less model
        body = dict(line["modelInput"])
        assert body.pop("anthropic_version") == "bedrock-2023-05-31"
        return errors("anthropic", "CreateMessageParams", {**body, "model": "claude"})
    if "modelInput" in line:
        return bedrock_errors(line["modelInput"])
    if "request" in line and target == "vertex":  # the job names the model; the proto requires one
        request = {"model": "projects/p/locations/l/publishers/google/models/m", **line["request"]}
        return proto_schema.errors(request, "google.cloud.aiplatform.v1.GenerateContentRequest")
    body = line.get("body") or line.get("params") or line.get("request")
    return body_errors(backends.get(target).schema, body)


@pytest.mark.parametrize("target, fmt", TARGETS)
def test_every_line_validates_against_the_providers_batch_format(pf, tmp_path, target, fmt):
    written, out = write(pf, tmp_path, target, fmt)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert written.lines == len(lines) == 7 and [row for row, _why in written.rejected] == [5]
    assert "product_title" in written.rejected[0][1]
    name = written.format
    for line in lines:
        if name == "anthropic":
            assert not list(anthropic_validator("MessageBatchIndividualRequestParams").iter_errors(line))
        else:
            assert not list(line_validator(name, "input").iter_errors(line)), line
        assert model_input_errors(target, line) == []
    ids = [batch_files.row_of(name, line.get("custom_id") or line.get("key") or line.get("recordId")
                              or line.get("request", {}).get("labels", {}).get("polyprompt_row")) for line in lines]
    assert ids == [1, 2, 3, 4, 6, 7, 8]
    assert batch_files.target_of(out) == (target, name)  # what `batch --read --against` infers
    compiled = pf.compile(target, {"review": "review 1", "rating": 2, "product_title": "item 1",
                                   "verified_purchase": False}).body
    first = lines[0]
    if name == "openai":
        assert first["body"] == compiled and first["url"] == batch_files.OPENAI_URL[target]
    if name in ("vertex", "gemini"):
        assert "model" not in first["request"] and written.model == compiled["model"]
    if name == "bedrock":
        assert "modelId" not in first["modelInput"] and "model" not in first["modelInput"]


def test_an_anthropic_json_output_is_the_whole_create_request(pf, tmp_path):
    _written, out = write(pf, tmp_path, "anthropic", None, "requests.json")
    doc = json.loads(out.read_text())
    assert not list(anthropic_validator("CreateMessageBatchParams").iter_errors(doc))
    assert [r["custom_id"] for r in doc["requests"]] == ["row-1", "row-2", "row-3", "row-4", "row-6", "row-7", "row-8"]


def test_a_target_without_a_batch_engine_is_refused(pf, tmp_path):
    with pytest.raises(batch_files.BatchError, match="no provider batch engine"):
        write(pf, tmp_path, "ollama", None)
    with pytest.raises(batch_files.BatchError, match="cannot be a `bedrock` batch line"):
        write(pf, tmp_path, "openai-chat", "bedrock")


def reply(kind: str, text: str) -> dict:
    """A provider's reply to one request, in its documented shape."""
    if kind in ("openai-chat", "mistral"):
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 3, "total_tokens": 53}}
    if kind == "openai-responses":
        return {"id": "resp_1", "object": "response", "status": "completed", "model": "m",
                "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                            "content": [{"type": "output_text", "text": text, "annotations": []}]}],
                "usage": {"input_tokens": 50, "output_tokens": 3, "total_tokens": 53}}
    if kind == "anthropic":
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": 50, "output_tokens": 3}}
    if kind in ("gemini", "vertex"):
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 3, "totalTokenCount": 53}}
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
            "usage": {"inputTokens": 50, "outputTokens": 3, "totalTokens": 53}, "metrics": {"latencyMs": 300}}


def output_line(name: str, target: str, line: dict, body: dict | None, error: str | None) -> dict:
    """The provider's output line for an input line: its reply, or a failure in the documented shape."""
    if name in ("openai", "mistral"):
        if error:
            return {"id": "batch_req_1", "custom_id": line["custom_id"], "response": {
                "status_code": 400, "request_id": "req_1",
                "body": {"error": {"message": error, "type": "invalid_request_error", "param": None, "code": None}}},
                "error": None}
        return {"id": "batch_req_2", "custom_id": line["custom_id"],
                "response": {"status_code": 200, "request_id": "req_2", "body": body}, "error": None}
    if name == "anthropic":
        result = ({"type": "errored", "error": {"type": "error", "request_id": "req_011", "error": {
                      "type": "overloaded_error", "message": error}}}
                  if error else {"type": "succeeded", "message": body})
        return {"custom_id": line["custom_id"], "result": result}
    if name == "gemini":
        return ({"key": line["key"], "error": {"code": 429, "message": error, "status": "RESOURCE_EXHAUSTED"}}
                if error else {"key": line["key"], "response": body})
    if name == "vertex":
        return ({"request": line["request"], "status": error, "processed_time": "2026-12-05T12:00:00Z"} if error
                else {"request": line["request"], "response": body, "status": "", "processed_time": "2026-12-05T12:00:00Z"})
    if error:
        return {"recordId": line["recordId"], "modelInput": line["modelInput"],
                "error": {"errorCode": 400, "errorMessage": error}}
    return {"recordId": line["recordId"], "modelInput": line["modelInput"], "modelOutput": body}


@pytest.mark.parametrize("target, fmt", TARGETS)
def test_output_files_come_back_as_typed_values_joined_to_their_rows(pf, tmp_path, target, fmt):
    written, out = write(pf, tmp_path, target, fmt)
    name = written.format
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    kind = "anthropic" if target == "anthropic" else target
    output, exact = batch_files.lowered_output(pf, target, None, bulk.rows_of(pf, None)[0])
    assert exact

    def asked(value):  # the answer in the shape the target was asked for (strict schemas wrap it)
        return json.dumps({output.wrapped: value} if output.wrapped else value)

    answers = [asked("publish"), asked("reject"), "publish", None, asked("needs_review"), asked("publish")]  # row 8: none
    outputs = []
    for line, answer in zip(lines, answers):
        outputs.append(output_line(name, target, line, reply(kind, answer) if answer else None,
                                   None if answer else "the model is overloaded"))
    random.Random(7).shuffle(outputs)  # no provider promises the input order
    if name == "openai":
        for result in outputs:
            assert not list(line_validator("openai", "output").iter_errors(result))
    elif name == "anthropic":
        for result in outputs:
            assert not list(anthropic_validator("MessageBatchIndividualResponse").iter_errors(result)), result
    elif name in ("vertex", "bedrock"):
        for result in outputs:
            assert not list(line_validator(name, "output").iter_errors(result)), result
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(o) + "\n" for o in outputs))
    values = batch_files.read_results(pf, target, results, against=out, fmt=fmt, rows=bulk.rows_of(pf, None)[0])
    assert [v["row"] for v in values] == [1, 2, 3, 4, 6, 7, 8]
    by_row = {v["row"]: v for v in values}
    assert [by_row[r]["value"] for r in (1, 2, 6, 7)] == ["publish", "reject", "needs_review", "publish"]
    assert by_row[1]["error"] is None and by_row[1]["text"] == answers[0] and by_row[1]["usage"]
    assert by_row[3]["value"] is None and by_row[3]["error"].startswith("the reply does not parse")
    assert by_row[4]["value"] is None and "overloaded" in by_row[4]["error"]
    assert by_row[8]["error"] == "the output file has no result for this row"
    # without the input file, only the rows the output names
    assert [v["row"] for v in batch_files.read_results(pf, target, results, fmt=fmt)] == [1, 2, 3, 4, 6, 7]


def test_an_output_file_that_is_not_ours_is_refused_with_its_line(pf, tmp_path):
    results = tmp_path / "results.jsonl"
    results.write_text('{"custom_id": "row-1", "response": {"status_code": 200, "body": {}}, "error": null}\n'
                       '{"custom_id": "request-7", "response": null, "error": null}\n')
    with pytest.raises(batch_files.BatchError, match=r"results.jsonl:2: not a line of a openai batch output"):
        batch_files.read_results(pf, "openai-chat", results)
    results.write_text("{not json\n")
    with pytest.raises(batch_files.BatchError, match=r"results.jsonl:1: not JSON"):
        batch_files.read_results(pf, "openai-chat", results)


def test_openai_expired_and_cancelled_requests_are_row_errors(pf, tmp_path):
    results = tmp_path / "errors.jsonl"
    results.write_text(json.dumps({"id": "batch_req_9", "custom_id": "row-2", "response": None,
                                   "error": {"code": "batch_expired",
                                             "message": "This request could not be executed before the completion window expired."}}) + "\n")
    [value] = batch_files.read_results(pf, "openai-chat", results)
    assert value["row"] == 2 and value["error"].startswith("batch_expired: This request could not")


def test_ids_round_trip():
    for fmt in ("openai", "anthropic", "mistral", "gemini", "vertex", "bedrock"):
        for row in (1, 9, 123456, 9_999_999_999 if fmt == "bedrock" else 10**12):
            assert batch_files.row_of(fmt, batch_files.row_id(fmt, row)) == row
    assert batch_files.row_id("bedrock", 42) == "R0000000042"
    assert batch_files.row_of("openai", "row-01") is None and batch_files.row_of("bedrock", "R42") is None


def test_a_value_the_target_got_wrapped_is_read_unwrapped(tmp_path):
    """OpenAI's strict schemas take an object: an `int` output is asked as {"value": ...}. Reading
    parses with the output as lowered for the target, found by compiling the batch's first row."""
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "rows.jsonl").write_text('{"q": "2+1"}\n{"q": "2+2"}\n')
    (tmp_path / "count.prompt").write_text('prompt count(q: str) -> int {\n  user "{{ q }}"\n}\n\n'
                                           'dataset count "sums" from "rows.jsonl" {\n  q = row.q\n}\n')
    pf = load(tmp_path / "count.prompt")
    written, out = write(pf, tmp_path, "openai-chat", None)
    body = json.loads(out.read_text().splitlines()[0])["body"]
    assert "value" in json.dumps(body["response_format"])  # the schema asks for a wrapped value
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(output_line("openai", "openai-chat", line, reply("openai-chat", text), None))
                               + "\n" for line, text in zip([json.loads(x) for x in out.read_text().splitlines()],
                                                            ['{"value": 3}', '{"value": 4}'])))
    rows, prompt = bulk.rows_of(pf, None)
    values = batch_files.read_results(pf, "openai-chat", results, prompt=prompt, rows=rows)
    assert [(v["row"], v["value"], v["error"]) for v in values] == [(1, 3, None), (2, 4, None)]
    # without the rows the declared output stands in, and a wrapped value is read too
    assert [v["value"] for v in batch_files.read_results(pf, "openai-chat", results)] == [3, 4]
    # a row answered twice (an output file and an error file concatenated): the success wins
    failed = output_line("openai", "openai-chat", json.loads(out.read_text().splitlines()[0]), None, "server error")
    results.write_text(results.read_text() + json.dumps(failed) + "\n")
    assert batch_files.read_results(pf, "openai-chat", results, rows=bulk.rows_of(pf, None)[0])[0]["value"] == 3
