"""Logit distillation (train/distill.py): the loss against a hand computation, its two ends
(alpha 1 = pure KL, alpha 0 = CE), gradients to the student only, a few steps of a tiny student
against a tiny teacher lowering the KL, and the one-line error for a teacher of another vocabulary."""
from __future__ import annotations

import json
import math
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from polyprompt.train.distill import (LogitDistillation, TokenizerMismatch, check_shared_tokenizer,  # noqa: E402
                                      kl_distill_loss)
from tiny_model import build_tiny_model  # noqa: E402

#: labels as a model takes them: position t's logits predict labels[:, t + 1]; -100 is not learned
LABELS = torch.tensor([[-100, -100, 3, 1, -100], [-100, 4, 0, -100, 2]])


def _logits(seed: int, shape=(2, 5, 6)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 3


def _softmax(row: list[float], temperature: float) -> list[float]:
    m = max(row)
    exps = [math.exp((x - m) / temperature) for x in row]
    return [e / sum(exps) for e in exps]


def _learned(labels) -> list[tuple[int, int, int]]:
    """(batch, position, target) of every learned token, by the shift rule written out."""
    return [(b, t, int(labels[b, t + 1])) for b in range(labels.shape[0]) for t in range(labels.shape[1] - 1)
            if int(labels[b, t + 1]) != -100]


def hand_kl(student, teacher, labels, temperature: float) -> float:
    """T^2 * mean over learned tokens of sum_v p_t(v) * (log p_t(v) - log p_s(v)), p = softmax(z / T)."""
    total, rows = 0.0, _learned(labels)
    for b, t, _target in rows:
        p_s = _softmax(student[b, t].tolist(), temperature)
        p_t = _softmax(teacher[b, t].tolist(), temperature)
        total += sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))
    return temperature**2 * total / len(rows)


def hand_ce(student, labels) -> float:
    """Mean over learned tokens of -log softmax(z)[target] at temperature 1."""
    rows = _learned(labels)
    return sum(-math.log(_softmax(student[b, t].tolist(), 1.0)[y]) for b, t, y in rows) / len(rows)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 4.0])
def test_kl_term_is_the_hand_computation(temperature):
    student, teacher = _logits(1), _logits(2)
    got = kl_distill_loss(student, teacher, LABELS, temperature=temperature, alpha=1.0)
    assert got.item() == pytest.approx(hand_kl(student, teacher, LABELS, temperature), rel=1e-5)


def test_masked_positions_change_nothing():
    student, teacher = _logits(1), _logits(2)
    before = kl_distill_loss(student, teacher, LABELS, temperature=2.0, alpha=0.5)
    learned = {(b, t) for b, t, _ in _learned(LABELS)}
    s2, t2 = student.clone(), teacher.clone()
    for b in range(2):
        for t in range(5):
            if (b, t) not in learned:  # logits that predict no learned token, and the last position
                s2[b, t] += 100 * torch.randn(6)
                t2[b, t] -= 50
    assert kl_distill_loss(s2, t2, LABELS, temperature=2.0, alpha=0.5).item() == pytest.approx(before.item(), abs=1e-6)


def test_alpha_one_is_pure_kl_and_zero_is_cross_entropy():
    student, teacher = _logits(3), _logits(4)
    kl, ce = hand_kl(student, teacher, LABELS, 2.0), hand_ce(student, LABELS)
    assert kl_distill_loss(student, teacher, LABELS, 2.0, alpha=1.0).item() == pytest.approx(kl, rel=1e-5)
    assert kl_distill_loss(student, teacher, LABELS, 2.0, alpha=0.0).item() == pytest.approx(ce, rel=1e-5)
    assert kl_distill_loss(student, teacher, LABELS, 2.0, alpha=0.3).item() == pytest.approx(0.3 * kl + 0.7 * ce,
                                                                                            rel=1e-5)
    # the same CE, as the model computes it, may be passed in
    shifted = torch.nn.functional.cross_entropy(student[:, :-1].reshape(-1, 6), LABELS[:, 1:].reshape(-1))
    mixed = kl_distill_loss(student, teacher, LABELS, 2.0, alpha=0.3, hard_loss=shifted)
    assert mixed.item() == pytest.approx(0.3 * kl + 0.7 * ce, rel=1e-5)


