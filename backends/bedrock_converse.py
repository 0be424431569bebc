"""AWS Bedrock Converse: `POST /model/{modelId}/converse`.

https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
Schema: `ConverseRequest` (refdata/aws/bedrock-runtime.service-2.json, a Smithy JSON model;
member names in camelCase). One API in front of many model families: the body is the same
for Claude, Nova, Llama or Mistral, only `additionalModelRequestFields` is model-specific.

- `modelId` is a URI member (the URL path). The body carries it anyway, so that a body is
  complete on its own: `BedrockConverse.split(body)` gives (modelId, body to POST), and
  `boto3_params(body)` the keyword arguments of boto3's `client.converse(**params)`
  (blobs decoded from base64 to bytes, as boto3 wants them).
- Content blocks are unions: `{"text": ...}`, `{"image": ...}`, `{"toolUse": ...}`,
  `{"cachePoint": ...}`: exactly one member each. Images and documents are inline bytes
  (base64 in the JSON wire format); the only other source is an S3 location.
- Cache breakpoints are `cachePoint` blocks of their own, after the content they close:
  in `system`, in a message's `content`, in `toolConfig.tools`.
- Structured output: `outputConfig.textFormat`, whose `jsonSchema.schema` is a *string*
  (the Smithy shape `JsonSchemaDefinition.schema` is `String`): the schema JSON-encoded.
- `top_k` and `reasoning_tokens` have no Converse field: they go to
  `additionalModelRequestFields` as Anthropic's `top_k` and `thinking` (the default model is
  Claude; other families name them differently, e.g. Nova's `inferenceConfig.topK`, so a
  target for them should drop or rename these settings).
"""
from __future__ import annotations

import base64
import copy
import itertools
import json

import attrs

from ..compiler import ir
from ..compiler.targets import MediaTypes, Refusals, SchemaDialect
from ._emit import claude_thinking, declare_history_tools, schema_name
from .base import Backend, Caps

#: media type -> `ImageBlock.format` (enum ImageFormat)
IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}
#: media type -> `DocumentBlock.format` (enum DocumentFormat)
DOCUMENT_FORMATS = {
    "application/pdf": "pdf", "text/csv": "csv", "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html", "text/plain": "txt", "text/markdown": "md",
}


#: `outputConfig.textFormat`: JSON Schema with an object root, sent as a string
BEDROCK_SCHEMA = SchemaDialect(name="bedrock", object_root=True)


