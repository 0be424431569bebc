"""`polyprompt eval`: a prompt on several targets, scored against a dataset's expected outputs,
side by side with 95% intervals (docs/evaluation.md)."""
from __future__ import annotations

import sys

import click


@click.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("-t", "--target", "targets", multiple=True, required=True, metavar="[LABEL=]TARGET",
              help="A target to evaluate (repeatable): an API target (sent over HTTP, or answered from "
                   "--replies), or a local model (hf:<dir>, hf-family:smollm2). LABEL= tells two of one kind apart.")
@click.option("--prompt", "prompt", metavar="PROMPT", help="The prompt evaluated (default: its dataset's, or the first).")
@click.option("-d", "--dataset", metavar="NAME", help="The file's dataset block (its title or prompt; default: the only one).")
@click.option("--split", metavar="NAME", help="Evaluate only this split of the dataset (e.g. test).")
@click.option("--data", metavar="PATH", help="A data file instead of the file's dataset blocks (with --bind).")
@click.option("--bind", "binds", multiple=True, metavar="NAME=EXPR",
              help="With --data: an input or the expected output, e.g. review=row.text, output=row.label (repeatable).")
@click.option("--where", metavar="EXPR", help="With --data: keep the rows for which it holds.")
@click.option("--limit", type=click.IntRange(min=1), help="With --data: the most rows used.")
@click.option("--replies", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help='Recorded replies: JSONL of {"row": N, "target": T, "reply": <raw reply JSON or text>}.')
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Write report.json, predictions.jsonl and PNG plots into DIR.")
@click.option("--fail-under", "gates", multiple=True, metavar="METRIC=X",
              help="Exit 1 when a target's METRIC is below X, e.g. accuracy=0.8, macro_f1=0.7, expects=1 (repeatable).")
@click.option("--tolerance", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Relative tolerance of number fields.")
@click.option("--regex", metavar="PATTERN", help="Text outputs: also score the share of replies matching PATTERN.")
@click.option("--resamples", type=click.IntRange(min=100), default=2000, show_default=True,
              help="Bootstrap resamples of each interval.")
@click.option("--seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@click.option("--no-plots", is_flag=True, help="Do not write the PNG plots (no matplotlib needed).")
@click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the table.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="API targets: requests in flight at once.")
@click.option("--base-url", metavar="URL", help="API targets: send to this server instead of the provider's.")
@click.option("--no-cache", is_flag=True, help="API targets: send every row, even those the reply cache has answered.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Local models: rows scored (a choice) or generated (text) in one batch.")
@click.option("--judge", "rubric", metavar="RUBRIC[:PROMPT]",
              help="Text outputs: grade every answer with this rubric prompt (answer, expected and inputs by name).")
@click.option("--judge-target", metavar="[LABEL=]TARGET",
              help="With --judge: the target that answers the rubric (an API target, a local model, or --judge-replies).")
@click.option("--judge-replies", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
              help='With --judge: the judge\'s recorded replies, as --replies with "graded": LABEL on each line.')
@click.option("--judge-bind", "judge_binds", multiple=True, metavar="PARAM=SOURCE",
              help="With --judge: bind a rubric parameter to answer, expected or an input of the prompt (repeatable).")
@click.option("--judge-pass", "judge_pass", multiple=True, metavar="VALUE",
              help="With --judge: a passing value of a rubric that returns an enum (repeatable).")
def eval_cmd(file, targets, prompt, dataset, split, data, binds, where, limit, replies, out_dir, gates, tolerance,
             regex, resamples, seed, no_plots, as_json, concurrency, base_url, no_cache, batch_size, rubric,
             judge_target, judge_replies, judge_binds, judge_pass):
    """Evaluate FILE's prompt on every TARGET against a dataset's expected outputs."""
    import json
    import re

    from .backends.extras import require
    from .evaluate import EvalError, Options, evaluate
    from .evaluate.report import parse_gate

    require("eval", "polyprompt eval")
    try:
        if regex is not None:
            re.compile(regex)
        fail_under = dict(parse_gate(g) for g in gates)
        options = Options(rel_tolerance=tolerance, regex=regex, resamples=resamples, seed=seed)
        report = evaluate(file, list(targets), prompt=prompt, dataset=dataset, split=split, data=data, bind=binds,
                          where=where, limit=limit, replies=replies, options=options, fail_under=fail_under,
                          progress=_progress(), api=_api_settings(concurrency, base_url, no_cache),
                          batch_size=batch_size, judge=_judge(rubric, judge_target, judge_replies, judge_binds,
                                                              judge_pass))
    except re.error as err:
        raise click.BadParameter(f"`{regex}`: {err}", param_hint="--regex") from None
    except EvalError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    if out_dir:
        try:
            written = report.write(out_dir, plots=not no_plots)
        except OSError as err:
            click.echo(f"error: cannot write the report into {out_dir}: {err.strerror or err}", err=True)
            sys.exit(1)
        for path in written:
            click.echo(f"wrote {path}", err=True)
    click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False) if as_json else report.table())
    if report.partial:
        click.echo("error: a target stopped before answering every row; the report holds what it answered "
                   "(marked partial)", err=True)
    if not report.passed or report.partial:
        sys.exit(1)


def _judge(rubric, target, replies, binds, passing):
    """The `Judge` of the --judge options (None without --judge); EvalError when they do not fit."""
    from .evaluate import EvalError
    from .evaluate.judge import Judge

    if rubric is None:
        if target or replies or binds or passing:
            raise EvalError("--judge-target, --judge-replies, --judge-bind and --judge-pass go with --judge RUBRIC")
        return None
    if target is None:
        raise EvalError("--judge needs --judge-target [LABEL=]TARGET, the target that answers the rubric")
    bind = {}
    for text in binds:
        param, sep, source = text.partition("=")
        if not sep or not param.strip() or not source.strip():
            raise EvalError(f"--judge-bind `{text}`: write PARAM=SOURCE, e.g. question=ticket")
        bind[param.strip()] = source.strip()
    return Judge(rubric, target, replies=replies, bind=bind, passing=passing)


def _api_settings(concurrency: int, base_url: str | None, no_cache: bool) -> dict:
    """How API targets are sent: the limit, the server, and the reply cache (docs/run-bulk.md)."""
    from .run.cache import ReplyCache

    return {"concurrency": concurrency, "base_url": base_url, "cache": None if no_cache else ReplyCache.default()}


def _progress():
    """A one-line progress report per target on stderr when it is a terminal: rows done and rows/s."""
    if not sys.stderr.isatty():
        return None

    def show(label: str, done: int, total: int, seconds: float) -> None:
        rate = f", {done / seconds:.1f} rows/s" if seconds > 0 else ""
        end = "\n" if done >= total else ""
        click.echo(f"\r{label}: {done}/{total} rows{rate}", err=True, nl=False)
        if end:
            click.echo("", err=True)

    return show
