"""Load a `.prompt` file and everything it imports.

Stdlib modules are found by dotted name (`import std.output`), files by a path
relative to the importing file (`import "./style.prompt"`). Only `.prompt` files
are imported, so no line of another file is ever shown in a diagnostic. A path
outside the project root (PP207), a missing file (PP205), an import cycle
(PP206), and a path that is no `.prompt` file, cannot be read or nests imports
too deep (PP214) are errors at the import that causes them. The project root is
`--root` when given, else the nearest folder above the entry file holding
`polyprompt.toml`, `pyproject.toml` or `.git`, else the entry file's own folder;
symlinks are followed before a path is compared with it. A `target`
declaration's `hf:<path>` must be inside the root too (PP207).
"""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import attrs

from .. import stdlib
from . import ast
from .diagnostics import Sink
from .files import UnreadableFile, read_regular
from .inline import shown
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
        elif isinstance(decl, ast.TargetDecl) and not is_stdlib:
            _check_model_path(decl, Path(key).parent, root, sink)
    stack.pop()
    return module


#: how many files deep imports may nest (each level is a few Python frames: far below the recursion limit)
MAX_IMPORT_DEPTH = 64


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
        path = _file_import(decl, importer, sink, root)
        if path is None:
            return None
        is_stdlib = False
    key = str(path)
    if key in stack:
        cycle = " -> ".join(display_path(Path(k)) for k in stack[stack.index(key):] + [key])
        sink.error("PP206", f"import cycle: {cycle}", decl.span, help="move the shared declarations into a third file")
        return None
    if key in modules:
        return modules[key]
    if len(stack) >= MAX_IMPORT_DEPTH:
        sink.error("PP214", f"imports nest deeper than {MAX_IMPORT_DEPTH} files", decl.span,
                   help="import the shared declarations from fewer levels of files")
        return None
    try:
        source = read_source(path, sink)
    except UnreadableFile as err:  # grew past the size limit, or changed kind, since it was checked
        sink.error("PP214", f"cannot import `{shown(str(decl.path or decl.module))}`: {_reason(err)}", decl.span)
        return None
    return _load_module(key, source, sink, modules, root, stack, is_stdlib)


def _file_import(decl: ast.Import, importer: LoadedModule, sink, root: Path) -> Path | None:
    """The resolved file of a quoted import, or None after reporting why it cannot be imported:
    a path that is no `.prompt` file (PP214, before anything is read: nothing of another file is
    ever shown), outside the project root (PP207), missing (PP205), or unreadable (PP214)."""
    written = decl.path
    assert written is not None  # an import names a module or a path
    base = Path(importer.key).parent
    why = _bad_path(written)
    if why is None:
        path = Path(os.path.realpath(base / written))  # symlinks followed (a loop is left as it is)
        if not path.name.endswith(".prompt"):
            why = f"it names `{shown(path.name)}`, not a .prompt file"
    if why is not None:
        sink.error("PP214", f"cannot import `{shown(written)}`: {why}", decl.span,
                   help="import a .prompt file by a path relative to the importing file")
        return None
    if not importer.is_stdlib and not path.is_relative_to(root):
        sink.error("PP207", f"`{shown(written)}` is outside the project root `{display_path(root)}`", decl.span,
                   help="keep imported files inside the project, or mark a higher folder with polyprompt.toml")
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        sink.error("PP205", f"file `{shown(written)}` not found", decl.span,
                   help=f"paths are relative to the importing file's folder `{display_path(base)}`")
        return None
    except OSError as err:  # a symlink loop, a name too long for the file system...
        sink.error("PP214", f"cannot import `{shown(written)}`: {_reason(err)}", decl.span)
        return None
    if not stat.S_ISREG(st.st_mode):
        sink.error("PP214", f"cannot import `{shown(written)}`: not a regular file", decl.span)
        return None
    return path


def _bad_path(written: str) -> str | None:
    """Why a written import path cannot name a file on any system, or None."""
    if "\0" in written:
        return "the path holds a NUL character"
    if not written.endswith(".prompt"):
        return "only .prompt files can be imported"
    if any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in written.split("/")):
        return "a name in the path is longer than 255 bytes"
    if len(written.encode("utf-8", "surrogatepass")) > 4095:
        return "the path is longer than 4,095 bytes"
    return None


def _reason(err: OSError) -> str:
    """An OS error in words, without the path (which the message already shows)."""
    if isinstance(err, UnreadableFile):
        return str(err).rsplit(": ", 1)[-1]
    return (err.strerror or str(err)).lower() if err.errno != errno.ELOOP else "a symlink loop"


def _check_model_path(decl: ast.TargetDecl, base: Path, root: Path, sink) -> None:
    """A `target` declaration naming `hf:<dir>` or `hf:<file.gguf>`: the path, relative to the
    declaring file's folder, must be inside the project root (PP207), as an import must. A model
    named on the command line or to `compile` is the user's choice and is not checked."""
    if not decl.backend.startswith(MODEL_DIR_PREFIX):
        return
    written = decl.backend[len(MODEL_DIR_PREFIX):]
    path = model_path(written, base)
    if path is None or not path.is_relative_to(root):
        sink.error("PP207", f"`{shown(decl.backend)}` is outside the project root `{display_path(root)}`",
                   decl.span, help="a model a prompt file names must be inside the project; name one elsewhere on "
                                   "the command line (-t hf:<path>)")


#: the target prefix of a model folder or GGUF file (`hf:<path>`)
MODEL_DIR_PREFIX = "hf:"


def model_path(written: str, base: Path) -> Path | None:
    """The model folder or file a `target` declaration names (`hf:<written>`), resolved from the
    declaring file's folder `base` with symlinks followed; None when no file can have that name."""
    if "\0" in written or not written:
        return None
    return Path(os.path.realpath(base / os.path.expanduser(written)))
