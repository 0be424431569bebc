"""backends/hf/chat_template/compiler.py: a compiled chat template renders exactly as Jinja does.

Differential: for every refdata template (stock, training, huggingface.js cases) and every built-in
family, sandboxed and trusted, over many conversations (tests/test_hf_template.py's, the recorded
ones, tests/hf_assets.py's `conversations()`), the compiled function's output or error (type and
message) equals the Jinja path's. Then jinja_fast's edge cases (dict keys named like dict methods,
missing keys, str methods on non-strings, dict subclasses, unsafe attributes, `.format`, mutation)
and the compiler's own (loops, scoping, namespaces, undefined) through both, and which templates
fall back.
"""
from __future__ import annotations

import copy
import json

import jinja2
import pytest
from hf_assets import conversations
from polyprompt.backends.hf.families import FAMILIES
from polyprompt.backends.hf.chat_template.render import ChatTemplate, _compile_render
from polyprompt.backends.hf.chat_template import compiler as template_compiler
from polyprompt.backends.hf.chat_template.compiler import Bail
from test_hf_jinja_fast import MESSAGES
from test_hf_jinja_fast import TEMPLATES as FAST_TEMPLATES
from test_hf_template import CONVERSATIONS, EXPECTED, HFJS, REF, RENDER_DATE, read

SOURCES = {p.name.removesuffix(".jinja"): read(p) for p in sorted(REF.glob("*.jinja"))}
SOURCES.update({f"training/{p.name}": read(p) for p in sorted((REF / "training").glob("*.jinja"))})
SOURCES.update({f"hfjs/{name}": case["chat_template"] for name, case in sorted(HFJS.items())})
SOURCES.update({f"family/{name}": fam.source_text() for name, fam in FAMILIES.items()})
#: The templates the compiler hands to Jinja: {% generation %} blocks (a call block) only.
FALLS_BACK = {name for name in SOURCES if name.startswith("training/")} | {"hfjs/HuggingFaceTB/SmolLM3-3B"}

INPUTS = [(messages, extra) for messages, extra in CONVERSATIONS.values()]
INPUTS += [(messages, {}) for messages in EXPECTED["conversations"].values()]
INPUTS += [(conv["messages"], {}) for name in ("qwen3", "deepseek-v3", "mistral-v3", "gemma3") for conv in conversations(name)]
INPUTS += [([{"role": "user", "content": "x"}], {"enable_thinking": True, "thinking": False, "content": "ctx",
                                               "tools_in_user_message": False, "custom_tools": None}),
           ([{"role": "assistant", "content": "first"}, {"role": "user", "content": None}], {}),
           ([{"role": "user", "content": 42}, {"role": "tool", "content": {"a": 1}}], {"tools": []})]


def outcome(fn):
    try:
        return "ok", fn()
    except Bail:
        return "bail", None
    except Exception as error:  # noqa: BLE001 - the kind and message must match
        return "error", f"{type(error).__name__}: {error}"


def _both(template: ChatTemplate, messages, extra, gen):
    """(compiled outcome, Jinja outcome) for one render, on the same prepared context."""
    extra = dict(extra)
    tools, documents = extra.pop("tools", None), extra.pop("documents", None)
    contexts = []

    def capture(context, spans):
        contexts.append(context)
        return "", []

    template._run = capture  # the prepared context, as render() makes it
    template._splicer = False  # (a plan of the conversation's shape would skip it: splice.py)
    outcome(lambda: template.render(copy.deepcopy(messages), tools=tools, documents=documents,
                                    add_generation_prompt=gen, **extra))
    del template._run
    if not contexts:
        return None, None
    context = contexts[0]
    compiled = outcome(lambda: template.compiled_render(copy.deepcopy(context)))
    jinja = outcome(lambda: template._run_jinja(copy.deepcopy(context), False)[0])
    return compiled, jinja


