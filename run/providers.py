"""Where and how each API target's body is sent: the URL, the headers, the exact bytes.

`http_request(call, stream, env)` makes the `HttpRequest` of one attempt (Bedrock's SigV4 signature
is made per attempt: it holds the time). The body POSTed is the compiled body; the targets that put
the model in the URL (Gemini, Vertex, Bedrock) have it taken out with the backend's own `split`.
A stream adds only what the provider needs to stream (`"stream": true`, OpenAI's usage option)
or changes the URL (Gemini's `:streamGenerateContent?alt=sse`, Bedrock's `/converse-stream`).

Endpoints (../shared/design/run-serve.md §1); `base_url` (the client's, a target's `base_url`
option, else the provider's environment variable) replaces the part before the path shown:

| kind | default base | path |
|---|---|---|
| openai-chat, openai-responses | https://api.openai.com/v1 (`OPENAI_BASE_URL`) | /chat/completions, /responses |
| openai-compatible | the target's `base_url`, `OPENAI_BASE_URL` | /chat/completions |
| anthropic | https://api.anthropic.com (`ANTHROPIC_BASE_URL`) | /v1/messages |
| gemini | https://generativelanguage.googleapis.com/v1beta (`GOOGLE_GEMINI_BASE_URL`) | /models/{model}:generateContent |
| vertex | https://{location}-aiplatform.googleapis.com/v1 | /projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent |
| vertex, express mode | https://aiplatform.googleapis.com/v1 | /publishers/google/models/{m}:generateContent |

Vertex's express mode (an API key instead of application-default credentials) follows google-genai
(`_api_client.py` `BaseApiClient.__init__`, `_build_request`, `_request_once`): it is chosen when
`GOOGLE_GENAI_USE_VERTEXAI` is `true` or `1`, a key is set (`GOOGLE_API_KEY`, else
`GEMINI_API_KEY`) and no project or location is (not in the target, not in `GOOGLE_CLOUD_PROJECT`
or `GOOGLE_CLOUD_LOCATION`: those win over a key from the environment, as in google-genai); the
model path then has no project, the host is the global one and the key goes in `x-goog-api-key`
(never in the URL).
| bedrock-converse | https://bedrock-runtime.{region}.amazonaws.com (`AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) | /model/{modelId}/converse |
| mistral | https://api.mistral.ai/v1 (`MISTRAL_BASE_URL`) | /chat/completions |
| ollama | http://127.0.0.1:11434 (`OLLAMA_HOST`) | /api/chat |
"""
from __future__ import annotations

import json
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import attrs

from . import auth
from .errors import ApiError

#: the target kinds this module sends to (the backends' `name`)
KINDS = ("openai-chat", "openai-responses", "openai-compatible", "anthropic", "gemini", "vertex",
         "bedrock-converse", "mistral", "ollama")
ANTHROPIC_VERSION = "2023-06-01"
USER_AGENT = "polyprompt/0.1.0"
#: per kind: (default base URL, environment variables that replace it)
BASES: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "openai-chat": ("https://api.openai.com/v1", ("OPENAI_BASE_URL",)),
    "openai-responses": ("https://api.openai.com/v1", ("OPENAI_BASE_URL",)),
    "openai-compatible": (None, ("OPENAI_BASE_URL",)),
    "anthropic": ("https://api.anthropic.com", ("ANTHROPIC_BASE_URL",)),
    "gemini": ("https://generativelanguage.googleapis.com/v1beta", ("GOOGLE_GEMINI_BASE_URL",)),
    "vertex": (None, ()),
    "bedrock-converse": (None, ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL")),
    "mistral": ("https://api.mistral.ai/v1", ("MISTRAL_BASE_URL",)),
    "ollama": ("http://127.0.0.1:11434", ("OLLAMA_HOST",)),
}
#: how each kind streams: server-sent events, newline-delimited JSON, or AWS's binary event stream
STREAM_FORMATS = {"ollama": "ndjson", "bedrock-converse": "aws-eventstream"}


