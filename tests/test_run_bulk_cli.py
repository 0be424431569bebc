"""The command line of bulk runs and batch files (polyprompt/cli_bulk.py): the `bulk_options` a
`run` command takes with `run_bulk`, and `polyprompt batch` (write, then --read)."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from polyprompt.cli import cli
from polyprompt.cli_bulk import BULK_KEYS, bulk_options, run_bulk, wants_bulk
from test_run_bulk import FakeSender, project, read

SENDER: list = []


@click.command()
@click.argument("file")
@click.option("-t", "--target", required=True)
@click.option("-p", "--prompt")
@bulk_options
def run_cmd(file, target, prompt, **options):
    """A `run` command as polyprompt/cli_run.py wires it: bulk options go to `run_bulk`."""
    assert set(options) == set(BULK_KEYS)
    if wants_bulk(options):
        run_bulk(file, target, prompt, options, send=SENDER[-1])
    click.echo("one request")


@pytest.fixture(autouse=True)
def _reply_cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYPROMPT_REPLY_CACHE_DIR", str(tmp_path / "reply-cache"))


def invoke(command, args, send=None):
    SENDER.append(send or FakeSender(0))
    return CliRunner().invoke(command, [str(a) for a in args])


def test_a_dataset_run_writes_results_and_a_second_run_hits_the_cache(tmp_path):
    path = project(tmp_path, rows=12)
    out = tmp_path / "out.jsonl"
    first = FakeSender(0)
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews", "--split", "train",
                              "--concurrency", "3", "-o", out], first)
    assert result.exit_code == 0, result.output
    assert "rows (" in result.output and "0 errors" in result.output
    rows = [line["row"] for line in read(out)]
    assert rows and sorted(first.calls) == rows
    second = FakeSender(0)
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews", "--split", "train", "-o", out], second)
    assert result.exit_code == 0 and second.calls == [] and f"{len(rows)} from the cache" in result.output
    third = FakeSender(0)
    invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews", "--split", "train", "-o", out, "--no-cache"],
           third)
    assert sorted(third.calls) == rows


def test_data_with_bindings_and_row_errors(tmp_path):
    path = project(tmp_path, rows=4)
    data = tmp_path / "other.jsonl"
    data.write_text('{"body": "a", "k": 2}\n{"body": "b", "k": "x"}\n{"body": "c", "k": 5}\n')
    out = tmp_path / "out.jsonl"
    send = FakeSender(0, fail=(5,))
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--data", data, "--bind", "text=row.body", "--bind", "n=row.k",
                              "-o", out, "--no-cache"], send)
    assert result.exit_code == 1, result.output  # some rows failed; the file is written all the same
    lines = read(out)
    assert [line["value"] for line in lines] == ["good", None, None]
    assert "int" in lines[1]["error"] and "server error" in lines[2]["error"]
    data.write_text('{"text": "a", "n": 4}\n')  # without --bind, each parameter reads its own column
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--data", data, "-o", out, "--no-cache"])
    assert result.exit_code == 0 and read(out)[0]["value"] == "good"


def test_usage_errors_are_one_line(tmp_path):
    path = project(tmp_path, rows=2)
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews"])
    assert result.exit_code == 2 and "-o results.jsonl" in result.output
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews", "--data", "x.jsonl", "-o", "o"])
    assert result.exit_code == 2 and "give one" in result.output
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "nope", "-o", tmp_path / "o.jsonl"])
    assert result.exit_code == 1 and "no dataset `nope`" in result.output
    result = invoke(run_cmd, [path, "-t", "openai-chat", "--dataset", "reviews", "--split", "dev", "-o", tmp_path / "o"])
    assert result.exit_code == 1 and "no split `dev`" in result.output
    result = invoke(run_cmd, [path, "-t", "nosuch", "--dataset", "reviews", "-o", tmp_path / "o.jsonl"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert invoke(run_cmd, [path, "-t", "openai-chat"]).output.strip() == "one request"


def test_batch_write_then_read_back(tmp_path):
    path = project(tmp_path, rows=5, bad=(2,))
    batch = tmp_path / "batch.jsonl"
    result = CliRunner().invoke(cli, ["batch", str(path), "--dataset", "reviews", "-t", "openai-responses",
                                      "-o", str(batch)])
    assert result.exit_code == 1 and "row 2: not written" in result.output  # one row did not fit the prompt
    assert "4 openai batch lines" in result.output
    lines = [json.loads(line) for line in batch.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ["row-1", "row-3", "row-4", "row-5"]
    outputs = [{"id": "b1", "custom_id": line["custom_id"], "error": None, "response": {
        "status_code": 200, "request_id": "r", "body": {"output": [{"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": '{"value": "good"}'}]}], "usage": {"total_tokens": 3}}}}  # as asked: wrapped
               for line in lines[1:]]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(o) + "\n" for o in reversed(outputs)))
    values = tmp_path / "values.jsonl"
    result = CliRunner().invoke(cli, ["batch", str(path), "--read", str(results), "--against", str(batch),
                                      "-o", str(values)])
    assert result.exit_code == 1 and "4 rows, 3 values, 1 errors" in result.output
    got = [json.loads(line) for line in values.read_text().splitlines()]
    assert [(v["row"], v["value"]) for v in got] == [(1, None), (3, "good"), (4, "good"), (5, "good")]
    assert got[0]["error"] == "the output file has no result for this row"
    result = CliRunner().invoke(cli, ["batch", str(path), "--read", str(results), "-o", str(values)])
    assert result.exit_code == 2 and "--against" in result.output
    result = CliRunner().invoke(cli, ["batch", str(path), "--dataset", "reviews", "-t", "ollama", "-o", str(batch)])
    assert result.exit_code == 1 and "no provider batch engine" in result.output


def test_an_api_target_without_the_api_client_is_one_clear_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("polyprompt.run.api") is not None:
        pytest.skip("the API client is there: `run` passes its sender")
    path = project(tmp_path, rows=2)
    SENDER.append(None)
    result = CliRunner().invoke(run_cmd, [str(path), "-t", "openai-chat", "--dataset", "reviews",
                                          "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "no API client" in result.output
