"""The `mistralai` SDK: `client.chat.complete(**kwargs)`.

Every field of the body is a parameter of `chat.complete` (the SDK has no `extra_body`). The
SDK adds fields' defaults on its own: `"stream": false`, `"prefix": false` on assistant
messages that have none, `"index": 0` on tool calls; the API reads them as absent.
"""
from __future__ import annotations

from . import SdkCall


def call(backend, body: dict) -> SdkCall:
    """The mistralai call of a Mistral chat body."""
    return SdkCall("mistralai", ("import os", "from mistralai.client import Mistral"),
                   "Mistral(api_key=os.environ['MISTRAL_API_KEY'])", "chat.complete", body)
