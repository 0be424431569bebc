"""An unmerged LoRA output of `polyprompt train --method lora` is a target like any model folder:
`compile`, `run` and `eval -t hf:OUT` load its base (named by adapter_config.json or run.json, a
local model folder only) with the adapter merged in, and answer as the `--merge` output does; no
code from either folder runs, and a missing base is one clear line (issue 14 item 5)."""
from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from click.testing import CliRunner  # noqa: E402

from polyprompt.cli import cli  # noqa: E402
from polyprompt.run import adapter, local  # noqa: E402

from tiny_model import build_tiny_model  # noqa: E402

PROMPT = '''enum Category { billing, bug, other }

prompt triage(ticket: str) -> Category {
  system "Sort support tickets. Answer with the category only."
  user "{{ ticket }}"
}

dataset triage "tickets" from "tickets.jsonl" {
  ticket = row.body
  output = row.label
  split test 25% seed 3
}
'''
WORDS = {"billing": "charged twice invoice refund", "bug": "export button does nothing login fails",
         "other": "where is my order thanks please"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny base, and the same LoRA run saved as an adapter and merged."""
    from polyprompt.train import train

    root = tmp_path_factory.mktemp("adapter")
    build_tiny_model(root / "tiny")
    with open(root / "tickets.jsonl", "w") as f:
        for i in range(24):
            label = sorted(WORDS)[i % 3]
            f.write(json.dumps({"body": f"{WORDS[label]} {i}", "label": label}) + "\n")
    (root / "t.prompt").write_text(PROMPT)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        options = dict(model=f"hf:{root / 'tiny'}", method="lora", lr=2e-2, max_steps=3, save_steps=0, plot=False,
                       tensorboard=False, lora_targets=["q_proj", "v_proj"])
        lora = train(root / "t.prompt", output=root / "lora", **options).output
        merged = train(root / "t.prompt", output=root / "merged", merge=True, **options).output
    finally:
        torch.set_num_threads(before)
    # the merged run's own adapter as an unmerged output: the same weights as its merged model
    twin = root / "twin"
    shutil.copytree(lora, twin, ignore=shutil.ignore_patterns("adapter_*"))
    for path in (merged / "adapter").iterdir():
        shutil.copy2(path, twin / path.name)
    (root / "in.json").write_text(json.dumps({"ticket": "charged twice, refund please"}))
    return {"root": root, "lora": lora, "merged": merged, "twin": twin}


def invoke(*args):
    return CliRunner().invoke(cli, [*map(str, args)])


def test_run_answers_with_the_adapter_as_the_merged_model_does(trained):
    assert not (trained["lora"] / "config.json").exists() and adapter.is_adapter(trained["lora"])
    assert adapter.is_adapter(trained["twin"]) and not adapter.is_adapter(trained["merged"])
    prompt, inputs = trained["root"] / "t.prompt", trained["root"] / "in.json"
    answers = {}
    for name in ("twin", "merged"):
        ran = invoke("run", prompt, "-t", f"hf:{trained[name]}", "-i", inputs)
        assert ran.exit_code == 0, ran.output
        answers[name] = ran.stdout.strip()
    assert answers["twin"] == answers["merged"] and answers["twin"] in WORDS
    from polyprompt import load

    scores = {name: local.choose(load(prompt).compile(f"hf:{trained[name]}", {"ticket": "export fails"})).scores
              for name in ("twin", "merged")}
    assert scores["twin"] == pytest.approx(scores["merged"], abs=1e-4)


def test_the_adapter_changes_the_answers_of_its_base(trained):
    from polyprompt import load

    pf = load(trained["root"] / "t.prompt")
    tuned = local.choose(pf.compile(f"hf:{trained['lora']}", {"ticket": "export fails"})).scores
    base = local.choose(pf.compile(f"hf:{trained['root'] / 'tiny'}", {"ticket": "export fails"})).scores
    assert tuned != pytest.approx(base, abs=1e-3)
    model, folder = local.load_model(f"hf:{trained['lora']}")
    assert folder == trained["lora"] and not any("lora_" in n for n, _ in model.named_parameters())


def test_compile_and_eval_take_the_adapter_folder(trained, tmp_path):
    prompt = trained["root"] / "t.prompt"
    compiled = invoke("compile", prompt, "-t", f"hf:{trained['lora']}", "-i", trained["root"] / "in.json")
    assert compiled.exit_code == 0, compiled.output
    assert json.loads(compiled.stdout)["prompt"].startswith("<|im_start|>system\nSort support tickets.")
    out = tmp_path / "report"
    evaluated = invoke("eval", prompt, "--split", "test", "-t", f"base=hf:{trained['root'] / 'tiny'}",
                       "-t", f"tuned=hf:{trained['lora']}", "-o", out, "--resamples", "100", "--no-plots", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads((out / "report.json").read_text())
    assert [t["label"] if "label" in t else t.get("name") for t in report["targets"]] == ["base", "tuned"]


def test_an_adapter_with_smollm2_s_tokenizer_is_not_taken_for_smollm2(trained, monkeypatch, tmp_path):
    """A folder without weights holding SmolLM2's tokenizer runs the embedded model; an adapter
    folder must not fall into that case (it would silently drop the adapter)."""
    monkeypatch.setattr(local, "_same_vocab", lambda a, b: True)
    monkeypatch.setattr(local, "default_model_dir", lambda build=True: tmp_path / "smollm2")
    assert local._resolve(f"hf:{trained['lora']}") == trained["lora"]


def copy_adapter(trained, tmp_path, **config):
    folder = tmp_path / "copy"
    shutil.copytree(trained["lora"], folder)
    data = json.loads((folder / "adapter_config.json").read_text())
    data.update(config)
    (folder / "adapter_config.json").write_text(json.dumps(data))
    return folder


def test_a_missing_or_bad_base_is_one_line(trained, tmp_path):
    prompt, inputs = trained["root"] / "t.prompt", trained["root"] / "in.json"
    gone = copy_adapter(trained, tmp_path, base_model_name_or_path=str(tmp_path / "nowhere"))
    ran = invoke("run", prompt, "-t", f"hf:{gone}", "-i", inputs)
    assert ran.exit_code == 1 and "Traceback" not in ran.output
    assert ran.stderr.count("\n") == 1 and "base model folder" in ran.stderr and "nowhere" in ran.stderr
    hub = copy_adapter(trained, tmp_path / "hub", base_model_name_or_path="HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(local.ModelUnavailable, match="never downloaded"):
        local.load_model(f"hf:{hub}")
    (tmp_path / "empty").mkdir()
    empty = copy_adapter(trained, tmp_path / "e", base_model_name_or_path=str(tmp_path / "empty"))
    with pytest.raises(local.ModelUnavailable, match="not a model folder"):
        local.load_model(f"hf:{empty}")


def test_the_base_comes_from_run_json_or_a_path_beside_the_adapter(trained, tmp_path):
    unnamed = copy_adapter(trained, tmp_path, base_model_name_or_path=None)
    assert adapter.base_folder(unnamed) == trained["root"] / "tiny"  # run.json's model_folder
    shutil.copytree(trained["root"] / "tiny", tmp_path / "tiny")
    relative = copy_adapter(trained, tmp_path / "r", base_model_name_or_path="../../tiny")
    assert adapter.base_folder(relative).resolve() == (tmp_path / "tiny").resolve()
    (unnamed / "run.json").unlink()
    with pytest.raises(adapter.AdapterError, match="names no base model"):
        adapter.base_folder(unnamed)


def test_no_code_from_the_base_folder_runs(trained, tmp_path):
    """A base whose config asks for its own modelling code (auto_map) still loads transformers'
    own class: trust_remote_code stays off."""
    base = tmp_path / "base"
    shutil.copytree(trained["root"] / "tiny", base)
    marker = tmp_path / "ran"
    (base / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    config = json.loads((base / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "evil.Model", "AutoConfig": "evil.Config"}
    (base / "config.json").write_text(json.dumps(config))
    folder = copy_adapter(trained, tmp_path / "a", base_model_name_or_path=str(base))
    model = adapter.load(folder)
    assert type(model).__module__.startswith("transformers.") and not marker.exists()
