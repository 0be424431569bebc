"""The HTML evaluation report (evaluate/html.py): self-contained, escaped, and rendered by a browser.

The browser tests open the page in headless Chromium (Debian's `chromium` package, installed by
`.ci/setup-browser`), take a screenshot and dump the DOM after the page's script ran: the page
renders, the screenshot is not blank, and the tables hold the figures of the report.json. They
skip when no Chromium is installed (and fail under CI=true, where .ci/run installs it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from polyprompt.evaluate.html import disagreeing_rows, render_html, significant

EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def _estimate(value, low, high, n=6):
    return {"value": value, "low": low, "high": high, "n": n}


REPORT = {
    "prompt": "moderate_review", "file": "examples/review_moderation.prompt", "split": "test", "rows": 6,
    "output_kind": "enum",
    "targets": [
        {"target": "hf-family:smollm2", "label": "student <b>v2</b>",
         "metrics": {"accuracy": _estimate(0.8333333333, 0.4365, 0.9699),
                     "macro_f1": _estimate(0.7777777778, 0.3333, 1.0),
                     "parse_failure_rate": _estimate(0.0, 0.0, 0.3903)},
         "per_class": {"publish": {"precision": _estimate(0.75, 0.3, 0.95, 4), "recall": _estimate(1.0, 0.51, 1.0, 3),
                                   "f1": _estimate(0.8571428571, 0.5, 1.0, 3), "support": 3},
                       "reject": {"precision": _estimate(1.0, 0.34, 1.0, 2), "recall": _estimate(1.0, 0.34, 1.0, 2),
                                  "f1": _estimate(1.0, 0.6, 1.0, 2), "support": 2},
                       "needs_review": {"precision": _estimate(0.0, 0.0, 0.79, 0),
                                        "recall": _estimate(0.0, 0.0, 0.79, 1),
                                        "f1": _estimate(0.0, 0.0, 0.0, 1), "support": 1}},
         "confusion": {"labels": ["publish", "reject", "needs_review"], "matrix": [[3, 0, 0], [0, 2, 0], [1, 0, 0]]},
         "parse_failures": 0, "errors": 0, "latency_ms": {"p50": 41.25, "p95": 97.5}, "tokens": None},
        {"target": "openai-chat", "label": "teacher",
         "metrics": {"accuracy": _estimate(0.6666666667, 0.3, 0.9032),
                     "macro_f1": _estimate(0.6111111111, 0.2, 0.95),
                     "parse_failure_rate": _estimate(0.1666666667, 0.0301, 0.5635)},
         "per_class": {}, "confusion": {"labels": ["publish", "reject", "needs_review"],
                                        "matrix": [[2, 0, 1], [0, 2, 0], [0, 0, 1]]},
         "parse_failures": 1, "errors": 0, "latency_ms": {"p50": 812.0, "p95": 1530.25},
         "tokens": {"input": 2412, "output": 37}},
    ],
    "comparisons": [
        {"a": "hf-family:smollm2", "b": "openai-chat", "metric": "accuracy", "difference": 0.1666666667,
         "low": -0.25, "high": 0.5, "p_value": 1.0, "test": "mcnemar"},
        {"a": "hf-family:smollm2", "b": "openai-chat", "metric": "macro_f1", "difference": 0.31,
         "low": 0.05, "high": 0.6, "p_value": 0.012, "test": "paired-bootstrap"},
    ],
    "expects": [{"test": "harsh but honest is published", "target": "openai-chat", "passed": True, "message": ""},
                {"test": "phone numbers " + EVIL, "target": "hf-family:smollm2", "passed": False,
                 "message": "expected reject, got publish"}],
    "gates": [{"metric": "accuracy", "target": "hf-family:smollm2", "threshold": 0.8, "value": 0.8333333333,
               "passed": True}],
    "partial": True,
}

LABELS = ["publish", "publish", "reject", "needs_review", "publish", "reject"]
STUDENT = ["publish", "publish", "reject", "publish", "publish", "reject"]
TEACHER = ["publish", "needs_review", "reject", "needs_review", None, "reject"]


def _predictions():
    out = []
    for row, (want, a, b) in enumerate(zip(LABELS, STUDENT, TEACHER)):
        out.append({"row": row, "target": "hf-family:smollm2", "expected": want, "value": a,
                    "text": EVIL if row == 0 else a, "correct": a == want, "error": None, "parse_error": None,
                    "latency_ms": 40.0 + row})
        parse_error = "not one of publish, reject, needs_review" if b is None else None
        out.append({"row": row, "target": "openai-chat", "expected": want, "value": b,
                    "text": "I cannot decide " + EVIL if b is None else b, "correct": b == want, "error": None,
                    "parse_error": parse_error, "latency_ms": 800.0 + row})
    return out


def _png() -> bytes:
    """A real 4x4 PNG (a red square), written with the standard library only."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# --- the page as text -----------------------------------------------------------------------------

def test_data_never_becomes_markup():
    page = render_html(REPORT, _predictions(), {"accuracy by target " + EVIL: _png()})
    assert page.count("<script") == 1, "only the page's own script"
    assert "<img src=x" not in page and "<b>v2</b>" not in page
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert "student &lt;b&gt;v2&lt;/b&gt;" in page


