"""Logit-level distillation: the student learns the teacher's next-token distribution.

The loss of one learned token (a position whose label is not -100) mixes two terms by `alpha`,
as in Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015):

    loss = alpha * T**2 * KL(p_teacher^T || p_student^T) + (1 - alpha) * CE(student, label)

* ``p^T = softmax(logits / T)``: both distributions are softened by the same temperature T.
* ``KL(p || q) = sum_v p(v) * (log p(v) - log q(v))``: the *forward* KL, teacher first, summed over
  the vocabulary. This is the KD term of Hinton et al. and TRL's GKD loss with ``beta=0``
  (mode-covering: the student spreads its mass over everything the teacher finds likely).
* ``T**2``: the soft term's gradients shrink as 1/T**2, so it is scaled back up; the balance
  between the two terms then stays the same when T changes (Hinton et al., section 2).
* The hard term is the usual cross-entropy at temperature 1 on the data's own labels.
* Both terms are means over the learned tokens only; ``alpha=1`` is pure distillation,
  ``alpha=0`` plain supervised fine-tuning.

The teacher's logits are constants (computed under ``torch.no_grad`` and detached): gradients
reach the student only. The logits are computed at the learned positions only, never over the
whole batch, which is 27% faster and uses 23% less memory at a 49k vocabulary
(/work/shared/design/training.md §5 measured it; the KL is the same). Teacher and student must
share one tokenizer: `check_shared_tokenizer` says so in one line when they do not.

Sequence-level distillation needs none of this: the teacher's answers are a column of the data,
bound with ``output = row.teacher_answer`` and trained as SFT (train/teacher.py gathers them from
a local teacher; docs/distillation.md).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .objectives import LossOut, forward_logits

__all__ = ["LogitDistillation", "TokenizerMismatch", "check_shared_tokenizer", "kl_distill_loss", "load_teacher",
           "token_losses"]

IGNORE = -100


class TokenizerMismatch(ValueError):
    """Teacher and student do not share one tokenizer, so their distributions cannot be compared."""


# --- the loss ---------------------------------------------------------------------------------------

def kl_distill_loss(student_logits: Any, teacher_logits: Any, labels: Any, temperature: float = 2.0,
                    alpha: float = 0.5, hard_loss: Any = None) -> Any:
    """The distillation loss (see the module docstring): ``alpha * T**2 * KL + (1 - alpha) * CE``,
    a mean over the learned tokens.

    Shapes: ``[B, T, V]`` logits with ``[B, T]`` labels as a model takes them (the logits at t
    predict ``labels[:, t + 1]``; the shift is done here), or ``[N, V]`` logits with ``[N]``
    targets already aligned (row i predicts ``labels[i]``). Labels of -100 are not learned.
    `hard_loss`, when given, is used as the CE term instead of computing it (e.g. a model
    output's ``loss`` over the same tokens). `teacher_logits` is treated as a constant.
    """
    s, t, targets = _aligned(student_logits, teacher_logits, labels)
    if targets.numel() == 0:
        return student_logits.sum() * 0.0  # nothing learned: a zero that keeps the graph
    if hard_loss is None:
        return token_losses(s, t, targets, temperature, alpha).mean()
    if alpha == 0:
        return hard_loss
    kl = token_losses(s, t, targets, temperature, 1.0).mean()
    return alpha * kl + (1 - alpha) * hard_loss


def token_losses(student_rows: Any, teacher_rows: Any, targets: Any, temperature: float, alpha: float) -> Any:
    """The loss of each learned token, ``[N]``, from ``[N, V]`` logits and ``[N]`` targets (all learned)."""
    import torch.nn.functional as F

    if temperature <= 0:
        raise ValueError(f"the distillation temperature must be > 0, not {temperature}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the weight of the KL term) must be in [0, 1], not {alpha}")
    s = student_rows.float()  # bf16 logits on a GPU: the softmaxes in float32
    loss = s.new_zeros(s.shape[0])
    if alpha > 0:
        s_logp = F.log_softmax(s / temperature, dim=-1)
        t_logp = F.log_softmax(teacher_rows.detach().float() / temperature, dim=-1)
        kl = (t_logp.exp() * (t_logp - s_logp)).sum(-1)
        loss = loss + alpha * temperature**2 * kl
    if alpha < 1:
        loss = loss + (1 - alpha) * F.cross_entropy(s, targets, reduction="none")
    return loss


def _aligned(student_logits: Any, teacher_logits: Any, labels: Any) -> tuple[Any, Any, Any]:
    """The ``[N, V]`` rows of the learned positions of both models, and their ``[N]`` targets."""
    if student_logits.shape[:-1] != teacher_logits.shape[:-1]:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} do not cover the same positions")
    _check_vocab(student_logits.shape[-1], teacher_logits.shape[-1])
    if student_logits.dim() == 3 and labels.dim() == 2:
        mask = labels[:, 1:] != IGNORE
        return student_logits[:, :-1][mask], teacher_logits[:, :-1][mask], labels[:, 1:][mask]
    if student_logits.dim() == 2 and labels.dim() == 1:
        mask = labels != IGNORE
        return student_logits[mask], teacher_logits[mask], labels[mask]
    raise ValueError(f"logits {tuple(student_logits.shape)} with labels {tuple(labels.shape)}: expected [B, T, V] "
                     f"with [B, T], or [N, V] with [N]")


def _check_vocab(student: int, teacher: int) -> None:
    if student != teacher:
        raise TokenizerMismatch(f"the student scores {student} tokens and the teacher {teacher}: logit distillation "
                                f"needs one shared vocabulary")


# --- the objective ----------------------------------------------------------------------------------

class LogitDistillation:
    """The `Objective` of logit-level distillation from a local `teacher` model (same tokenizer).

    Each batch goes through the teacher under ``torch.no_grad`` (its weights frozen, in eval
    mode) and through the student; the loss is `kl_distill_loss` over the learned tokens.
    The loss is the summed token loss over ``batch["num_tokens"]`` when the loop sets it, else the
    mean over the batch's learned tokens; `task_sums` holds each task's summed loss and tokens
    (with ``task_ids``).
    On the first batch the folders the two models were loaded from are checked to hold one
    tokenizer (`check_shared_tokenizer`), when both are known. Its count, `shared_vocab`, lets two
    models of one tokenizer whose embedding matrices are padded to different sizes be compared on
    the real tokens only; `from_folders` checks before it loads the teacher.
    """

    def __init__(self, teacher: Any, temperature: float = 2.0, alpha: float = 0.5, shared_vocab: int | None = None):
        if temperature <= 0:
            raise ValueError(f"the distillation temperature must be > 0, not {temperature}")
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha (the weight of the KL term) must be in [0, 1], not {alpha}")
        self.teacher, self.temperature, self.alpha = teacher, float(temperature), float(alpha)
        self.shared_vocab = shared_vocab
        self._checked = shared_vocab is not None
        teacher.eval()  # no dropout: the targets are the teacher's real distribution
        teacher.requires_grad_(False)

    @classmethod
    def from_folders(cls, teacher_dir: str | Path, student_dir: str | Path, temperature: float = 2.0,
                     alpha: float = 0.5) -> "LogitDistillation":
        """The objective with the teacher of `teacher_dir`, once its tokenizer is checked against the student's."""
        shared = check_shared_tokenizer(student_dir, teacher_dir)
        return cls(load_teacher(teacher_dir, student_dir), temperature, alpha, shared_vocab=shared)

    def loss(self, model: Any, batch: dict) -> LossOut:
        """The batch's distillation loss for the student `model`."""
        import torch

        if not self._checked:
            self._check_tokenizers(model)
        labels = batch["labels"]
        learned = labels[:, 1:] != IGNORE
        where = torch.zeros_like(labels, dtype=torch.bool)
        where[:, :-1] = learned  # the positions whose logits predict a learned token
        targets = labels[:, 1:][learned]
        student = learned_logits(model, batch, where)
        if self.alpha > 0:
            with torch.no_grad():
                teacher = learned_logits(self.teacher, batch, where)
        else:  # plain CE: the teacher is not asked
            teacher = student.detach()
        if self.shared_vocab is not None and student.shape[-1] != teacher.shape[-1]:
            student, teacher = student[:, :self.shared_vocab], teacher[:, :self.shared_vocab]
        _check_vocab(student.shape[-1], teacher.shape[-1])
        per_token = token_losses(student, teacher, targets, self.temperature, self.alpha)
        n = int(targets.numel())
        total = per_token.sum()
        # the loop's `num_tokens` (the whole optimizer step's learned tokens) makes accumulation and DDP exact
        denominator = batch.get("num_tokens") or max(n, 1)
        return LossOut(total / denominator, n, float(total.detach()), _task_sums(per_token.detach(), batch, learned))

    def _check_tokenizers(self, student: Any) -> None:
        """Once, on the first batch: the two models' folders must hold one tokenizer (when both are known)."""
        self._checked = True
        folders = [_model_folder(student), _model_folder(self.teacher)]
        if folders[0] is not None and folders[1] is not None:
            self.shared_vocab = check_shared_tokenizer(folders[0], folders[1])


def _model_folder(model: Any) -> Path | None:
    """The folder a model was loaded from, when it holds a tokenizer.json (through DDP and peft wrappers)."""
    model = getattr(model, "module", model)
    if callable(getattr(model, "get_base_model", None)):
        model = model.get_base_model()
    name = getattr(getattr(model, "config", None), "_name_or_path", None) or getattr(model, "name_or_path", None)
    if not name:
        return None
    folder = Path(str(name))
    return folder if (folder / "tokenizer.json").is_file() else None


def learned_logits(model: Any, batch: dict, where: Any) -> Any:
    """The model's logits at the positions `where` ([B, T] bool): ``[N, V]``, the LM head run on
    those positions only (`objectives.forward_logits`)."""
    return forward_logits(model, batch, where)


def _task_sums(per_token: Any, batch: dict, learned: Any) -> dict[int, tuple[float, int]]:
    """task id -> (summed loss, tokens) over the learned tokens; a token's task is its target's."""
    task_ids = batch.get("task_ids")
    if task_ids is None or per_token.numel() == 0:
        return {}
    tasks = task_ids[:, 1:][learned]
    out = {}
    for task in tasks.unique().tolist():
        picked = per_token[tasks == task]
        out[int(task)] = (float(picked.sum()), int(picked.numel()))
    return out


# --- teacher and student ----------------------------------------------------------------------------

def check_shared_tokenizer(student_dir: str | Path, teacher_dir: str | Path) -> int:
    """The number of tokens both tokenizers share, identically; TokenizerMismatch (one line) when
    the two folders' tokenizers differ in their vocabulary (token -> id) or their added and
    special tokens. The vocabulary size alone is not enough: two tokenizers of one size may
    number their tokens differently."""
    student, teacher = _tokenizer_view(Path(student_dir)), _tokenizer_view(Path(teacher_dir))
    for part in ("vocab", "added", "special"):
        if student[part] != teacher[part]:
            raise TokenizerMismatch(f"the teacher {teacher_dir} and the student {student_dir} do not share a tokenizer: "
                                    f"{_first_difference(part, student[part], teacher[part])}; logit distillation "
                                    f"needs one vocabulary (distill at the sequence level instead: the teacher's "
                                    f"answers as the data's output)")
    return len(set(student["vocab"].values()) | {i for _t, i, _s in student["added"]})


def _tokenizer_view(folder: Path) -> dict:
    """The parts of a tokenizer that fix what each id means: vocab, added tokens, special tokens."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise TokenizerMismatch(f"{folder}: no tokenizer.json, so the tokenizers cannot be compared")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TokenizerMismatch(f"{path}: unreadable ({err})") from None
    vocab = data.get("model", {}).get("vocab") or {}
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...], the id is the index
        vocab = {piece[0]: i for i, piece in enumerate(vocab)}
    added = sorted((t.get("content"), t.get("id"), bool(t.get("special"))) for t in data.get("added_tokens") or ())
    config = folder / "tokenizer_config.json"
    special: dict = {}
    if config.is_file():
        try:
            conf = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            conf = {}
        special = {k: _token_text(v) for k, v in conf.items()
                   if k in ("bos_token", "eos_token", "unk_token", "pad_token") and v is not None}
    return {"vocab": vocab, "added": added, "special": special}


def _token_text(value: Any) -> Any:
    return value.get("content") if isinstance(value, dict) else value


def _first_difference(part: str, student: Any, teacher: Any) -> str:
    """A short account of how two vocabularies (or added-token lists) differ."""
    if part == "vocab":
        if len(student) != len(teacher):
            return f"the teacher's vocabulary has {len(teacher)} tokens, the student's {len(student)}"
        token = min((t for t in teacher if student.get(t) != teacher[t]), key=teacher.__getitem__)
        other = student.get(token)
        return (f"token {token!r} is id {teacher[token]} in the teacher and "
                + ("absent in the student" if other is None else f"id {other} in the student"))
    if part == "added":
        only = sorted(set(teacher) ^ set(student), key=str)[0]
        side = "teacher" if only in teacher else "student"
        return f"the added token {only[0]!r} (id {only[1]}) is the {side}'s only"
    key = sorted(k for k in set(student) | set(teacher) if student.get(k) != teacher.get(k))[0]
    return f"the {key} is {teacher.get(key)!r} in the teacher and {student.get(key)!r} in the student"


def load_teacher(teacher_dir: str | Path, student_dir: str | Path) -> Any:
    """The teacher model of a folder, after `check_shared_tokenizer`: float32, eval mode, frozen."""
    check_shared_tokenizer(student_dir, teacher_dir)
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(teacher_dir), dtype=torch.float32)
    model.eval()
    model.requires_grad_(False)
    return model
