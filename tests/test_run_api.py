"""Single runs on every API target over real HTTP (issue 16 item 1): the fake providers
(tests/fake_providers.py) check each request's body against the official schema and its
credentials (Bedrock's SigV4 recomputed with botocore, Vertex's token from application-default
credentials) and answer in each provider's reply shape; typed values, tool calls, usage, async."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

pytest.importorskip("httpx")
pytest.importorskip("botocore")
pytest.importorskip("google.auth")

import polyprompt  # noqa: E402
from fake_providers import KEYS, PREFIX, FakeProviders, env  # noqa: E402
from polyprompt.run.api import ApiError, Client  # noqa: E402

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
tool lookup(order_id: str) "Look up an order."
prompt triage(ticket: str) -> Triage {
  tools lookup
  user "{{ ticket }}"
}
'''
VALUE = {"category": "bug", "urgent": True, "note": "charged twice"}
KINDS = sorted(PREFIX)


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "t.prompt"
    path.write_text(PROMPT)
    return polyprompt.load(path)


@pytest.fixture(scope="module")
def client_env(fake, tmp_path_factory):
    adc = fake.adc_file(tmp_path_factory.mktemp("adc"))
    return env(GOOGLE_APPLICATION_CREDENTIALS=adc, GOOGLE_CLOUD_PROJECT="fake-project")


def client(fake, kind, client_env, **options):
    options.setdefault("timeout", 5.0)
    return Client(base_url=fake.base(kind), env=client_env, **options)


@pytest.fixture(autouse=True)
def no_problems(fake):
    yield
    problems, fake.problems[:] = list(fake.problems), []
    assert problems == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_target_answers_with_a_typed_value(fake, pf, client_env, kind):
    before = fake.count(kind)
    with client(fake, kind, client_env) as c:
        result = c.send(pf.compile(kind, {"ticket": "charged twice"}))
    assert (result.value, result.parse_error, result.tool_calls) == (VALUE, None, None)
    assert result.usage == {"input_tokens": 12, "output_tokens": 7}
    assert result.latency_ms > 0 and result.attempts == 1 and isinstance(result.raw, dict)
    assert fake.count(kind) == before + 1


@pytest.mark.parametrize("kind", KINDS)
def test_tool_calls_come_back_typed(fake, pf, client_env, kind):
    fake.plan(kind, "tool")
    with client(fake, kind, client_env) as c:
        result = c.send(pf.compile(kind, {"ticket": "where is A1"}))
    assert [(t.name, t.arguments) for t in result.tool_calls] == [("lookup", {"order_id": "A1"})]
    assert result.value is None and result.parse_error is None


def test_a_tool_call_with_wrong_arguments_is_a_parse_error(pf, client_env):
    with FakeProviders(tool=("lookup", {"order_id": 5})) as other:
        other.plan("anthropic", "tool")
        with Client(base_url=other.base("anthropic"), env=client_env) as c:
            result = c.send(pf.compile("anthropic", {"ticket": "t"}))
    assert "tool call `lookup`: order_id: 5 is not of type 'string'" in result.parse_error


@pytest.mark.parametrize("kind", KINDS)
def test_asend_on_every_target(fake, pf, client_env, kind):
    async def go():
        async with client(fake, kind, client_env) as c:
            return await asyncio.gather(*(c.asend(pf.compile(kind, {"ticket": f"t{i}"})) for i in range(3)))

    assert [r.value for r in asyncio.run(go())] == [VALUE] * 3


def test_a_reply_that_does_not_fit_the_output_keeps_its_text(pf, client_env):
    with FakeProviders(answer='{"category": "refund", "urgent": "no"}') as other:
        with Client(base_url=other.base("openai-chat"), env=client_env) as c:
            result = c.send(pf.compile("openai-chat", {"ticket": "t"}))
    assert result.value is None and result.text == '{"category": "refund", "urgent": "no"}'
    assert "category" in result.parse_error


def test_the_model_goes_in_the_url_where_the_provider_wants_it(fake, pf, client_env):
    for kind, path in [("gemini", "/gemini/v1beta/models/gemini-2.5-flash:generateContent"),
                       ("vertex", "/vertex/v1/projects/fake-project/locations/global/publishers/google/models/"
                                  "gemini-2.5-flash:generateContent"),
                       ("bedrock-converse", "/bedrock/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse")]:
        with client(fake, kind, client_env) as c:
            c.send(pf.compile(kind, {"ticket": "t"}))
        assert fake.requests[-1][1] == path
        assert "model" not in fake.requests[-1][3] and "modelId" not in fake.requests[-1][3]


def test_the_exact_compiled_body_is_sent(fake, pf, client_env):
    compiled = pf.compile("anthropic", {"ticket": "exact"})
    with client(fake, "anthropic", client_env) as c:
        c.send(compiled)
    assert fake.requests[-1][3] == compiled.body


def test_a_wrong_sigv4_signature_is_refused(fake, pf, client_env):
    bad = {**client_env, "AWS_SECRET_ACCESS_KEY": "not-the-secret-key-at-all"}
    with client(fake, "bedrock-converse", bad) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("bedrock-converse", {"ticket": "t"}))
    fake.problems.clear()
    assert err.value.status == 401 and err.value.kind == "auth"
    assert "SigV4 signature does not match" in str(err.value)


def test_bedrock_api_keys_are_bearer_tokens(pf, client_env):
    import httpx

    seen = []

    def handler(request):
        seen.append(request.headers["authorization"])
        from fake_providers import reply
        return httpx.Response(200, json=reply("bedrock-converse", '{"category": "bug", "urgent": true}', None))

    token_env = {"AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-123456", "AWS_REGION": "eu-west-1"}
    with Client(env=token_env, transport=httpx.MockTransport(handler)) as c:
        assert c.send(pf.compile("bedrock-converse", {"ticket": "t"})).value == {"category": "bug", "urgent": True}
    assert seen == ["Bearer bedrock-api-key-123456"]


def test_default_endpoints_and_headers(pf):
    """Without a base URL each provider's own endpoint is used, with its auth header."""
    from polyprompt.run import providers

    cases = {"openai-chat": ("https://api.openai.com/v1/chat/completions", "authorization"),
             "openai-responses": ("https://api.openai.com/v1/responses", "authorization"),
             "anthropic": ("https://api.anthropic.com/v1/messages", "x-api-key"),
             "gemini": ("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
                        "x-goog-api-key"),
             "mistral": ("https://api.mistral.ai/v1/chat/completions", "authorization"),
             "ollama": ("http://127.0.0.1:11434/api/chat", None),
             "bedrock-converse": ("https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                                  "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse", "authorization")}
    for kind, (url, header) in cases.items():
        compiled = pf.compile(kind, {"ticket": "t"})
        call = providers.Call(kind, compiled.body, compiled.backend.options, None)
        request = providers.http_request(call, False, env())
        assert request.url == url, kind
        if header:
            assert header in {h.lower() for h in request.headers}, kind
    stream = providers.http_request(providers.Call("gemini", pf.compile("gemini", {"ticket": "t"}).body, {}, None),
                                    True, env())
    assert stream.url.endswith(":streamGenerateContent?alt=sse")


def test_ollama_host_and_a_declared_compatible_server(tmp_path):
    from polyprompt.run import providers

    path = tmp_path / "d.prompt"
    path.write_text('target local "openai-compatible" {\n  model "llama3"\n  base_url: "http://127.0.0.1:9/v1"\n}\n'
                    'prompt p() {\n  user "hi"\n}\n')
    compiled = polyprompt.load(path).compile("local", {})
    assert providers.kind_of(compiled) == "openai-compatible"
    call = providers.Call("openai-compatible", compiled.body, compiled.backend.options, None)
    assert providers.http_request(call, False, {}).url == "http://127.0.0.1:9/v1/chat/completions"
    call = providers.Call("ollama", {"model": "m", "messages": []}, {}, None)
    assert providers.http_request(call, False, {"OLLAMA_HOST": "0.0.0.0:1234"}).url == "http://127.0.0.1:1234/api/chat"


def test_an_open_model_target_is_not_sent(tmp_path):
    pytest.importorskip("jinja2")
    path = tmp_path / "p.prompt"
    path.write_text('prompt p() {\n  user "hi"\n}\n')
    with Client(env={}) as c, pytest.raises(ApiError, match="not an API target"):
        c.send(polyprompt.load(path).compile("hf-family:smollm2", {}))


def test_keys_are_read_from_the_providers_variables():
    from polyprompt.run.auth import api_key

    assert api_key("gemini", {"GEMINI_API_KEY": "g-key-1234", "GOOGLE_API_KEY": "google-key-1234"}) == (
        "google-key-1234", "GOOGLE_API_KEY")  # google-genai's order
    assert api_key("anthropic", {"ANTHROPIC_AUTH_TOKEN": "tok-123456"}) == ("tok-123456", "ANTHROPIC_AUTH_TOKEN")
    assert api_key("ollama", {}) == (None, None)
    assert KEYS["OPENAI_API_KEY"] == api_key("openai-chat", KEYS)[0]


def test_compiled_run_and_arun(fake, pf, client_env):
    """`compiled.run()` / `await compiled.arun()`: the facade hands the run layer down to the session."""
    compiled = pf.compile("anthropic", {"ticket": "t"})
    options = {"base_url": fake.base("anthropic"), "env": client_env}
    assert compiled.run(**options).value == VALUE
    assert asyncio.run(compiled.arun(**options)).value == VALUE
    assert polyprompt.send(compiled, **options).value == VALUE


def test_threads_share_one_client(fake, pf, client_env):
    from concurrent.futures import ThreadPoolExecutor

    compiled = pf.compile("mistral", {"ticket": "t"})
    with client(fake, "mistral", client_env) as c, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: c.send(compiled), range(32)))
    assert all(r.value == VALUE for r in results)


