"""Open models as targets: `hf-family:<name>` (a built-in profile), `hf:<dir>` (a local model or
tokenizer folder with its chat template) and `hf:<file.gguf>` (a GGUF model file, `GGUFModel`).

For an open model the platform is its chat template: the body holds the exact
text the model is prompted with (`prompt`), rendered as transformers renders
it, the stop strings, the generation settings under transformers' names,
the token ids when a tokenizer is at hand, and the images, in placeholder order,
when the template renders images. The template's quirks come from
probing it (backends/hf/probe/) and feed the same passes and the same
lowering report as the API targets.
"""
from __future__ import annotations

import datetime as _dt
import functools
import json
from pathlib import Path
from typing import Any

import attrs

from ...compiler import ir
from ...compiler.targets import Refusals, Unsupported
from ..base import Backend, Caps
from .assets.gguf import GGUFError, is_gguf_path, read_metadata
from .chat_template.render import BudgetError, ChatTemplate, TemplateError
from .facts import OPTIONS as HF_OPTIONS
from .families import PREFIX as FAMILY_PREFIX
from .families import family as find_family

DIR_PREFIX = "hf:"

#: neutral settings -> transformers' generate() / GenerationConfig names
GENERATION_SETTINGS = {"temperature": "generation.temperature", "top_p": "generation.top_p",
                       "top_k": "generation.top_k", "max_tokens": "generation.max_new_tokens",
                       "stop": "generation.stop_strings", "seed": "generation.seed"}

#: The fixed date the templates that read today's date are rendered with, so bodies are reproducible;
#: set `date: "YYYY-MM-DD"` in a target declaration for another.
DEFAULT_DATE = _dt.date(2024, 7, 26)


class ModelFolderError(LookupError):
    """An `hf:` folder or GGUF file that cannot be a target: a config that is not JSON, a chat
    template that does not compile or that probing cannot read, a tokenizer.json that does not load.
    The CLI prints it as a usage error (exit 2), as for an unknown target."""


