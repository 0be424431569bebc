"""Load a `.prompt` file and everything it imports.

Stdlib modules are found by dotted name (`import std.output`), files by a path
relative to the importing file (`import "./style.prompt"`). A path outside the
project root (PP207), a missing file (PP205) and an import cycle (PP206) are
errors at the import that causes them. The project root is the nearest folder
above the entry file holding `polyprompt.toml`, `pyproject.toml` or `.git`,
else the entry file's own folder.
"""
from __future__ import annotations

import os
from pathlib import Path

import attrs

from .. import stdlib
from . import ast
from .diagnostics import Sink
from .files import read_regular
from .parse import parse_source
from .span import SourceFile, Span

ROOT_MARKERS = ("polyprompt.toml", "pyproject.toml", ".git")


@attrs.define(eq=False)
class LoadedModule:
    """A parsed module of the program, keyed by its resolved path, with its imports as resolved."""
    key: str  # resolved path of the file
    source: SourceFile
    tree: ast.Module
    is_stdlib: bool = False
    #: each import statement with the module it resolved to (None on error)
    imports: list[tuple[ast.Import, "LoadedModule | None"]] = attrs.field(factory=list)


@attrs.define(eq=False)
class Program:
    """The entry module and every module it imports, by key, and the project root."""
    entry: LoadedModule
    modules: dict[str, LoadedModule]
    root: Path


def display_path(path: Path) -> str:
    """The path as shown in diagnostics: relative to the working folder when inside it."""
    try:
        return os.path.relpath(path)  if not os.path.relpath(path).startswith("..") else str(path)
    except ValueError:
        return str(path)


def find_root(entry: Path) -> Path:
    """The project root of an entry file: the nearest folder holding a `ROOT_MARKERS` file, else its own folder."""
    for folder in [entry.parent, *entry.parent.parents]:
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return entry.parent


#: the largest `.prompt` file read (the largest real prompts are a few hundred kB)
MAX_SOURCE_BYTES = 16 * 1024 * 1024


def read_source(path: Path, sink: Sink, shown: str | None = None) -> SourceFile:
    """Read a file as UTF-8; invalid bytes are an error (PP109), not a crash. A file that is not a
    regular file, or is larger than MAX_SOURCE_BYTES, raises `compiler.files.UnreadableFile`."""
    shown = shown or display_path(path)
    data = read_regular(path, MAX_SOURCE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        text = data.decode("utf-8", errors="replace")
        source = SourceFile(shown, text)
        pos = len(data[: err.start].decode("utf-8", errors="replace"))
        sink.error("PP109", f"invalid UTF-8 byte 0x{data[err.start]:02x}", Span(source, pos, pos + 1),
                   help="save the file as UTF-8")
        return source
    if text.startswith("\ufeff"):
        text = text[1:]
    return SourceFile(shown, text)


def load(path: str | os.PathLike, sink: Sink, root: str | os.PathLike | None = None,
         text: str | None = None) -> Program:
    """Load the entry file (or `text` in its place) and its imports."""
    entry_path = Path(path).resolve()
    root_path = Path(root).resolve() if root else find_root(entry_path)
    modules: dict[str, LoadedModule] = {}
    source = SourceFile(display_path(entry_path), text) if text is not None else read_source(entry_path, sink)
    entry = _load_module(str(entry_path), source, sink, modules, root_path, stack=[], is_stdlib=False)
    return Program(entry=entry, modules=modules, root=root_path)


def load_text(text: str, sink: Sink, name: str = "<input>") -> Program:
    """Load source given as a string (no relative imports beyond the working folder)."""
    return load(Path.cwd() / name, sink, root=Path.cwd(), text=text)


def _load_module(key, source, sink, modules, root, stack, is_stdlib) -> LoadedModule:
    tree = parse_source(source, sink)
    module = LoadedModule(key=key, source=source, tree=tree, is_stdlib=is_stdlib)
    modules[key] = module
    stack.append(key)
    for decl in tree.decls:
        if isinstance(decl, ast.Import):
            module.imports.append((decl, _resolve_import(decl, module, sink, modules, root, stack)))
    stack.pop()
    return module


def _resolve_import(decl: ast.Import, importer: LoadedModule, sink, modules, root, stack):
    if decl.module is not None:
        path = stdlib.find(decl.module)
        if path is None:
            known = ", ".join(stdlib.modules())
            sink.error("PP205", f"no module named `{decl.module}`", decl.span,
                       help=f"stdlib modules: {known}; import a file with a quoted relative path")
            return None
        is_stdlib = True
    else:
        base = Path(importer.key).parent
        assert decl.path is not None  # an import names a module or a path
        path = (base / decl.path).resolve()
        if not importer.is_stdlib and not path.is_relative_to(root):
            sink.error("PP207", f"`{decl.path}` is outside the project root `{display_path(root)}`", decl.span,
                       help="keep imported files inside the project, or mark a higher folder with polyprompt.toml")
            return None
        if not path.is_file():
            sink.error("PP205", f"file `{decl.path}` not found", decl.span,
                       help=f"paths are relative to the importing file's folder `{display_path(base)}`")
            return None
        is_stdlib = False
    key = str(path)
    if key in stack:
        cycle = " -> ".join(display_path(Path(k)) for k in stack[stack.index(key):] + [key])
        sink.error("PP206", f"import cycle: {cycle}", decl.span, help="move the shared declarations into a third file")
        return None
    if key in modules:
        return modules[key]
    source = read_source(path, sink)
    return _load_module(key, source, sink, modules, root, stack, is_stdlib)
