"""Images in model templates: `hf-family:<name>` and `hf:<dir>` targets whose chat template renders
an image placeholder take images.

- probing: what an image block (`{"type": "image"}`, transformers' multimodal message format)
  renders as, on every refdata template and every family, and on small templates written here in
  the shapes other vision templates test images with (`type == 'image'`, `'image_url' in content`,
  images before the text, a newline per block);
- compiling: for messages with images, the prompt text equals transformers'
  `apply_chat_template(tokenize=False)` of the same message list on each image-capable family
  (gemma-3, mistral-v7); the token ids equal `apply_chat_template(tokenize=True)` with the real
  Gemma 3 tokenizer; the body's `images` are the images in placeholder order, and Gemma 3's processor
  turns `prompt` + `images` into the same model inputs as its own `apply_chat_template`;
- refusing: a template without an image placeholder refuses an image with PP302, naming the target
  and saying why.
"""
from __future__ import annotations

import base64
import datetime
import io
import json
import os
import subprocess
import sys

import pytest
from helpers import EXAMPLES, compile_source
from hf_assets import load
from polyprompt.backends.hf.families import FAMILIES
from polyprompt.backends.hf.probe.facts import probe
from polyprompt.backends.hf.target import DEFAULT_DATE
from polyprompt.backends.hf.chat_template.render import ChatTemplate
from test_hf_probe import CASES, probe_of

import polyprompt

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# ---------------------------------------------------------------------------------------------
# probing

#: the image placeholder of each template that renders one; the others, how they fail
PLACEHOLDERS = {"family-gemma-3": "<start_of_image>", "refdata-gemma-3": "<start_of_image>",
                "family-mistral-v7": "[IMG]", "refdata-mistral-small-3.2": "[IMG]"}
PRINTED = {f"{kind}-{name}" for kind in ("family", "refdata")
           for name in ("llama-3", "llama-3.1", "llama-3.2", "llama-3.3", "gemma-2")}
DROPPED = {"family-qwen3", "refdata-qwen3"}  # a content list is read as no content at all


def expected_images(case: str) -> str:
    if case in PLACEHOLDERS:
        return "placeholder"
    return "printed" if case in PRINTED else "dropped" if case in DROPPED else "strings-only"


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_probe_finds_each_templates_image_placeholder(kind, name):
    case, p = f"{kind}-{name}", probe_of(kind, name)
    assert (p.images, p.image_placeholder) == (expected_images(case), PLACEHOLDERS.get(case))
    assert p.caps().media == p.caps().media_urls == (frozenset({"image"}) if case in PLACEHOLDERS else frozenset())
    assert (p.image_refusal() is None) == (case in PLACEHOLDERS)
    if p.images == "strings-only":  # `'<' + content` and the like: a list cannot be concatenated
        assert p.image_error.startswith(("TypeError", "UndefinedError")), p.image_error


def test_every_family_with_an_image_placeholder_is_known():
    assert {n for n in FAMILIES if probe_of("family", n).images == "placeholder"} == {"gemma-3", "mistral-v7"}


def turn_loop(content: str) -> str:
    """A minimal template: string content as is, a content list through `content` (one block `c`)."""
    return ("{% for m in messages %}<{{ m.role }}>{% if m.content is string %}{{ m.content }}{% else %}"
            + content + "{% endif %}</>{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")


BLOCKS = "{% for c in m.content %}{body}{% endfor %}"
VISION_SHAPES = {
    # the test Llama 3.2 Vision, Gemma 3, Pixtral, Idefics/SmolVLM use
    "type-equals": (BLOCKS.replace("{body}", "{% if c['type'] == 'image' %}<|image|>{% elif c['type'] == 'text' %}"
                                             "{{ c['text'] }}{% endif %}"), "<|image|>"),
    # the test Qwen2-VL uses: any of three ways an image block may be written
    "any-of": (BLOCKS.replace("{body}", "{% if c['type'] == 'image' or 'image' in c or 'image_url' in c %}"
                                        "<|vision_start|><|image_pad|><|vision_end|>{% elif 'text' in c %}"
                                        "{{ c.text }}{% endif %}"), "<|vision_start|><|image_pad|><|vision_end|>"),
    # LLaVA's order: every image of the turn first, then its text
    "images-first": (("{% for c in m.content | selectattr('type', 'equalto', 'image') %}<image>\n{% endfor %}"
                      "{% for c in m.content | selectattr('type', 'equalto', 'text') %}{{ c.text }}{% endfor %}"),
                     "<image>\n"),
    # a line per block
    "line-per-block": (BLOCKS.replace("{body}", "{% if c.type == 'image' %}[image]{% else %}{{ c.text }}{% endif %}"
                                                "{{ '\\n' }}"), "[image]\n"),
}
NO_IMAGE_SHAPES = {
    "raises": (BLOCKS.replace("{body}", "{% if c.type != 'text' %}{{ raise_exception('Only text blocks') }}{% endif %}"
                                        "{{ c.text }}"), "raises"),
    "text-blocks-only": (BLOCKS.replace("{body}", "{% if c.type == 'text' %}{{ c.text }}{% endif %}"), "dropped"),
    "printed": ("{{ m.content }}", "printed"),
    "printed-as-json": ("{{ m.content | tojson }}", "printed"),
}


