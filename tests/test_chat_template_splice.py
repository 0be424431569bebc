"""Renders spliced from a plan of their conversation's shape (backends/hf/chat_template/splice.py)
equal the plain renders: on random conversations for every shipped family and training template,
and on templates written to ask every kind of question of a message's text, or to read it in a
way the probe must refuse, and on random templates (statements over the texts mixing both: 162 of
the 200 get plans). Each case would fail if a guard were not recorded or a refused operation were
followed."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from polyprompt.backends.hf.chat_template import render as render_module
from polyprompt.backends.hf.chat_template.render import ChatTemplate
from polyprompt.backends.hf.chat_template.spans import CLOSE, OPEN
from polyprompt.backends.hf.chat_template.splice import Apply, Cut, splice_function, text_of
from polyprompt.backends.hf.families import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
TRAINING = sorted(ROOT.glob("dataset/templates/*.jinja"))
SHAPES = [("system", "user", "assistant"), ("user", "assistant"), ("user", "assistant", "user", "assistant"),
          ("system", "user", "assistant", "user", "assistant"), ("user",), ("assistant",), ("system", "user"),
          ("user", "assistant", "user")]
#: pieces of message text that templates ask about, trim, or that tokenizers treat apart
PIECES = ["hello", " ", "\n", "\n\n", "\t", "</think>", "<think>", "<tool_response>", "</tool_response>",
          "<|im_end|>", "<|eot_id|>", "</s>", "<end_of_turn>", "  x ", "é", "日本語", "👍", "A", "0", "%s", "{{ x }}",
          OPEN, CLOSE, "\u2028", "\x00"]


@pytest.fixture(autouse=True)
def splice_at_once(monkeypatch):
    """Plans from the first render of plain messages (a template waits for a few by default)."""
    monkeypatch.setattr(render_module, "SPLICE_AFTER", 1)


def conversations(seed: int, n: int):
    """n random conversations: a shape, texts made of PIECES (empty ones included)."""
    rng = random.Random(seed)
    for _ in range(n):
        shape = rng.choice(SHAPES)
        yield [{"role": role, "content": "".join(rng.choice(PIECES) for _ in range(rng.choice((0, 1, 2, 5))))}
               for role in shape]


def outcome(run):
    try:
        return run()
    except Exception as err:  # noqa: BLE001 (the template's own error, compared)
        return type(err).__name__, str(err)


def plain_twin(template: ChatTemplate) -> ChatTemplate:
    """The same template, rendered without plans (the compiled renderers stay: they are proven
    equal to Jinja by test_hf_template_compiler.py and test_dataset_spans.py)."""
    twin = ChatTemplate(template.source, extra=dict(template.variables), date=template.date, trusted=template.trusted)
    twin._splicer = False
    return twin


def jinja_twin(template: ChatTemplate) -> ChatTemplate:
    """The same template rendered by Jinja alone."""
    twin = plain_twin(template)
    twin.compiled_render = twin.span_render = None
    return twin


def assert_same(template: ChatTemplate, reference: ChatTemplate, seed: int, n: int = 150) -> None:
    for messages in conversations(seed, n):
        for generation_prompt in (False, True):
            ours = outcome(lambda: template.render_with_spans([dict(m) for m in messages],
                                                              add_generation_prompt=generation_prompt))
            theirs = outcome(lambda: reference.render_with_spans([dict(m) for m in messages],
                                                                 add_generation_prompt=generation_prompt))
            assert ours == theirs, (messages, generation_prompt)
            ours = outcome(lambda: template.render([dict(m) for m in messages], add_generation_prompt=generation_prompt))
            theirs = outcome(lambda: reference.render([dict(m) for m in messages],
                                                      add_generation_prompt=generation_prompt))
            assert ours == theirs, (messages, generation_prompt)


def training(path: Path) -> ChatTemplate:
    return ChatTemplate(path.read_text(), bos_token="<s>", eos_token="</s>", trusted=True)


@pytest.mark.parametrize("path", TRAINING, ids=lambda p: p.name)
def test_training_templates_splice_as_they_render(path):
    template = training(path)
    assert_same(template, plain_twin(template), seed=len(path.name))
    if path.name != "deepseekv3_training.jinja":  # rendered by Jinja (spans.py): no splicer
        assert template._splicer and template._splicer._shapes, "no conversation was spliced"


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_templates_splice_as_they_render(name):
    template = FAMILIES[name].chat_template(bos_token="<s>", eos_token="</s>")
    assert_same(template, plain_twin(template), seed=len(name), n=60)


# Templates that ask of a text every kind of question the probe follows, or read it in a way it refuses.
ASKING = {
    "contains": "{% for m in messages %}{% if 'x' in m.content %}[X]{% endif %}{{ m.content }}|{% endfor %}",
    "startswith": "{% for m in messages %}{% if m.content.startswith('<think>') %}T{% endif %}{{ m.role }}{% endfor %}",
    "equal": "{% for m in messages %}{% if m.content == '' %}empty{% elif m.content != 'A' %}{{ m.content }}"
             "{% endif %}{% endfor %}",
    "truth": "{% for m in messages %}{{ m.content or 'none' }}{% if not m.content %}!{% endif %}{% endfor %}",
    "length": "{% for m in messages %}{{ m.content | length }}{% if m.content|length > 3 %}long{% endif %}{% endfor %}",
    "tests": "{% for m in messages %}{% if m.content is string %}s{% endif %}{% if m.content is defined %}d{% endif %}"
             "{% if m.content is none %}n{% endif %}{% if m.content is mapping %}m{% endif %}"
             "{% if m.content is iterable %}i{% endif %}{% if m.content is lower %}l{% endif %}{% endfor %}",
    "trim": "{% for m in messages %}<{{ m.content | trim }}>{{ m.content.lstrip('\\n') }}{{ m.content.upper() }}"
            "{% endfor %}",
    "concat": "{% for m in messages %}{{ '[' + m.content + ']' }}{{ m.role ~ ':' ~ m.content ~ m.content }}{% endfor %}",
    "in_list": "{% for m in messages %}{% if m.content in ['A', 'hello'] %}known{% endif %}{% endfor %}",
    "namespace": "{% set ns = namespace(last='') %}{% for m in messages %}{% set ns.last = m.content %}{% endfor %}"
                 "{{ ns.last }}{% if ns.last %}+{% endif %}",
    "find": "{% for m in messages %}{{ m.content.find('x') }}{{ m.content.count('\\n') }}{% endfor %}",
}
REFUSING = {
    "index": "{% for m in messages %}{{ m.content[0] }}{% endfor %}",
    "slice": "{% for m in messages %}{{ m.content[:3] }}{% endfor %}",
    "split": "{% for m in messages %}{{ m.content.split('x') | length }}{% endfor %}",
    "tojson": "{% for m in messages %}{{ m.content | tojson }}{% endfor %}",
    "join": "{{ messages | map(attribute='content') | join(',') }}",
    "iterate": "{% for m in messages %}{% for c in m.content %}{{ c }}.{% endfor %}{% endfor %}",
    "int": "{% for m in messages %}{{ m.content | int }}{% endfor %}",
    "format": "{% for m in messages %}{{ '%s!' % m.content }}{% endfor %}",
    "own_attribute": "{% for m in messages %}{{ m.content.value }}{{ m.content.recipe }}{% endfor %}",
    "key": "{% set d = {'A': 1} %}{% for m in messages %}{{ d[m.content] }}{% endfor %}",
    "string_method_arg": "{% for m in messages %}{{ 'xAy'.replace(m.content, '-') }}{% endfor %}",
    "in_string": "{% for m in messages %}{% if m.content in 'hello world' %}in{% endif %}{% endfor %}",
    "selectattr": "{{ messages | selectattr('content', 'string') | list | length }}",
    "messages_tojson": "{{ messages | tojson }}",
}


@pytest.mark.parametrize("name", sorted(ASKING))
def test_questions_are_guards(name):
    template = ChatTemplate(ASKING[name], trusted=True)
    assert_same(template, jinja_twin(template), seed=7, n=120)
    plans = [p for ps in template._splicer._shapes.values() for p in ps]
    assert plans and all(p.guards for p in plans) == (name not in ("concat", "trim")), name


@pytest.mark.parametrize("name", sorted(REFUSING))
def test_other_reads_are_refused(name):
    template = ChatTemplate(REFUSING[name], trusted=True)
    assert_same(template, jinja_twin(template), seed=11, n=80)
    assert not template._splicer._shapes, f"{name}: a plan was made from a read the probe cannot follow"


def test_a_guard_answered_otherwise_takes_another_plan():
    template = ChatTemplate(ASKING["contains"], trusted=True)
    first = template.render([{"role": "user", "content": "abc"}])
    second = template.render([{"role": "user", "content": "xyz"}])
    assert (first, second) == ("abc|", "[X]xyz|")
    assert [len(plans) for plans in template._splicer._shapes.values()] == [2]


def test_a_template_reading_the_clock_is_not_spliced():
    template = ChatTemplate("{{ strftime_now('%Y') }}{{ messages[0].content }}", trusted=True)
    template.render([{"role": "user", "content": "a"}])
    assert template._splicer is False


def test_untrusted_templates_are_not_spliced():
    template = ChatTemplate(ASKING["trim"])
    template.render([{"role": "user", "content": " a "}])
    assert template._splicer is False


def test_other_message_keys_and_tools_take_the_plain_render():
    template = ChatTemplate("{% for m in messages %}{{ m.role }}{{ m.content }}{{ m.name }}{% endfor %}"
                            "{{ tools | length if tools else '' }}", trusted=True)
    assert template.render([{"role": "user", "content": "a", "name": "n"}]) == "useran"
    assert template.render([{"content": "a", "role": "user"}]) == "usera"
    assert template.render([{"role": "user", "content": "a"}], tools=[{"type": "function"}]) == "usera1"
    assert not template._splicer._shapes


def test_splice_function_equals_the_recipe_walk():
    rng = random.Random(3)
    for _ in range(200):
        items = ["lit", "", 0, 1, Cut(OPEN), Cut(CLOSE), "x\ny", Apply(str.upper, (), (1,)),
                 Apply(str.replace, ("a", "b"), ("a", 0, Apply(str.strip, (), (1,))))]
        recipe = tuple(rng.choice(items) for _ in range(rng.randint(0, 9)))
        values = [rng.choice(["", "a", " a日本 "]) for _ in range(2)]
        text, cuts, length = [], [], 0
        for item in recipe:
            if type(item) is Cut:
                cuts.append((item.character, length))
                continue
            piece = item if type(item) is str else values[item] if type(item) is int else text_of((item,), values)
            text.append(piece)
            length += len(piece)
        assert splice_function(recipe)(values) == ("".join(text), cuts)


# Random templates: statements over the messages' texts, mixing what the probe follows and what it refuses.
EXPRESSIONS = ["m.content", "m.content | trim", "m.content.lstrip('\\n')", "m.content.upper()", "'[' + m.content + ']'",
               "m.role ~ ':' ~ m.content", "m.content.replace('a', 'b')", "m.content | length", "ns.last",
               "messages[0].content", "messages[-1].content | trim", "m.content[0]", "m.content | tojson",
               "m.content.split('x')[0]", "m.content ~ m.content", "(m.content or 'none')"]
CONDITIONS = ["'x' in m.content", "m.content.startswith('<')", "m.content.endswith('>')", "m.content == ''",
              "m.content", "not m.content", "m.content | length > 2", "m.content is string", "m.role == 'user'",
              "loop.first", "loop.last", "m.content.strip() == m.content", "m.content.isspace()", "ns.seen",
              "m.content in ['A', 'hello']", "m.content != ns.last", "'<think>' in m.content | trim"]


def random_template(rng: random.Random) -> str:
    def statements(depth: int) -> str:
        out = []
        for _ in range(rng.randint(1, 3)):
            pick = rng.random()
            if pick < 0.35:
                out.append("{{ " + rng.choice(EXPRESSIONS) + " }}")
            elif pick < 0.5:
                out.append(rng.choice(["|", "\n", "<|im_end|>", " ", "<s>"]))
            elif pick < 0.65:
                out.append("{% set ns.seen = " + rng.choice(CONDITIONS) + " %}")
            elif pick < 0.75:
                out.append("{% set ns.last = " + rng.choice(EXPRESSIONS) + " %}")
            elif depth < 2:
                out.append("{% if " + rng.choice(CONDITIONS) + " %}" + statements(depth + 1)
                           + ("{% else %}" + statements(depth + 1) if rng.random() < 0.5 else "") + "{% endif %}")
        return "".join(out)

    return ("{% set ns = namespace(seen=false, last='') %}{% for m in messages %}" + statements(0) + "{% endfor %}"
            + rng.choice(["", "{{ ns.last }}", "{% if ns.seen %}!{% endif %}"])
            + "{% if add_generation_prompt %}<gen>{% endif %}")


@pytest.mark.parametrize("seed", range(40))
def test_random_templates_splice_as_jinja_renders_them(seed):
    rng = random.Random(seed)
    for _ in range(5):
        template = ChatTemplate(random_template(rng), trusted=True)
        assert_same(template, jinja_twin(template), seed=seed, n=25)


def test_a_template_renders_a_few_times_before_it_makes_plans(monkeypatch):
    monkeypatch.setattr(render_module, "SPLICE_AFTER", 3)
    template = ChatTemplate(ASKING["trim"], trusted=True)
    for _ in range(2):
        assert template.render([{"role": "user", "content": " a "}]) == "<a> a  A "
        assert template._splicer is None  # one-off renders never compile the tracing code
    assert template.render([{"role": "user", "content": " a "}]) == "<a> a  A "
    assert template._splicer and template._splicer._shapes
