"""What a compile gives: one `Compiled` type, however the body was made; and replies read back."""
from __future__ import annotations

from typing import Any, Callable


#: `send` and `asend` of the run layer (polyprompt/run/api.py), installed from above by the facade
#: (polyprompt/__init__.py): the session sits below `run` and imports nothing of it
_RUNNERS: dict[str, Callable] = {}


def install_runners(send: Callable, asend: Callable) -> None:
    """Set what `Compiled.run` and `Compiled.arun` call (done by `import polyprompt`)."""
    _RUNNERS.update(send=send, asend=asend)


def _runner(name: str) -> Callable:
    runner = _RUNNERS.get(name)
    if runner is None:  # only when the session is used without the package's top (never through `import polyprompt`)
        raise LookupError("running a compile needs polyprompt's run layer: `import polyprompt` installs it")
    return runner


class CompileError(Exception):
    """The file has errors, or the target cannot express the prompt."""

    def __init__(self, diagnostics):
        from ..compiler.diagnostics import render_all  # here: a compile from the cache never fails

        self.diagnostics = list(diagnostics)
        super().__init__(render_all(self.diagnostics))


class Compiled:
    """One prompt compiled for one target: the request `body` and the lowering `report`.

    `request` (the lowered IR), `backend` and, for a compile served by the compile cache, the
    `report` are made on first use by `full`, a function doing the whole compile: a body from the
    cache or the generated renderer does not need them. `made_by` says which made the body:
    "cache", "generated" or "passes" (the same body either way). The body is the caller's own: no
    later compile shares a mutable part of it.
    """

    __slots__ = ("target", "prompt", "body", "made_by", "_report", "_request", "_backend", "_full")

    def __init__(self, target: str, prompt: str, body: dict, made_by: str, report: tuple | None = None,
                 request: Any = None, backend: Any = None, full: Callable[[], "Compiled"] | None = None):
        self.target, self.prompt, self.body, self.made_by = target, prompt, body, made_by
        self._report, self._request, self._backend, self._full = report, request, backend, full

    def __repr__(self) -> str:
        return f"Compiled(target={self.target!r}, prompt={self.prompt!r}, made_by={self.made_by!r})"

    def _whole(self) -> "Compiled":
        whole = self._full()  # type: ignore[misc]
        self._report, self._request, self._backend, self._full = whole.report, whole.request, whole.backend, None
        return whole

    @property
    def report(self) -> tuple:
        """The PP4xx notes: every change made for the target, with the source span that caused it."""
        if self._report is None:
            self._whole()
        return self._report  # type: ignore[return-value]

    @property
    def request(self):
        """The lowered IR request (compiler/ir.py)."""
        if self._request is None and self._full is not None:
            self._whole()
        return self._request

    @property
    def backend(self):
        """The backend object of the target."""
        if self._backend is None and self._full is not None:
            self._whole()
        return self._backend

    def with_body(self, body: dict, report: tuple | None = None) -> "Compiled":
        """The same compile with another body (a changed setting, a body emitted again, fields added) and,
        when given, another report."""
        return Compiled(self.target, self.prompt, body, self.made_by, report=self._report if report is None else report,
                        request=self._request, backend=self._backend, full=self._full)

    def parse(self, reply: Any):
        """The provider's reply to this body: text, tool calls and the typed output value. `reply`
        is the provider's JSON or the response object of its SDK (see `parse_reply`)."""
        backend = self.backend
        return parse_reply(backend, reply, output=self.request.output,
                           tolerant=backend.caps.structured_output is None)

    def run(self, **options):
        """Send the body to its API target and read the typed answer: an `ApiResult` (value, text,
        tool calls, usage, latency); `ApiError` when it fails. `options` are those of
        `polyprompt.Client` (timeout, max_retries, base_url, env...). docs/run.md."""
        return _runner("send")(self, **options)

    async def arun(self, **options):
        """`run`, async: `await compiled.arun()`."""
        return await _runner("asend")(self, **options)

    def sdk_call(self):
        """The provider SDK's call that sends this body (`backends.sdk.SdkCall`): its client, method
        and keyword arguments; `NoSdkCall` (a LookupError) for an open-model target (docs/sdk.md)."""
        from ..backends.sdk import sdk_call

        return sdk_call(self.backend, self.body)

    @property
    def sdk_kwargs(self) -> dict:
        """The keyword arguments of the provider SDK's call, e.g.
        `client.chat.completions.create(**compiled.sdk_kwargs)`: the JSON the SDK sends is the body."""
        return self.sdk_call().kwargs


def parse_reply(target, reply: Any, output=None, tolerant: bool = False):
    """Read a provider's reply: `Reply(text, tool_calls, finish_reason, value)`.

    `target` is a target name or backend; `reply` the provider's JSON, or its SDK's response
    object (an OpenAI `ChatCompletion`, an Anthropic `Message`, a google-genai
    `GenerateContentResponse`...), read as the JSON it came from. `output` is the prompt's output
    (an IR `Output`, as on `Compiled.request.output`): the text is then parsed and validated into
    `value` (ReplyError when it does not fit). `tolerant` looks for the JSON inside prose, for
    targets that got the schema as instructions.
    """
    import attrs

    from .. import backends
    from ..compiler.replies import parse_output

    backend = backends.get(target)() if isinstance(target, str) else target
    parts = _read_reply(backend, reply)
    if output is None or parts.tool_calls and not parts.text:
        return parts
    return attrs.evolve(parts, value=parse_output(parts.text, output, tolerant))


def _read_reply(backend, reply):
    """The backend's reading of a reply; ReplyError when the reply is not the shape of that
    provider's response (a field of the wrong type, a list where an object belongs...)."""
    from ..backends.sdk import reply_json
    from ..compiler.replies import ReplyError

    try:
        reply = reply_json(reply)
    except (TypeError, ValueError) as err:  # an object whose dump fails: not a reply object
        raise ReplyError(f"cannot read a {type(reply).__name__} as a {backend.name} reply ({err})") from None
    if not isinstance(reply, dict):
        raise ReplyError(f"a {backend.name} reply is a JSON object, got {type(reply).__name__}")
    try:
        parts = backend.read_reply(reply)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as err:
        if isinstance(err, ReplyError):
            raise
        raise ReplyError(f"the reply does not have the shape of a {backend.name} response "
                         f"({type(err).__name__}: {err})") from None
    except RecursionError:  # a reply nested thousands deep (in tool arguments, say): Python recurses
        raise ReplyError(f"the {backend.name} reply nests too deep to read") from None
    if not isinstance(parts.text, str):
        raise ReplyError(f"the reply does not have the shape of a {backend.name} response (its text is "
                         f"{type(parts.text).__name__})")
    return parts
