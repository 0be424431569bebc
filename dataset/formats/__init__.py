"""Fine-tune line formats, one module each, registered by name.

A format turns a training `Example` and the prompt compiled for the format's target into one
line (a JSON object) of its training file, and checks a line against the format's rules
(`problems`: empty when the line is valid). API formats take the messages of the provider's
own request body, so what a model is tuned on is what it is later sent.

| format | for | a line |
|---|---|---|
| `openai-sft` | OpenAI supervised fine-tuning | `{"messages": [...], "tools"?}`, `weight` on assistant turns |
| `openai-dpo` | OpenAI preference fine-tuning (DPO) | `{"input": {"messages"}, "preferred_output", "non_preferred_output"}` |
| `vertex-sft` | Vertex AI Gemini supervised tuning | `{"systemInstruction"?, "contents": [...], "tools"?}` |
| `bedrock-sft` | Bedrock (Claude) fine-tuning | `{"system"?, "messages": [{"role", "content": str}]}` |
| `trl-conversational` | TRL `SFTTrainer` (conversational) | `{"messages": [...], "tools"?}` |
| `trl-prompt-completion` | TRL `SFTTrainer` (prompt-completion) | `{"prompt": [...], "completion": [...]}` |
| `trl-preference` | TRL `DPOTrainer` | `{"prompt": [...], "chosen": [...], "rejected": [...]}` |
| `tokenized` | an open model (`hf-family:`, `hf:`) | `{"input_ids", "attention_mask", "labels", "assistant_masks"}` |
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import attrs

#: format name -> the module that defines it (its `FORMAT`)
MODULES = {
    "openai-sft": "openai_sft",
    "openai-dpo": "openai_dpo",
    "vertex-sft": "vertex_sft",
    "bedrock-sft": "bedrock_sft",
    "trl-conversational": "trl_conversational",
    "trl-prompt-completion": "trl_prompt_completion",
    "trl-preference": "trl_preference",
    "tokenized": "tokenized",
}


@attrs.frozen
class Options:
    """How lines are written: `train_on` is `last` (only the final answer is learned) or `all`
    (every assistant turn, the prompt's few-shot turns included); `max_length`, the most tokens a
    tokenized row has: a longer row is rejected, or with `truncate` cut from its start (the prompt
    side), keeping the answer, as TRL's `truncation_mode="keep_end"` cuts."""
    train_on: str = "last"
    max_length: int | None = None
    truncate: bool = False


@attrs.frozen
class Format:
    """A line format: its name, what it trains (`sft` or `preference`), the target whose
    compiled messages it takes, how it writes a line and how it checks one."""
    name: str
    kind: str
    target: str
    line: Callable[[Any, Any, Options], dict]
    problems: Callable[[dict], list[str]]
    summary: str
    #: whether lines are written from the request body (else from the lowered conversation alone,
    #: which spares emitting a body per row)
    needs_body: bool = True
    #: the backends whose bodies the format reads (by backend name; `hf` for every open-model target)
    accepts: tuple[str, ...] = ()
    #: whether a line may carry more keys (a `task` tag when datasets are mixed): Hugging Face
    #: datasets keep extra columns; the providers' upload checks refuse unknown keys
    extra_keys: bool = False

    def takes(self, backend: Any) -> bool:
        """Whether the format can read the bodies of `backend` (a backend object)."""
        name = type(backend).name
        return name in self.accepts or ("hf" in self.accepts and name.startswith(("hf-family:", "hf:")))


class UnknownFormat(LookupError):
    """A format name that is not registered."""


def get(name: str) -> Format:
    """The registered format `name`."""
    module = MODULES.get(name)
    if module is None:
        from ...compiler.check.names import suggest

        hint = suggest(name, MODULES)
        raise UnknownFormat(f"unknown dataset format `{name}`" + (f" ({hint})" if hint else "")
                            + f"; the formats: {', '.join(MODULES)}")
    return importlib.import_module(f"{__name__}.{module}").FORMAT


def names() -> list[str]:
    """Every registered format name."""
    return list(MODULES)
