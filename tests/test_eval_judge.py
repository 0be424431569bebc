"""The judge of free-text outputs (issue 15 item 1): a rubric prompt written in the language grades
every answer, answered by recorded replies, an API target over HTTP (with the reply cache) or a
local model; pass rate with a Wilson interval, mean score with a bootstrap interval, reasons per
row; judge replies that do not parse counted apart; the rubric's signature checked when it loads;
a judge that fails mid-run keeps a partial report."""
from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("sacrebleu")

from click.testing import CliRunner  # noqa: E402

from polyprompt.cli import cli  # noqa: E402
from polyprompt.evaluate import EvalError, Judge, Options, evaluate  # noqa: E402
from polyprompt.evaluate import intervals  # noqa: E402
from polyprompt.evaluate.targets import LocalTarget  # noqa: E402

from helpers import EXAMPLES, REPO  # noqa: E402

FAST = Options(resamples=200)
SOURCE = EXAMPLES / "eval_judge"
#: openai-chat's and anthropic's grades in judge_replies.jsonl (None: a reply that is prose, not a Grade)
PASSES = {"openai-chat": [True] * 7 + [False] + [True] * 2,
          "anthropic": [True, False, True, True, False, False, None, True, False, True]}
SCORES = {"anthropic": [1.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0, 0.0, 0.5]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of examples/eval_judge as its own project, the working folder."""
    for path in SOURCE.iterdir():
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "polyprompt.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_recorded(**judge) -> dict:
    settings = {"replies": "judge_replies.jsonl", **judge}
    report = evaluate("eval_judge.prompt", ["openai-chat", "anthropic"], replies="sample_replies.jsonl",
                      judge=Judge(settings.pop("rubric", "rubric.prompt:grade"), settings.pop("target", "openai-chat"),
                                  **settings), options=FAST)
    return {"report": report.to_json(), "predictions": report.predictions}


def cli_run(*args: str):
    return CliRunner().invoke(cli, ["eval", *args])


# --- the docs example ---------------------------------------------------------------------------------

def test_the_docs_judge_example_is_real_output(tmp_path, monkeypatch):
    """docs/evaluation.md's judge transcript is what the command prints; the report files hold the
    judge's verdict and reason per row."""
    import shlex

    doc = (REPO / "docs" / "evaluation.md").read_text(encoding="utf-8")
    block = next(b for b in doc.split("```console\n")[1:] if "--judge" in b.split("\n```", 1)[0])
    block_lines = block.split("\n```", 1)[0].splitlines()
    command = next(line for line in block_lines if line.startswith("$ polyprompt eval"))
    shown = block_lines[block_lines.index(command) + 1:block_lines.index("$ echo $?")]
    args = shlex.split(command[len("$ polyprompt "):])
    args[args.index("-o") + 1] = str(tmp_path / "report")
    monkeypatch.chdir(SOURCE)
    result = CliRunner().invoke(cli, args)
    assert result.stdout.splitlines() == shown
    assert result.exit_code == int(block_lines[block_lines.index("$ echo $?") + 1])
    predictions = [json.loads(line) for line in (tmp_path / "report" / "predictions.jsonl").read_text().splitlines()]
    row2 = next(p for p in predictions if p["row"] == 2 and p["target"] == "anthropic")
    assert row2["judge"]["pass"] is False and "5 business days" in row2["judge"]["reason"]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "judge: fail" in page and "Says 14 days; the policy says 5 business days" in page
    # the doc's binding error is the real one
    error = next(line for line in doc.splitlines() if line.startswith("error: rubric.prompt:"))
    bad = tmp_path / "bad"
    shutil.copytree(SOURCE, bad)
    rubric = (bad / "rubric.prompt").read_text().replace("expected: str", "reference: str")
    (bad / "rubric.prompt").write_text(rubric.replace("{{ expected }}", "{{ reference }}"))
    monkeypatch.chdir(bad)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and result.stderr.strip() == error


# --- recorded grades: the figures ---------------------------------------------------------------------

def test_pass_rate_score_and_parse_failures_from_recorded_grades(project):
    got = run_recorded()
    report, predictions = got["report"], got["predictions"]
    by_label = {t["label"]: t for t in report["targets"]}
    for label, passes in PASSES.items():
        rate = by_label[label]["metrics"]["judge_pass_rate"]
        k = sum(p is True for p in passes)
        assert (rate["value"], rate["n"]) == (k / 10, 10)
        assert (rate["low"], rate["high"]) == pytest.approx(intervals.wilson(k, 10))
    anthropic = by_label["anthropic"]
    # the prose reply is not a pass, and is counted apart (not an error, not a score)
    assert anthropic["judge"]["parse_failures"] == 1 and anthropic["judge"]["errors"] == 0
    assert anthropic["metrics"]["judge_parse_failure_rate"]["value"] == 0.1
    score = anthropic["metrics"]["judge_score"]
    assert score["n"] == 9 and score["value"] == pytest.approx(sum(SCORES["anthropic"]) / 9)
    assert score["low"] < score["value"] < score["high"]
    assert anthropic["judge"]["tokens"]["input"] > 0 and anthropic["judge"]["latency_ms"]["p50"] > 700
    row7 = next(p for p in predictions if p["row"] == 7 and p["target"] == "anthropic")
    assert row7["judge"]["pass"] is False and row7["judge"]["parse_error"]
    assert all(isinstance(p["judge"]["reason"], str) for p in predictions if p["judge"]["parse_error"] is None)
    pair = next(c for c in report["comparisons"] if c["metric"] == "judge_pass_rate")
    assert (pair["only_a"], pair["only_b"], pair["test"]) == (5, 1, "mcnemar")
    assert pair["p_value"] == pytest.approx(7 / 32)  # exact: 2 * P(X <= 1), X ~ Bin(6, 1/2)
    assert report["judge"]["bind"] == {"question": "question", "answer": "answer", "expected": "expected"}
    assert not report["partial"]


def test_a_row_the_target_did_not_answer_is_not_sent_and_does_not_pass(project):
    lines = (project / "sample_replies.jsonl").read_text().splitlines()
    (project / "sample_replies.jsonl").write_text("\n".join(lines[1:]) + "\n")  # openai-chat's row 1 is gone
    report = run_recorded()["report"]
    entry = report["targets"][0]
    assert entry["errors"] == 1 and entry["judge"]["ungraded"] == 1 and entry["judge"]["graded"] == 9
    assert entry["metrics"]["judge_pass_rate"]["value"] == 8 / 10


def test_gates_take_the_judges_metrics(project):
    args = ["eval_judge.prompt", "-t", "openai-chat", "-t", "anthropic", "--replies", "sample_replies.jsonl",
            "--judge", "rubric.prompt", "--judge-target", "openai-chat", "--judge-replies", "judge_replies.jsonl",
            "--no-plots", "--json"]
    assert cli_run(*args, "--fail-under", "judge_pass_rate=0.5").exit_code == 0
    failed = cli_run(*args, "--fail-under", "judge_score=0.6")
    assert failed.exit_code == 1
    assert [g["passed"] for g in json.loads(failed.stdout)["gates"]] == [True, False]
    without = cli_run("eval_judge.prompt", "-t", "openai-chat", "--replies", "sample_replies.jsonl",
                      "--fail-under", "judge_pass_rate=0.5")
    assert without.exit_code == 1 and "judge_pass_rate: no such metric" in without.stderr


ENUM_RUBRIC = '''enum Verdict { correct, partly, wrong }

prompt grade(answer: str, expected: str) -> Verdict {
  user "Reference: {{ expected }} Answer: {{ answer }}"
}
'''


@pytest.mark.parametrize("returns, replies, passing, rate", [
    ("Verdict", ['{"value": "correct"}', '{"value": "partly"}', '{"value": "wrong"}'], ("correct", "partly"), 2 / 3),
    ("Verdict", ['{"value": "correct"}', '{"value": "partly"}', '{"value": "wrong"}'], ("correct",), 1 / 3),
    ("bool", ['{"value": true}', '{"value": false}', 'I think so'], (), 1 / 3),
])
def test_enum_and_bool_grades(project, returns, replies, passing, rate):
    (project / "verdict.prompt").write_text(ENUM_RUBRIC.replace("-> Verdict", f"-> {returns}"))
    (project / "verdicts.jsonl").write_text("".join(
        json.dumps({"row": i, "target": "anthropic", "reply": {"content": [{"type": "text", "text": text}]}}) + "\n"
        for i, text in enumerate(replies, start=1)))
    report = evaluate("eval_judge.prompt", ["openai-chat"], replies="sample_replies.jsonl", options=FAST,
                      judge=Judge("verdict.prompt", "anthropic", replies="verdicts.jsonl", passing=passing)).to_json()
    entry = report["targets"][0]
    # rows 4-10 have no recorded grade: judge errors, not passes
    assert entry["judge"]["errors"] == 7 and entry["metrics"]["judge_pass_rate"]["value"] == pytest.approx(rate * 3 / 10)
    assert "judge_score" not in entry["metrics"]
    assert entry["judge"]["parse_failures"] == (1 if returns == "bool" else 0)


def test_judge_bind_maps_a_rubric_parameter_of_another_name(project):
    rubric = (project / "rubric.prompt").read_text()
    (project / "rubric.prompt").write_text(rubric.replace("question: str, answer: str", "ask: str, response: str")
                                           .replace("{{ question }}", "{{ ask }}").replace("{{ answer }}",
                                                                                           "{{ response }}"))
    report = run_recorded(bind={"ask": "question", "response": "answer"})["report"]
    assert report["judge"]["bind"] == {"ask": "question", "response": "answer", "expected": "expected"}
    assert report["targets"][0]["metrics"]["judge_pass_rate"]["value"] == 0.9


# --- the rubric's signature, checked when it loads ----------------------------------------------------

GRADE = 'type Grade {\n  pass: bool\n  score: float\n  reason: str\n}\n\n'


@pytest.mark.parametrize("source, options, message", [
    (GRADE + 'prompt grade(question: str, expected: str) -> Grade {\n  user "{{ question }} {{ expected }}"\n}\n', {},
     "rubric.prompt:7:1: the rubric prompt `grade` must take `answer: str`"),
    (GRADE + 'prompt grade(answer: str, reference: str) -> Grade {\n  user "{{ answer }} {{ reference }}"\n}\n', {},
     "rubric.prompt:7:27: the rubric's parameter `reference` binds nothing"),
    (GRADE + 'prompt grade(answer: int) -> Grade {\n  user "{{ answer }}"\n}\n', {},
     "the rubric's parameter `answer: int` cannot take the graded answer, a str"),
    (GRADE + 'prompt grade(answer: str, question: int) -> Grade {\n  user "{{ answer }} {{ question }}"\n}\n', {},
     "`question: int` cannot take the input `question` of `answer`, a str"),
    ('prompt grade(answer: str) -> str {\n  user "{{ answer }}"\n}\n', {},
     "the rubric returns text, not a grade: return a record with `pass: bool`"),
    ('type G {\n  score: float\n}\n\nprompt grade(answer: str) -> G {\n  user "{{ answer }}"\n}\n', {},
     "the rubric returns G, not a grade"),
    ('type G {\n  pass: str\n}\n\nprompt grade(answer: str) -> G {\n  user "{{ answer }}"\n}\n', {},
     "the grade's field `pass` must be a bool, not str"),
    ('enum V { good, bad }\n\nprompt grade(answer: str) -> V {\n  user "{{ answer }}"\n}\n', {},
     "say which of its values pass with --judge-pass VALUE (good, bad)"),
    ('enum V { good, bad }\n\nprompt grade(answer: str) -> V {\n  user "{{ answer }}"\n}\n', {"passing": ("fine",)},
     "--judge-pass fine: not a value of V (good, bad)"),
    (GRADE + 'prompt grade(answer: str) -> Grade {\n  user "{{ answer }}"\n}\n', {"passing": ("good",)},
     "--judge-pass is for enum grades"),
    (GRADE + 'prompt grade(answer: str) -> Grade {\n  user "{{ answer }}"\n}\n', {"bind": {"nope": "question"}},
     "--judge-bind nope=...: the rubric prompt `grade`"),
    (GRADE + 'prompt grade(answer: str, q: str) -> Grade {\n  user "{{ answer }} {{ q }}"\n}\n',
     {"bind": {"q": "ticket"}}, "--judge-bind q=ticket: `ticket` is not `answer`, `expected` nor an input of `answer`"),
    (GRADE + 'prompt grade(answer: str -> Grade {\n}\n', {}, "the rubric rubric.prompt has errors"),
])
def test_a_bad_rubric_is_one_clear_error_before_anything_runs(project, source, options, message):
    (project / "rubric.prompt").write_text(source)
    asked = []
    target = LocalTarget("local", "hf-family:smollm2", run=lambda compiled: asked.append(compiled))
    with pytest.raises(EvalError) as err:
        evaluate("eval_judge.prompt", [target], options=FAST, judge=Judge("rubric.prompt", "openai-chat", **options))
    assert message in str(err.value)
    assert asked == [], "the rubric is checked before any row is answered"


@pytest.mark.parametrize("args, message", [
    (["--judge", "missing.prompt", "--judge-target", "openai-chat"], "no rubric file missing.prompt"),
    (["--judge", "rubric.prompt:nope", "--judge-target", "openai-chat"], "no prompt `nope`"),
    (["--judge", "rubric.prompt"], "--judge needs --judge-target"),
    (["--judge-target", "openai-chat"], "go with --judge RUBRIC"),
    (["--judge", "rubric.prompt", "--judge-target", "no-such-target"], "no-such-target"),
    (["--judge", "rubric.prompt", "--judge-target", "openai-chat", "--judge-bind", "question"], "write PARAM=SOURCE"),
])
def test_bad_judge_options_are_one_line(project, args, message):
    result = cli_run("eval_judge.prompt", "-t", "openai-chat", "--replies", "sample_replies.jsonl", *args)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_the_judge_grades_free_text_only(project):
    moderation = EXAMPLES / "eval_moderation" / "eval_moderation.prompt"
    with pytest.raises(EvalError, match="--judge grades free-text answers; `moderate` returns Decision"):
        evaluate(str(moderation), ["openai-chat"], split="test", judge=Judge("rubric.prompt", "openai-chat"),
                 replies=str(moderation.parent / "sample_replies.jsonl"), options=FAST)


@pytest.mark.parametrize("edit, message", [
    (lambda line: {k: v for k, v in line.items() if k != "graded"}, 'say whose answer it grades: "graded"'),
    (lambda line: {**line, "graded": "mistral"}, "\"graded\": 'mistral' is not an evaluated target"),
    (lambda line: {**line, "row": 99}, "a judge reply for row 99, which the data does not hold"),
    (lambda line: {**line, "target": "anthropic"}, "a reply of anthropic, but the judge is openai-chat"),
])
def test_bad_judge_replies_name_the_line(project, edit, message):
    path = project / "judge_replies.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + [json.dumps(edit(json.loads(lines[2])))] + lines[3:]) + "\n")
    with pytest.raises(EvalError) as err:
        run_recorded()
    assert str(err.value).startswith("judge_replies.jsonl:3: ") and message in str(err.value)


# --- a judge over HTTP, with the reply cache; failing mid-run -----------------------------------------

GRADE_REPLY = '{"pass": true, "score": 0.75, "reason": "the facts match"}'


@pytest.fixture
def keys(monkeypatch):
    pytest.importorskip("httpx")
    from fake_providers import KEYS

    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)


