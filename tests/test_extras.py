"""The extras (pyproject.toml, backends/extras.py): a light core, and a clear error without an extra.

A missing extra is simulated in a fresh interpreter whose import of the extra's modules fails as it
does when they are not installed (tests/fresh_process.py), never by uninstalling.
"""
from __future__ import annotations

import json
import re
import tomllib

import pytest

from fresh_process import fresh
from helpers import EXAMPLES, REPO

from polyprompt.backends import extras

EXAMPLE = EXAMPLES / "ticket_triage.prompt"
INPUTS = EXAMPLES / "ticket_triage.input.json"
NO_MODELS = ("jinja2", "tokenizers", "tiktoken", "fastokens")
NO_TORCH = ("torch", "transformers", "accelerate", "gguf", "peft")


def compile_cli(target: str, block: tuple[str, ...], path=EXAMPLE, inputs=INPUTS):
    return fresh(cli=["compile", str(path), "-t", target, "-i", str(inputs)], block=block)


@pytest.mark.parametrize("target", ["hf-family:qwen3", "hf:some/model/folder", "hf:model.gguf"])
def test_an_open_model_target_without_the_models_extra_says_what_to_install(target):
    result = compile_cli(target, block=NO_MODELS + NO_TORCH)
    assert result.returncode == 2, result.describe()
    assert result.stderr == (f"error: compiling for {target} needs the models extra: "
                             "pip install 'polyprompt[models]' (no module named 'jinja2')\n")
    assert result.stdout == ""


def test_a_declared_target_names_its_backend(tmp_path):
    source = tmp_path / "p.prompt"
    source.write_text('target t "hf-family:gemma-3" { date: "2024-01-01" }\n\n'
                      'prompt hello(name: str) {\n  user "Hi {{ name }}"\n}\n')
    inputs = tmp_path / "in.json"
    inputs.write_text('{"name": "Ada"}')
    result = compile_cli("t", block=("jinja2",), path=source, inputs=inputs)
    assert result.returncode == 2 and "compiling for hf-family:gemma-3 needs the models extra" in result.stderr
    checked = fresh(cli=["check", str(source)], block=NO_MODELS + NO_TORCH)  # checking needs no extra
    assert checked.returncode == 0, checked.describe()


def test_tokenizers_alone_missing_is_named():
    result = compile_cli("hf-family:qwen3", block=("tokenizers",))
    assert result.returncode == 2 and "(no module named 'tokenizers')" in result.stderr, result.describe()


@pytest.mark.parametrize("target", ["openai-chat", "anthropic", "gemini"])
def test_api_targets_need_no_extra(target):
    result = compile_cli(target, block=NO_MODELS + NO_TORCH)
    assert result.returncode == 0, result.describe()
    assert json.loads(result.stdout)


def test_the_python_api_raises_missing_extra():
    code = (f"import json, polyprompt\nfrom polyprompt.backends.extras import MissingExtra\n"
            f"pf = polyprompt.load({str(EXAMPLE)!r})\nvalues = json.loads(open({str(INPUTS)!r}).read())\n"
            "try:\n    pf.compile('hf-family:qwen3', inputs=values)\nexcept MissingExtra as err:\n"
            "    assert isinstance(err, ImportError) and err.extra == 'models' and err.name == 'jinja2'\n"
            "    print(err)\n"
            "print('messages' in pf.compile('openai-chat', inputs=values).body)\n")
    result = fresh(code=code, block=("jinja2",))
    assert result.returncode == 0, result.describe()
    assert result.stdout.splitlines() == [
        "compiling for hf-family:qwen3 needs the models extra: pip install 'polyprompt[models]' "
        "(no module named 'jinja2')", "True"]


def test_run_without_the_torch_extra_says_what_to_install():
    """Exit 1, as for any model that cannot be loaded (docs/model-run.md)."""
    result = fresh(cli=["run", str(EXAMPLE), "-t", "hf-family:smollm2", "-i", str(INPUTS)], block=NO_TORCH)
    assert result.returncode == 1, result.describe()
    assert result.stderr == ("error: running hf-family:smollm2 needs the torch extra: "
                             "pip install 'polyprompt[torch]' (no module named 'torch')\n")


def test_a_module_of_an_extra_failing_deep_inside_is_named_too():
    """The CLI names the extra of any module one brings, wherever its import fails."""
    code = ("import sys\nfrom polyprompt import cli\n"
            "cli.cli.commands['targets'].callback = lambda **_: __import__('tiktoken')  # deep in a command\n"
            "sys.argv = ['polyprompt', 'targets']\ncli.main()\n")
    result = fresh(code=code, block=("tiktoken",))
    assert result.returncode == 2
    assert result.stderr == ("error: this command needs the models extra: pip install 'polyprompt[models]' "
                             "(no module named 'tiktoken')\n")


def test_other_import_errors_stay_internal_errors():
    assert extras.explain(ModuleNotFoundError("No module named 'nope'", name="nope")) is None
    assert extras.explain(ImportError("cannot import name 'x' from 'jinja2'", name="jinja2")) is None
    assert "polyprompt[torch]" in extras.explain(ModuleNotFoundError("x", name="transformers.models"))


def _requirements(extra: str, optional: dict) -> set[str]:
    """The distribution names an extra installs, the extras it includes followed."""
    names = set()
    for requirement in optional[extra]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group().lower()
        included = re.search(r"\[(.+)\]", requirement)
        if name == "polyprompt" and included:
            for inner in included.group(1).split(","):
                names |= _requirements(inner.strip(), optional)
        else:
            names.add(name)
    return names


#: import names that differ from the distribution that installs them
DISTRIBUTION = {"google": "google-auth", "sklearn": "scikit-learn"}


def _included(extra: str, optional: dict) -> set[str]:
    """`extra` and the extras it includes (`polyprompt[torch,data]`), followed."""
    found = {extra}
    for requirement in optional[extra]:
        inner = re.match(r"polyprompt\[(.+)\]", requirement)
        for name in inner.group(1).split(",") if inner else ():
            found |= _included(name.strip(), optional)
    return found


def test_the_core_is_light_and_each_extra_installs_what_polyprompt_imports_for_it():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {re.match(r"[A-Za-z0-9_.-]+", r).group().lower() for r in project["dependencies"]}
    assert core == {"lark", "attrs", "click", "jsonschema", "pyyaml"}
    optional = project["optional-dependencies"]
    for extra, modules in extras.PROVIDES.items():
        assert {DISTRIBUTION.get(m, m) for m in modules} <= _requirements(extra, optional), extra
        provided = {m for inner in _included(extra, optional) for m in extras.PROVIDES[inner]}
        assert set(extras.REQUIRED[extra]) <= provided, extra
    assert _requirements("all", optional) >= _requirements("torch", optional) | _requirements("models", optional)
    torch = next(r for r in optional["torch"] if r.startswith("torch"))
    assert "==" not in torch and "<3" in torch, "a range: installing polyprompt keeps the project's torch"


def test_setup_pins_the_cpu_torch_before_installing_every_extra():
    lines = [line for line in (REPO / ".ci" / "setup").read_text().splitlines() if "pip install" in line]
    torch = next(i for i, line in enumerate(lines) if '"torch==2.13.0"' in line)
    package = next(i for i, line in enumerate(lines) if '-e ".[all,test]"' in line)
    assert torch < package
