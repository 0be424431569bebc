"""The renderer of a prompt as generated Python: inputs + target -> the IR's messages.

Like Jinja, a prompt is compiled to Python source once; a render is then string building and a
call per statement that writes something (`out`, a `RenderState` of compiler/render.py: it
merges parallel tool calls, pairs results with calls, applies priorities). Fragments become
functions of their own, written once however often they are used.
"""
from __future__ import annotations

from typing import Any, Callable, cast

from .. import ast
from ..check.consts import constant_value
from ..runtime import load_source
from ..statics import FragmentRef, Statics
from .source import Exprs, Source, Unsupported


def compile_render(decl: ast.PromptDecl, statics: Statics, tool: Callable[[Any], Any]) -> Callable:
    """`render(inputs, out)` for a prompt: writes its messages, settings and tools to `out`.

    `tool(symbol)` gives the IR definition of a tool (compiler/render.py `tool_definition`).
    """
    source = Source()
    gen = Statements(source, statics, {}, tool)
    lines = ["def render(inputs, out):", "    v_target = out.target.value"]
    for p in decl.params:
        var = gen.locals[p.name.name] = gen.var(p.name.name)
        lines.append(f"    {var} = inputs[{p.name.name!r}]")
    gen.locals.setdefault("target", "v_target")  # a parameter named `target` wins, as in the checker
    lines += gen.block(decl.body, 1)
    text = source.text("\n".join(lines))
    return load_source(text, {**source.globals, **_IR}, decl.name.name)


def _ir_names() -> dict:
    from .. import ir

    return {"_Text": ir.Text, "_Message": ir.Message}


_IR = _ir_names()


