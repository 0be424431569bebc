"""Fine-tune datasets (`polyprompt.dataset`): every format's lines validate against the official line
schemas or the format's documented rules, every row is accounted for, splits are stable, writes
are atomic. The real example `examples/review_moderation.prompt` and its data drive most tests."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from helpers import EXAMPLES, REFDATA
from polyprompt import dataset
from polyprompt.dataset import formats
from polyprompt.dataset.splits import row_key, split_of

MODERATION = EXAMPLES / "review_moderation.prompt"

PREFERENCE = '''
prompt reply(question: str) -> str {
  system "Answer in one sentence."
  user "{{ question }}"
}

dataset reply "pairs" from "pairs.jsonl" {
  question = row.q
  chosen = row.good
  rejected = row.bad
}
'''


def openai_line_validator(name: str) -> jsonschema.Draft202012Validator:
    """A validator for one of OpenAI's fine-tune line schemas, its `$ref`s resolved in the API spec."""
    spec = json.loads((REFDATA / "openai" / "openapi.subset.json").read_text())
    lines = json.loads((REFDATA / "openai" / "finetune_line_schemas.json").read_text())["schemas"]
    spec["components"]["schemas"].update(lines)
    registry = Registry().with_resource("urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{name}"}, registry=registry)


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.fixture
def project(tmp_path):
    """A copy of the moderation example with its data, as a project of its own."""
    shutil.copy(MODERATION, tmp_path / "moderation.prompt")
    (tmp_path / "data").mkdir()
    shutil.copy(EXAMPLES / "data" / "moderation.jsonl", tmp_path / "data" / "moderation.jsonl")
    (tmp_path / "polyprompt.toml").write_text("")
    return tmp_path


def build(project, fmt, name="out.jsonl", **options):
    return dataset.build(project / "moderation.prompt", fmt, project / "out" / name, **options)


def test_openai_sft_lines_validate_against_the_official_line_schema(project):
    summary = build(project, "openai-sft")
    validator = openai_line_validator("FineTuneChatRequestInput")
    lines = read_lines(summary.outputs["train"]) + read_lines(summary.outputs["validation"])
    assert len(lines) == summary.written == 5
    for line in lines:
        assert list(validator.iter_errors(line)) == []
        assert [m["role"] for m in line["messages"]] == ["system", "user", "assistant"]
        assert line["messages"][-1]["weight"] == 1
        assert json.loads(line["messages"][-1]["content"])["value"] in ("publish", "reject", "needs_review")


def test_openai_dpo_lines_validate_against_the_official_line_schema(tmp_path):
    (tmp_path / "p.prompt").write_text(PREFERENCE)
    (tmp_path / "pairs.jsonl").write_text(json.dumps({"q": "Why is the sky blue?", "good": "Rayleigh scattering.",
                                                      "bad": "Because."}) + "\n")
    for fmt in ("openai-dpo", "trl-preference"):
        summary = dataset.build(tmp_path / "p.prompt", fmt, tmp_path / f"{fmt}.jsonl")
        [line] = read_lines(summary.outputs["train"])
        assert formats.get(fmt).problems(line) == []
    [dpo] = read_lines(tmp_path / "openai-dpo.jsonl")
    assert list(openai_line_validator("FineTunePreferenceRequestInput").iter_errors(dpo)) == []
    assert dpo["preferred_output"] == [{"role": "assistant", "content": "Rayleigh scattering."}]
    [trl] = read_lines(tmp_path / "trl-preference.jsonl")
    assert trl["rejected"] == [{"role": "assistant", "content": "Because."}]


@pytest.mark.parametrize("fmt", ["openai-sft", "vertex-sft", "bedrock-sft", "trl-conversational",
                                 "trl-prompt-completion"])
def test_every_sft_format_writes_valid_lines(project, fmt):
    summary = build(project, fmt, split="train")
    lines = read_lines(project / "out" / "out.jsonl")
    assert len(lines) == summary.written == summary.by_split["train"] == 4
    assert all(formats.get(fmt).problems(line) == [] for line in lines)


def test_a_preference_format_needs_a_pair(project):
    with pytest.raises(dataset.DatasetError, match="bind `chosen` and `rejected`"):
        build(project, "openai-dpo")


def test_bedrock_lines_follow_the_rules(project):
    build(project, "bedrock-sft", split="train")
    for line in read_lines(project / "out" / "out.jsonl"):
        assert set(line) == {"system", "messages"}
        assert [m["role"] for m in line["messages"]] == ["user", "assistant"]


