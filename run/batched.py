"""Many compiled prompts of an open-model target at once: batched choice scoring and batched generation.

    results = choose_many(compiled_list)            # one RunResult per body, as `local.choose` gives
    results = generate_many(compiled_list)          # as `local.generate` (greedy) gives

Both give the same answers as the per-row functions of `run.local`, only faster: an evaluation
runs hundreds of rows of one prompt, whose bodies differ only in the inputs.

* `choose_many` scores every spelling of every allowed value of every row (see `local.choose`).
  The rows' prompt ids share a prefix (the chat template's start and the system message): it is
  run once. A batch of ``batch_size`` rows then takes two forward passes, whatever its size: the
  rows' own prompt tails, left-padded so that all end in the last column, on copies of the prefix
  cache (only the last column is projected on the vocabulary: ``logits_to_keep``); then every
  spelling of every row, right-padded, on its row's cache. Pads are masked out and the positions
  count real tokens only, so each score is the per-row score up to float rounding (within 1e-4 in
  the tests).
* `generate_many` left-pads a batch of prompts (attention mask, positions from the mask, as
  transformers' `generate` does) and decodes greedily; each row ends at its own stop token or stop
  string. Rows are batched with the rows of the same model and stop rules; a body that samples
  (``temperature`` > 0) is generated alone by `local.generate` (a batch would draw other numbers),
  and a choice is answered by `choose_many` unless ``choice=False``.

torch and transformers are imported inside the functions only.
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Sequence

import attrs

from . import local
from .local import RunResult

__all__ = ["choose_many", "generate_many"]


@attrs.frozen
class _Row:
    """One body to choose for: its prompt ids, its spellings (texts and ids) and end-of-turn ids."""

    index: int
    prompt: tuple[int, ...]
    forms: list
    texts: list[str]
    cands: list[list[int]]
    end: list[int]


def choose_many(compiled_list: Sequence[Any], model=None, tokenizer=None, batch_size: int = 16) -> list[RunResult]:
    """`local.choose` for every body of `compiled_list`, scoring ``batch_size`` rows per forward pass.

    Every body must be compiled for an open-model target with a choice output (enum, literal union,
    bool); `model`/`tokenizer` replace the ones `local.load_model` would load for each body.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    groups: dict[int, tuple[Any, Any, list[_Row]]] = {}
    for index, compiled in enumerate(compiled_list):
        _check_open(compiled, index)
        forms = local._forms(compiled)
        if forms is None:
            raise ValueError(f"row {index}: {compiled.prompt}: the output type is not a choice "
                             f"(enum, literal union or bool)")
        row_model, row_tok = local._model_and_tokenizer(compiled, model, tokenizer)
        compiled = local._with_token_ids(compiled)
        texts, cands = local._candidates(forms, row_tok)
        row = _Row(index, tuple(local._prompt_ids(compiled, row_tok)), forms, texts, cands,
                   local._stop_ids(compiled, row_tok))
        if not row.prompt:
            raise ValueError(f"row {index}: scoring needs at least one prompt token")
        groups.setdefault(id(row_model), (row_model, row_tok, []))[2].append(row)
    results: list[RunResult | None] = [None] * len(compiled_list)
    for row_model, _tok, rows in groups.values():
        for row, logps in zip(rows, score_rows(row_model, rows, batch_size)):
            results[row.index] = local._choice_result(row.forms, row.texts, row.cands, logps)
    return [r for r in results if r is not None]


def _check_open(compiled, index: int) -> None:
    if "prompt" not in compiled.body:
        raise ValueError(f"row {index}: {compiled.target}: not an open-model target; "
                         f"batched runs need hf-family:<name> or hf:<dir>")


