"""A target name to its backend: a `target` declaration of the file, a built-in target,
`hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>` (those through `backends.get`)."""
from __future__ import annotations

from ..compiler import ast
from ..compiler.render import TargetInfo


def declaration(tree: ast.Module, name: str) -> ast.TargetDecl | None:
    """The file's `target NAME "backend" { }` declaration of that name, if any."""
    return next((d for d in tree.decls if isinstance(d, ast.TargetDecl) and d.name.name == name), None)


def resolve(tree: ast.Module, name: str):
    """The backend object for a target name (UnknownTarget when there is none)."""
    from .. import backends

    decl = declaration(tree, name)
    if decl is None:
        return backends.get(name)()
    return _declared(decl)


def _declared(decl: ast.TargetDecl):
    """A declared target: its backend with the declaration's options, `caps { }`, model and settings."""
    from .. import backends
    from ..compiler import ir
    from ..compiler.check.consts import constant_value

    overrides, options, model, settings = {}, {}, None, {}
    for item in decl.items:
        if isinstance(item, ast.Caps):
            overrides.update({s.name.name: constant_value(s.value) for s in item.settings})
        elif isinstance(item, ast.ModelStmt):
            model = item.model or model
            settings.update({s.name.name: ir.Setting(value=constant_value(s.value), span=s.span) for s in item.settings})
        else:
            options[item.name.name] = constant_value(item.value)
    backend = backends.get(decl.backend)(options=options, caps_overrides=overrides)
    if model:
        backend.default_model = model
    backend.default_settings = settings
    backend.name = decl.name.name
    return backend


def info(name: str, backend) -> TargetInfo:
    """What `target` means inside the prompt for this target."""
    return TargetInfo(name=name, family=backend.family, backend=type(backend).name)