def test_every_row_is_accounted_for(project):
    summary = build(project, "openai-sft")
    assert summary.read == 6 and summary.filtered == 1  # one row is not in English
    assert summary.read == summary.written + summary.rejected + summary.filtered + summary.cut + summary.duplicates
    assert summary.rejects_path is None


BROKEN = {
    "truncated.jsonl": b'{"text": "ok", "stars": 4, "product": "p", "verified": true, "lang": "en", "label": "publish"}\n'
                       b'{"text": "cut off", "stars": 4, "prod\n',
    "types.jsonl": b'{"text": "ok", "stars": "four", "product": "p", "verified": true, "lang": "en", "label": "publish"}\n',
    "missing.jsonl": b'{"text": "ok", "product": "p", "verified": true, "lang": "en", "label": "publish"}\n',
    "label.jsonl": b'{"text": "ok", "stars": 4, "product": "p", "verified": true, "lang": "en", "label": "maybe"}\n',
    "bytes.jsonl": b'{"text": "caf\xe9", "stars": 4, "product": "p", "verified": true, "lang": "en", "label": "publish"}\n',
    "array.jsonl": b'[1, 2]\n',
    "empty.jsonl": b"",
}


@pytest.mark.parametrize("name, field, reason", [
    ("truncated.jsonl", "row", "not JSON"),
    ("types.jsonl", "rating", "expected `int`, got a string"),
    ("missing.jsonl", "rating", "the row has no column `stars`"),
    ("label.jsonl", "output", "not a value of"),
    ("bytes.jsonl", "row", "not UTF-8"),
    ("array.jsonl", "row", "a row is a JSON object"),
])
def test_bad_rows_are_reported_with_their_number_and_counted(project, name, field, reason):
    (project / "data" / "moderation.jsonl").write_bytes(BROKEN[name])
    summary = build(project, "openai-sft")
    rejects = read_lines(summary.rejects_path)
    assert summary.rejected == len(rejects) == 1
    [reject] = rejects
    assert reject["field"] == field and reason in reject["reason"], reject
    assert reject["row"] == (2 if name == "truncated.jsonl" else 1)
    assert reject["line"] == reject["row"]
    assert summary.read == summary.written + summary.rejected


def test_an_empty_file_writes_empty_outputs(project):
    (project / "data" / "moderation.jsonl").write_bytes(b"")
    summary = build(project, "openai-sft")
    assert summary.read == summary.written == 0
    assert Path(summary.outputs["train"]).read_text() == ""


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(project):
    (project / "data" / "moderation.jsonl").write_bytes(BROKEN["types.jsonl"])
    with pytest.raises(dataset.DatasetError, match=r"row 1: rating: .*--strict"):
        build(project, "openai-sft", strict=True)
    assert not (project / "out" / "out.train.jsonl").exists()
    assert list((project / "out").iterdir()) == []  # no temporary file left either


def test_a_long_line_is_a_bad_row_not_held_in_memory(project, monkeypatch):
    from polyprompt.dataset import sources

    monkeypatch.setattr(sources, "MAX_LINE_BYTES", 1000)
    good = (project / "data" / "moderation.jsonl").read_bytes()
    (project / "data" / "moderation.jsonl").write_bytes(b'{"text": "' + b"x" * 5000 + b'"}\n' + good)
    summary = build(project, "openai-sft")
    [reject] = read_lines(summary.rejects_path)
    assert reject["row"] == 1 and "longer than 1,000 bytes" in reject["reason"]
    assert summary.written == 5


def test_csv_rows_fill_typed_parameters(project):
    csv = ("text,stars,product,verified,lang,label\n"
           "\"Fine, thanks\",4,007 kettle,true,en,publish\n"
           "bad stars,many,p,false,en,reject\n"
           "\"a quote never closed,2,p,false,en,reject\n")
    (project / "data" / "moderation.csv").write_text(csv)
    source = (project / "moderation.prompt").read_text().replace("data/moderation.jsonl", "data/moderation.csv")
    (project / "moderation.prompt").write_text(source)
    summary = build(project, "trl-conversational")
    assert summary.read == 3 and summary.written == 1 and summary.rejected == 2
    [line] = [line for path in summary.outputs.values() for line in read_lines(path)]
    assert "Product: 007 kettle\nRating: 4/5 (verified purchase)" in line["messages"][1]["content"]
    reasons = {r["row"]: r for r in read_lines(summary.rejects_path)}
    assert reasons[2]["field"] == "rating" and reasons[2]["line"] == 3
    assert reasons[3]["field"] == "row" and "not CSV" in reasons[3]["reason"] and reasons[3]["line"] == 4


