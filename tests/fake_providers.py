"""A fake of every API provider, served over real HTTP on 127.0.0.1 by a threaded server.

`FakeProviders` answers as OpenAI (Chat Completions and Responses), Anthropic, Gemini, Vertex,
Bedrock Converse, Mistral, Ollama and an OpenAI-compatible server, each under its own prefix
(`base(kind)` is the URL a client's `base_url` is set to). Every request is checked as the real
service would: the body against the provider's official schema (tests/schemas.py over
tests/data/refdata), the credentials (keys; Vertex's bearer token, which the fake's `/token`
endpoint issues to application-default credentials; Bedrock's SigV4 signature, recomputed with
botocore from the test credentials). A failed check is a 400 or 401 in the provider's error shape
and is kept in `problems`. Answers are in each provider's documented reply shape, streamed when
asked; `plan(kind, *actions)` queues what the next requests get instead of a plain answer:

- "ok" (the text answer), "tool" (a tool call), "malformed" (a 200 that is not JSON);
- {"status": 429, "headers": {"Retry-After": "1"}, "message": "..."}: an error in the provider's shape;
- {"stall": seconds}: accept the request and answer nothing for that long;
- {"redirect": url}: a 307 to another URL;
- {"stream_error": "..."}: a stream that fails after its first event;
- {"stream_cut": n}: a stream whose connection closes after its first n pieces;
- {"pad": n}: the answer with n more bytes of JSON padding (its Content-Length says so);
- {"endless": "json" | "events" | "line"}: a 200 with no Content-Length (chunked) that never ends:
  a JSON object padded without end, server-sent text events without end, or one line without end;
  `sent` holds how many bytes the server got to write before the client hung up.

Reusable by any test that needs a provider (run, bulk, serve): start it with `with FakeProviders() as fake:`.
"""
from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: the credentials the fake accepts; `env()` gives them as environment variables
KEYS = {"OPENAI_API_KEY": "sk-test-openai-5f2c9d1e8a7b", "ANTHROPIC_API_KEY": "sk-ant-test-0b1c2d3e4f5a",
        "GEMINI_API_KEY": "AIzaTest-gemini-9e8d7c6b5a", "MISTRAL_API_KEY": "mistral-test-1a2b3c4d5e",
        "AWS_ACCESS_KEY_ID": "AKIDFAKEPOLYPROMPT01", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYFAKEKEY01",
        "AWS_REGION": "us-east-1"}
#: the access token the fake's OAuth endpoint issues (Vertex)
VERTEX_TOKEN = "ya29.fake-vertex-token-7c1d2e3f"
#: a key of Vertex's express mode (the fake also takes the Gemini key there, as Google Cloud API keys go)
VERTEX_EXPRESS_KEY = "AQ.fake-vertex-express-4b3a2c1d"
#: the prefix of each provider kind under the server
PREFIX = {"openai-chat": "/openai/v1", "openai-responses": "/openai/v1", "openai-compatible": "/compat/v1",
          "mistral": "/mistral/v1", "anthropic": "/anthropic", "gemini": "/gemini/v1beta", "vertex": "/vertex/v1",
          "bedrock-converse": "/bedrock", "ollama": "/ollama"}
ROUTES = [("openai-chat", r"/openai/v1/chat/completions"), ("openai-responses", r"/openai/v1/responses"),
          ("openai-compatible", r"/compat/v1/chat/completions"), ("mistral", r"/mistral/v1/chat/completions"),
          ("anthropic", r"/anthropic/v1/messages"),
          ("gemini", r"/gemini/v1beta/(?P<model>models/[^:]+):(?P<method>\w+)(\?alt=sse)?"),
          ("vertex", r"/vertex/v1/(?P<model>(projects/|publishers/google/models/)[^:]+):(?P<method>\w+)(\?alt=sse)?"),
          ("bedrock-converse", r"/bedrock/model/(?P<model>[^/]+)/(?P<method>converse(-stream)?)"),
          ("ollama", r"/ollama/api/chat")]