def test_an_http_judge_is_sent_each_answer_then_answered_by_the_cache(project, keys):
    from fake_providers import FakeProviders

    from polyprompt.run.cache import ReplyCache

    cache = ReplyCache(project / "cache")
    with FakeProviders(answer=GRADE_REPLY) as fake:
        api = {"base_url": fake.base("openai-chat"), "cache": cache, "concurrency": 4}
        first = evaluate("eval_judge.prompt", ["openai-chat", "anthropic"], replies="sample_replies.jsonl",
                         judge=Judge("rubric.prompt", "openai-chat"), api=api, options=FAST)
        assert fake.count("openai-chat") == 20 and fake.problems == []  # 10 rows x 2 graded targets
        again = evaluate("eval_judge.prompt", ["openai-chat", "anthropic"], replies="sample_replies.jsonl",
                         judge=Judge("rubric.prompt", "openai-chat"), api=api, options=FAST)
        assert fake.count("openai-chat") == 20, "the second evaluation's grades come from the reply cache"
        bodies = [r[3] for r in fake.requests]
    for report in (first.to_json(), again.to_json()):
        for entry in report["targets"]:
            assert entry["metrics"]["judge_pass_rate"]["value"] == 1.0
            assert entry["metrics"]["judge_score"]["value"] == pytest.approx(0.75)
            assert entry["judge"]["graded"] == 10 and entry["judge"]["parse_failures"] == 0
    assert all(p["judge"]["reason"] == "the facts match" for p in first.predictions)
    assert first.to_json()["judge"]["label"] == "openai-chat"
    # the judge was asked about each answer, with the reference and the question
    user = [m["content"] for b in bodies for m in b["messages"] if m["role"] == "user"]
    assert any("Refunds are usually issued within 14 days." in u and "within 5 business days of your return" in u
               and "When will I get my money back" in u for u in user)


