"""The parser holds no state shared between parses: threads may parse at once (a language
server does), and the garbage-collector pause of a parse leaves the collector as it found it."""
from __future__ import annotations

import gc
import sys
import threading
from pathlib import Path

import pytest

from polyprompt.compiler import parse as parse_module
from polyprompt.compiler.diagnostics import Sink
from polyprompt.compiler.parse import parse_source
from polyprompt.compiler.span import SourceFile

ROOT = Path(__file__).resolve().parent.parent


def _sources() -> list[SourceFile]:
    """Example files and error files (the recovering path), each with comments naming it, so a
    comment routed to another thread's parse shows up."""
    paths = sorted(ROOT.glob("examples/*.prompt"))[:6] + sorted((ROOT / "tests" / "errors").glob("*.prompt"))[:6]
    out = []
    for path in paths:
        tag = "\n".join(f"// {path.name} comment {i}" for i in range(40))
        out.append(SourceFile(path.name, f"{tag}\n{path.read_text()}\n{tag}\n"))
    return out


def _outcome(source: SourceFile):
    """What one parse yields, spans included (AST equality ignores spans)."""
    sink = Sink()
    module = parse_source(source, sink)
    comments = [(c.text, c.span.start, c.span.end) for c in module.comments]
    skipped = [(s.start, s.end) for s in module.skipped]
    diagnostics = [(d.code, d.message, d.span.start, d.span.end) for d in sink.items]
    return module, comments, skipped, diagnostics


@pytest.fixture
def frequent_switches():
    """Threads switch every few microseconds, so parses interleave inside Lark's loop."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_parses_in_threads_match_sequential_parses(frequent_switches):
    sources = _sources()
    expected = [_outcome(s) for s in sources]
    assert any(e[3] for e in expected), "some files have syntax errors (the recovering path)"
    results: dict[tuple[int, int], object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(sources))

    def work(i: int) -> None:
        try:
            start.wait()
            for round_ in range(3):
                results[i, round_] = _outcome(sources[i])
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(sources))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (i, _), got in results.items():
        assert got == expected[i], sources[i].path
    assert gc.isenabled()


def test_collector_is_on_after_a_parse():
    parse_source(SourceFile("a.prompt", 'prompt p() {\n  user "hi"\n}\n'), Sink())
    assert gc.isenabled()


def test_collector_is_on_after_a_parse_that_raises(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(parse_module.grammar, "parse", boom)
    with pytest.raises(RuntimeError):
        parse_source(SourceFile("a.prompt", 'prompt p() {\n  user "hi"\n}\n'), Sink())
    assert gc.isenabled()


def test_collector_left_off_when_it_was_off():
    gc.disable()
    try:
        parse_source(SourceFile("a.prompt", 'prompt p() {\n  user "hi"\n}\n'), Sink())
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_parses_keep_the_collector_off_until_the_last_ends():
    pause = parse_module._CollectorPause()
    first, second = pause.paused(), pause.paused()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert not gc.isenabled(), "another parse still runs"
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_threads_asking_for_the_parser_first_build_it_once(monkeypatch):
    from polyprompt import grammar
    from polyprompt.grammar import tables

    built = []
    real = tables.load

    def counting_load(*args, **kwargs):
        built.append(1)
        return real(*args, **kwargs)

    grammar._build_parser.cache_clear()
    monkeypatch.setattr(tables, "load", counting_load)
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        grammar.parser()

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    grammar._build_parser.cache_clear()  # the next test builds a real one again
    assert len(built) == 1
