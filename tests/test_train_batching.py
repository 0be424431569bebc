"""Batches and the causal-LM objective on a tiny model: packed rows (position ids reset, a
block-diagonal mask) give the padded batch's loss and gradients; masked labels carry no gradient;
the mean with gradient accumulation is over the whole step; the epoch plan is a pure function."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_model import build_tiny_model  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: a tiny model's steps are faster so on a shared machine (and reproducible)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
from polyprompt.train import batching  # noqa: E402
from polyprompt.train.objectives import IGNORE, CausalLM  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from transformers import AutoModelForCausalLM

    folder = build_tiny_model(tmp_path_factory.mktemp("tiny"))
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.config.use_cache = False
    return model


def examples(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k in range(n):
        length = int(torch.randint(5, 30, (1,), generator=gen))
        ids = torch.randint(3, 300, (length,), generator=gen).tolist()
        cut = length // 2
        out.append({"input_ids": ids, "labels": [IGNORE] * cut + ids[cut:], "task": k % 2})
    return out


def loss_and_grads(model, batch):
    model.zero_grad(set_to_none=True)
    out = CausalLM().loss(model, batch)
    out.loss.backward()
    return float(out.loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}, out


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_equals_padded_loss_and_gradients(tiny, attn):
    tiny.config._attn_implementation = attn
    exs = examples()
    packed, g_packed, out_p = loss_and_grads(tiny, batching.pack(exs))
    padded, g_padded, out_q = loss_and_grads(tiny, batching.pad(exs, pad_id=0))
    assert abs(packed - padded) < 1e-5
    assert out_p.tokens == out_q.tokens == sum(batching.learned(e["labels"]) for e in exs)
    for name, grad in g_padded.items():
        assert torch.allclose(g_packed[name], grad, atol=1e-5), name
    # per-task sums add up to the whole
    assert abs(sum(s for s, _ in out_p.task_sums.values()) - out_p.loss_sum) < 1e-3


def test_without_the_block_mask_examples_see_each_other(tiny):
    """The mask matters: the same packed row with a plain causal mask gives another loss."""
    tiny.config._attn_implementation = "sdpa"
    exs = examples()
    batch = batching.pack(exs)
    good, _, _ = loss_and_grads(tiny, batch)
    leaky = dict(batch, attention_mask=None, position_ids=torch.arange(batch["input_ids"].shape[1])[None])
    bad, _, _ = loss_and_grads(tiny, leaky)
    assert abs(good - bad) > 1e-4


def test_a_masked_tokens_target_changes_no_gradient(tiny):
    """The loss reads the targets through `labels` only: give every masked position another target
    (a tensor the reference masks with -100), the gradient is the same, and it equals a plain
    full-logits cross-entropy with ignore_index; a learned target changed moves it."""
    import torch.nn.functional as F

    exs = examples(3)
    batch = batching.pad(exs, 0)
    ours = loss_and_grads(tiny, batch)
    targets = batch["input_ids"].clone()
    masked = batch["labels"] == IGNORE
    targets[masked] = (targets[masked] + 17) % 300  # other targets at the masked positions
    tiny.zero_grad(set_to_none=True)
    logits = tiny(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    ref_labels = torch.where(masked, torch.full_like(targets, IGNORE), targets)
    ref = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ref_labels[:, 1:].reshape(-1),
                          ignore_index=IGNORE)
    ref.backward()
    assert abs(ref.item() - ours[0]) < 1e-6
    for name, p in tiny.named_parameters():
        assert torch.allclose(p.grad, ours[1][name], atol=1e-6), name
    flipped = [dict(e, labels=list(e["labels"])) for e in exs]
    at = next(i for i, t in enumerate(flipped[0]["labels"]) if t != IGNORE and i > 0)
    flipped[0]["labels"][at] = (flipped[0]["labels"][at] + 1) % 300
    assert loss_and_grads(tiny, batching.pad(flipped, 0))[0] != ours[0]


def test_tokens_after_the_last_learned_one_change_no_gradient(tiny):
    ex = examples(1)[0]
    ex = dict(ex, input_ids=ex["input_ids"] + [7, 8], labels=ex["labels"] + [IGNORE, IGNORE])
    ex2 = dict(ex, input_ids=ex["input_ids"][:-2] + [9, 10])
    g1 = loss_and_grads(tiny, batching.pack([ex]))[1]
    g2 = loss_and_grads(tiny, batching.pack([ex2]))[1]
    for name, grad in g1.items():
        assert torch.equal(grad, g2[name]), name


def test_accumulated_micro_batches_give_the_whole_batch_mean(tiny):
    exs = examples(6)
    whole, g_whole, _ = loss_and_grads(tiny, batching.pack(exs))
    total = sum(batching.learned(e["labels"]) for e in exs)
    tiny.zero_grad(set_to_none=True)
    acc = 0.0
    for part in (exs[:2], exs[2:]):
        batch = batching.pack(part)
        batch["num_tokens"] = total
        out = CausalLM().loss(tiny, batch)
        out.loss.backward()
        acc += float(out.loss)
    assert abs(acc - whole) < 1e-5
    for name, p in tiny.named_parameters():
        assert torch.allclose(p.grad, g_whole[name], atol=1e-5), name


def test_a_long_micro_batch_packed_into_several_rows_gives_the_same_loss(tiny):
    exs = examples(6)
    whole, g_whole, _ = loss_and_grads(tiny, batching.pack(exs))
    rows = batching.batches(exs, True, 0, cap=40)
    assert len(rows) > 2 and all(r["input_ids"].shape[1] <= 40 or len(set(r["position_ids"][0].tolist())) ==
                                 r["input_ids"].shape[1] for r in rows)
    total = sum(batching.learned(e["labels"]) for e in exs)
    tiny.zero_grad(set_to_none=True)
    acc = 0.0
    for batch in rows:
        batch["num_tokens"] = total
        out = CausalLM().loss(tiny, batch)
        out.loss.backward()
        acc += out.loss.item()
    assert abs(acc - whole) < 1e-5
    for name, p in tiny.named_parameters():
        assert torch.allclose(p.grad, g_whole[name], atol=1e-5), name


def test_the_epoch_plan_is_a_function_of_seed_and_epoch():
    lengths = list(range(10, 60))
    a = batching.plan_epoch(lengths, 3, 1, 4, 2)
    assert a == batching.plan_epoch(lengths, 3, 1, 4, 2)
    assert a != batching.plan_epoch(lengths, 3, 2, 4, 2)
    assert sorted(i for step in a for mb in step for i in mb) == list(range(50))
    grouped = batching.plan_epoch(lengths, 3, 1, 4, 1, group_by_length=True)
    assert sorted(i for step in grouped for mb in step for i in mb) == list(range(50))
    spread = [max(lengths[i] for i in mb) - min(lengths[i] for i in mb) for step in grouped for mb in step]
    assert max(spread) <= 4  # each batch holds neighbours in length


def test_the_block_mask_isolates_examples():
    pos = torch.tensor([[0, 1, 2, 0, 1]])
    mask = batching.block_mask(pos)[0, 0]
    allowed = mask == 0
    assert allowed.tolist() == [[True, False, False, False, False], [True, True, False, False, False],
                                [True, True, True, False, False], [False, False, False, True, False],
                                [False, False, False, True, True]]
