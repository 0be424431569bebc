"""pytest configuration: the tests import their helpers from tests/helpers.py.

`--update-goldens` rewrites the golden files under tests/golden/ instead of
comparing; review the diff in git before committing it.

Markers (registered in pyproject.toml; docs/development.md has the commands):
- `parity`: compares with transformers/tokenizers on the real model assets, or runs a real model;
- `slow`: long-running for another reason (subprocess-heavy CLI checks, wheels, the cross-process
  determinism check, big fuzz inputs, the cases past the first few of heavy parametrizations).
The unit run, `pytest -m "not slow and not parity"`, takes seconds; marks are given here by
module and by name (tests/test_markers.py checks that every name is a real test).
"""
from __future__ import annotations

import os

import pytest

#: modules that are all parity: token ids against tokenizers/transformers, and local model runs
PARITY_MODULES = {"test_hf_tokens", "test_hf_bulk", "test_hf_spm", "test_hf_run", "test_dataset_tokens"}
#: tests elsewhere that load the real tokenizers or model (tests/hf_assets.py, the SmolLM2 GGUF) or transformers
PARITY_TESTS = {
    "test_dataset_corpus": {"test_a_tokenized_corpus_learns_every_token_and_ends_with_eos",
                            "test_control_token_text_in_a_corpus_is_text"},
    "test_hf_gguf": {"test_the_smollm2_metadata", "test_compiling_imports_nothing_heavy",
                     "test_prompt_text_equals_transformers_and_the_folder_target",
                     "test_token_ids_once_the_tokenizer_is_converted", "test_smollm2_gguf_equals_the_family_and_transformers",
                     "test_data_never_becomes_a_control_token", "test_probe_a_gguf_file", "test_run_converts_a_gguf_model_once",
                     "test_a_body_compiled_before_conversion_gets_its_token_ids",
                     "test_the_smollm2_gguf_runs_the_default_model", "test_a_folder_named_like_a_gguf_file_is_a_folder"},
    "test_hf_images": {"test_prompt_equals_apply_chat_template", "test_gemma3_token_ids_equal_apply_chat_template",
                       "test_gemma3_processor_takes_the_body", "test_cli_compiles_an_image_prompt_for_gemma3",
                       "test_the_damage_claim_example_on_gemma3", "test_image_urls_and_text_only_prompts"},
    "test_hf_target": {"test_ids_equal_transformers", "test_a_local_folder_is_a_target",
                       "test_data_never_becomes_a_control_token", "test_every_family_compiles_every_example",
                       "test_strict_refuses_control_token_text_in_data",
                       "test_a_folder_passes_every_named_special_token_to_its_template",
                       "test_declared_caps_apply_on_top_of_what_probing_found",
                       "test_a_target_declaration_names_a_family_or_a_folder",
                       "test_a_target_declaration_may_ask_for_the_bulk_tokenizer",
                       "test_a_folder_that_cannot_be_a_target_is_a_clear_error",
                       "test_leading_system_turns_become_one_for_a_template_with_one_system_slot"},
    "test_hf_template": {"test_parity_with_transformers", "test_continue_final_message_parity",
                         "test_continue_a_reasoning_field_parity", "test_generation_spans_parity",
                         "test_none_values_are_dropped_like_apply_chat_template", "test_smollm2_template_is_the_gguf_one"},
}
#: long-running modules and tests that are not parity (subprocesses, wheels, big inputs)
SLOW_MODULES = {"test_determinism", "test_import_budget", "test_extras", "test_dataset_trl"}  # fresh processes, one a test
SLOW_TESTS = {
    "test_fuzz": {"test_random_large_files"},
    "test_data": {"test_the_copy_equals_the_shared_refdata"},
    "test_packaging": {"test_wheel_holds_only_the_polyprompt_package", "test_installed_wheel_imports_and_finds_its_data"},
    "test_cli": {"test_a_bad_inputs_file_is_an_error_not_a_crash", "test_fmt_check_and_write",
                 "test_fmt_stdin_check_and_diff"},
    "test_prompt_tests": {"test_cli_exit_codes", "test_a_file_whose_errors_hide_its_tests_fails_the_run"},
    "test_hf_gguf": {"test_models_convert_gives_token_ids"},
}
#: heavy parametrizations: only the first N cases stay in the unit run, the others are `slow`
UNIT_SUBSET = {
    ("test_docs", "test_diagnostic_example"): 3,
    ("test_fuzz_data", "test_inputs_files_give_values_or_an_input_error"): 1,
    ("test_fuzz", "test_mutations_of_real_files"): 3,
}


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/ from the current output")


def _is_model_golden(item) -> bool:
    """A golden body of an open-model family: it holds token ids of the real tokenizer."""
    params = getattr(item, "callspec", None)
    return bool(params) and str(params.params.get("target", "")).startswith("hf-family:")


def pytest_collection_modifyitems(config, items):
    """Give `parity` and `slow` by module and by test name (see the module docstring)."""
    seen: dict[tuple[str, str], int] = {}
    for item in items:
        module = item.module.__name__ if item.module else ""
        name = item.originalname
        if (module in PARITY_MODULES or name in PARITY_TESTS.get(module, ())
                or (module == "test_golden" and _is_model_golden(item))):
            item.add_marker(pytest.mark.parity)
        key = (module, name)
        seen[key] = seen.get(key, 0) + 1
        if module in SLOW_MODULES or name in SLOW_TESTS.get(module, ()) or seen[key] > UNIT_SUBSET.get(key, seen[key]):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True, scope="session")
def _compile_cache_in_a_temporary_folder(tmp_path_factory):
    """The compile cache (session/cache.py) of a test run lives and dies with it."""
    old = os.environ.get("POLYPROMPT_CACHE_DIR")
    os.environ["POLYPROMPT_CACHE_DIR"] = str(tmp_path_factory.mktemp("compile-cache"))
    yield
    if old is None:
        os.environ.pop("POLYPROMPT_CACHE_DIR", None)
    else:
        os.environ["POLYPROMPT_CACHE_DIR"] = old
