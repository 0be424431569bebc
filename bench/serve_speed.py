"""`polyprompt serve` speed: the compile endpoint against an in-process compile of the same prompt.

Run: `.venv/bin/python bench/serve_speed.py [--requests 500] [--concurrency 32]`. Prints a table
and writes bench/results/serve_speed.json. The target (issue 16): the compile endpoint's p50
latency is within 2 ms of an in-process compile (`PromptFile.compile`) of the same prompt, inputs
and target; requests per second are reported.

The server is `polyprompt serve` in its own process (uvicorn, one worker) on 127.0.0.1, so the
client and the server do not share an interpreter. Measured, in this order:

- in-process: `pf.compile(target, inputs, prompt=...)` and the JSON of its body and report, p50;
- `GET /healthz` one request at a time over one keep-alive connection: the HTTP round trip alone;
- `POST /prompts/triage/compile?target=openai-chat` one at a time: p50, p99; its p50 minus the
  in-process p50 is what serving adds;
- the same compile with `--concurrency` requests in flight (httpx.AsyncClient): requests/s.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "serve_speed.json"
PROMPT = REPO / "examples" / "ticket_triage.prompt"
INPUTS = json.loads((REPO / "examples" / "ticket_triage.input.json").read_text())
TARGET = "openai-chat"
TARGET_MS = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def in_process(runs: int) -> list[float]:
    """The compile the endpoint does, in this process: compile, then the body and report as JSON."""
    import polyprompt
    from polyprompt.serve.prompts import report_json

    pf = polyprompt.load(str(PROMPT))
    times = []
    for i in range(runs + 20):
        start = time.perf_counter()
        compiled = pf.compile(TARGET, INPUTS, prompt="triage")
        json.dumps({"body": compiled.body, "report": report_json(compiled.report)})
        if i >= 20:  # after warm-up
            times.append((time.perf_counter() - start) * 1000)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "polyprompt", "serve", str(PROMPT), "--port", str(port),
                             "--log-level", "warning"], cwd=REPO)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


def sequential(url: str, runs: int, compile_: bool) -> list[float]:
    """One request at a time over one keep-alive connection; ms each."""
    import httpx

    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(runs + 20):
            start = time.perf_counter()
            if compile_:
                answer = client.post(f"/prompts/triage/compile?target={TARGET}", json=INPUTS)
            else:
                answer = client.get("/healthz")
            elapsed = (time.perf_counter() - start) * 1000
            assert answer.status_code == 200, answer.text
            if i >= 20:
                times.append(elapsed)
    return times


async def concurrent(url: str, total: int, in_flight: int) -> tuple[float, list[float]]:
    """`total` compile requests, `in_flight` at a time: (requests/s, latencies in ms)."""
    import httpx

    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        gate = asyncio.Semaphore(in_flight)
        errors = 0

        async def one() -> float:
            nonlocal errors
            async with gate:
                start = time.perf_counter()
                answer = await client.post(f"/prompts/triage/compile?target={TARGET}", json=INPUTS)
                errors += answer.status_code != 200
                return (time.perf_counter() - start) * 1000

        await asyncio.gather(*(one() for _ in range(in_flight)))  # warm the connections
        start = time.perf_counter()
        times = await asyncio.gather(*(one() for _ in range(total)))
        wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{errors} requests failed")
    return total / wall, list(times)


def main() -> None:
    """Measure, print the table, write the results file."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=500, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight for requests/s")
    args = parser.parse_args()
    local = in_process(args.requests)
    port = free_port()
    proc = start_server(port)
    try:
        url = f"http://127.0.0.1:{port}"
        health = sequential(url, args.requests, compile_=False)
        endpoint = sequential(url, args.requests, compile_=True)
        rps, loaded = asyncio.run(concurrent(url, args.requests * 4, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(30)
    added = statistics.median(endpoint) - statistics.median(local)
    result = {
        "prompt": "examples/ticket_triage.prompt:triage", "target": TARGET, "requests": args.requests,
        "in_process_compile_ms": {"p50": round(statistics.median(local), 3), "p99": round(percentile(local, 0.99), 3)},
        "healthz_round_trip_ms": {"p50": round(statistics.median(health), 3), "p99": round(percentile(health, 0.99), 3)},
        "compile_endpoint_ms": {"p50": round(statistics.median(endpoint), 3),
                                "p99": round(percentile(endpoint, 0.99), 3)},
        "added_by_serving_p50_ms": round(added, 3), "target_added_ms": TARGET_MS, "meets_target": added <= TARGET_MS,
        "concurrent": {"requests": args.requests * 4, "in_flight": args.concurrency, "requests_per_s": round(rps, 1),
                       "p50_ms": round(statistics.median(loaded), 2), "p99_ms": round(percentile(loaded, 0.99), 2)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "load_average_1m": round(os.getloadavg()[0], 2)},
    }
    print(f"in-process compile      p50 {result['in_process_compile_ms']['p50']:8.3f} ms")
    print(f"GET /healthz            p50 {result['healthz_round_trip_ms']['p50']:8.3f} ms")
    print(f"compile endpoint        p50 {result['compile_endpoint_ms']['p50']:8.3f} ms  "
          f"p99 {result['compile_endpoint_ms']['p99']:.3f} ms")
    print(f"added by serving        p50 {added:8.3f} ms  (target <= {TARGET_MS} ms: "
          f"{'met' if added <= TARGET_MS else 'NOT met'})")
    print(f"{args.concurrency} in flight            {rps:8.1f} requests/s  p50 {result['concurrent']['p50_ms']} ms  "
          f"p99 {result['concurrent']['p99_ms']} ms")
    print(f"(load average {result['machine']['load_average_1m']} on {os.cpu_count()} CPUs)")
    OUT.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