@attrs.frozen(repr=False)
class HttpRequest:
    """One attempt: `method`, `url`, `headers`, the body bytes (`content`), the stream format
    ("sse", "ndjson", "aws-eventstream"; None when not streaming), and the `secrets` in it (for
    redaction; never shown: the repr leaves the headers out)."""

    provider: str
    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    stream: str | None
    secrets: tuple[str, ...]

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.url}, stream={self.stream!r})"


@attrs.frozen(repr=False)
class Call:
    """What a compile needs to be sent, fixed once per call: the provider kind, the body, the target's
    options, the client's `base_url`, (Vertex) its credentials and (Anthropic) the betas asked for."""

    provider: str
    body: dict
    options: Mapping[str, Any]
    base_url: str | None
    google: Any = None
    betas: tuple[str, ...] = ()


def kind_of(compiled) -> str:
    """The target kind of a compile (a declared target's too); ApiError for an open-model target."""
    kind = getattr(type(compiled.backend), "name", None)
    if kind not in KINDS:
        raise ApiError(f"{compiled.target}: not an API target (run open models with `polyprompt run -t hf-...`)",
                       provider=str(kind), kind="config")
    return str(kind)


def http_request(call: Call, stream: bool, env: Mapping[str, str]) -> HttpRequest:
    """The request of one attempt for `call`: URL, headers with credentials, body bytes."""
    kind = call.provider
    body, path = _body_and_path(call, stream, env)
    base = _base(call, env)
    url = base.rstrip("/") + path
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "Accept": ("application/x-ndjson" if kind == "ollama" else "text/event-stream") if stream
               else "application/json"}
    if kind == "bedrock-converse":
        headers, secrets = _bedrock_auth(url, headers, content, env)
    else:
        secrets = _key_headers(call, headers, env)
    return HttpRequest(kind, "POST", url, headers, content,
                       STREAM_FORMATS.get(kind, "sse") if stream else None, secrets)


def _body_and_path(call: Call, stream: bool, env: Mapping[str, str]) -> tuple[dict, str]:
    """The JSON to POST and the URL path after the base."""
    kind, body = call.provider, call.body
    if kind in ("gemini", "vertex"):
        body = dict(body)
        model = body.pop("model")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        if kind == "vertex" and vertex_express_key(call, env) is None:
            model = _vertex_model_path(call, model, env)
        return body, f"/{model}:{method}"
    if kind == "bedrock-converse":
        body = dict(body)
        model_id = body.pop("modelId")
        return body, f"/model/{quote(model_id, safe='')}/{'converse-stream' if stream else 'converse'}"
    if stream:
        extra: dict = {"stream": True}
        if kind == "openai-chat":
            extra["stream_options"] = {"include_usage": True}  # the usage comes in a last chunk
        body = {**body, **extra}
    path = {"anthropic": "/v1/messages", "ollama": "/api/chat", "openai-responses": "/responses"}
    return body, path.get(kind, "/chat/completions")


def vertex_express_key(call: Call, env: Mapping[str, str]) -> str | None:
    """The API key of Vertex's express mode when it applies (see the module docstring), else None
    (application-default credentials)."""
    if call.provider != "vertex" or call.body["model"].startswith("projects/"):
        return None
    if (env.get("GOOGLE_GENAI_USE_VERTEXAI") or "").strip().lower() not in ("true", "1"):
        return None
    if env.get("GOOGLE_CLOUD_PROJECT") or env.get("GOOGLE_CLOUD_LOCATION"):
        return None
    return next((env[n].strip() for n in auth.KEY_VARS["gemini"] if (env.get(n) or "").strip()), None)


def _vertex_model_path(call: Call, model: str, env: Mapping[str, str]) -> str:
    """The full Vertex model path: a `publishers/...` path gets the project and location from the
    environment (`GOOGLE_CLOUD_PROJECT`, `GOOGLE_CLOUD_LOCATION`) or the credentials' project."""
    if model.startswith("projects/"):
        return model
    project = env.get("GOOGLE_CLOUD_PROJECT") or (call.google.default_project() if call.google else None)
    if not project:
        raise ApiError("vertex: no Google Cloud project: set the target's `project` option or GOOGLE_CLOUD_PROJECT",
                       provider="vertex", kind="config")
    location = env.get("GOOGLE_CLOUD_LOCATION") or "global"
    return f"projects/{project}/locations/{location}/{model}"


