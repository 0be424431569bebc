"""Chat templates compiled to one plain Python function: Jinja's semantics without Jinja's runtime.

`compile_render(template)` turns a compiled `jinja2.Template` of transformers' environment into
`render(variables) -> str`, or None when the template uses something outside the subset below. The
code is written by `SpecializingCodeGenerator`, a subclass of our `FastCodeGenerator` (itself
Jinja's `CodeGenerator`), so every expression, every scoping decision (which names a `set` in a
loop shadows, what a name reads before it is set, Jinja's `idtracking`) and every sandbox check is
Jinja's own code. What changes is the runtime around it:

- one function that appends to a list and joins once, instead of a generator of yields;
- names resolved from one dict (Jinja's `dict(globals, **vars)`) instead of a `Context`;
- a `for` loop whose body reads only `loop.index0`, `loop.first`, `loop.last`, ... over a list or
  tuple iterates with `enumerate` and computes those values, instead of a `LoopContext` that peeks
  ahead (a body reading only `index`/`index0`/`first` enumerates any iterable lazily, as LoopContext
  reads it; one reading `last`/`length`/`revindex` lists a str, dict, view, range or `| items` first
  and bails out on any other iterable, which LoopContext reads lazily; other uses of `loop` keep
  Jinja's `LoopContext`);
- calls go through a context stand-in whose `call` is `Context.call` for callables that do not ask
  for a context (`raise_exception`, `namespace`, methods...), and through the sandbox's
  `environment.call` first, exactly as Jinja's sandboxed code does;
- the builtin tests `defined`, `none`, `string`... are written inline when the environment's test
  is Jinja's own function; dict items read by a str key they hold and list items read by an int
  index in range are read directly.

The subset is the statements chat templates use: output, `if`, `for` (with `else`, `break`,
`continue`, a filter `if`), `set` (names and namespace
attributes). Macros, call blocks (`{% generation %}`), set blocks, includes, blocks, recursive loops,
`self` and calls with `**kwargs` make `compile_render` return None, and the caller renders with
Jinja. When a render meets a case decided only at run time (a callable that asks for the context, an
iterable that fails while it is listed or that only Jinja reads lazily) it raises `Bail` before any
effect, and the caller renders with Jinja instead.
"""
from __future__ import annotations

import functools
import io
import itertools
from typing import Any, Callable, cast

import jinja2
import jinja2.runtime
import jinja2.filters
import jinja2.tests
from jinja2 import nodes
from jinja2.compiler import EvalContext, Frame, find_undeclared, optimizeconst
from jinja2.idtracking import VAR_LOAD_ALIAS, VAR_LOAD_PARAMETER, VAR_LOAD_RESOLVE, VAR_LOAD_UNDEFINED
from jinja2.utils import Namespace, _PassArg

from .jinja_fast import DICT_ATTRIBUTES, LOOP_VALUES, FastCodeGenerator

__all__ = ["Bail", "Unsupported", "compile_render", "compiled_source"]


class Bail(Exception):
    """Raised by a compiled render, before any effect, when only Jinja can render this input."""


class Unsupported(Exception):
    """The template uses a construct the compiler does not handle; Jinja renders it."""


#: The node types the compiler handles; any other node makes the whole template fall back.
SUPPORTED = frozenset({
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Assign, nodes.Name,
    nodes.NSRef, nodes.Const, nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Add, nodes.Sub,
    nodes.Mul, nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow, nodes.And, nodes.Or, nodes.Not,
    nodes.Neg, nodes.Pos, nodes.Compare, nodes.Operand, nodes.Test, nodes.Filter, nodes.Call,
    nodes.Keyword, nodes.CondExpr, nodes.Tuple, nodes.List, nodes.Dict, nodes.Pair, nodes.Concat,
    nodes.Continue, nodes.Break,
})
#: `loop` attributes computed from the index and the length (the values LoopContext gives).
LOOP_FAST = {
    "index0": "{i}", "index": "({i} + 1)", "first": "({i} == 0)", "last": "({i} == {n} - 1)",
    "length": "{n}", "revindex": "({n} - {i})", "revindex0": "({n} - {i} - 1)", "depth": "1", "depth0": "0",
}
#: Builtin tests written inline when the environment's test is Jinja's own function.
INLINE_TESTS = {
    "defined": (jinja2.tests.test_defined, "(not isinstance({x}, Undefined))"),
    "undefined": (jinja2.tests.test_undefined, "isinstance({x}, Undefined)"),
    "none": (jinja2.tests.test_none, "({x} is None)"),
    "false": (jinja2.tests.test_false, "({x} is False)"),
    "true": (jinja2.tests.test_true, "({x} is True)"),
    "string": (jinja2.tests.test_string, "isinstance({x}, str)"),
    "mapping": (jinja2.tests.test_mapping, "isinstance({x}, _Mapping)"),
}


