"""Chat on a local model from a list of messages, with no prompt file: what an OpenAI-compatible
server (`polyprompt serve`, `/v1/chat/completions`) needs.

    compiled = compile_chat([{"role": "user", "content": "Hi"}], "hf-family:smollm2",
                            Sampling(temperature=0, max_tokens=32))
    result = generate_chat(compiled, on_text=print)   # RunResult, text deltas as they come

The messages are spliced by a one-line prompt (`prompt chat(history: messages) { history }`), so
they go through the compiler like any `messages` input (docs/history.md): the role comes from the
role field only and text is data whatever it says (a `<|im_end|>` in a user's text is tokenized as
text, never as the special token: compiler/passes/guard_control_text.py). The sampling fields are
written into the body's `generation` settings under transformers' names, which `local.generate`
reads, so a chat answers exactly as `polyprompt run` does for the same turns and settings.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import attrs

from . import local

__all__ = ["CHAT_SOURCE", "Sampling", "TextDeltas", "compile_chat", "generate_chat", "prompt_tokens"]

#: the prompt every chat is compiled through
CHAT_SOURCE = "prompt chat(history: messages) {\n  history\n}\n"


@attrs.frozen
class Sampling:
    """The OpenAI sampling fields of one request (None: the model's default; temperature 0 is greedy)."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None


@functools.lru_cache(maxsize=1)
def _chat_file():
    """The chat prompt, loaded once (it is checked on first compile)."""
    from ..session import PromptFile

    return PromptFile("<chat>.prompt", text=CHAT_SOURCE)


def compile_chat(messages: list, target: str, sampling: Sampling = Sampling()):
    """The messages compiled for an open-model target, the sampling settings in its body.

    Raises `compiler.inputs.InputError` (every problem of the messages listed) or CompileError
    (the target cannot express them, e.g. an image for a text-only model).
    """
    compiled = _chat_file().compile(target, {"history": messages})
    body = dict(compiled.body)
    generation = dict(body.get("generation") or {})
    for key, value in (("temperature", sampling.temperature), ("top_p", sampling.top_p),
                       ("max_new_tokens", sampling.max_tokens), ("seed", sampling.seed)):
        if value is not None:
            generation[key] = value
    if sampling.stop:
        generation["stop_strings"] = list(sampling.stop)
    body["generation"] = generation
    return compiled.with_body(body)


def prompt_tokens(compiled) -> int:
    """How many tokens the model reads for a compiled body (0 when it has no token ids)."""
    return len(compiled.body.get("token_ids") or ())


class TextDeltas:
    """A transformers streamer that hands the reply's new text to `on_text` as it is generated.

    Text is handed on only once it is final: a stop token is never shown, text that could begin a
    stop string is held back until it cannot, and so is an incomplete UTF-8 sequence (U+FFFD at
    the end). `finish(text)` hands on the rest of the reply `generate` returned: the deltas joined
    are that reply exactly.
    """

    def __init__(self, tokenizer, stop_ids: list[int], stop_strings: list[str], on_text: Callable[[str], Any]):
        self.tokenizer, self.stop_ids, self.stop_strings = tokenizer, set(stop_ids), stop_strings
        self.on_text = on_text
        self.ids: list[int] = []
        self.sent = ""
        self._prompt_seen = False
        self._hold = max((len(s) for s in stop_strings), default=1) - 1

    def put(self, value) -> None:
        """transformers calls this with the prompt ids first, then each new token."""
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        self.ids += [i for i in value.reshape(-1).tolist() if i not in self.stop_ids]
        text = self.tokenizer.decode(self.ids, skip_special_tokens=False)
        cut = min((i for i in (text.find(s) for s in self.stop_strings) if i >= 0), default=-1)
        safe = text[:cut] if cut >= 0 else text[: max(len(text) - self._hold, 0)]
        safe = safe.rstrip("\ufffd")
        if len(safe) > len(self.sent) and safe.startswith(self.sent):
            self.on_text(safe[len(self.sent):])
            self.sent = safe

    def end(self) -> None:
        """transformers calls this when generation ends (the rest comes from `finish`)."""

    def finish(self, text: str) -> None:
        """Hand on what the final reply holds beyond what was sent."""
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.on_text(text[len(self.sent):])
            self.sent = text


def generate_chat(compiled, on_text: Callable[[str], Any] | None = None) -> local.RunResult:
    """Generate the reply of a compiled chat on its local model (in the calling thread; it blocks).

    With `on_text`, the reply's text is handed on in pieces as it is generated (`TextDeltas`);
    joined, they are the returned `text`.
    """
    if on_text is None:
        return local.generate(compiled, choice=False)
    model, folder = local.load_model(compiled)
    tokenizer = local.load_tokenizer(str(folder))
    stop_ids = list(compiled.body.get("stop_token_ids") or [tokenizer.eos_token_id])
    strings = list(compiled.body.get("stop") or ()) + list((compiled.body.get("generation") or {}).get("stop_strings")
                                                             or ())
    covered = set(tokenizer.convert_ids_to_tokens(stop_ids))  # these end generation by id: nothing to hold back
    deltas = TextDeltas(tokenizer, stop_ids, [s for s in strings if s and s not in covered], on_text)
    result = local.generate(compiled, choice=False, model=model, tokenizer=tokenizer, streamer=deltas)
    deltas.finish(result.text)
    return result
