"""`tokenized`: token ids and loss masks for an open-model target (`hf-family:<name>`, `hf:<dir>`).

    {"input_ids": [...], "attention_mask": [1, ...], "labels": [-100, ..., 9906, ...], "assistant_masks": [0, ..., 1, ...]}

The conversation is the target's own (its template's messages, output instructions included),
then the answer. `labels` is -100 everywhere but on the tokens the model learns: the answer by
default, every assistant turn with `train_on="all"`; `assistant_masks` marks the same tokens (what
TRL's `SFTTrainer` reads for `assistant_only_loss`). A row longer than `max_length` tokens is a
row problem (reported and counted, with its length), never cut silently: cutting the end would cut
the answer, what the row is for. With `truncate`, it is cut from the start instead (the prompt
side, as TRL's `truncation_mode="keep_end"`), the whole answer kept, and counted as truncated
(the line's `cut` tokens); a row whose answer alone is longer is still a row problem.

Which tokens are learned, exactly as transformers computes `return_assistant_tokens_mask=True`:

- a template with `{% generation %}` blocks marks them itself;
- a family whose template is one of TRL's originals is rendered with TRL's training version
  (`../templates/`), as `SFTTrainer(assistant_only_loss=True)` does, so ids and masks are the ones
  TRL trains on;
- any other template: the span of an assistant turn is what follows the generation prompt, from
  the same render: the text of the conversation up to that turn rendered with
  `add_generation_prompt=True` must be a prefix of the whole render, and the turn's span runs from
  its end to the end of the conversation rendered through that turn (a template that is not
  prefix-preserving there is a row problem, never a wrong mask).

Character spans become token positions without a per-token loop: a span edge that is a token
boundary is where the ids of the text before it end (the ids of a prefix are a prefix of the
ids); an edge inside a token is a row problem. Data never becomes a control token: the messages
are protected before the render and the ids come from `Encoder.encode_chat`.
"""
from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from ...compiler.memo import by_identity
from ..align import RowProblem
from ..writers import TextLine
from . import Format, Options
from ._messages import chat_answer, chat_tools

#: family -> TRL's training template for it (the family's template text equals TRL's original)
TRAINING_TEMPLATES = {
    "llama-3": "llama3_training.jinja",
    "qwen2.5": "qwen2_5_training.jinja",
    "qwen3": "qwen3_training.jinja",
    "gemma-2": "gemma_training.jinja",
    "gemma-3": "gemma3_training.jinja",
    "phi-3": "phi3_training.jinja",
    "phi-3.5": "phi3_5_training.jinja",
    "deepseek-r1": "deepseekv3_training.jinja",
}
IGNORE = -100


def line(example, compiled, options: Options) -> dict:
    """The ids, attention mask, labels and assistant mask of one example."""
    backend = compiled.backend
    encoder = _bulk_encoder(backend)
    if encoder is None:
        raise RowProblem("target", f"{backend.name} has no tokenizer at hand: token ids need one "
                                   "(a folder's tokenizer.json, or a family with a registry tokenizer)")
    turns = getattr(compiled, "turns", None)  # a row lowered once per prompt (dataset/turns.py)
    if turns is None:
        turns = backend.write_messages(compiled.request.messages)  # a new list of new dicts, read only from here
    turns.append(chat_answer(example, compiled))  # text, or the turn calling the prompt's tools
    ids, mask = ids_and_mask(backend, encoder, turns, chat_tools(compiled), options.train_on)
    cut = 0
    if options.max_length is not None and len(ids) > options.max_length:
        if not options.truncate:
            raise RowProblem("length", f"{len(ids):,} tokens, more than the maximum length {options.max_length:,}")
        cut = _cut_from_start(ids, mask, options.max_length)
        ids, mask = ids[cut:], mask[cut:]
    return tokenized_line(ids, mask, cut)


