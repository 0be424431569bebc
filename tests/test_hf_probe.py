"""Probing chat templates: `backends/hf/probe/` learns a template's quirks by rendering it.

- every refdata chat template and every built-in family has its probe table checked in under
  tests/golden/probe/ (`refdata-<name>.json`, `family-<name>.json`: the probe, the capability
  table it gives and the notes); `pytest --update-goldens` rewrites them and the table in
  docs/model-probing.md, and the diff is reviewed in git;
- the facts of platforms.md §1c are asserted one by one on the live probe;
- the probe agrees with the hand-written fields of each `Family` (`system`, `alternation`,
  `default_system`, `generation_prompt`, `thinking`): the probe is the source of truth, so a
  disagreement is a bug in families.py (none today; `DISAGREEMENTS` would list one with its reason);
- small synthetic templates exercise each classification, and probing everything is fast.
"""
from __future__ import annotations

import datetime
import json
import time

import attrs
import pytest
from helpers import REFDATA as DATA, REPO
from polyprompt.backends.base import Caps
from polyprompt.backends.hf.families import FAMILIES
from polyprompt.backends.hf.probe.facts import Probe, ProbeError, probe
from polyprompt.backends.hf.chat_template.render import ChatTemplate

REF = DATA / "chat_templates"
GOLDEN = REPO / "tests" / "golden" / "probe"
DOC = REPO / "docs" / "model-probing.md"
DATE = datetime.date(2024, 7, 26)  # the fixed date hf targets render with (target.DEFAULT_DATE)
REFDATA = sorted(p.stem for p in REF.glob("*.jinja"))
CAPS_SHOWN = ("system", "alternation", "first_user", "tools", "tool_results", "media")
TABLE_START, TABLE_END = "<!-- probe-table:start -->", "<!-- probe-table:end -->"


def refdata_template(stem: str) -> ChatTemplate:
    tokens = json.loads((REF / f"{stem}.tokens.json").read_text(encoding="utf-8"))
    extra = {"pad_token": tokens["pad_token"]} if tokens.get("pad_token") else None
    return ChatTemplate((REF / f"{stem}.jinja").read_text(encoding="utf-8"), bos_token=tokens.get("bos_token"),
                        eos_token=tokens.get("eos_token"), extra=extra, date=DATE)


def probe_of(kind: str, name: str) -> Probe:
    if kind == "family":
        return probe(FAMILIES[name].chat_template(date=DATE), name)
    return probe(refdata_template(name), name)


def golden_record(kind: str, name: str) -> dict:
    p = probe_of(kind, name)
    caps = p.caps()
    source = (f"backends/hf/templates/{FAMILIES[name].template}" if kind == "family"
              else f"refdata/chat_templates/{name}.jinja")
    return {"template": source, "date": DATE.isoformat(), "probe": p.as_dict(),
            "caps": {f: _json(getattr(caps, f)) for f in CAPS_SHOWN}, "notes": p.notes()}


def _json(value):
    return sorted(value) if isinstance(value, frozenset) else value


def dump(record: dict) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False) + "\n"


CASES = [("family", n) for n in FAMILIES] + [("refdata", n) for n in REFDATA]


# ---------------------------------------------------------------------------------------------
# goldens


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_probe_golden(kind, name, request):
    path = GOLDEN / f"{kind}-{name}.json"
    text = dump(golden_record(kind, name))
    if request.config.getoption("--update-goldens"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path}: run pytest --update-goldens"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs (pytest --update-goldens, then review the diff)"


def test_no_stale_goldens():
    expected = {f"{kind}-{name}.json" for kind, name in CASES}
    assert {p.name for p in GOLDEN.glob("*.json")} == expected


def test_goldens_round_trip():
    for path in GOLDEN.glob("*.json"):
        data = json.loads(path.read_text(encoding="utf-8"))["probe"]
        assert Probe.from_dict(data).as_dict() == data


def test_a_family_probes_like_its_refdata_copy():
    """A family whose template and tokens equal a refdata template's has the same probe table."""
    paired = set()
    for name, fam in FAMILIES.items():
        for stem in REFDATA:
            ref = refdata_template(stem)
            own = fam.chat_template(date=DATE)
            if ref.source == own.source and ref.variables.get("bos_token") == own.variables.get("bos_token") \
                    and ref.variables.get("eos_token") == own.variables.get("eos_token"):
                family_golden = json.loads((GOLDEN / f"family-{name}.json").read_text(encoding="utf-8"))
                ref_golden = json.loads((GOLDEN / f"refdata-{stem}.json").read_text(encoding="utf-8"))
                assert {**family_golden["probe"], "name": stem} == ref_golden["probe"], (name, stem)
                paired.add(name)
    assert set(FAMILIES) - paired == {"smollm2"}  # from a GGUF, not in refdata


