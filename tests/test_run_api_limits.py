"""The bound on a provider's reply (issue 16, finishing item 1): a reply over the client's
`max_reply_bytes`, plain or streamed, declared or chunked without end, is one ApiError and is
never read past the bound. Against the fake providers over real HTTP."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("httpx")

import polyprompt  # noqa: E402
from fake_providers import ANSWER, FakeProviders, env, reply  # noqa: E402
from polyprompt.run.api import ApiError, Client  # noqa: E402
from polyprompt.run.limits import DEFAULT_MAX_REPLY_BYTES, LineSplitter, lines  # noqa: E402
from polyprompt.run.retry import Backoff  # noqa: E402

LIMIT = 1 << 20
VALUE = json.loads(ANSWER)


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    path = tmp_path_factory.mktemp("limits") / "t.prompt"
    path.write_text('type Triage { category: str, urgent: bool, note?: str }\n'
                    'prompt triage(ticket: str) -> Triage {\n  user "{{ ticket }}"\n}\n')
    return polyprompt.load(path)


def client(fake, kind, limit=LIMIT, **options):
    return Client(base_url=fake.base(kind), env=env(), max_reply_bytes=limit, timeout=10.0,
                  backoff=Backoff(base=0.01, cap=0.02), **options)


def padded_size(kind: str, pad: int) -> int:
    """The bytes of the fake's answer with `pad` bytes of padding (as the fake writes it)."""
    return len(json.dumps({**reply(kind, ANSWER, None, "fake-model"), "padding": "x" * pad}).encode())


def test_the_default_bound_is_32_mib():
    assert DEFAULT_MAX_REPLY_BYTES == 32 * 1024 * 1024
    with pytest.raises(ValueError, match="max_reply_bytes"):
        Client(max_reply_bytes=0)


def test_a_reply_at_the_bound_is_read(fake, pf):
    with client(fake, "anthropic", limit=padded_size("anthropic", 5000)) as c:
        assert c.send(pf.compile("anthropic", {"ticket": "t"})).value == VALUE
    fake.plan("anthropic", {"pad": 5000})
    with client(fake, "anthropic", limit=padded_size("anthropic", 5000)) as c:
        assert c.send(pf.compile("anthropic", {"ticket": "t"})).value == VALUE


def test_a_declared_larger_reply_is_refused_unread_and_not_retried(fake, pf):
    size = padded_size("openai-chat", 5001)
    before = fake.count("openai-chat")
    fake.plan("openai-chat", {"pad": 5001})
    with client(fake, "openai-chat", limit=size - 1) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("openai-chat", {"ticket": "t"}))
    assert str(err.value) == (f"openai-chat: the reply is {size} bytes, over the limit of {size - 1} bytes "
                              f"(--max-reply-bytes, Client(max_reply_bytes=...)); it was not read further")
    assert err.value.kind == "provider" and not err.value.retryable and err.value.status == 200
    assert fake.count("openai-chat") == before + 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_endless_chunked_reply_stops_at_the_bound(fake, pf, mode):
    fake.plan("mistral", {"endless": "json"})
    compiled = pf.compile("mistral", {"ticket": "t"})
    started = time.perf_counter()
    with pytest.raises(ApiError) as err:
        if mode == "sync":
            with client(fake, "mistral") as c:
                c.send(compiled)
        else:
            async def go():
                async with client(fake, "mistral") as c:
                    await c.asend(compiled)
            asyncio.run(go())
    assert str(err.value) == (f"mistral: the reply is more than {LIMIT} bytes, over the limit of {LIMIT} bytes "
                              f"(--max-reply-bytes, Client(max_reply_bytes=...)); it was not read further")
    assert time.perf_counter() - started < 10
    _server_stopped(fake)


def _server_stopped(fake) -> None:
    """The server's endless writer hit the closed connection (socket buffers hold a few MiB at most)."""
    deadline = time.time() + 5
    last = -1
    while time.time() < deadline and fake.sent != last:
        last = fake.sent
        time.sleep(0.2)
    assert fake.sent == last and fake.sent < 64 * LIMIT


@pytest.mark.parametrize("what", ["events", "line"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_endless_stream_stops_at_the_bound(fake, pf, what, mode):
    fake.plan("openai-chat", {"endless": what})
    compiled = pf.compile("openai-chat", {"ticket": "t"})
    deltas: list[str] = []
    with pytest.raises(ApiError, match=f"openai-chat: the reply is more than {LIMIT} bytes") as err:
        if mode == "sync":
            with client(fake, "openai-chat") as c:
                for delta in c.stream(compiled):
                    deltas.append(delta)
        else:
            async def go():
                async with client(fake, "openai-chat") as c:
                    async for delta in c.astream(compiled):
                        deltas.append(delta)
            asyncio.run(go())
    assert "\n" not in str(err.value) and err.value.kind == "provider"
    assert sum(map(len, deltas)) <= LIMIT  # the text shown stayed within the bound
    if what == "events":
        assert deltas  # the text arrived as it came, until the bound
    _server_stopped(fake)


def test_an_error_reply_is_bounded_too(fake, pf):
    fake.plan("openai-chat", {"status": 400, "message": "z" * (2 * LIMIT)})
    with client(fake, "openai-chat") as c, pytest.raises(ApiError) as err:
        list(c.stream(pf.compile("openai-chat", {"ticket": "t"})))
    assert str(err.value) == "openai-chat: HTTP 400: Bad Request"


def test_lines_end_only_at_the_ends_server_sent_events_allow():
    # U+2028 may sit inside JSON text: it is not an end of line (httpx's `iter_lines` splits there)
    assert list(lines([b'a\r', b'\nb\n\nc\rd', b'e\xe2\x80', b'\xa8f\r\n', b'g'])) == ["a", "b", "", "c", "de\u2028f",
                                                                                      "g"]
    assert list(lines([b"x\r", b"\r", b"\n"])) == ["x", ""]
    splitter = LineSplitter()
    assert [splitter.feed(b"y" * 1000) for _ in range(3)] == [[], [], []]
    assert splitter.feed(b"\n") == ["y" * 3000]