def tokenized_line(ids: list[int], mask: list[int], cut: int = 0) -> TextLine:
    """The line of ids and their mask, with its JSON text written from runs of the mask (equal to
    `json.dumps` of the line: tests/test_dataset_speed.py): each id's text is made once per
    process, the ids the rows start with (`_Prefix`) are written once, the runs of -100, 0 and 1
    are repeated strings."""
    n = len(ids)
    labels = [IGNORE] * n
    text = _INT_TEXT.__getitem__
    label_parts, mask_parts, at = [], [], 0
    for start, end in _runs(mask):
        learned = labels[start:end] = ids[start:end]
        if start > at:
            label_parts.append(_repeat("-100", start - at))
            mask_parts.append(_repeat("0", start - at))
        label_parts.append(",".join(map(text, learned)))
        mask_parts.append(_repeat("1", end - start))
        at = end
    if at < n:
        label_parts.append(_repeat("-100", n - at))
        mask_parts.append(_repeat("0", n - at))
    json_text = "".join(('{"input_ids":[', _PREFIX.text_of(ids), '],"attention_mask":[', _repeat("1", n),
                         '],"labels":[', ",".join(label_parts), '],"assistant_masks":[', ",".join(mask_parts), "]}"))
    return TextLine(json_text, cut, input_ids=ids, attention_mask=[1] * n, labels=labels, assistant_masks=mask)


class _IntText(dict):
    """An int's JSON text, made once per process for each id seen (a vocabulary's ids: bounded)."""

    def __missing__(self, key: int) -> str:
        found = self[key] = str(key)
        return found


_INT_TEXT = _IntText()


class _Prefix:
    """The ids that rows start with and their JSON text: the rows of a prompt share a long start
    (the system turn, the same for every row), whose text is then written once, not once a row.
    Exact by construction: the text is used only for a row whose ids begin with these very ids
    (ids and text are one tuple, replaced whole: a thread never reads one without the other).

    The first row's ids are kept (at most `LONGEST`); a row that does not begin with them cuts
    them to the start both share, while that is `SHORTEST` ids or more; else, after 1, 2, 4, 8...
    such rows in a row (rows that share no start cost little more than a failed comparison), the
    prefix starts again from that row."""

    #: ids kept at most (their text is a few times as many characters: a bounded memory)
    LONGEST = 4096
    #: the shortest shared start kept (shorter: comparing costs about what it saves)
    SHORTEST = 16

    def __init__(self) -> None:
        self.kept: tuple[list[int], str] = ([], "")
        self.misses = 0

    @property
    def ids(self) -> list[int]:
        """The ids kept."""
        return self.kept[0]

    def text_of(self, ids: list[int]) -> str:
        """The ids' JSON text, without the brackets: `",".join` of each id's text."""
        start, text = self.kept
        n = len(start)
        if n and ids[:n] == start:
            self.misses = 0
            return text + "," + ",".join(map(_INT_TEXT.__getitem__, ids[n:])) if len(ids) > n else text
        whole = ",".join(map(_INT_TEXT.__getitem__, ids))
        self._learn(start, ids, whole)
        return whole

    def _learn(self, start: list[int], ids: list[int], whole: str) -> None:
        """After a row that does not begin with the prefix `start`: keep the start it shares with
        it, or (now and then) start again from the row."""
        shared = _shared_start(start, ids) if ids[:self.SHORTEST] == start[:self.SHORTEST] else 0
        if shared >= self.SHORTEST:
            self.kept = (start[:shared], ",".join(map(_INT_TEXT.__getitem__, start[:shared])))
            return
        self.misses += 1
        if self.misses & (self.misses - 1) == 0:  # 1, 2, 4, 8...: a prompt whose rows share no start pays little
            kept = ids[:self.LONGEST]
            self.kept = (kept, whole if len(kept) == len(ids) else ",".join(map(_INT_TEXT.__getitem__, kept)))


def _shared_start(a: list[int], b: list[int]) -> int:
    """How many ids `a` and `b` start with in common (a binary search over slice comparisons)."""
    low, high = 0, min(len(a), len(b))  # a[:low] == b[:low]; a[:high + 1] != b[:high + 1] or the end
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


