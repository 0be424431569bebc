"""`polyprompt test -t <local model target>`: the answer functions that run a local model
(run/local.py) on a test case's compiled prompt, so that its `expect` clauses are evaluated on the
model's real answer (session/prompt_tests.py calls them). torch is imported only when a model runs.
"""
from __future__ import annotations


def model_answers(targets: list[str]) -> dict:
    """An answer function per local-model target given: it runs the model (run/local.py) on a test case's
    compiled prompt; without the torch extra or the model's weights the expect clauses are skipped, saying why."""
    from . import backends

    return {t: _model_answer(t) for t in targets if t.startswith(backends.MODEL_PREFIXES)}


def _model_answer(target: str):
    """The answer function of one local-model target (the model is loaded once, on the first case)."""
    unavailable: list[str] = []

    def answer(compiled):
        from .backends.extras import MissingExtra, require
        from .compiler.replies import ReplyError
        from .session.prompt_tests import Unanswered

        if unavailable:
            raise Unanswered(unavailable[0])
        try:
            require("torch", f"answering expect clauses with {target}")
            from .run import local
        except (MissingExtra, ImportError) as err:
            unavailable.append(str(err))
            raise Unanswered(unavailable[0]) from None
        quiet_transformers()
        try:
            reply = local.generate(compiled)
        except local.ModelUnavailable as err:
            unavailable.append(f"no local model for {target}: {err}")
            raise Unanswered(unavailable[0]) from None
        if reply.error:
            raise ReplyError(f"{reply.error} (it answered {reply.text[:200]!r})")
        return reply.value

    return answer


def quiet_transformers() -> None:
    """No progress bars or warnings from transformers (when it is installed)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
