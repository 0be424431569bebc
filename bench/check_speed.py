"""Front-end speed: `polyprompt check` cold, and parse throughput.

Run: `.venv/bin/python bench/check_speed.py [--runs 15]`. Prints a table and
writes bench/results/check_speed.json. The targets (issue 3):

- `polyprompt check` on one 200-line file in a fresh process, interpreter
  start-up included: <= 150 ms wall (median). Shown beside `python -c pass`
  and the import of Jinja2 alone (what every peer pays) measured in the same run.
- parse throughput >= 1 MB of source per second, on realistic prompt files
  (the examples and stdlib, repeated to 1 MB) and on a token-dense synthetic
  file (short lines, many declarations), reported separately.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "results" / "check_speed.json"


def file_of_200_lines() -> str:
    """A realistic 200-line prompt file: the first examples, cut at 200 lines on a declaration."""
    lines: list[str] = []
    for path in sorted((REPO / "examples").glob("*.prompt")):
        text = path.read_text()
        if "import" in text.split("\n", 1)[0] or len(lines) + text.count("\n") > 200:
            continue
        lines.extend(text.splitlines())
    while len(lines) < 200:
        lines.append(f"// padding line {len(lines)}")
    return "\n".join(lines[:200]) + "\n"


#: Byte-code caching on, as for any installed package (pip writes .pyc files at install).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_wall(cmd: list[str], runs: int, cwd: Path) -> float:
    subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, check=False)  # warm: .pyc, grammar cache
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def throughput(text: str, repeat: int = 3) -> float:
    from polyprompt.compiler.diagnostics import Sink
    from polyprompt.compiler.parse import parse_source
    from polyprompt.compiler.span import SourceFile

    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        parse_source(SourceFile("bench.prompt", text), Sink())
        best = min(best, time.perf_counter() - t)
    return len(text.encode()) / best / 1e6


def realistic_megabyte() -> str:
    corpus = "".join(p.read_text() + "\n" for p in sorted(REPO.glob("examples/*.prompt")))
    corpus += "".join(p.read_text() + "\n" for p in sorted(REPO.glob("stdlib/std/*.prompt")))
    return (corpus * (1_000_000 // len(corpus) + 1))[:1_000_000].rsplit("\n\n", 1)[0] + "\n"


def dense_megabyte() -> str:
    parts, n = [], 0
    while sum(map(len, parts)) < 1_000_000:
        n += 1
        parts.append(f'type T{n} {{ a: str "field", b: list[int]? }}\n'
                     f'prompt p{n}(x: str, y: int = 3) -> T{n} {{\n  model "m" {{ temperature: 0 }}\n'
                     f'  user "{{{{ x | upper }}}} {{% if y > 2 %}}more{{% end %}}"\n}}\n\n')
    return "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    script = Path(sys.executable).parent / "polyprompt"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.prompt"
        path.write_text(file_of_200_lines())
        check_ms = median_wall([str(script), "check", str(path)], args.runs, Path(tmp))
        pass_ms = median_wall([sys.executable, "-c", "pass"], args.runs, Path(tmp))
        jinja_ms = median_wall([sys.executable, "-c", "import jinja2"], args.runs, Path(tmp))
    real = throughput(realistic_megabyte())
    dense = throughput(dense_megabyte())
    results = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "check_200_lines_ms": round(check_ms, 1),
        "python_c_pass_ms": round(pass_ms, 1),
        "python_import_jinja2_ms": round(jinja_ms, 1),
        "check_vs_python_start": round(check_ms / pass_ms, 2),
        "check_vs_jinja2_import": round(check_ms / jinja_ms, 2),
        "parse_mb_per_s_realistic": round(real, 2),
        "parse_mb_per_s_dense": round(dense, 2),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| `polyprompt check`, 200-line file, fresh process (median of {args.runs}) | {check_ms:.0f} ms "
          f"({check_ms / pass_ms:.1f}x `python -c pass` = {pass_ms:.0f} ms; {check_ms / jinja_ms:.1f}x "
          f"`python -c 'import jinja2'` = {jinja_ms:.0f} ms) | <= 150 ms |")
    print(f"| parse throughput, realistic prompts | {real:.2f} MB/s | >= 1 MB/s |")
    print(f"| parse throughput, token-dense synthetic | {dense:.2f} MB/s | (reported) |")


if __name__ == "__main__":
    main()
