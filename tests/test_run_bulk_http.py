"""`polyprompt run FILE --data ... -t <API target>` end to end over real HTTP: the command's bulk
options reach the API client configured by --base-url/--timeout/--retries, every row's body is
checked by the fake provider (tests/fake_providers.py), the results come back in row order, and a
second run is answered by the reply cache without a request."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402

from fake_providers import KEYS, FakeProviders  # noqa: E402

PROMPT = '''
enum Category { billing, bug }
type Triage { category: Category, urgent: bool, note?: str }
prompt triage(ticket: str) -> Triage {
  user "{{ ticket }}"
}
'''
VALUE = {"category": "bug", "urgent": True, "note": "charged twice"}


def run(*args, **env):
    from polyprompt.cli import cli

    return CliRunner().invoke(cli, ["run", *map(str, args)], env={**{k: None for k in KEYS}, **env})


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic", "gemini"])
def test_a_bulk_run_on_an_api_target_sends_every_row_once(tmp_path, kind):
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "triage.prompt"
    path.write_text(PROMPT)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"ticket": f"ticket {i}"}) + "\n" for i in range(12)))
    out = tmp_path / "results.jsonl"
    env = {**KEYS, "POLYPROMPT_REPLY_CACHE_DIR": str(tmp_path / "replies")}
    with FakeProviders() as fake:
        args = [path, "-t", kind, "--data", rows, "-o", out, "--concurrency", "4", "--base-url", fake.base(kind),
                "--timeout", "5", "--no-progress"]
        first = run(*args, **env)
        assert first.exit_code == 0, first.output
        assert fake.count(kind) == 12 and fake.problems == []
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["row"] for line in lines] == list(range(1, 13))
        assert all(line["value"] == VALUE and line["error"] is None for line in lines)
        again = run(*args, "--restart", **env)
        assert again.exit_code == 0, again.output
        assert fake.count(kind) == 12, "the second run is answered by the reply cache"
        assert [json.loads(line)["value"] for line in out.read_text().splitlines()] == [VALUE] * 12


def test_a_missing_key_stops_a_bulk_run_with_one_line(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "triage.prompt"
    path.write_text(PROMPT)
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"ticket": "t"}) + "\n")
    with FakeProviders() as fake:
        result = run(path, "-t", "mistral", "--data", rows, "-o", tmp_path / "out.jsonl", "--base-url",
                     fake.base("mistral"), "--no-progress", POLYPROMPT_REPLY_CACHE_DIR=str(tmp_path / "c"))
        assert fake.count("mistral") == 0
    assert result.exit_code in (1, 2)
    assert "MISTRAL_API_KEY" in result.stderr and "Traceback" not in result.output


def test_a_provider_asking_to_wait_minutes_stops_a_bulk_run(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    path = tmp_path / "triage.prompt"
    path.write_text(PROMPT)
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"ticket": f"t{i}"}) + "\n" for i in range(50)))
    with FakeProviders() as fake:
        fake.plan("openai-chat", *[{"status": 429, "headers": {"Retry-After": "3600"}}] * 50)
        result = run(path, "-t", "openai-chat", "--data", rows, "-o", tmp_path / "out.jsonl", "--base-url",
                     fake.base("openai-chat"), "--concurrency", "2", "--no-progress",
                     POLYPROMPT_REPLY_CACHE_DIR=str(tmp_path / "c"), **KEYS)
        sent = fake.count("openai-chat")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the provider asked to wait 3600 s before trying again" in result.stderr
    assert "run again to resume" in result.stderr and len(result.stderr.splitlines()) == 1
    assert sent <= 3, "the other rows are not sent once the provider asked for an hour"
