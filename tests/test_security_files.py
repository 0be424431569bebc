"""Security, files: only what the user meant is read (issue 12 items 3, 4 and 14; issue 11 item 15).

Inputs inlining (`-i`): only media slots, only files inside the inputs file's folder or the project,
regular files of a bounded size, with a switch to turn it off; the Python API refuses local paths.
Imports: only `.prompt` files inside the project root, never a line of another file echoed; a
model folder a prompt file names is inside the project; hostile import paths are diagnostics.
"""
from __future__ import annotations

import base64
import json
import os
import string
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import polyprompt
from polyprompt.api import check_file
from polyprompt.cli import cli
from polyprompt.compiler import inline
from polyprompt.compiler.inputs import InputError, read_inputs

posix_only = pytest.mark.skipif(os.name != "posix", reason="symlinks, FIFOs and /proc are POSIX")

PROMPT = '''
type Shot { text: str, picture?: image }
prompt p(ticket: str, note: str = "", data: json = null, photo: image? = null, shots: list[Shot] = [],
         history: messages = []) {
  user "{{ ticket }}{{ note }}{{ data | json }}{{ shots | json }}"
  user { image(photo) }
  history
}
'''
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 16
SECRET = "TOP-SECRET-VALUE-1234"


@pytest.fixture
def project(tmp_path):
    """A project root (polyprompt.toml) with the prompt, an image and an inputs folder."""
    root = tmp_path / "proj"
    (root / "inputs").mkdir(parents=True)
    (root / "polyprompt.toml").write_text("")
    (root / "p.prompt").write_text(PROMPT)
    (root / "inputs" / "cat.png").write_bytes(PNG)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.png").write_text(SECRET)
    return root


def compile_cli(root: Path, inputs: dict | str, *extra: str, name: str = "in.json"):
    path = root / "inputs" / name
    path.write_text(inputs if isinstance(inputs, str) else json.dumps(inputs))
    return CliRunner().invoke(cli, ["compile", str(root / "p.prompt"), "-t", "openai-chat", "-i", str(path), *extra])


def data_uri(payload: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode()}"


# ---------------------------------------------------------------- inlining: where and what


@posix_only
def test_a_symlink_to_proc_environ_sends_nothing(project, monkeypatch):
    """A symlink named env.png to /proc/self/environ sent the API keys to the provider."""
    monkeypatch.setenv("POLYPROMPT_TEST_KEY", SECRET)
    (project / "inputs" / "env.png").symlink_to("/proc/self/environ")
    result = compile_cli(project, {"ticket": "x", "photo": "env.png"})
    assert result.exit_code == 1
    assert "photo: `env.png`: outside the inputs file's folder and the project root" in result.output
    assert base64.b64encode(SECRET.encode()).decode()[:12] not in result.output


def test_plain_strings_json_values_and_list_items_are_never_read(project):
    """Any string at any depth was inlined: a `str`, a `json` value, a record's `str` field."""
    inputs = {"ticket": "cat.png", "note": "./cat.png", "data": {"deep": ["cat.png"]},
              "shots": [{"text": "cat.png"}]}
    result = compile_cli(project, inputs)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert "data:image" not in result.output
    assert body["messages"][0]["content"].startswith("cat.png./cat.png")


def test_media_slots_are_inlined_from_the_folder_and_the_project(project):
    (project / "images").mkdir()
    (project / "images" / "dog.png").write_bytes(PNG + b"dog")
    inputs = {"ticket": "x", "photo": "cat.png", "shots": [{"text": "t", "picture": "../images/dog.png"}],
              "history": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "cat.png"}}]}]}
    values = polyprompt.load(project / "p.prompt").read_inputs(write(project, inputs))
    assert values["photo"] == data_uri(PNG)
    assert values["shots"][0]["picture"] == data_uri(PNG + b"dog")
    assert values["history"][0]["content"][0]["image_url"]["url"] == data_uri(PNG)


def write(project: Path, inputs: dict, name: str = "in.json") -> Path:
    path = project / "inputs" / name
    path.write_text(json.dumps(inputs))
    return path


