"""An API target in an evaluation: every row's exact body sent by the run layer's client
(run/api.py) with a concurrency limit, answers kept in the reply cache (run/cache.py) so that
evaluating again pays nothing twice.

A row whose request fails after the client's retries is that row's error (counted in the report);
a setup error (a missing key, refused credentials) ends the target: `TargetFailed`, and the report
keeps what was answered and is marked partial.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Sequence

import attrs

from .targets import Answer, TargetFailed, answering_tests


@attrs.define
class ApiTarget:
    """An API target answered over HTTP (see the module docstring). `client` is a
    `run.api.Client` (made on first use with `base_url`); `cache` a `run.cache.ReplyCache` or None."""
    label: str
    target: str
    concurrency: int = 8
    cache: Any = None
    base_url: str | None = None
    client: Any = None
    kind: str = "api"

    @property
    def rows_at_once(self) -> int:
        """How many rows the runner hands over at once: enough to keep `concurrency` requests in
        flight (a smaller batch would cap them at the batch's size)."""
        return 4 * self.concurrency

    def answer(self, compiled: Any, row: int = 0) -> Answer:
        """One row's answer."""
        return self.answer_rows([compiled], [row])[0]

    def answer_rows(self, compiled: Sequence[Any], rows: Sequence[int]) -> list[Answer]:
        """The answers of several rows, sent concurrently; in the order given."""
        return asyncio.run(self._answer_all(list(compiled)))

    def test_answer(self, title: str) -> Callable[[Any], Any]:
        """The answer function of a `test` block: the target's answer, sent like a row's."""
        return answering_tests(self.answer)

    async def _answer_all(self, compiled: list[Any]) -> list[Answer]:
        from ..run.api import Client

        client = self.client or Client(base_url=self.base_url)
        slots = asyncio.Semaphore(self.concurrency)
        fatal: list[str] = []
        try:
            answers = await asyncio.gather(*(self._one(client, c, slots, fatal) for c in compiled))
        finally:
            if self.client is None:
                await client.aclose()
        if fatal:
            raise TargetFailed(f"{self.label}: {fatal[0]}")
        return list(answers)

    async def _one(self, client: Any, compiled: Any, slots: asyncio.Semaphore, fatal: list[str]) -> Answer:
        from ..run.cache import key_of

        key = key_of(self.target, compiled.body, {"base_url": self.base_url} if self.base_url else None)
        stored = self.cache.get(key) if self.cache is not None else None
        if stored is not None:
            return _answer(stored, None)
        async with slots:
            if fatal:
                return Answer(error="not sent: the target failed")
            started = time.perf_counter()
            try:
                result = await client.asend(compiled)
            except Exception as err:  # noqa: BLE001 (one row's failure is that row's error)
                if getattr(err, "kind", None) in ("config", "auth") or getattr(err, "status", None) in (401, 403):
                    fatal.append(str(err))
                return Answer(error=str(err), latency_ms=(time.perf_counter() - started) * 1000)
        data = result.to_json()  # tool calls as plain JSON, as the cache keeps them
        fields = {name: data[name] for name in ("value", "text", "usage", "latency_ms", "tool_calls")}
        if result.parse_error is None and self.cache is not None:
            self.cache.put(key, {**fields, "raw": data["raw"]})
        return _answer(fields, result.parse_error)


def _answer(fields: dict, parse_error: str | None) -> Answer:
    """An Answer of a result's fields (live, or from the cache)."""
    usage = fields.get("usage") or {}
    tokens = None
    if isinstance(usage.get("input_tokens"), int) and isinstance(usage.get("output_tokens"), int):
        tokens = (usage["input_tokens"], usage["output_tokens"])
    value = fields.get("value")
    if parse_error is None and value is None and fields.get("tool_calls"):
        value = fields["tool_calls"]
    return Answer(None if parse_error else value, fields.get("text"), parse_error, latency_ms=fields.get("latency_ms"),
                  tokens=tokens)
