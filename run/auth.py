"""Credentials of each provider, read from the environment the providers' own SDKs read.

- API keys (`api_key`): OpenAI `OPENAI_API_KEY`, Anthropic `ANTHROPIC_API_KEY` (or a bearer
  `ANTHROPIC_AUTH_TOKEN`), Gemini `GOOGLE_API_KEY` then `GEMINI_API_KEY` (google-genai's order),
  Mistral `MISTRAL_API_KEY`, Ollama `OLLAMA_API_KEY` (optional: a local server needs none).
- Bedrock (`sign_sigv4`): AWS Signature Version 4 made by botocore's own `SigV4Auth` (signing
  name `bedrock`), the credentials from botocore's standard chain (environment, shared files and
  profiles, SSO, instance metadata); or a Bedrock API key, `AWS_BEARER_TOKEN_BEDROCK`.
- Vertex (`GoogleAuth`): google-auth's application-default credentials, scope cloud-platform.

botocore and google-auth are imported here only, inside functions: a missing one is a
`MissingExtra` naming the `api` extra.
"""
from __future__ import annotations

import threading
from typing import Any, Mapping

from ..backends.extras import MissingExtra
from .errors import ApiError

#: per provider kind: the environment variables holding its key, first found wins
KEY_VARS: dict[str, tuple[str, ...]] = {
    "openai-chat": ("OPENAI_API_KEY",), "openai-responses": ("OPENAI_API_KEY",),
    "openai-compatible": ("OPENAI_API_KEY",), "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "gemini": ("GOOGLE_API_KEY", "GEMINI_API_KEY"), "mistral": ("MISTRAL_API_KEY",), "ollama": ("OLLAMA_API_KEY",),
}
#: providers that work without a key (local servers)
KEY_OPTIONAL = frozenset({"openai-compatible", "ollama"})
#: the scope of Vertex AI's access tokens
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def api_key(provider: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The key of `provider` and the variable it came from; (None, None) when none is set and the
    provider needs none; else an ApiError naming the variables to set."""
    names = KEY_VARS[provider]
    for name in names:
        value = (env.get(name) or "").strip()
        if value:
            return value, name
    if provider in KEY_OPTIONAL:
        return None, None
    raise ApiError(f"{provider}: no API key: set {' or '.join(names)}", provider=provider, kind="config")


def _botocore(action: str):
    try:
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        import botocore.session
    except ImportError as err:
        raise MissingExtra("api", action, err.name or "botocore") from None
    return botocore


def aws_region(env: Mapping[str, str]) -> str:
    """The AWS region: `AWS_REGION`, `AWS_DEFAULT_REGION`, else the profile's; ApiError when none."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name):
            return env[name].strip()
    region = _botocore("finding the AWS region").session.Session().get_config_variable("region")
    if region:
        return region
    raise ApiError("bedrock-converse: no AWS region: set AWS_REGION (e.g. us-east-1)",
                   provider="bedrock-converse", kind="config")


def aws_credentials(env: Mapping[str, str]):
    """Frozen AWS credentials: those in `env` first (AWS_ACCESS_KEY_ID...), else botocore's
    standard chain; ApiError when there are none."""
    botocore = _botocore("signing Bedrock requests (SigV4)")
    creds = botocore.credentials.EnvProvider(environ=dict(env)).load()
    if creds is None:
        creds = botocore.session.Session().get_credentials()
    if creds is None:
        raise ApiError("bedrock-converse: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                       "AWS_PROFILE, or AWS_BEARER_TOKEN_BEDROCK", provider="bedrock-converse", kind="config")
    return creds.get_frozen_credentials()


def sign_sigv4(method: str, url: str, headers: Mapping[str, str], body: bytes, region: str, creds) -> dict[str, str]:
    """`headers` plus the SigV4 ones (`X-Amz-Date`, `X-Amz-Security-Token`, `Authorization`) that
    botocore computes for this request, service `bedrock`."""
    botocore = _botocore("signing Bedrock requests (SigV4)")
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(creds, "bedrock", region).add_auth(request)
    return dict(request.headers.items())


class GoogleAuth:
    """Vertex AI's application-default credentials (google-auth), refreshed when they expire; one
    per client, safe to share between threads."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env
        self._lock = threading.Lock()
        self._creds: Any = None
        self.project: str | None = None

    def _load(self):
        try:
            import google.auth
            import google.auth.exceptions
        except ImportError as err:
            raise MissingExtra("api", "authenticating to Vertex AI", err.name or "google.auth") from None
        path = self._env.get("GOOGLE_APPLICATION_CREDENTIALS")
        try:
            if path:
                return _credentials_file(path)
            return google.auth.default(scopes=[CLOUD_PLATFORM])
        except google.auth.exceptions.DefaultCredentialsError as err:
            raise ApiError(f"vertex: no Google application-default credentials ({_first_sentence(err)}): run "
                           "`gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS",
                           provider="vertex", kind="config") from None

    def default_project(self) -> str | None:
        """The project of the credentials (a service account's, gcloud's quota project), if any."""
        with self._lock:
            if self._creds is None:
                self._creds, self.project = self._load()
            return self.project

    def token(self) -> str:
        """A valid access token (refreshed through google-auth when missing or expired)."""
        self.default_project()  # loads the credentials once
        with self._lock:
            creds = self._creds
            if not creds.valid:
                self._refresh(creds)
            return creds.token

    def _refresh(self, creds) -> None:
        import google.auth.exceptions
        from google.auth.transport.requests import Request

        try:
            creds.refresh(Request())
        except google.auth.exceptions.GoogleAuthError as err:
            raise ApiError(f"vertex: the application-default credentials could not be refreshed "
                           f"({_first_sentence(err)})", provider="vertex", status=401, kind="config") from None


def _credentials_file(path: str):
    """The credentials of a service-account or user (gcloud) credentials file, and its project."""
    import json

    import google.auth.exceptions

    try:
        with open(path, encoding="utf-8") as file:
            info = json.load(file)
    except (OSError, ValueError) as err:
        raise google.auth.exceptions.DefaultCredentialsError(f"cannot read {path}: {err}") from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        from google.oauth2 import service_account

        return (service_account.Credentials.from_service_account_info(info, scopes=[CLOUD_PLATFORM]),
                info.get("project_id"))
    if kind == "authorized_user":
        from google.oauth2 import credentials

        return credentials.Credentials.from_authorized_user_info(info, scopes=[CLOUD_PLATFORM]), info.get(
            "quota_project_id")
    raise google.auth.exceptions.DefaultCredentialsError(
        f"{path}: credentials of type {kind!r} are not supported here; use service_account or authorized_user")


def _first_sentence(err: Exception) -> str:
    """The first line of an auth library's message (they run long, with URLs to docs)."""
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]