_PREFIX = _Prefix()


def _repeat(item: str, n: int) -> str:
    """`n` copies of `item`, comma-separated."""
    return (item + ",") * (n - 1) + item if n else ""


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    """The [start, end) runs of 1 in a mask of 0 and 1 (searched as bytes; a bytearray is made
    from a list three times as fast as bytes)."""
    flags, at = bytearray(mask), 0
    runs: list[tuple[int, int]] = []
    while True:
        start = flags.find(1, at)
        if start < 0:
            return runs
        end = flags.find(0, start)
        end = len(flags) if end < 0 else end
        runs.append((start, end))
        at = end


def _cut_from_start(ids: list[int], mask: list[int], max_length: int) -> int:
    """How many tokens to take from the start so that `max_length` remain; RowProblem when the last
    learned span (the answer) would lose a token."""
    end = len(mask) - mask[::-1].index(1)  # the last learned token, + 1
    start = end
    while start > 0 and mask[start - 1]:
        start -= 1
    if len(ids) - start > max_length:
        raise RowProblem("length", f"{len(ids):,} tokens, and the answer alone with what follows it is "
                                   f"{len(ids) - start:,}, more than the maximum length {max_length:,}")
    return len(ids) - max_length


def _load_bulk_encoder(backend: Any, _key: Any = None) -> Any:
    """The bulk engine (fastokens: slower to load, faster per row) when it loads, else the default."""
    try:
        return backend.encoder(bulk=True)
    except Exception:  # noqa: BLE001 (fastokens missing or refusing this tokenizer: the default engine serves)
        return backend.encoder()


#: the encoder of a backend, looked up once (every row of a build asks)
_bulk_encoder_of = by_identity(_load_bulk_encoder)


def _bulk_encoder(backend: Any) -> Any:
    """The backend's bulk encoder (`_load_bulk_encoder`), once per backend."""
    return _bulk_encoder_of(backend, None)


def ids_and_mask(backend: Any, encoder: Any, turns: list[dict], tools: Any = None,
                 train_on: str = "last") -> tuple[list[int], list[int]]:
    """The token ids of a conversation in the target's training template, and its assistant
    mask (1 on the tokens learned); RowProblem when the mask cannot be exact."""
    turns, tools = encoder.protect(turns), encoder.protect(tools)
    text, spans = _render(backend, turns, tools, train_on)
    ids = encoder.encode_chat(text)
    return ids, _mask(encoder, text, ids, spans)


def _render(backend: Any, turns: list[dict], tools: Any, train_on: str) -> tuple[str, list[tuple[int, int]]]:
    """The training text and the character spans learned."""
    template = training_template(backend)
    try:
        text, spans = template.render_with_spans(turns, tools=tools)
        if not spans:
            spans = _boundary_spans(template, turns, tools, text)
    except ValueError as err:  # jinja's TemplateError is an Exception: the template refused the turns
        raise RowProblem("template", str(err)) from None
    if not spans:
        raise RowProblem("template", "the template marks no assistant output")
    return text, spans if train_on == "all" else spans[-1:]


def _boundary_spans(template: Any, turns: list[dict], tools: Any, text: str) -> list[tuple[int, int]]:
    """Each assistant turn's span from the same template: after the generation prompt, to the
    end of the render through that turn."""
    spans = []
    for k, turn in enumerate(turns):
        if turn.get("role") != "assistant" or k == 0:
            continue
        before = template.render(turns[:k], tools=tools, add_generation_prompt=True)
        through = template.render(turns[:k + 1], tools=tools) if k + 1 < len(turns) else text
        if not (text.startswith(through) and through.startswith(before)):
            if k + 1 == len(turns):
                raise RowProblem("template", "the template is not prefix-preserving: the generation prompt "
                                             "is not a prefix of the answer's render")
            continue  # an earlier turn the template renders differently once later turns follow
        spans.append((len(before), len(through)))
    return spans


