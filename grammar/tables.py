"""The parser tables shipped in the package, as plain JSON: no pickle, no disk cache.

Building the LALR tables from `polyprompt.lark` takes about a second, so they are built once,
when the grammar changes, and shipped beside it as `polyprompt.tables.json` (package data). A
process loads them with `json.loads`, which runs no code, so no file anyone else can write
(a cache folder in a shared temp folder, a home that is `/`, a planted `./~`) can ever reach
the parser: nothing is read from outside the package.

The file holds what Lark's own `Lark.save` would pickle (`memo_serialize`) in a JSON form that
keeps tuples and integer dict keys (`encode`/`decode` round-trip exactly), with the SHA-256 of
the grammar text and Lark's version. When either differs from what is running (a grammar edit
not yet regenerated, another Lark release), the tables are built from the grammar in memory
instead, and never written anywhere. tests/test_security_code.py checks the shipped file
equals a fresh build.

Regenerate after editing the grammar: `python -m polyprompt.grammar.tables`.
"""
from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

TABLES_FILE = "polyprompt.tables.json"
#: Bumped when the encoding below changes.
FORMAT = 1
# The options the tables are built with; the callbacks are given again at load time.
OPTIONS: dict[str, Any] = {
    "start": ["module", "template"],
    "parser": "lalr",
    "lexer": "contextual",
    "keep_all_tokens": True,  # spans come from the tokens (see compiler.build)
    "maybe_placeholders": False,
}


def fingerprint(grammar_text: str) -> dict[str, Any]:
    """What the tables were built from: the grammar's hash, Lark's version, the file format."""
    import lark

    return {"format": FORMAT, "grammar_sha256": hashlib.sha256(grammar_text.encode("utf-8")).hexdigest(),
            "lark": lark.__version__}


def encode(value: Any) -> Any:
    """`value` as JSON data; a tuple becomes `{"__t": [...]}`, a dict with a key that is not a
    string (or that a tag would misread) `{"__d": [[key, value], ...]}` (JSON keys are strings only)."""
    if isinstance(value, dict):
        if all(type(k) is str for k in value) and not (len(value) == 1 and _TAGS & value.keys()):
            return {k: encode(v) for k, v in value.items()}
        return {"__d": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"__t": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if value is None or type(value) in (str, int, bool):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in the parser tables")


_TAGS = frozenset({"__t", "__d"})


def _revive(obj: dict) -> Any:
    """The `json.loads` hook undoing `encode` for one object (inner values are already done)."""
    if len(obj) == 1:
        if "__t" in obj:
            return tuple(obj["__t"])
        if "__d" in obj:
            return {_key(k): v for k, v in obj["__d"]}
    return obj


def _key(key: Any) -> Any:
    """A dict key as Python needs it: hashable (a list from JSON becomes a tuple)."""
    return tuple(key) if isinstance(key, list) else key


def decode(text: str) -> Any:
    """The data `encode` stored, from the JSON text: plain values only, no code runs."""
    return json.loads(text, object_hook=_revive)


def build(grammar_text: str, **callbacks: Any):
    """A Lark parser built from the grammar text (about a second); `callbacks`: the
    `lexer_callbacks` and `postlex` options."""
    import lark

    return lark.Lark(grammar_text, **OPTIONS, **callbacks)


def dump(grammar_text: str) -> str:
    """The tables of a fresh build of `grammar_text`, as the JSON text of the shipped file."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    data, memo = build(grammar_text).memo_serialize([TerminalDef, Rule])
    data["options"] = {k: v for k, v in data["options"].items()
                       if k not in ("postlex", "lexer_callbacks", "transformer")}
    data["parser"]["parser"] = canonical(data["parser"]["parser"])
    document = {"built_from": fingerprint(grammar_text), "data": encode(data), "memo": encode(memo)}
    return json.dumps(document, separators=(",", ":")) + "\n"


def canonical(table: dict) -> dict:
    """The serialized LALR table with its states and tokens numbered in one fixed order.

    Lark numbers the states in the order of sets hashed by object identity, so two builds of
    one grammar give the same automaton under different numbers. Here the tokens are numbered
    by name and the states in breadth-first order from the start states, following the actions
    by token name: equal automata give equal files.
    """
    names, states = table["tokens"], table["states"]
    token_ids = {name: i for i, name in enumerate(sorted(names.values()))}
    order = [table["start_states"][start] for start in sorted(table["start_states"])]
    number = {state: i for i, state in enumerate(dict.fromkeys(order))}
    order = list(number)
    for state in order:  # grows while it is walked: breadth-first
        for token in sorted(states[state], key=names.__getitem__):
            action, arg = states[state][token]
            if action == 0 and arg not in number:  # a shift (or a goto) to a state not yet seen
                number[arg] = len(number)
                order.append(arg)
    assert len(number) == len(states), "every state is reachable from a start state"
    return {
        "tokens": {i: name for name, i in token_ids.items()},
        "states": {number[state]: {token_ids[names[token]]: (action, number[arg] if action == 0 else arg)
                                   for token, (action, arg) in sorted(states[state].items(),
                                                                     key=lambda item: names[item[0]])}
                   for state in order},
        "start_states": {k: number[v] for k, v in sorted(table["start_states"].items())},
        "end_states": {k: number[v] for k, v in sorted(table["end_states"].items())},
    }


def load(grammar_text: str, **callbacks: Any):
    """The parser from the shipped tables, or None when they are missing or were built from
    another grammar or Lark version (the caller then builds it)."""
    import lark

    try:
        text = resources.files(__package__).joinpath(TABLES_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    document = decode(text)
    if not isinstance(document, dict) or document.get("built_from") != fingerprint(grammar_text):
        return None
    return lark.Lark._load_from_dict(document["data"], document["memo"], **callbacks)


def main() -> None:
    """Write the tables file beside the grammar (the regenerate command)."""
    path = Path(__file__).with_name(TABLES_FILE)
    grammar_text = path.with_name("polyprompt.lark").read_text(encoding="utf-8")
    path.write_text(dump(grammar_text), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
