"""`polyprompt serve` over real HTTP: uvicorn on 127.0.0.1 (a free port) serving `create_app`.

No test here runs the model: requests that would generate are stopped before (a full queue, a bad
field) or answered by a stand-in job. tests/test_serve_model.py runs SmolLM2 (`slow`), and
tests/test_security_serve.py holds the security guarantees (docs/security.md).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from helpers import EXAMPLES, REPO  # noqa: E402

from polyprompt.serve import create_app  # noqa: E402

TRIAGE = EXAMPLES / "ticket_triage.prompt"
INPUTS = json.loads((EXAMPLES / "ticket_triage.input.json").read_text())
SERVED = [TRIAGE, EXAMPLES / "support_chat.prompt"]


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def running(app):
    """Serve `app` with uvicorn in a thread; yields the base URL; stops it gracefully after."""
    import uvicorn

    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture(scope="module")
def server():
    app = create_app(SERVED, queue_size=1)
    with running(app) as url:
        yield url, app


def post(url: str, path: str, **kwargs) -> httpx.Response:
    return httpx.post(url + path, timeout=30, **kwargs)


def assert_json_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["type"]
    assert "Traceback" not in response.text
    return body


# --- the endpoints ----------------------------------------------------------------------------------

def test_healthz_lists_the_prompts(server):
    url, _app = server
    body = httpx.get(url + "/healthz").json()
    assert body["status"] == "ok" and body["prompts"] == ["triage", "support_chat"]
    assert body["queue"] == {"pending": 0, "limit": 1}


def test_compile_gives_the_exact_body_and_the_lowering_report_of_compile_explain(server):
    """The body is the in-process compile's, the report what `polyprompt compile --explain` prints."""
    from click.testing import CliRunner

    import polyprompt
    from polyprompt.cli import cli

    url, _app = server
    answer = post(url, "/prompts/triage/compile?target=anthropic", json=INPUTS)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    local = polyprompt.load(str(TRIAGE)).compile("anthropic", INPUTS, prompt="triage")
    assert data["body"] == local.body and data["target"] == "anthropic" and data["prompt"] == "triage"
    assert [d["code"] for d in data["report"]] == [d.code for d in local.report] and data["report"]
    explained = CliRunner().invoke(cli, ["compile", str(TRIAGE), "-t", "anthropic", "-i",
                                         str(EXAMPLES / "ticket_triage.input.json"), "--explain"])
    for item in data["report"]:
        assert item["rendered"].split("\n", 1)[1] in explained.stderr  # the same caret and help
        assert not os.path.isabs(item["file"])  # no server path is shown


def test_compile_defaults_to_the_server_target(server):
    url, _app = server
    data = post(url, "/prompts/triage/compile", json=INPUTS).json()
    assert data["target"] == "hf-family:smollm2" and data["body"]["token_ids"]


