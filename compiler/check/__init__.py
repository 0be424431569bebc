"""Semantic analysis: names, imports, types, and the warnings a user wants.

`check_program` runs over every loaded module and reports into the sink; it
returns the scopes, which the later stages (the IR builder) read. It receives the
target catalog (`compiler.targets.TargetCatalog`: the names and options a `target`
declaration may use) from its caller, `polyprompt.backends.catalog()` for the real
one: the checker never imports a backend.
"""
from __future__ import annotations

import re

from ..diagnostics import Sink
from ..parse import CASCADE_CODES
from ..loader import Program
from ..targets import TargetCatalog
from .decls import DeclChecker
from .names import ModuleScope, build_scopes
from .nesting import check_nesting


def check_program(program: Program, sink: Sink, targets: TargetCatalog | None = None) -> dict[str, ModuleScope]:
    """Check every module of `program` into `sink`; `targets` is what target declarations are checked
    against (None: an empty catalog, for programs without target declarations such as the stdlib)."""
    scopes = build_scopes(program, sink)
    for scope in scopes.values():
        DeclChecker(scope, sink, scopes, targets).check()
    for module in program.modules.values():
        check_nesting(module.tree, sink)
    for scope in scopes.values():
        _report_unused_imports(scope, sink)
    _drop_recovery_cascades(program, sink)
    return scopes


_WORD = re.compile(r"\w+")


def _drop_recovery_cascades(program: Program, sink: Sink) -> None:
    """Where the parser skipped a line after a syntax error, a name may look
    unknown or unused only because of the skip: drop those diagnostics when the
    name occurs in a skipped line (and PP243 when a skipped line had a message)."""
    skipped = "\n".join(span.text for m in program.modules.values() for span in m.tree.skipped)
    if not skipped:
        return
    words = frozenset(_WORD.findall(skipped))  # once: a search per diagnostic was quadratic
    roles = not words.isdisjoint({"system", "user", "assistant", "use", "history", "tool_call", "tool_result"})

    def cascade(d) -> bool:
        if d.code not in CASCADE_CODES:
            return False
        if d.code == "PP243":
            return roles
        return any(name in words if _WORD.fullmatch(name) else re.search(rf"\b{re.escape(name)}\b", skipped)
                   for name in d.names)

    sink.discard(cascade)


def _report_unused_imports(scope: ModuleScope, sink: Sink) -> None:
    for name, node in scope.import_bindings:
        if name not in scope.used and scope.names[name].kind != "error":
            sink.warning("PP244", f"`{name}` is imported but never used", node.span, help="remove the import",
                         names=(name,))
