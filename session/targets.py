"""A target name to its backend: a `target` declaration of the file, a built-in target,
`hf-family:<name>`, `hf:<dir>` or `hf:<file.gguf>` (those through `backends.get`)."""
from __future__ import annotations

from pathlib import Path

from ..compiler import ast
from ..compiler.render import TargetInfo


def declaration(tree: ast.Module, name: str) -> ast.TargetDecl | None:
    """The file's `target NAME "backend" { }` declaration of that name, if any."""
    return next((d for d in tree.decls if isinstance(d, ast.TargetDecl) and d.name.name == name), None)


def resolve(tree: ast.Module, name: str, base: Path | None = None):
    """The backend object for a target name (UnknownTarget when there is none); `base` is the
    folder of the file declaring the targets of `tree`."""
    from .. import backends

    decl = declaration(tree, name)
    if decl is None:
        return backends.get(name)()
    return _declared(decl, base)


def _declared(decl: ast.TargetDecl, base: Path | None):
    """A declared target: its backend with the declaration's options, `caps { }`, model and settings.
    Its `hf:<path>` is relative to the declaring file's folder, where the loader checked it is inside
    the project (compiler/loader.py)."""
    from .. import backends
    from ..compiler import ir
    from ..compiler.check.consts import constant_value
    from ..compiler.loader import MODEL_DIR_PREFIX, model_path

    overrides, options, model, settings = {}, {}, None, {}
    for item in decl.items:
        if isinstance(item, ast.Caps):
            overrides.update({s.name.name: constant_value(s.value) for s in item.settings})
        elif isinstance(item, ast.ModelStmt):
            model = item.model or model
            settings.update({s.name.name: ir.Setting(value=constant_value(s.value), span=s.span) for s in item.settings})
        else:
            options[item.name.name] = constant_value(item.value)
    backend_name = decl.backend
    if base is not None and backend_name.startswith(MODEL_DIR_PREFIX):
        path = model_path(backend_name[len(MODEL_DIR_PREFIX):], base)
        backend_name = MODEL_DIR_PREFIX + str(path) if path is not None else backend_name
    backend = backends.get(backend_name)(options=options, caps_overrides=overrides)
    if model:
        backend.default_model = model
    backend.default_settings = settings
    backend.name = decl.name.name
    return backend


def info(name: str, backend) -> TargetInfo:
    """What `target` means inside the prompt for this target."""
    return TargetInfo(name=name, family=backend.family, backend=type(backend).name)