@pytest.mark.parametrize("shape", VISION_SHAPES)
def test_probe_reads_other_vision_template_shapes(shape):
    content, placeholder = VISION_SHAPES[shape]
    p = probe(ChatTemplate(turn_loop(content)))
    assert (p.images, p.image_placeholder) == ("placeholder", placeholder)
    assert "image" in p.caps().media


@pytest.mark.parametrize("shape", NO_IMAGE_SHAPES)
def test_probe_tells_why_a_template_takes_no_images(shape):
    content, images = NO_IMAGE_SHAPES[shape]
    p = probe(ChatTemplate(turn_loop(content)))
    assert (p.images, p.image_placeholder) == (images, None)
    assert p.caps().media == frozenset()
    assert p.image_refusal().startswith("its chat template ")
    if images == "raises":
        assert p.image_error == "Only text blocks" and "'Only text blocks'" in p.image_refusal()


def test_a_placeholder_is_whole_special_tokens():
    # `<|user|>X` against `<|user_img|>X`: they share `<|user` and `|>X`, but what the image adds is a token
    source = ("{% for m in messages %}{% if m.content is string %}<|user|>{{ m.content }}{% else %}"
              "{{ '<|user_img|>' if m.content | selectattr('type', 'equalto', 'image') | list else '<|user|>' }}"
              "{% for c in m.content if c.type == 'text' %}{{ c.text }}{% endfor %}{% endif %}<|end|>{% endfor %}")
    p = probe(ChatTemplate(source))
    assert (p.images, p.image_placeholder) == ("placeholder", "<|user_img|>")


# ---------------------------------------------------------------------------------------------
# compiling: the prompt, the token ids and the images against transformers