# ---------------------------------------------------------------------------------------------
# platforms.md §1c, on the live probe


def ref(stem: str) -> Probe:
    return probe_of("refdata", stem)


def test_system_handling_facts():
    gemma2 = ref("gemma-2")
    assert (gemma2.system, gemma2.system_error) == ("raises", "System role not supported")
    assert gemma2.caps().system == "merge"
    assert gemma2.notes()[0] == ("gemma-2 raises on a system role ('System role not supported'): "
                                 "system text is merged into the first user turn")

    gemma3 = ref("gemma-3")
    assert (gemma3.system, gemma3.system_merge, gemma3.system_joiner) == ("merged", "first-user", "\n\n")
    for stem in ("mistral-v3", "mistral-nemo-tekken"):
        p = ref(stem)
        assert (p.system, p.system_merge, p.system_joiner) == ("merged", "last-user", "\n\n")
    # platforms.md says mistral-v1 raises "Only user and assistant roles are supported!"; the
    # alternation check runs first, so transformers (refdata expected_renders.json) shows this one:
    v1 = ref("mistral-v1-legacy")
    assert v1.system == "raises"
    assert v1.system_error == "Conversation roles must alternate user/assistant/user/assistant/..."
    assert ref("phi-3-legacy").system == "dropped" and ref("phi-3-legacy").caps().system == "merge"
    for stem in ("chatml", "llama-3", "qwen2.5", "qwen3", "phi-3", "phi-3.5", "phi-4", "mistral-small-3.2"):
        assert ref(stem).system == "native", stem
    for stem in ("deepseek-v3", "deepseek-r1", "deepseek-r1-trl", "deepseek-r1-distill-qwen", "deepseek-v3.1"):
        p = ref(stem)  # the system text raw right after bos, joined systems moved there
        assert (p.system, p.system_open, p.system_close, p.late_system) == ("native", "", "", "moved"), stem
    assert ref("mistral-small-3.2").system_open == "[SYSTEM_PROMPT]"
    assert ref("phi-4").system_open == "<|im_start|>system<|im_sep|>"


