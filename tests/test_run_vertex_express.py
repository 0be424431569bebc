"""Vertex AI's express mode (issue 16, finishing item 1): an API key instead of application-default
credentials, chosen as google-genai chooses it (`_api_client.py`): `GOOGLE_GENAI_USE_VERTEXAI` on,
a key in `GOOGLE_API_KEY` (else `GEMINI_API_KEY`), no project or location; the global host, the
model path without a project, the key in `x-goog-api-key`. Against the fake Vertex over real HTTP."""
from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("google.auth")

import polyprompt  # noqa: E402
from fake_providers import KEYS, VERTEX_EXPRESS_KEY, VERTEX_TOKEN, FakeProviders  # noqa: E402
from polyprompt.run import providers  # noqa: E402
from polyprompt.run.api import ApiError, Client  # noqa: E402

VALUE = {"category": "bug", "urgent": True, "note": "charged twice"}
EXPRESS = {"GOOGLE_GENAI_USE_VERTEXAI": "true", "GOOGLE_API_KEY": VERTEX_EXPRESS_KEY}
MODEL_PATH = "/vertex/v1/publishers/google/models/gemini-2.5-flash:"


@pytest.fixture(scope="module")
def fake():
    with FakeProviders() as server:
        yield server


@pytest.fixture(autouse=True)
def no_problems(fake):
    yield
    problems, fake.problems[:] = list(fake.problems), []
    assert problems == []


@pytest.fixture(scope="module")
def pf(tmp_path_factory):
    path = tmp_path_factory.mktemp("express") / "t.prompt"
    path.write_text('enum Category { billing, bug }\ntype Triage { category: Category, urgent: bool, note?: str }\n'
                    'prompt triage(ticket: str) -> Triage {\n  user "{{ ticket }}"\n}\n')
    return polyprompt.load(path)


def send(fake, compiled, env, mode="send"):
    with Client(base_url=fake.base("vertex"), env=env, timeout=5.0) as c:
        if mode == "stream":
            stream = c.stream(compiled)
            "".join(stream)
            return stream.result
        if mode == "async":
            async def go():
                async with Client(base_url=fake.base("vertex"), env=env, timeout=5.0) as ac:
                    return await ac.asend(compiled)
            return asyncio.run(go())
        return c.send(compiled)


@pytest.mark.parametrize("mode", ["send", "stream", "async"])
def test_express_mode_sends_the_key_to_the_model_path_without_a_project(fake, pf, mode):
    result = send(fake, pf.compile("vertex", {"ticket": "t"}), EXPRESS, mode)
    assert result.value == VALUE
    _kind, path, headers, _body = fake.requests[-1]
    assert path.startswith(MODEL_PATH) and "key=" not in path
    assert headers["x-goog-api-key"] == VERTEX_EXPRESS_KEY and "authorization" not in headers


def test_the_default_endpoint_is_the_global_host_and_the_key_a_header(pf):
    compiled = pf.compile("vertex", {"ticket": "t"})
    request = providers.http_request(providers.Call("vertex", compiled.body, compiled.backend.options, None),
                                     False, EXPRESS)
    assert request.url == ("https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash"
                           ":generateContent")
    assert request.headers["X-Goog-Api-Key"] == VERTEX_EXPRESS_KEY and request.secrets == (VERTEX_EXPRESS_KEY,)
    stream = providers.http_request(providers.Call("vertex", compiled.body, {}, None), True, EXPRESS)
    assert stream.url.endswith("/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_the_gemini_key_serves_when_google_api_key_is_unset(fake, pf):
    env = {"GOOGLE_GENAI_USE_VERTEXAI": "1", "GEMINI_API_KEY": KEYS["GEMINI_API_KEY"]}
    assert send(fake, pf.compile("vertex", {"ticket": "t"}), env).value == VALUE
    assert fake.requests[-1][2]["x-goog-api-key"] == KEYS["GEMINI_API_KEY"]


@pytest.mark.parametrize("case", ["project in the environment", "location in the environment", "target project",
                                  "vertex not asked for"])
def test_application_default_credentials_win_as_in_google_genai(fake, pf, tmp_path, case):
    env = {**EXPRESS, "GOOGLE_APPLICATION_CREDENTIALS": fake.adc_file(tmp_path)}
    compiled = pf.compile("vertex", {"ticket": "t"})
    if case == "project in the environment":
        env["GOOGLE_CLOUD_PROJECT"] = "env-project"
    elif case == "location in the environment":
        env["GOOGLE_CLOUD_LOCATION"] = "global"
    elif case == "target project":
        declared = tmp_path / "d.prompt"
        declared.write_text('target vx "vertex" { project: "target-project" }\n'
                            'prompt p(ticket: str) {\n  user "{{ ticket }}"\n}\n')
        compiled = polyprompt.load(declared).compile("vx", {"ticket": "t"})
    else:
        env["GOOGLE_GENAI_USE_VERTEXAI"] = "false"
    send(fake, compiled, env)
    _kind, path, headers, _body = fake.requests[-1]
    assert headers["authorization"] == f"Bearer {VERTEX_TOKEN}" and "x-goog-api-key" not in headers
    assert "/projects/" in path


def test_a_refused_express_key_is_one_line_without_the_key(fake, pf):
    fake.plan("vertex", {"status": 403, "message": f"API key {VERTEX_EXPRESS_KEY} not valid for Vertex AI"})
    with pytest.raises(ApiError) as err:
        send(fake, pf.compile("vertex", {"ticket": "t"}), EXPRESS)
    text = str(err.value)
    assert VERTEX_EXPRESS_KEY not in text and VERTEX_EXPRESS_KEY not in repr(err.value)
    assert text == ("vertex: HTTP 403: the credentials were refused (UNKNOWN: API key *** not valid for Vertex AI); "
                    "check the application-default credentials (gcloud auth application-default login) and their "
                    "access, or in express mode GOOGLE_API_KEY")
    assert json.dumps(err.value.headers).count(VERTEX_EXPRESS_KEY) == 0