def score_rows(model, rows: Sequence[_Row], batch_size: int) -> list[list[float]]:
    """Each row's candidates' log-probabilities (as `local.score_candidates`), in `rows` order.

    Rows are grouped by their first token (so each group shares a non-empty prefix, run once),
    then sorted by length so a batch pads little.
    """
    out: list[list[float] | None] = [None] * len(rows)
    by_first: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_first.setdefault(row.prompt[0], []).append(i)
    for members in by_first.values():
        prompts = [rows[i].prompt for i in members]
        # the shared prefix leaves every row at least one token of its own (its logits score the first token)
        shared = min(_common_prefix(prompts), min(len(p) for p in prompts) - 1)
        if not shared:  # a one-token prompt: nothing to share, and a left pad would see no key at all
            for i in members:
                out[i] = local.score_candidates(model, list(rows[i].prompt), rows[i].cands, rows[i].end)
            continue
        prefix = _PrefixCache(model, prompts[0][:shared])
        members = sorted(members, key=lambda i: len(rows[i].prompt))
        for start in range(0, len(members), batch_size):
            batch = [rows[i] for i in members[start:start + batch_size]]
            for i, scores in zip(members[start:start + batch_size], _score_batch(model, prefix, shared, batch)):
                out[i] = scores
    return [s for s in out if s is not None]


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for s in seqs[1:]:
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
    return n


class _PrefixCache:
    """The key/value cache of the prompt prefix all rows share, computed once and copied per batch."""

    def __init__(self, model, ids: Sequence[int]):
        import torch

        self.name = _cache_name(model)
        self.length = len(ids)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([list(ids)]), use_cache=True)
        self.cache = out["cache"] if self.name == "cache" else out.past_key_values

    def repeated(self, n: int) -> dict:
        """The forward-pass argument holding a copy of the cache for a batch of `n` sequences."""
        cache = copy.deepcopy(self.cache)
        cache.batch_repeat_interleave(n)
        return {self.name: cache}


def _cache_name(model) -> str:
    # transformers 5 names the cache argument `cache`; earlier versions `past_key_values`
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _score_batch(model, prefix: _PrefixCache, shared: int, batch: Sequence[_Row]) -> list[list[float]]:
    """Two forward passes for a batch of rows, whatever their number of candidates.

    1. The rows' tails (prompt ids after the shared prefix), left-padded so that all end in the last
       column, on a copy of the prefix cache: the last column's log-probs score each first candidate
       token (and the end of the turn for an empty candidate).
    2. Every non-empty candidate, right-padded, on its row's cache (rows repeated by candidate): its
       columns score the candidate's other tokens and the end of the turn after it.
    Pads are masked out and positions count real tokens only, as if each row ran alone.
    """
    import torch

    tails = [row.prompt[shared:] for row in batch]
    width = max(len(t) for t in tails)
    mask = torch.tensor([[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails])
    ids = torch.tensor([[0] * (width - len(t)) + list(t) for t in tails])
    # a pad takes the first tail position: it is never attended to, only its own (unused) output sees it
    positions = torch.tensor([[shared] * (width - len(t)) + list(range(shared, shared + len(t))) for t in tails])
    kwargs = {"position_ids": positions, **prefix.repeated(len(batch)), **_keep(model, 1)}
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, use_cache=True, **kwargs)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        seqs = [(r, cand) for r, row in enumerate(batch) for cand in row.cands if cand]
        rest = _continue(model, out, prefix.name, mask, [shared + len(t) for t in tails], seqs) if seqs else None
    scores, seq = [], 0
    for r, row in enumerate(batch):
        row_scores = []
        for cand in row.cands:
            if not cand:
                row_scores.append(torch.logsumexp(first[r, row.end], 0).item() if row.end else 0.0)
                continue
            assert rest is not None, "a non-empty candidate was continued"
            row_scores.append(first[r, cand[0]].item() + _sequence_score(rest[seq], cand, row.end))
            seq += 1
        scores.append(row_scores)
    return scores


def _keep(model, n: int) -> dict:
    """Only the last `n` columns projected on the vocabulary, when the model's forward can say so."""
    return {"logits_to_keep": n} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}


def _continue(model, out, name: str, mask, lengths: list[int], seqs: list[tuple[int, list[int]]]):
    """The log-probs of each (row, candidate) sequence's columns, continuing its row's cache."""
    import torch

    cache = out["cache"] if name == "cache" else out.past_key_values
    rows = torch.tensor([r for r, _cand in seqs])
    cache.batch_select_indices(rows)
    longest = max(len(cand) for _r, cand in seqs)
    ids = torch.tensor([list(cand) + [0] * (longest - len(cand)) for _r, cand in seqs])
    own = torch.tensor([[1] * len(cand) + [0] * (longest - len(cand)) for _r, cand in seqs])
    positions = torch.tensor([[lengths[r] + i for i in range(longest)] for r, _cand in seqs])
    logits = model(input_ids=ids, attention_mask=torch.cat([mask[rows], own], dim=1), position_ids=positions,
                   use_cache=True, **{name: cache}).logits
    return torch.log_softmax(logits.float(), dim=-1)