def test_the_openapi_document_validates_and_carries_the_prompt_types(server):
    from openapi_spec_validator import validate

    url, _app = server
    doc = httpx.get(url + "/openapi.json").json()
    validate(doc)
    schemas = doc["components"]["schemas"]
    inputs = schemas["triage.inputs"]
    assert inputs["required"] == ["subject", "body"]
    assert inputs["properties"]["plan"] == {"type": "string", "enum": ["free", "pro", "enterprise"],
                                            "default": "free"}
    answer = doc["paths"]["/prompts/triage"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["properties"]["value"] == {"$ref": "#/components/schemas/triage.output"}
    output = schemas["triage.output"]
    assert output["properties"]["category"] == {"$ref": "#/components/schemas/Category"}
    assert schemas["Category"]["enum"] == ["billing", "bug", "account_access", "feature_request", "other"]
    assert "/prompts/support_chat/compile" in doc["paths"] and "/v1/chat/completions" in doc["paths"]
    assert "#/$defs" not in json.dumps(doc)  # every ref resolves inside the document


def test_a_recursive_output_type_gets_a_component_that_refers_to_itself(tmp_path):
    from openapi_spec_validator import validate

    source = tmp_path / "tree.prompt"
    source.write_text("type Node {\n  name: str\n  children: list[Node] = []\n}\n\n"
                      "prompt outline(topic: str) -> Node {\n  user \"Outline {{ topic }}\"\n}\n")
    app = create_app([source])
    with running(app) as url:
        doc = httpx.get(url + "/openapi.json").json()
    validate(doc)
    node = doc["components"]["schemas"]["outline.output"]
    assert node["properties"]["children"]["items"] == {"$ref": "#/components/schemas/outline.output"}


def test_the_v1_models_list(server):
    url, _app = server
    data = httpx.get(url + "/v1/models").json()
    assert data == {"object": "list", "data": [{"id": "hf-family:smollm2", "object": "model", "created": 0,
                                                "owned_by": "polyprompt"}]}


# --- bad requests: 4xx JSON errors ------------------------------------------------------------------

def test_wrong_input_types_list_every_problem(server):
    url, _app = server
    body = assert_json_error(post(url, "/prompts/triage", json={"subject": 3, "bodyy": "x", "plan": "gold"}),
                             422, "invalid_inputs")
    problems = {p["path"]: p["message"] for p in body["problems"]}
    assert set(problems) == {"subject", "bodyy", "body", "plan"}
    assert "did you mean `body`" in problems["bodyy"] and "expected `str`" in problems["subject"]
    assert_json_error(post(url, "/prompts/triage/compile", json=[1, 2]), 422, "invalid_inputs")


def test_invalid_json_unknown_prompt_unknown_target(server):
    url, _app = server
    assert_json_error(post(url, "/prompts/triage", content=b"{not json"), 400, "invalid_json")
    assert_json_error(post(url, "/prompts/triage", content=b"\xff\xfe"), 400, "invalid_json")
    assert_json_error(post(url, "/prompts/triage", content=b"[" * 100_000), 400, "invalid_json")
    body = assert_json_error(post(url, "/prompts/triagee", json=INPUTS), 404, "unknown_prompt")
    assert "did you mean `triage`" in body["error"]["message"]
    assert_json_error(post(url, "/prompts/triage/compile?target=gpt-9", json=INPUTS), 400, "unknown_target")
    assert_json_error(post(url, "/prompts/triage", content=b"a=b",
                           headers={"content-type": "application/x-www-form-urlencoded"}), 415,
                      "unsupported_media_type")


def test_unknown_routes_and_methods_are_json(server):
    url, _app = server
    assert_json_error(httpx.get(url + "/nowhere"), 404, "not_found")
    assert_json_error(httpx.get(url + "/prompts/triage"), 405, "method_not_allowed")


def test_bodies_over_the_limit_get_413(tmp_path):
    app = create_app([TRIAGE], max_body=1000)
    with running(app) as url:
        big = {**INPUTS, "body": "x" * 5000}
        assert_json_error(post(url, "/prompts/triage/compile", json=big), 413, "request_too_large")

        def chunks():  # no Content-Length: counted as the bytes arrive
            yield b'{"subject": "s", "body": "'
            for _ in range(20):
                yield b"y" * 100
            yield b'"}'

        assert_json_error(post(url, "/prompts/triage/compile", content=chunks()), 413, "request_too_large")
        assert post(url, "/prompts/triage/compile", json=INPUTS).status_code == 200


def test_chat_requests_with_fields_the_model_cannot_honour_get_400(server):
    url, _app = server
    messages = [{"role": "user", "content": "hi"}]
    for extra, param in (({"n": 2}, "n"), ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
                         ({"temperature": 3}, "temperature"), ({"max_tokens": 0}, "max_tokens"),
                         ({"stop": ["a", "b", "c", "d", "e"]}, "stop"), ({"response_format": {"type": "json_object"}},
                                                                        "response_format")):
        body = post(url, "/v1/chat/completions", json={"model": "m", "messages": messages, **extra})
        assert_json_error(body, 400, body.json()["error"]["code"])
        assert body.json()["error"]["param"] == param
    assert_json_error(post(url, "/v1/chat/completions", json={"model": "m"}), 400, "invalid_request")
    bad = post(url, "/v1/chat/completions", json={"messages": [{"role": "wizard", "content": "hi"}]})
    assert "messages[0]" in assert_json_error(bad, 400, "invalid_messages")["error"]["message"]


# --- the queue, the answering step, errors --------------------------------------------------------

def test_a_full_queue_answers_429_with_retry_after(server):
    url, app = server
    worker = app.state.polyprompt.worker
    release = threading.Event()
    worker.submit(release.wait)  # the one place in the queue is taken
    try:
        for path, payload in (("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
                              ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}],
                                                        "stream": True}),
                              ("/prompts/triage", INPUTS)):
            answer = post(url, path, json=payload)
            assert_json_error(answer, 429, "queue_full")
            assert int(answer.headers["retry-after"]) >= 1
    finally:
        release.set()
    deadline = time.monotonic() + 5
    while worker.pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert worker.pending == 0


def test_an_api_target_without_the_api_client_is_501(tmp_path):
    try:
        import polyprompt.run.api  # noqa: F401
        pytest.skip("the API client is installed: API targets are sent")
    except ImportError:
        pass
    app = create_app([TRIAGE], target="openai-chat")
    with running(app) as url:
        assert_json_error(post(url, "/prompts/triage", json=INPUTS), 501, "target_not_supported")


def test_an_exception_in_a_route_is_a_json_500_without_traceback():
    from starlette.routing import Route

    app = create_app([TRIAGE])

    async def boom(_request):
        raise RuntimeError("secret internal detail /etc/passwd")

    app.app.router.routes.append(Route("/boom", boom))
    with running(app) as url:
        answer = httpx.get(url + "/boom")
    body = assert_json_error(answer, 500, "internal_error")
    assert "secret" not in answer.text and "/etc/passwd" not in answer.text
    assert body["error"]["message"].startswith("internal error (RuntimeError)")