class HFModel(Backend):
    """An open model's chat template as a target (configured by `for_target`)."""

    name = "hf"
    family = "hf"
    default_model = ""
    docs = "https://huggingface.co/docs/transformers/main/en/chat_templating"
    has_body = False  # a chat template's prompt and token ids: no provider request body for `body` fields
    caps = Caps(system="message", tools=True, media=frozenset(), media_urls=frozenset(), structured_output=None,
                cache="none", settings=dict(GENERATION_SETTINGS))
    OPTIONS = HF_OPTIONS
    template: ChatTemplate
    profile = None  # the Family, for hf-family targets
    folder: Path | None = None

    @classmethod
    def for_target(cls, name: str) -> type["HFModel"]:
        """A backend class for `hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>`."""
        base = cls
        if name.startswith(FAMILY_PREFIX):
            profile = find_family(name)
            attrs_ = {"profile": profile, "default_model": profile.name, "family": _family_group(profile.name)}
        else:
            folder = Path(name[len(DIR_PREFIX):]).expanduser()
            attrs_ = {"folder": folder, "default_model": str(folder), "family": _family_group(folder.name)}
            base = _gguf_base(cls, folder)
        return type(f"HFModel[{name}]", (base,), {"name": name, **attrs_})

    def __init__(self, options: dict | None = None, caps_overrides: dict | None = None):
        from jinja2 import TemplateError as JinjaError

        from .probe.facts import ProbeError, probe

        options = options or {}
        date = _dt.date.fromisoformat(options["date"]) if "date" in options else DEFAULT_DATE
        try:
            self.template, self.stop, self.bos = self._load_template(date)
        except JinjaError as err:  # a template of a folder or file: shipped ones compile
            raise ModelFolderError(f"{self.name}: its chat template does not compile: {err}") from None
        try:
            self.probe = probe(self.template)
        except BudgetError as err:  # the first render over budget stops probing
            raise ModelFolderError(f"{err}; polyprompt renders a model's chat template within these limits "
                                   "(docs/security.md)") from None
        except ProbeError as err:
            raise ModelFolderError(f"{self.name}: {err}") from None
        except (ValueError, LookupError, TypeError) as err:  # a render of a shape the probe cannot read
            raise ModelFolderError(f"{self.name}: probing its chat template failed: it renders the probe "
                                   f"conversations in a shape polyprompt cannot read ({type(err).__name__}: {err})") from None
        super().__init__(options, caps_overrides)

    def own_caps(self) -> Caps:
        """What probing found: the template's capability table; `reasoning` when the template has a
        thinking switch (Qwen3's `enable_thinking`)."""
        settings = dict(GENERATION_SETTINGS)
        if self.thinking_switch(False) or self.thinking_switch(True):
            settings["reasoning"] = "chat_template_kwargs"  # written by settings_into below
        return attrs.evolve(self.probe.caps(), settings=settings)

    def thinking_switch(self, on: bool) -> str | None:
        """The template variable that turns thinking on (`on`) or off by changing the generation
        prompt, as probing found it (`enable_thinking` for Qwen3), or None."""
        return next((var for var, value, _ in self.probe.thinking_switches if value is on), None)

    def thinking_vars(self, request: ir.Request) -> dict[str, bool]:
        """The template variables the `reasoning` setting sets: `"none"` turns thinking off, any
        other effort turns it on (as `apply_chat_template(..., enable_thinking=...)`)."""
        setting = request.settings.get("reasoning")
        if setting is None or "reasoning" not in self.caps.settings:
            return {}
        on = setting.value != "none"
        var = self.thinking_switch(on)
        return {var: on} if var is not None else {}

    def settings_into(self, body: dict, request: ir.Request) -> dict:
        """The generation settings under transformers' names; `reasoning` as the template variables
        it set (`chat_template_kwargs`, the field vLLM and SGLang read), the prompt rendered with them."""
        kept = {k: v for k, v in request.settings.items() if k != "reasoning"}
        super().settings_into(body, attrs.evolve(request, settings=kept))
        switches = self.thinking_vars(request)
        if switches:
            body["chat_template_kwargs"] = switches
        return body

    def _load_template(self, date: _dt.date) -> tuple[ChatTemplate, tuple[str, ...], str | None]:
        if self.profile is not None:
            p = self.profile
            return p.chat_template(date=date), p.stop, p.bos_token
        folder = self.folder
        assert folder is not None  # for_target gives a class with no profile a folder
        if not folder.is_dir():
            raise ModelFolderError(f"{folder}: no such folder" if not folder.exists()
                                   else f"{folder}: not a folder (a model folder, or a .gguf file)")
        config = _read_json(folder / "tokenizer_config.json")
        source = _template_source(folder, config)
        tokens = _special_tokens(folder, config)
        bos, eos = tokens.pop("bos_token", None), tokens.pop("eos_token", None)
        template = ChatTemplate(source, bos_token=bos, eos_token=eos, extra=tokens, date=date, name=str(folder))
        return template, tuple(s for s in (eos,) if s), bos

    def refusals(self) -> Refusals:
        """Other providers' models, image input the template cannot render (the probe's reason),
        and data holding control-token text (PP411): encoded as plain text when a tokenizer is at
        hand, else carried verbatim (found from the template's own markup, control_text.py). Made
        once per tokenizer (every lowering asks; a GGUF file's tokenizer may come later)."""
        encoder = self.encoder()
        made = self.__dict__.get("_refusals")
        if made is None or made[0] is not encoder:
            made = self.__dict__["_refusals"] = (encoder, self._make_refusals(encoder))
        return made[1]

    def _make_refusals(self, encoder) -> Refusals:
        refusals = super().refusals()
        why = self.probe.image_refusal()
        if encoder is not None:
            return attrs.evolve(refusals, media={"image": why} if why else {}, control_text=encoder.control_texts)
        from .control_text import finder, markup

        placeholder = self.probe.image_placeholder if self.probe.images == "placeholder" else None
        return attrs.evolve(refusals, media={"image": why} if why else {}, control_text_protected=False,
                            control_text=finder(markup(self.template, placeholder)))

    def target_notes(self) -> tuple[tuple, ...]:
        """What probing found that changes the conversation: (code, message, help, about), one code
        per kind of quirk (PP420-PP426); `about` names what a prompt must hold for the note to
        concern it (the tool notes only for prompts with tools)."""
        return tuple((code, f"{self.name}: {note}", None, about) for code, about, note in self.probe.coded_notes())

    def write_messages(self, messages) -> list[dict]:
        """The messages a chat template reads (transformers' conventions), data not yet protected: a
        tool turn holding several results (merged by `repair_alternation`) gives one message each."""
        out = []
        for m in messages:
            results = [p for p in m.parts if isinstance(p, ir.ToolResult)]
            out += [self.message(attrs.evolve(m, parts=(r,))) for r in results] if len(results) > 1 else [self.message(m)]
        return out

    def emit(self, request: ir.Request) -> dict:
        messages = self.write_messages(request.messages)
        tools = [{"type": "function", "function": {"name": t.name, "description": t.description or "",
                                                   "parameters": t.parameters}} for t in request.tools] or None
        encoder = self.encoder()
        if encoder is not None:  # data never becomes a control token (PP411): see backends/hf/tokens/encoder.py
            messages, tools = encoder.protect(messages), encoder.protect(tools)
        try:
            text = self.template.render(messages, tools=tools, add_generation_prompt=True,
                                        **self.thinking_vars(request))
        except TemplateError as refusal:  # a rule the probe did not learn: the template's own words
            raise Unsupported("PP303", f"{self.name}'s chat template refused the conversation: {refusal}",
                              request.span, help="reshape the conversation as the message asks, "
                                                 "or compile for another target") from None
        except BudgetError as err:
            raise Unsupported("PP303", f"{self.name}: {err}", request.span,
                              help="a chat template renders within a time and memory budget (docs/security.md)") from None
        except Exception as err:  # noqa: BLE001 - an untrusted template crashing on this conversation
            if self.template.trusted:  # a shipped template: a bug of ours, not the model folder's
                raise
            raise Unsupported("PP303", f"{self.name}'s chat template failed on the conversation "
                              f"({type(err).__name__}: {str(err)[:300]})", request.span,
                              help="reshape the conversation, or compile for another target") from None
        body: dict[str, Any] = {"model": request.model}
        if encoder is not None:
            body["prompt"] = encoder.restore(text)
            body["token_ids"] = encoder.encode_chat(text)
            body["stop_token_ids"] = list(encoder.stop_ids)
        else:
            body["prompt"] = text
        images = _images(request.messages, self.caps.media)
        if images:  # in the order of their placeholders in the prompt, for the model's processor
            body["images"] = images
        body["stop"] = list(self.stop)
        self.settings_into(body, request)
        return body

    def encoder(self, bulk: bool | None = None):
        """The model's tokenizer, when one is at hand (a folder's tokenizer.json, or a registry asset).
        `bulk` picks the engine (the declaration's `tokenizer: "bulk"` by default): the bulk one
        loads slower and encodes many conversations faster (a dataset's rows)."""
        bulk = self.bulk_tokenizer if bulk is None else bulk
        key = f"_encoder_{bulk}"
        if key not in self.__dict__:
            folder = self.folder if self.folder is not None and (self.folder / "tokenizer.json").is_file() else None
            if folder is None and self.profile is not None and self.profile.tokenizer is not None:
                from .assets.tokenizers import tokenizer_dir

                folder = tokenizer_dir(self.profile.tokenizer)
            self.__dict__[key] = _load_encoder(folder, bulk) if folder is not None else None
        return self.__dict__[key]

    @property
    def bulk_tokenizer(self) -> bool:
        """Does the target declaration ask for the bulk token-id engine (`tokenizer: "bulk"`)?"""
        return self.options.get("tokenizer") == "bulk"

    def message(self, m: ir.Message) -> dict:
        """An IR turn in the message shape chat templates read (transformers' conventions)."""
        calls = [p for p in m.parts if isinstance(p, ir.ToolCall)]
        results = [p for p in m.parts if isinstance(p, ir.ToolResult)]
        if results:
            r = results[0]
            return {"role": "tool", "tool_call_id": r.id, "name": r.name,
                    "content": "".join(c.text for c in r.content if isinstance(c, ir.Text))}
        # media the template cannot render was refused by check_media (PP302): the turn stays text
        media = any(isinstance(p, ir.Media) and p.kind in self.caps.media for p in m.parts)
        out = {"role": m.role, "content": _content_blocks(m.parts, self.caps.media) if media else m.text}
        if calls:
            out["tool_calls"] = [{"id": c.id, "type": "function",
                                  "function": {"name": c.name, "arguments": c.arguments}} for c in calls]
        return out


