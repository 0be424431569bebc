"""Keys never leave the request they are for (issue 16 item 1, docs/security.md "API keys"): not
in an error's text, repr or chained exception, not in httpx's or our logs, not in the CLI's output,
not to the host of a redirect; and a provider's error that echoes the key is redacted."""
from __future__ import annotations

import logging
import pickle

import pytest

pytest.importorskip("httpx")
pytest.importorskip("botocore")

import polyprompt  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from fake_providers import KEYS, FakeProviders, env  # noqa: E402
from polyprompt.run.api import ApiError, Client  # noqa: E402
from polyprompt.run.retry import Backoff  # noqa: E402

SECRETS = [KEYS[k] for k in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
                             "AWS_SECRET_ACCESS_KEY")]
FAST = Backoff(base=0.01, cap=0.02)


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = tmp_path_factory.mktemp("sec") / "p.prompt"
    path.write_text('prompt p(x: str) {\n  user "{{ x }}"\n}\n')
    pf = polyprompt.load(path)
    return {kind: pf.compile(kind, {"x": "hi"}) for kind in ("openai-chat", "anthropic", "gemini", "mistral",
                                                            "bedrock-converse")}


def no_secret(*texts) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in str(text)


def everything_about(err: BaseException) -> list[str]:
    """The error's text and repr, and those of every exception chained to it."""
    out = []
    seen: BaseException | None = err
    while seen is not None:
        out += [str(seen), repr(seen), repr(getattr(seen, "request", None))]
        seen = seen.__cause__ or seen.__context__
    return out


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic", "gemini", "mistral"])
def test_an_error_that_echoes_the_key_is_redacted(fake, compiled, kind):
    key = {"openai-chat": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY",
           "mistral": "MISTRAL_API_KEY"}[kind]
    fake.plan(kind, {"status": 401, "message": f"Incorrect API key provided: {KEYS[key]}."},
              {"status": 400, "message": f"bad request for key {KEYS[key]}"})
    with Client(base_url=fake.base(kind), env=env()) as c:
        for _ in range(2):
            with pytest.raises(ApiError) as err:
                c.send(compiled[kind])
            assert "***" in str(err.value)
            no_secret(*everything_about(err.value), pickle.loads(pickle.dumps(err.value)))


def test_httpx_exceptions_are_not_chained_to_the_error(compiled):
    with Client(base_url="http://127.0.0.1:9", env=env(), max_retries=1, backoff=FAST) as c:
        with pytest.raises(ApiError) as err:
            c.send(compiled["anthropic"])
    assert err.value.__cause__ is None and err.value.__context__ is None
    no_secret(*everything_about(err.value))


def test_no_log_record_holds_a_key(fake, compiled, caplog):
    fake.plan("gemini", {"status": 500})
    with caplog.at_level(logging.DEBUG):
        for kind in compiled:
            with Client(base_url=fake.base(kind), env=env(), backoff=FAST) as c:
                c.send(compiled[kind])
    assert caplog.records  # httpx and httpcore did log the requests
    no_secret(*(r.getMessage() for r in caplog.records), *(repr(r.args) for r in caplog.records))


def test_reprs_hold_no_key(fake, compiled):
    from polyprompt.run import providers

    c = Client(base_url=fake.base("openai-chat"), env=env())
    call = providers.Call("openai-chat", compiled["openai-chat"].body, {}, None)
    request = providers.http_request(call, False, env())
    assert KEYS["OPENAI_API_KEY"] in request.headers["Authorization"]  # it is there...
    no_secret(repr(c), repr(request), repr(call), str(request))  # ...and shown nowhere


def test_a_redirect_to_another_host_never_carries_the_key(fake, compiled):
    with FakeProviders() as elsewhere:
        fake.plan("openai-chat", {"redirect": elsewhere.base("openai-chat") + "/chat/completions"})
        with Client(base_url=fake.base("openai-chat"), env=env()) as c, pytest.raises(ApiError) as err:
            c.send(compiled["openai-chat"])
        assert elsewhere.requests == []
    assert "HTTP 307: a redirect to 127.0.0.1:" in str(err.value) and "was not followed" in str(err.value)


def test_the_cli_never_prints_a_key(fake, tmp_path):
    from polyprompt.cli import cli

    path = tmp_path / "p.prompt"
    path.write_text('prompt p() {\n  user "hi"\n}\n')
    fake.plan("anthropic", {"status": 401, "message": f"invalid x-api-key {KEYS['ANTHROPIC_API_KEY']}"})
    for extra in ([], ["--json"], ["--stream"]):
        result = CliRunner().invoke(cli, ["run", str(path), "-t", "anthropic", "--base-url", fake.base("anthropic"),
                                          *extra], env=KEYS)
        no_secret(result.stdout, result.stderr)
    fake.problems.clear()
    assert result.exit_code == 0  # the planned 401 went to the first run


# ---------------------------------------------------------------- hostile replies and headers (issue 16, finishing)


@pytest.mark.parametrize("what", ["json", "events", "line"])
def test_an_endless_reply_costs_at_most_the_bound_in_memory(fake, compiled, what):
    """A server that answers without end (a chunked JSON body, a stream of events, one line with
    no end) is read up to `max_reply_bytes` and dropped: the memory the client holds stays near it."""
    import tracemalloc

    limit = 1 << 20
    fake.plan("openai-chat", {"endless": what})
    tracemalloc.start()
    try:
        with Client(base_url=fake.base("openai-chat"), env=env(), max_reply_bytes=limit) as c, \
                pytest.raises(ApiError, match="over the limit of 1048576 bytes"):
            if what == "json":
                c.send(compiled["openai-chat"])
            else:
                list(c.stream(compiled["openai-chat"]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * limit, f"peak {peak} bytes for a {limit}-byte bound"


def test_beta_names_cannot_add_or_split_headers():
    for bad in ["x\r\nAuthorization: Bearer stolen", "a,b", "a b", "a;b", "\x00"]:
        with pytest.raises(ValueError, match="is not a beta name"):
            Client(anthropic_betas=[bad])


def test_a_vertex_express_key_goes_in_a_header_only(compiled):
    from fake_providers import VERTEX_EXPRESS_KEY
    from polyprompt.run import providers

    express = {"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_API_KEY": VERTEX_EXPRESS_KEY}
    body = {"model": "publishers/google/models/gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    request = providers.http_request(providers.Call("vertex", body, {}, None), False, express)
    assert VERTEX_EXPRESS_KEY not in request.url and request.headers["X-Goog-Api-Key"] == VERTEX_EXPRESS_KEY
    assert VERTEX_EXPRESS_KEY not in repr(request) and request.secrets == (VERTEX_EXPRESS_KEY,)