def test_aligned_rows_take_the_same_loss():
    """[N, V] rows with [N] targets (already aligned) give what [B, T, V] with shifted labels gives."""
    student, teacher = _logits(5), _logits(6)
    mask = LABELS[:, 1:] != -100
    rows = kl_distill_loss(student[:, :-1][mask], teacher[:, :-1][mask], LABELS[:, 1:][mask], 2.0, 0.5)
    assert rows.item() == pytest.approx(kl_distill_loss(student, teacher, LABELS, 2.0, 0.5).item(), rel=1e-6)


def test_gradients_reach_the_student_only():
    student = _logits(7).requires_grad_(True)
    teacher = _logits(8).requires_grad_(True)
    kl_distill_loss(student, teacher, LABELS, 2.0, 0.5).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    unlearned = LABELS[:, 1:] == -100
    assert student.grad[:, :-1][unlearned].abs().sum() == 0 and student.grad[:, -1].abs().sum() == 0


def test_bad_settings_are_refused():
    student, teacher = _logits(1), _logits(2)
    with pytest.raises(ValueError, match="temperature"):
        kl_distill_loss(student, teacher, LABELS, temperature=0.0)
    with pytest.raises(ValueError, match="alpha"):
        kl_distill_loss(student, teacher, LABELS, alpha=1.5)
    with pytest.raises(TokenizerMismatch, match="one shared vocabulary"):
        kl_distill_loss(student, _logits(2, (2, 5, 7)), LABELS)


# --- tiny models ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(student folder, teacher folder): two tiny Llamas of one tokenizer, different weights."""
    root = tmp_path_factory.mktemp("tiny")
    return build_tiny_model(root / "student", seed=0), build_tiny_model(root / "teacher", seed=1)


def _batch(folder):
    """Two chat rows, learned on the assistant's answer only (the `{% generation %}` mask)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    chats = [[{"role": "user", "content": "The flight was delayed again."}, {"role": "assistant", "content": "negative"}],
             [{"role": "user", "content": "I love the new phone, the battery lasts."},
              {"role": "assistant", "content": "positive and happy"}]]
    rows = [tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=True) for c in chats]
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((2, width), tok.pad_token_id)
    labels = torch.full((2, width), -100)
    mask = torch.zeros((2, width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.tensor(r["input_ids"])
        mask[i, :n] = 1
        learned = torch.tensor(r["assistant_masks"]).bool()
        labels[i, :n] = torch.where(learned, ids[i, :n], torch.tensor(-100))
    assert (labels != -100).sum() > 2
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": ids, "labels": labels, "attention_mask": mask, "position_ids": positions}


def _models(tiny):
    from transformers import AutoModelForCausalLM

    student = AutoModelForCausalLM.from_pretrained(str(tiny[0]), dtype=torch.float32)
    teacher = AutoModelForCausalLM.from_pretrained(str(tiny[1]), dtype=torch.float32)
    return student, teacher


def test_the_objective_is_the_loss_of_the_full_logits(tiny):
    """The LM head run at the learned positions only gives the loss of the models' full logits."""
    student, teacher = _models(tiny)
    batch = _batch(tiny[0])
    out = LogitDistillation(teacher, temperature=2.0, alpha=0.5).loss(student, batch)
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids")}
    with torch.no_grad():
        full = kl_distill_loss(student(**inputs).logits, teacher(**inputs).logits, batch["labels"], 2.0, 0.5)
    assert out.tokens == int((batch["labels"][:, 1:] != -100).sum())
    assert out.loss.item() == pytest.approx(full.item(), rel=1e-5)
    assert out.loss_sum == pytest.approx(out.loss.item() * out.tokens, rel=1e-5) and out.task_sums == {}