def _content_blocks(parts, kinds: frozenset) -> list[dict]:
    """A turn with media as transformers' content blocks: `{"type": "image"}` where each image stands,
    text blocks around them (adjacent text parts are one block, as in the text-only `content`)."""
    blocks: list[dict] = []
    for p in parts:
        if isinstance(p, ir.Media):
            if p.kind in kinds:
                blocks.append({"type": p.kind})
        elif isinstance(p, ir.Text) and p.text:
            if blocks and blocks[-1]["type"] == "text":
                blocks[-1]["text"] += p.text
            else:
                blocks.append({"type": "text", "text": p.text})
    return blocks


def _images(messages, kinds: frozenset) -> list[dict]:
    """The images of the turns, in order: each one's media type and its base64 data or its URL (or path)."""
    images = []
    for m in messages:
        for p in m.parts:
            if isinstance(p, ir.Media) and p.kind in kinds:
                source = {"data": p.data} if p.data is not None else {"url": p.url}
                images.append({"type": p.kind, "media_type": p.media_type, **source})
    return images


def _load_encoder(folder: Path, bulk: bool):
    """The folder's tokenizer; ModelFolderError when the tokenizers library cannot load it."""
    try:
        return _encoder(str(folder), bulk)
    except Exception as err:  # noqa: BLE001 (tokenizers raises a bare Exception for a damaged file)
        raise ModelFolderError(f"{folder}: its tokenizer cannot be loaded ({type(err).__name__}: "
                               f"{str(err)[:300]})") from None


