"""Print an AST back as canonical `.prompt` source: the formatter.

`format_module` keeps every `//` comment: a comment before a line-level node
(declaration, statement, field, member, setting...) stays before it, a comment
at the end of a node's last line stays there, and a comment inside a node that
prints on one line moves to the line above it. Message text is never reflowed:
a `\"\"\"` string is only re-indented to its statement, which keeps its value.
The printer is also the oracle of pass tests: `parse(print(tree)) == tree`.
"""
from __future__ import annotations

import json
import re

from . import ast

INDENT = "  "
WIDTH = 100

# Binding strength of expression nodes, loosest first.
_PREC = {ast.Or: 1, ast.And: 2, ast.Not: 3, ast.Compare: 4, ast.Filter: 5}


def quote(value: str) -> str:
    """A string literal in canonical double quotes."""
    return json.dumps(value, ensure_ascii=False)


def number(value) -> str:
    """A number literal as written back: Python's `repr`, which the grammar reads as the same value."""
    return repr(value)


class Printer:
    """Prints one module as canonical source, placing its comments as it goes (see the module docstring)."""
    def __init__(self, module: ast.Module):
        self.comments = sorted(module.comments, key=lambda c: c.span.start)
        self.next_comment = 0
        self.out: list[str] = []
        self.text = module.span.file.text if module.span else ""
        self.last_end: int | None = None  # source end of the last node printed

    # ---------------------------------------------------------------- comments
    def leading(self, before: int, indent: str) -> None:
        """Emit, at `indent`, the comments not yet printed that start before offset `before`."""
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].span.start < before:
            comment = self.comments[self.next_comment]
            self.keep_blank_line(comment.span.start)
            self.out.append(indent + comment.text.rstrip())
            self.last_end = comment.span.end
            self.next_comment += 1

    def trailing(self, end: int) -> str:
        """The comment on the same line right after `end`, if any."""
        if self.next_comment >= len(self.comments) or end is None:
            return ""
        c = self.comments[self.next_comment]
        between = self.text[end : c.span.start]
        if c.span.start >= end and "\n" not in between and not between.strip():
            self.next_comment += 1
            return "  " + c.text.rstrip()
        return ""

    def line(self, indent: str, content: str, node: ast.Node | None, leaf: bool = True) -> None:
        """Emit one line-level node: its comments, its text, a trailing comment."""
        span = node.span if node is not None else None
        if span is not None:
            self.keep_blank_line(span.start)
            self.leading(span.end if leaf else span.start, indent)
            self.last_end = span.end if leaf else span.start
        lines = content.split("\n")
        lines[-1] += self.trailing(span.end) if span is not None and leaf else ""
        self.out.extend(indent + l if l else l for l in lines[:1])
        self.out.extend(lines[1:])

    # ---------------------------------------------------------------- module
    def module(self, module: ast.Module) -> str:
        """The module's canonical source: declarations apart by a blank line (imports together), comments kept."""
        previous = None
        for decl in module.decls:
            if previous is not None and not (isinstance(previous, ast.Import) and isinstance(decl, ast.Import)):
                self.out.append("")
            self.last_end = None
            self.decl(decl)
            previous = decl
        if self.next_comment < len(self.comments):
            if self.out:
                self.out.append("")
            self.leading(len(self.text) + 1, "")
        return "\n".join(self.out).rstrip("\n") + "\n" if self.out else ""

    def decl(self, decl) -> None:
        """Print one declaration."""
        getattr(self, "_" + type(decl).__name__)(decl)

    def _Import(self, d: ast.Import) -> None:
        s = "import " + (d.module if d.module is not None else quote(d.path or ""))  # one of the two is set
        if d.alias:
            s += f" as {d.alias.name}"
        if d.names is not None:
            items = ", ".join(n.name.name + (f" as {n.alias.name}" if n.alias else "") for n in d.names)
            s += " { " + items + " }" if items else " {}"
        self.line("", s, d)

    def _desc(self, description: str | None) -> str:
        return f" {quote(description)}" if description is not None else ""

    def _RecordDecl(self, d: ast.RecordDecl) -> None:
        self.line("", f"type {d.name.name}{self._desc(d.description)} {{", d, leaf=False)
        for f in d.fields:
            self.line(INDENT, self.field(f), f)
        self.close("", d)

    def close(self, indent: str, node: ast.Node) -> None:
        """Emit the closing `}` of a block node, after the comments left inside it."""
        self.leading(node.span.end - 1, indent + INDENT)
        self.out.append(indent + "}" + self.trailing(node.span.end))
        self.last_end = node.span.end

    def keep_blank_line(self, start: int) -> None:
        """Keep one blank line where the source had one or more between two nodes."""
        if self.last_end is None or not self.out or not self.out[-1].strip() or self.out[-1].endswith("{"):
            return
        if re.search(r"\n[ \t]*\n", self.text[self.last_end : start]):
            self.out.append("")

    def field(self, f: ast.Field) -> str:
        """A field or parameter: `name?: Type = default "description"`."""
        s = f"{f.name.name}{'?' if f.optional else ''}: {self.type(f.type)}"
        if f.default is not None:
            s += " = " + self.expr(f.default)
        return s + self._desc(f.description)

    def _AliasDecl(self, d: ast.AliasDecl) -> None:
        self.line("", f"type {d.name.name} = {self.type(d.type)}{self._desc(d.description)}", d)

    def _EnumDecl(self, d: ast.EnumDecl) -> None:
        head = f"enum {d.name.name}{self._desc(d.description)}"
        inline = head + " { " + ", ".join(m.name.name for m in d.members) + " }"
        simple = all(m.description is None for m in d.members) and not self._comments_inside(d)
        if simple and len(inline) <= WIDTH:
            self.line("", inline, d)
            return
        self.line("", head + " {", d, leaf=False)
        for m in d.members:
            self.line(INDENT, m.name.name + self._desc(m.description), m)
        self.close("", d)

    def _comments_inside(self, node: ast.Node) -> bool:
        return any(node.span.start < c.span.start < node.span.end for c in self.comments[self.next_comment:])

    def params(self, params, indent: str) -> str:
        """A parameter list in parentheses: on one line when short, else one parameter a line."""
        inline = ", ".join(self.field(p) for p in params)
        if len(inline) <= 70:
            return f"({inline})"
        inner = indent + INDENT
        return "(\n" + "".join(f"{inner}{self.field(p)},\n" for p in params) + indent + ")"

    def returns(self, t) -> str:
        """` -> Type`, or "" when there is no return type."""
        return f" -> {self.type(t)}" if t is not None else ""

    def _ToolDecl(self, d: ast.ToolDecl) -> None:
        self.line("", f"{'strict ' * d.strict}tool {d.name.name}{self.params(d.params, '')}{self.returns(d.returns)}{self._desc(d.description)}", d)

    def _PromptDecl(self, d: ast.PromptDecl) -> None:
        self.line("", f"prompt {d.name.name}{self.params(d.params, '')}{self.returns(d.returns)} {{", d, leaf=False)
        self.statements(d.body, INDENT)
        self.close("", d)

    def _FragmentDecl(self, d: ast.FragmentDecl) -> None:
        head = f"fragment {d.name.name}{self.params(d.params, '')}"
        if d.text is not None:
            self.line("", head + " " + self.template(d.text, ""), d)
            return
        self.line("", head + " {", d, leaf=False)
        self.statements(d.body or (), INDENT)
        self.close("", d)

    def _TestDecl(self, d: ast.TestDecl) -> None:
        self._items(d, "test", "")

    def _DatasetDecl(self, d: ast.DatasetDecl) -> None:
        self._items(d, "dataset", f" from {quote(d.source)}")

    def _items(self, d, keyword: str, tail: str) -> None:
        """A test or dataset block: a header naming the prompt, then one item a line."""
        title = f" {quote(d.title)}" if d.title is not None else ""
        self.line("", f"{keyword} {d.prompt.name}{title}{tail} {{", d, leaf=False)
        for item in d.items:
            self.line(INDENT, self.item(item), item)
        self.close("", d)

    def _TargetDecl(self, d: ast.TargetDecl) -> None:
        self.line("", f"target {d.name.name} {quote(d.backend)} {{", d, leaf=False)
        for item in d.items:
            if isinstance(item, ast.ModelStmt):
                self.line(INDENT, self.model(item), item)
            elif isinstance(item, ast.Caps):
                self.line(INDENT, "caps " + self.settings(item.settings), item)
            else:
                self.line(INDENT, self.setting(item), item)
        self.close("", d)

    def item(self, item) -> str:
        """One item of a test or dataset (binding, expect, reply, split, where...) as source."""
        if isinstance(item, ast.Binding):
            return f"{item.name.name} = {self.value(item.value, INDENT, len(item.name.name) + 3)}"
        if isinstance(item, ast.Expect):
            return f"expect {self.expr(item.expr)}"
        if isinstance(item, ast.Reply):
            return f"reply {self.value(item.value, INDENT, 6)}"
        if isinstance(item, ast.Split):
            seed = f" seed {item.seed}" if item.seed is not None else ""
            return f"split {item.name.name} {item.percent:g}%{seed}"
        if isinstance(item, ast.Where):
            return f"where {self.expr(item.expr)}"
        if isinstance(item, ast.Limit):
            return f"limit {item.count}"
        if isinstance(item, ast.Weight):
            return f"weight {item.value:g}"
        if isinstance(item, ast.Teacher):
            return f"teacher {quote(item.target)}"
        raise TypeError(type(item).__name__)

    # ---------------------------------------------------------------- statements
    def statements(self, body, indent: str) -> None:
        """Print each statement of a body at `indent`."""
        for stmt in body:
            getattr(self, "_s_" + type(stmt).__name__)(stmt, indent)

    def block(self, head: str, node, body, indent: str) -> None:
        """Print `head {` and the statements of `body` inside it (the caller closes the block)."""
        self.line(indent, head + " {", node, leaf=False)
        self.statements(body, indent + INDENT)

    def _s_ModelStmt(self, s: ast.ModelStmt, indent: str) -> None:
        self.line(indent, self.model(s), s)

    def model(self, s: ast.ModelStmt) -> str:
        """A `model` statement: the model id and the settings braces, either left out when absent."""
        out = "model"
        if s.model is not None:
            out += " " + quote(s.model)
        if s.settings or s.model is None:
            out += " " + self.settings(s.settings)
        return out

    def settings(self, settings) -> str:
        """`{ name: value, ... }`, or `{}`."""
        if not settings:
            return "{}"
        return "{ " + ", ".join(self.setting(s) for s in settings) + " }"

    def setting(self, s: ast.Setting) -> str:
        """`name: value`."""
        return f"{s.name.name}: {self.expr(s.value)}"

    def _s_ToolsStmt(self, s: ast.ToolsStmt, indent: str) -> None:
        self.line(indent, "tools " + ", ".join(t.name for t in s.tools), s)

    def _s_Message(self, s: ast.Message, indent: str) -> None:
        self.line(indent, s.role + " " + self.parts(s.parts, s.braced, indent), s)

    def parts(self, parts, braced: bool, indent: str) -> str:
        """A message's parts: its one string, or `{ parts }` on one line when short, else one part a line."""
        if not braced:
            return self.template(parts[0], indent)
        printed = [self.template(p, indent + INDENT) if isinstance(p, ast.Template) else self.media(p) for p in parts]
        if not any("\n" in p for p in printed) and sum(len(p) + 1 for p in printed) < 70:
            return "{ " + " ".join(printed) + " }" if printed else "{}"
        inner = indent + INDENT
        return "{\n" + "".join(inner + p + "\n" for p in printed) + indent + "}"

    def media(self, m: ast.Media) -> str:
        """`image(expr)`, `audio(expr)` or `file(expr)`."""
        return f"{m.kind}({self.expr(m.expr)})"

    def _s_ToolCall(self, s: ast.ToolCall, indent: str) -> None:
        cid = f" id {self.expr(s.call_id)}" if s.call_id is not None else ""
        self.line(indent, f"tool_call {s.tool.name}({self.args(s.args)}){cid}", s)

    def _s_ToolResult(self, s: ast.ToolResult, indent: str) -> None:
        cid = f" id {self.expr(s.call_id)}" if s.call_id is not None else ""
        self.line(indent, f"tool_result {s.tool.name}{cid} " + self.parts(s.parts, s.braced, indent), s)

    def _s_History(self, s: ast.History, indent: str) -> None:
        self.line(indent, "history" + (f" {s.param.name}" if s.param else ""), s)

    def _s_Cache(self, s: ast.Cache, indent: str) -> None:
        self.line(indent, "cache" + (f" {quote(s.ttl)}" if s.ttl is not None else ""), s)

    def _s_Budget(self, s: ast.Budget, indent: str) -> None:
        self.line(indent, f"budget {s.tokens}", s)

    def _s_Priority(self, s: ast.Priority, indent: str) -> None:
        self.block(f"priority {s.level}", s, s.body, indent)
        self.close(indent, s)

    def _s_Use(self, s: ast.Use, indent: str) -> None:
        self.line(indent, f"use {'.'.join(i.name for i in s.fragment)}({self.args(s.args)})", s)

    def _s_For(self, s: ast.For, indent: str) -> None:
        self.block(f"for {s.var.name} in {self.expr(s.iterable)}", s, s.body, indent)
        self.close(indent, s)

    def _s_If(self, s: ast.If, indent: str) -> None:
        (cond, body), rest = s.branches[0], s.branches[1:]
        self.block(f"if {self.expr(cond)}", s, body, indent)
        for cond, body in rest:
            self.leading(cond.span.start, indent + INDENT)
            self.out.append(f"{indent}}} elif {self.expr(cond)} {{")
            self.statements(body, indent + INDENT)
        if s.orelse is not None:
            first = s.orelse[0].span.start if s.orelse else s.span.end - 1
            self.leading(first, indent + INDENT)
            self.out.append(f"{indent}}} else {{")
            self.statements(s.orelse, indent + INDENT)
        self.close(indent, s)

    def _s_TargetBlock(self, s: ast.TargetBlock, indent: str) -> None:
        self.block(f"target {quote(s.target)}", s, s.body, indent)
        self.close(indent, s)

    # ---------------------------------------------------------------- text
    def template(self, t: ast.Template, indent: str) -> str:
        """The string as written; a block string is re-indented to `indent` + 2."""
        return self.block_string(t.raw, indent) if t.block else t.raw

    def block_string(self, raw: str, indent: str) -> str:
        """A triple-quoted string re-indented to `indent` + 2 (relative indentation kept); as written when its text
        runs into the closing quotes."""
        if "\n" not in raw:
            return raw
        content = raw[3:-3]
        head, _, rest = content.partition("\n")
        head = head if head.strip(" \t") else ""  # spaces after the opening quotes are dropped
        lines = rest.split("\n")
        old = lines[-1]
        if old.strip(" \t") != "":
            return raw  # text runs into the closing quotes: its indentation is literal
        new = indent + INDENT
        body = [(new + line[len(old):]) if line.startswith(old) and line.strip(" \t") else "" for line in lines[:-1]]
        return '"""' + head + "\n" + "".join(line + "\n" for line in body) + new + '"""'

    # ---------------------------------------------------------------- types and expressions
    def type(self, t: ast.TypeExpr) -> str:
        """A type expression as source; an optional union in parentheses."""
        if isinstance(t, ast.NamedType):
            return t.name
        if isinstance(t, ast.GenericType):
            return f"{t.name}[{', '.join(self.type(a) for a in t.args)}]"
        if isinstance(t, ast.OptionalType):
            inner = self.type(t.inner)
            return f"({inner})?" if isinstance(t.inner, ast.UnionType) else inner + "?"
        if isinstance(t, ast.LiteralType):
            return quote(t.value) if isinstance(t.value, str) else number(t.value)
        if isinstance(t, ast.UnionType):
            return " | ".join(f"({self.type(o)})" if isinstance(o, ast.UnionType) else self.type(o) for o in t.options)
        raise TypeError(type(t).__name__)

    def args(self, args) -> str:
        """Call arguments, `name = value` for the named ones, comma-separated."""
        return ", ".join((f"{a.name.name} = " if a.name else "") + self.expr(a.value) for a in args)

    def expr(self, e: ast.Expr, need: int = 0) -> str:
        """An expression as source, in parentheses when it binds looser than `need` (a precedence level)."""
        prec = _PREC.get(type(e), 9)
        s = self._expr(e)
        return f"({s})" if prec < need else s

    def value(self, e: ast.Expr, indent: str, used: int) -> str:
        """An expression that starts `used` columns into a line at `indent`:
        a list or record literal too long for the line gets one item per line."""
        if isinstance(e, ast.Literal) and e.block is not None:
            return self.block_string(e.block, indent)
        flat = self.expr(e)
        if len(indent) + used + len(flat) <= WIDTH or not isinstance(e, (ast.ListLit, ast.RecordLit)):
            return flat
        inner = indent + INDENT
        if isinstance(e, ast.ListLit):
            items = [self.value(i, inner, 0) for i in e.items]
            return "[\n" + "".join(f"{inner}{i},\n" for i in items) + indent + "]"
        items = []
        for key, v in e.entries:
            k = key.name if key.name.isidentifier() else quote(key.name)
            items.append(f"{k}: {self.value(v, inner, len(k) + 2)}")
        return "{\n" + "".join(f"{inner}{i},\n" for i in items) + indent + "}"

    def _expr(self, e: ast.Expr) -> str:
        if isinstance(e, ast.Literal):
            if e.value is None:
                return "null"
            if isinstance(e.value, bool):
                return "true" if e.value else "false"
            return quote(e.value) if isinstance(e.value, str) else number(e.value)
        if isinstance(e, ast.Name):
            return e.name
        if isinstance(e, ast.ListLit):
            return "[" + ", ".join(self.expr(i) for i in e.items) + "]"
        if isinstance(e, ast.RecordLit):
            if not e.entries:
                return "{}"
            keys = [k.name if k.name.isidentifier() else quote(k.name) for k, _ in e.entries]
            return "{ " + ", ".join(f"{k}: {self.expr(v)}" for k, (_, v) in zip(keys, e.entries)) + " }"
        if isinstance(e, ast.GetAttr):
            return f"{self.expr(e.obj, 9)}.{e.attr.name}"
        if isinstance(e, ast.GetItem):
            return f"{self.expr(e.obj, 9)}[{self.expr(e.index)}]"
        if isinstance(e, ast.Call):
            return f"{self.expr(e.func, 9)}({self.args(e.args)})"
        if isinstance(e, ast.Filter):
            args = f"({self.args(e.args)})" if e.args else ""
            return f"{self.expr(e.value, 5)} | {e.name.name}{args}"
        if isinstance(e, ast.Compare):
            return f"{self.expr(e.left, 5)} {e.op} {self.expr(e.right, 5)}"
        if isinstance(e, ast.Not):
            return f"not {self.expr(e.operand, 3)}"
        if isinstance(e, ast.And):
            return " and ".join(self.expr(i, 3) for i in e.items)
        if isinstance(e, ast.Or):
            return " or ".join(self.expr(i, 2) for i in e.items)
        raise TypeError(type(e).__name__)


def format_module(module: ast.Module) -> str:
    """Canonical source for a parsed module (which must have no syntax errors)."""
    return Printer(module).module(module)