@posix_only
@pytest.mark.parametrize("named, why", [
    ("{outside}/secret.png", "outside the inputs file's folder and the project root"),
    ("../../outside/secret.png", "outside the inputs file's folder and the project root"),
    ("link.png", "outside the inputs file's folder and the project root"),
    ("file://{outside}/secret.png", "outside the inputs file's folder and the project root"),
    ("fifo.png", "not a regular file"),
    ("folder.png", "not a regular file"),
    ("missing.png", "no such file"),
    ("notes.txt", "not an image (text/plain)"),
    ("loop.png", "cannot be read (Too many levels of symbolic links)"),
    ("a" * 300 + ".png", "cannot be read (File name too long)"),
])
def test_what_is_not_inlined(project, named, why):
    """Absolute paths, ../, symlinks leading out, file: URLs, FIFOs (which blocked), folders,
    missing files, a file of another kind, symlink loops and over-long names: one InputError each,
    naming the value's path, never a read outside the root or a traceback."""
    outside = project.parent / "outside"
    folder = project / "inputs"
    (folder / "link.png").symlink_to(outside / "secret.png")
    os.mkfifo(folder / "fifo.png")
    (folder / "folder.png").mkdir()
    (folder / "notes.txt").write_text("hi")
    (folder / "loop.png").symlink_to("loop.png")
    value = named.format(outside=outside)
    with pytest.raises(InputError) as err:
        polyprompt.load(project / "p.prompt").read_inputs(write(project, {"ticket": "x", "photo": value}))
    assert err.value.problems[0].path == "photo"
    assert why in err.value.problems[0].message
    assert SECRET not in str(err.value)


def test_a_file_over_the_size_cap_is_refused(project):
    big = project / "inputs" / "big.png"
    big.write_bytes(PNG * 10)
    path = write(project, {"ticket": "x", "photo": "big.png"})
    with pytest.raises(InputError, match="larger than 100 bytes"):
        read_inputs(path, types={"photo": polyprompt.compiler.types.MediaT("image")}, limit=100)
    assert inline.MAX_INLINE_BYTES == 32 * 1024 * 1024


def test_inlining_can_be_turned_off(project):
    path = write(project, {"ticket": "x", "photo": "cat.png"})
    pf = polyprompt.load(project / "p.prompt")
    assert pf.read_inputs(path, inline_files=False)["photo"] == "cat.png"
    result = compile_cli(project, {"ticket": "x", "photo": "cat.png"}, "--no-inline-files")
    assert result.exit_code == 1
    assert "photo: `cat.png` is a local path, not a URL or a data: URI" in result.output


# ---------------------------------------------------------------- the Python API


def test_the_python_api_refuses_a_local_path(project):
    """From the Python API a local path was emitted as an image URL, without a diagnostic."""
    pf = polyprompt.load(project / "p.prompt")
    for value in ("cat.png", "./inputs/cat.png", "/etc/passwd", "file:///etc/hosts", "C:\\pics\\cat.png"):
        with pytest.raises(InputError) as err:
            pf.compile("openai-chat", {"ticket": "x", "photo": value})
        assert [p.path for p in err.value.problems] == ["photo"], value
    history = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "../x.png"}}]}]
    with pytest.raises(InputError) as err:
        pf.compile("openai-chat", {"ticket": "x", "history": history})
    assert [p.path for p in err.value.problems] == ["history[0].content[0].image_url.url"]
    ok = pf.compile("openai-chat", {"ticket": "x", "photo": "https://example.com/cat.png"}).body
    assert ok["messages"][1]["content"][0]["image_url"]["url"] == "https://example.com/cat.png"


def test_a_str_or_json_value_used_as_media_is_refused_at_render(tmp_path):
    (tmp_path / "q.prompt").write_text('prompt q(src: str, raw: json) {\n  user { image(src) image(raw) }\n}\n')
    pf = polyprompt.load(tmp_path / "q.prompt")
    with pytest.raises(InputError, match=r"src: used as image: `\.\./secret\.png` is a local path"):
        pf.compile("openai-chat", {"src": "../secret.png", "raw": "https://example.com/a.png"})
    with pytest.raises(InputError, match="raw: used as image: `/etc/passwd` is a local path"):
        pf.compile("openai-chat", {"src": "https://example.com/a.png", "raw": "/etc/passwd"})


# ---------------------------------------------------------------- inputs files: JSON and names


