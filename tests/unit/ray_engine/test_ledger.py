"""What a retried task learns: its attempt number and the pages the driver already has."""

from __future__ import annotations

from docling_hybrid_cli.ray_engine.ledger import StreamLedger, TaskStart


def test_a_first_attempt_has_nothing_a_retry_has_what_the_driver_received_in_order() -> None:
    ledger = StreamLedger()
    assert ledger.start("1:1") == TaskStart(0, ())
    for page in (3, 1, 2):
        ledger.received("1:1", page)
    assert ledger.count("1:1") == 3
    assert ledger.start("1:1") == TaskStart(1, (3, 1, 2))
    assert ledger.attempts("1:1") == 2
    assert ledger.start("2:1") == TaskStart(0, ())  # tasks are separate


def test_a_finished_task_is_forgotten() -> None:
    ledger = StreamLedger()
    ledger.start("1:1")
    ledger.received("1:1", 1)
    ledger.forget("1:1")
    assert ledger.count("1:1") == 0
    assert ledger.attempts("1:1") == 0
