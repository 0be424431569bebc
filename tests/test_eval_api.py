"""`polyprompt eval` on API targets sent over real HTTP (evaluate/api_target.py): every row's body
goes through the run layer's client to the fake provider (tests/fake_providers.py checks it against
the official schema and the credentials), the replies are scored, a second evaluation is answered
by the reply cache without a request, and a missing key ends the target with a partial report."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("httpx")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402
from fake_providers import KEYS, FakeProviders  # noqa: E402
from test_eval_runner import LABELS, PROMPT  # noqa: E402

from polyprompt.evaluate import Options, evaluate  # noqa: E402
from polyprompt.run.cache import ReplyCache  # noqa: E402

FAST = Options(resamples=200)
#: the answer "spam" as each target asks for it (a wrapped value where the schema must be an object)
SPAM = {"openai-chat": '{"value": "spam"}', "anthropic": '{"value": "spam"}', "gemini": '"spam"', "mistral": '"spam"'}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "mail.prompt").write_text(PROMPT)
    (tmp_path / "mail.jsonl").write_text("".join(json.dumps({"body": f"mail {i}", "label": label}) + "\n"
                                                 for i, label in enumerate(LABELS)))
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.mark.parametrize("kind", ["openai-chat", "anthropic", "gemini", "mistral"])
def test_an_api_target_is_evaluated_over_http_then_from_the_cache(project, kind):
    cache = ReplyCache(project / "replies")
    with FakeProviders(answer=SPAM[kind]) as fake:
        settings = {"base_url": fake.base(kind), "cache": cache, "concurrency": 4}
        report = evaluate(str(project / "mail.prompt"), [kind], options=FAST, api=settings).to_json()
        assert fake.count(kind) == len(LABELS) + 1 and fake.problems == []  # the rows and the test block
        again = evaluate(str(project / "mail.prompt"), [kind], options=FAST, api=settings).to_json()
        assert fake.count(kind) == len(LABELS) + 1, "the second evaluation is answered by the cache"
    accuracy = report["targets"][0]["metrics"]["accuracy"]
    assert accuracy["value"] == LABELS.count("spam") / len(LABELS) and accuracy["n"] == len(LABELS)
    assert again["targets"][0]["metrics"]["accuracy"]["value"] == accuracy["value"]
    assert report["targets"][0]["parse_failures"] == 0 and not report["partial"]
    assert [e["passed"] for e in report["expects"]] == [True]


def test_the_command_line_sends_to_the_base_url_and_a_missing_key_is_partial(project, monkeypatch):
    from polyprompt.cli import cli

    monkeypatch.setenv("POLYPROMPT_REPLY_CACHE_DIR", str(project / "replies"))
    with FakeProviders(answer='{"value": "ham"}') as fake:
        args = ["eval", str(project / "mail.prompt"), "-t", "openai-chat", "--base-url", fake.base("openai-chat"),
                "--no-plots", "--json"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["targets"][0]["metrics"]["accuracy"]["value"] == LABELS.count("ham") / 8
        monkeypatch.delenv("MISTRAL_API_KEY")
        result = CliRunner().invoke(cli, ["eval", str(project / "mail.prompt"), "-t", "mistral", "--base-url",
                                          fake.base("mistral"), "--no-plots", "--json"])
        assert fake.count("mistral") == 0
    assert result.exit_code == 1 and "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["partial"] and "MISTRAL_API_KEY" in (report["targets"][0]["failure"] or "")


def test_the_concurrency_is_not_capped_by_the_runners_batches(project):
    """`--concurrency 16` keeps 16 requests in flight (the runner hands an API target 4x its
    concurrency at once; with its default batch of 8 at most 8 were ever in flight)."""
    import asyncio

    from polyprompt.evaluate.api_target import ApiTarget

    rows = project / "mail.jsonl"
    rows.write_text("".join(json.dumps({"body": f"mail {i}", "label": "spam"}) + "\n" for i in range(48)))

    class Client:
        in_flight = most = 0

        async def asend(self, compiled):
            Client.in_flight += 1
            Client.most = max(Client.most, Client.in_flight)
            await asyncio.sleep(0.02)
            Client.in_flight -= 1
            raise RuntimeError("no answer")

    target = ApiTarget("api", "openai-chat", concurrency=16, client=Client())
    evaluate(str(project / "mail.prompt"), [target], options=FAST)
    assert Client.most == 16