def test_a_json_inputs_file_is_json_only(project):
    """A trailing comma was accepted through the YAML fallback."""
    path = project / "inputs" / "in.json"
    path.write_text('{\n  "ticket": "x",\n}\n')
    with pytest.raises(InputError) as err:
        read_inputs(path)
    assert str(err.value.problems[0]) == f"{path}:3:1: is not valid JSON: Expecting property name enclosed in " \
                                         "double quotes"
    (project / "inputs" / "in.yaml").write_text("ticket: x\n")
    assert read_inputs(project / "inputs" / "in.yaml") == {"ticket": "x"}


def test_an_unknown_key_gets_a_suggestion_and_the_file_is_named(project):
    result = compile_cli(project, {"tiket": "x"})
    assert result.exit_code == 1
    assert f"invalid inputs for prompt `p` from {project / 'inputs' / 'in.json'}:" in result.output
    assert "tiket: prompt `p` has no parameter `tiket`; did you mean `ticket`?" in result.output


# ---------------------------------------------------------------- imports and model folders


def check(root: Path, source: str, name: str = "a.prompt"):
    (root / name).write_text(source)
    _program, diagnostics = check_file(root / name)
    return diagnostics


BODY = 'prompt p() {\n  user "x"\n}\n'


def test_an_import_of_a_file_that_is_not_prompt_source_is_refused_unread(project):
    """An import read .git/config or .env and echoed its lines as diagnostics."""
    (project / ".env").write_text(f"API_KEY={SECRET}\n")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text(f"[remote]\n  url = https://{SECRET}@example.com\n")
    (project / "e.prompt").symlink_to(".env")
    diagnostics = check(project, 'import "./.env"\nimport "./.git/config"\nimport "./e.prompt"\n' + BODY)
    assert [d.code for d in diagnostics] == ["PP214"] * 3
    assert all(SECRET not in d.message and d.span.file.path.endswith("a.prompt") for d in diagnostics)
    assert "it names `.env`, not a .prompt file" in diagnostics[2].message
    out = CliRunner().invoke(cli, ["check", str(project / "a.prompt")])
    assert SECRET not in out.output


def test_a_model_folder_a_prompt_file_names_is_inside_the_project(project):
    """`target x "hf:/any/path"` read outside the project and echoed a file's first bytes."""
    (project / "models" / "mine").mkdir(parents=True)
    diagnostics = check(project, 'target a "hf:/etc" {}\ntarget b "hf:../../outside" {}\n'
                                 'target c "hf:~/models/x.gguf" {}\ntarget d "hf:models/mine" {}\n' + BODY)
    assert [d.code for d in diagnostics] == ["PP207"] * 3  # not `hf:models/mine`, inside the project
    assert "`hf:/etc` is outside the project root" in diagnostics[0].message
    result = CliRunner().invoke(cli, ["compile", str(project / "a.prompt"), "-t", "a"])
    assert result.exit_code == 1 and "PP207" in result.output


def test_a_model_folder_named_on_the_command_line_is_the_users_choice(project, tmp_path):
    """hf:<dir> on the command line may be anywhere: the loader checks only what a source names."""
    (project / "a.prompt").write_text(BODY)
    result = CliRunner().invoke(cli, ["compile", str(project / "a.prompt"), "-t", f"hf:{tmp_path / 'outside'}"])
    assert "PP207" not in result.output  # the folder is no model (a usage error), but it is allowed


@posix_only
@pytest.mark.parametrize("written, message", [
    ("./a\\u0000b.prompt", "the path holds a NUL character"),
    ("./" + "a" * 300 + ".prompt", "a name in the path is longer than 255 bytes"),
    ("./loop.prompt", "a symlink loop"),
    ("./fifo.prompt", "not a regular file"),
    ("./dir.prompt", "not a regular file"),
    ("./" + "d/" * 2100 + "x.prompt", "the path is longer than 4,095 bytes"),
])
def test_hostile_import_paths_are_diagnostics(project, written, message):
    """A symlink loop, a NUL, a name over 255 bytes: tracebacks (RuntimeError, ValueError, OSError)."""
    (project / "loop.prompt").symlink_to("loop.prompt")
    os.mkfifo(project / "fifo.prompt")
    (project / "dir.prompt").mkdir()
    diagnostics = check(project, f'import "{written}"\n' + BODY)
    assert [d.code for d in diagnostics] == ["PP214"]
    assert message in diagnostics[0].message


