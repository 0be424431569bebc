"""The AST builder's rules for tests, datasets, targets and the flat tags of the text syntax.

A mixin of `compiler.build.AstBuilder` (one method per grammar rule, called as
`rule(meta, children)`), kept apart so each module stays small. `_Marker` and `_pick` are how
a rule hands an optional child to its parent.
"""
from __future__ import annotations

from lark import Token

from . import ast, text


class _Marker:
    """Wraps an optional child so the builder can tell which ones are present."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value):
        self.kind, self.value = kind, value


def _pick(children, kind, default=None):
    for c in children:
        if isinstance(c, _Marker) and c.kind == kind:
            return c.value
    return default


class DeclRules:
    """Rule methods of `AstBuilder` for test, dataset and target declarations and the text tags;
    they use the builder's helpers (`sp`, `ident`, `string`, `number`, `nodes`)."""

    # -- tests, datasets, targets
    def binding(self, meta, children):
        """`name = value` in a test or dataset."""
        return ast.Binding(name=self.ident(children[0]), value=children[1], span=self.sp(meta))

    def expect_item(self, meta, children):
        """`expect condition`."""
        return ast.Expect(expr=children[0], span=self.sp(meta))

    def reply_item(self, meta, children):
        """`reply value`."""
        return ast.Reply(value=children[0], span=self.sp(meta))

    def test_decl(self, meta, children):
        """`test prompt "title" { ... }`."""
        title = self.tokens(children, "ESTRING")
        return ast.TestDecl(prompt=self.ident(children[0]), title=self.string(title[0]) if title else None,
                            items=self.nodes(children), span=self.sp(meta))

    def split_item(self, meta, children):
        """`split NAME P% seed N`."""
        seed = self.tokens(children, "INT")
        return ast.Split(name=self.ident(children[0]), percent=float(self.number(children[1], str(children[1])[:-1])),
                         seed=int(self.number(seed[0])) if seed else None, span=self.sp(meta))

    def where_item(self, meta, children):
        """`where condition`."""
        return ast.Where(expr=children[0], span=self.sp(meta))

    def limit_item(self, meta, children):
        """`limit N`."""
        return ast.Limit(count=int(self.number(children[0])), span=self.sp(meta))

    def weight_item(self, meta, children):
        """`weight X`."""
        return ast.Weight(value=float(self.number(children[0])), span=self.sp(meta))

    def teacher_item(self, meta, children):
        """`teacher "target"`."""
        return ast.Teacher(target=self.string(children[0]), span=self.sp(meta))

    def dataset_decl(self, meta, children):
        """`dataset prompt "title" from "path" { ... }` (the title is optional)."""
        strings = self.tokens(children, "ESTRING")
        title, source = (strings[0], strings[1]) if len(strings) == 2 else (None, strings[0])
        return ast.DatasetDecl(prompt=self.ident(children[0]), title=self.string(title) if title else None,
                               source=self.string(source), items=self.nodes(children), span=self.sp(meta))

    def caps_item(self, meta, children):
        """`caps { ... }` in a target declaration."""
        return ast.Caps(settings=_pick(children, "settings", ()), span=self.sp(meta))

    def target_decl(self, meta, children):
        """`target name "backend" { ... }`."""
        return ast.TargetDecl(name=self.ident(children[0]), backend=self.string(children[1]),
                              items=self.nodes(children), span=self.sp(meta))

    # -- the text syntax (flat; compiler.text nests it)
    def template(self, meta, children):
        """A string's content as flat pieces: raw text, tags and comments, for `compiler.text` to nest."""
        flat = []
        for c in children:
            if isinstance(c, Token) and c.type == "TEXT":
                flat.append(text.RawText(str(c), c.start_pos + self.offset, c.end_pos + self.offset))
            elif isinstance(c, Token):  # TAG_COMMENT
                flat.append(text.RawTag("comment", c.start_pos + self.offset, c.end_pos + self.offset))
            else:
                flat.append(c)
        return flat

    def _tag(self, kind, meta, expr=None, var=None):
        span = self.sp(meta)
        return text.RawTag(kind, span.start, span.end, expr=expr, var=var)

    def interp(self, meta, children):
        """`{{ expr }}`, as a flat tag."""
        return self._tag("interp", meta, children[0])

    def tag_if(self, meta, children):
        """`{% if cond %}`, as a flat tag."""
        return self._tag("if", meta, children[0])

    def tag_elif(self, meta, children):
        """`{% elif cond %}`, as a flat tag."""
        return self._tag("elif", meta, children[0])

    def tag_else(self, meta, children):
        """`{% else %}`, as a flat tag."""
        return self._tag("else", meta)

    def tag_for(self, meta, children):
        """`{% for x in xs %}`, as a flat tag."""
        return self._tag("for", meta, children[1], self.ident(children[0]))

    def tag_end(self, meta, children):
        """`{% end %}`, as a flat tag."""
        return self._tag("end", meta)