def test_the_page_is_self_contained():
    page = render_html(REPORT, _predictions(), {"accuracy": _png()})
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:)[a-z]+:""", page, re.I)
    assert "http://" not in page and "https://" not in page and "@import" not in page
    assert 'src="data:image/png;base64,' in page
    with pytest.raises(ValueError, match="not PNG"):
        render_html(REPORT, [], {"x": b"GIF89a"})


def test_comparisons_say_when_a_difference_is_noise():
    first, second = REPORT["comparisons"]
    assert not significant(first) and significant(second)
    assert significant({"low": -0.5, "high": -0.1}) and not significant({"low": 0.0, "high": 0.2})
    page = render_html(REPORT)
    assert page.count("not significant") == 1 and page.count(">significant<") == 1


def test_disagreeing_rows():
    # row 1 and 3 differ in value, row 4 is a parse failure on one side only
    assert disagreeing_rows(_predictions()) == {1, 3, 4}
    assert disagreeing_rows([{"row": 0, "target": "a", "value": "x"}]) == set()


def test_partial_banner_and_missing_parts():
    assert 'id="partial"' in render_html(REPORT)
    minimal = {"prompt": "p", "file": "f", "split": None, "rows": 0, "output_kind": "text", "targets": [],
               "comparisons": [], "expects": [], "gates": [], "partial": False}
    page = render_html(minimal)
    assert 'id="partial"' not in page and 'id="predictions"' not in page and "&middot; split" not in page


# --- the page in headless Chromium ----------------------------------------------------------------

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    reason = "headless Chromium is not installed: `apt-get install chromium` (see .ci/setup-browser)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _open(tmp_path, page: str, fragment: str = "") -> tuple[str, bytes]:
    """The DOM after the page's script ran, and a screenshot, from one headless Chromium run."""
    binary = _chromium()
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--window-size=1280,1600", f"--screenshot={shot}", "--dump-dom",
           path.as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, shot.read_bytes()


class _Tables(HTMLParser):
    """Each table by id: its rows, each a list of cell texts; and each body row's class."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.row_classes: dict[str, list[str]] = {}
        self.scripts = 0
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "table":
            self._depth += 1
            if self._depth == 1:
                self._table = a.get("id") or f"table{len(self.tables)}"
                self.tables[self._table] = []
                self.row_classes[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
            self.row_classes[self._table].append(a.get("class") or "")
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
            if self._depth == 0:
                self._table = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(dom: str) -> _Tables:
    parser = _Tables()
    parser.feed(dom)
    return parser


def _not_blank(png: bytes) -> None:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = pytest.importorskip("PIL.Image")
    import io

    gray = image.open(io.BytesIO(png)).convert("L")
    assert gray.size == (1280, 1600)
    histogram = gray.histogram()
    dark = sum(histogram[:128])
    assert dark > 1000, "text was drawn"
    assert histogram[255] < gray.size[0] * gray.size[1], "not a white page"


def test_the_report_renders_in_chromium_with_the_figures_of_report_json(tmp_path):
    dom, shot = _open(tmp_path, render_html(REPORT, _predictions(), {"accuracy": _png()}))
    _not_blank(shot)
    page = _parse(dom)
    assert page.scripts == 1
    metrics = page.tables["metrics"]
    header = metrics[0]
    for column, target in enumerate(REPORT["targets"], start=1):
        assert target["target"] in header[column]
        for row in metrics[1:]:
            m = target["metrics"][row[0]]
            assert row[column] == f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}] n={m['n']}"
    assert [row[0] for row in metrics[1:]] == list(REPORT["targets"][0]["metrics"])
    assert "student <b>v2</b>" in header[1], "the label is shown as text"
    # the confusion matrices, in target order
    confusions = [t for name, t in page.tables.items() if name.startswith("table") and "predicted" in t[0][0]]
    for table, target in zip(confusions, REPORT["targets"]):
        assert [[int(c) for c in row[1:]] for row in table[1:]] == target["confusion"]["matrix"]
        assert table[0][1:] == target["confusion"]["labels"]
    run = {row[0]: row[1:] for row in page.tables["run"][1:]}
    assert run["parse failures"] == ["0", "1"] and run["latency p95 (ms)"] == ["97.5", "1530.2"]
    comparisons = page.tables["comparisons"]
    assert comparisons[1][-1] == "not significant" and comparisons[2][-1] == "significant"
    assert comparisons[1][3] == "0.167 [-0.250, 0.500]"
    assert page.tables["gates"][1] == ["accuracy", "hf-family:smollm2", "0.800", "0.833", "passed"]
    assert page.tables["expects"][2][0] == "phone numbers " + EVIL, "shown as text, not run"
    predictions = page.tables["predictions"]
    assert len(predictions) == 1 + len(LABELS)
    assert predictions[1][2].startswith("publish") and EVIL in predictions[1][2]


def test_the_disagreement_filter_hides_rows_where_targets_agree(tmp_path):
    dom, _shot = _open(tmp_path, render_html(REPORT, _predictions()), "#disagree")
    page = _parse(dom)
    classes = page.row_classes["predictions"][1:]
    shown = [i for i, c in enumerate(classes) if "hidden" not in c.split()]
    assert shown == sorted(disagreeing_rows(_predictions())) == [1, 3, 4]
    assert 'id="shown">3<' in dom
    dom, _shot = _open(tmp_path, render_html(REPORT, _predictions()), "#disagree,wrong")
    classes = _parse(dom).row_classes["predictions"][1:]
    assert [i for i, c in enumerate(classes) if "hidden" not in c.split()] == [1, 3, 4]
    dom, _shot = _open(tmp_path, render_html(REPORT, _predictions()))
    assert all("hidden" not in c.split() for c in _parse(dom).row_classes["predictions"][1:])


def test_report_json_round_trip_renders(tmp_path):
    """What the core writes (json.dump) and reads back renders the same page."""
    again = json.loads(json.dumps(REPORT))
    assert render_html(again, _predictions()) == render_html(REPORT, _predictions())
