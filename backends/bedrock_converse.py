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
import json

from ..compiler import ir
from ._emit import choose_model, claude_thinking, schema_name
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


class BedrockConverse(Backend):
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
    _documents = 0  # documents numbered per body, for their required names

    def emit(self, request: ir.Request, report) -> dict:
        system = [m for m in request.messages if m.role == "system"]
        turns = [m for m in request.messages if m.role != "system"]
        self._documents = 0
        body: dict = {"modelId": choose_model(request, self, report),
                      "messages": [{"role": m.role, "content": self.blocks(m, report, request)} for m in turns]}
        if system:
            body["system"] = [block for m in system for block in self.blocks(m, report, request)]
        tools = [{"toolSpec": self.tool_spec(t)} for t in request.tools] or self.history_tools(request, report)
        if tools:
            if request.tools_cache:
                tools.append(self.cache_point(request.tools_cache))
            body["toolConfig"] = {"tools": tools}
        self.settings_into(body, request)
        extra = body.get("additionalModelRequestFields", {})
        if isinstance(extra.get("thinking"), int):
            config = body.setdefault("inferenceConfig", {})
            extra["thinking"], max_tokens = claude_thinking(extra["thinking"], config.get("maxTokens"), request,
                                                            self, report)
            if max_tokens is not None:
                config["maxTokens"] = max_tokens
        if request.output is not None and self.caps.structured_output is not None:
            definition = {"schema": json.dumps(request.output.schema, ensure_ascii=False, separators=(",", ":")),
                          "name": schema_name(request.output.name)}
            body["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
        return body

    # -- the pieces
    def tool_spec(self, t: ir.Tool) -> dict:
        spec: dict = {"name": t.name}
        if t.description:
            spec["description"] = t.description  # NonEmptyString: omitted when empty
        spec["inputSchema"] = {"json": t.parameters}
        return spec

    def history_tools(self, request: ir.Request, report) -> list[dict]:
        """Converse rejects toolUse/toolResult blocks without a `toolConfig`: when the turns
        hold tool calls (e.g. from spliced history) but the prompt offers no tools, declare
        the tools they name, with an open schema."""
        names: dict[str, object] = {}
        for m in request.messages:
            for p in m.parts:
                if isinstance(p, (ir.ToolCall, ir.ToolResult)) and p.name:
                    names.setdefault(p.name, p.span or m.span)
        for name, span in names.items():
            report.info("PP410", f"tool `{name}` declared with an open schema: {self.name} needs a tool definition "
                        f"for every tool call in the conversation", span or request.span,
                        help="offer the tool with `tools` to send its real schema")
        return [{"toolSpec": {"name": n, "inputSchema": {"json": {"type": "object"}}}} for n in names]

    def cache_point(self, ttl: str) -> dict:
        point: dict = {"type": "default"}
        if ttl in ("5m", "1h"):
            point["ttl"] = ttl
        return {"cachePoint": point}

    def blocks(self, m: ir.Message, report, request) -> list[dict]:
        blocks = [self.block(p, report, request) for p in m.parts]
        if m.cache and blocks:
            blocks.append(self.cache_point(m.cache))
        return blocks

    def block(self, p, report, request) -> dict:
        if isinstance(p, ir.Text):
            return {"text": p.text}
        if isinstance(p, ir.Media):
            return self.media(p, report, request)
        if isinstance(p, ir.ToolCall):
            return {"toolUse": {"toolUseId": p.id, "name": p.name, "input": p.arguments}}
        content = [self.block(c, report, request) for c in p.content]
        result: dict = {"toolUseId": p.id, "content": content}
        if p.is_error:
            result["status"] = "error"  # "only supported by Amazon Nova and Anthropic Claude 3 and 4 models"
        return {"toolResult": result}

    def media(self, p: ir.Media, report, request) -> dict:
        media_type = (p.media_type or "").lower()
        # media the target cannot take at all was reported by check_media (PP302): no second error
        checked = p.kind in self.caps.media and p.url is None
        if p.kind == "image":
            fmt = IMAGE_FORMATS.get(media_type)
            if fmt is None and checked:
                report.error("PP302", f"{self.name} cannot take `{p.media_type}` images",
                             p.span or request.span, help="it takes: " + ", ".join(sorted(set(IMAGE_FORMATS))))
            return {"image": {"format": fmt or "png", "source": {"bytes": p.data or ""}}}
        fmt = DOCUMENT_FORMATS.get(media_type)
        if fmt is None and checked:
            report.error("PP302", f"{self.name} cannot take `{p.media_type}` documents",
                         p.span or request.span, help="it takes: " + ", ".join(sorted(DOCUMENT_FORMATS)))
        self._documents += 1
        # DocumentBlock.name: letters, digits, single spaces, hyphens, parentheses, brackets
        return {"document": {"format": fmt or "pdf", "name": f"document-{self._documents}",
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