def test_a_deep_import_chain_is_a_diagnostic(project):
    """A long import chain exhausted Python's recursion: an internal error."""
    depth = 3000
    for i in range(depth):
        text = (f'import "./m{i + 1}.prompt" {{ p{i + 1} }}\n' if i < depth - 1 else "") + \
               f'prompt p{i}() {{\n  user "x"\n}}\n'
        (project / f"m{i}.prompt").write_text(text)
    _program, diagnostics = check_file(project / "m0.prompt")
    errors = [d for d in diagnostics if d.is_error]
    assert [d.code for d in errors] == ["PP214"] and "imports nest deeper than 64 files" in errors[0].message


# ---------------------------------------------------------------- the compile cache


def test_a_signed_cache_record_of_the_wrong_shape_is_a_miss(tmp_path, monkeypatch):
    """A record of another shape (only a bug could sign one) raised KeyError or SyntaxError."""
    from polyprompt.session import cache

    monkeypatch.setenv("POLYPROMPT_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "p.prompt").write_text('prompt p(name: str) {\n  user "hi {{ name }}"\n}\n')
    assert polyprompt.load(tmp_path / "p.prompt").compile("openai-chat", {"name": "a"}).made_by == "passes"
    record_file = next((tmp_path / "cache").glob("*.json"))
    key = (tmp_path / "cache" / ".key").read_bytes()
    data = json.loads(record_file.read_text())
    data.pop("mac")
    good = next(iter(data["records"].values()))
    for bad in ({"imports": []}, {**good, "render": 5}, {**good, "render": "def render(:"}, {**good, "check": "]"},
                {**good, "body": []}):
        data["records"] = {k: bad for k in data["records"]}
        record_file.write_text(json.dumps({**data, "mac": cache._mac(key, data)}))
        result = polyprompt.load(tmp_path / "p.prompt").compile("openai-chat", {"name": "a"})
        assert result.body["messages"] == [{"role": "user", "content": "hi a"}]


# ---------------------------------------------------------------- property: random paths


_names = st.sampled_from(["cat.png", "..", ".", "link.png", "out.png", "loop.png", "sub", "a" * 260 + ".png",
                          "x\x00.png", "", "~", "fifo.png", "/", "/etc", "/proc/self/environ"])
_paths = st.lists(_names, min_size=1, max_size=6).map(lambda parts: "/".join(parts)) | \
    st.text(alphabet=string.printable + "\x00é", max_size=40)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A root with a file, a subfolder, links in and out of it, a loop and a FIFO; a secret outside."""
    base = tmp_path_factory.mktemp("tree")
    root, outside = base / "root", base / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "out.png").write_bytes(SECRET.encode())
    (root / "cat.png").write_bytes(PNG)
    (root / "sub" / "cat.png").write_bytes(PNG)
    (root / "link.png").symlink_to(outside / "out.png")
    (root / "sub" / "in.png").symlink_to(root / "cat.png")
    (root / "loop.png").symlink_to("loop.png")
    os.mkfifo(root / "fifo.png")
    (root / "polyprompt.toml").write_text("")
    return root, outside


@posix_only
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(written=_paths)
def test_random_paths_never_leave_the_root(tree, written, monkeypatch):
    """Whatever path an inputs file or an import names, nothing outside the root is opened and no
    internal error is raised: an inlined value or an InputError; a module or a diagnostic."""
    root, outside = tree
    opened: list[str] = []
    real_open = os.open

    def spy(path, flags, *args, **kwargs):
        opened.append(os.path.realpath(path) if isinstance(path, (str, os.PathLike)) else str(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(os, "open", spy)
        inliner = inline.Inliner(root, [root])
        result = inliner("image", written, "photo")
        assert result == written or result == data_uri(PNG)
        source = f'import {json.dumps(written if written.endswith(".prompt") else written + ".prompt")}\n' + BODY
        (root / "imp.prompt").write_text(source)
        _program, diagnostics = check_file(root / "imp.prompt")
        assert all(d.code.startswith("PP") for d in diagnostics)
    assert not [p for p in opened if not Path(p).is_relative_to(root) and not p.startswith(sys.prefix)
                and "polyprompt" not in p]