class BedrockConverse(Backend):
    """AWS Bedrock Converse (`POST /model/{modelId}/converse`)."""
    name = "bedrock-converse"
    family = "aws"  # hosts several families; model ids look like `us.anthropic.claude-...`
    default_model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"  # a US cross-region inference profile
    docs = "https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html"
    caps = Caps(
        tool_result_media=True,
        system="top_level",  # `system`: a list of SystemContentBlock
        alternation=True,  # "A conversation must alternate between user and assistant roles"
        first_user=True,  # "A conversation must start with a user message"
        tools=True,
        tool_results="user_turn",  # toolResult blocks in a user message
        media=frozenset({"image", "file"}),  # ImageBlock, DocumentBlock (audio: model-specific, not offered)
        media_urls=frozenset(),  # bytes or s3Location only: no http(s) URLs
        structured_output="bedrock",  # outputConfig.textFormat (JSON Schema, passed through)
        cache="points",  # separate cachePoint blocks
        max_cache_breakpoints=4,
        settings={
            "temperature": "inferenceConfig.temperature", "top_p": "inferenceConfig.topP",
            "max_tokens": "inferenceConfig.maxTokens", "stop": "inferenceConfig.stopSequences",
            "top_k": "additionalModelRequestFields.top_k",
            "reasoning_tokens": "additionalModelRequestFields.thinking",
        },
        temperature_max=1.0,  # InferenceConfigurationTemperatureFloat: 0..1
    )
    model_prefixes = ()  # hosts several families: `us.anthropic.claude-...` ids name none of them
    dialects = (BEDROCK_SCHEMA,)
    passes = (claude_thinking, declare_history_tools)
    schema = ("aws/bedrock-runtime.service-2.json", "ConverseRequest")
    sample_reply = {"output": {"message": {"role": "assistant", "content": [{"text": "Hello."}]}},
                    "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 7},
                    "metrics": {"latencyMs": 100}}
    sample_reading = {"text": "Hello.", "finish_reason": "end_turn"}

    def refusals(self) -> Refusals:
        """Other providers' models, and media types outside Converse's `ImageFormat`/`DocumentFormat` enums."""
        types = {"image": MediaTypes(accepted=frozenset(IMAGE_FORMATS), noun="images"),
                 "file": MediaTypes(accepted=frozenset(DOCUMENT_FORMATS), noun="documents")}
        return attrs.evolve(super().refusals(), media_types=types)

    def write_messages(self, messages, documents=None) -> list[dict]:
        """Converse `messages`: each turn as content blocks (system turns go to `system`);
        `documents` numbers the documents of one body (their names must differ)."""
        documents = documents if documents is not None else itertools.count(1)
        return [{"role": m.role, "content": self.blocks(m, documents)} for m in messages]

    def emit(self, request: ir.Request) -> dict:
        system = [m for m in request.messages if m.role == "system"]
        turns = [m for m in request.messages if m.role != "system"]
        documents = itertools.count(1)
        body: dict = {"modelId": request.model, "messages": self.write_messages(turns, documents)}
        if system:
            body["system"] = [block for m in system for block in self.blocks(m, documents)]
        tools = [{"toolSpec": self.tool_spec(t)} for t in request.tools]
        if tools:
            if request.tools_cache:
                tools.append(self.cache_point(request.tools_cache))
            body["toolConfig"] = {"tools": tools}
        self.settings_into(body, request)  # reasoning_tokens: Claude's `thinking` object (claude_thinking)
        if request.output is not None and self.caps.structured_output is not None:
            definition = {"schema": json.dumps(request.output.schema, ensure_ascii=False, separators=(",", ":")),
                          "name": schema_name(request.output.name)}
            body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
        return body

    # -- the pieces
    def tool_spec(self, t: ir.Tool) -> dict:
        """A `toolSpec`: name, description when not empty, and the parameters as `inputSchema.json`."""
        spec: dict = {"name": t.name}
        if t.description:
            spec["description"] = t.description  # NonEmptyString: omitted when empty
        spec["inputSchema"] = {"json": t.parameters}
        return spec

    def cache_point(self, ttl: str) -> dict:
        """A `cachePoint` block; the `ttl` only when it is one the API takes (5m, 1h)."""
        point: dict = {"type": "default"}
        if ttl in ("5m", "1h"):
            point["ttl"] = ttl
        return {"cachePoint": point}

    def blocks(self, m: ir.Message, documents) -> list[dict]:
        """A turn's content blocks, followed by a cache point when the turn is marked for caching."""
        blocks = [self.block(p, documents) for p in m.parts]
        if m.cache and blocks:
            blocks.append(self.cache_point(m.cache))
        return blocks

    def block(self, p, documents) -> dict:
        """One content block: text, media, `toolUse` or `toolResult`."""
        if isinstance(p, ir.Text):
            return {"text": p.text}
        if isinstance(p, ir.Media):
            return self.media(p, documents)
        if isinstance(p, ir.ToolCall):
            return {"toolUse": {"toolUseId": p.id, "name": p.name, "input": p.arguments}}
        content = [self.block(c, documents) for c in p.content]
        result: dict = {"toolUseId": p.id, "content": content}
        if p.is_error:
            result["status"] = "error"  # "only supported by Amazon Nova and Anthropic Claude 3 and 4 models"
        return {"toolResult": result}

    def media(self, p: ir.Media, documents) -> dict:
        """An image or document block (check_media refused the media types Converse lacks)."""
        media_type = (p.media_type or "").lower()
        if p.kind == "image":
            return {"image": {"format": IMAGE_FORMATS.get(media_type, "png"), "source": {"bytes": p.data or ""}}}
        # DocumentBlock.name: letters, digits, single spaces, hyphens, parentheses, brackets
        return {"document": {"format": DOCUMENT_FORMATS.get(media_type, "pdf"), "name": f"document-{next(documents)}",
                             "source": {"bytes": p.data or ""}}}

    # -- using a body
    @staticmethod
    def split(body: dict) -> tuple[str, dict]:
        """The modelId (for the URL `/model/{modelId}/converse`) and the JSON body to POST."""
        rest = dict(body)
        return rest.pop("modelId"), rest

    @staticmethod
    def boto3_params(body: dict) -> dict:
        """Keyword arguments for boto3's `bedrock-runtime` `converse()`: the same members,
        with every blob (`source.bytes`) decoded from base64 to bytes."""
        params = copy.deepcopy(body)

        def walk(node):
            if isinstance(node, list):
                for x in node:
                    walk(x)
            elif isinstance(node, dict):
                source = node.get("source")
                if isinstance(source, dict) and isinstance(source.get("bytes"), str):
                    source["bytes"] = base64.b64decode(source["bytes"])
                for key, value in node.items():
                    if key not in ("input", "json"):  # documents: tool input and schemas stay as given
                        walk(value)

        walk(params.get("messages"))
        return params

    def read_reply(self, reply: dict):
        """`ConverseResponse`: `output.message.content` text and toolUse blocks, `stopReason`."""
        from ..compiler.replies import Reply

        blocks = ((reply.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(b["text"] for b in blocks if "text" in b)
        calls = tuple(ir.ToolCall(id=b["toolUse"]["toolUseId"], name=b["toolUse"]["name"],
                                  arguments=b["toolUse"].get("input") or {})
                      for b in blocks if "toolUse" in b)
        return Reply(text=text, tool_calls=calls, finish_reason=reply.get("stopReason"))
