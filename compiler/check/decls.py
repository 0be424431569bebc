"""Checks of declarations and statements: prompts, fragments, tools, tests,
datasets and targets.

Each prompt or fragment body is checked in an `Env` holding its parameters;
unused parameters are reported at the end (PP240), as is a prompt without any
message (PP243).
"""
from __future__ import annotations

import json
from typing import cast

from .. import ast
from .. import types as T
from ..diagnostics import Sink
from ..span import Span
from ..targets import CAPS_FIELDS, TargetCatalog
from ..visit import walk
from .consts import constant_value, is_constant, is_member_ref
from .exprs import RESERVED_NAMES, TARGET_RECORD, Env, ExprChecker
from .names import ModuleScope, Symbol, TypeResolver, suggest

#: The neutral model settings and their types (docs/language.md, "Model settings").
SETTINGS: dict[str, T.Type] = {
    "temperature": T.FLOAT,
    "top_p": T.FLOAT,
    "top_k": T.INT,
    "max_tokens": T.INT,
    "stop": T.ListT(T.STR),
    "seed": T.INT,
    "presence_penalty": T.FLOAT,
    "frequency_penalty": T.FLOAT,
    "reasoning": T.LiteralT(("none", "minimal", "low", "medium", "high")),
    "reasoning_tokens": T.INT,
    "body": T.JSON,  # a record of the provider's own request-body fields (backends/_fields.py)
}
RANGES = {"temperature": (0, 2), "top_p": (0, 1), "top_k": (1, None), "max_tokens": (1, None),
          "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2), "reasoning_tokens": (0, None)}
RESERVED = RESERVED_NAMES
MESSAGE_STMTS = (ast.Message, ast.ToolCall, ast.ToolResult, ast.History, ast.Use)

#: The names a dataset binds besides the prompt's parameters: the answer to train on, and a
#: preference pair's preferred and non-preferred answers (each a value of the prompt's output type).
DATASET_ANSWERS = ("output", "chosen", "rejected")


class DeclChecker:
    """Checks every declaration of one module."""

    def __init__(self, scope: ModuleScope, sink: Sink, scopes: dict[str, ModuleScope],
                 targets: TargetCatalog | None = None):
        """`targets`: the names and options a `target` declaration may use (empty: none)."""
        self.scope, self.sink, self.scopes = scope, sink, scopes
        self.targets = targets if targets is not None else TargetCatalog()
        self.resolver = TypeResolver(scope, sink, scopes)
        #: fragment name -> fragments it calls, for the recursion check
        self.fragment_calls: dict[str, list[tuple[Symbol, Span]]] = {}

    def check(self) -> None:
        """Check every declaration of the module, then that no fragment calls itself, directly or not."""
        for decl in self.scope.module.tree.decls:
            method = getattr(self, "_" + type(decl).__name__, None)
            if method is not None:
                method(decl)
        self._check_recursion()

    # ---------------------------------------------------------------- helpers
    def env(self, params: tuple[ast.Param, ...] = (), allow_meta: bool = False) -> tuple[Env, dict[str, ast.Param]]:
        """The environment of a body with `params` as its locals (their defaults checked), and the params by name."""
        locals_: dict[str, T.Type] = {}
        seen: dict[str, ast.Param] = {}
        for p in params:
            if p.name.name in seen:
                self.sink.error("PP212", f"parameter `{p.name.name}` is declared twice", p.name.span,
                                help="rename or remove one of them")
                continue
            self.check_name(p.name)
            seen[p.name.name] = p
            t = self.resolver.resolve(p.type, allow_meta=allow_meta)
            locals_[p.name.name] = T.OptionalT(t) if p.optional and not isinstance(t, T.OptionalT) else t
        env = Env(self.scope, self.resolver, self.sink, locals_)
        for p in params:
            if p.default is not None:
                self._default(p, locals_.get(p.name.name, T.UNKNOWN), env)
        return env, seen

    def check_name(self, ident: ast.Ident) -> None:
        """Parameters and loop variables cannot take the words of the expression language."""
        if ident.name in RESERVED:
            self.sink.error("PP213", f"`{ident.name}` is a reserved word and cannot name a value", ident.span,
                            help=f"choose another name, such as `{ident.name}_`")

    def _default(self, param: ast.Param, ptype: T.Type, env: Env) -> None:
        default = param.default
        assert default is not None  # called for a parameter with a default
        if isinstance(T.strip_optional(ptype), T.EnumT) and is_member_ref(default):
            ExprChecker(Env(self.scope, self.resolver, self.sink, {})).check_value(default, ptype)
            return
        if not is_constant(default):
            self.sink.error("PP234", "a default value must be a constant", default.span,
                            help="use a literal, a list or a record of literals")
            return
        ExprChecker(Env(self.scope, self.resolver, self.sink, {})).check_value(default, ptype)

    def _report_unused(self, params: dict[str, ast.Param], env: Env, what: str) -> None:
        for name, p in params.items():
            if name in RESERVED or isinstance(env.locals.get(name), T.UnknownT):
                continue  # already reported (PP213, or a type error in its declaration)
            if name not in env.used and not name.startswith("_"):
                self.sink.warning("PP240", f"parameter `{name}` is never used in {what}", p.name.span,
                                  help=f"use it, remove it, or name it `_{name}`", names=(name,))

    def _type_of(self, texpr) -> T.Type:
        return self.resolver.resolve(texpr, allow_meta=False) if texpr is not None else T.STR

    # ---------------------------------------------------------------- declarations
    def _RecordDecl(self, decl: ast.RecordDecl) -> None:
        env = Env(self.scope, self.resolver, self.sink, {})
        record = self.scope.own.get(decl.name.name)
        for field in decl.fields:
            if field.default is not None and record is not None and record.decl is decl:
                ftype = cast(T.RecordT, record.type).fields.get(field.name.name)  # the symbol of this record
                if (ftype is not None and isinstance(T.strip_optional(ftype.type), T.EnumT)
                        and is_member_ref(field.default)):
                    ExprChecker(env).check_value(field.default, ftype.type)
                elif not is_constant(field.default):
                    self.sink.error("PP234", "a default value must be a constant", field.default.span)
                elif ftype is not None:
                    ExprChecker(env).check_value(field.default, ftype.type)

    def _ToolDecl(self, decl: ast.ToolDecl) -> None:
        env, params = self.env(decl.params)
        for p in decl.params:
            t = env.locals.get(p.name.name)
            if isinstance(T.strip_optional(t), (T.MessagesT, T.MediaT)) if t else False:
                self.sink.error("PP227", f"a tool parameter cannot be of type `{t}`", p.type.span,
                                help="tool arguments are JSON values")
        if decl.returns is not None:
            self._type_of(decl.returns)

    def _PromptDecl(self, decl: ast.PromptDecl) -> None:
        env, params = self.env(decl.params)
        if decl.returns is not None:
            self._type_of(decl.returns)
        env.locals.setdefault("target", TARGET_RECORD)
        self.statements(decl.body, env)
        self._report_unused(params, env, f"prompt `{decl.name.name}`")
        if not _has_messages(decl.body):
            self.sink.warning("PP243", f"prompt `{decl.name.name}` has no messages", decl.name.span,
                              help='add a message such as `user "{{ question }}"`')

    def _FragmentDecl(self, decl: ast.FragmentDecl) -> None:
        env, params = self.env(decl.params, allow_meta=True)
        env.locals.setdefault("target", TARGET_RECORD)
        if decl.text is not None:
            ExprChecker(env).check_template(decl.text)
        else:
            self.statements(decl.body or (), env)
        self.fragment_calls[decl.name.name] = env.calls
        self._report_unused(params, env, f"fragment `{decl.name.name}`")

    def _TargetDecl(self, decl: ast.TargetDecl) -> None:
        unknown = self.targets.unknown(decl.backend)
        if unknown is not None:
            self.sink.error("PP300", f"unknown target `{decl.backend}`", decl.name.span.to(decl.name.span), help=unknown)
        options = self.targets.options()
        for item in decl.items:
            if isinstance(item, ast.ModelStmt):
                self._model(item)
            elif isinstance(item, ast.Caps):
                for s in item.settings:
                    if s.name.name not in CAPS_FIELDS:
                        self.sink.error("PP229", f"unknown capability `{s.name.name}`", s.name.span,
                                        help=suggest(s.name.name, CAPS_FIELDS) or f"capabilities: {', '.join(CAPS_FIELDS)}")
                    self._constant(s.value)
            else:
                if item.name.name not in options:
                    self.sink.warning("PP242", f"unknown target option `{item.name.name}`: no target reads it",
                                      item.name.span, help=suggest(item.name.name, options)
                                      or f"options: {', '.join(options)}")
                option = options.get(item.name.name)
                if self._constant(item.value) and option is not None:
                    value = constant_value(item.value)
                    if not option.accepts(value):
                        self.sink.error("PP229", f"target option `{item.name.name}` takes {option.wanted}, got "
                                        f"`{json.dumps(value)}`", item.value.span)

    def _TestDecl(self, decl: ast.TestDecl) -> None:
        prompt = self._prompt(decl.prompt)
        if prompt is None:
            return
        output = self._output_type(prompt)
        checker = ExprChecker(Env(self.scope, self.resolver, self.sink, {}))
        bindings = [i for i in decl.items if isinstance(i, ast.Binding)]
        self._bind_inputs(prompt, bindings, checker, decl.prompt.span, answers=())
        if _holds_unknown(output):
            return  # the output type's own error was reported: replies and expects would only echo it
        expect_env = Env(self.scope, self.resolver, self.sink, {"output": output})
        record = T.strip_optional(output)
        if isinstance(record, T.RecordT):
            for name, field in record.fields.items():
                expect_env.locals.setdefault(name, field.type if field.required else T.OptionalT(field.type))
        for item in decl.items:
            if isinstance(item, ast.Expect):
                ExprChecker(expect_env).type_of(item.expr)
            elif isinstance(item, ast.Reply):
                if isinstance(item.value, ast.Literal) and isinstance(item.value.value, str):
                    continue  # a path to a recorded reply, or the reply text itself
                checker.check_value(item.value, output)

    def _DatasetDecl(self, decl: ast.DatasetDecl) -> None:
        prompt = self._prompt(decl.prompt)
        env = Env(self.scope, self.resolver, self.sink, {"row": T.JSON})
        checker = ExprChecker(env)
        bindings = [i for i in decl.items if isinstance(i, ast.Binding)]
        if prompt is not None:
            self._bind_inputs(prompt, bindings, checker, decl.prompt.span, answers=DATASET_ANSWERS)
        splits: set[str] = set()
        total = 0.0
        for item in decl.items:
            if isinstance(item, ast.Split):
                if item.name.name in splits:
                    self.sink.error("PP232", f"split `{item.name.name}` is declared twice", item.name.span)
                splits.add(item.name.name)
                total += item.percent
                if not 0 < item.percent < 100:
                    self.sink.error("PP232", "a split takes more than 0% and less than 100% of the rows", item.span)
                    total = float("-inf")  # reported here; the sum would say it again
            elif isinstance(item, ast.Where):
                checker.type_of(item.expr)
            elif isinstance(item, ast.Limit) and item.count <= 0:
                self.sink.error("PP232", "`limit` must be at least 1", item.span)
            elif isinstance(item, ast.Weight) and item.value <= 0:
                self.sink.error("PP232", "`weight` must be greater than 0", item.span)
        if total >= 100:
            self.sink.error("PP232", f"the splits take {total:g}% of the rows, leaving none for training", decl.prompt.span)
        pair = [b for b in bindings if b.name.name in ("chosen", "rejected")]
        if len({b.name.name for b in pair}) == 1:
            self.sink.error("PP232", "a preference pair binds both `chosen` and `rejected`", pair[0].name.span,
                            help="bind the preferred answer to `chosen` and the other to `rejected`")

    def _prompt(self, ident: ast.Ident) -> Symbol | None:
        return self._declared(ident, "prompt", "PP210")

    def _declared(self, ident: ast.Ident, kind: str, code: str) -> Symbol | None:
        """The declaration a name must refer to (a prompt, a tool), or None after reporting."""
        sym = self.scope.lookup(ident.name)
        if sym is not None and sym.kind == "error":
            return None  # a failed import, already reported
        if sym is None or sym.kind != kind:
            candidates = [n for n, s in self.scope.names.items() if s.kind == kind]
            what = f"`{ident.name}` is a {sym.kind}, not a {kind}" if sym else f"unknown {kind} `{ident.name}`"
            self.sink.error(code, what, ident.span, help=suggest(ident.name, candidates), names=(ident.name,))
            return None
        return sym

    def _output_type(self, prompt: Symbol) -> T.Type:
        home = TypeResolver(self.scopes.get(prompt.module.key, self.scope), Sink(), self.scopes)
        decl = cast(ast.PromptDecl, prompt.decl)
        return home.resolve(decl.returns, allow_meta=False) if decl.returns else T.STR

    def _bind_inputs(self, prompt: Symbol, bindings, checker: ExprChecker, span, answers: tuple[str, ...]) -> None:
        """Check `name = value` bindings against a prompt's parameters; `answers` are the other names
        allowed (`output` in a test; `output`, `chosen`, `rejected` in a dataset), typed as its output."""
        home = TypeResolver(self.scopes.get(prompt.module.key, self.scope), Sink(), self.scopes)
        params = {p.name.name: (p, home.resolve(p.type)) for p in cast(ast.PromptDecl, prompt.decl).params}
        seen: set[str] = set()
        for b in bindings:
            name = b.name.name
            if name in seen:
                self.sink.error("PP225", f"`{name}` is bound twice", b.name.span)
                continue
            seen.add(name)
            if name in answers:
                checker.check_value(b.value, self._output_type(prompt)) if not _dynamic(b.value) else checker.type_of(b.value)
                continue
            if name not in params:
                self.sink.error("PP225", f"prompt `{prompt.name}` has no parameter `{name}`", b.name.span,
                                help=suggest(name, params) or f"its parameters: {', '.join(params) or 'none'}")
                continue
            param, ptype = params[name]
            if _dynamic(b.value):
                checker.type_of(b.value)  # data from `row` is checked against the type when rows are read
            else:
                checker.check_value(b.value, ptype, f"input `{name}`")
        for name, (param, _t) in params.items():
            if name not in seen and param.default is None and not param.optional:
                self.sink.error("PP224", f"missing input `{name}` of prompt `{prompt.name}`", span,
                                help=f"bind it: `{name} = ...`", names=(name,))

    # ---------------------------------------------------------------- statements
    def statements(self, body, env: Env) -> None:
        """Check each statement of a body in `env`."""
        for stmt in body:
            getattr(self, "_s_" + type(stmt).__name__)(stmt, env)

    def _s_ModelStmt(self, stmt: ast.ModelStmt, env: Env) -> None:
        self._model(stmt, env)

    def _model(self, stmt: ast.ModelStmt, env: Env | None = None) -> None:
        seen: set[str] = set()
        for s in stmt.settings:
            name = s.name.name
            if name in seen:
                self.sink.error("PP229", f"setting `{name}` is given twice", s.name.span)
            seen.add(name)
            if not self._constant(s.value):
                if env is not None:
                    ExprChecker(env).type_of(s.value)  # its names are used, even if wrongly
                continue
            expected = SETTINGS.get(name)
            if expected is None:
                self.sink.warning("PP242", f"unknown setting `{name}`: no target reads it", s.name.span,
                                  help=suggest(name, SETTINGS) or f"settings: {', '.join(SETTINGS)}")
                continue
            self._setting_value(name, s.value, expected)

    def _setting_value(self, name: str, value: ast.Expr, expected: T.Type) -> None:
        v = constant_value(value)
        if name == "stop" and isinstance(v, str):
            return
        if name == "body":
            if not isinstance(v, dict):
                self.sink.error("PP229", f"`body` takes a record of request-body fields, got `{json.dumps(v)}`",
                                value.span, help='e.g. `body: { service_tier: "flex" }`')
            return
        ok = (T.assignable(T.literal_type(v), expected) if not isinstance(v, (list, dict))
              else isinstance(expected, T.ListT) and all(isinstance(x, str) for x in v))
        if isinstance(expected, T.LiteralT):
            ok = v in expected.values
        if not ok:
            want = "a string or a list of strings" if name == "stop" else f"`{expected}`"
            self.sink.error("PP229", f"`{name}` takes {want}, got `{json.dumps(v)}`", value.span)
            return
        low, high = RANGES.get(name, (None, None))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if (low is not None and v < low) or (high is not None and v > high):
                bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
                self.sink.error("PP229", f"`{name}` must be {bounds}, got {v}", value.span)

    def _constant(self, value: ast.Expr) -> bool:
        if not is_constant(value):
            self.sink.error("PP234", "settings take constants", value.span,
                            help="use a literal; per-target values go in a `target` block")
            return False
        return True

    def _s_ToolsStmt(self, stmt: ast.ToolsStmt, env: Env) -> None:
        for ident in stmt.tools:
            self._tool(ident)

    def _tool(self, ident: ast.Ident) -> Symbol | None:
        return self._declared(ident, "tool", "PP209")

    def _s_Message(self, stmt: ast.Message, env: Env) -> None:
        self._parts(stmt.parts, env, stmt.role)

    def _parts(self, parts, env: Env, role: str) -> None:
        checker = ExprChecker(env)
        for part in parts:
            if isinstance(part, ast.Template):
                checker.check_template(part)
                continue
            if role == "system":
                article = "an" if part.kind[0] in "aeiou" else "a"
                self.sink.error("PP231", f"a system message cannot hold {article} {part.kind}", part.span,
                                help="put media in a user message")
            t = checker.type_of(part.expr)
            inner = T.strip_optional(t)
            if isinstance(part.expr, ast.Literal) and isinstance(part.expr.value, str):
                continue  # a URL, data: URI or path
            if not (isinstance(inner, (T.UnknownT, T.JsonT)) or inner == T.MediaT(part.kind) or inner == T.STR):
                self.sink.error("PP231", f"`{part.kind}(...)` needs a value of type `{part.kind}`, got `{t}`",
                                part.expr.span)

    def _s_ToolCall(self, stmt: ast.ToolCall, env: Env) -> None:
        sym = self._tool(stmt.tool)
        checker = ExprChecker(env)
        if sym is not None:
            home = TypeResolver(self.scopes.get(sym.module.key, self.scope), Sink(), self.scopes)
            params = [(p, home.resolve(p.type)) for p in cast(ast.ToolDecl, sym.decl).params]
            checker.bind_arguments(sym.name, params, stmt.args, stmt.tool.span)
        else:
            for arg in stmt.args:
                checker.type_of(arg.value)
        if stmt.call_id is not None:
            checker.check_value(stmt.call_id, T.STR)

    def _s_ToolResult(self, stmt: ast.ToolResult, env: Env) -> None:
        self._tool(stmt.tool)
        if stmt.call_id is not None:
            ExprChecker(env).check_value(stmt.call_id, T.STR)
        self._parts(stmt.parts, env, "tool")

    def _s_History(self, stmt: ast.History, env: Env) -> None:
        name = stmt.param.name if stmt.param else "history"
        t = env.locals.get(name)
        env.used.add(name)
        if t is None or not isinstance(T.strip_optional(t), T.MessagesT):
            where = stmt.param.span if stmt.param else stmt.span
            self.sink.error("PP228", f"`history` splices a `messages` parameter, and `{name}` is "
                            + ("not a parameter" if t is None else f"a `{t}`"), where,
                            help=f"declare `{name}: messages = []` in the parameters" if t is None
                            else f"change the type of `{name}` to `messages`")

    def _s_Cache(self, stmt, env) -> None:
        if stmt.ttl is not None and stmt.ttl not in ("5m", "1h"):
            self.sink.error("PP229", f"cache lifetime `{stmt.ttl}` is not supported", stmt.span,
                            help='write `cache` (the provider default), `cache "5m"` or `cache "1h"`')

    def _s_Budget(self, stmt, env) -> None:
        if stmt.tokens <= 0:
            self.sink.error("PP229", "a token budget must be at least 1", stmt.span)

    def _s_Priority(self, stmt: ast.Priority, env: Env) -> None:
        self.statements(stmt.body, env)

    def _s_Use(self, stmt: ast.Use, env: Env) -> None:
        checker = ExprChecker(env)
        func: ast.Expr = ast.Name(name=stmt.fragment[0].name, span=stmt.fragment[0].span)
        for part in stmt.fragment[1:]:
            func = ast.GetAttr(obj=func, attr=part, span=func.span.to(part.span))
        callee = checker._callee(func)
        if callee is None:
            return
        if not isinstance(callee, Symbol) or cast(ast.FragmentDecl, callee.decl).body is None:
            name = getattr(callee, "name", "?")
            self.sink.error("PP211", f"`{name}` is a text fragment; `use` splices message fragments", func.span,
                            help=f'interpolate it in a message instead: `user "{{{{ {name}() }}}}"`',
                            names=(name,) if name != "?" else ())
            return
        checker.check_call_args(callee, stmt.args, func.span)

    def _s_For(self, stmt: ast.For, env: Env) -> None:
        self.check_name(stmt.var)
        item = ExprChecker(env).loop_item(stmt.iterable)
        self.statements(stmt.body, env.child({stmt.var.name: item}))

    def _s_If(self, stmt: ast.If, env: Env) -> None:
        ExprChecker(env).check_branches(stmt.branches, stmt.orelse, lambda body: self.statements(body, env))

    def _s_TargetBlock(self, stmt: ast.TargetBlock, env: Env) -> None:
        self.statements(stmt.body, env)

    # ---------------------------------------------------------------- fragments
    def _check_recursion(self) -> None:
        """A fragment that calls itself, directly or not, would never end (PP233)."""
        own = {name: calls for name, calls in self.fragment_calls.items()}
        for start, calls in own.items():
            for callee, span in calls:
                if self._reaches(callee.name, start, own, set()) and callee.module is self.scope.module:
                    how = "calls itself" if callee.name == start else f"calls itself through `{callee.name}`"
                    self.sink.error("PP233", f"fragment `{start}` {how}", span,
                                    help="fragments are expanded at compile time and cannot recurse")

    def _reaches(self, name: str, goal: str, graph, seen: set) -> bool:
        if name == goal:
            return True
        if name in seen:
            return False
        seen.add(name)
        return any(self._reaches(c.name, goal, graph, seen) for c, _ in graph.get(name, ()))


def _has_messages(body) -> bool:
    """Does a statement of `body`, or one nested in its blocks, write a message?"""
    return any(isinstance(node, MESSAGE_STMTS) for stmt in body for node in walk(stmt))


def _dynamic(expr: ast.Expr) -> bool:
    """Does the expression read `row` (data known only when rows are read)?"""
    return any(isinstance(node, ast.Name) and node.name == "row" for node in walk(expr))


def _holds_unknown(t: T.Type) -> bool:
    """Whether a type is, or is built from, the type of a name that did not resolve."""
    if isinstance(t, T.UnknownT):
        return True
    inner = getattr(t, "item", None) or getattr(t, "value", None) or getattr(t, "inner", None)
    return isinstance(inner, (T.UnknownT, T.ListT, T.MapT, T.OptionalT)) and _holds_unknown(inner)