ANSWER = '{"category": "bug", "urgent": true, "note": "charged twice"}'
TOOL = ("lookup", {"order_id": "A1"})


def env(**more: str) -> dict:
    """The environment of a client that talks to the fake (the test keys, a region)."""
    return {**KEYS, **more}


class FakeProviders:
    """The fake server (see the module docstring). `requests` holds every request received as
    (kind, path, headers, body); `problems` every check that failed."""

    def __init__(self, answer: str = ANSWER, tool: tuple[str, dict] = TOOL, delay: float = 0.0,
                 validate: bool = True):
        """`delay`: seconds each answer takes (a model's time, for concurrency benchmarks);
        `validate`: check bodies against the official schemas (off for load tests: it is CPU-bound)."""
        self.answer, self.tool, self.delay, self.validate = answer, tool, delay, validate
        self.requests: list[tuple[str, str, dict, Any]] = []
        self.problems: list[str] = []
        #: bytes written by the last `endless` reply before the client hung up
        self.sent = 0
        self._plans: dict[str, list] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # a short poll: `shutdown()` waits for the loop's next poll (0.5 s by default, every test)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def base(self, kind: str) -> str:
        """The base URL of a provider kind on this server (what a client's `base_url` is set to)."""
        return self.url + PREFIX[kind]

    def plan(self, kind: str, *actions) -> None:
        """Queue what the next requests for `kind` get (then plain answers again)."""
        with self._lock:
            self._plans.setdefault(kind, []).extend(actions)

    def next_action(self, kind: str):
        with self._lock:
            queue = self._plans.get(kind) or []
            return queue.pop(0) if queue else "ok"

    def count(self, kind: str) -> int:
        """How many requests `kind` received."""
        return sum(r[0] == kind for r in self.requests)

    def adc_file(self, folder) -> str:
        """An application-default credentials file (a service account with a fresh RSA key) whose
        token endpoint is this server; its path, for GOOGLE_APPLICATION_CREDENTIALS."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        path = folder / "adc.json"
        path.write_text(json.dumps({"type": "service_account", "project_id": "fake-project", "private_key_id": "k1",
                                    "private_key": pem, "client_email": "runner@fake-project.iam.gserviceaccount.com",
                                    "client_id": "1", "token_uri": self.url + "/token"}))
        return str(path)

    def start(self) -> "FakeProviders":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeProviders":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (as one does on a reply over its bound) is not an error to print."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeProviders

    def setup(self) -> None:
        super().setup()
        # headers and body are separate writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold every reply about 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        fake = self.server_fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/token":
            return self._json(200, {"access_token": VERTEX_TOKEN, "expires_in": 3600, "token_type": "Bearer"})
        kind, match = _route(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if kind is None:
            fake.problems.append(f"unknown path {self.path}")
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fake.requests.append((kind, self.path, headers, body))
        streamed = _streamed(kind, match, body)
        problem = _auth_problem(kind, self, raw, headers)
        if problem:
            fake.problems.append(f"{kind}: {problem}")
            return self._error(kind, 401, problem)
        problems = _body_problems(kind, match, body) if fake.validate else []
        if problems:
            fake.problems.append(f"{kind}: " + "; ".join(problems))
            return self._error(kind, 400, "; ".join(problems))
        self._act(kind, fake.next_action(kind), streamed, match)

    def _act(self, kind: str, action, streamed: bool, match) -> None:
        fake = self.server_fake
        if fake.delay:
            fake._stop.wait(fake.delay)
        if isinstance(action, dict) and "status" in action:
            return self._error(kind, action["status"], action.get("message", "fake error"), action.get("headers"))
        if isinstance(action, dict) and "stall" in action:
            fake._stop.wait(action["stall"])
            self.close_connection = True
            return
        if isinstance(action, dict) and "redirect" in action:
            return self._send(307, b"", {"Location": action["redirect"]})
        if isinstance(action, dict) and "endless" in action:
            return self._endless(kind, action["endless"])
        if isinstance(action, dict) and "pad" in action:
            body = {**reply(kind, fake.answer, None, "fake-model"), "padding": "x" * action["pad"]}
            return self._json(200, body)
        if action == "malformed":
            return self._send(200, b"<html>upstream proxy error</html>", {"Content-Type": "application/json"})
        tool = action == "tool"
        model = match.group("model") if "model" in match.groupdict() else "fake-model"
        if streamed:
            return self._stream(kind, tool, action if isinstance(action, dict) else {})
        self._json(200, reply(kind, None if tool else fake.answer, fake.tool if tool else None, model))

    def _stream(self, kind: str, tool: bool, action: dict) -> None:
        fake = self.server_fake
        events = stream_events(kind, None if tool else fake.answer, fake.tool if tool else None)
        if "stream_error" in action:
            events = events[:1] + [error_event(kind, action["stream_error"])]
        if "stream_cut" in action:
            events = events[:action["stream_cut"]]
        self.send_response(200)
        ctype = {"ollama": "application/x-ndjson", "bedrock-converse": "application/vnd.amazon.eventstream"}
        self.send_header("Content-Type", ctype.get(kind, "text/event-stream"))
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event)
            self.wfile.flush()
            time.sleep(0.001)
        self.close_connection = True

    def _endless(self, kind: str, what: str) -> None:
        """A chunked 200 that never ends (until the client hangs up, or 1 GiB as a safety stop)."""
        fake = self.server_fake
        fake.sent = 0
        self.send_response(200)
        self.send_header("Content-Type", "application/json" if what == "json" else "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event = b"".join(_sse({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [
            {"index": 0, "delta": {"content": "y" * 200}}]}) for _ in range(64))
        first, again = {"json": (b'{"padding": "', b"x" * 65536), "events": (event, event),
                        "line": (b"data: ", b"x" * 65536)}[what]
        piece = first
        try:
            while fake.sent < 1 << 30 and not fake._stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                fake.sent += len(piece)
                piece = again
        except OSError:  # the client hung up: what it should do
            pass
        self.close_connection = True

    def _error(self, kind: str, status: int, message: str, headers: dict | None = None) -> None:
        body, extra = error_body(kind, status, message)
        self._json(status, body, {**extra, **(headers or {})})

    def _json(self, status: int, body, headers: dict | None = None) -> None:
        self._send(status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _send(self, status: int, content: bytes, headers: dict) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


def _route(path: str):
    for kind, pattern in ROUTES:
        match = re.fullmatch(pattern, path)
        if match:
            return kind, match
    return None, None


def _streamed(kind: str, match, body) -> bool:
    if kind in ("gemini", "vertex"):
        return match.group("method") == "streamGenerateContent"
    if kind == "bedrock-converse":
        return match.group("method") == "converse-stream"
    return isinstance(body, dict) and body.get("stream") is True


# ---------------------------------------------------------------- checks


def _auth_problem(kind: str, handler, raw: bytes, headers: dict) -> str | None:
    """Why the request's credentials are wrong, or None."""
    bearer = headers.get("authorization", "")
    expected = {"openai-chat": KEYS["OPENAI_API_KEY"], "openai-responses": KEYS["OPENAI_API_KEY"],
                "mistral": KEYS["MISTRAL_API_KEY"], "vertex": VERTEX_TOKEN}
    if kind == "vertex" and "/publishers/" in handler.path and "/projects/" not in handler.path:
        if bearer:  # express mode: the key alone
            return "express mode takes an API key, not a bearer token"
        ok = headers.get("x-goog-api-key") in (VERTEX_EXPRESS_KEY, KEYS["GEMINI_API_KEY"])
        return None if ok else "API key not valid (express mode)"
    if kind in expected:
        return None if bearer == f"Bearer {expected[kind]}" else "missing or wrong bearer credentials"
    if kind in ("openai-compatible", "ollama"):
        return None if not bearer or bearer == f"Bearer {KEYS['OPENAI_API_KEY']}" else "wrong bearer key"
    if kind == "anthropic":
        if headers.get("anthropic-version") != "2023-06-01":
            return "the anthropic-version header is missing"
        betas = headers.get("anthropic-beta")
        if betas is not None and not re.fullmatch(r"[A-Za-z0-9._-]+(,[A-Za-z0-9._-]+)*", betas):
            return f"anthropic-beta is not a comma-separated list of beta names: {betas!r}"
        return None if headers.get("x-api-key") == KEYS["ANTHROPIC_API_KEY"] else "invalid x-api-key"
    if kind == "gemini":
        return None if headers.get("x-goog-api-key") == KEYS["GEMINI_API_KEY"] else "API key not valid"
    if kind == "bedrock-converse":
        return sigv4_problem(handler, raw, headers)
    return f"no auth rule for {kind}"