# --- load ------------------------------------------------------------------------------------------

def test_500_compile_requests_50_in_flight_without_an_error(server):
    url, _app = server

    async def load() -> list[float]:
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
            gate = asyncio.Semaphore(50)

            async def one() -> float:
                async with gate:
                    start = time.perf_counter()
                    answer = await client.post("/prompts/triage/compile?target=openai-chat", json=INPUTS)
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["body"]["messages"]
                    return (time.perf_counter() - start) * 1000

            return await asyncio.gather(*(one() for _ in range(500)))

    start = time.perf_counter()
    times = sorted(asyncio.run(load()))
    wall = time.perf_counter() - start
    p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
    print(f"\ncompile endpoint: 500 requests, 50 in flight: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
          f"{500 / wall:.0f} requests/s")
    assert len(times) == 500


# --- graceful shutdown ----------------------------------------------------------------------------

SLOW_SERVER = """
import asyncio, sys
import uvicorn
from starlette.responses import JSONResponse
from starlette.routing import Route
from polyprompt.serve import create_app

app = create_app([{path!r}])

async def slow(request):
    await asyncio.sleep(1.5)
    return JSONResponse({{"done": True}})

async def blocking(request):  # a generation job: the worker thread
    import time
    value = await app.state.polyprompt.worker.run(lambda: (time.sleep(1.5), 42)[1])
    return JSONResponse({{"value": value}})

app.app.router.routes += [Route("/slow", slow), Route("/blocking", blocking)]
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


#: how a server stopped by SIGTERM exits: uvicorn >= 0.29 raises the signal again once it has shut down
STOPPED = (0, -signal.SIGTERM)


@pytest.mark.parametrize("path", ["/slow", "/blocking"])
def test_sigterm_lets_the_requests_in_flight_finish(tmp_path, path):
    script = tmp_path / "server.py"
    script.write_text(SLOW_SERVER.format(path=str(TRIAGE)))
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, str(script), str(port)], cwd=REPO, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.1)
        result: dict = {}
        client = threading.Thread(target=lambda: result.update(answer=httpx.get(url + path, timeout=30)))
        client.start()
        time.sleep(0.5)  # the request is in flight
        proc.send_signal(signal.SIGTERM)
        client.join(30)
        assert result["answer"].status_code == 200 and result["answer"].json() in ({"done": True}, {"value": 42})
        assert proc.wait(30) in STOPPED
        with pytest.raises(httpx.TransportError):  # and it stopped accepting
            httpx.get(url + "/healthz", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- the worker ------------------------------------------------------------------------------------

def test_the_worker_counts_a_job_until_it_ends_even_when_its_caller_gives_up():
    from polyprompt.serve.worker import QueueFull, Worker

    worker = Worker(limit=2)
    release = threading.Event()

    async def scenario():
        first = asyncio.ensure_future(worker.run(release.wait))
        await asyncio.sleep(0.05)
        first.cancel()  # the client went away; the job keeps the thread until it ends
        await asyncio.sleep(0.05)
        assert worker.pending == 1
        queued = worker.submit(lambda: "later")
        with pytest.raises(QueueFull):
            worker.submit(lambda: None)
        release.set()
        assert await asyncio.wrap_future(queued) == "later"

    asyncio.run(scenario())
    worker.close()
    assert worker.pending == 0


# --- the command line ------------------------------------------------------------------------------

def test_serve_refuses_a_file_with_errors_in_one_line(tmp_path):
    from click.testing import CliRunner

    from polyprompt.cli import cli

    bad = tmp_path / "bad.prompt"
    bad.write_text("prompt p(x: nosuchtype) {\n  user \"{{ x }}\"\n}\n")
    result = CliRunner().invoke(cli, ["serve", str(bad), "--port", "0"])
    assert result.exit_code == 1 and "has errors" in result.stderr and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["serve", str(TRIAGE), "--model", "openai-chat"])
    assert result.exit_code == 2 and "open-model target" in result.stderr


def test_serve_from_the_command_line_answers_and_stops_on_sigterm(tmp_path):
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "POLYPROMPT_API_KEY": "k-123"}
    proc = subprocess.Popen([sys.executable, "-m", "polyprompt", "serve", str(TRIAGE), "--port", str(port),
                             "--log-level", "warning"], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = httpx.get(url + "/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        assert answer.status_code == 401  # the key came from POLYPROMPT_API_KEY
        ok = httpx.post(url + "/prompts/triage/compile?target=gemini", json=INPUTS,
                        headers={"Authorization": "Bearer k-123"})
        assert ok.status_code == 200 and ok.json()["body"]["contents"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) in STOPPED
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