def test_a_judge_that_fails_mid_run_keeps_a_partial_report(project, keys, tmp_path):
    from fake_providers import FakeProviders

    with FakeProviders(answer=GRADE_REPLY) as fake:
        fake.plan("openai-chat", "ok", "ok", "ok", "ok", {"status": 401, "message": "Incorrect API key provided"})
        result = cli_run("eval_judge.prompt", "-t", "openai-chat", "--replies", "sample_replies.jsonl",
                         "--judge", "rubric.prompt", "--judge-target", "openai-chat", "--base-url",
                         fake.base("openai-chat"), "--concurrency", "1", "--batch-size", "2", "--no-cache",
                         "-o", str(tmp_path / "out"), "--no-plots")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the judge stopped grading openai-chat after 4 rows" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    entry = report["targets"][0]
    assert report["partial"] and "Incorrect API key" in entry["judge"]["failure"]
    assert entry["judge"]["graded"] == 4 and entry["metrics"]["judge_pass_rate"]["n"] == 4
    assert entry["metrics"]["judge_pass_rate"]["value"] == 1.0 and entry["answered_rows"] == 10
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [p["judge"] is not None for p in predictions] == [True] * 4 + [False] * 6
    assert 'id="partial"' in (tmp_path / "out" / "report.html").read_text()