def sigv4_problem(handler, raw: bytes, headers: dict) -> str | None:
    """Recompute the request's SigV4 signature with botocore, from the test credentials and the
    headers the request says it signed; None when it matches the one sent."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = re.match(r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)"
                     r"/aws4_request, SignedHeaders=(?P<signed>[^,]+), Signature=(?P<sig>[0-9a-f]{64})$",
                     headers.get("authorization", ""))
    if not match:
        return "no SigV4 Authorization header"
    if match["key"] != KEYS["AWS_ACCESS_KEY_ID"] or match["service"] != "bedrock":
        return f"signed for {match['key']} / {match['service']}"
    signed = match["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        return "host and x-amz-date must be signed"
    url = f"http://{headers['host']}{handler.path}"
    request = AWSRequest(method="POST", url=url, data=raw,
                         headers={name: headers[name] for name in signed if name != "host"})
    request.context["timestamp"] = headers["x-amz-date"]
    auth = SigV4Auth(Credentials(KEYS["AWS_ACCESS_KEY_ID"], KEYS["AWS_SECRET_ACCESS_KEY"]), "bedrock", match["region"])
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    return None if signature == match["sig"] else "SigV4 signature does not match"


def _body_problems(kind: str, match, body) -> list[str]:
    """The body's errors against the provider's official schema."""
    import schemas
    from polyprompt import backends

    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    if kind in ("gemini", "vertex"):
        body = {"model": match.group("model"), **body}
    if kind == "openai-compatible":
        kind = "openai-chat"
    if kind == "ollama":
        body = {**body, "stream": False}  # the page's schema describes the non-streamed body
    return schemas.body_errors(backends.get(kind).schema, body)


# ---------------------------------------------------------------- replies


def reply(kind: str, text: str | None, tool: tuple[str, dict] | None, model: str = "fake-model") -> dict:
    """A reply JSON in the provider's documented shape: `text`, or a call of `tool` (name, args)."""
    args = json.dumps(tool[1]) if tool else ""
    if kind in ("openai-chat", "openai-compatible", "mistral"):
        message = {"role": "assistant", "content": text} if text is not None else {
            "role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": tool[0], "arguments": args}}]}  # type: ignore[index]
        return {"id": "cmpl-1", "object": "chat.completion", "created": 1, "model": model, "choices": [
            {"index": 0, "message": message, "finish_reason": "stop" if text is not None else "tool_calls"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}}
    if kind == "openai-responses":
        item = {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]} if text is not None else {
            "type": "function_call", "id": "fc_1", "call_id": "call_1", "name": tool[0], "arguments": args,  # type: ignore[index]
            "status": "completed"}
        return {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": model,
                "output": [item], "usage": {"input_tokens": 12, "output_tokens": 7, "total_tokens": 19}}
    if kind == "anthropic":
        block = {"type": "text", "text": text} if text is not None else {
            "type": "tool_use", "id": "toolu_1", "name": tool[0], "input": tool[1]}  # type: ignore[index]
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": model, "content": [block],
                "stop_reason": "end_turn" if text is not None else "tool_use", "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 7}}
    if kind in ("gemini", "vertex"):
        part = {"text": text} if text is not None else {"functionCall": {"name": tool[0], "args": tool[1]}}  # type: ignore[index]
        return {"candidates": [{"index": 0, "finishReason": "STOP", "content": {"role": "model", "parts": [part]}}],
                "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19},
                "modelVersion": "gemini-2.5-flash"}
    if kind == "bedrock-converse":
        block = {"text": text} if text is not None else {
            "toolUse": {"toolUseId": "tool_1", "name": tool[0], "input": tool[1]}}  # type: ignore[index]
        return {"output": {"message": {"role": "assistant", "content": [block]}},
                "stopReason": "end_turn" if text is not None else "tool_use",
                "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}, "metrics": {"latencyMs": 100}}
    if kind == "ollama":
        message = {"role": "assistant", "content": text} if text is not None else {
            "role": "assistant", "content": "", "tool_calls": [{"function": {"name": tool[0], "arguments": tool[1]}}]}  # type: ignore[index]
        return {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                "message": message, "prompt_eval_count": 12, "eval_count": 7}
    raise KeyError(kind)


def error_body(kind: str, status: int, message: str) -> tuple[dict, dict]:
    """An error reply in the provider's shape, and its extra headers."""
    if kind == "anthropic":
        kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                 529: "overloaded_error"}
        return {"type": "error", "error": {"type": kinds.get(status, "api_error"), "message": message},
                "request_id": "req_1"}, {}
    if kind in ("gemini", "vertex"):
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL"}
        return {"error": {"code": status, "message": message, "status": names.get(status, "UNKNOWN")}}, {}
    if kind == "bedrock-converse":
        names = {400: "ValidationException", 403: "AccessDeniedException", 429: "ThrottlingException",
                 500: "InternalServerException"}
        return {"message": message}, {"x-amzn-ErrorType": names.get(status, "InternalServerException")}
    if kind == "ollama":
        return {"error": message}, {}
    return {"error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error",
                      "param": None, "code": None}}, {}