def test_splits_depend_on_the_row_only():
    rows = [{"i": i, "text": f"row {i}"} for i in range(2000)]
    splits = (("validation", 10.0), ("test", 5.0))
    before = [split_of(row_key(r), splits, 7) for r in rows]
    after = [split_of(row_key(r), splits, 7) for r in rows + [{"i": -1}] * 50][:2000]
    assert before == after
    assert abs(before.count("validation") - 200) < 60 and abs(before.count("test") - 100) < 40
    assert before != [split_of(row_key(r), splits, 8) for r in rows]  # the seed matters


def test_appending_rows_never_moves_an_old_row(project):
    first = build(project, "openai-sft")
    old = {name: Path(path).read_text() for name, path in first.outputs.items()}
    with open(project / "data" / "moderation.jsonl", "a") as f:
        for i in range(40):
            f.write(json.dumps({"text": f"extra {i}", "stars": 3, "product": "p", "verified": False, "lang": "en",
                                "label": "publish"}) + "\n")
    second = build(project, "openai-sft")
    for name, path in second.outputs.items():
        assert Path(path).read_text().startswith(old[name])


def test_a_rerun_gives_the_same_bytes(project):
    first = build(project, "trl-conversational")
    data = {name: Path(path).read_bytes() for name, path in first.outputs.items()}
    second = build(project, "trl-conversational")
    assert {name: Path(path).read_bytes() for name, path in second.outputs.items()} == data


def test_duplicates_are_dropped_and_counted(project):
    path = project / "data" / "moderation.jsonl"
    path.write_text(path.read_text() + path.read_text().splitlines()[0] + "\n")
    summary = build(project, "openai-sft")
    assert summary.duplicates == 1 and summary.written == 5
    assert build(project, "openai-sft", dedup=False).written == 6


def test_limit_cuts_rows_and_counts_them(project):
    source = (project / "moderation.prompt").read_text().replace("limit 50000", "limit 2")
    (project / "moderation.prompt").write_text(source)
    summary = build(project, "openai-sft")
    assert summary.written == 2 and summary.cut == 3 and summary.filtered == 1


