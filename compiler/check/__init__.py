"""Semantic analysis: names, imports, types, and the warnings a user wants.

`check_program` runs over every loaded module and reports into the sink; it
returns the scopes, which the later stages (the IR builder) read.
"""
from __future__ import annotations

from ..diagnostics import Sink
from ..loader import Program
from .decls import DeclChecker
from .names import ModuleScope, build_scopes


def check_program(program: Program, sink: Sink) -> dict[str, ModuleScope]:
    scopes = build_scopes(program, sink)
    for scope in scopes.values():
        DeclChecker(scope, sink, scopes).check()
    for scope in scopes.values():
        _report_unused_imports(scope, sink)
    return scopes


def _report_unused_imports(scope: ModuleScope, sink: Sink) -> None:
    for name, node in scope.import_bindings:
        if name not in scope.used:
            sink.warning("PP244", f"`{name}` is imported but never used", node.span, help="remove the import")
