"""Inputs: read them, check them against the prompt's parameters, apply defaults.

Every problem is listed at once (missing, extra, wrong type, bad enum member),
each with the JSON path of the value, e.g. `shots[2].answer.category`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import attrs

from . import ast
from . import types as T
from .check.consts import constant_value
from .files import read_regular
from .history import read as read_history
from .inline import MAX_INLINE_BYTES, Inliner, local_path_problems
from .inline import inline_files as inline
from .runtime import LONE_SURROGATE
from .targets import did_you_mean


@attrs.frozen
class InputProblem:
    """One problem with the inputs: the JSON path of the value and what is wrong with it."""
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InputError(ValueError):
    """Raised with every problem of a set of inputs (`prompt` None: the inputs file itself);
    `source` names the inputs file the values came from, when known."""

    def __init__(self, prompt: str | None, problems: list[InputProblem], source: str | None = None):
        self.prompt, self.problems, self.source = prompt, problems, source
        head = f"invalid inputs for prompt `{prompt}`" if prompt is not None else "invalid inputs"
        head += f" from {source}:" if source is not None else ":"
        super().__init__(head + "\n" + "\n".join(f"  {p}" for p in problems))

    def from_file(self, source: str) -> "InputError":
        """The same error naming the inputs file its values came from."""
        return InputError(self.prompt, self.problems, source) if self.source is None else self


def read_inputs(source: str | os.PathLike, stdin_text: str | bytes | None = None, *,
                types: Mapping[str, T.Type] | None = None, inline_files: bool = True,
                root: str | Path | None = None, limit: int = MAX_INLINE_BYTES) -> dict:
    """Inputs from a JSON or YAML file (`-` for stdin, given as `stdin_text`).

    A `.json` file is read as JSON only. With the prompt's parameter `types`, local files named
    where the prompt takes media are inlined as data: URIs (compiler/inline.py: only from the
    inputs file's folder or `root`, the project root; regular files of at most `limit` bytes);
    `inline_files=False` reads none. A file that cannot be read, is not UTF-8, JSON or YAML, or
    is not an object, strings that are not Unicode text, and media files that cannot be
    inlined raise InputError: never a traceback."""
    name = "stdin" if str(source) == "-" else str(source)
    try:
        if str(source) == "-":
            raw, base = stdin_text or "", Path.cwd()
        else:
            path = Path(source)
            raw, base = read_regular(path, MAX_INPUTS_BYTES), path.parent
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw  # a BOM is not content
    except OSError as err:
        raise InputError(None, [InputProblem(name, f"cannot be read ({err.strerror or err})")]) from None
    except UnicodeDecodeError as err:
        raise InputError(None, [InputProblem(name, f"is not UTF-8 text: byte 0x{err.object[err.start]:02x} "
                                                   f"at offset {err.start}")]) from None
    data = _parse(text, name, json_only=name.lower().endswith(".json"))
    if not isinstance(data, dict):
        raise InputError(None, [InputProblem(name, "must be a JSON or YAML object of parameter values")])
    problems: list[InputProblem] = []
    _lone_surrogates(data, "", problems)
    if problems:
        raise InputError(None, problems)
    if types is None or not inline_files:
        return data
    inliner = Inliner(base, [base] + ([Path(root)] if root is not None else []), limit)
    inlined = inline(data, types, inliner)
    if inliner.problems:
        raise InputError(None, [InputProblem(path, message) for path, message in inliner.problems], source=name)
    return inlined


#: The largest inputs file read (inline media included, base64 data is large)
MAX_INPUTS_BYTES = 256 * 1024 * 1024

#: How deep inputs may nest: deeper data is refused before anything walks it (Python recurses).
MAX_DEPTH = 100


def _parse(text: str, name: str, json_only: bool = False) -> Any:
    """JSON, else (unless `json_only`) YAML without aliases; on failure an InputError at
    `name:line:col`, of the format the text looks like."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(None, [InputProblem(name, f"nests deeper than {MAX_DEPTH} levels")]) from None
    except json.JSONDecodeError as json_error:
        if json_only:
            raise _json_error(name, json_error, "is not valid JSON") from None
        import yaml

        try:
            return yaml.load(text, Loader=_loader())  # noqa: S506 (a SafeLoader without aliases)
        except RecursionError:
            raise InputError(None, [InputProblem(name, f"nests deeper than {MAX_DEPTH} levels")]) from None
        except (ValueError, OverflowError) as err:  # `!!timestamp 2024-13-45`, an integer of over 4,300 digits
            raise InputError(None, [InputProblem(name, _unreadable(err))]) from None
        except yaml.YAMLError as yaml_error:
            if text.lstrip().startswith(("{", "[")):
                raise _json_error(name, json_error, "is not valid JSON or YAML") from None
            mark = getattr(yaml_error, "problem_mark", None)
            where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
            why = getattr(yaml_error, "problem", None) or str(yaml_error)
            raise InputError(None, [InputProblem(where, f"is not valid JSON or YAML: {why}")]) from None
    except ValueError as err:  # valid JSON Python will not read: an integer of over 4,300 digits
        raise InputError(None, [InputProblem(name, _unreadable(err))]) from None


def _unreadable(err: Exception) -> str:
    """Why a value of an inputs file cannot be read, in the user's terms."""
    if "integer string conversion" in str(err):
        return "holds an integer of more than 4,300 digits, which Python does not read"
    return f"holds a value that cannot be read: {err}"


def _json_error(name: str, error: json.JSONDecodeError, what: str) -> InputError:
    return InputError(None, [InputProblem(f"{name}:{error.lineno}:{error.colno}", f"{what}: {error.msg}")])


def _loader():
    """yaml's SafeLoader refusing aliases: `*a` makes shared or self-containing data (a few lines can
    stand for billions of values), which plain JSON inputs never need."""
    import yaml

    class NoAliases(yaml.SafeLoader):
        # YAML 1.1 reads 2024-01-05 as a date, which JSON cannot carry: here it stays the text it is
        yaml_implicit_resolvers = {first: [(tag, regexp) for tag, regexp in resolvers
                                           if tag != "tag:yaml.org,2002:timestamp"]
                                   for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, f"an alias (*{event.anchor}): inputs take no YAML "
                                                  "aliases", event.start_mark)
            return super().compose_node(parent, index)

    return NoAliases


def _lone_surrogates(value: Any, path: str, problems: list[InputProblem], depth: int = 0) -> None:
    """Strings (keys too) holding half a surrogate pair, from a JSON `\\ud800` escape without its
    other half: not Unicode text, so no request body or tokenizer can carry them. Data nested deeper
    than MAX_DEPTH is a problem of its own."""
    if depth > MAX_DEPTH:
        problems.append(InputProblem(path, f"nests deeper than {MAX_DEPTH} levels"))
    elif isinstance(value, str):
        _check_text(value, path or "inputs", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _lone_surrogates(key, where, problems, depth + 1)
            _lone_surrogates(item, where, problems, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _lone_surrogates(item, f"{path}[{i}]", problems, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        _not_finite(value, path or "inputs", problems)
    elif value is not None and not isinstance(value, (bool, int, float)):
        problems.append(InputProblem(path or "inputs", f"is not a JSON value (a {type(value).__name__})"))


def _check_text(value: str, path: str, problems: list[InputProblem]) -> None:
    found = None if value.isascii() else LONE_SURROGATE.search(value)
    if found:
        problems.append(InputProblem(path, f"holds U+{ord(found.group()):04X}, half of a surrogate pair, at "
                                           f"character {found.start()}: not Unicode text"))


def validate(prompt: ast.PromptDecl, resolve, inputs: dict[str, Any]) -> dict[str, Any]:
    """Checked inputs with defaults applied; raises InputError listing every problem.

    `resolve` maps a parameter's type expression to its type.
    """
    problems: list[InputProblem] = []
    params = {p.name.name: p for p in prompt.params}
    values: dict[str, Any] = {}
    for name in inputs:
        if name not in params:
            hint = did_you_mean(str(name), params) or f"parameters: {', '.join(params) or 'none'}"
            problems.append(InputProblem(name, f"prompt `{prompt.name.name}` has no parameter `{name}`; {hint}"))
    for name, param in params.items():
        t = resolve(param.type)
        if name in inputs:
            _check(inputs[name], t, name, problems)
            problems += [InputProblem(*found) for found in local_path_problems(inputs[name], t, name)]
            values[name] = plain(inputs[name])
        elif param.default is not None:
            values[name] = constant_value(param.default)
        elif param.optional or isinstance(t, T.OptionalT):
            values[name] = None
        else:
            problems.append(InputProblem(name, f"missing (a `{t}`)"))
    if problems:
        raise InputError(prompt.name.name, problems)
    return values


def plain(value: Any) -> Any:
    """A checked value as plain JSON data, copied: dict subclasses (OrderedDict...) become dicts, tuples
    lists, str/int/float subclasses their base type. Renders see only these exact types, and a body
    never shares a mutable part with the caller's inputs."""
    kind = value.__class__
    if kind is str or kind is int or kind is float or kind is bool or value is None:
        return value
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    for base in (bool, str, int, float):
        if isinstance(value, base):
            return base(value)
    return value


def _not_finite(value: float, path: str, problems: list[InputProblem]) -> None:
    problems.append(InputProblem(path, f"{value} is not a number JSON can carry (no NaN or infinity)"))


def kind_of(value: Any) -> str:
    """What a value is, in words (`a string`, `an object`...), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check(value: Any, t: T.Type, path: str, problems: list[InputProblem]) -> None:
    def bad(expected: str) -> None:
        problems.append(InputProblem(path, f"expected {expected}, got {kind_of(value)}"))

    if isinstance(t, T.JsonT):
        return _lone_surrogates(value, path, problems)  # any JSON, but Unicode text and not too deep
    if isinstance(t, T.UnknownT):
        return
    if isinstance(t, T.OptionalT):
        if value is not None:
            _check(value, t.inner, path, problems)
        return
    if value is None:
        return bad(f"`{t}`")
    if isinstance(t, T.Prim):
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool)}.get(t.name, False)
        if ok and t.name == "float" and isinstance(value, float) and not math.isfinite(value):
            return _not_finite(value, path, problems)
        if ok and t.name == "str":
            _check_text(value, path, problems)
        return None if ok else bad(f"`{t}`")
    if isinstance(t, T.EnumT):
        if value not in t.members:
            problems.append(InputProblem(path, f"`{value}` is not a member of `{t.name}` ({', '.join(t.members)})"))
        return
    if isinstance(t, T.LiteralT):
        if value not in t.values:
            problems.append(InputProblem(path, f"{json.dumps(value)} is not one of {t}"))
        return
    if isinstance(t, T.MediaT):
        return None if isinstance(value, str) and value else bad(f"a URL or data: URI ({t.kind})")
    if isinstance(t, T.ListT):
        if not isinstance(value, (list, tuple)):
            return bad(f"a list (`{t}`)")
        for i, item in enumerate(value):
            _check(item, t.item, f"{path}[{i}]", problems)
        return
    if isinstance(t, T.MapT):
        if not isinstance(value, dict):
            return bad(f"an object (`{t}`)")
        for k, item in value.items():
            _check(item, t.value, f"{path}.{k}", problems)
        return
    if isinstance(t, T.MessagesT):
        return _check_messages(value, path, problems)
    if isinstance(t, T.RecordT):
        if not isinstance(value, dict):
            return bad(f"an object (`{t.name}`)")
        for k in value:
            if k not in t.fields:
                problems.append(InputProblem(f"{path}.{k}", f"`{t.name}` has no field `{k}`"))
        for f in t.fields.values():
            if f.name in value:
                _check(value[f.name], f.type, f"{path}.{f.name}", problems)
            elif f.required:
                problems.append(InputProblem(f"{path}.{f.name}", f"missing (a `{f.type}`)"))


def _check_messages(value: Any, path: str, problems: list[InputProblem]) -> None:
    """A `messages` input: Unicode JSON, then every turn readable in a supported shape (compiler/history.py)."""
    before = len(problems)
    _lone_surrogates(value, path, problems)
    if len(problems) == before:
        problems += [InputProblem(where, message) for where, message in read_history(value, path)[1]]