class _CallContext:
    """What Jinja's generated code calls `context.call` on, for callables that take no context.

    `call` is `jinja2.runtime.Context.call` for the callables with no `pass_context`,
    `pass_eval_context` or `pass_environment` marker (on them or on their `__call__`): those make the
    render bail out to Jinja, which has the real context.
    """

    def __init__(self, environment: jinja2.Environment):
        self.environment = environment

    def call(self, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if (hasattr(obj, "__call__") and _PassArg.from_obj(obj.__call__) is not None) \
                or _PassArg.from_obj(obj) is not None:
            raise Bail("a callable asks for the context")
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return obj(*args, **kwargs)
        except StopIteration:
            return self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception")


def _plain_callables(env: jinja2.Environment) -> dict[int, Any]:
    """The environment's global callables that its `call` (sandboxed or not) just calls: safe for
    the sandbox, no pass argument on them or their `__call__`; by id."""
    plain: dict[int, Any] = {}
    for value in env.globals.values():
        if not callable(value) or _PassArg.from_obj(value) is not None or _PassArg.from_obj(value.__call__) is not None:
            continue
        if env.sandboxed and not env.is_safe_callable(value):  # type: ignore[attr-defined]
            continue
        plain[id(value)] = value
    return plain


def _caller(env: jinja2.Environment) -> Callable[..., Any]:
    """What the generated code calls: `environment.call(context, ...)` (sandboxed) or
    `context.call(...)`, with the context stand-in, and the plain globals called directly."""
    context = _CallContext(env)
    plain = _plain_callables(env)
    undefined = env.undefined
    full = functools.partial(env.call, context) if env.sandboxed else context.call  # type: ignore[attr-defined]

    def call(obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        callee = plain.get(id(obj))
        if callee is obj:
            try:
                return callee(*args, **kwargs)
            except StopIteration:
                return undefined("value was undefined because a callable raised a StopIteration exception")
        return full(obj, *args, **kwargs)

    return call


def _listify(value: Any) -> list:
    """The items a LoopContext would iterate over, listed up front (Bail if listing fails)."""
    try:
        return list(value)
    except Exception as error:  # which error Jinja raises, and when, is Jinja's to say
        raise Bail("the iterable failed") from error


#: Iterables a loop may list up front: none is an iterator, none changes while a sandboxed template runs.
_SNAPSHOT_TYPES = frozenset({str, dict, range, type({}.keys()), type({}.values()), type({}.items())})


def _snapshot(value: Any) -> list:
    """The items of a str, dict, view, range or undefined value, listed; any other iterable (a
    generator, a `loop`...) is read lazily by Jinja, so the render bails out to it."""
    if type(value) in _SNAPSHOT_TYPES or isinstance(value, jinja2.Undefined):
        return list(value)
    raise Bail("an iterable LoopContext reads lazily")


def _loop_uses(loop: nodes.For):
    """(Name node, its parent) for every `loop` name in the body of `loop` that means this loop."""
    for child in loop.body:
        yield from _uses(child, loop)


def _uses(node: nodes.Node, parent: nodes.Node):
    if isinstance(node, nodes.Name):
        if node.name == "loop":
            yield node, parent
        return
    if isinstance(node, nodes.For):  # its iter, test and else see our `loop`; its body its own or none
        for sub in (node.target, node.iter, node.test, *node.else_):
            if sub is not None:
                yield from _uses(sub, node)
        return
    for child in node.iter_child_nodes():
        yield from _uses(child, node)


class SpecializingCodeGenerator(FastCodeGenerator):
    """Writes `root(_v)` returning the text; see the module docstring for what differs from Jinja."""

    #: the root function's last line (splice.py's tracing variant returns the parts themselves)
    RETURN = "return ''.join(_o)"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._fast_loops: dict[str, tuple[str, str]] = {}
        self._root_stores: set[str] = set()
        self._root_frame: Frame | None = None
        self._temps = itertools.count()

    def _temp(self) -> str:
        return f"_pc{next(self._temps)}"

    # -- the root function

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        """The module: imports, bound filters and tests, and `root(_v)`; Unsupported when the template leaves the
        subset."""
        for child in node.find_all(nodes.Node):
            if type(child) not in SUPPORTED:
                raise Unsupported(type(child).__name__)
        for call in node.find_all(nodes.Call):
            if any(kw.key.startswith("_") for kw in call.kwargs):
                raise Unsupported("an underscore keyword argument")
            if call.dyn_kwargs is not None:  # `**{'_loop_vars': ...}`: Jinja's call pops or refuses those
                raise Unsupported("a call with **kwargs")
        if "self" in find_undeclared(node.body, ("self",)):
            raise Unsupported("`self` (Jinja's TemplateReference)")
        eval_ctx = EvalContext(self.environment, self.name)
        exported = sorted(jinja2.runtime.exported)
        self.writeline("from jinja2.runtime import " + ", ".join(exported))
        self.writeline("from collections.abc import Mapping as _Mapping")
        self.writeline(f"name = {self.name!r}")
        self.pull_dependencies(node.body)  # filters and tests, bound once at module level
        self.writeline("def root(_v, environment=environment, missing=missing, undefined=environment.undefined, "
                       "cond_expr_undefined=Undefined, Undefined=Undefined, _listify=_listify, "
                       "LoopContext=LoopContext, Namespace=Namespace, isinstance=isinstance, str=str, "
                       "type=type, list=list, tuple=tuple, len=len, enumerate=enumerate, _Mapping=_Mapping, _call=_call, "
                       "_snapshot=_snapshot, "
                       "_NS=_NS, _ns_attrs=object.__getattribute__):",
                       extra=1)
        self.indent()
        frame = Frame(eval_ctx)
        frame.symbols.analyze_node(node)
        frame.toplevel = frame.rootlevel = True
        frame.require_output_check = False
        frame.buffer = "_o"
        self._root_frame = frame
        self._root_stores = set(frame.symbols.stores)
        self.writeline("_o = []")
        # an untrusted template's output is counted as it is written (budget.py)
        self.writeline("_a = environment.pp_output(_o)" if getattr(self.environment, "budgeted", False)
                       else "_a = _o.append")
        if self._needs_context(node):
            self.writeline("_box = []")
            self.writeline("def _context():")
            self.indent()
            self.writeline("if not _box: _box.append(_new_context(_v))")
            self.writeline("return _box[0]")
            self.outdent()
        self.enter_frame(frame)
        self.blockvisit(node.body, frame)
        self.writeline(self.RETURN)
        self.outdent()

    def _needs_context(self, node: nodes.Template) -> bool:
        for item in node.find_all((nodes.Filter, nodes.Test)):
            table = self.environment.filters if isinstance(item, nodes.Filter) else self.environment.tests
            func: Any = table.get(item.name)  # (Jinja's tables mix callables mypy does not join as one)
            if _PassArg.from_obj(func) is _PassArg.context:
                return True
        return False

    def enter_frame(self, frame: Frame) -> None:
        """Bind the frame's names: resolved ones from `_v`, aliases, undefined ones to `missing`."""
        undefs = []
        for target, (action, param) in frame.symbols.loads.items():
            if action == VAR_LOAD_PARAMETER:
                pass
            elif action == VAR_LOAD_RESOLVE:
                # Jinja resolves from context.vars first, which holds the top-level `set`s made so far:
                # the same dict lookup only when no top-level `set` names it (always so at the root).
                if frame is not self._root_frame and param in self._root_stores:
                    raise Unsupported(f"{param!r} resolved after a top-level set")
                self.writeline(f"{target} = _v.get({param!r}, missing)")
            elif action == VAR_LOAD_ALIAS:
                self.writeline(f"{target} = {param}")
            elif action == VAR_LOAD_UNDEFINED:
                undefs.append(target)
            else:
                raise Unsupported("unknown load instruction")
        if undefs:
            self.writeline(f"{' = '.join(undefs)} = missing")

    def pop_assign_tracking(self, frame: Frame) -> None:
        """Jinja copies top-level and loop assignments into the context for `pass_context` callables
        and the template module; no compiled render has either (such callables bail out)."""
        self._assign_stack.pop()

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """Jinja's output, constant parts folded as Jinja folds them, appended to the buffer."""
        finalize = self._make_finalize()
        body: list[Any] = []
        for child in node.nodes:
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        for item in body:
            if isinstance(item, list):
                self.writeline(f"_a({self._output_const_repr(item)})")
            else:
                self.writeline("_a(", item)
                self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
                self.write(")")

    # -- loops

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """A `for` loop: with `enumerate` and computed `loop` values when the body reads only those, else Jinja's
        LoopContext."""
        if node.recursive:
            raise Unsupported("a recursive loop")
        self.pay_for_loop(node)
        loop_frame = frame.inner()
        loop_frame.loop_frame = True
        test_frame = frame.inner()
        else_frame = frame.inner()
        extended = "loop" in find_undeclared(node.iter_child_nodes(only=("body",)), ("loop",))
        loop_ref = loop_frame.symbols.declare_parameter("loop") if extended else None
        loop_frame.symbols.analyze_node(node, for_branch="body")
        if node.else_:
            else_frame.symbols.analyze_node(node, for_branch="else")
        for name in node.find_all(nodes.Name):
            if name.ctx == "store" and name.name == "loop":
                raise Unsupported("an assignment to `loop`")  # Jinja refuses it at compile time
        fast = extended and node.test is None and all(isinstance(parent, nodes.Getattr) and parent.node is name and
                                parent.attr in LOOP_FAST for name, parent in _loop_uses(node))
        filter_func = None
        if node.test is not None:  # Jinja's filter generator, verbatim
            filter_func = self.temporary_identifier()
            test_frame.symbols.analyze_node(node, for_branch="test")
            self.writeline(f"def {filter_func}(fiter):", node.test)
            self.indent()
            self.enter_frame(test_frame)
            self.writeline("for ")
            self.visit(node.target, loop_frame)
            self.write(" in fiter:")
            self.indent()
            self.writeline("if ", node.test)
            self.visit(node.test, test_frame)
            self.write(":")
            self.indent()
            self.writeline("yield ")
            self.visit(node.target, loop_frame)
            self.outdent(3)
            self.leave_frame(test_frame, with_python_scope=True)
        if extended:
            self.writeline(f"{loop_ref} = missing")
        indicator = None
        if node.else_:
            indicator = self.temporary_identifier()
            self.writeline(f"{indicator} = 1")
        if fast:
            seq, index, length = self._temp(), self._temp(), self._temp()
            self.writeline(f"{seq} = ", node)
            self.visit(node.iter, frame)
            # LoopContext reads its iterable lazily (one item ahead for `last`, the rest for `length`):
            # listing it first is the same only for values that no body can change or share.
            if any(LOOP_FAST[parent.attr].count("{n}") for _, parent in _loop_uses(node)):
                items = isinstance(node.iter, nodes.Filter) and node.iter.name == "items" \
                    and self.environment.filters.get("items") is jinja2.filters.do_items
                self.writeline(f"if type({seq}) is not list and type({seq}) is not tuple:")
                self.indent()
                self.writeline(f"{seq} = {'_listify' if items else '_snapshot'}({seq})")
                self.outdent()
                self.writeline(f"{length} = len({seq})")
            self.writeline(f"for {index}, ")
            self.visit(node.target, loop_frame)
            self.write(f" in enumerate({seq}):")
            self._fast_loops[loop_ref] = (index, length)  # type: ignore[index]
        else:
            self.writeline("for ", node)
            self.visit(node.target, loop_frame)
            self.write(f", {loop_ref} in LoopContext(" if extended else " in ")
            if filter_func:
                self.write(f"{filter_func}(")
            self.visit(node.iter, frame)
            if filter_func:
                self.write(")")
            self.write(", undefined):" if extended else ":")
        self.indent()
        self.enter_frame(loop_frame)
        self.blockvisit(node.body, loop_frame)
        if indicator:
            self.writeline(f"{indicator} = 0")
        self.outdent()
        self.leave_frame(loop_frame, with_python_scope=False)
        if node.else_:
            self.writeline(f"if {indicator}:")
            self.indent()
            self.enter_frame(else_frame)
            self.blockvisit(node.else_, else_frame)
            self.leave_frame(else_frame)
            self.outdent()
        if self._assign_stack:
            self._assign_stack[-1].difference_update(loop_frame.symbols.stores)

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        """`obj.attr`: a fast loop's value computed inline, a dict key or namespace attribute read directly, else
        Jinja's."""
        if isinstance(node.node, nodes.Name) and node.node.name == "loop" and node.node.ctx == "load":
            ref = frame.symbols.find_ref("loop")
            if ref in self._fast_loops:
                index, length = self._fast_loops[ref]
                self.write(LOOP_FAST[node.attr].format(i=index, n=length))
                return
        if node.attr.startswith("_") or node.attr in DICT_ATTRIBUTES:
            super().visit_Getattr(node, frame)
            return
        # jinja_fast's dict read, then a namespace's: its attributes are its dict's keys
        # (Namespace.__getattribute__), so Jinja and its sandbox give the value, or
        # undefined(obj=ns, name=attr) when the key is missing.
        obj, attrs, key = self._fresh(), self._fresh(), repr(node.attr)
        self.write(f"(({obj}[{key}] if {key} in {obj} else undefined(obj={obj}, name={key})) if type({obj} := ")
        self.visit(node.node, frame)
        self.write(f") is dict else ({attrs}[{key}] if {key} in ({attrs} := _ns_attrs({obj}, '_Namespace__attrs')) "
                   f"else undefined(obj={obj}, name={key})) if type({obj}) is _NS else ")
        if node.attr in LOOP_VALUES:
            self.write(f"{obj}.{node.attr} if type({obj}) is LoopContext else ")
        self.write(f"environment.getattr({obj}, {key}))")

    def visit_Name(self, node: nodes.Name, frame: Frame) -> None:
        """A name, as Jinja writes it; a fast loop's `loop` is only ever read through its value attributes."""
        if node.name == "loop" and frame.symbols.find_ref("loop") in self._fast_loops:
            raise Unsupported("`loop` used other than by its value attributes")  # never reached: see `fast`
        super().visit_Name(node, frame)

    # -- items, calls, filters and tests

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        """`environment.getitem(obj, key)` is `obj[key]` for a dict and a str key it holds, and for a
        list and an int index in range (both evaluated first, in Jinja's order)."""
        if isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        if isinstance(node.arg, nodes.Const) and type(node.arg.value) in (str, int):
            self._constant_getitem(node, frame)
            return
        obj, key = self._fresh(), self._fresh()
        self.write(f"({obj}[{key}] if (({obj} := ")
        self.visit(node.node, frame)
        self.write(f") is {obj}) and ((type({key} := ")
        self.visit(node.arg, frame)
        self.write(f") is str and type({obj}) is dict and {key} in {obj}) or (type({key}) is int "
                   f"and type({obj}) is list and -len({obj}) <= {key} < len({obj}))) "
                   f"else environment.getitem({obj}, {key}))")

    def _constant_getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        """`obj["key"]` / `obj[0]`: the key's type is known here, so one check of the object's."""
        obj, key = self._fresh(), repr(node.arg.value)  # type: ignore[attr-defined]
        if isinstance(node.arg.value, str):  # type: ignore[attr-defined]
            test = f"type({obj}) is dict and {key} in {obj}"
        else:
            test = f"type({obj}) is list and -len({obj}) <= {key} < len({obj})"
        self.write(f"({obj}[{key}] if (({obj} := ")
        self.visit(node.node, frame)
        self.write(f") is {obj}) and {test} else environment.getitem({obj}, {key}))")

    @optimizeconst
    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        """A call: a pure method called directly (FastCodeGenerator), any other through `_call`; call blocks are
        Unsupported."""
        if forward_caller:
            raise Unsupported("a call block")
        kind = self._pure_method_call(node, forward_caller)
        if kind is None:
            self.write("_call(")
            self.visit(node.node, frame)
            self.signature(node, frame)
            self.write(")")
            return
        super().visit_Call(node, frame)

    def _jinja_call(self, node: nodes.Call, frame: Frame, callee: str) -> None:
        self.write("_call(")
        self.write(callee)
        self.signature(node, frame)
        self.write(")")

    @optimizeconst
    def visit_Filter(self, node: nodes.Filter, frame: Frame) -> None:
        """A filter as Jinja writes it, but a `selectattr`/`rejectattr` equality list as a comprehension."""
        picked = self._attribute_equality_list(node)
        if picked is None:
            super().visit_Filter(node, frame)
            return
        source, attr, value, keep = picked
        item, seq, key = self._fresh(), self._fresh(), repr(attr)
        read = f"({item}[{key}] if type({item}) is dict and {key} in {item} else environment.getitem({item}, {key}))"
        self.write(f"([{item} for {item} in {seq} if {'' if keep else 'not '}({read} == {value!r})] if ({seq} := ")
        self.visit(source, frame)
        self.write(") else [])")

    def _attribute_equality_list(self, node: nodes.Filter):
        """`seq | selectattr("key", "equalto", value) | list` (or rejectattr, with Jinja's own filters and
        test): (seq, key, value, keep). Jinja's selectattr reads `environment.getitem(item, key)` and
        compares with ==, items in order, nothing when `seq` is falsy; a comprehension does the same."""
        inner = node.node
        env = self.environment
        if node.name != "list" or node.args or node.kwargs or node.dyn_args or node.dyn_kwargs \
                or not isinstance(inner, nodes.Filter) or inner.name not in ("selectattr", "rejectattr") \
                or inner.kwargs or inner.dyn_args or inner.dyn_kwargs or len(inner.args) != 3 \
                or not all(isinstance(a, nodes.Const) for a in inner.args):
            return None
        attr, test, value = (a.value for a in cast("list[nodes.Const]", inner.args))  # all Const (above)
        if not isinstance(attr, str) or "." in attr or attr.isdigit() or test not in ("equalto", "eq", "==") \
                or type(value) not in (str, int, bool, type(None)):
            return None
        if env.filters.get("list") is not jinja2.filters.FILTERS["list"] \
                or env.filters.get(inner.name) is not jinja2.filters.FILTERS[inner.name] \
                or env.tests.get(test) is not jinja2.tests.TESTS[test]:
            return None
        return inner.node, attr, value, inner.name == "selectattr"

    @optimizeconst
    def visit_Test(self, node: nodes.Test, frame: Frame) -> None:
        """A test inline when it is Jinja's own builtin without arguments, else as Jinja writes it."""
        inline = INLINE_TESTS.get(node.name)
        if inline is not None and self.environment.tests.get(node.name) is inline[0] \
                and not node.args and not node.kwargs and node.dyn_args is None and node.dyn_kwargs is None:
            before, after = inline[1].split("{x}")
            self.write(before)
            self.visit(node.node, frame)
            self.write(after)
            return
        super().visit_Test(node, frame)

    def _filter_test_common(self, node: nodes.Filter | nodes.Test, frame: Frame, is_filter: bool):
        """Jinja's `_filter_test_common`, with the context made only when a filter asks for it."""
        return _FilterTest(self, node, frame, is_filter)


class _FilterTest:
    """The context manager `_filter_test_common` returns (Jinja's, with other pass arguments)."""

    def __init__(self, gen: SpecializingCodeGenerator, node: Any, frame: Frame, is_filter: bool):
        self.gen, self.node, self.frame, self.is_filter = gen, node, frame, is_filter

    def __enter__(self) -> None:
        gen, node = self.gen, self.node
        func: Any  # (Jinja's tables mix callables mypy does not join as one)
        if self.is_filter:
            gen.write(f"{gen.filters[node.name]}(")
            func = gen.environment.filters.get(node.name)
        else:
            gen.write(f"{gen.tests[node.name]}(")
            func = gen.environment.tests.get(node.name)
        if func is None and not self.frame.soft_frame:
            gen.fail(f"No {'filter' if self.is_filter else 'test'} named {node.name!r}.", node.lineno)
        pass_args: dict[_PassArg | None, str] = {_PassArg.context: "_context()", _PassArg.eval_context: "_eval_ctx",
                                                  _PassArg.environment: "environment"}
        pass_arg = pass_args.get(_PassArg.from_obj(func))
        if pass_arg is not None:
            gen.write(f"{pass_arg}, ")

    def __exit__(self, *exc: Any) -> None:
        if exc[0] is None:
            self.gen.signature(self.node, self.frame)
            self.gen.write(")")


def _namespace_class(env: jinja2.Environment) -> type:
    """The environment's `namespace` when its attributes are Namespace's (else a class never seen)."""
    kind = env.globals.get("namespace")
    if isinstance(kind, type) and issubclass(kind, Namespace) and kind.__getattribute__ is Namespace.__getattribute__:
        return kind
    return type("NoNamespace", (), {})


def compiled_source(template: jinja2.Template, source: str,
                    generator: type[SpecializingCodeGenerator] = SpecializingCodeGenerator) -> str:
    """The Python source of `source` compiled for `template`'s environment (Unsupported if not)."""
    env = template.environment
    if env.is_async or env.autoescape or env.finalize is not None or env.undefined is not jinja2.Undefined:
        raise Unsupported("an environment option")
    ast = env.parse(source)
    stream = io.StringIO()  # what CodeGenerator makes when given None
    writer = generator(env, None, None, stream, False, env.optimized)
    writer.visit(ast)
    return stream.getvalue()


def compile_render(template: jinja2.Template, source: str) -> Callable[[dict], str] | None:
    """`render(variables) -> str` for `template` (compiled from `source`), or None to use Jinja.

    `render` is `"".join(template.root_render_func(template.new_context(variables)))`, or raises the
    same error; it raises `Bail` when this input needs Jinja's own runtime.
    """
    compiled = compile_root(template, source)
    if compiled is None:
        return None
    root, code = compiled
    template_globals = template.globals

    def render(variables: dict) -> str:
        return root(dict(template_globals, **variables))

    render.source = code  # type: ignore[attr-defined]
    return render


def compile_root(template: jinja2.Template, source: str,
                 generator: type[SpecializingCodeGenerator] = SpecializingCodeGenerator,
                 environment: Any = None, names: dict[str, Any] | None = None) -> tuple[Callable, str] | None:
    """(`root(variables)`, its Python source) for `template`, or None when Jinja must render it.

    `generator`, `environment` (what the code calls `environment`) and `names` (more module
    names, set after the module ran) are for splice.py's tracing variant."""
    try:
        code = compiled_source(template, source, generator)
    except (Unsupported, RecursionError, MemoryError):
        return None
    env = template.environment
    namespace: dict[str, Any] = {
        "environment": env if environment is None else environment, "_call": _caller(env), "_listify": _listify,
        "_snapshot": _snapshot, "_NS": _namespace_class(env), "_eval_ctx": EvalContext(env, None),
        "_new_context": lambda parent: env.context_class(env, parent, None, {}, globals=template.globals),
    }
    namespace.update(names or {})
    try:
        code_object = compile(code, "<polyprompt compiled template>", "exec")
    except (SyntaxError, RecursionError, MemoryError):  # nesting past Python's own limits: Jinja renders it
        return None
    exec(code_object, namespace)  # noqa: S102 - our own code
    namespace.update(names or {})  # over the module's own imports (str_join)
    return namespace["root"], code
