"""LimitTrace: the first and the last changes, bounded, and a count of all."""

from __future__ import annotations

from docling_hybrid_cli.limit_trace import TRACE_HEAD, TRACE_TAIL, LimitTrace, TraceEntry


def test_keeps_the_ramp_and_the_end() -> None:
    trace = LimitTrace()
    total = TRACE_HEAD + TRACE_TAIL + 100
    for i in range(total):
        trace.note(TraceEntry(float(i), i, i, "change"))
    entries = trace.entries
    assert trace.changes == total
    assert len(entries) == TRACE_HEAD + TRACE_TAIL
    assert [e.limit for e in entries[:TRACE_HEAD]] == list(range(TRACE_HEAD))
    assert entries[-1].limit == total - 1
    assert entries[TRACE_HEAD].limit == total - TRACE_TAIL  # the middle is what is dropped
    assert entries[0].to_dict(since=0.0) == {
        "t": 0.0,
        "limit": 0,
        "in_flight": 0,
        "reason": "change",
    }