class Statements(Exprs):
    """Writes the code of statements."""

    def __init__(self, source: Source, statics: Statics, locals_: dict[str, str], tool: Callable[[Any], Any]):
        super().__init__(source, statics, locals_)
        self.tool = tool

    def for_module(self, statics: Statics) -> "Statements":
        return Statements(self.source, statics, {}, self.tool)

    def block(self, body, depth: int) -> list[str]:
        out: list[str] = []
        for stmt in body:
            out += getattr(self, "_" + type(stmt).__name__ + "_stmt")(stmt, depth)
        return out or ["    " * depth + "pass"]

    def const(self, value: Any) -> str:
        """The code of a compile-time value (`Source.const`)."""
        return self.source.const(value)

    # ---------------------------------------------------------------- messages
    def parts(self, parts, depth: int, into: str) -> list[str]:
        """Lines building the tuple `into` of a message's parts: text always, media when given."""
        pad = "    " * depth
        if len(parts) == 1 and isinstance(parts[0], ast.Template):
            return self.template(parts[0], depth, "t") + [
                pad + f"{into} = (_Text(text=t, span={self.const(parts[0].span)}),)"]
        lines = [pad + f"{into} = []"]
        for part in parts:
            if isinstance(part, ast.Template):
                lines += self.template(part, depth, "t")
                lines.append(pad + f"{into}.append(_Text(text=t, span={self.const(part.span)}))")
            else:
                lines.append(pad + f"x = {self.expr(part.expr)}")
                lines.append(pad + "if x:")
                lines.append(pad + f"    {into}.append(out.media({part.kind!r}, x, {self.const(part.expr.span)}, "
                                   f"{self.const(part.span)}))")
        return lines + [pad + f"{into} = tuple({into})"]

    def _Message_stmt(self, s: ast.Message, depth: int) -> list[str]:
        pad = "    " * depth
        return self.parts(s.parts, depth, "parts") + [
            pad + f"out.add(_Message(role={s.role!r}, parts=parts, span={self.const(s.span)}))"]

    def _ToolCall_stmt(self, s: ast.ToolCall, depth: int) -> list[str]:
        pad = "    " * depth
        sym = self.statics.scope.names[s.tool.name]
        params = cast(ast.ToolDecl, sym.decl).params
        given: dict[str, str] = {}
        for param, arg in zip(params, [a for a in s.args if a.name is None]):
            given[param.name.name] = self.expr(arg.value)
        for arg in s.args:
            if arg.name is not None:
                given[arg.name.name] = self.expr(arg.value)
        # the arguments in the order the call has always had: defaulted parameters, then those given
        defaults = [f"{p.name.name!r}: {self.const(constant_value(p.default))}" for p in params
                    if p.default is not None and p.name.name not in given]
        args = "{" + ", ".join(defaults + [f"{k!r}: {v}" for k, v in given.items() if k != "target"]) + "}"
        call_id = f"_text({self.expr(s.call_id)})" if s.call_id is not None else "None"
        return [pad + f"out.tool_call({s.tool.name!r}, {call_id}, {args}, {self.const(s.span)})"]

    def _ToolResult_stmt(self, s: ast.ToolResult, depth: int) -> list[str]:
        pad = "    " * depth
        call_id = f"_text({self.expr(s.call_id)})" if s.call_id is not None else "None"
        return self.parts(s.parts, depth, "parts") + [
            pad + f"out.tool_result({s.tool.name!r}, {call_id}, parts, {self.const(s.span)})"]

    def _History_stmt(self, s: ast.History, depth: int) -> list[str]:
        name = s.param.name if s.param else "history"
        value = self.locals.get(name, "None")
        return ["    " * depth + f"out.splice({value}, {self.const(s.span)})"]

    # ---------------------------------------------------------------- settings and marks
    def _ModelStmt_stmt(self, s: ast.ModelStmt, depth: int) -> list[str]:
        from .. import ir

        settings = {x.name.name: ir.Setting(value=constant_value(x.value), span=x.span) for x in s.settings}
        return ["    " * depth + f"out.set_model({self.const(s.model)}, {self.const(s.span)}, {self.const(settings)})"]

    def _ToolsStmt_stmt(self, s: ast.ToolsStmt, depth: int) -> list[str]:
        tools = [self.tool(self.statics.scope.names[t.name]) for t in s.tools]
        return ["    " * depth + f"out.add_tools({self.const(tools)})"]

    def _Cache_stmt(self, s: ast.Cache, depth: int) -> list[str]:
        return ["    " * depth + f"out.mark_cache({(s.ttl or 'default')!r})"]

    def _Budget_stmt(self, s: ast.Budget, depth: int) -> list[str]:
        return ["    " * depth + f"out.budget = {s.tokens!r}"]

    # ---------------------------------------------------------------- structure
    def _Priority_stmt(self, s: ast.Priority, depth: int) -> list[str]:
        pad, outer = "    " * depth, self.source.name("priority")
        return [pad + f"{outer} = out.priority",
                pad + f"out.priority = {s.level!r} if {outer} is None else min({outer}, {s.level!r})",
                *self.block(s.body, depth),
                pad + f"out.priority = {outer}"]

    def _Use_stmt(self, s: ast.Use, depth: int) -> list[str]:
        func: ast.Expr = ast.Name(name=s.fragment[0].name, span=s.fragment[0].span)
        for part in s.fragment[1:]:
            func = ast.GetAttr(obj=func, attr=part, span=part.span)
        ref = self.static(func)
        if not isinstance(ref, FragmentRef):
            raise Unsupported("use")
        function = self.fragment_function(ref.symbol, "body")
        params = cast(ast.FragmentDecl, ref.symbol.decl).params
        return ["    " * depth + f"{function}(out, {self.call_args(params, s.args)})"]

    def _For_stmt(self, s: ast.For, depth: int) -> list[str]:
        return self.for_statement(s, depth)

    def _If_stmt(self, s: ast.If, depth: int) -> list[str]:
        return self.if_statement(s, depth)

    def _TargetBlock_stmt(self, s: ast.TargetBlock, depth: int) -> list[str]:
        return ["    " * depth + f"if out.target.matches({s.target!r}):", *self.block(s.body, depth + 1)]
