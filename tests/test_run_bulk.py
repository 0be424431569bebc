"""Bulk runs (run/bulk.py): rows compiled and sent with a concurrency limit, results in row order,
per-row errors, the reply cache, and resuming an interrupted run from its journal."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import REPO
from polyprompt.run import bulk
from polyprompt.run.cache import ReplyCache

PROMPT = textwrap.dedent('''\
    enum Label { good bad }

    prompt label(text: str, n: int = 0) -> Label {
      model "gpt-4o-mini" { temperature: 0 }
      user "Label: {{ text }} ({{ n }})"
    }

    dataset label "reviews" from "rows.jsonl" {
      text = row.text
      n = row.n
      where row.keep
      split test 30% seed 1
    }
    ''')


@pytest.fixture(autouse=True)
def _reply_cache_in_tmp(tmp_path, monkeypatch):
    """No test writes the user's own reply cache."""
    monkeypatch.setenv("POLYPROMPT_REPLY_CACHE_DIR", str(tmp_path / "reply-cache"))


def project(tmp_path: Path, rows: int = 40, bad: tuple[int, ...] = ()) -> Path:
    """A prompt file and its data: row i has text `t<i>`; the rows in `bad` have a string `n`."""
    (tmp_path / "pyproject.toml").write_text("")
    lines = []
    for i in range(1, rows + 1):
        lines.append(json.dumps({"text": f"t{i}", "n": "oops" if i in bad else i, "keep": i % 10 != 0}))
    (tmp_path / "rows.jsonl").write_text("\n".join(lines) + "\n")
    path = tmp_path / "label.prompt"
    path.write_text(PROMPT)
    return path


class FakeSender:
    """An async sender with a delay: answers `good` for even n, `bad` for odd; counts calls and the
    most in flight; fails the rows listed in `fail` with an error."""

    def __init__(self, delay: float = 0.01, fail: tuple[int, ...] = (), status: int | None = 500):
        self.delay, self.fail, self.status = delay, fail, status
        self.calls: list[int] = []
        self.in_flight = self.most = 0

    async def __call__(self, compiled):
        text = compiled.body["messages"][-1]["content"]
        n = int(text.rsplit("(", 1)[1].rstrip(")"))
        self.calls.append(n)
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        if n in self.fail:
            raise FakeApiError(self.status, f"server error for {n}")
        label = "good" if n % 2 == 0 else "bad"
        return Result(label, json.dumps(label), {"choices": []}, {"total_tokens": n}, 20.0, None, None)


