"""Rebuild tests/data/refdata/ from the project's shared reference folder (../shared/refdata).

The tests read only tests/data, so a clone without ../shared runs them all. Small files are
copied byte for byte; the four big OpenAPI documents (1-3 MB each) and the Bedrock model are
cut down to the schemas the tests validate against and everything those reference (the
closure of `$ref`s, or of Smithy member shapes), kept verbatim otherwise.

    python tests/data/refresh.py            # rewrite tests/data/refdata from ../shared/refdata
    POLYPROMPT_SHARED=/elsewhere python tests/data/refresh.py

tests/test_data.py checks that the copies still equal what this script would write.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "refdata"

#: files and folders copied byte for byte (relative to refdata/)
VERBATIM = ["chat_templates", "google/protos", "ollama/api.md", "openai/finetune_line_schemas.json"]

#: OpenAPI documents cut to the closure of the schemas the tests name: source -> (copy, roots)
OPENAPI = {
    "openai/openapi.yaml": ("openai/openapi.subset.json",
                            ["CreateChatCompletionRequest", "CreateResponse", "EasyInputMessage", "InputItem"]),
    "anthropic/openapi.json": ("anthropic/openapi.subset.json", ["CreateMessageParams"]),
    "mistral/openapi.yaml": ("mistral/openapi.subset.json", ["ChatCompletionRequest"]),
    "google/gemini-native.openapi.json": ("google/gemini-native.openapi.subset.json", ["GenerateContentRequest"]),
}

#: the Bedrock Runtime Smithy model cut to the shapes a Converse request reaches
BEDROCK = ("aws/bedrock-runtime.service-2.json", "aws/bedrock-runtime.converse.subset.json", "ConverseRequest")

SCHEMA_PREFIX = "#/components/schemas/"


def shared_refdata() -> Path:
    """../shared/refdata, or $POLYPROMPT_SHARED/refdata."""
    root = os.environ.get("POLYPROMPT_SHARED") or HERE.parent.parent.parent / "shared"
    return Path(root) / "refdata"


def _refs(node, found: set[str]) -> None:
    """Every `$ref` string under a JSON node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def openapi_subset(doc: dict, roots: list[str]) -> dict:
    """`components.schemas` restricted to `roots` and every schema they reference, in the source order."""
    schemas = doc["components"]["schemas"]
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(schemas[name], found)
        for ref in found:
            if not ref.startswith(SCHEMA_PREFIX):
                raise ValueError(f"{name}: a reference outside components.schemas: {ref}")
            todo.append(ref.removeprefix(SCHEMA_PREFIX))
    kept = {key: value for key, value in schemas.items() if key in seen}
    return {"openapi": doc.get("openapi"), "info": doc.get("info"), "components": {"schemas": kept}}


def smithy_subset(model: dict, root: str) -> dict:
    """The Smithy `shapes` a root shape reaches through members, list members and map keys/values."""
    shapes = model["shapes"]
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        todo += [member["shape"] for member in shape.get("members", {}).values()]
        todo += [shape[key]["shape"] for key in ("member", "key", "value") if key in shape]
    return {"metadata": model.get("metadata"), "shapes": {k: v for k, v in shapes.items() if k in seen}}


def _load(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=yaml.CSafeLoader)


def _dump(data: dict) -> bytes:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def expected_files(source: Path) -> dict[str, bytes]:
    """Every file of tests/data/refdata as the script would write it: relative path -> bytes."""
    files: dict[str, bytes] = {"README.md": (source / "README.md").read_bytes()}
    for rel in VERBATIM:
        path = source / rel
        for item in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if item.is_file():
                files[item.relative_to(source).as_posix()] = item.read_bytes()
    for src, (dst, roots) in OPENAPI.items():
        files[dst] = _dump(openapi_subset(_load(source / src), roots))
    src, dst, root = BEDROCK
    files[dst] = _dump(smithy_subset(_load(source / src), root))
    return files


def main() -> int:
    """Rewrite tests/data/refdata from the shared folder."""
    source = shared_refdata()
    if not source.is_dir():
        print(f"no shared reference folder at {source} (set POLYPROMPT_SHARED)", file=sys.stderr)
        return 1
    files = expected_files(source)
    shutil.rmtree(OUT, ignore_errors=True)
    for rel, data in files.items():
        target = OUT / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    print(f"wrote {len(files)} files, {sum(map(len, files.values()))} bytes, into {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
