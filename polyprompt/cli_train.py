"""`polyprompt train`: fine-tune an open model on a prompt file's `dataset` blocks (docs/training.md)."""
from __future__ import annotations

import json
import sys

import click

@click.command(name="train")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("-d", "--dataset", "names", multiple=True, help="A dataset of FILE (its title or prompt); repeat to "
              "mix several (default: every one that binds `output`).")
@click.option("--data", type=click.Path(), help="Tokenized rows instead of FILE's datasets (a .jsonl or "
              ".parquet file, or a datasets folder; its <stem>.validation split is read too).")
@click.option("--validation-data", type=click.Path(exists=True), help="Tokenized validation rows.")
@click.option("-m", "--model", help="The model to train: hf:<dir> or hf-family:smollm2.")
@click.option("--method", type=click.Choice(["sft", "lora", "distill", "domain"]), help="sft (full), lora, "
              "distill (logit distillation from --teacher) or domain (--corpus, then sft). Default: sft.")
@click.option("-o", "--output", type=click.Path(file_okay=False), help="The output folder (a model folder).")
@click.option("-c", "--config", type=click.Path(exists=True, dir_okay=False),
              help="A YAML or TOML file whose `train` section gives any option.")
@click.option("--resume", is_flag=True, help="Go on with the run in OUTPUT from its newest checkpoint.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT when it is not empty.")
@click.option("--merge", is_flag=True, default=None, help="LoRA: save the merged model (the adapter in adapter/).")
@click.option("--lora", is_flag=True, default=None, help="domain/distill: train a LoRA adapter, not every weight.")
@click.option("--epochs", type=click.IntRange(min=1))
@click.option("--max-steps", type=click.IntRange(min=1), help="Stop after this many optimizer steps.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Examples per micro-batch (per process).")
@click.option("--grad-accum", type=click.IntRange(min=1), help="Micro-batches per optimizer step.")
@click.option("--lr", type=float, help="Peak learning rate (default 2e-5, LoRA 2e-4).")
@click.option("--weight-decay", type=float)
@click.option("--warmup-steps", type=click.IntRange(min=0))
@click.option("--warmup-ratio", type=click.FloatRange(0, 1))
@click.option("--scheduler", type=click.Choice(["linear", "cosine", "constant", "constant_with_warmup"]))
@click.option("--max-grad-norm", type=float)
@click.option("--seed", type=int)
@click.option("--packing/--no-packing", default=None, help="Padding-free packing, or padded batches (default).")
@click.option("--pack-length", type=click.IntRange(min=1), help="The longest packed row in tokens (default 2048).")
@click.option("--group-by-length/--no-group-by-length", default=None, help="Padded batches of similar lengths.")
@click.option("--too-long", type=click.Choice(["refuse", "drop"]), help="Rows longer than the context.")
@click.option("--max-length", type=click.IntRange(min=1), help="The longest row (default: the model's context).")
@click.option("--train-on", type=click.Choice(["last", "all"]), help="The assistant turns learned.")
@click.option("--eval-steps", type=click.IntRange(min=0), help="Validation loss every N steps.")
@click.option("--early-stopping-patience", type=click.IntRange(min=1), help="Stop after N validations without gain.")
@click.option("--save-steps", type=click.IntRange(min=0), help="A checkpoint every N steps (0: none).")
@click.option("--save-total-limit", type=click.IntRange(min=1), help="Checkpoints kept.")
@click.option("--lora-r", type=click.IntRange(min=1))
@click.option("--lora-alpha", type=float)
@click.option("--lora-dropout", type=float)
@click.option("--lora-targets", help="Comma-separated module names, or all-linear (default).")
@click.option("--corpus", type=click.Path(exists=True), help="domain: the corpus's data file.")
@click.option("--corpus-column", help="domain: the column holding the text (default text).")
@click.option("--corpus-epochs", type=click.IntRange(min=1))
@click.option("--corpus-holdout", type=click.FloatRange(0, 100), help="domain: percent of the corpus for validation.")
@click.option("--teacher", help="distill: the teacher model (hf:<dir>).")
@click.option("--temperature", type=float, help="distill: the softmax temperature.")
@click.option("--alpha", type=float, help="distill: the weight of the KL term.")
@click.option("--fsdp", "distributed", flag_value="fsdp", default=None, help="Under torchrun: shard the weights, "
              "gradients and optimizer state with FSDP, not DDP (docs/training.md).")
@click.option("--threads", type=click.IntRange(min=1), help="torch threads.")
@click.option("--progress/--no-progress", default=None, help="A progress bar on stderr (default: on a terminal).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train_cmd(file, names, data, validation_data, model, method, output, config, resume, overwrite, lora_targets,
              as_json, **options):
    """Train a model on FILE's `dataset` blocks (or on tokenized rows), into OUTPUT."""
    from .dataset import DatasetError
    from .local_answers import quiet_transformers
    from .session.compiled import CompileError
    from .train import TrainFailure, train

    quiet_transformers()  # transformers' own loading bars and warnings: the command has its own bar

    if lora_targets:
        options["lora_targets"] = [t.strip() for t in lora_targets.split(",")] if lora_targets != "all-linear" \
            else lora_targets
    try:
        result = train(file, model=model, method=method, output=output, datasets=list(names) or None, data=data,
                       validation_data=validation_data, config=config, resume=resume, overwrite=overwrite, **options)
    except CompileError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    except (TrainFailure, DatasetError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(1)
    _report(result, as_json)


def _report(result, as_json: bool) -> None:
    """The output folder and the final losses (or the whole result as JSON)."""
    if as_json:
        click.echo(json.dumps({"output": str(result.output), "method": result.method, "metrics": result.metrics,
                               "files": result.files}, indent=2, default=str))
        return
    m = result.metrics
    parts = [f"{m['steps']} steps", f"train loss {m['train_loss']:.4f}" if m["train_loss"] is not None else None,
             f"validation loss {m['eval_loss']:.4f}" if m["eval_loss"] is not None else None,
             f"{m['tokens_per_second']:,.0f} tokens/s" if m.get("tokens_per_second") else None,
             "early stopping" if m["stopped"] == "early_stopping" else None]
    click.echo(f"{result.output}: {result.method}, " + ", ".join(p for p in parts if p))
