"""Event functions: acknowledged or redelivered as the error table says."""

from __future__ import annotations

import pytest

from shared import errors
from shared.entrypoints import event_function

EVENT = {"id": "evt-1"}


def handler_raising(error: BaseException):
    @event_function("probe", setup=lambda: None)
    def probe(cloud_event) -> None:
        raise error

    return probe


@pytest.mark.parametrize("error", [errors.BadInput("x"), errors.NeedsReconnect("x"), errors.Permanent("x")])
def test_errors_that_redelivery_cannot_cure_are_acknowledged(error) -> None:
    handler_raising(error)(EVENT)  # returns: functions-framework answers 2xx and Pub/Sub drops it


@pytest.mark.parametrize("error", [errors.Retryable("x"), errors.NeedsResync("x"), RuntimeError("bug")])
def test_passing_faults_and_surprises_are_redelivered(error) -> None:
    with pytest.raises(type(error)):
        handler_raising(error)(EVENT)


def test_the_wrapper_keeps_the_entry_points_name() -> None:
    # functions-framework finds the deployed function by its own __name__.
    assert handler_raising(RuntimeError()).__name__ == "probe"
