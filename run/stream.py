"""Streamed replies: the wire formats read incrementally, and each provider's events gathered back
into the reply JSON its non-streamed call returns (so the same `parse` reads both).

Wire formats (../shared/design/run-serve.md §3): server-sent events (OpenAI, Mistral, compatible
servers, Anthropic, Gemini and Vertex with `alt=sse`), newline-delimited JSON (Ollama), and AWS's
binary event stream (Bedrock ConverseStream), read with botocore's `EventStreamBuffer`.
Each `Gatherer.feed(event, data)` returns the text delta of an event (or "") and raises
`StreamError` for an error event; `reply()` gives the gathered reply JSON.
"""
from __future__ import annotations

import json
from typing import Any, Iterator


class StreamError(Exception):
    """An error event inside a stream (a provider's mid-stream error, an unreadable event)."""


class SSEParser:
    """Server-sent events, line by line: `line(text)` returns (event, data) when a blank line ends
    an event that has data, else None. Comments (`:`) and `id:`/`retry:` are skipped."""

    def __init__(self):
        self._event: str | None = None
        self._data: list[str] = []

    def line(self, text: str) -> tuple[str | None, str] | None:
        """Feed one line (without its end of line)."""
        if not text:
            if not self._data:
                self._event = None
                return None
            done = (self._event, "\n".join(self._data))
            self._event, self._data = None, []
            return done
        if text.startswith(":"):
            return None
        field, _, value = text.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        return None

    def end(self) -> tuple[str | None, str] | None:
        """The last event when the stream ends without a blank line."""
        return self.line("")


def sse_events(lines) -> Iterator[tuple[str | None, str]]:
    """(event, data) of an iterable of lines."""
    parser = SSEParser()
    for text in lines:
        event = parser.line(text)
        if event is not None:
            yield event
    last = parser.end()
    if last is not None:
        yield last


def decode(data: str) -> Any:
    """The JSON of an event's data; StreamError when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        raise StreamError(f"a stream event is not JSON: {data[:80]!r}") from None


class Gatherer:
    """Gathers one provider's stream events into its reply JSON."""

    done = False

    def feed(self, event: str | None, data: Any) -> str:
        """Take one event's JSON; its text delta ("" for none)."""
        raise NotImplementedError

    def reply(self) -> dict:
        """The reply JSON the non-streamed call would have returned."""
        raise NotImplementedError


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or error)
    return str(error)