def _template(name: str, trusted: bool) -> ChatTemplate:
    kwargs = {"bos_token": "<s>", "eos_token": "</s>"}
    if name.startswith("family/"):
        fam = FAMILIES[name.removeprefix("family/")]
        kwargs = {"bos_token": fam.bos_token, "eos_token": fam.eos_token, "extra": dict(fam.defaults)}
    return ChatTemplate(SOURCES[name], date=RENDER_DATE, trusted=trusted, **kwargs)


@pytest.mark.parametrize("trusted", [False, True], ids=["sandboxed", "trusted"])
@pytest.mark.parametrize("name", sorted(set(SOURCES) - FALLS_BACK))
def test_compiled_renders_as_jinja(name, trusted):
    template = _template(name, trusted)
    assert template.compiled_render is not None, f"{name} no longer compiles"
    compared = 0
    for messages, extra in INPUTS:
        for gen in (True, False):
            compiled, jinja = _both(template, messages, extra, gen)
            if compiled is None:
                continue
            if compiled[0] != "bail":
                assert compiled == jinja, (name, messages, extra, gen)
                compared += 1
    assert compared >= len(INPUTS)  # bailing out is allowed, but not for the common inputs


def test_which_templates_fall_back():
    fallen = {name for name in SOURCES if _template(name, False).compiled_render is None}
    assert fallen == FALLS_BACK
    assert not any(name.startswith("family/") for name in fallen)  # every built-in family compiles


def test_fallback_templates_still_render():
    template = _template("training/qwen3_training.jinja", False)
    assert template.compiled_render is None
    assert template.render([{"role": "user", "content": "Hi"}], add_generation_prompt=True).endswith(
        "<|im_start|>assistant\n")


# ---------------------------------------------------------------------------------------------
# edge cases: jinja_fast's, and the compiler's own constructs

