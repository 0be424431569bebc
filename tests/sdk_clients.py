"""The providers' real SDK clients, each on a mock transport that records what the SDK puts on the
wire and answers with a reply of the test's choice (tests/test_sdk_calls.py, test_sdk_replies.py).

    wire = Wire(reply={"choices": [...]})
    client = make_client("openai-chat", wire)
    client.chat.completions.create(**compiled.sdk_kwargs)
    wire.url, wire.json     # the request the SDK sent

openai, anthropic and mistralai send through httpx2, google-genai and ollama through httpx: each
client takes a client or transport of its own library. boto3 has no transport to swap: a
`before-send` event handler records the serialized request and returns the response instead.
"""
from __future__ import annotations

import json

import anthropic
import boto3
import httpx
import httpx2
import ollama
import openai
from botocore.awsrequest import AWSResponse
from google import genai
from google.genai import types as genai_types
from google.oauth2.credentials import Credentials
from mistralai.client import Mistral

from polyprompt.backends.sdk.openai import DEFAULT_BASE_URL

#: the API version each Google target's body is written for (backends/gemini.py, vertex.py)
GOOGLE_VERSIONS = {"gemini": "v1beta", "vertex": "v1"}


class Wire:
    """A mock server: the last request's URL and JSON body, and the reply it answers with."""

    def __init__(self, reply: dict):
        self.reply = reply
        self.url: str | None = None
        self.json: dict | None = None

    def record(self, url: str, content: bytes) -> bytes:
        """Note one request; the reply's bytes."""
        self.url, self.json = url, json.loads(content)
        return json.dumps(self.reply).encode()

    def httpx2_transport(self) -> httpx2.MockTransport:
        """A transport for the httpx2-based SDKs."""
        return httpx2.MockTransport(lambda req: httpx2.Response(
            200, content=self.record(str(req.url), req.content), headers={"content-type": "application/json"}))

    def httpx_transport(self) -> httpx.MockTransport:
        """A transport for the httpx-based SDKs."""
        return httpx.MockTransport(lambda req: httpx.Response(
            200, content=self.record(str(req.url), req.content), headers={"content-type": "application/json"}))


class _Raw:
    """What botocore reads a response body from."""

    def __init__(self, data: bytes):
        self.data = data

    def stream(self, **_):
        yield self.data


def make_client(target: str, wire: Wire, options: dict | None = None):
    """The SDK client for a target kind, sending to `wire`; `options` are the target declaration's
    (`base_url` of a compatible server, `project` and `location` on Vertex)."""
    options = options or {}
    if target in ("openai-chat", "openai-responses", "openai-compatible"):
        base_url = "https://api.openai.com/v1"
        if target == "openai-compatible":
            base_url = options.get("base_url") or DEFAULT_BASE_URL
        return openai.OpenAI(api_key="k", base_url=base_url, max_retries=0,
                             http_client=httpx2.Client(transport=wire.httpx2_transport()))
    if target == "anthropic":
        return anthropic.Anthropic(api_key="k", max_retries=0, http_client=httpx2.Client(transport=wire.httpx2_transport()))
    if target in GOOGLE_VERSIONS:
        return google_client(target, wire, options)
    if target == "bedrock-converse":
        return bedrock_client(wire)
    if target == "mistral":
        return Mistral(api_key="k", client=httpx2.Client(transport=wire.httpx2_transport()))
    if target == "ollama":
        return ollama.Client(transport=wire.httpx_transport())
    raise LookupError(target)


def google_client(target: str, wire: Wire, options: dict):
    """google-genai on the Gemini API, or on Vertex (with a project, or in express mode with a key)."""
    http = genai_types.HttpOptions(api_version=GOOGLE_VERSIONS[target],
                                   httpx_client=httpx.Client(transport=wire.httpx_transport()))
    if target == "gemini":
        return genai.Client(api_key="k", http_options=http)
    if options.get("project"):
        return genai.Client(vertexai=True, project=options["project"], location=options.get("location", "global"),
                            credentials=Credentials(token="t"), http_options=http)
    return genai.Client(vertexai=True, api_key="k", http_options=http)


def bedrock_client(wire: Wire):
    """boto3's bedrock-runtime client; the serialized request goes to `wire` instead of AWS."""
    client = boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="a",
                          aws_secret_access_key="b")

    def before_send(request, **_):
        data = wire.record(request.url, request.body)
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, _Raw(data))

    client.meta.events.register("before-send.bedrock-runtime.Converse", before_send)
    return client