def training_template(backend: Any) -> Any:
    """The template a model is trained with: TRL's training version of its family's template
    when there is one, else its own."""
    template = backend.template
    name = _family_of(template.source)
    if name is None:
        return template
    return _training(template, name)


@cache
def _family_templates() -> dict[str, str]:
    """Template text -> family, for the families that have a training template."""
    from ...backends.hf.families import FAMILIES

    return {FAMILIES[name].source_text(): name for name in TRAINING_TEMPLATES}


def _family_of(source: str) -> str | None:
    return _family_templates().get(source)


def _make_training(template: Any, name: str) -> Any:
    """TRL's training template of family `name`, with the variables (bos, eos...) and date of the
    model's own `template`."""
    from ...backends.hf.chat_template.render import ChatTemplate

    source = resources.files("polyprompt.dataset").joinpath("templates", TRAINING_TEMPLATES[name]).read_text()
    return ChatTemplate(source, extra=dict(template.variables), date=template.date, trusted=True)


#: one training template per model template (compiled once; kept alive with it, so an id is never reused)
_training = by_identity(_make_training)


def _mask(encoder: Any, text: str, ids: list[int], spans: list[tuple[int, int]]) -> list[int]:
    """1 on the tokens that hold a character of a span, as transformers' `char_to_token` gives."""
    mask = [0] * len(ids)
    for start, end in spans:
        first = _boundary(encoder, text, ids, start)
        last = _boundary(encoder, text, ids, end)
        mask[first:last] = [1] * (last - first)
    return mask


def _boundary(encoder: Any, text: str, ids: list[int], position: int) -> int:
    """The number of tokens before character `position`; RowProblem when it falls inside a token.
    The side after it is encoded when that says it (a tokenizer whose tokens spell fixed bytes and
    ASCII around the edge: no merge nor normalization across it), else the side before it."""
    if position <= 0:
        return 0
    if position >= len(text):
        return len(ids)
    if getattr(encoder, "context_free", False) and text[position - 1:position + 1].isascii():
        after = _tail_ids(encoder, text[position:])  # the short side: the answer and what follows it
        if 0 < len(after) < len(ids) and ids[len(ids) - len(after):] == after:
            return len(ids) - len(after)  # the tail's tokens spell text[position:]: a boundary there
    before = encoder.encode_chat(text[:position])
    if ids[:len(before)] != before:
        raise RowProblem("tokens", f"an answer boundary (character {position}) falls inside a token: the mask "
                                   "cannot follow it exactly")
    return len(before)


#: tails whose ids are kept (per encoder), and the longest kept: an answer and the template's end
#: repeat across rows (a label, a structured answer's skeleton); a long free text does not
TAILS_KEPT, TAIL_LENGTH = 4096, 256
_kept_tail_ids = by_identity(lambda encoder, tail: encoder.encode_chat(tail), limit=TAILS_KEPT)


def _tail_ids(encoder: Any, tail: str) -> list[int]:
    """`encoder.encode_chat(tail)`, kept for short tails (the same ids: a function of the text).
    The list is shared: read it only."""
    return encoder.encode_chat(tail) if len(tail) > TAIL_LENGTH else _kept_tail_ids(encoder, tail)


def problems(line: dict) -> list[str]:
    """What makes a tokenized line inconsistent (empty when it is valid)."""
    n = len(line.get("input_ids", ()))
    sizes = [len(line.get(k, ())) for k in _LISTS]
    if sizes != [n, n, n]:
        return [f"`{k}` has {size} items for {n} ids" for k, size in zip(_LISTS, sizes) if size != n]
    # from the end: the learned tokens are the answer's, near the end (a scan of a few items, not all)
    return [] if any(reversed(line["assistant_masks"])) else ["no token is learned"]


#: the lists of a tokenized line that have an item per id
_LISTS = ("attention_mask", "labels", "assistant_masks")


FORMAT = Format("tokenized", "sft", "hf-family:smollm2", line, problems,
                "token ids, attention mask and labels for an open-model target", accepts=("hf",), extra_keys=True,
                needs_body=False)