class FakeApiError(Exception):
    """Duck-typed `run.api.ApiError`."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.provider, self.retryable = status, "openai-chat", status is not None and status >= 500


class Result:
    """Duck-typed `run.api.ApiResult`."""

    def __init__(self, value, text, raw, usage, latency_ms, parse_error, tool_calls):
        self.value, self.text, self.raw, self.usage = value, text, raw, usage
        self.latency_ms, self.parse_error, self.tool_calls = latency_ms, parse_error, tool_calls


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_run_concurrently_and_come_back_in_row_order(tmp_path):
    path = project(tmp_path)
    send = FakeSender(delay=0.02)
    out = tmp_path / "out.jsonl"
    summary = bulk.run_rows(path, "reviews", "openai-chat", send, out=out, concurrency=5, cache=None)
    lines = read(out)
    kept = [i for i in range(1, 41) if i % 10 != 0]  # `where row.keep`
    assert [line["row"] for line in lines] == kept
    assert all(line["value"] == ("good" if line["row"] % 2 == 0 else "bad") for line in lines)
    assert lines[0] == {"row": 1, "value": "bad", "text": '"bad"', "error": None, "usage": {"total_tokens": 1},
                        "latency_ms": 20.0, "tool_calls": None, "cached": False}
    assert send.most == 5 and sorted(send.calls) == kept
    assert (summary.rows, summary.sent, summary.errors) == (36, 36, 0)
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_input_errors_and_api_errors_are_rows_not_crashes(tmp_path):
    path = project(tmp_path, rows=8, bad=(3,))
    send = FakeSender(fail=(5,))
    out = tmp_path / "out.jsonl"
    summary = bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=None)
    by_row = {line["row"]: line for line in read(out)}
    assert by_row[3]["value"] is None and "n" in by_row[3]["error"] and "int" in by_row[3]["error"]
    assert by_row[5]["error"] == "FakeApiError: server error for 5"
    assert by_row[4]["error"] is None and by_row[4]["value"] == "good"
    assert 3 not in send.calls  # a row that does not fit the prompt is never sent
    assert summary.errors == 2


def test_a_reply_that_does_not_parse_is_the_rows_error(tmp_path):
    path = project(tmp_path, rows=2)

    async def send(compiled):
        return Result(None, "maybe", {}, None, 5.0, "not one of good, bad", None)

    out = tmp_path / "out.jsonl"
    cache = ReplyCache(tmp_path / "c")
    bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=cache)
    line = read(out)[0]
    assert line["text"] == "maybe" and line["error"] == "the reply does not parse: not one of good, bad"
    assert cache.stores == 0  # never cached: the next run asks again


def test_a_split_and_inputs_given_directly(tmp_path):
    path = project(tmp_path)
    out = tmp_path / "test.jsonl"
    bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=out, split="test", cache=None)
    test_rows = [line["row"] for line in read(out)]
    bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=tmp_path / "train.jsonl", split="train", cache=None)
    train_rows = [line["row"] for line in read(tmp_path / "train.jsonl")]
    assert test_rows and train_rows and not set(test_rows) & set(train_rows)
    assert sorted(test_rows + train_rows) == [i for i in range(1, 41) if i % 10 != 0]
    with pytest.raises(bulk.BulkError, match="no split `dev`"):
        bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=out, split="dev", cache=None)
    bulk.run_rows(path, [{"text": "x", "n": 2}, {"text": "y"}, "junk"], "openai-chat", FakeSender(0),
                  out=tmp_path / "direct.jsonl", cache=None)
    direct = read(tmp_path / "direct.jsonl")
    assert [(d["row"], d["value"]) for d in direct[:2]] == [(1, "good"), (2, "good")]
    assert "mapping" in direct[2]["error"]


def test_a_second_run_is_served_by_the_cache(tmp_path):
    path = project(tmp_path, rows=12)
    cache = ReplyCache(tmp_path / "c")
    first = FakeSender(fail=(4,))
    bulk.run_rows(path, "reviews", "openai-chat", first, out=tmp_path / "a.jsonl", cache=cache)
    second = FakeSender()
    summary = bulk.run_rows(path, "reviews", "openai-chat", second, out=tmp_path / "b.jsonl", cache=cache)
    assert second.calls == [4]  # the error was not cached: only that row is asked again
    assert summary.cached == 10 and summary.sent == 1
    b = read(tmp_path / "b.jsonl")
    assert all(line["cached"] for line in b if line["row"] != 4)
    strip = [{k: v for k, v in line.items() if k != "cached"} for line in b]
    assert [line for line in strip if line["row"] != 4] == [
        {k: v for k, v in line.items() if k != "cached"} for line in read(tmp_path / "a.jsonl") if line["row"] != 4]
    # another endpoint (a base URL) is another request
    third = FakeSender()
    bulk.run_rows(path, "reviews", "openai-chat", third, out=tmp_path / "c.jsonl", cache=cache,
                  endpoint={"base_url": "http://127.0.0.1:9/v1"})
    assert len(third.calls) == 11


def test_an_authentication_error_stops_the_run_and_keeps_the_journal(tmp_path):
    path = project(tmp_path, rows=30)
    send = FakeSender(fail=(12,), status=401)
    out = tmp_path / "out.jsonl"
    with pytest.raises(bulk.BulkError, match="refused"):
        bulk.run_rows(path, "reviews", "openai-chat", send, out=out, concurrency=2, cache=None)
    assert not out.exists() and (tmp_path / "out.jsonl.partial").exists()
    assert len(send.calls) < 27
    again = FakeSender()
    bulk.run_rows(path, "reviews", "openai-chat", again, out=out, concurrency=2, cache=None)
    assert 12 in again.calls and 1 not in again.calls
    assert len(read(out)) == 27


def test_a_changed_row_is_sent_again_on_resume(tmp_path):
    path = project(tmp_path, rows=5)
    out = tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.partial"
    first = FakeSender()
    bulk.run_rows(path, "reviews", "openai-chat", first, out=out, cache=None)
    # an interrupted run's journal, with a torn last line
    lines = [json.dumps(line) + "\t" for line in read(out)]
    os.unlink(out)
    send = FakeSender()
    bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=None)
    assert len(send.calls) == 5  # keyless journal lines (from another request) are not trusted
    journal.write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    send = FakeSender()
    bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=None)
    assert len(read(out)) == 5


KILL_SCRIPT = textwrap.dedent('''\
    import asyncio, json, os, sys
    sys.path.insert(0, {tests!r})
    from test_run_bulk import FakeSender
    from polyprompt.run import bulk

    class Logged(FakeSender):
        async def __call__(self, compiled):
            n = int(compiled.body["messages"][-1]["content"].rsplit("(", 1)[1].rstrip(")"))
            fd = os.open({log!r}, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{{n}}\\n".encode()); os.close(fd)
            return await super().__call__(compiled)

    bulk.run_rows({path!r}, "reviews", "openai-chat", Logged(delay=float(sys.argv[1])), out={out!r},
                  concurrency=4, cache=None)
    ''')


def test_a_killed_run_resumes_without_sending_a_finished_row_again(tmp_path):
    path = project(tmp_path, rows=200)
    bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=tmp_path / "whole.jsonl", cache=None)
    out, log = tmp_path / "out.jsonl", tmp_path / "sent.log"
    script = tmp_path / "run.py"
    script.write_text(KILL_SCRIPT.format(tests=str(REPO / "tests"), log=str(log), path=str(path), out=str(out)))
    env = {**os.environ, "POLYPROMPT_REPLY_CACHE": "0"}
    proc = subprocess.Popen([sys.executable, str(script), "0.02"], env=env, cwd=tmp_path)
    journal = tmp_path / "out.jsonl.partial"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.exists() and journal.read_bytes().count(b"\n") >= 40:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists(), "killed mid-way: no final file"
    done_before = {json.loads(line.rpartition("\t")[0])["row"] for line in journal.read_text().splitlines()
                   if len(line.rpartition("\t")[2]) == 64}
    assert 40 <= len(done_before) < 180
    sent_before = [int(n) for n in log.read_text().split()]
    log.unlink()
    subprocess.run([sys.executable, str(script), "0"], env=env, cwd=tmp_path, check=True)
    sent_after = [int(n) for n in log.read_text().split()]
    assert out.read_text() == (tmp_path / "whole.jsonl").read_text()
    twice = set(sent_before) & set(sent_after)
    assert not twice & done_before and len(twice) <= 4  # only rows in flight at the kill go again
    assert sorted(set(sent_before) | set(sent_after)) == sorted(line["row"] for line in read(out))
    assert not journal.exists()


def test_restart_sends_every_row_and_the_progress_bar_counts_rows(tmp_path, capsys):
    pytest.importorskip("tqdm")
    path = project(tmp_path, rows=6)
    out = tmp_path / "out.jsonl"
    bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=out, cache=None)
    (tmp_path / "out.jsonl.partial").write_text(out.read_text().replace("\n", "\t" + "0" * 64 + "\n"))
    send = FakeSender(0)
    bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=None, resume=False, progress=True)
    assert len(send.calls) == 6
    bar = capsys.readouterr().err
    assert "6 rows" in bar and "rows/s" in bar and "errors=0" in bar
    bulk.run_rows(path, "reviews", "openai-chat", FakeSender(0), out=out, cache=None)  # not a terminal: silent
    assert capsys.readouterr().err == ""


def test_a_sender_may_answer_with_a_mapping(tmp_path):
    path = project(tmp_path, rows=1)

    async def send(compiled):
        return {"value": "good", "text": '"good"', "raw": {}, "usage": None, "latency_ms": 3.0,
                "parse_error": None, "tool_calls": [{"name": "lookup", "arguments": {"id": 1}}]}

    out = tmp_path / "out.jsonl"
    bulk.run_rows(path, "reviews", "openai-chat", send, out=out, cache=None)
    assert read(out)[0]["tool_calls"] == [{"name": "lookup", "arguments": {"id": 1}}]
    assert read(out)[0]["latency_ms"] == 3.0