def _base(call: Call, env: Mapping[str, str]) -> str:
    """The base URL: the client's, the target's `base_url` option, the environment's, the default."""
    kind = call.provider
    default, names = BASES[kind]
    base = call.base_url or call.options.get("base_url")
    base = base or next((env[n] for n in names if env.get(n)), None)
    if base and kind == "ollama" and "://" not in base:  # OLLAMA_HOST is often host:port
        base = "http://" + base.replace("0.0.0.0", "127.0.0.1")
    if base:
        return base
    if kind == "vertex" and vertex_express_key(call, env) is not None:
        return "https://aiplatform.googleapis.com/v1"  # express mode: the global host
    if kind == "vertex":
        location = call.body["model"].split("/")[3] if call.body["model"].startswith("projects/") else (
            env.get("GOOGLE_CLOUD_LOCATION") or "global")
        host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
        return f"https://{host}/v1"
    if kind == "bedrock-converse":
        return f"https://bedrock-runtime.{auth.aws_region(env)}.amazonaws.com"
    if default is None:
        raise ApiError(f"{kind}: no server URL: give --base-url, the target's `base_url` option or OPENAI_BASE_URL",
                       provider=kind, kind="config")
    return default


def _key_headers(call: Call, headers: dict, env: Mapping[str, str]) -> tuple[str, ...]:
    """Add the credentials of a key-based provider (or Vertex's token) to `headers`; the secrets used."""
    kind = call.provider
    if kind == "vertex":
        express = vertex_express_key(call, env)
        if express is not None:
            headers["X-Goog-Api-Key"] = express
            return (express,)
        token = call.google.token()
        headers["Authorization"] = f"Bearer {token}"
        return (token,)
    key, var = auth.api_key(kind, env)
    if key is None:
        return ()
    if kind == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if call.betas:  # as the SDK's `betas=[...]`: one header, comma-separated
            headers["anthropic-beta"] = ",".join(call.betas)
        headers.update({"Authorization": f"Bearer {key}"} if var == "ANTHROPIC_AUTH_TOKEN" else {"X-Api-Key": key})
    elif kind == "gemini":
        headers["X-Goog-Api-Key"] = key
    else:
        headers["Authorization"] = f"Bearer {key}"
    if kind.startswith("openai-") and kind != "openai-compatible":
        for var_name, header in (("OPENAI_ORG_ID", "OpenAI-Organization"), ("OPENAI_PROJECT_ID", "OpenAI-Project")):
            if env.get(var_name):
                headers[header] = env[var_name]
    return (key,)


def _bedrock_auth(url: str, headers: dict, content: bytes, env: Mapping[str, str]) -> tuple[dict, tuple[str, ...]]:
    """Bedrock's credentials: a Bedrock API key as a bearer token, else a SigV4 signature."""
    token = (env.get("AWS_BEARER_TOKEN_BEDROCK") or "").strip()
    if token:
        return {**headers, "Authorization": f"Bearer {token}"}, (token,)
    host = urlsplit(url).hostname or ""
    region = host.split(".")[1] if _is_aws_host(url) else auth.aws_region(env)  # the region of the host signed for
    creds = auth.aws_credentials(env)
    signed = auth.sign_sigv4("POST", url, {"Content-Type": headers["Content-Type"]}, content, region, creds)
    secrets = tuple(s for s in (creds.secret_key, creds.token, creds.access_key) if s)
    return {**headers, **signed}, secrets


def _is_aws_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host.startswith("bedrock-runtime.") and host.endswith(".amazonaws.com")


def beta_names(names) -> tuple[str, ...]:
    """Anthropic beta names, checked: a header value cannot hold a comma, a space or a control
    character (one would split or end the header); ValueError names the bad one."""
    if isinstance(names, str):
        names = [names]
    out = []
    for name in names:
        if not isinstance(name, str) or not name or any(c in name for c in ", ;") or not name.isprintable():
            raise ValueError(f"anthropic_betas: {name!r} is not a beta name (e.g. 'context-1m-2025-08-07')")
        if name not in out:
            out.append(name)
    return tuple(out)