class ChatGatherer(Gatherer):
    """Chat Completions chunks (OpenAI, Mistral, compatible servers): content deltas, tool-call
    argument fragments joined by `index`, the usage of the last chunk; `[DONE]` ends."""

    def __init__(self):
        self.text: list[str] = []
        self.calls: dict[int, dict] = {}
        self.finish: str | None = None
        self.usage: dict | None = None
        self.meta: dict = {}

    def feed(self, event, data):
        if isinstance(data, dict) and data.get("error"):
            raise StreamError(_error_text(data["error"]))
        self.meta = {k: data[k] for k in ("id", "model", "created") if k in data} or self.meta
        if data.get("usage"):
            self.usage = data["usage"]
        delta_text = ""
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, list):  # Mistral may send content chunks
                content = "".join(c.get("text", "") for c in content if isinstance(c, dict))
            if content:
                delta_text += content
            for fragment in delta.get("tool_calls") or []:
                self._tool_fragment(fragment)
            self.finish = choice.get("finish_reason") or self.finish
        self.done = self.done or self.finish is not None  # some servers end without `[DONE]`
        self.text.append(delta_text)
        return delta_text

    def _tool_fragment(self, fragment: dict) -> None:
        call = self.calls.setdefault(fragment.get("index", len(self.calls)),
                                     {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = fragment.get("id") or call["id"]
        function = fragment.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        arguments = function.get("arguments")
        call["function"]["arguments"] += arguments if isinstance(arguments, str) else (
            json.dumps(arguments) if arguments is not None else "")

    def reply(self):
        message: dict = {"role": "assistant", "content": "".join(self.text) or None}
        if self.calls:
            message["tool_calls"] = [self.calls[i] for i in sorted(self.calls)]
        out = {**self.meta, "object": "chat.completion",
               "choices": [{"index": 0, "message": message, "finish_reason": self.finish}]}
        if self.usage:
            out["usage"] = self.usage
        return out


class ResponsesGatherer(Gatherer):
    """OpenAI Responses events: `response.output_text.delta` text; `response.completed` (or
    `.incomplete`) carries the whole response; `error` and `response.failed` raise."""

    def __init__(self):
        self.response: dict | None = None

    def feed(self, event, data):
        kind = data.get("type") or event
        if kind == "response.output_text.delta":
            return data.get("delta") or ""
        if kind in ("response.completed", "response.incomplete"):
            self.response, self.done = data.get("response") or {}, True
        elif kind == "error":
            raise StreamError(_error_text(data.get("error") or data))
        elif kind == "response.failed":
            raise StreamError(_error_text((data.get("response") or {}).get("error") or "the response failed"))
        return ""

    def reply(self):
        if self.response is None:
            raise StreamError("the stream ended before `response.completed`")
        return self.response


class AnthropicGatherer(Gatherer):
    """Anthropic Messages events: blocks opened, grown by deltas (text, tool input JSON fragments,
    thinking), closed; `message_delta` gives the stop reason and output tokens."""

    def __init__(self):
        self.message: dict = {"type": "message", "role": "assistant", "content": []}
        self.partial: dict[int, str] = {}

    def feed(self, event, data):
        kind = data.get("type") or event
        if kind == "error":
            raise StreamError(_error_text(data.get("error")))
        if kind == "message_start":
            self.message.update({k: v for k, v in (data.get("message") or {}).items() if k != "content"})
        elif kind == "content_block_start":
            block = dict(data.get("content_block") or {})
            self._blocks(data.get("index", 0))[data.get("index", 0)] = block
        elif kind == "content_block_delta":
            return self._delta(data.get("index", 0), data.get("delta") or {})
        elif kind == "content_block_stop":
            self._close(data.get("index", 0))
        elif kind == "message_delta":
            self.message.update(data.get("delta") or {})
            usage = data.get("usage") or {}
            self.message["usage"] = {**(self.message.get("usage") or {}), **usage}
        elif kind == "message_stop":
            self.done = True
        return ""

    def _blocks(self, index: int) -> list:
        content = self.message["content"]
        while len(content) <= index:
            content.append({"type": "text", "text": ""})
        return content

    def _delta(self, index: int, delta: dict) -> str:
        block = self._blocks(index)[index]
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
            return delta.get("text", "")
        if kind == "input_json_delta":
            self.partial[index] = self.partial.get(index, "") + delta.get("partial_json", "")
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
        elif kind == "signature_delta":
            block["signature"] = delta.get("signature", "")
        return ""

    def _close(self, index: int) -> None:
        if index in self.partial:
            text = self.partial.pop(index)
            self._blocks(index)[index]["input"] = decode(text) if text.strip() else {}

    def reply(self):
        for index in list(self.partial):
            self._close(index)
        return self.message


class GeminiGatherer(Gatherer):
    """Gemini and Vertex chunks: each a `GenerateContentResponse` with a few parts; text parts are
    joined, function calls come whole; the last chunk's finish reason and usage are kept."""

    def __init__(self):
        self.parts: list[dict] = []
        self.last: dict = {}
        self.finish: str | None = None

    def feed(self, event, data):
        if isinstance(data, dict) and data.get("error"):
            raise StreamError(_error_text(data["error"]))
        self.last = {k: v for k, v in data.items() if k != "candidates"} or self.last
        delta = ""
        for candidate in (data.get("candidates") or [])[:1]:
            for part in (candidate.get("content") or {}).get("parts") or []:
                delta += self._part(part)
            self.finish = candidate.get("finishReason") or self.finish
        self.done = self.finish is not None
        return delta

    def _part(self, part: dict) -> str:
        plain_text = "text" in part and set(part) <= {"text"}
        if plain_text and self.parts and set(self.parts[-1]) == {"text"}:
            self.parts[-1] = {"text": self.parts[-1]["text"] + part["text"]}
        else:
            self.parts.append(dict(part))
        return part["text"] if "text" in part and not part.get("thought") else ""

    def reply(self):
        candidate: dict = {"index": 0, "content": {"role": "model", "parts": self.parts}}
        if self.finish:
            candidate["finishReason"] = self.finish
        return {**self.last, "candidates": [candidate]}


class OllamaGatherer(Gatherer):
    """Ollama's NDJSON lines: message content deltas, whole tool calls; the `done` line has the counts."""

    def __init__(self):
        self.text: list[str] = []
        self.calls: list = []
        self.last: dict = {}

    def feed(self, event, data):
        if data.get("error"):
            raise StreamError(_error_text(data["error"]))
        message = data.get("message") or {}
        self.calls += message.get("tool_calls") or []
        self.last = data
        self.done = bool(data.get("done"))
        self.text.append(message.get("content") or "")
        return message.get("content") or ""

    def reply(self):
        message = {"role": "assistant", "content": "".join(self.text)}
        if self.calls:
            message["tool_calls"] = self.calls
        return {**self.last, "message": message}


class BedrockGatherer(Gatherer):
    """Bedrock ConverseStream events: blocks started, grown by deltas (text, tool input JSON
    fragments), stopped; `messageStop` has the stop reason, `metadata` (after it) the usage."""

    def __init__(self):
        self.content: list[dict] = []
        self.partial: dict[int, str] = {}
        self.out: dict = {}

    def feed(self, event, data):
        index = data.get("contentBlockIndex", 0)
        if event == "contentBlockStart":
            tool = (data.get("start") or {}).get("toolUse")
            if tool:  # a tool-use block, not the text block `_block` makes by default
                self._block(index)
                self.content[index] = {"toolUse": {**tool, "input": {}}}
        elif event == "contentBlockDelta":
            delta = data.get("delta") or {}
            if "text" in delta:
                block = self._block(index)
                block["text"] = block.get("text", "") + delta["text"]
                return delta["text"]
            if "toolUse" in delta:
                self.partial[index] = self.partial.get(index, "") + (delta["toolUse"].get("input") or "")
        elif event == "contentBlockStop" and index in self.partial:
            text = self.partial.pop(index)
            self._block(index)["toolUse"]["input"] = decode(text) if text.strip() else {}
        elif event == "messageStop":
            self.out["stopReason"] = data.get("stopReason")
            self.done = True  # `metadata` (the usage) follows, when the stream is not cut
        elif event == "metadata":
            self.out.update({k: data[k] for k in ("usage", "metrics") if k in data})
        return ""

    def _block(self, index: int) -> dict:
        while len(self.content) <= index:
            self.content.append({"text": ""})
        return self.content[index]

    def reply(self):
        return {"output": {"message": {"role": "assistant", "content": self.content}}, **self.out}


GATHERERS = {"openai-chat": ChatGatherer, "openai-compatible": ChatGatherer, "mistral": ChatGatherer,
             "openai-responses": ResponsesGatherer, "anthropic": AnthropicGatherer, "gemini": GeminiGatherer,
             "vertex": GeminiGatherer, "ollama": OllamaGatherer, "bedrock-converse": BedrockGatherer}


class AwsEventStream:
    """Bedrock's binary event stream, fed bytes: (event type, JSON payload) per complete message;
    an exception message raises StreamError with its type and message."""

    def __init__(self):
        from botocore.eventstream import EventStreamBuffer

        self._buffer = EventStreamBuffer()

    def feed(self, chunk: bytes) -> Iterator[tuple[str, Any]]:
        """The events completed by `chunk`."""
        from botocore.eventstream import ParserError

        self._buffer.add_data(chunk)
        try:
            for message in self._buffer:
                headers = message.headers
                payload = decode(message.payload.decode("utf-8") or "{}")
                if headers.get(":message-type") == "exception":
                    raise StreamError(f"{headers.get(':exception-type')}: {_error_text(payload)}")
                if headers.get(":message-type") == "error":
                    raise StreamError(f"{headers.get(':error-code')}: {headers.get(':error-message')}")
                yield headers.get(":event-type", ""), payload
        except ParserError as err:
            raise StreamError(f"the event stream is corrupt ({err})") from None