EDGES = [
    *FAST_TEMPLATES,
    "{{ 'a{0}'.format(messages[0].role) }}{{ 'b{x}'.format_map({'x': 1}) }}{{ '{0.__class__}'.format(1) }}",
    "{{ messages.append(1) }}", "{{ messages[0].update({'a': 1}) }}", "{{ messages[0].clear() }}",
    "{{ range.__globals__ }}", "{{ namespace.__init__ }}", "{% set ns = namespace(a=1) %}{{ ns._x }}{{ ns.__class__ }}",
    "{% set ns = namespace() %}{% set ns._x = 1 %}",
    "{% set x = 1 %}{% for m in messages %}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
    "{% for m in messages %}{% if loop.first %}{% set y = 'a' %}{% endif %}{{ y }}{% endfor %}{{ y }}",
    "{{ y }}{% set y = 2 %}{{ y }}{% if false %}{% set z = 1 %}{% endif %}{{ z }}{{ z is defined }}",
    "{% for m in messages %}{{ m }}{% endfor %}{{ m }}{{ m is defined }}",
    "{% for m in messages if m.role != 'user' %}{{ loop.index }}/{{ loop.length }}{{ loop.last }},{% endfor %}",
    "{% for m in messages %}{% if loop.index0 == 2 %}{% break %}{% endif %}{{ loop.revindex }}{% endfor %}",
    "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{{ loop.revindex0 }}{{ loop.depth }}{% endfor %}",
    "{% for m in [] %}x{% else %}empty{{ loop is defined }}{% endfor %}",
    "{% for m in messages %}{% for k in m %}{{ loop.index }}{{ k }}{% endfor %}{{ loop.index }}{% endfor %}",
    "{% for m in messages %}{{ loop.previtem is defined }}{{ loop.cycle(1, 2) }}{{ loop }}{% endfor %}",
    "{% for m in messages | selectattr('role', 'equalto', 'user') %}{{ loop.last }}{% endfor %}",
    "{% for k, v in messages[0] | dictsort %}{{ loop.index }}{{ k }}={{ v }}{% endfor %}",
    "{% for c in 'abc' %}{{ loop.last }}{% endfor %}{% for c in undefined_name %}x{% endfor %}",
    "{% for c in 5 %}{{ loop.index }}{% endfor %}", "{% for a, b in messages %}{{ loop.index }}{% endfor %}",
    "{{ nope.attr }}", "{{ nope + 1 }}", "{{ nope ~ 'x' }}{{ nope }}{{ nope | length if nope is defined }}",
    "{{ 'x' if false }}|{{ ('x' if false) ~ 'y' }}", "{{ raise_exception('bad ' ~ messages | length) }}",
    "{{ 1 // 0 }}", "{{ '%s-%d' % ('a', 2) }}{{ 7 % 3 }}{{ 2 ** 10 }}{{ 7 / 2 }}{{ -messages | length }}",
    "{{ messages[1:3] | map(attribute='role') | join('+') }}{{ messages[-1].content }}{{ messages[99] }}",
    "{{ messages[0]['role'] }}{{ messages[0]['items'] }}{{ messages[0][0] }}{{ messages['x'] }}{{ messages[True] }}",
    "{{ [1, 2][0] }}{{ {'a': 1}['a'] }}{{ (1, 2)[1] }}{{ 'abc'[1] }}{{ messages[0][['x']] }}",
    "{{ dict(a=1).items() | list }}{{ strftime_now('%Y') }}{{ 'x' in messages[0] }}{{ 'role' in messages[0] }}",
    "{{ messages | tojson }}{{ messages[0] | tojson(indent=2) }}{{ messages | length > 2 and 'y' or 'n' }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set ns = namespace(x=[]) %}{% set ns.x = ns.x + [1] %}{{ ns.x }}",
    "{% set ns = 3 %}{% set ns.x = 1 %}", "{{ namespace(a=1).b }}{{ namespace(a=1).a }}",
    "{{ messages is iterable }}{{ messages[0] is mapping }}{{ none is none }}{{ true is true }}{{ 1 is false }}",
    "{{ messages[1].content | trim | upper }}{{ messages | rejectattr('role', 'eq', 'user') | list | length }}",
    "{{ messages | selectattr('nosuch') | list }}{{ messages | map('upper') | list }}",
    # selectattr / rejectattr (key, equalto, constant) | list: inlined as a comprehension
    "{{ messages | selectattr('role', 'equalto', 'user') | list }}{{ messages | rejectattr('role', '==', 'user') | list }}",
    "{{ messages | selectattr('name', 'eq', none) | list }}{{ messages | selectattr('nosuch', 'equalto', 'x') | list }}",
    "{{ nope | selectattr('role', 'equalto', 'user') | list }}{{ none | rejectattr('role', 'equalto', 1) | list }}",
    "{{ 5 | selectattr('role', 'equalto', 'user') | list }}", "{{ 'abc' | selectattr('role', 'equalto', 'a') | list }}",
    "{{ [1, [2], {'role': 'user'}, 'user'] | selectattr('role', 'equalto', 'user') | list }}",
    "{{ messages[0] | selectattr('role', 'equalto', 'user') | list }}{{ [] | selectattr('a', 'eq', 1) | list }}",
    "{{ messages | selectattr('0', 'equalto', 'u') | list }}{{ messages | selectattr('a.b', 'equalto', 1) | list }}",
    # a loop reading only loop.index0/index/first iterates lazily, as LoopContext does (a shared
    # iterator, a namespace changed by the body); one reading last/length lists only what cannot change
    "{% set it = messages | map(attribute='role') %}{% for a in it %}{{ loop.index }}{{ a }}{% break %}{% endfor %}"
    "|{% for b in it %}{{ b }}{% endfor %}",
    "{% set it = messages | map(attribute='role') %}{% for a in it %}{{ loop.last }}{{ a }}{% break %}{% endfor %}"
    "|{% for b in it %}{{ b }}{% endfor %}",
    "{% set ns = namespace(v=1) %}{% for v in [ns, ns, ns] | map(attribute='v') %}{{ loop.index }}:{{ v }}"
    "{{ loop.length if v > 2 }},{% set ns.v = ns.v + 1 %}{% endfor %}",
    "{% set ns = namespace(v=1) %}{% for v in [ns, ns, ns] | map(attribute='v') %}{{ loop.last }}:{{ v }},"
    "{% set ns.v = ns.v + 1 %}{% endfor %}",
    "{% for a in messages %}{{ a.role }}{% for b in loop %}{{ loop.index }}{% break %}{% endfor %}{% endfor %}",
    "{% for a in messages %}{% for b in loop %}{{ loop.last }}{% break %}{% endfor %}{% endfor %}",
    "{% for c in 5 %}{{ loop.last }}{% endfor %}", "{% for c in nope %}{{ loop.index }}{{ loop.length }}{% endfor %}",
    "{% for k, v in messages[0] | items %}{{ k }}{{ loop.last }}{% endfor %}{% for k in messages[0] %}{{ loop.length }}"
    "{% endfor %}{% for c in 'ab' %}{{ loop.revindex }}{% endfor %}{% for i in range(3) %}{{ loop.last }}{% endfor %}",
    "{% for k in messages[0].keys() %}{{ loop.last }}{% endfor %}{% for k, v in messages[0].items() %}{{ loop.last }}{% endfor %}",
]
#: Constructs the compiler leaves to Jinja (besides macros): `self`, and `**kwargs` in a call (Jinja's
#: call pops `_loop_vars`/`_block_vars` from them, or refuses them inside a loop).
FALLBACK_EDGES = [
    "{{ self }}{{ self is defined }}", "{% for m in messages %}{{ self }}{% endfor %}",
    "{{ dict(**{'_loop_vars': 1}) }}{{ namespace(**{'_block_vars': 1}) }}",
    "{% for m in messages %}{{ dict(**{'_loop_vars': 1}) }}{% endfor %}", "{{ dict(**{'a': 1}) }}",
]
EDGES += FALLBACK_EDGES


