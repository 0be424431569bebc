"""`polyprompt serve` answering with an API target, end to end over real HTTP: the server's
`POST /prompts/{name}` compiles the inputs for the target and sends the exact body with the API
client (run/api.py) to the fake provider (tests/fake_providers.py, which checks the body against
the official schema and the credentials); the typed value comes back. A provider error is a JSON
502 that names the target and never carries the key."""
from __future__ import annotations

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from fake_providers import KEYS, FakeProviders  # noqa: E402
from test_serve import assert_json_error, post, running  # noqa: E402

from polyprompt.serve import create_app  # noqa: E402

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
prompt triage(ticket: str) -> Triage {
  user "{{ ticket }}"
}
'''
VALUE = {"category": "bug", "urgent": True, "note": "charged twice"}


@pytest.fixture
def prompt_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "triage.prompt"
    path.write_text(PROMPT)
    return path


@pytest.mark.parametrize("kind,variable", [("openai-chat", "OPENAI_BASE_URL"), ("anthropic", "ANTHROPIC_BASE_URL")])
def test_a_prompt_served_on_an_api_target_answers_typed(prompt_file, monkeypatch, kind, variable):
    with FakeProviders() as fake:
        for name, value in KEYS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(variable, fake.base(kind))
        with running(create_app([prompt_file], target=kind)) as url:
            answer = post(url, "/prompts/triage", json={"ticket": "I was charged twice"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["value"] == VALUE
        assert fake.count(kind) == 1 and fake.problems == []


def test_a_provider_error_is_a_json_502_without_the_key(prompt_file, monkeypatch):
    with FakeProviders() as fake:
        for name, value in KEYS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base("openai-chat"))
        fake.plan("openai-chat", {"status": 400, "message": "Invalid model"})
        with running(create_app([prompt_file], target="openai-chat")) as url:
            answer = post(url, "/prompts/triage", json={"ticket": "t"})
    body = assert_json_error(answer, 502, "upstream_error")
    assert "Invalid model" in body["error"]["message"] and KEYS["OPENAI_API_KEY"] not in answer.text