def test_the_loops_token_count_divides_the_sum(tiny):
    """With `num_tokens` (the learned tokens of the whole optimizer step) the loss is the sum over it."""
    student, teacher = _models(tiny)
    batch = _batch(tiny[0])
    objective = LogitDistillation(teacher)
    alone = objective.loss(student, batch)
    shared = objective.loss(student, {**batch, "num_tokens": 4 * alone.tokens})
    assert shared.loss.item() == pytest.approx(alone.loss.item() / 4, rel=1e-5)
    assert shared.loss_sum == pytest.approx(alone.loss_sum, rel=1e-6) and shared.mean == pytest.approx(alone.mean)


def test_per_task_losses_add_up(tiny):
    student, teacher = _models(tiny)
    batch = _batch(tiny[0])
    batch["task_ids"] = torch.tensor([[3] * batch["labels"].shape[1], [5] * batch["labels"].shape[1]])
    out = LogitDistillation(teacher).loss(student, batch)
    assert set(out.task_sums) == {3, 5}
    assert sum(n for _, n in out.task_sums.values()) == out.tokens
    assert sum(s for s, _ in out.task_sums.values()) == pytest.approx(out.loss_sum, rel=1e-5)


def test_teacher_gets_no_gradient_and_student_every_one(tiny):
    student, teacher = _models(tiny)
    LogitDistillation(teacher, alpha=0.5).loss(student, _batch(tiny[0])).loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