@functools.lru_cache(maxsize=16)
def _encoder(folder: str, bulk: bool = False):
    """One tokenizer per folder, engine and process: loading one takes up to a second (bulk: three)."""
    from .tokens.encoder import Encoder

    return Encoder.from_dir(folder, bulk=bulk)


def _gguf_base(cls: type, path: Path) -> type:
    """The GGUF target class for a `.gguf` name or any file, else `cls`."""
    return GGUFModel if is_gguf_path(path) and not issubclass(cls, GGUFModel) else cls


def _family_group(name: str) -> str:
    """`gemma-2` -> `gemma`, `qwen2.5` -> `qwen`: what `target.family` compares with."""
    lowered = name.lower()
    for group in ("llama", "qwen", "gemma", "mistral", "phi", "deepseek", "smollm", "chatml"):
        if group in lowered:
            return group
    return lowered


#: The named special tokens transformers passes to a chat template (`special_tokens_map`).
SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


def _special_tokens(folder: Path, config: dict) -> dict[str, str]:
    """The folder's named special tokens, from tokenizer_config.json, else special_tokens_map.json."""
    fallback = _read_json(folder / "special_tokens_map.json")
    tokens = {name: _token(config.get(name, fallback.get(name))) for name in SPECIAL_TOKEN_NAMES}
    return {name: token for name, token in tokens.items() if token is not None}