def _sequence_score(logp, cand: list[int], end: list[int]) -> float:
    """A candidate's log-probability after its first token: column i of `logp` predicts token i + 1,
    the last column the end of the turn."""
    import torch

    total = sum(logp[i, tok].item() for i, tok in enumerate(cand[1:]))
    if end:
        total += torch.logsumexp(logp[len(cand) - 1, end], 0).item()
    return float(total)


# --- generation -----------------------------------------------------------------------------------

def generate_many(compiled_list: Sequence[Any], max_new_tokens: int | None = None, model=None, tokenizer=None,
                  batch_size: int = 8, *, choice: bool = True) -> list[RunResult]:
    """`local.generate` for every body of `compiled_list`, ``batch_size`` greedy rows at a time.

    Choices go to `choose_many` (unless `choice` is false); a body that samples is generated alone.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    results: list[RunResult | None] = [None] * len(compiled_list)
    choices = []
    groups: dict[tuple, list[tuple[int, Any, list[int]]]] = {}
    for index, compiled in enumerate(compiled_list):
        _check_open(compiled, index)
        if choice and local._forms(compiled) is not None:
            choices.append(index)
            continue
        row_model, row_tok = local._model_and_tokenizer(compiled, model, tokenizer)
        compiled = local._with_token_ids(compiled)
        plan = local._plan(compiled, row_tok, max_new_tokens)
        if plan.sample:  # sampled numbers depend on the batch: keep the per-row draw
            results[index] = local.generate(compiled, max_new_tokens, choice=False, model=row_model, tokenizer=row_tok)
            continue
        key = (id(row_model), id(row_tok), tuple(plan.stop_ids), tuple(plan.stop_strings), plan.limit)
        groups.setdefault(key, []).append((index, compiled, local._prompt_ids(compiled, row_tok)))
    if choices:
        chosen = choose_many([compiled_list[i] for i in choices], model, tokenizer)
        for i, result in zip(choices, chosen):
            results[i] = result
    for rows in groups.values():
        first = rows[0][1]
        row_model, row_tok = local._model_and_tokenizer(first, model, tokenizer)
        plan = local._plan(first, row_tok, max_new_tokens)
        rows = sorted(rows, key=lambda r: len(r[2]))
        for start in range(0, len(rows), batch_size):
            batch = rows[start:start + batch_size]
            for (index, compiled, _ids), new in zip(batch, _generate_batch(row_model, row_tok, plan,
                                                                           [r[2] for r in batch])):
                results[index] = local._generated(compiled, row_tok, plan, new)
    return [r for r in results if r is not None]


def _generate_batch(model, tokenizer, plan, prompts: list[list[int]]) -> list[list[int]]:
    """Greedy new token ids of each left-padded prompt, each cut where its row ended."""
    import torch
    from transformers import GenerationConfig

    width = max(len(p) for p in prompts)
    pad = plan.config["pad_token_id"]
    ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=GenerationConfig(**plan.config),
                             tokenizer=tokenizer if plan.stop_strings else None)
    return [_row_end(tokenizer, plan, out[i, width:].tolist()) for i in range(len(prompts))]


def _row_end(tokenizer, plan, new: list[int]) -> list[int]:
    """The row's tokens up to its own end: its first stop token (kept, as one row's `generate` keeps
    it), or the token that completes a stop string; a finished row is padded after it."""
    stops = set(plan.stop_ids)
    end = next((i + 1 for i, tok in enumerate(new) if tok in stops), len(new))
    new = new[:end]
    if plan.stop_strings:
        for m in range(1, len(new) + 1):
            text = tokenizer.decode(new[:m], skip_special_tokens=False)
            if any(s in text for s in plan.stop_strings):
                return new[:m]
    return new
