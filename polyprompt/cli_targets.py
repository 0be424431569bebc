"""What the command line says about target names: the open-model forms (`hf-family:<name>` with
every family, `hf:<dir>`, `hf:<file.gguf>`) added to target errors and printed by `polyprompt
targets`, and the completion of target options (`polyprompt completion`).
"""
from __future__ import annotations


def with_target_forms(message: str) -> str:
    """A target error with the open-model target forms (`hf-family:<name>`, `hf:<dir>`, `hf:<file.gguf>`) added,
    unless it already names the close match."""
    from . import backends

    if "did you mean" in message:
        return message
    families = ", ".join(backends.hf_families())
    if "families:" not in message:
        message += f"; open models: hf-family:<name> ({families})"
    return message + "; or hf:<model folder> or hf:<file.gguf> for a model of your own (`polyprompt targets`)"


def complete_target(ctx, param, incomplete: str) -> list:
    """Shell completion of a target option: the built-in targets, `hf-family:<name>` for each family, and `hf:`."""
    from click.shell_completion import CompletionItem

    from . import backends

    names = backends.names() + [f"hf-family:{f}" for f in backends.hf_families()] + ["hf:"]
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def open_model_forms() -> str:
    """The open-model targets in words: the hf-family:<name> families and the hf: forms."""
    from . import backends

    import textwrap

    families = textwrap.fill(", ".join(backends.hf_families()), 100, initial_indent="  ", subsequent_indent="  ")
    return ("open models (chat template text and token ids; `--probe TARGET` shows what a template does):\n"
            "  hf-family:<name>   a built-in chat-template family, one of:\n" + families + "\n"
            "  hf:<dir>           a model or tokenizer folder of your own (config and tokenizer files)\n"
            "  hf:<file.gguf>     a GGUF model file")