def test_data_outside_the_project_is_refused(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.jsonl"
    outside.write_text("{}\n")
    source = (project / "moderation.prompt").read_text().replace('"data/moderation.jsonl"', f'"../{outside.parent.name}/secret.jsonl"')
    (project / "moderation.prompt").write_text(source)
    with pytest.raises(dataset.DatasetError, match="outside the project root"):
        build(project, "openai-sft")


def test_parquet_and_datasets_folder_outputs_load_in_datasets(project):
    import datasets

    build(project, "trl-conversational", "out.parquet", split="train")
    build(project, "trl-conversational", "folder", split="train")
    from_parquet = datasets.load_dataset("parquet", data_files=str(project / "out" / "out.parquet"), split="train",
                                         cache_dir=str(project / "hf-cache"))
    from_folder = datasets.load_from_disk(str(project / "out" / "folder"))
    jsonl = read_lines(build(project, "trl-conversational", split="train").outputs["train"])
    assert from_parquet.to_list() == from_folder.to_list() == jsonl


def test_every_input_kind_reads_the_same_rows(project):
    import datasets

    rows = read_lines(project / "data" / "moderation.jsonl")
    (project / "data" / "m.json").write_text(json.dumps(rows, indent=1))
    datasets.Dataset.from_list(rows).to_parquet(str(project / "data" / "m.parquet"))
    datasets.Dataset.from_list(rows).save_to_disk(str(project / "data" / "m_folder"))
    expected = read_lines(build(project, "openai-sft", split="train").outputs["train"])
    for name in ("m.json", "m.parquet", "m_folder"):
        source = MODERATION.read_text().replace("data/moderation.jsonl", f"data/{name}")
        (project / "moderation.prompt").write_text(source)
        assert read_lines(build(project, "openai-sft", split="train").outputs["train"]) == expected, name


def test_the_cli_builds_and_summarizes(project):
    out = subprocess.run([sys.executable, "-m", "polyprompt", "dataset", str(project / "moderation.prompt"),
                          "-f", "openai-sft", "-o", str(project / "cli.jsonl"), "--json"],
                         capture_output=True, text=True, check=True)
    summary = json.loads(out.stdout)
    assert summary["read"] == 6 and summary["written"] == 5 and summary["by_split"] == {"train": 4, "validation": 1}
    bad = subprocess.run([sys.executable, "-m", "polyprompt", "dataset", str(project / "moderation.prompt"),
                          "-f", "openai-sfft", "-o", "x.jsonl"], capture_output=True, text=True)
    assert bad.returncode == 2 and "did you mean `openai-sft`?" in bad.stderr and "Traceback" not in bad.stderr


MIXED = '''
prompt classify(text: str) -> "positive" | "negative" {
  user "Classify: {{ text }}"
}

prompt summarize(text: str) -> str {
  user "Summarize: {{ text }}"
}

dataset classify "sentiment" from "a.jsonl" {
  text = row.t
  output = row.y
  weight 2
}

dataset summarize "summaries" from "b.jsonl" {
  text = row.t
  output = row.s
  weight 0.5
}
'''


def test_datasets_are_mixed_by_weight_and_tagged(tmp_path):
    (tmp_path / "m.prompt").write_text(MIXED)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"t": f"text {i}", "y": "positive"}) + "\n" for i in range(10)))
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"t": f"long {i}", "s": f"s{i}"}) + "\n" for i in range(200)))
    summary = dataset.build(tmp_path / "m.prompt", "trl-conversational", tmp_path / "mix.jsonl")
    lines = read_lines(tmp_path / "mix.jsonl")
    assert summary.by_task["sentiment"] == 20 and 70 < summary.by_task["summaries"] < 130
    assert {line["task"] for line in lines} == {"sentiment", "summaries"}
    assert summary.read + summary.repeated == summary.written + summary.sampled_out
    again = dataset.build(tmp_path / "m.prompt", "trl-conversational", tmp_path / "mix2.jsonl")
    assert read_lines(tmp_path / "mix2.jsonl") == lines and again.to_json()["by_task"] == summary.to_json()["by_task"]
    only = dataset.build(tmp_path / "m.prompt", "openai-sft", tmp_path / "one.jsonl", datasets=["sentiment"])
    assert only.written == 20 and "task" not in read_lines(tmp_path / "one.jsonl")[0]  # OpenAI refuses unknown keys


def test_workers_write_the_same_bytes(project):
    serial = build(project, "openai-sft", "serial.jsonl")
    parallel = build(project, "openai-sft", "parallel.jsonl", workers=2)
    for name in serial.outputs:
        assert Path(parallel.outputs[name]).read_bytes() == Path(serial.outputs[name]).read_bytes()
    assert parallel.to_json()["by_split"] == serial.to_json()["by_split"]


def test_the_row_function_runs_in_datasets_map(project):
    import datasets

    from polyprompt.dataset.rowfn import row_fn

    rows = read_lines(project / "data" / "moderation.jsonl")
    data = datasets.Dataset.from_list(rows)
    fn = row_fn(str(project / "moderation.prompt"), "openai-sft")
    mapped = data.map(fn, num_proc=2, remove_columns=data.column_names)
    built = build(project, "openai-sft", dedup=False)
    written = sorted(line for path in built.outputs.values() for line in Path(path).read_text().splitlines())
    # `where` is build's: the row function turns every row it is given (the French one too)
    assert all(m["problem"] is None for m in mapped) and len(mapped) == 6
    english = [m for m, r in zip(mapped, rows) if r["lang"] == "en"]
    assert sorted(m["line"] for m in english) == written
    assert {m["split"] for m in english} == {"train", "validation"}


def test_a_row_longer_than_max_length_is_rejected_with_its_length(project):
    summary = build(project, "tokenized", "tok.jsonl", max_length=60, split="train")
    rejects = read_lines(summary.rejects_path)
    assert rejects and all(r["field"] == "length" and "more than the maximum length 60" in r["reason"] for r in rejects)
    assert summary.written == 0 and summary.rejected + summary.other_splits == 5
    ok = build(project, "tokenized", "tok.jsonl", max_length=4096, split="train")
    assert ok.written == 4 and ok.lengths["train"].to_json()["unit"] == "tokens"


def test_a_progress_bar_goes_to_stderr(project, capsys):
    build(project, "openai-sft", progress=True)
    captured = capsys.readouterr()
    assert "rows" in captured.err and captured.out == ""


