"""The `openai` SDK: `client.chat.completions.create(**kwargs)` (openai-chat, openai-compatible)
and `client.responses.create(**kwargs)` (openai-responses).

The body's fields are the methods' keyword arguments, save those the method does not name
(`top_k`, other sampling fields of a compatible server): they go in `extra_body`, which the SDK
merges into the JSON as it is (given as a keyword, the SDK raises TypeError). The SDK sends the
body unchanged.
"""
from __future__ import annotations

from . import SdkCall, split_known

#: `chat.completions.create`'s parameters that are request fields (openai 1.x to 3.x)
CHAT_PARAMS = frozenset({
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "prompt_cache_key", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice", "tools",
    "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})
#: `responses.create`'s parameters that are request fields
RESPONSES_PARAMS = frozenset({
    "background", "conversation", "include", "input", "instructions", "max_output_tokens", "max_tool_calls",
    "metadata", "model", "parallel_tool_calls", "previous_response_id", "prompt", "prompt_cache_key",
    "reasoning", "safety_identifier", "service_tier", "store", "stream", "stream_options", "temperature", "text",
    "tool_choice", "tools", "top_logprobs", "top_p", "truncation", "user",
})
#: where a compatible server listens when the target declaration gives no `base_url` (vLLM's default)
DEFAULT_BASE_URL = "http://localhost:8000/v1"


def call(backend, body: dict) -> SdkCall:
    """The openai SDK call of an OpenAI target's body."""
    if type(backend).name == "openai-responses":
        return SdkCall("openai", ("import openai",), "openai.OpenAI()", "responses.create",
                       split_known(body, RESPONSES_PARAMS))
    client = "openai.OpenAI()"
    if type(backend).name == "openai-compatible":
        base_url = backend.options.get("base_url") or DEFAULT_BASE_URL
        client = f"openai.OpenAI(base_url={base_url!r}, api_key='none')"  # a local server takes any key
    return SdkCall("openai", ("import openai",), client, "chat.completions.create", split_known(body, CHAT_PARAMS))
