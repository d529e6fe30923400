"""The run's spending cap: costs recorded per backend, paid requests refused at the cap."""

from __future__ import annotations

import math

import pytest

from docling_hybrid_cli.errors import BackendRejected
from docling_hybrid_cli.spending import SpendingCap


def test_costs_add_up_per_backend_and_in_total() -> None:
    cap = SpendingCap()
    cap.record("a", 0.25)
    cap.record("b", 0.5)
    cap.record("a", 0.25)
    assert cap.total == pytest.approx(1.0)
    assert cap.spent_by("a") == pytest.approx(0.5)
    assert cap.spent_by("c") == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0])
def test_nonsense_costs_are_ignored(bad: float) -> None:
    cap = SpendingCap(1.0)
    cap.record("a", bad)
    assert cap.total == 0.0


def test_without_a_limit_nothing_is_refused() -> None:
    cap = SpendingCap()
    cap.record("a", 1e6)
    assert cap.refusal("a", paid=True) is None


@pytest.mark.parametrize(
    ("spent", "paid", "refused"),
    [
        pytest.param(0.99, True, False, id="under-the-cap"),
        pytest.param(1.0, True, True, id="at-the-cap"),
        pytest.param(2.0, False, False, id="free-backend-over-the-cap"),
    ],
)
def test_refusal_at_the_cap_for_paid_backends(spent: float, paid: bool, refused: bool) -> None:
    cap = SpendingCap(1.0)
    cap.record("other", spent)
    error = cap.refusal("router", paid=paid)
    assert (error is not None) is refused
    if error is not None:
        assert isinstance(error, BackendRejected) and not error.retryable
        assert error.backend == "router"
        assert "spending cap reached" in str(error)
        assert error.hint is not None and "--max-cost" in error.hint


def test_a_backend_that_reported_a_cost_counts_as_paid() -> None:
    """A family that claims to be free but bills anyway is stopped at the cap too."""
    cap = SpendingCap(0.1)
    cap.record("generic", 0.2)
    assert cap.refusal("generic", paid=False) is not None
    assert cap.refusal("local", paid=False) is None


def test_a_cap_of_zero_refuses_every_paid_request() -> None:
    assert SpendingCap(0.0).refusal("router", paid=True) is not None


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf])
def test_the_cap_itself_must_be_an_amount(bad: float) -> None:
    with pytest.raises(ValueError, match="spending cap"):
        SpendingCap(bad)