def _chunks(text: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i:i + size] for i in range(0, len(text), size)]


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return (head + f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n").encode()


def stream_events(kind: str, text: str | None, tool: tuple[str, dict] | None) -> list[bytes]:
    """The wire pieces of a streamed reply, in the provider's format."""
    args = json.dumps(tool[1]) if tool else ""
    if kind in ("openai-chat", "openai-compatible", "mistral"):
        base = {"id": "cmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "fake-model"}
        out = [_sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
        if text is not None:
            out += [_sse({**base, "choices": [{"index": 0, "delta": {"content": c}}]}) for c in _chunks(text)]
        else:
            out.append(_sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1",
                             "type": "function", "function": {"name": tool[0], "arguments": ""}}]}}]}))  # type: ignore[index]
            out += [_sse({**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": c}}]}}]}) for c in _chunks(args)]
        finish = "stop" if text is not None else "tool_calls"
        out.append(_sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
        out.append(_sse({**base, "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 7}}))
        return out + [_sse("[DONE]")]
    if kind == "openai-responses":
        full = reply(kind, text, tool)
        out = [_sse({"type": "response.created", "sequence_number": 0,
                     "response": {**full, "status": "in_progress", "output": []}}, "response.created")]
        for i, c in enumerate(_chunks(text) if text is not None else []):
            out.append(_sse({"type": "response.output_text.delta", "sequence_number": i + 1, "item_id": "msg_1",
                             "output_index": 0, "content_index": 0, "delta": c}, "response.output_text.delta"))
        return out + [_sse({"type": "response.completed", "sequence_number": 99, "response": full},
                           "response.completed")]
    if kind == "anthropic":
        start = {"type": "message_start", "message": {**reply(kind, "", None), "content": [], "stop_reason": None,
                                                      "usage": {"input_tokens": 12, "output_tokens": 1}}}
        out = [_sse(start, "message_start"), _sse({"type": "ping"}, "ping")]
        if text is not None:
            out.append(_sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                            "content_block_start"))
            out += [_sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": c}},
                         "content_block_delta") for c in _chunks(text)]
        else:
            out.append(_sse({"type": "content_block_start", "index": 0, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": tool[0], "input": {}}}, "content_block_start"))  # type: ignore[index]
            out += [_sse({"type": "content_block_delta", "index": 0, "delta": {
                "type": "input_json_delta", "partial_json": c}}, "content_block_delta") for c in _chunks(args)]
        out.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        out.append(_sse({"type": "message_delta", "delta": {"stop_reason": "end_turn" if text is not None else "tool_use",
                         "stop_sequence": None}, "usage": {"output_tokens": 7}}, "message_delta"))
        return out + [_sse({"type": "message_stop"}, "message_stop")]
    if kind in ("gemini", "vertex"):
        if text is None:
            return [_sse(reply(kind, None, tool))]
        pieces = _chunks(text)
        out = [_sse({"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": c}]}}]})
               for c in pieces[:-1]]
        last = reply(kind, pieces[-1], None)
        return out + [_sse(last)]
    if kind == "ollama":
        lines = [{"model": "m", "created_at": "2024-01-01T00:00:00Z", "message": {"role": "assistant", "content": c},
                  "done": False} for c in (_chunks(text) if text is not None else [])]
        if text is None:
            lines.append({"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": tool[0], "arguments": tool[1]}}]}, "done": False})  # type: ignore[index]
        lines.append({"model": "m", "message": {"role": "assistant", "content": ""}, "done": True,
                      "done_reason": "stop", "prompt_eval_count": 12, "eval_count": 7})
        return [(json.dumps(line) + "\n").encode() for line in lines]
    if kind == "bedrock-converse":
        events = [("messageStart", {"role": "assistant"})]
        if text is not None:
            events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": c}}) for c in _chunks(text)]
        else:
            events.append(("contentBlockStart", {"contentBlockIndex": 0, "start": {
                "toolUse": {"toolUseId": "tool_1", "name": tool[0]}}}))  # type: ignore[index]
            events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"toolUse": {"input": c}}})
                       for c in _chunks(args)]
        events += [("contentBlockStop", {"contentBlockIndex": 0}),
                   ("messageStop", {"stopReason": "end_turn" if text is not None else "tool_use"}),
                   ("metadata", {"usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19},
                                 "metrics": {"latencyMs": 100}})]
        return [aws_event(name, payload) for name, payload in events]
    raise KeyError(kind)


def error_event(kind: str, message: str) -> bytes:
    """A mid-stream error in the provider's format."""
    if kind == "anthropic":
        return _sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")
    if kind == "openai-responses":
        return _sse({"type": "error", "code": "server_error", "message": message, "sequence_number": 5}, "error")
    if kind == "bedrock-converse":
        return aws_event("throttlingException", {"message": message}, "exception")
    if kind == "ollama":
        return (json.dumps({"error": message}) + "\n").encode()
    return _sse({"error": {"message": message, "code": 500}})


def aws_event(name: str, payload: dict, message_type: str = "event") -> bytes:
    """One frame of AWS's binary event stream (application/vnd.amazon.eventstream): prelude (total
    and headers lengths, CRC32), string headers, the JSON payload, the message CRC32."""
    kind_header = ":exception-type" if message_type == "exception" else ":event-type"
    headers = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack(">H", len(v)) + v.encode()
                       for k, v in ((kind_header, name), (":content-type", "application/json"),
                                    (":message-type", message_type)))
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", zlib.crc32(message))