def test_default_system_prompt_facts():
    assert ref("qwen2.5").default_system == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    assert ref("qwen2").default_system == "You are a helpful assistant."
    assert probe_of("family", "smollm2").default_system == (
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    small = ref("mistral-small-3.2")
    assert small.default_system.startswith("You are Mistral Small 3,") and small.dated
    assert "The current date is 2024-07-26." in small.default_system
    for stem in ("chatml", "llama-3", "qwen3", "qwen3-initial", "gemma-3", "phi-3", "deepseek-v3", "mistral-v3"):
        assert ref(stem).default_system is None, stem
    assert "qwen2.5 injects a default system prompt when none is given: 'You are Qwen, " in "\n".join(
        ref("qwen2.5").notes())


def test_llama_dated_system_header():
    header = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
    for stem in ("llama-3.1", "llama-3.2", "llama-3.3"):
        p = ref(stem)
        assert (p.system, p.system_preamble, p.default_system) == ("native", header, None), stem
        assert p.system_open == "<|start_header_id|>system<|end_header_id|>\n\n" + header
    assert not ref("llama-3.1").dated and not ref("llama-3.3").dated  # date_string defaults to 26 Jul 2024
    assert ref("llama-3.2").dated  # strftime_now
    assert ref("llama-3").system_preamble is None
    assert set(ref("llama-3").trims) == {"user", "assistant", "system"}


def test_alternation_facts():
    for stem in ("gemma-2", "gemma-3", "mistral-v1-legacy", "mistral-v3", "mistral-nemo-tekken", "mistral-small-3.2"):
        p = ref(stem)
        assert p.alternation and p.first_user, stem
        assert p.caps().alternation and p.caps().first_user
    for stem in ("chatml", "llama-3.1", "qwen2.5", "phi-3", "deepseek-v3"):
        p = ref(stem)
        assert not (p.alternation or p.first_user), stem


def test_generation_prompt_facts():
    assert ref("gemma-2").generation_prompt == "<start_of_turn>model\n"
    assert ref("chatml").generation_prompt == "<|im_start|>assistant\n"
    phi = ref("phi-3")
    assert (phi.generation_prompt, phi.without_generation_prompt) == ("<|assistant|>\n", "<|endoftext|>")
    for stem in ("mistral-v1-legacy", "mistral-v3", "mistral-small-3.2"):
        assert ref(stem).generation_prompt == "", stem
    assert ref("mistral-v1-legacy").prompt_end == " [/INST]"
    legacy = ref("phi-3-legacy")  # every user turn ends with the assistant header already
    assert (legacy.generation_prompt, legacy.prompt_end) == ("", "<|end|>\n<|assistant|>\n")
    assert ref("deepseek-r1").generation_prompt == "<｜Assistant｜>"
    assert ref("deepseek-r1-trl").generation_prompt == "<｜Assistant｜><think>\n"
    assert ref("deepseek-v3.1").generation_prompt == "<｜Assistant｜></think>"


def test_thinking_facts():
    for stem in ("qwen3", "qwen3-initial"):
        p = ref(stem)
        assert p.thinking_switches == (("enable_thinking", False, "<|im_start|>assistant\n<think>\n\n</think>\n\n"),)
        assert (p.reasoning_content, p.inline_think) == ("last-only", "last-only")
    v31 = ref("deepseek-v3.1")
    assert v31.thinking_switches == (("thinking", True, "<｜Assistant｜><think>"),)
    assert ref("deepseek-r1-trl").inline_think == "dropped"  # history content cut after </think>
    assert ref("deepseek-v3").inline_think == "kept"
    assert ref("chatml").inline_think == "kept" and ref("chatml").reasoning_content == "dropped"
    assert ref("chatml").thinking_switches == ()


def test_tool_facts():
    qwen = ref("qwen2.5")
    assert (qwen.tools, qwen.tools_placement, qwen.tool_arguments, qwen.tool_results) == (
        True, "system", "dict", "user-turn")
    assert qwen.tool_result_render == "<|im_start|>user\n<tool_response>\n{content}\n</tool_response><|im_end|>\n" \
                                      "<|im_start|>assistant\n"
    assert ref("qwen3").tool_arguments == "both"
    llama = ref("llama-3.1")
    assert (llama.tools_placement, llama.tool_arguments, llama.tool_results) == ("first-user", "dict", "own-turn")
    assert "<|start_header_id|>ipython<|end_header_id|>" in llama.tool_result_render
    for stem in ("mistral-v3", "mistral-small-3.2"):
        p = ref(stem)
        assert (p.tools, p.tools_placement, p.tool_results) == (True, "last-user", "own-turn"), stem
    r1 = ref("deepseek-r1-trl")  # calls and results, but no tool list: the model never sees the tools
    assert (r1.tools, r1.tool_calls, r1.tool_arguments) == (False, True, "string")
    assert not r1.caps().tools
    v3 = ref("deepseek-v3")  # needs content None for a call, which transformers drops: the call is lost
    assert (v3.tool_calls, v3.tool_call_error) == (False, None)
    for stem in ("chatml", "llama-3", "qwen2", "gemma-2", "gemma-3", "phi-3", "phi-4", "mistral-v1-legacy"):
        assert not ref(stem).tools and not ref(stem).caps().tools, stem
    assert ref("gemma-2").tool_results == "raises"


def test_bos_and_trimming_facts():
    assert ref("gemma-2").starts_with_bos and ref("llama-3").starts_with_bos
    assert ref("phi-3").starts_with_bos is False  # the template never writes bos
    assert ref("qwen2.5").starts_with_bos is None  # no bos_token at all
    assert probe_of("family", "smollm2").starts_with_bos is False  # its bos <|im_start|> is not written as bos
    assert probe_of("family", "smollm2").system_open == "<|im_start|>system\n"
    assert set(ref("gemma-2").trims) == {"user", "assistant"}
    assert ref("mistral-v3").trims == ("assistant",)
    assert ref("chatml").trims == ()


# ---------------------------------------------------------------------------------------------
# the probe against the hand-written families


def family_system(p: Probe) -> str:
    """The probe's system handling in families.py's vocabulary."""
    if p.system == "native":
        return "native" if (p.system_open or p.system_close) else "after-bos"
    if p.system == "merged":
        return p.system_merge
    return {"raises": "unsupported", "dropped": "dropped"}[p.system]


def thinks(p: Probe) -> bool:
    return bool(p.thinking_switches) or "<think>" in p.generation_prompt or p.inline_think in ("dropped", "last-only")


#: family -> (field, why the hand-written value differs from the probe); empty: they all agree
DISAGREEMENTS: dict[str, tuple[str, str]] = {}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_probe_agrees_with_family(name):
    fam, p = FAMILIES[name], probe_of("family", name)
    found = {
        "system": family_system(p),
        "alternation": p.alternation,
        "default_system": p.default_system,
        "generation_prompt": p.generation_prompt,
        "thinking": thinks(p),
    }
    written = {
        "system": fam.system,
        "alternation": fam.alternation,
        # Llama 3.1-3.3's dated header is not a default system prompt (a given system message does
        # not replace it): the probe reports it as `system_preamble`, families.py in `notes`
        "default_system": fam.default_system.format(today=DATE.isoformat()) if fam.default_system else None,
        "generation_prompt": fam.generation_prompt,
        "thinking": fam.thinking is not None,
    }
    differ = {k for k in found if found[k] != written[k]}
    if name in DISAGREEMENTS:
        assert differ == {DISAGREEMENTS[name][0]}, f"{name}: families.py was fixed? drop it from DISAGREEMENTS"
    else:
        assert not differ, {k: (found[k], written[k]) for k in differ}
    if "dated system header" in fam.notes or "Today Date" in fam.notes:
        assert p.system_preamble and "Today Date" in p.system_preamble


# ---------------------------------------------------------------------------------------------
# synthetic templates: each classification on its own


def synthetic(source: str, **kw) -> Probe:
    return probe(ChatTemplate(source, **kw))


LOOP = "{% for m in messages %}{{ '<' + m.role + '>' + m.content + '</>' }}{% endfor %}" \
       "{% if add_generation_prompt %}<assistant>{% endif %}"


def test_synthetic_native():
    p = synthetic(LOOP)
    assert (p.system, p.system_open, p.system_close, p.late_system) == ("native", "<system>", "</>", "in-place")
    assert p.generation_prompt == "<assistant>" and p.default_system is None and not p.alternation
    assert p.caps() == Caps(system="message", tools=False, media=frozenset(), media_urls=frozenset())
    assert p.tool_results == "own-turn" and not p.tool_calls


def test_synthetic_dropped_and_default():
    drops = synthetic("{% for m in messages if m.role != 'system' %}<{{ m.role }}>{{ m.content }}</>{% endfor %}")
    assert drops.system == "dropped" and drops.late_system == "dropped" and drops.caps().system == "merge"
    default = synthetic("{% if messages[0].role != 'system' %}<system>Be nice.</>{% endif %}" + LOOP)
    assert default.default_system == "Be nice." and default.system == "native"
    assert default.notes()[0] == "the template injects a default system prompt when none is given: 'Be nice.'"


def test_synthetic_merges_into_last_user():
    source = ("{% set sys = messages[0].content if messages[0].role == 'system' else '' %}"
              "{% for m in messages if m.role != 'system' %}"
              "{% if m.role == 'user' and loop.last and sys %}[U]{{ sys }} -- {{ m.content }}[/U]"
              "{% elif m.role == 'user' %}[U]{{ m.content }}[/U]{% else %}{{ m.content }}{% endif %}{% endfor %}")
    p = synthetic(source)
    assert (p.system, p.system_merge, p.system_joiner) == ("merged", "last-user", " -- ")
    assert p.late_system == "dropped" and p.caps().system == "top_level"  # only messages[0] is read
    assert "prepends system text to the last user turn" in p.notes()[0]


def test_synthetic_raises():
    source = ("{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('no system') }}{% endif %}"
              "{% if (m.role == 'user') != loop.index0 is even %}{{ raise_exception('alternate!') }}{% endif %}"
              "<{{ m.role }}>{{ m.content | trim }}</>{% endfor %}")
    p = synthetic(source, bos_token="<s>")
    assert (p.system, p.system_error, p.alternation_error, p.first_user_error) == (
        "raises", "no system", "alternate!", "alternate!")
    assert p.trims == ("user", "assistant") and p.starts_with_bos is False
    caps = p.caps()
    assert (caps.system, caps.alternation, caps.first_user) == ("merge", True, True)


def test_synthetic_tools_and_dates():
    source = ("{{ bos_token }}{% if tools %}[TOOLS]{{ tools | tojson }}[/TOOLS]{% endif %}"
              "[DATE {{ strftime_now('%Y') }}]"
              "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
              "{% for c in m.tool_calls or [] %}CALL {{ c.function.name }} {{ c.function.arguments | tojson }}"
              "{% endfor %}</>{% endfor %}")
    p = synthetic(source, bos_token="<s>", date=DATE)
    assert p.starts_with_bos and p.dated and p.tools and p.tool_calls
    assert (p.tools_placement, p.tool_arguments, p.tool_results) == ("system", "dict", "own-turn")
    assert p.tool_result_render == "<tool>{content}</>"
    assert p.caps().tools and p.caps().tool_results == "tool_message"


def test_a_template_that_renders_nothing_cannot_be_probed():
    with pytest.raises(ProbeError):
        synthetic("{{ raise_exception('never') }}")


def test_caps_mapping():
    base = Probe()
    assert base.caps().system == "message"
    assert attrs.evolve(base, system="merged", system_merge="first-user").caps().system == "message"
    assert attrs.evolve(base, system="raises").caps().system == "merge"
    assert attrs.evolve(base, system="dropped").caps().system == "merge"
    assert attrs.evolve(base, late_system="raises").caps().system == "top_level"
    assert attrs.evolve(base, alternation=True).caps().first_user  # alternation implies a user first
    assert not base.caps().tools
    full = attrs.evolve(base, tools=True, tool_calls=True, tool_results="user-turn")
    assert full.caps().tools and full.caps().tool_results == "tool_message"  # the template wraps results itself


def test_probing_everything_is_fast():
    start = time.perf_counter()
    for kind, name in CASES:
        probe_of(kind, name)
    assert time.perf_counter() - start < 10


# ---------------------------------------------------------------------------------------------
# docs/model-probing.md: the family table is generated from the goldens


def _cell(text, width: int = 40) -> str:
    if text is None or text == "":
        return "—"
    shown = json.dumps(text, ensure_ascii=False)[1:-1] if isinstance(text, str) else str(text)
    if len(shown) > width:
        shown = shown[:width - 3] + "..."
    return "`" + shown.replace("|", "\\|").replace("`", "'") + "`"


def family_table() -> str:
    head = ("| family | system | default system / header | alternation | generation prompt | tools | "
            "tool results | `<think>` in history | thinking switches | images | caps.system |")
    rows = [head, "|" + "---|" * 11]
    for name in FAMILIES:
        g = json.loads((GOLDEN / f"family-{name}.json").read_text(encoding="utf-8"))
        p = g["probe"]
        system = p["system"] + (f" ({p['system_merge']})" if p["system_merge"] else "")
        if p["system"] == "native" and not (p["system_open"] or p["system_close"]):
            system += " (no markup)"
        default = (_cell(p["default_system"]) if p["default_system"] else
                   "header " + _cell(p["system_preamble"]) if p["system_preamble"] else "—")
        if p["dated"]:
            default += " (dated)"
        alternation = "raises" if p["alternation"] else "free"
        tools = (f"{p['tools_placement']}, args {p['tool_arguments']}" if p["tools"] and p["tool_calls"] else
                 f"calls only, args {p['tool_arguments']}" if p["tool_calls"] else "no")
        switches = ", ".join(f"`{v}={x}`" for v, x, _ in p["thinking_switches"]) or "—"
        images = _cell(p["image_placeholder"]) if p["images"] == "placeholder" else f"no ({p['images']})"
        rows.append(f"| `{name}` | {system} | {default} | {alternation} | {_cell(p['generation_prompt'], 60)} | "
                    f"{tools} | {p['tool_results']} | {p['inline_think']} | {switches} | {images} | "
                    f"{g['caps']['system']} |")
    return "\n".join(rows)


def test_docs_table_in_sync(request):
    doc = DOC.read_text(encoding="utf-8")
    start, end = doc.index(TABLE_START) + len(TABLE_START), doc.index(TABLE_END)
    table = "\n" + family_table() + "\n"
    if request.config.getoption("--update-goldens"):
        DOC.write_text(doc[:start] + table + doc[end:], encoding="utf-8")
        return
    assert doc[start:end] == table, "docs/model-probing.md table is stale: run pytest --update-goldens"


def test_cli_prints_a_probe_table():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "polyprompt", "targets", "--probe", "hf-family:gemma-2"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "system" in out.stdout and "raises" in out.stdout and "System role not supported" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "polyprompt", "targets", "--probe", "openai-chat"],
                         capture_output=True, text=True)
    assert bad.returncode == 2