def png(color: str) -> str:
    """A small PNG as base64 (PIL ships with mistral-common, which the model assets install)."""
    image = pytest.importorskip("PIL.Image")
    buf = io.BytesIO()
    image.new("RGB", (16, 12), color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def data_url(color: str) -> str:
    return f"data:image/png;base64,{png(color)}"


def text(t: str) -> dict:
    return {"type": "text", "text": t}


IMAGE = {"type": "image"}

#: id -> (prompt source, inputs given a color -> image function, the image colors in prompt order,
#: the message list transformers is given for it)
CONVERSATIONS = {
    "one-image": (
        'prompt p(a: image) {\n  user { image(a) "What is in this picture?" }\n}\n',
        lambda img: {"a": img("red")}, ["red"],
        [{"role": "user", "content": [IMAGE, text("What is in this picture?")]}]),
    "two-images": (
        'prompt p(a: image, b: image) {\n  user { "Compare" image(a) "with" image(b) "." }\n}\n',
        lambda img: {"a": img("red"), "b": img("blue")}, ["red", "blue"],
        [{"role": "user", "content": [text("Compare"), IMAGE, text("with"), IMAGE, text(".")]}]),
    "text-around-and-system": (
        ('prompt p(a: image, q: str) {\n  system "You describe images in one sentence."\n'
         '  user { "Before the image, some text. " image(a) " After it: {{ q }}" }\n}\n'),
        lambda img: {"a": img("green"), "q": "what colour is it?"}, ["green"],
        [{"role": "system", "content": "You describe images in one sentence."},
         {"role": "user", "content": [text("Before the image, some text. "), IMAGE,
                                      text(" After it: what colour is it?")]}]),
    "later-turn": (
        ('prompt p(a: image) {\n  user "Hi, can you look at pictures?"\n  assistant "Yes: send one."\n'
         '  user { "Here it is:" image(a) }\n}\n'),
        lambda img: {"a": img("yellow")}, ["yellow"],
        [{"role": "user", "content": "Hi, can you look at pictures?"},
         {"role": "assistant", "content": "Yes: send one."},
         {"role": "user", "content": [text("Here it is:"), IMAGE]}]),
    "history-image-then-new-image": (
        'prompt p(history: messages, b: image) {\n  history\n  user { image(b) "And this one?" }\n}\n',
        lambda img: {"b": img("blue"), "history": [
            {"role": "user", "content": [text("What is this?"),
                                         {"type": "image_url", "image_url": {"url": img("red")}}]},
            {"role": "assistant", "content": "A red square."}]}, ["red", "blue"],
        [{"role": "user", "content": [text("What is this?"), IMAGE]},
         {"role": "assistant", "content": "A red square."},
         {"role": "user", "content": [IMAGE, text("And this one?")]}]),
}
IMAGE_FAMILIES = {"gemma-3": "gemma3", "mistral-v7": "mistral-tekken"}  # a tokenizer with its bos/eos tokens


def compile_conversation(tmp_path, family: str, conv_id: str):
    """The compiled result, and the image colors in the order the prompt shows them."""
    source, inputs, colors, _ = CONVERSATIONS[conv_id]
    return compile_source(tmp_path, source, f"hf-family:{family}", **inputs(data_url)), colors


def transformers_render(family: str, messages: list[dict], **kw):
    """`apply_chat_template` of the family's template, with the tokenizer that has its bos/eos tokens."""
    _, tok = load(IMAGE_FAMILIES[family])
    return tok.apply_chat_template(messages, chat_template=FAMILIES[family].chat_template().source,
                                   add_generation_prompt=True, **kw)


@pytest.fixture(autouse=True)
def target_date(monkeypatch):
    """transformers' `strftime_now` reads the target's fixed date (Mistral's default system prompt holds it)."""
    from transformers.utils import chat_template_utils

    class FixedDay(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(DEFAULT_DATE.year, DEFAULT_DATE.month, DEFAULT_DATE.day)

    monkeypatch.setattr(chat_template_utils, "datetime", FixedDay)


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
@pytest.mark.parametrize("conv_id", CONVERSATIONS)
def test_prompt_equals_apply_chat_template(tmp_path, family, conv_id):
    r, colors = compile_conversation(tmp_path, family, conv_id)
    messages = CONVERSATIONS[conv_id][3]
    assert r.body["prompt"] == transformers_render(family, messages, tokenize=False)
    placeholder = {"gemma-3": "<start_of_image>", "mistral-v7": "[IMG]"}[family]
    assert r.body["prompt"].count(placeholder) == len(colors) == len(r.body["images"])
    assert [(i["type"], i["media_type"]) for i in r.body["images"]] == [("image", "image/png")] * len(colors)
    assert [i["data"] for i in r.body["images"]] == [png(c) for c in colors]  # in placeholder order


@pytest.mark.parametrize("conv_id", CONVERSATIONS)
def test_gemma3_token_ids_equal_apply_chat_template(tmp_path, conv_id):
    r, colors = compile_conversation(tmp_path, "gemma-3", conv_id)
    expected = transformers_render("gemma-3", CONVERSATIONS[conv_id][3], tokenize=True, return_dict=False)
    assert r.body["token_ids"] == list(expected)
    assert r.body["token_ids"].count(255999) == len(colors)  # <start_of_image>
    assert r.body["stop_token_ids"] == [1, 106]


def test_gemma3_processor_takes_the_body(tmp_path):
    """Gemma 3's processor, given the body's prompt and images, builds the model inputs its own
    apply_chat_template builds from messages holding the images: the body is all a runner needs."""
    pytest.importorskip("PIL")
    from transformers import Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
    from transformers.utils import logging

    logging.set_verbosity_error()
    _, tok = load("gemma3")
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(), tokenizer=tok,
                                chat_template=FAMILIES["gemma-3"].chat_template().source)
    r, colors = compile_conversation(tmp_path, "gemma-3", "two-images")
    images = [_decode(i) for i in r.body["images"]]
    from_body = processor(text=r.body["prompt"], images=images, add_special_tokens=False, return_tensors="np")

    blocks = iter(data_url(c) for c in colors)
    messages = [{**m, "content": [{**b, "url": next(blocks)} if b == IMAGE else b for b in m["content"]]}
                for m in CONVERSATIONS["two-images"][3]]
    own = processor.apply_chat_template(messages, tokenize=True, return_dict=True, add_generation_prompt=True,
                                        return_tensors="np")
    assert from_body["input_ids"].tolist() == own["input_ids"].tolist()
    assert (from_body["pixel_values"] == own["pixel_values"]).all() and len(own["pixel_values"]) == 2
    image_token = tok.convert_tokens_to_ids(tok.image_token)  # <image_soft_token>
    assert from_body["input_ids"][0].tolist().count(image_token) == 2 * processor.image_seq_length


def _decode(image: dict):
    from PIL import Image

    return Image.open(io.BytesIO(base64.b64decode(image["data"]))).convert("RGB")


def test_image_urls_and_text_only_prompts(tmp_path):
    source = 'prompt p(a: image) {\n  user { "See" image(a) image("https://example.com/b.jpg") }\n}\n'
    r = compile_source(tmp_path, source, "hf-family:gemma-3", a="https://example.com/a.webp")
    assert r.body["images"] == [{"type": "image", "media_type": "image/webp", "url": "https://example.com/a.webp"},
                                {"type": "image", "media_type": "image/jpeg", "url": "https://example.com/b.jpg"}]
    assert "See<start_of_image><start_of_image><end_of_turn>" in r.body["prompt"]
    plain = compile_source(tmp_path, 'prompt p(q: str) {\n  user "{{ q }}"\n}\n', "hf-family:gemma-3", q="x")
    assert "images" not in plain.body


def test_a_model_folder_whose_template_renders_images(tmp_path):
    folder = tmp_path / "vl-model"
    folder.mkdir()
    (folder / "chat_template.jinja").write_text(turn_loop(VISION_SHAPES["any-of"][0]), encoding="utf-8")
    source = 'prompt p(a: image, b: image) {\n  user { "One:" image(a) "Two:" image(b) }\n}\n'
    r = compile_source(tmp_path, source, f"hf:{folder}", a=data_url("red"), b="https://example.com/b.png")
    pad = "<|vision_start|><|image_pad|><|vision_end|>"
    assert r.body["prompt"] == f"<user>One:{pad}Two:{pad}</><assistant>"
    assert [i.get("data") or i.get("url") for i in r.body["images"]] == [png("red"), "https://example.com/b.png"]
    assert "token_ids" not in r.body  # no tokenizer.json in the folder


def test_cli_compiles_an_image_prompt_for_gemma3(tmp_path):
    """A local image path in the inputs file is inlined by the CLI: the body carries its bytes."""
    load("gemma3")  # the tokenizer asset, or skip
    (tmp_path / "photo.png").write_bytes(base64.b64decode(png("red")))
    (tmp_path / "inputs.json").write_text(json.dumps({"photo": str(tmp_path / "photo.png"),
                                                      "question": "Is the square red?"}))
    (tmp_path / "ask.prompt").write_text(
        'prompt ask(photo: image "the photo", question: str) {\n'
        '  system "Answer yes or no."\n'
        '  user {\n    "{{ question }}"\n    image(photo)\n  }\n}\n')
    out = subprocess.run([sys.executable, "-m", "polyprompt", "compile", str(tmp_path / "ask.prompt"),
                          "-t", "hf-family:gemma-3", "-i", str(tmp_path / "inputs.json")],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["prompt"] == ("<bos><start_of_turn>user\nAnswer yes or no.\n\nIs the square red?<start_of_image>"
                              "<end_of_turn>\n<start_of_turn>model\n")
    assert body["images"] == [{"type": "image", "media_type": "image/png", "data": png("red")}]
    assert body["token_ids"].count(255999) == 1 and body["stop"] == ["<end_of_turn>", "<eos>"]


def test_the_damage_claim_example_on_gemma3():
    """Two images in two user turns: the turns are merged (Gemma 3 alternates), the images keep their order."""
    example = polyprompt.load(EXAMPLES / "damage_claim.prompt")
    inputs = json.loads((EXAMPLES / "damage_claim.input.json").read_text(encoding="utf-8"))
    body = example.compile("hf-family:gemma-3", inputs=inputs).body
    assert body["prompt"].count("<start_of_image>") == 2
    assert "Main photo:<start_of_image>Close-up the customer added:<start_of_image><end_of_turn>" in body["prompt"]
    assert [i.get("url") or i.get("data") for i in body["images"]] == [
        inputs["photo"], inputs["closeup"].split(",", 1)[1]]


# ---------------------------------------------------------------------------------------------
# refusing


REFUSALS = {
    "gemma-2": "its chat template has no image placeholder (it writes a list of content blocks out as text)",
    "qwen3": "its chat template has no image placeholder (an image block leaves no trace in the prompt)",
    "qwen2.5": "its chat template takes message content only as a string (a list of content blocks raises "
               "'TypeError: can only concatenate str (not \"list\") to str')",
}


@pytest.mark.parametrize("family", REFUSALS)
def test_a_template_without_placeholder_refuses_images(tmp_path, family):
    source = 'prompt p(a: image) {\n  user { "Look:" image(a) }\n}\n'
    with pytest.raises(polyprompt.CompileError) as err:
        compile_source(tmp_path, source, f"hf-family:{family}", a=data_url("red"))
    [d] = err.value.diagnostics
    assert d.code == "PP302"
    assert d.message == f"hf-family:{family} cannot take image input: {REFUSALS[family]}"
    assert d.help.startswith("it takes: text only")

