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
PARITY_MODULES = {"test_hf_tokens", "test_hf_bulk", "test_hf_spm", "test_hf_run", "test_dataset_tokens",
                  "test_dataset_tools_tokens", "test_tokens_pieces"}
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
#: single cases of parametrized tests that load the real tokenizers (by their pytest id)
PARITY_CASES = {
    "test_pass_goldens": {"guard_control_text"},
    "test_dataset_tools_python": {"tool calls, tokenized", "tokenized"},
}
#: long-running modules and tests that are not parity (subprocesses, wheels, big inputs)
#: fresh processes, one a test; TRL's trainers
SLOW_MODULES = {"test_determinism", "test_import_budget", "test_extras", "test_dataset_trl", "test_dataset_tools_trl"}
#: modules that need torch/transformers/peft or the providers' SDKs: importing those takes seconds
#: before the first test, more than the unit run's whole budget, so they run in the full suite only
HEAVY_IMPORT_MODULES = {
    "test_train", "test_train_adapter_run", "test_train_batching", "test_train_ddp", "test_train_distill",
    "test_train_distill_run", "test_train_resume", "test_train_smollm2", "test_train_fsdp", "test_hf_run",
    "test_eval_fast", "test_run_bulk_local", "test_serve_model", "test_sdk_calls", "test_sdk_replies",
}
SLOW_MODULES |= HEAVY_IMPORT_MODULES
SLOW_TESTS = {
    "test_fuzz": {"test_random_large_files"},
    "test_data": {"test_the_copy_equals_the_shared_refdata"},
    "test_packaging": {"test_wheel_holds_only_the_polyprompt_package", "test_installed_wheel_imports_and_finds_its_data"},
    "test_cli": {"test_a_bad_inputs_file_is_an_error_not_a_crash", "test_fmt_check_and_write",
                 "test_fmt_stdin_check_and_diff"},
    "test_prompt_tests": {"test_cli_exit_codes", "test_a_file_whose_errors_hide_its_tests_fails_the_run"},
    "test_hf_gguf": {"test_models_convert_gives_token_ids"},
}
#: the unit run's heavy tests (each name's cases together 0.15 s or more on the idle 2-core machine: servers
#: over HTTP, subprocesses killed and resumed, tiny-model training, linear-time checks): `slow`
UNIT_HEAVY = {
    "test_backends": {"test_the_checker_receives_the_catalog_and_imports_no_backend"},
    "test_body_fields": {
        "test_an_open_model_target_has_no_request_body",
        "test_the_shipped_field_schemas_are_those_of_the_official_schemas",
    },
    "test_chat_template_splice": {"test_training_templates_splice_as_they_render"},
    "test_cli": {
        "test_a_surrogate_pair_escape_is_one_character",
        "test_an_output_file_that_cannot_be_written_is_an_error",
        "test_an_unknown_target_lists_the_open_model_forms",
        "test_check_clean_files_exit_0",
        "test_check_json_format",
        "test_check_reports_errors_with_position_caret_and_help",
        "test_completion_of_commands_options_and_target_names",
        "test_completion_scripts_for_bash_zsh_and_fish",
        "test_fmt_refuses_syntax_errors_and_keeps_the_file",
        "test_fmt_stdin",
        "test_invalid_utf8_is_a_diagnostic",
        "test_targets_lists_the_families_and_hf_forms",
        "test_the_bash_script_completes_in_bash",
        "test_usage_errors_exit_2",
        "test_warnings_are_shown_on_every_command",
    },
    "test_dataset": {
        "test_a_dataset_from_the_command_line",
        "test_a_row_longer_than_max_length_is_rejected_with_its_length",
        "test_datasets_are_mixed_by_weight_and_tagged",
        "test_every_input_kind_reads_the_same_rows",
        "test_parquet_and_datasets_folder_outputs_load_in_datasets",
        "test_the_cli_builds_and_summarizes",
        "test_the_row_function_runs_in_datasets_map",
        "test_workers_write_the_same_bytes",
    },
    "test_dataset_corpus": {"test_the_cli_writes_a_corpus"},
    "test_dataset_docs": {"test_the_command_prints_what_the_doc_shows"},
    "test_dataset_memo": {"test_remembered_answer_text_equals_a_fresh_one"},
    "test_dataset_seen": {"test_many_lines_with_duplicates_and_growth", "test_memory_does_not_grow_with_the_lines"},
    "test_dataset_speed": {
        "test_api_format_builds_equal_builds_compiled_row_by_row",
        "test_metaspace_tokenizers_are_not_context_free",
        "test_the_answer_boundary_from_the_short_side_equals_the_long_side",
        "test_tokenized_builds_equal_builds_through_the_passes",
        "test_tokenized_lines_write_their_json_as_json_dumps_does",
        "test_turns_lowered_once_per_prompt_equal_the_passes",
    },
    "test_dataset_tools": {
        "test_a_datasets_folder_holds_the_calls_exactly",
        "test_trl_lines_carry_the_calls_with_arguments_as_objects",
        "test_workers_write_the_same_bytes",
    },
    "test_dataset_tools_python": {"test_the_method_writes_the_bytes_the_command_writes"},
    "test_dataset_truncate": {
        "test_a_row_whose_answer_does_not_fit_is_still_rejected",
        "test_long_rows_are_cut_from_the_start_keeping_the_answer",
        "test_workers_and_the_command_line_cut_the_same",
    },
    "test_docs": {"test_the_main_job_writes_the_reports", "test_the_quick_start_commands_work"},
    "test_eval_api": {
        "test_an_api_target_is_evaluated_over_http_then_from_the_cache",
        "test_the_command_line_sends_to_the_base_url_and_a_missing_key_is_partial",
    },
    "test_eval_cli": {"test_the_docs_example_run_is_real_output", "test_two_targets_side_by_side_with_report_files"},
    "test_eval_fast": {
        "test_choose_many_equals_choose_per_row",
        "test_generate_many_equals_greedy_generate",
        "test_generate_many_stop_strings_cut_each_row",
        "test_score_rows_equals_score_candidates_on_raw_ids",
    },
    "test_eval_html": {
        "test_the_disagreement_filter_hides_rows_where_targets_agree",
        "test_the_report_renders_in_chromium_with_the_figures_of_report_json",
    },
    "test_eval_intervals": {
        "test_macro_f1_bootstrap_covers_95_percent_by_simulation",
        "test_resamples_come_in_batches_that_bound_memory",
    },
    "test_eval_judge": {
        "test_a_judge_that_fails_mid_run_keeps_a_partial_report",
        "test_a_local_judge_of_a_record_grade_generates_and_counts_what_does_not_parse",
        "test_a_tiny_local_judge_grades_by_log_likelihood",
        "test_an_http_judge_is_sent_each_answer_then_answered_by_the_cache",
        "test_gates_take_the_judges_metrics",
        "test_the_docs_judge_example_is_real_output",
        "test_the_judge_in_the_html_report_rendered_by_chromium",
    },
    "test_eval_metrics": {"test_choices_equal_scikit_learn_on_random_label_sets"},
    "test_example_tweets": {"test_scoring_runs_end_to_end_on_a_tiny_model", "test_the_real_package_corpus"},
    "test_files": {"test_the_cli_says_so_in_one_line", "test_without_a_home_the_parser_writes_nothing"},
    "test_fuzz": {"test_mutations_of_real_files"},
    "test_fuzz_data": {
        "test_inputs_files_give_values_or_an_input_error",
        "test_model_text_gives_a_value_or_a_reply_error",
    },
    "test_hf_gguf": {
        "test_big_endian_files_read_the_same",
        "test_every_cut_of_a_header_is_a_clear_error",
        "test_metadata_equals_the_gguf_package",
        "test_models_commands_refuse_a_file_that_is_not_gguf",
    },
    "test_hf_images": {
        "test_every_family_with_an_image_placeholder_is_known",
        "test_probe_finds_each_templates_image_placeholder",
        "test_probe_reads_other_vision_template_shapes",
    },
    "test_hf_imports": {"test_no_import_cycles", "test_no_module_is_a_script"},
    "test_hf_probe": {
        "test_a_family_probes_like_its_refdata_copy",
        "test_cli_prints_a_probe_table",
        "test_default_system_prompt_facts",
        "test_generation_prompt_facts",
        "test_system_handling_facts",
    },
    "test_hf_target": {
        "test_reasoning_none_turns_qwen3_thinking_off",
        "test_what_a_target_cannot_express_is_an_error_before_emitting",
    },
    "test_hf_template": {
        "test_only_shipped_templates_run_outside_the_sandbox",
        "test_rendering_does_not_import_transformers",
    },
    "test_hf_template_compiler": {"test_compiled_renders_as_jinja"},
    "test_history_fuzz": {"test_history_shapes_never_crash_drop_or_change_roles"},
    "test_hygiene": {"test_public_symbols_have_docstrings"},
    "test_ir_printer": {"test_every_example_prints_the_same_twice"},
    "test_layering": {"test_imports_point_down", "test_no_import_cycles"},
    "test_markers": {"test_every_marked_test_exists"},
    "test_parse_threads": {"test_parses_in_threads_match_sequential_parses"},
    "test_prompt_tests": {
        "test_the_cli_counts_skipped_expects_and_require_replies_fails_them",
        "test_the_first_run_writes_the_snapshots_and_ci_refuses",
    },
    "test_render_diagnostics": {"test_past_a_hundred_diagnostics_a_file_gets_a_count"},
    "test_replies": {"test_strict_nulls_round_trip_for_any_output_type"},
    "test_run_api": {
        "test_a_reply_that_does_not_fit_the_output_keeps_its_text",
        "test_a_tool_call_with_wrong_arguments_is_a_parse_error",
        "test_async_calls_overlap",
        "test_setup_errors_name_what_to_set",
        "test_threads_share_one_client",
        "test_vertex_takes_the_project_of_its_credentials",
    },
    "test_run_api_errors": {
        "test_429_is_retried_after_the_retry_after_seconds",
        "test_a_mid_stream_error_is_an_api_error",
        "test_a_stalled_connection_times_out_then_is_retried",
        "test_async_streams",
        "test_cli_exit_codes",
        "test_cli_streams",
        "test_server_errors_are_retried",
        "test_the_cap_is_the_backoffs_and_a_wait_within_it_is_made",
        "test_without_the_api_extra_run_says_what_to_install",
    },
    "test_run_api_limits": {
        "test_an_endless_chunked_reply_stops_at_the_bound",
        "test_an_endless_stream_stops_at_the_bound",
    },
    "test_run_bulk": {
        "test_a_killed_run_resumes_without_sending_a_finished_row_again",
        "test_an_authentication_error_stops_the_run_and_keeps_the_journal",
        "test_rows_run_concurrently_and_come_back_in_row_order",
    },
    "test_run_bulk_http": {
        "test_a_bulk_run_on_an_api_target_sends_every_row_once",
        "test_a_missing_key_stops_a_bulk_run_with_one_line",
        "test_a_provider_asking_to_wait_minutes_stops_a_bulk_run",
    },
    "test_run_vertex_express": {"test_application_default_credentials_win_as_in_google_genai"},
    "test_schema": {"test_each_strict_rule_is_checked", "test_strict_lowering_of_any_output_type"},
    "test_sdk_calls": {"test_the_sdk_sends_the_body"},
    "test_security_code": {
        "test_a_parser_from_the_tables_parses_as_a_fresh_build",
        "test_a_planted_grammar_pickle_is_never_read",
        "test_loading_the_parser_unpickles_nothing",
        "test_tables_built_from_another_grammar_are_not_used",
        "test_the_shipped_tables_equal_a_fresh_build",
    },
    "test_security_dataset": {
        "test_control_token_text_in_tool_arguments_is_text",
        "test_the_command_line_reports_them_without_a_traceback",
    },
    "test_security_dos": {
        "test_a_diagnostic_on_a_long_line_costs_the_window_not_the_line",
        "test_block_strings_parse_in_linear_time",
        "test_deep_nesting_is_a_diagnostic",
        "test_diagnostics_scale_linearly",
        "test_random_deep_nestings_never_raise",
    },
    "test_security_eval": {
        "test_a_hostile_answer_adds_no_special_token_for_a_local_judge",
        "test_a_hostile_answer_reaches_an_http_judge_as_text_only",
    },
    "test_security_files": {"test_a_deep_import_chain_is_a_diagnostic", "test_random_paths_never_leave_the_root"},
    "test_security_models": {
        "test_a_million_spaces_in_data_compile",
        "test_a_missing_folder_is_named_as_missing",
        "test_a_model_folder_of_any_shape_is_a_diagnostic",
        "test_a_template_over_its_budget_stops_fast_with_the_limit_named",
        "test_fuzzed_model_folders_never_fail_internally",
        "test_gguf_arrays_nested_990_deep_are_a_diagnostic",
        "test_probing_stops_at_the_first_render_over_budget",
        "test_the_deadline_stops_a_slow_template",
    },
    "test_security_run": {
        "test_a_redirect_to_another_host_never_carries_the_key",
        "test_an_endless_reply_costs_at_most_the_bound_in_memory",
        "test_no_log_record_holds_a_key",
        "test_reprs_hold_no_key",
        "test_the_cli_never_prints_a_key",
    },
    "test_security_serve": {
        "test_a_post_without_the_key_is_refused_before_its_body_is_read",
        "test_a_user_message_holding_control_tokens_is_text",
        "test_every_request_needs_the_bearer_token",
        "test_large_bodies_are_refused_whether_declared_or_streamed",
        "test_no_answer_carries_a_traceback_or_a_server_path",
        "test_roles_come_from_the_role_field_only",
    },
    "test_security_tests": {
        "test_a_reply_file_outside_the_project_is_refused_and_not_printed",
        "test_update_with_a_dotted_model_target_writes_inside_the_snapshot_folder",
    },
    "test_serve": {
        "test_500_compile_requests_50_in_flight_without_an_error",
        "test_a_full_queue_answers_429_with_retry_after",
        "test_a_recursive_output_type_gets_a_component_that_refers_to_itself",
        "test_an_exception_in_a_route_is_a_json_500_without_traceback",
        "test_bodies_over_the_limit_get_413",
        "test_chat_requests_with_fields_the_model_cannot_honour_get_400",
        "test_invalid_json_unknown_prompt_unknown_target",
        "test_serve_from_the_command_line_answers_and_stops_on_sigterm",
        "test_serve_refuses_a_file_with_errors_in_one_line",
        "test_sigterm_lets_the_requests_in_flight_finish",
        "test_the_openapi_document_validates_and_carries_the_prompt_types",
    },
    "test_serve_api": {
        "test_a_prompt_served_on_an_api_target_answers_typed",
        "test_a_provider_error_is_a_json_502_without_the_key",
    },
    "test_train": {"test_sft_learns_and_the_output_is_a_model_folder"},
    "test_train_resume": {"test_a_run_killed_with_sigkill_resumes_to_the_same_weights_bit_for_bit"},
    "test_visit": {"test_node_at_is_a_chain_of_nested_spans"},
}
for _module, _names in UNIT_HEAVY.items():
    SLOW_TESTS[_module] = SLOW_TESTS.get(_module, set()) | _names
#: heavy parametrizations: only the first N cases stay in the unit run, the others are `slow`
UNIT_SUBSET = {
    ("test_docs", "test_diagnostic_example"): 3,
    ("test_fuzz_data", "test_inputs_files_give_values_or_an_input_error"): 1,
    ("test_fuzz", "test_mutations_of_real_files"): 3,
    ("test_hf_probe", "test_probe_golden"): 4,
    ("test_dataset", "test_every_answer_reads_back_as_its_value"): 2,
}


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/ from the current output")


def pytest_ignore_collect(collection_path, config):
    """A run that leaves out `slow` (or `parity`) does not even import those modules.

    Marking happens after collection, and collecting a module imports it with its torch or SDK
    imports: the unit run would pay those seconds for tests it then deselects.
    """
    expression = config.getoption("markexpr") or ""
    module = collection_path.stem
    if "not slow" in expression and module in SLOW_MODULES:
        return True
    if "not parity" in expression and module in PARITY_MODULES:
        return True
    return None


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
        case = item.callspec.id if hasattr(item, "callspec") else None
        if (module in PARITY_MODULES or name in PARITY_TESTS.get(module, ())
                or case in PARITY_CASES.get(module, ()) or (module == "test_golden" and _is_model_golden(item))):
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
