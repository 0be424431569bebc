"""Retries, timeouts, errors and streams of API runs against the fake providers over real HTTP
(issue 16 item 1): 429 with Retry-After, 500, 400 with the provider's message, a malformed body,
a stalled connection, streamed replies on every target, a mid-stream error; the CLI's exit codes."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("httpx")
pytest.importorskip("botocore")

import polyprompt  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from fake_providers import ANSWER, KEYS, PREFIX, FakeProviders, env  # noqa: E402
from polyprompt.run.api import ApiError, Client  # noqa: E402
from polyprompt.run.retry import Backoff, retry_after  # noqa: E402

FAST = Backoff(base=0.01, cap=0.05)
VALUE = json.loads(ANSWER)
PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
tool lookup(order_id: str) "Look up an order."
prompt triage(ticket: str) -> Triage {
  tools lookup
  user "{{ ticket }}"
}
'''
KINDS = sorted(k for k in PREFIX if k != "vertex")  # Vertex: as Gemini, with ADC (tests/test_run_api.py)


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(scope="module")
def prompt_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("err") / "t.prompt"
    path.write_text(PROMPT)
    return path


@pytest.fixture(scope="module")
def pf(prompt_path):
    return polyprompt.load(prompt_path)


@pytest.fixture(autouse=True)
def no_problems(fake):
    yield
    problems, fake.problems[:] = list(fake.problems), []
    assert problems == []


def client(fake, kind, **options):
    options.setdefault("backoff", FAST)
    options.setdefault("timeout", 5.0)
    return Client(base_url=fake.base(kind), env=env(), **options)


def test_429_is_retried_after_the_retry_after_seconds(fake, pf):
    fake.plan("anthropic", {"status": 429, "headers": {"Retry-After": "1"}, "message": "slow down"})
    start = time.perf_counter()
    with client(fake, "anthropic") as c:
        result = c.send(pf.compile("anthropic", {"ticket": "t"}))
    assert time.perf_counter() - start >= 1.0
    assert result.value == VALUE and result.attempts == 2


@pytest.mark.parametrize("status", [500, 503, 529, 408])
def test_server_errors_are_retried(fake, pf, status):
    fake.plan("openai-chat", {"status": status}, {"status": status})
    with client(fake, "openai-chat") as c:
        result = c.send(pf.compile("openai-chat", {"ticket": "t"}))
    assert result.value == VALUE and result.attempts == 3


def test_retries_end_with_one_clear_error(fake, pf):
    fake.plan("gemini", *[{"status": 503, "message": "The model is overloaded."}] * 3)
    with client(fake, "gemini", max_retries=2) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("gemini", {"ticket": "t"}))
    assert str(err.value) == "gemini: HTTP 503: UNKNOWN: The model is overloaded. (after 3 attempts)"
    assert err.value.status == 503 and err.value.retryable and err.value.provider == "gemini"


@pytest.mark.parametrize("kind", KINDS)
def test_a_400_quotes_the_provider_message_and_is_not_retried(fake, pf, kind):
    before = fake.count(kind)
    fake.plan(kind, {"status": 400, "message": "max_tokens: must be at most 8192"})
    with client(fake, kind) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile(kind, {"ticket": "t"}))
    assert "HTTP 400" in str(err.value) and "max_tokens: must be at most 8192" in str(err.value)
    assert "\n" not in str(err.value) and not err.value.retryable
    assert fake.count(kind) == before + 1


def test_a_401_says_the_credentials_were_refused(fake, pf):
    fake.plan("mistral", {"status": 401, "message": "Unauthorized"})
    with client(fake, "mistral") as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("mistral", {"ticket": "t"}))
    assert str(err.value) == ("mistral: HTTP 401: the credentials were refused (invalid_request_error: Unauthorized); "
                              "check MISTRAL_API_KEY")
    assert err.value.kind == "auth"


def test_a_missing_key_names_the_variable_and_sends_nothing(fake, pf):
    before = len(fake.requests)
    with Client(base_url=fake.base("anthropic"), env={}) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("anthropic", {"ticket": "t"}))
    assert str(err.value) == "anthropic: no API key: set ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN"
    assert err.value.kind == "config" and len(fake.requests) == before


def test_a_malformed_body_is_an_error(fake, pf):
    fake.plan("openai-responses", "malformed")
    with client(fake, "openai-responses") as c, pytest.raises(ApiError, match="the reply is not a JSON object"):
        c.send(pf.compile("openai-responses", {"ticket": "t"}))


def test_a_stalled_connection_times_out_then_is_retried(fake, pf):
    fake.plan("ollama", {"stall": 5})
    start = time.perf_counter()
    with client(fake, "ollama", timeout=0.3, max_retries=0) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("ollama", {"ticket": "t"}))
    assert time.perf_counter() - start < 2
    assert str(err.value).startswith("ollama: timed out after 0.3 s waiting for the reply (127.0.0.1:")
    assert err.value.retryable and err.value.status is None
    fake.plan("ollama", {"stall": 5})
    with client(fake, "ollama", timeout=0.3, max_retries=1) as c:
        assert c.send(pf.compile("ollama", {"ticket": "t"})).attempts == 2


def test_a_refused_connection_is_one_line():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pf_path_free = Client(base_url=f"http://127.0.0.1:{port}", env=env(), max_retries=1, backoff=FAST)
    compiled = _simple("openai-chat")
    with pf_path_free as c, pytest.raises(ApiError) as err:
        c.send(compiled)
    assert str(err.value).startswith(f"openai-chat: cannot reach 127.0.0.1:{port}: ")
    assert str(err.value).endswith("(after 2 attempts)")


def _simple(target):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "s.prompt"
    path.write_text('prompt p() {\n  user "hi"\n}\n')
    return polyprompt.load(path).compile(target, {})


def test_asend_retries_too(fake, pf):
    fake.plan("anthropic", {"status": 529, "message": "Overloaded"})

    async def go():
        async with client(fake, "anthropic") as c:
            return await c.asend(pf.compile("anthropic", {"ticket": "t"}))

    assert asyncio.run(go()).attempts == 2


# ---------------------------------------------------------------- streams


@pytest.mark.parametrize("kind", KINDS)
def test_streams_give_the_text_as_it_arrives_then_the_result(fake, pf, kind):
    with client(fake, kind) as c:
        stream = c.stream(pf.compile(kind, {"ticket": "t"}))
        deltas = list(stream)
    assert len(deltas) >= 2 and "".join(deltas) == ANSWER
    assert stream.result.value == VALUE and stream.result.usage == {"input_tokens": 12, "output_tokens": 7}
    assert not fake.problems


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_tool_calls_are_gathered(fake, pf, kind):
    fake.plan(kind, "tool")
    with client(fake, kind) as c:
        stream = c.stream(pf.compile(kind, {"ticket": "t"}))
        assert "".join(stream) == ""
    assert [(t.name, t.arguments) for t in stream.result.tool_calls] == [("lookup", {"order_id": "A1"})]


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic", "gemini", "ollama", "bedrock-converse"])
def test_async_streams(fake, pf, kind):
    async def go():
        async with client(fake, kind) as c:
            stream = c.astream(pf.compile(kind, {"ticket": "t"}))
            return [d async for d in stream], stream.result

    deltas, result = asyncio.run(go())
    assert "".join(deltas) == ANSWER and result.value == VALUE


@pytest.mark.parametrize("kind", ["anthropic", "openai-responses", "bedrock-converse", "ollama", "mistral"])
def test_a_mid_stream_error_is_an_api_error(fake, pf, kind):
    fake.plan(kind, {"stream_error": "Overloaded"})
    with client(fake, kind) as c, pytest.raises(ApiError, match="the stream failed: .*Overloaded"):
        list(c.stream(pf.compile(kind, {"ticket": "t"})))


@pytest.mark.parametrize("kind", KINDS)
def test_a_stream_cut_before_its_end_is_an_error(fake, pf, kind):
    fake.plan(kind, {"stream_cut": 2})
    with client(fake, kind) as c, pytest.raises(ApiError, match="the stream ended before the reply was complete"):
        list(c.stream(pf.compile(kind, {"ticket": "t"})))


def test_a_stream_is_retried_before_it_starts(fake, pf):
    fake.plan("openai-chat", {"status": 429, "headers": {"retry-after-ms": "20"}})
    with client(fake, "openai-chat") as c:
        stream = c.stream(pf.compile("openai-chat", {"ticket": "t"}))
        assert "".join(stream) == ANSWER
    assert stream.result.attempts == 2


def test_without_the_api_extra_run_says_what_to_install(prompt_path, tmp_path):
    from fresh_process import fresh

    inputs = tmp_path / "in.json"
    inputs.write_text('{"ticket": "t"}')
    result = fresh(cli=["run", str(prompt_path), "-t", "anthropic", "-i", str(inputs)], block=("httpx",))
    assert result.returncode == 2, result.describe()
    assert result.stderr == ("error: running a prompt on an API target needs the api extra: "
                             "pip install 'polyprompt[api]' (no module named 'httpx')\n")


# ---------------------------------------------------------------- backoff


def test_backoff_is_full_jitter_capped_and_honours_hints():
    backoff = Backoff(base=0.5, cap=8.0, max_retry_after=60)
    assert backoff.delay(0, {}, rand=lambda: 1.0) == 0.5
    assert backoff.delay(3, {}, rand=lambda: 1.0) == 4.0
    assert backoff.delay(10, {}, rand=lambda: 1.0) == 8.0
    assert backoff.delay(10, {}, rand=lambda: 0.0) == 0.0
    assert backoff.delay(0, {"retry-after": "7"}) == 7.0
    assert backoff.delay(0, {"retry-after": "7000"}) == 60.0
    assert backoff.delay(0, {"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_reads_http_dates():
    now = 1_700_000_000.0
    assert retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, now=now) == 30.0
    assert retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:00 GMT"}, now=now) == 0.0
    assert retry_after({"retry-after": "soon"}) is None and retry_after({"retry-after": "nan"}) is None


# ---------------------------------------------------------------- the command line


def cli(*args, **env_vars):
    from polyprompt.cli import cli as command

    return CliRunner().invoke(command, ["run", *map(str, args)], env={**{k: None for k in KEYS}, **env_vars})


def test_cli_runs_an_api_target(fake, prompt_path, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text('{"ticket": "charged twice"}')
    result = cli(prompt_path, "-t", "anthropic", "-i", inputs, "--base-url", fake.base("anthropic"), **KEYS)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == VALUE
    result = cli(prompt_path, "-t", "openai-chat", "-i", inputs, "--base-url", fake.base("openai-chat"), "--json", **KEYS)
    out = json.loads(result.stdout)
    assert out["value"] == VALUE and out["usage"] == {"input_tokens": 12, "output_tokens": 7}
    assert out["latency_ms"] > 0 and out["raw"]["object"] == "chat.completion" and out["target"] == "openai-chat"


def test_cli_streams(fake, prompt_path, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text('{"ticket": "charged twice"}')
    result = cli(prompt_path, "-t", "gemini", "-i", inputs, "--stream", "--base-url", fake.base("gemini"), **KEYS)
    assert result.exit_code == 0 and result.stdout.startswith(ANSWER + "\n")


def test_cli_exit_codes(fake, prompt_path, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text('{"ticket": "t"}')
    missing = cli(prompt_path, "-t", "mistral", "-i", inputs, "--base-url", fake.base("mistral"))
    assert (missing.exit_code, missing.stderr) == (2, "error: mistral: no API key: set MISTRAL_API_KEY\n")
    fake.plan("mistral", {"status": 400, "message": "Invalid model"})
    bad = cli(prompt_path, "-t", "mistral", "-i", inputs, "--base-url", fake.base("mistral"), **KEYS)
    assert bad.exit_code == 1 and bad.stderr == "error: mistral: HTTP 400: invalid_request_error: Invalid model\n"
    fake.plan("mistral", {"status": 403, "message": "Forbidden"})
    refused = cli(prompt_path, "-t", "mistral", "-i", inputs, "--base-url", fake.base("mistral"), **KEYS)
    assert refused.exit_code == 2 and "credentials were refused" in refused.stderr
    with FakeProviders(answer="not json at all") as other:
        unparsed = cli(prompt_path, "-t", "mistral", "-i", inputs, "--base-url", other.base("mistral"), **KEYS)
    assert unparsed.exit_code == 1 and unparsed.stdout == "not json at all\n"
    assert unparsed.stderr.startswith("error: ")
    timeout = cli(prompt_path, "-t", "mistral", "-i", inputs, "--base-url", "http://127.0.0.1:9", "--retries", "0",
                  **KEYS)
    assert timeout.exit_code == 1 and timeout.stderr.startswith("error: mistral: cannot reach 127.0.0.1:9")


def test_cli_max_reply_bytes_bounds_the_reply(fake, prompt_path, tmp_path):
    inputs = tmp_path / "in.json"
    inputs.write_text('{"ticket": "t"}')
    fake.plan("anthropic", {"pad": 5000})
    small = cli(prompt_path, "-t", "anthropic", "-i", inputs, "--base-url", fake.base("anthropic"),
                "--max-reply-bytes", "1000", **KEYS)
    assert small.exit_code == 1 and "over the limit of 1000 bytes" in small.stderr, small.output
    fake.plan("anthropic", {"pad": 5000})
    roomy = cli(prompt_path, "-t", "anthropic", "-i", inputs, "--base-url", fake.base("anthropic"),
                "--max-reply-bytes", "100000", **KEYS)
    assert roomy.exit_code == 0 and json.loads(roomy.stdout) == VALUE
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"ticket": "a"}\n')
    fake.plan("anthropic", {"pad": 5000})
    bulk = cli(prompt_path, "-t", "anthropic", "--data", rows, "-o", tmp_path / "out.jsonl", "--no-cache",
               "--base-url", fake.base("anthropic"), "--max-reply-bytes", "1000", **KEYS)
    assert "over the limit of 1000 bytes" in (tmp_path / "out.jsonl").read_text() + bulk.output, bulk.output


# ---------------------------------------------------------------- a longer wait than the client makes


@pytest.mark.parametrize("headers", [{"Retry-After": "3600"}, {"retry-after-ms": "600000"},
                                     {"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}])
def test_a_retry_after_past_the_cap_stops_at_once_with_the_wait(fake, pf, headers):
    before = fake.count("anthropic")
    fake.plan("anthropic", {"status": 429, "headers": headers, "message": "Number of request tokens has exceeded "
                                                                         "your daily rate limit"})
    start = time.perf_counter()
    with client(fake, "anthropic") as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("anthropic", {"ticket": "t"}))
    assert time.perf_counter() - start < 1.0, "no silent wait"
    assert fake.count("anthropic") == before + 1, "not asked again sooner than the provider said"
    text = str(err.value)
    assert text.startswith("anthropic: HTTP 429: rate_limit_error: Number of request tokens has exceeded your daily "
                           "rate limit; the provider asked to wait ")
    assert text.endswith(" s before trying again, longer than the 120 s this client waits "
                         "(Backoff(max_retry_after=...)): try again later")
    assert err.value.wait > 120 and not err.value.retryable and err.value.status == 429


def test_the_cap_is_the_backoffs_and_a_wait_within_it_is_made(fake, pf):
    fake.plan("openai-chat", {"status": 429, "headers": {"Retry-After": "0.4"}})
    start = time.perf_counter()
    with client(fake, "openai-chat", backoff=Backoff(base=0.01, cap=0.05, max_retry_after=0.5)) as c:
        assert c.send(pf.compile("openai-chat", {"ticket": "t"})).attempts == 2
    assert time.perf_counter() - start >= 0.4
    fake.plan("openai-chat", {"status": 503, "headers": {"Retry-After": "2"}})
    with client(fake, "openai-chat", backoff=Backoff(base=0.01, cap=0.05, max_retry_after=0.5)) as c, \
            pytest.raises(ApiError, match=r"HTTP 503: .*; the provider asked to wait 2 s before trying again, "
                                          r"longer than the 0.5 s this client waits"):
        c.send(pf.compile("openai-chat", {"ticket": "t"}))


@pytest.mark.parametrize("mode", ["stream", "async"])
def test_streams_and_async_calls_stop_the_same_way(fake, pf, mode):
    fake.plan("gemini", {"status": 429, "headers": {"Retry-After": "900"}})

    async def go():
        async with client(fake, "gemini") as c:
            await c.asend(pf.compile("gemini", {"ticket": "t"}))

    with pytest.raises(ApiError, match="the provider asked to wait 900 s") as err:
        if mode == "stream":
            with client(fake, "gemini") as c:
                list(c.stream(pf.compile("gemini", {"ticket": "t"})))
        else:
            asyncio.run(go())
    assert pickle_roundtrip(err.value).wait == 900


def pickle_roundtrip(value):
    import pickle

    return pickle.loads(pickle.dumps(value))
