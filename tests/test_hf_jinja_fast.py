"""backends/hf/chat_template/jinja_fast.py: the fast code generator and lookups change speed, never results.

Each template below is rendered by jinja2's own environments (transformers' immutable sandbox, and
the plain Environment) and by ours, on the same inputs: the outputs, or the errors, must be equal.
The cases aim at the inlined operations' edges: dict keys that are dict attributes, missing keys,
str methods on non-strings, dict subclasses, loop and namespace attributes, unsafe attributes.
"""
from __future__ import annotations

import copy
import json

import jinja2
import pytest
from jinja2.sandbox import ImmutableSandboxedEnvironment

from polyprompt.backends.hf.chat_template.jinja_fast import FastEnvironment, FastSandboxedEnvironment


class Sub(dict):
    """A dict subclass: takes Jinja's own path."""


MESSAGES = [
    {"role": "system", "content": "Be brief.", "items": "an items key", "get": 3},
    {"role": "user", "content": "  Hello <think>x</think> world  ", "name": None},
    Sub(role="assistant", content="Hi", tool_calls=[{"function": {"name": "f", "arguments": {"a": 1}}}]),
    {"role": "user", "content": ["a", "list", "content"]},
    {"role": "user", "content": 42},
]

TEMPLATES = [
    "{% for m in messages %}{{ m.role }}:{{ m.content }}|{% endfor %}",
    "{% for m in messages %}{{ m.missing is defined }}{{ m.name is none }}{{ m.items is callable }}{% endfor %}",
    "{% for m in messages %}{{ m.get is callable }}{{ m.get('get') }}{% endfor %}",
    "{% for m in messages %}{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}{% endfor %}",
    "{% for m in messages %}{{ m.get('role', 'none') }}{{ m.keys() | list | length }}{% endfor %}",
    "{% for m in messages %}{{ m.content.startswith('  ') if m.content is string }}{% endfor %}",
    "{% for m in messages %}{{ m.content.split('</think>')[-1].lstrip().rstrip() }}{% endfor %}",
    "{{ messages[1].content.strip().upper().replace('HELLO', 'bye').split(' ', 1) }}",
    "{{ messages[3].content.split(' ') }}",  # a list has no split: Jinja's error, from both
    "{{ messages[4].content.strip() }}",  # an int neither
    "{{ messages[9].content }}",
    "{{ messages[0].nope.deeper }}",
    "{{ messages[0].nope + 'x' }}",
    "{% for m in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}"
    "{{ loop.cycle('a', 'b') }}{{ loop.previtem is defined }}{{ loop.nosuch is defined }}{% endfor %}",
    "{% set ns = namespace(n=0, seen=[]) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}"
    "{{ ns.n }}{{ ns.nosuch is defined }}{{ ns.seen }}",
    "{% for m in messages %}{{ m.tool_calls[0].function.name if m.tool_calls }}{% endfor %}",
    "{% for m in messages %}{{ m.tool_calls | tojson if m.tool_calls }}{% endfor %}",
    "{{ ''.__class__.__mro__ }}",
    "{{ messages[0].__class__ }}",
    "{{ messages[0]._private }}",
    "{{ messages[0].content.format(1) }}",
    "{{ messages[0].pop('role') }}",
    "{% macro show(m) %}{{ m.role }}/{{ m.content.lower() }}{% endmacro %}{{ show(messages[0]) }}",
    "{% for m in messages if m.role == 'user' %}{{ m.content }}{% endfor %}",
    "{{ messages | map(attribute='role') | join(',') }}{{ messages | selectattr('role', 'eq', 'user') | list | length }}",
    "{{ (messages | first).content.endswith('.') }}{{ 'abc'.find('c') }}{{ 'a,b'.rsplit(',') }}",
]


def _outcome(env: jinja2.Environment, source: str) -> str:
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, **kw)
    try:
        return "ok:" + env.from_string(source).render(messages=copy.deepcopy(MESSAGES))  # a template may modify it
    except Exception as error:  # the kind and message of the error must match too
        return f"error:{type(error).__name__}:{error}"


@pytest.mark.parametrize("source", TEMPLATES)
def test_fast_environments_render_as_jinja(source):
    options = {"trim_blocks": True, "lstrip_blocks": True}
    assert _outcome(FastSandboxedEnvironment(**options), source) == _outcome(ImmutableSandboxedEnvironment(**options), source)
    assert _outcome(FastEnvironment(**options), source) == _outcome(jinja2.Environment(**options), source)


def test_the_fast_code_inlines_dict_keys_and_pure_calls():
    """Guard against the speed-up silently switching off: the hot operations are inlined."""
    code = FastSandboxedEnvironment().compile("{{ m.role }}{{ m.content.strip() }}", raw=True)
    assert "is dict" in code and "is str" in code
    assert "environment.getattr(l_0_m, 'role')" not in code