def _token(value) -> str | None:
    """A special token as a config writes it (a string, or an AddedToken dict); None for any other shape."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _template_source(folder: Path, config: dict) -> str:
    """The folder's chat template: chat_template.jinja, else tokenizer_config.json's `chat_template`
    (a string, or named templates: the "default" one); ModelFolderError for any other shape."""
    template_file = folder / "chat_template.jinja"
    if template_file.is_file():
        try:
            return _read_text(template_file)
        except UnicodeDecodeError as err:
            raise ModelFolderError(f"{template_file} is not UTF-8 text ({err})") from None
    source = config.get("chat_template")
    where = f"{folder / 'tokenizer_config.json'}: `chat_template`"
    if isinstance(source, list):  # named templates: [{"name": ..., "template": ...}]
        if not source or not all(isinstance(t, dict) and isinstance(t.get("template"), str) for t in source):
            raise ModelFolderError(f"{where} is a list, but not of {{\"name\", \"template\"}} objects")
        source = next((t["template"] for t in source if t.get("name") == "default"), source[0]["template"])
    if source is None or source == "":
        raise ModelFolderError(f"{folder}: no chat template (tokenizer_config.json or chat_template.jinja)")
    if not isinstance(source, str):
        raise ModelFolderError(f"{where} is a {type(source).__name__}, not the template's text")
    return source


#: The largest config or template file of a model folder read (real ones are well under 20 MB).
MAX_CONFIG_BYTES = 64 * 1024 * 1024


def _read_text(path: Path) -> str:
    """A model folder's text file, refused past MAX_CONFIG_BYTES (ModelFolderError)."""
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ModelFolderError(f"{path} is larger than {MAX_CONFIG_BYTES // 2**20} MB")
    return path.read_bytes().decode("utf-8")


def _read_json(path: Path) -> dict:
    """A JSON object file of a model folder ({} when absent); ModelFolderError when it is not one."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(_read_text(path))
    except (UnicodeDecodeError, ValueError) as err:
        raise ModelFolderError(f"{path} is not valid JSON ({err})") from None
    except RecursionError:
        raise ModelFolderError(f"{path} nests deeper than polyprompt reads") from None
    if not isinstance(value, dict):
        raise ModelFolderError(f"{path} is not a JSON object")
    return value


# --- GGUF files ----------------------------------------------------------------------------------------

class GGUFModel(HFModel):
    """`hf:<file.gguf>`: the chat template and special tokens come from the file's metadata; token ids
    from its tokenizer once converted (`assets.tokenizers.gguf_tokenizer_dir`). `folder` is the file's path."""

    def _load_template(self, date) -> tuple[ChatTemplate, tuple[str, ...], str | None]:
        assert self.folder is not None  # for_target gives a GGUF class the file's path
        meta = read_metadata(self.folder)
        if meta.chat_template is None:
            raise GGUFError(f"{self.folder}: no chat template in the GGUF metadata (tokenizer.chat_template)")
        tokens = meta.special_tokens()
        # transformers passes every named special token to the template; unk and pad are rarely read
        extra = {name: tokens[name] for name in ("unk_token", "pad_token") if name in tokens}
        template = ChatTemplate(meta.chat_template, bos_token=tokens.get("bos_token"),
                                eos_token=tokens.get("eos_token"), extra=extra, date=date, name=str(self.folder))
        return template, meta.stop_tokens(), tokens.get("bos_token")

    def encoder(self, bulk: bool | None = None):
        """The converted tokenizer, looked up again while there is none (run converts it after compiling)."""
        bulk = self.bulk_tokenizer if bulk is None else bulk
        key = f"_encoder_{bulk}"
        if self.__dict__.get(key) is None:
            from .assets.tokenizers import gguf_tokenizer_dir

            assert self.folder is not None  # for_target gives a GGUF class the file's path
            folder = gguf_tokenizer_dir(self.folder, build=False)
            self.__dict__[key] = _load_encoder(folder, bulk) if folder is not None else None
        return self.__dict__[key]

    def target_notes(self) -> tuple[tuple, ...]:
        """The template's quirks, and no token ids while the GGUF file's tokenizer is not converted (PP412)."""
        notes = super().target_notes()
        if self.encoder() is None:
            notes += (("PP412", f"{self.name}: no token ids: the GGUF file's tokenizer is not converted yet; "
                       "the body holds the prompt text",
                       f"`polyprompt models convert {self.folder}` converts it once "
                       "(with transformers); so does `polyprompt run`"),)
        return notes