def test_a_few_steps_lower_the_kl(tiny):
    student, teacher = _models(tiny)
    torch.manual_seed(0)
    batch = _batch(tiny[0])
    objective = LogitDistillation(teacher, temperature=2.0, alpha=1.0)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        out = objective.loss(student, batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("head_only", [True, False], ids=["head-on-learned", "full-logits"])
def test_a_packed_row_takes_the_same_loss(tiny, head_only, monkeypatch):
    """Two examples in one row (positions restart, no mask) give the loss of the padded pair, with
    the head run on the learned positions only and with the full logits indexed afterwards."""
    from polyprompt.train import objectives

    if not head_only:
        monkeypatch.setattr(objectives, "output_head", lambda model: None)
    student, teacher = _models(tiny)
    student.config.use_cache = teacher.config.use_cache = False
    padded = _batch(tiny[0])
    keep = padded["attention_mask"].bool()
    labels = [padded["labels"][i][keep[i]] for i in range(2)]
    packed = {"input_ids": torch.cat([padded["input_ids"][i][keep[i]] for i in range(2)])[None],
              "labels": torch.cat(labels)[None],
              "position_ids": torch.cat([torch.arange(int(keep[i].sum())) for i in range(2)])[None]}
    objective = LogitDistillation(teacher, temperature=2.0, alpha=0.5)
    with torch.no_grad():
        a, b = objective.loss(student, padded), objective.loss(student, packed)
    assert a.tokens == b.tokens
    assert b.loss.item() == pytest.approx(a.loss.item(), abs=1e-5)


def test_the_shared_tokenizer_is_accepted(tiny):
    assert check_shared_tokenizer(*tiny) == len(json.loads((tiny[0] / "tokenizer.json").read_text())["model"]["vocab"])


def _renumbered(folder, tmp_path):
    """A copy of the model folder whose tokenizer swaps the ids of two ordinary tokens (same size)."""
    other = tmp_path / "renumbered"
    shutil.copytree(folder, other)
    data = json.loads((other / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    a, b = sorted(vocab, key=vocab.get)[100:102]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(data))
    return other, (a, b)


def test_a_renumbered_vocabulary_of_the_same_size_is_a_clear_error(tiny, tmp_path):
    teacher, swapped = _renumbered(tiny[1], tmp_path)
    with pytest.raises(TokenizerMismatch) as err:
        check_shared_tokenizer(tiny[0], teacher)
    message = str(err.value)
    assert "\n" not in message and "do not share a tokenizer" in message
    assert any(f"token {t!r} is id" in message for t in swapped), message
    with pytest.raises(TokenizerMismatch, match="do not share a tokenizer"):
        LogitDistillation.from_folders(teacher, tiny[0])


def test_the_objective_checks_the_models_folders_on_its_first_batch(tiny, tmp_path):
    """Models loaded from folders (as `polyprompt train --method distill` loads them) are checked too."""
    from transformers import AutoModelForCausalLM

    folder, _ = _renumbered(tiny[1], tmp_path)
    student, _teacher = _models(tiny)
    teacher = AutoModelForCausalLM.from_pretrained(str(folder))
    with pytest.raises(TokenizerMismatch, match="do not share a tokenizer"):
        LogitDistillation(teacher).loss(student, _batch(tiny[0]))
    objective = LogitDistillation(_teacher)
    objective.loss(student, _batch(tiny[0]))
    assert objective.shared_vocab == check_shared_tokenizer(*tiny)


def test_another_vocabulary_is_a_clear_error(tiny, tmp_path):
    other = tmp_path / "bigger"
    shutil.copytree(tiny[1], other)
    data = json.loads((other / "tokenizer.json").read_text())
    data["model"]["vocab"]["zzzz-new"] = len(data["model"]["vocab"]) + 10
    (other / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerMismatch, match=r"has \d+ tokens, the student's \d+"):
        check_shared_tokenizer(tiny[0], other)


def test_other_special_tokens_are_a_clear_error(tiny, tmp_path):
    other = tmp_path / "special"
    shutil.copytree(tiny[1], other)
    config = json.loads((other / "tokenizer_config.json").read_text())
    config["eos_token"] = "<|endoftext|>"
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(TokenizerMismatch, match="eos_token"):
        check_shared_tokenizer(tiny[0], other)


def test_a_folder_without_a_tokenizer_is_named(tiny, tmp_path):
    with pytest.raises(TokenizerMismatch, match="no tokenizer.json"):
        check_shared_tokenizer(tiny[0], tmp_path)


def test_padded_embeddings_of_one_tokenizer_are_compared_on_the_real_tokens(tiny):
    """A teacher whose embedding matrix is padded past the tokenizer (as Qwen's sizes differ) still
    distills, on the tokenizer's tokens; logits of other widths from unknown folders are refused."""
    student, teacher = _models(tiny)
    teacher.resize_token_embeddings(teacher.config.vocab_size + 16, mean_resizing=False)
    batch = _batch(tiny[0])
    out = LogitDistillation(teacher).loss(student, batch)  # the folders are checked: one tokenizer
    assert torch.isfinite(out.loss) and out.tokens > 0
    teacher.config._name_or_path = teacher.name_or_path = ""  # a model built in memory
    with pytest.raises(TokenizerMismatch, match="one shared vocabulary"):
        LogitDistillation(teacher).loss(student, batch)


# --- sequence level: a local teacher's answers as data ---------------------------------------------

SOURCE = '''
enum Mood { happy, sad }

prompt mood(text: str) -> Mood {
  system "Say whether the text is happy or sad."
  user "{{ text }}"
}

prompt echo(text: str) -> str {
  model "gpt-4o-mini" { max_tokens: 4 }
  user "{{ text }}"
}

dataset mood "moods" from "data/texts.jsonl" {
  text = row.body
  where row.lang == "en"
  teacher "TEACHER"
}

dataset echo "echoes" from "data/texts.jsonl" {
  text = row.body
}

dataset mood "distilled" from "data/texts.teacher.jsonl" {
  text = row.body
  output = row.teacher_answer
  where row.lang == "en"
}
'''
TEXTS = [{"body": "I love the new phone", "lang": "en"}, {"body": "Worst flight ever", "lang": "en"},
         {"body": "Je suis content", "lang": "fr"}, {"body": "Thanks for the quick reply", "lang": "en"}]


@pytest.fixture
def teacher_project(tmp_path, tiny):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "texts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in TEXTS) + "{not json\n")
    (tmp_path / "moods.prompt").write_text(SOURCE.replace("TEACHER", f"hf:{tiny[1]}"))
    return tmp_path / "moods.prompt"


def test_a_local_teachers_choices_fill_a_column(teacher_project, tiny):
    from polyprompt.train.teacher import teacher_answers

    data = teacher_project.parent / "data" / "texts.jsonl"
    summary = teacher_answers(teacher_project, data, dataset="moods")  # the block's `teacher`
    out = data.with_name("texts.teacher.jsonl")
    assert summary.output == out and (summary.rows, summary.asked, summary.answered, summary.bad) == (4, 3, 3, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["body"] for r in rows] == [r["body"] for r in TEXTS]
    assert all(r["teacher_answer"] in ("happy", "sad") for r in rows if r["lang"] == "en")
    assert "teacher_answer" not in rows[2]  # `where` drops it: copied, not asked
    assert summary.line().startswith(f"{out}: 4 rows, 3 asked, 3 answered by hf:{tiny[1]}")
    assert sorted(p.name for p in out.parent.iterdir()) == ["texts.jsonl", "texts.teacher.jsonl"]


def test_the_answers_train_as_sft_data(teacher_project):
    """Sequence-level distillation is data: a block binds `output = row.teacher_answer`."""
    from polyprompt import dataset
    from polyprompt.train.teacher import teacher_answers

    teacher_answers(teacher_project, teacher_project.parent / "data" / "texts.jsonl", dataset="moods")
    out = teacher_project.parent / "sft.jsonl"
    summary = dataset.build(str(teacher_project), "trl-conversational", str(out), datasets=["distilled"])
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.rejected == 0 and len(lines) == 3
    assert all(line["messages"][-1]["content"] in ("happy", "sad") for line in lines)


def test_a_text_teacher_generates_into_the_named_column(teacher_project, tiny, tmp_path):
    from polyprompt.train.teacher import teacher_answers

    out = tmp_path / "echo.jsonl"
    summary = teacher_answers(teacher_project, [{"body": "hello there"}, {"body": "good morning"}], f"hf:{tiny[1]}",
                              output=out, dataset="echoes", column="answer", max_new_tokens=3)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.answered == 2 and all(isinstance(r["answer"], str) for r in rows)


def test_an_api_teacher_is_the_run_layers(teacher_project):
    from polyprompt.train.teacher import TeacherError, teacher_answers

    with pytest.raises(TeacherError, match="not a local model") as err:
        teacher_answers(teacher_project, teacher_project.parent / "data" / "texts.jsonl", "openai-chat")
    assert "\n" not in str(err.value)
    with pytest.raises(TeacherError, match="output path"):
        teacher_answers(teacher_project, [{"body": "x"}], "hf-family:smollm2")


def test_an_interrupted_run_leaves_no_file(teacher_project, monkeypatch):
    from polyprompt.run import local
    from polyprompt.train.teacher import teacher_answers

    calls = []
    real = local.generate

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(local, "generate", failing)
    data = teacher_project.parent / "data" / "texts.jsonl"
    with pytest.raises(KeyboardInterrupt):
        teacher_answers(teacher_project, data, dataset="moods")
    assert sorted(p.name for p in data.parent.iterdir()) == ["texts.jsonl"]


def test_the_distillation_doc_holds(tmp_path, tiny):
    """docs/distillation.md: its source block checks clean, and its mismatch line is the real message's shape."""
    import re

    from polyprompt.api import check_file
    from helpers import REPO

    doc = (REPO / "docs" / "distillation.md").read_text(encoding="utf-8")
    source = re.search(r"```polyprompt\n(.*?)```", doc, re.S).group(1)
    (tmp_path / "polyprompt.toml").write_text("")
    (tmp_path / "triage.prompt").write_text(source)
    assert check_file(str(tmp_path / "triage.prompt"))[1] == []
    shown = re.search(r"```text\n(the teacher .*?)\n```", doc, re.S).group(1)
    other = tmp_path / "other"
    shutil.copytree(tiny[1], other)
    data = json.loads((other / "tokenizer.json").read_text())
    data["model"]["vocab"]["zzzz-new"] = 10_000
    (other / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerMismatch) as err:
        check_shared_tokenizer(tiny[0], other)
    pattern = re.sub(r"models/\w+", r"\\S+", re.escape(shown)).replace(r"151643", r"\d+").replace(r"49152", r"\d+")
    assert re.fullmatch(pattern, str(err.value)), (shown, str(err.value))