@pytest.mark.parametrize("trusted", [False, True], ids=["sandboxed", "trusted"])
@pytest.mark.parametrize("source", EDGES)
def test_edge_cases_render_as_jinja(source, trusted):
    template = ChatTemplate(source, trusted=trusted)
    render = _compile_render(source, None, trusted)
    context = {"messages": MESSAGES, "tools": None, "documents": None, "add_generation_prompt": True}
    jinja = outcome(lambda: template._run_jinja(copy.deepcopy(context), False)[0])
    if render is None:  # falls back: then ChatTemplate's answer is Jinja's by construction
        return
    compiled = outcome(lambda: render(copy.deepcopy(context)))
    if compiled[0] == "bail":
        assert outcome(lambda: template._run(copy.deepcopy(context), False)[0]) == jinja
    else:
        assert compiled == jinja


def test_edge_cases_compile_but_macros():
    fallen = [s for s in EDGES if _compile_render(s, None, False) is None]
    assert fallen == [s for s in EDGES if "{% macro" in s or s in FALLBACK_EDGES]


def test_attribute_equality_lists_are_comprehensions():
    """Guard against the inlined selectattr switching off (the Mistral templates use it)."""
    source = "{{ messages | selectattr('role', 'equalto', 'user') | list }}"
    code = template_compiler.compiled_source(ChatTemplate(source).compiled, source)
    assert " for " in code and "selectattr" not in code.split("def root", 1)[1]


def test_sandbox_escapes_are_refused():
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    render = _compile_render(escape, None, False)
    assert render is not None
    with pytest.raises(jinja2.sandbox.SecurityError):
        render({"messages": []})


def test_the_compiled_code_has_no_jinja_runtime_in_the_hot_path():
    """Guard against the speed-up silently switching off: the qwen3 family compiles to plain code."""
    render = _compile_render(FAMILIES["qwen3"].source_text(), None, True)
    code = render.source
    assert "yield" not in code and "LoopContext(" not in code and "context." not in code
    assert "enumerate(" in code and "_a(" in code and json.dumps("x")
