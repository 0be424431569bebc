"""The `anthropic` SDK: `client.messages.create(**kwargs)`.

`messages.create` no longer names the sampling fields (`temperature`, `top_p`, `top_k`: removed
from its signature in anthropic 2.x, a TypeError when given): they go in `extra_body`, which the
SDK merges into the JSON as it is, and so does any other field it does not name. The SDK sends
the body unchanged.
"""
from __future__ import annotations

from . import SdkCall, split_known

#: `messages.create`'s parameters that are request fields, in every anthropic SDK since
#: `output_config` came (the sampling fields are left out on purpose, see above)
MESSAGES_PARAMS = frozenset({
    "max_tokens", "messages", "model", "metadata", "output_config", "service_tier", "stop_sequences", "stream",
    "system", "thinking", "tool_choice", "tools",
})


def call(backend, body: dict) -> SdkCall:
    """The anthropic SDK call of an Anthropic Messages body."""
    return SdkCall("anthropic", ("import anthropic",), "anthropic.Anthropic()", "messages.create",
                   split_known(body, MESSAGES_PARAMS))