# --- a tiny local judge -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory):
    pytest.importorskip("torch")
    from tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_a_tiny_local_judge_grades_by_log_likelihood(project, tiny_judge):
    """A bool grade on a local model is scored, not generated (run.batched.choose_many): every reply
    is a grade, and the grades are the per-row `local.choose` ones."""
    from polyprompt import load
    from polyprompt.run import local

    (project / "verdict.prompt").write_text(ENUM_RUBRIC.replace("-> Verdict", "-> bool"))
    judge = Judge("verdict.prompt", f"judge=hf:{tiny_judge}")
    report = evaluate("eval_judge.prompt", ["openai-chat"], replies="sample_replies.jsonl", options=FAST,
                      judge=judge, batch_size=4)
    entry = report.to_json()["targets"][0]
    assert entry["judge"]["graded"] == 10 and entry["judge"]["parse_failures"] == 0 and entry["judge"]["errors"] == 0
    rubric = load(str(project / "verdict.prompt"))
    answers = {p["row"]: p for p in report.predictions}
    for row, prediction in answers.items():
        compiled = rubric.compile(f"hf:{tiny_judge}", {"answer": prediction["value"],
                                                       "expected": prediction["expected"]})
        assert prediction["judge"]["pass"] is (local.choose(compiled).value is True)