def test_async_calls_overlap(pf, client_env):
    """50 answers of 0.2 s each, 25 in flight, take about 0.4 s, not 10 s."""
    compiled = pf.compile("openai-chat", {"ticket": "t"})

    async def go(base_url):
        gate = asyncio.Semaphore(25)
        async with Client(base_url=base_url, env=client_env) as c:
            async def one():
                async with gate:
                    return await c.asend(compiled)

            return await asyncio.gather(*(one() for _ in range(50)))

    with FakeProviders(delay=0.2, validate=False) as slow:
        start = time.perf_counter()
        results = asyncio.run(go(slow.base("openai-chat")))
        elapsed = time.perf_counter() - start
    assert [r.value for r in results] == [VALUE] * 50 and elapsed < 3.0


def test_vertex_streams_with_its_token(fake, pf, client_env):
    with client(fake, "vertex", client_env) as c:
        stream = c.stream(pf.compile("vertex", {"ticket": "t"}))
        assert "".join(stream) == json.dumps(VALUE)
    assert stream.result.value == VALUE
    assert fake.requests[-1][1].endswith(":streamGenerateContent?alt=sse")


def test_setup_errors_name_what_to_set(fake, pf, client_env, tmp_path, monkeypatch):
    no_project = {k: v for k, v in client_env.items() if k != "GOOGLE_CLOUD_PROJECT"}
    adc = json.loads(open(client_env["GOOGLE_APPLICATION_CREDENTIALS"]).read())
    (tmp_path / "adc.json").write_text(json.dumps({**adc, "project_id": None}))
    no_project["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "adc.json")
    with client(fake, "vertex", no_project) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("vertex", {"ticket": "t"}))
    assert str(err.value) == ("vertex: no Google Cloud project: set the target's `project` option or "
                              "GOOGLE_CLOUD_PROJECT") and err.value.kind == "config"
    (tmp_path / "bad.json").write_text("{}")
    with Client(env={"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "bad.json")}) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("vertex", {"ticket": "t"}))
    assert str(err.value).startswith("vertex: no Google application-default credentials (")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with Client(env={}) as c, pytest.raises(ApiError) as err:
        c.send(pf.compile("bedrock-converse", {"ticket": "t"}))
    assert str(err.value) == "bedrock-converse: no AWS region: set AWS_REGION (e.g. us-east-1)"


def test_vertex_takes_the_project_of_its_credentials(fake, pf, client_env):
    from_credentials = {k: v for k, v in client_env.items() if k != "GOOGLE_CLOUD_PROJECT"}
    with client(fake, "vertex", from_credentials) as c:
        assert c.send(pf.compile("vertex", {"ticket": "t"})).value == VALUE
    assert "/projects/fake-project/locations/global/" in fake.requests[-1][1]


# ---------------------------------------------------------------- anthropic-beta


def test_no_body_of_ours_needs_an_anthropic_beta(fake, pf, client_env, tmp_path):
    """Structured output (`output_config.format`), strict tools and a 1-hour cache TTL are in the
    GA Messages schema (tests/data/refdata): sent without `anthropic-beta`."""
    path = tmp_path / "b.prompt"
    path.write_text('type T { a: str }\ntool look(q: str) "Look."\n'
                    'prompt p(x: str) -> T {\n  tools look\n  user "{{ x }}"\n}\n')
    compiled = polyprompt.load(path).compile("anthropic", {"x": "hi"})
    assert "output_config" in compiled.body
    with client(fake, "anthropic", client_env) as c:
        c.send(compiled)
        list(c.stream(compiled))
    assert [r[2].get("anthropic-beta") for r in fake.requests[-2:]] == [None, None]


def test_betas_asked_for_are_sent_to_anthropic_only(fake, pf, client_env):
    betas = ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
    with client(fake, "anthropic", client_env, anthropic_betas=betas) as c:
        assert c.send(pf.compile("anthropic", {"ticket": "t"})).value == VALUE
        list(c.stream(pf.compile("anthropic", {"ticket": "t"})))
    assert [r[2].get("anthropic-beta") for r in fake.requests[-2:]] == [",".join(betas)] * 2
    with client(fake, "openai-chat", client_env, anthropic_betas=betas) as c:
        c.send(pf.compile("openai-chat", {"ticket": "t"}))
    assert "anthropic-beta" not in fake.requests[-1][2]


def test_beta_names_are_checked_and_belong_in_the_cache_key():
    from polyprompt.run.cache import key_of

    for bad in ["a,b", "a b", "x\r\nX-Evil: 1", ""]:
        with pytest.raises(ValueError, match="is not a beta name"):
            Client(anthropic_betas=[bad])
    plain, beta = Client(base_url="http://h/v1"), Client(base_url="http://h/v1", anthropic_betas="context-1m-2025-08-07")
    assert plain.endpoint_settings() == {"base_url": "http://h/v1"}
    assert beta.endpoint_settings() == {"base_url": "http://h/v1", "anthropic_betas": ["context-1m-2025-08-07"]}
    body = {"model": "m", "messages": []}
    assert key_of("anthropic", body, plain.endpoint_settings()) != key_of("anthropic", body, beta.endpoint_settings())
