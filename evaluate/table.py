"""The terminal table of a report: each metric with its 95% interval, one column per target,
then the comparisons between targets, the `expect` clauses and the gates. Plain text, so it reads
the same in a terminal, a CI log and a pasted issue."""
from __future__ import annotations

from typing import Any

#: a difference whose p-value is below this is called significant in the table
ALPHA = 0.05


def render(data: dict, width: int = 100) -> str:
    """The report as text (see the module docstring)."""
    targets = data["targets"]
    head = (f"{data['file']} · {data['prompt']} · " + (f"split {data['split']} · " if data["split"] else "")
            + f"{data['rows']} rows · {data['output_kind']} output" + (" · PARTIAL" if data["partial"] else ""))
    lines = [head, ""]
    rows = [["metric"] + [t["label"] for t in targets]]
    for name in _metric_names(targets):
        rows.append([name] + [_cell(t["metrics"].get(name)) for t in targets])
    for field, metric in _field_names(targets):
        rows.append([f"{field}.{metric}"] + [_cell(t.get("fields", {}).get(field, {}).get(metric)) for t in targets])
    rows.append(["parse failures"] + [str(t["parse_failures"]) for t in targets])
    rows.append(["errors"] + [str(t["errors"]) for t in targets])
    rows.append(["latency p50/p95 ms"] + [_latency(t["latency_ms"]) for t in targets])
    rows.append(["tokens in/out"] + [f"{t['tokens']['input']}/{t['tokens']['output']}" if t["tokens"] else "-"
                                     for t in targets])
    rows.append(["rows/s"] + [str(t["rows_per_second"]) if t.get("rows_per_second") else "-" for t in targets])
    if data.get("judge"):
        rows += _judge_rows(targets)
    lines += _columns(rows, width)
    for t in targets:
        if t.get("failure"):
            lines.append(f"! {t['label']} stopped after {t['answered_rows']} rows: {t['failure']}")
        if (t.get("judge") or {}).get("failure"):
            lines.append(f"! the judge stopped grading {t['label']} after {t['judge']['graded']} rows: "
                         f"{t['judge']['failure']}")
    if data.get("judge"):
        judge = data["judge"]
        lines += ["", f"judge: {judge['label']} with the rubric {judge['rubric']} (judge_ metrics above)"]
    lines += _comparisons(data["comparisons"])
    lines += _expects(data["expects"], targets)
    lines += _gates(data["gates"])
    return "\n".join(lines)


def _judge_rows(targets: list[dict]) -> list[list[str]]:
    """The judge's own figures per target: rows graded, its replies that did not parse, its errors."""
    def cell(t: dict, key: str) -> str:
        return str(t["judge"][key]) if t.get("judge") else "-"

    return [["judge graded"] + [cell(t, "graded") for t in targets],
            ["judge parse failures"] + [cell(t, "parse_failures") for t in targets],
            ["judge errors"] + [cell(t, "errors") for t in targets]]


def _metric_names(targets: list[dict]) -> list[str]:
    names: dict[str, None] = {}
    for t in targets:
        names.update(dict.fromkeys(t["metrics"]))
    return list(names)


def _field_names(targets: list[dict]) -> list[tuple[str, str]]:
    names: dict[tuple[str, str], None] = {}
    for t in targets:
        for field, scores in (t.get("fields") or {}).items():
            names.update(dict.fromkeys((field, m) for m in scores))
    return list(names)


def _cell(m: Any) -> str:
    if not m:
        return "-"
    if not m["n"]:
        return "n/a"
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def _latency(lat: Any) -> str:
    return f"{lat['p50']:.0f}/{lat['p95']:.0f}" if lat else "-"


def _columns(rows: list[list[str]], width: int) -> list[str]:
    first = max(len(r[0]) for r in rows)
    cols = [max(len(r[i]) for r in rows) for i in range(1, len(rows[0]))]
    out = []
    for r in rows:
        out.append((r[0].ljust(first) + "  " + "  ".join(c.ljust(w) for c, w in zip(r[1:], cols))).rstrip())
    return out


def _comparisons(comparisons: list[dict]) -> list[str]:
    if not comparisons:
        return []
    out = ["", "comparisons (A - B on the rows both answered):"]
    for c in comparisons:
        verdict = "significant" if c["p_value"] < ALPHA else "within noise"
        test = "McNemar" if c["test"] == "mcnemar" else "paired bootstrap"
        out.append(f"  {c['a']} - {c['b']}  {c['metric']}: {c['difference']:+.3f} [{c['low']:+.3f}, {c['high']:+.3f}]"
                   f"  p={c['p_value']:.3g} ({test})  {verdict}")
    return out


def _expects(expects: list[dict], targets: list[dict]) -> list[str]:
    if not expects:
        return []
    out = ["", "expect clauses of the test blocks:"]
    for t in targets:
        mine = [e for e in expects if e["target"] == t["label"]]
        checked = [e for e in mine if not e.get("skipped")]
        passed = sum(e["passed"] for e in checked)
        out.append(f"  {t['label']}: {passed}/{len(checked)} passed" + (f", {len(mine) - len(checked)} skipped"
                                                                         if len(mine) > len(checked) else ""))
        out += [f"    FAIL {e['test']}: {e['message']}" for e in checked if not e["passed"]]
    return out


def _gates(gates: list[dict]) -> list[str]:
    if not gates:
        return []
    out = ["", "gates:"]
    for g in gates:
        out.append(f"  {g['metric']} >= {g['threshold']:g}  {g['target']}: {g['value']:.3f} "
                   + ("pass" if g["passed"] else "FAIL"))
    return out
