"""`polyprompt dataset`: a prompt file's `dataset` blocks as fine-tune files (docs/datasets.md)."""
from __future__ import annotations

import json
import sys

import click



@click.command(name="dataset")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-f", "--format", "fmt", required=True, metavar="FORMAT",
              help="The line format: openai-sft, openai-dpo, vertex-sft, bedrock-sft, trl-conversational, "
                   "trl-prompt-completion, trl-preference.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The output: a .jsonl or .parquet file, or a folder for datasets.load_from_disk.")
@click.option("-d", "--dataset", "names", multiple=True,
              help="A dataset of the file (its title or prompt); repeat to mix several (default: all).")
@click.option("-t", "--target", help="Compile for this target instead of the format's own.")
@click.option("--prompt", "adhoc_prompt", metavar="PROMPT",
              help="A dataset from the command line instead of the file's blocks: the prompt it trains.")
@click.option("--data", metavar="PATH", help="With --prompt: the data file (or datasets folder).")
@click.option("--bind", "binds", multiple=True, metavar="NAME=EXPR",
              help="With --prompt: a binding, e.g. ticket=row.body, output=row.label (repeatable).")
@click.option("--where", metavar="EXPR", help="With --prompt: keep the rows for which it holds.")
@click.option("--limit", type=click.IntRange(min=1), help="With --prompt: the most rows used.")
@click.option("--holdout", "holdouts", multiple=True, metavar="NAME=P%",
              help="With --prompt: set aside a split, e.g. validation=10% (repeatable).")
@click.option("--seed", type=int, help="With --prompt: the seed of the splits.")
@click.option("--split", help="Write only this split to OUTPUT (default: every split, each to <stem>.<split>).")
@click.option("--train-on", type=click.Choice(["last", "all"]), default="last", show_default=True,
              help="The assistant turns learned: the answer only, or every one.")
@click.option("--keep-duplicates", is_flag=True, help="Write lines that repeat an earlier line.")
@click.option("--strict", is_flag=True, help="Stop at the first bad row.")
@click.option("--max-length", type=click.IntRange(min=1), help="Reject tokenized rows longer than this (tokens).")
@click.option("--truncate", is_flag=True, help="With --max-length: cut longer rows from the start, keeping the "
              "answer (counted as truncated), instead of rejecting them.")
@click.option("-w", "--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes that turn rows into lines.")
@click.option("--progress/--no-progress", default=None, help="A progress bar on stderr (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def dataset_cmd(file, fmt, output, names, target, adhoc_prompt, data, binds, where, limit, holdouts, seed, split,
                train_on, keep_duplicates, strict, max_length, truncate, workers, progress, as_json):
    """Build the training files of FILE's `dataset` blocks."""
    from . import backends
    from .dataset import DatasetError, build
    from .dataset.formats import UnknownFormat
    from .dataset.tasks import with_command_line_dataset

    try:
        pf = _checked(file)
        if adhoc_prompt or data or binds:
            names = _command_line_dataset(file, adhoc_prompt, data, binds, where, limit, holdouts, seed, names)
            pf = _checked(file, pf_of=lambda: with_command_line_dataset(file, adhoc_prompt, data, list(binds), where,
                                                                         limit, list(holdouts), seed))
        summary = build(pf, fmt, output, datasets=list(names) or None, target=target, split=split, strict=strict,
                        train_on=train_on, dedup=not keep_duplicates, max_length=max_length, truncate=truncate,
                        workers=workers,
                        progress=progress)
    except (UnknownFormat, backends.UnknownTarget) as err:
        raise click.UsageError(str(err).strip("'\"")) from None
    except DatasetError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    _print_summary(summary, as_json)


def _print_summary(summary, as_json: bool) -> None:
    """The outputs and their lengths on stdout, the rejects and the summary line on stderr (or JSON)."""
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    for name, path in summary.outputs.items():
        stats = summary.lengths.get(name)
        click.echo(f"{path}: {summary.by_split.get(name, 0)} lines ({name})" + (f", {stats.line()}" if stats else ""))
    if summary.rejects_path:
        click.echo(f"{summary.rejects_path}: {summary.rejected} rejected rows", err=True)
    click.echo(summary.line(), err=True)


def _command_line_dataset(file, prompt, data, binds, where, limit, holdouts, seed, names) -> tuple[str, ...]:
    """Check the command-line dataset options go together; the dataset to build: that one."""
    from .dataset.tasks import COMMAND_LINE

    if not (prompt and data and binds):
        raise click.UsageError("a dataset from the command line needs --prompt, --data and at least one --bind")
    if names:
        raise click.UsageError("--dataset names a block of the file; with --prompt the dataset is the command line's")
    return (COMMAND_LINE,)


def _checked(path: str, pf_of=None):
    """The loaded file (or what `pf_of()` loads); its errors printed and exit 1 when it has any."""
    from .compiler.diagnostics import render_all
    from .session import load

    pf = pf_of() if pf_of is not None else load(path)
    errors = [d for d in pf.diagnostics if d.is_error]
    if errors:
        click.echo(render_all(errors), err=True)
        sys.exit(1)
    return pf


@click.command(name="corpus")
@click.argument("data", type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(),
              help="The output: a .jsonl or .parquet file, or a folder for datasets.load_from_disk.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "tokenized"]), default="text", show_default=True,
              help="{\"text\": ...} lines, or token ids for an open-model target (-t).")
@click.option("--column", default="text", show_default=True, help="The column that holds the text.")
@click.option("-t", "--target", help="With -f tokenized: the open-model target, e.g. hf-family:qwen3.")
@click.option("--holdout", "holdouts", multiple=True, metavar="NAME=P%",
              help="Set aside a split, e.g. validation=5% (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="The seed of the splits.")
@click.option("--split", help="Write only this split to OUTPUT.")
@click.option("--max-length", type=click.IntRange(min=1), help="Reject tokenized texts longer than this (tokens).")
@click.option("--keep-duplicates", is_flag=True, help="Write texts that repeat an earlier one.")
@click.option("--strict", is_flag=True, help="Stop at the first bad row.")
@click.option("--progress/--no-progress", default=None, help="A progress bar on stderr (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def corpus_cmd(data, output, fmt, column, target, holdouts, seed, split, max_length, keep_duplicates, strict,
               progress, as_json):
    """Write DATA's texts as a corpus for continued pre-training (domain adaptation)."""
    from .dataset import DatasetError
    from .dataset.corpus import build_corpus

    try:
        summary = build_corpus(data, output, format=fmt, column=column, target=target,
                               holdout=[_holdout(h) for h in holdouts], seed=seed, split=split,
                               max_length=max_length, dedup=not keep_duplicates, strict=strict, progress=progress)
    except DatasetError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    _print_summary(summary, as_json)


def _holdout(text: str) -> tuple[str, float]:
    name, sep, percent = text.partition("=")
    try:
        value = float(percent.strip().rstrip("%"))
    except ValueError:
        value = -1.0
    if not sep or not name.strip().isidentifier() or not 0 < value < 100:
        raise click.BadParameter(f"`{text}`: write NAME=PERCENT, e.g. validation=5%", param_hint="--holdout")
    return name.strip(), value