# --- the HTML report in Chromium ----------------------------------------------------------------------

def test_the_judge_in_the_html_report_rendered_by_chromium(project, tmp_path):
    """report.html, opened in headless Chromium, shows the judge's metrics as report.json has them,
    its figures per target, and each row's verdict and reason under the answer."""
    from test_eval_html import _not_blank, _open, _parse

    result = cli_run("eval_judge.prompt", "-t", "openai-chat", "-t", "anthropic", "--replies", "sample_replies.jsonl",
                     "--judge", "rubric.prompt", "--judge-target", "openai-chat", "--judge-replies",
                     "judge_replies.jsonl", "-o", str(tmp_path / "out"), "--no-plots")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    predictions = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    (tmp_path / "browser").mkdir()
    dom, shot = _open(tmp_path / "browser", (tmp_path / "out" / "report.html").read_text())
    _not_blank(shot)
    page = _parse(dom)
    metrics = {row[0]: row[1:] for row in page.tables["metrics"][1:]}
    for column, target in enumerate(report["targets"]):
        for name in ("judge_pass_rate", "judge_score", "judge_parse_failure_rate"):
            m = target["metrics"][name]
            assert metrics[name][column] == f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}] n={m['n']}"
    figures = {row[0]: row[1:] for row in page.tables["judge-figures"][1:]}
    assert figures["passed"] == [str(t["judge"]["passed"]) for t in report["targets"]] == ["9", "5"]
    assert figures["judge parse failures"] == ["0", "1"]
    rows = page.tables["predictions"][1:]
    for p in predictions:
        cell = rows[p["row"] - 1][2 + [t["label"] for t in report["targets"]].index(p["target"])]
        grade = p["judge"]
        if grade["parse_error"]:
            assert "judge: fail" in cell and "judge: " + grade["parse_error"][:30] in cell
        else:
            assert ("judge: pass" if grade["pass"] else "judge: fail") in cell and grade["reason"] in cell


def test_a_local_judge_of_a_record_grade_generates_and_counts_what_does_not_parse(project, tiny_judge):
    """A record grade on a local model is generated in batches (run.batched.generate_many); the tiny
    random model's replies are not JSON: each is a judge parse failure, counted apart, not a pass,
    and the run goes on."""
    rubric = (project / "rubric.prompt").read_text().replace("max_tokens: 200", "max_tokens: 8")
    (project / "rubric.prompt").write_text(rubric)
    report = evaluate("eval_judge.prompt", ["openai-chat"], replies="sample_replies.jsonl", options=FAST,
                      judge=Judge("rubric.prompt", f"hf:{tiny_judge}"), batch_size=3)
    entry = report.to_json()["targets"][0]
    assert entry["judge"]["graded"] == 10 and entry["judge"]["errors"] == 0 and not report.partial
    failures = entry["judge"]["parse_failures"]
    assert failures == 10 - sum(p["judge"]["parse_error"] is None for p in report.predictions)
    assert entry["metrics"]["judge_pass_rate"]["value"] <= 1 - failures / 10
    assert all(p["judge"]["pass"] is False for p in report.predictions if p["judge"]["parse_error"])