@pytest.mark.slow
def test_a_killed_run_leaves_no_output_and_a_rerun_gives_the_same_bytes(project):
    import os
    import signal
    import time

    rows = [{"text": f"Review number {i}: it works.", "stars": 1 + i % 5, "product": f"p{i}", "verified": i % 2 == 0,
             "lang": "en", "label": "publish"} for i in range(4000)]
    (project / "data" / "moderation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    def command(output):
        return [sys.executable, "-m", "polyprompt", "dataset", str(project / "moderation.prompt"), "-f", "openai-sft",
                "-o", str(output), "--split", "train"]

    subprocess.run(command(project / "whole.jsonl"), check=True, capture_output=True)
    out = project / "out"
    out.mkdir()
    proc = subprocess.Popen(command(out / "k.jsonl"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(out.glob(".k.jsonl.*.tmp")) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # some lines written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(out.glob(".k.jsonl.*.tmp")), "the run ended before it was killed"
    assert not (project / "out" / "k.jsonl").exists()  # the hidden temporary file only
    subprocess.run(command(out / "k.jsonl"), check=True, capture_output=True)
    assert (project / "out" / "k.jsonl").read_bytes() == (project / "whole.jsonl").read_bytes()
    assert [p.name for p in (project / "out").iterdir()] == ["k.jsonl"]  # the stale temporary file was removed


RECORD = '''
type Verdict { label: "spam" | "ham", score: float, reasons?: list[str] }

prompt judge(text: str) -> Verdict {
  user "Judge: {{ text }}"
}
'''


@pytest.mark.parametrize("target", ["openai-chat", "vertex", "anthropic", "hf-family:qwen3", "hf-family:smollm2",
                                    "mistral", "ollama"])
def test_every_answer_reads_back_as_its_value(tmp_path, target):
    """answer_text is the inverse of the reply reader, as the target's model is told to answer."""
    import polyprompt
    from polyprompt.compiler.replies import parse_output
    from polyprompt.dataset.answers import answer_text

    (tmp_path / "r.prompt").write_text(RECORD)
    cases = [(MODERATION, {"review": "ok", "rating": 4, "product_title": "p"}, ["publish", "reject", "needs_review"]),
             (tmp_path / "r.prompt", {"text": "buy now"}, [{"label": "spam", "score": 0.9},
                                                         {"label": "ham", "score": 0.1, "reasons": ["a", "b"]}])]
    for path, inputs, values in cases:
        compiled = polyprompt.load(path).compile(target, inputs)
        output, backend = compiled.request.output, compiled.backend
        for value in values:
            text = answer_text(value, output, backend)
            assert parse_output(text, output, tolerant=backend.caps.structured_output is None) == value, text


def test_a_dataset_from_the_command_line(project, tmp_path_factory):
    """--prompt --data --bind: no block needed; the user's data path may be anywhere; a wrong
    expression gets its diagnostic at the synthesized line."""
    elsewhere = tmp_path_factory.mktemp("data") / "rows.jsonl"
    shutil.copy(project / "data" / "moderation.jsonl", elsewhere)
    base = [sys.executable, "-m", "polyprompt", "dataset", str(project / "moderation.prompt"), "-f", "openai-sft",
            "-o", str(project / "adhoc.jsonl"), "--prompt", "moderate_review", "--data", str(elsewhere), "--json"]
    binds = ["--bind", "review=row.text", "--bind", "rating=row.stars", "--bind", "product_title=row.product",
             "--bind", "output=row.label"]
    run = subprocess.run(base + binds + ["--where", 'row.lang == "en"', "--holdout", "validation=20%", "--seed", "7"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["read"] == 6 and summary["written"] == 5 and summary["filtered"] == 1
    block = read_lines(build(project, "openai-sft", "block.jsonl", split="train").outputs["train"])
    adhoc = read_lines(project / "adhoc.train.jsonl")
    # the same rows in the same splits; `verified_purchase` is not bound here, so it takes its default
    assert [line["messages"][-1] for line in adhoc] == [line["messages"][-1] for line in block]
    assert [line["messages"][1]["content"] for line in adhoc] == [
        line["messages"][1]["content"].replace(" (verified purchase)", "") for line in block]
    bad = subprocess.run(base + binds[:-2] + ["--bind", "output=row.label +"], capture_output=True, text=True)
    assert bad.returncode == 1 and "error[PP100]" in bad.stderr and "output = row.label +" in bad.stderr
