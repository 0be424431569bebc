"""boto3's `bedrock-runtime` client: `client.converse(**kwargs)`.

The body's members are `converse`'s parameters, `modelId` included (boto3 puts it in the URL),
with every blob (`source.bytes` of an image or document) as bytes: boto3 base64-encodes blobs
itself, so the body's base64 text would be encoded twice. boto3 then sends the body unchanged.
"""
from __future__ import annotations

from ..bedrock_converse import BedrockConverse
from . import SdkCall


def call(backend, body: dict) -> SdkCall:
    """The boto3 call of a Converse body."""
    return SdkCall("boto3", ("import boto3",), "boto3.client('bedrock-runtime')", "converse",
                   BedrockConverse.boto3_params(body))
