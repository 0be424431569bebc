"""Running compiled prompts: sending a compiled body to a model and reading its answer.

- `local`: open models run locally with torch and transformers on the CPU (`polyprompt run`):
  loading, converting GGUF files, generation, choosing among allowed values by log-likelihood.
- `api`: API targets (docs/run.md): `Client.send`/`asend`/`stream` POST the exact compiled body
  with httpx and give an `ApiResult`; `providers` (URL, headers, body bytes per target), `auth`
  (keys, SigV4 with botocore, Vertex's application-default credentials), `retry` (backoff with
  full jitter, Retry-After), `stream` (SSE, NDJSON and AWS event-stream readers), `results`
  (replies to results, failures to one-line `ApiError`s, `errors`, with secrets redacted).
- `batched`: many rows of an open model at once (`choose_many`, `generate_many`), the same answers
  as `local` row by row; `chat`: a messages list answered by a local model (`polyprompt serve`).
- `bulk`: every row of a dataset with a concurrency limit, results in row order, a write-ahead
  `journal` that a killed run resumes from; `cache`: the reply cache (SQLite, keyed by the SHA-256
  of the exact body); `batch_files`: the providers' batch-job input files, and their output read
  back into typed values (docs/run-bulk.md).

This part sits above the compiler and the backends (it imports them, never the command line), and
imports torch, transformers, httpx, botocore and google-auth only inside the functions that use them.
"""

if __name__ != "polyprompt.run":  # see docs/development.md: one import name only
    raise ImportError(f"import polyprompt.run, not {__name__!r} (repo root is on sys.path)")
