"""Vertex AI Gemini: `POST https://{location}-aiplatform.googleapis.com/v1/{model}:generateContent`.

https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference
Schema: `google.cloud.aiplatform.v1.GenerateContentRequest` (refdata/google/protos:
cloud__aiplatform__v1__{prediction_service,content,tool,openapi}.proto; JSON names in
lowerCamelCase). The body is the Gemini Developer API's with these differences, read
from the v1 protos:

- `model` is a full resource name, the URL path: `projects/{project}/locations/{location}/
  publishers/google/models/{model}` when the target gives a `project` (and optionally a
  `location`, default `global`), else `publishers/google/models/{model}`, the other binding
  of the HTTP rule (Vertex AI express mode, with an API key). The body carries it so that
  a body is complete on its own: `Vertex.split(body)` gives (model, body to POST), and
  `Vertex.url(body)` the endpoint.
- `FunctionCall` and `FunctionResponse` have no `id` (calls are matched by name and
  order), and a `FunctionResponse.response` takes the result under `output`, or the
  error under `error` ("Use "output" key to specify function output and "error" key to
  specify error details").
- Images, audio and files in a tool result go in `FunctionResponse.parts`
  (`inlineData` / `fileData`), not as text.
- `FileData.mimeType` is required: for a URL without a media type it is guessed from the
  file name.
- Structured output: Vertex v1 `GenerationConfig` has `responseJsonSchema` (a
  `google.protobuf.Value`, JSON Schema with the same supported keywords as the Gemini API)
  beside the OpenAPI-subset `responseSchema`, so the Gemini dialect of the shared
  `lower_output_schema` pass applies unchanged; tools use `parametersJsonSchema` likewise.
"""
from __future__ import annotations

import attrs

from ..compiler import ir
from ..compiler.conversation import guess_media_type
from ..compiler.targets import TargetOption, is_text
from ._emit import tool_result_text
from .gemini import Gemini


class Vertex(Gemini):
    """Vertex AI's `generateContent`: Gemini's body under a Vertex model path, media in function responses."""
    name = "vertex"
    family = "google"
    default_model = "gemini-2.5-flash"
    docs = "https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference"
    caps = attrs.evolve(Gemini.caps, tool_result_media=True)  # as gemini.py; results may carry `parts`
    OPTIONS = {
        "project": TargetOption("vertex: the Google Cloud project of the model path", is_text, "a project id"),
        "location": TargetOption("vertex: the region of the model path (default `global`)", is_text,
                                 "a region name"),
    }
    schema = ("google/protos", "google.cloud.aiplatform.v1.GenerateContentRequest")

    def model_path(self, model: str) -> str:
        """The Vertex model path: under the project and location when the `project` option is set."""
        if model.startswith(("projects/", "publishers/")):
            return model
        model = model.removeprefix("models/")
        project = self.options.get("project")
        if project:
            location = self.options.get("location") or "global"
            return f"projects/{project}/locations/{location}/publishers/google/models/{model}"
        return f"publishers/google/models/{model}"

    @staticmethod
    def url(body: dict, method: str = "generateContent") -> str:
        """The endpoint a body is POSTed to (regional host for a regional location)."""
        model = body["model"]
        parts = model.split("/")
        location = parts[3] if model.startswith("projects/") and len(parts) > 3 else "global"
        host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
        return f"https://{host}/v1/{model}:{method}"

    def function(self, t: ir.Tool) -> dict:
        """A `functionDeclarations` entry: the description only when there is one."""
        out: dict = {"name": t.name}
        if t.description:
            out["description"] = t.description
        out["parametersJsonSchema"] = t.parameters
        return out

    def part(self, p) -> dict:
        """One `Part`, as Gemini's but a call without `id` and a function response that may carry its media."""
        if isinstance(p, ir.Media):
            return self.media(p)
        if isinstance(p, ir.ToolCall):
            return {"functionCall": {"name": p.name, "args": p.arguments}}
        if isinstance(p, ir.ToolResult):
            response = {"error" if p.is_error else "output": tool_result_text(p)}
            out: dict = {"name": p.name, "response": response}
            media = [self.media(c) for c in p.content if isinstance(c, ir.Media)]
            if media:
                out["parts"] = media  # FunctionResponsePart: inlineData | fileData
            return {"functionResponse": out}
        return super().part(p)

    def media(self, p: ir.Media) -> dict:
        """An `inlineData` or `fileData` part, the media type guessed when a URL has none."""
        if p.url is not None:
            return {"fileData": {"mimeType": guess_media_type(p), "fileUri": p.url}}
        return {"inlineData": {"mimeType": p.media_type or "application/octet-stream", "data": p.data}}
