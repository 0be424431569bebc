"""The AST walkers (compiler/visit.py) on the real example and stdlib files."""
from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyprompt.compiler import ast
from polyprompt.compiler.visit import NodeTransformer, NodeVisitor, child_fields, iter_children, node_at, walk

from helpers import EXAMPLES, REPO, parse, prompt_files

FILES = prompt_files()
_TREES: dict = {}


def tree(path):
    """The parsed module of a file (parsed once per test run) and its text."""
    if path not in _TREES:
        text = path.read_text(encoding="utf-8")
        module, diagnostics = parse(text, str(path))
        assert not [d for d in diagnostics if d.is_error], path
        _TREES[path] = module, text
    return _TREES[path]


def every_node(value, out: list) -> list:
    """Every node reachable through any field of any node: the walkers' oracle, blind to annotations."""
    if isinstance(value, ast.Node):
        out.append(value)
        for field in attrs.fields(type(value)):
            if field.name != "span":
                every_node(getattr(value, field.name), out)
    elif isinstance(value, (tuple, list)):
        for item in value:
            every_node(item, out)
    return out


def test_child_fields_come_from_the_annotations():
    assert child_fields(ast.PromptDecl) == ("name", "params", "returns", "body")
    assert child_fields(ast.RecordLit) == ("entries",)  # tuple of (Ident, Expr) pairs
    assert child_fields(ast.IfBlock) == ("branches", "orelse")  # `Piece`, a union alias
    assert child_fields(ast.Module) == ("decls", "comments")  # not `skipped` (spans)
    assert child_fields(ast.Literal) == () and child_fields(ast.Template) == ("pieces",)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_node_is_walked_and_visited_once(path):
    module, _ = tree(path)
    expected = every_node(module, [])
    walked = list(walk(module))
    assert [id(n) for n in walked] == [id(n) for n in expected]  # the same nodes, in the same order

    class Count(NodeVisitor):
        def __init__(self):
            self.seen = []

        def generic_visit(self, node):
            self.seen.append(id(node))
            super().generic_visit(node)

    count = Count()
    count.visit(module)
    assert count.seen == [id(n) for n in walked] and len(set(count.seen)) == len(walked)


def test_a_visit_method_replaces_the_generic_walk_below_its_node():
    module, _ = tree(EXAMPLES / "ticket_triage.prompt")

    class Names(NodeVisitor):
        def __init__(self):
            self.names, self.calls = [], 0

        def visit_Name(self, node):
            self.names.append(node.name)

        def visit_Call(self, node):  # its callee and arguments are not visited
            self.calls += 1

    names = Names()
    names.visit(module)
    assert names.calls == 1 and "house_tone" not in names.names
    assert names.names[:3] == ["product", "plan", "plan"]


CHAINS = {  # a piece of ticket_triage.prompt -> the node classes from the module to the innermost
    "house_tone() }}": ["Module", "PromptDecl", "Message", "Template", "Interp", "Call", "Name"],
    "upper }}": ["Module", "PromptDecl", "Message", "Template", "Interp", "Filter", "Ident"],
    "You are the first-line": ["Module", "PromptDecl", "Message", "Template", "Text"],
    '"enterprise" %}': ["Module", "PromptDecl", "Message", "Template", "IfBlock", "Compare", "Literal"],
    "subject: str": ["Module", "PromptDecl", "Field", "Ident"],
    "str,\n  body": ["Module", "PromptDecl", "Field", "NamedType"],
    '"gpt-4o-mini"': ["Module", "PromptDecl", "ModelStmt"],
    "temperature: 0": ["Module", "PromptDecl", "ModelStmt", "Setting", "Ident"],
    'billing "charges': ["Module", "EnumDecl", "EnumMember", "Ident"],
    "// ticket_triage": ["Module", "Comment"],
}


@pytest.mark.parametrize("piece", CHAINS)
def test_node_at_names_strings_and_template_pieces(piece):
    module, text = tree(EXAMPLES / "ticket_triage.prompt")
    offset = text.index(piece)
    chain = node_at(module, offset)
    assert [type(n).__name__ for n in chain] == CHAINS[piece]
    assert chain[-1].span.start <= offset < chain[-1].span.end


def test_node_at_a_comment_inside_a_declaration_follows_the_comment():
    module, text = tree(EXAMPLES / "release_notes.prompt")
    comment = next(c for c in module.comments if any(d.span.start < c.span.start < d.span.end for d in module.decls))
    assert node_at(module, comment.span.start + 3) == [module, comment]


def test_node_at_outside_the_root_is_empty():
    module, text = tree(EXAMPLES / "ticket_triage.prompt")
    assert node_at(module, len(text)) == [] and node_at(module, -1) == []
    name = node_at(module, text.index("house_tone() }}"))[-1]
    assert node_at(name, name.span.start) == [name] and node_at(name, name.span.end) == []


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FILES), st.floats(-0.01, 1.01))
def test_node_at_is_a_chain_of_nested_spans(path, where):
    module, text = tree(path)
    offset = int(where * len(text))
    chain = node_at(module, offset)
    assert bool(chain) == (0 <= offset < len(text))
    for parent, child in zip(chain, chain[1:]):
        assert any(c is child for c in iter_children(parent))
        assert parent.span.start <= child.span.start and child.span.end <= parent.span.end
    for node in chain:
        assert node.span.start <= offset < node.span.end
    if chain:
        assert not any(c.span.start <= offset < c.span.end for c in iter_children(chain[-1]))


class Rename(NodeTransformer):
    def visit_Name(self, node):
        return attrs.evolve(node, name="fresh") if node.name == "old" else node


def test_transformer_rewrites_what_it_visits_and_shares_the_rest():
    source = 'prompt p(old: str, other: str) {\n  user "{{ old | upper }} {{ other }}"\n  assistant "{{ other }}"\n}\n'
    module, _ = parse(source)
    renamed = Rename().visit(module)
    assert renamed == parse(source.replace("{{ old", "{{ fresh"))[0]
    before, after = module.decls[0].body, renamed.decls[0].body
    assert after[0] is not before[0] and after[1] is before[1]  # the untouched turn is the same object
    assert Rename().visit(renamed) is renamed


def test_transformer_drops_what_returns_none():
    class NoComments(NodeTransformer):
        def visit_Comment(self, node):
            return None

    module, _ = tree(EXAMPLES / "ticket_triage.prompt")
    assert module.comments and NoComments().visit(module).comments == ()
    assert NoComments().visit(module).decls is module.decls


def test_the_checkers_walks_see_through_every_kind_of_nesting():
    from polyprompt.compiler.check.decls import _dynamic, _has_messages

    source = ('prompt p(x: json) {\n  model "m" { temperature: 0 }\n  if x {\n    for y in [1] {\n'
              '      priority 1 { target "anthropic" { user "hi" } }\n    }\n  }\n}\n'
              'dataset p "d" from "d.jsonl" {\n  x = {a: [1, x | default(row.v)]}\n}\n')
    module, _ = parse(source)
    prompt, dataset = module.decls
    assert _has_messages(prompt.body) and not _has_messages(prompt.body[:1])
    binding = dataset.items[0].value
    assert _dynamic(binding) and not _dynamic(parse(source.replace("row.v", "3"))[0].decls[1].items[0].value)
