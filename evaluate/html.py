"""The self-contained HTML evaluation report: `render_html(report, predictions, plots) -> str`.

The page is one file that opens offline: inline CSS, a few lines of inline JavaScript (the
filters), PNG plots embedded as ``data:`` URIs; nothing is fetched. It shows, from a report.json
(docs/evaluation-report.md): the metric table with 95% intervals, one column per target; each
target's run figures, per-class table and confusion matrix (and per-field scores for records);
the judge of free-text answers (its rubric, and each row's grade and reason under the answer);
the paired comparisons ("not significant" when the interval of the difference contains 0); the
`expect` assertions and the CI gates; a banner when the run is partial; and the per-row outputs
side by side, with filters for the rows where the targets disagree and the rows answered wrong.

Every figure and string of the report or the predictions is HTML-escaped: data never becomes
markup. Only the standard library is used.
"""
from __future__ import annotations

import base64
import html
import json
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["render_html", "disagreeing_rows"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde2ea}
h3{font-size:14px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px}
th,td{border:1px solid #d5dbe5;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f4f9}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.ci{color:#5f6b7f;font-size:12px}.meta{color:#4b5567}.banner{background:#fff4d6;border:1px solid #e8b93d;
padding:8px 12px;margin:12px 0;font-weight:600}
.pass{color:#17713a;font-weight:600}.fail{color:#b3261e;font-weight:600}.ns{color:#5f6b7f}
.wrong{background:#fdecea}.right{background:#eaf6ee}.err{color:#b3261e;font-size:12px}
.judge{font-size:12px;margin-top:3px}
td.cell-0{background:#fff}td.diag{background:#e4f2e8;font-weight:600}
tr.hidden{display:none}.filters label{margin-right:16px}
img.plot{max-width:100%;border:1px solid #d5dbe5;margin:6px 0}
details summary{cursor:pointer;color:#4b5567}
"""

# Filters: a row is shown unless a checked filter excludes it; `#disagree` in the URL checks the first.
_JS = """
(function(){
  var boxes=document.querySelectorAll('.filters input[type=checkbox]');
  function apply(){
    var want=[];boxes.forEach(function(b){if(b.checked)want.push(b.getAttribute('data-class'));});
    document.querySelectorAll('#predictions tbody tr').forEach(function(tr){
      var show=want.every(function(c){return tr.classList.contains(c);});
      tr.classList.toggle('hidden',!show);
    });
    var n=document.querySelectorAll('#predictions tbody tr:not(.hidden)').length;
    var out=document.getElementById('shown');if(out)out.textContent=String(n);
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  var wanted=(location.hash||'').slice(1).split(',');
  boxes.forEach(function(b){if(wanted.indexOf(b.getAttribute('data-class'))>=0)b.checked=true;});
  apply();
})();
"""


def _e(value: Any) -> str:
    """Any value as escaped text: a string as is, None as an empty cell, anything else as JSON."""
    if value is None:
        return ""
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return html.escape(value, quote=True)


def _num(value: Any, digits: int = 3) -> str:
    """A figure as shown: floats to `digits` decimals, ints as they are, anything else escaped."""
    if isinstance(value, bool) or value is None:
        return _e(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _e(value)


def _estimate(m: Mapping[str, Any] | None) -> str:
    """A metric cell: the value, its 95% interval and the number of items, with the exact value kept."""
    if not m:
        return '<td class="num">&ndash;</td>'
    interval = ""
    if m.get("low") is not None and m.get("high") is not None:
        interval = f' <span class="ci">[{_num(m["low"])}, {_num(m["high"])}]</span>'
    n = f' <span class="ci">n={_num(m["n"])}</span>' if m.get("n") is not None else ""
    return f'<td class="num" data-value="{_e(m.get("value"))}">{_num(m.get("value"))}{interval}{n}</td>'


def _table(head: Sequence[str], rows: Iterable[str], attrs: str = "") -> str:
    cells = "".join(f"<th>{h}</th>" for h in head)
    return f"<table{attrs}><thead><tr>{cells}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _label(target: Mapping[str, Any]) -> str:
    return _e(target.get("label") or target.get("target"))


def _metrics(targets: Sequence[Mapping[str, Any]]) -> str:
    """Metric name by target: the main table, side by side."""
    names = list(dict.fromkeys(name for t in targets for name in (t.get("metrics") or {})))
    rows = [f"<tr><th>{_e(name)}</th>" + "".join(_estimate((t.get("metrics") or {}).get(name)) for t in targets)
            + "</tr>" for name in names]
    head = ["metric"] + [f'{_label(t)}<br><span class="ci">{_e(t.get("target"))}</span>' for t in targets]
    return _table(head, rows, ' id="metrics" class="metrics"')


def _run_figures(targets: Sequence[Mapping[str, Any]]) -> str:
    """Parse failures, errors, latency and tokens by target."""
    def cells(get) -> str:
        return "".join(f'<td class="num">{get(t)}</td>' for t in targets)

    def latency(key):
        return lambda t: _num((t.get("latency_ms") or {}).get(key), 1)

    def tokens(key):
        return lambda t: _num((t.get("tokens") or {}).get(key)) if t.get("tokens") else "&ndash;"

    rows = [f"<tr><th>parse failures</th>{cells(lambda t: _num(t.get('parse_failures')))}</tr>",
            f"<tr><th>errors</th>{cells(lambda t: _num(t.get('errors')))}</tr>",
            f"<tr><th>latency p50 (ms)</th>{cells(latency('p50'))}</tr>",
            f"<tr><th>latency p95 (ms)</th>{cells(latency('p95'))}</tr>",
            f"<tr><th>input tokens</th>{cells(tokens('input'))}</tr>",
            f"<tr><th>output tokens</th>{cells(tokens('output'))}</tr>"]
    return _table([""] + [_label(t) for t in targets], rows, ' id="run" class="run"')


def _judge(report: Mapping[str, Any], targets: Sequence[Mapping[str, Any]]) -> str:
    """The judge: its rubric and target, and per graded target what it graded, passed and could not read."""
    judge = report.get("judge")
    if not judge:
        return ""
    figures = [("rows graded", "graded"), ("passed", "passed"), ("not answered (not graded)", "ungraded"),
               ("judge parse failures", "parse_failures"), ("judge errors", "errors")]
    rows = [f"<tr><th>{title}</th>" + "".join(f'<td class="num">{_num((t.get("judge") or {}).get(key))}</td>'
                                             for t in targets) + "</tr>" for title, key in figures]
    rows.append("<tr><th>stopped</th>" + "".join(f"<td>{_e((t.get('judge') or {}).get('failure') or '')}</td>"
                                                 for t in targets) + "</tr>")
    return (f'<h2>Judge</h2><p class="meta" id="judge">rubric <code>{_e(judge.get("rubric"))}</code> answered by '
            f"{_e(judge.get('label'))} <span class=\"ci\">{_e(judge.get('target'))}</span></p>"
            + _table([""] + [_label(t) for t in targets], rows, ' id="judge-figures"'))


def _judge_note(grade: Any) -> str:
    """A row's grade under the answer: pass or fail, the score, the reason (or why there is none)."""
    if not isinstance(grade, Mapping):
        return ""
    problem = grade.get("parse_error") or grade.get("error")
    verdict = ('<span class="pass">judge: pass</span>' if grade.get("pass")
               else '<span class="fail">judge: fail</span>')
    score = f" {_num(grade.get('score'))}" if grade.get("score") is not None else ""
    reason = f" &middot; {_e(grade.get('reason'))}" if grade.get("reason") else ""
    note = f'<div class="err">judge: {_e(problem)}</div>' if problem else ""
    return f'<div class="judge">{verdict}{score}{reason}</div>{note}'


def _per_class(target: Mapping[str, Any]) -> str:
    classes = target.get("per_class") or {}
    if not classes:
        return ""
    rows = [f"<tr><th>{_e(name)}</th>{_estimate(c.get('precision'))}{_estimate(c.get('recall'))}"
            f"{_estimate(c.get('f1'))}<td class=\"num\">{_num(c.get('support'))}</td></tr>"
            for name, c in classes.items()]
    return "<h3>Per class</h3>" + _table(["class", "precision", "recall", "F1", "support"], rows,
                                         ' class="per-class"')


def _confusion(target: Mapping[str, Any]) -> str:
    confusion = target.get("confusion") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if not labels:
        return ""
    rows = []
    for i, (label, counts) in enumerate(zip(labels, matrix)):
        cells = "".join(f'<td class="num{" diag" if i == j else ""}">{_num(c)}</td>' for j, c in enumerate(counts))
        rows.append(f"<tr><th>{_e(label)}</th>{cells}</tr>")
    head = ['expected &#8595; / predicted &#8594;'] + [_e(label) for label in labels]
    return "<h3>Confusion matrix</h3>" + _table(head, rows, ' class="confusion"')


def _fields(target: Mapping[str, Any]) -> str:
    fields = target.get("fields") or {}
    if not fields:
        return ""
    rows = [f"<tr><th>{_e(field)}</th><th>{_e(metric)}</th>{_estimate(est)}</tr>"
            for field, metrics in fields.items() for metric, est in (metrics or {}).items()]
    return "<h3>Per field</h3>" + _table(["field", "metric", "value"], rows, ' class="fields"')


def _per_target(targets: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for t in targets:
        body = _per_class(t) + _confusion(t) + _fields(t)
        if body:
            parts.append(f'<section class="target"><h2>{_label(t)} <span class="ci">{_e(t.get("target"))}</span>'
                         f"</h2>{body}</section>")
    return "".join(parts)


def significant(comparison: Mapping[str, Any]) -> bool:
    """Whether a difference is significant: its 95% interval does not contain 0."""
    low, high = comparison.get("low"), comparison.get("high")
    if low is None or high is None:
        return False
    return not (low <= 0 <= high)


def _comparisons(comparisons: Sequence[Mapping[str, Any]]) -> str:
    if not comparisons:
        return ""
    rows = []
    for c in comparisons:
        verdict = ('<span class="pass">significant</span>' if significant(c)
                   else '<span class="ns">not significant</span>')
        rows.append(f"<tr><td>{_e(c.get('a'))}</td><td>{_e(c.get('b'))}</td><td>{_e(c.get('metric'))}</td>"
                    f'<td class="num">{_num(c.get("difference"))} <span class="ci">[{_num(c.get("low"))}, '
                    f'{_num(c.get("high"))}]</span></td><td class="num">{_num(c.get("p_value"), 4)}</td>'
                    f"<td>{_e(c.get('test'))}</td><td>{verdict}</td></tr>")
    return "<h2>Comparisons</h2>" + _table(["a", "b", "metric", "a &minus; b [95% interval]", "p-value", "test",
                                            "verdict"], rows, ' id="comparisons"')


def _passed(ok: Any) -> str:
    return '<span class="pass">passed</span>' if ok else '<span class="fail">failed</span>'


def _checks(expects: Sequence[Mapping[str, Any]], gates: Sequence[Mapping[str, Any]]) -> str:
    out = ""
    if expects:
        rows = [f"<tr><td>{_e(x.get('test'))}</td><td>{_e(x.get('target'))}</td><td>{_passed(x.get('passed'))}</td>"
                f"<td>{_e(x.get('message'))}</td></tr>" for x in expects]
        out += "<h2>Expectations</h2>" + _table(["test", "target", "result", "message"], rows, ' id="expects"')
    if gates:
        rows = [f"<tr><td>{_e(g.get('metric'))}</td><td>{_e(g.get('target'))}</td>"
                f'<td class="num">{_num(g.get("threshold"))}</td><td class="num">{_num(g.get("value"))}</td>'
                f"<td>{_passed(g.get('passed'))}</td></tr>" for g in gates]
        out += "<h2>Gates</h2>" + _table(["metric", "target", "threshold", "value", "result"], rows, ' id="gates"')
    return out


def _answer_key(p: Mapping[str, Any]) -> str:
    """What a target answered, comparable across targets: the typed value, or the error if none."""
    if p.get("error") or p.get("parse_error"):
        return "\x00error"
    return json.dumps(p.get("value"), sort_keys=True, ensure_ascii=False)


def disagreeing_rows(predictions: Sequence[Mapping[str, Any]]) -> set[Any]:
    """The rows for which the targets did not all give the same answer (a failed reply is an answer
    of its own)."""
    answers: dict[Any, set[str]] = {}
    for p in predictions:
        answers.setdefault(p.get("row"), set()).add(_answer_key(p))
    return {row for row, keys in answers.items() if len(keys) > 1}


def _prediction_cell(p: Mapping[str, Any] | None) -> str:
    if p is None:
        return "<td>&ndash;</td>"
    style = "right" if p.get("correct") else "wrong" if p.get("correct") is False else ""
    problem = p.get("error") or p.get("parse_error")
    note = f'<div class="err">{_e(problem)}</div>' if problem else ""
    text = p.get("text")
    raw = (f"<details><summary>reply</summary><pre>{_e(text)}</pre></details>"
           if text is not None and text != p.get("value") else "")
    return f'<td class="{style}">{_e(p.get("value"))}{note}{_judge_note(p.get("judge"))}{raw}</td>'


def _predictions(targets: Sequence[Mapping[str, Any]], predictions: Sequence[Mapping[str, Any]]) -> str:
    if not predictions:
        return ""
    order = [t.get("target") for t in targets]
    order += [name for name in dict.fromkeys(p.get("target") for p in predictions) if name not in order]
    by_row: dict[Any, dict[Any, Mapping[str, Any]]] = {}
    for p in predictions:
        by_row.setdefault(p.get("row"), {})[p.get("target")] = p
    split = disagreeing_rows(predictions)
    rows = []
    for row, answers in by_row.items():
        expected = next((a.get("expected") for a in answers.values() if "expected" in a), None)
        wrong = any(a.get("correct") is False for a in answers.values())
        classes = " ".join(c for c, on in (("disagree", row in split), ("wrong", wrong)) if on)
        cells = "".join(_prediction_cell(answers.get(name)) for name in order)
        rows.append(f'<tr class="{classes}" data-row="{_e(row)}"><td class="num">{_e(row)}</td>'
                    f"<td>{_e(expected)}</td>{cells}</tr>")
    labels = {t.get("target"): _label(t) for t in targets}
    head = ["row", "expected"] + [labels.get(name) or _e(name) for name in order]
    filters = ('<p class="filters"><label><input type="checkbox" id="only-disagree" data-class="disagree"> '
               f"only rows where the targets disagree ({len(split)})</label>"
               '<label><input type="checkbox" id="only-wrong" data-class="wrong"> only rows answered wrong</label>'
               f'<span class="meta">showing <span id="shown">{len(rows)}</span> of {len(rows)} rows</span></p>')
    return "<h2>Per-row outputs</h2>" + filters + _table(head, rows, ' id="predictions"')


def _plots(plots: Mapping[str, bytes] | None) -> str:
    if not plots:
        return ""
    figures = []
    for title, png in plots.items():
        if not isinstance(png, (bytes, bytearray)) or not bytes(png).startswith(PNG_SIGNATURE):
            raise ValueError(f"plot {title!r}: not PNG bytes")
        data = base64.b64encode(bytes(png)).decode("ascii")
        figures.append(f'<figure><img class="plot" alt="{_e(title)}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{_e(title)}</figcaption></figure>")
    return "<h2>Plots</h2>" + "".join(figures)


def _header(report: Mapping[str, Any]) -> str:
    split = f" &middot; split {_e(report['split'])}" if report.get("split") else ""
    banner = ('<div class="banner" id="partial">Partial results: the run did not finish for every row and '
              "target; the figures cover only the rows answered.</div>" if report.get("partial") else "")
    return (f"<h1>{_e(report.get('prompt'))}</h1><p class=\"meta\">{_e(report.get('file'))}{split} &middot; "
            f"{_num(report.get('rows'))} rows &middot; output {_e(report.get('output_kind'))}</p>{banner}")


def render_html(report: Mapping[str, Any], predictions: Sequence[Mapping[str, Any]] | None = None,
                plots: Mapping[str, bytes] | None = None) -> str:
    """The report page (a complete HTML document) of a report.json, its predictions and PNG plots.

    `plots` maps a title to the bytes of a PNG file (e.g. matplotlib's ``savefig(format="png")``);
    anything else is refused with ValueError.
    """
    targets = list(report.get("targets") or [])
    body = (_header(report) + "<h2>Metrics <span class=\"ci\">value [95% interval] n</span></h2>"
            + _metrics(targets) + "<h3>Run</h3>" + _run_figures(targets) + _judge(report, targets)
            + _per_target(targets)
            + _comparisons(report.get("comparisons") or []) + _checks(report.get("expects") or [],
                                                                     report.get("gates") or [])
            + _plots(plots) + _predictions(targets, list(predictions or [])))
    title = f"Evaluation: {_e(report.get('prompt'))}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body>{body}<script>{_JS}</script></body></html>\n")
