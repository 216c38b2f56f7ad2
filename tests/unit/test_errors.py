"""The one table from error to HTTP status and to ack-or-retry."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import EventOutcome, mapping_for, problem_details


@pytest.mark.parametrize(
    ("error", "status", "outcome"),
    [
        (errors.BadInput("x"), 400, EventOutcome.ACK),
        (errors.PayloadTooLarge("x"), 413, EventOutcome.ACK),
        (errors.UnsupportedMediaType("x"), 415, EventOutcome.ACK),
        (errors.Unauthenticated("x"), 401, EventOutcome.ACK),
        (errors.Forbidden("x"), 403, EventOutcome.ACK),
        (errors.NotFound("x"), 404, EventOutcome.ACK),
        (errors.MethodNotAllowed("x"), 405, EventOutcome.ACK),
        (errors.Conflict("x"), 409, EventOutcome.ACK),
        (errors.Retryable("x"), 503, EventOutcome.RETRY),
        (errors.Permanent("x"), 500, EventOutcome.ACK),
        (errors.NeedsResync("x"), 409, EventOutcome.RETRY),
        (errors.NeedsReconnect("x"), 409, EventOutcome.ACK),
        (errors.IntegrationError("x"), 500, EventOutcome.RETRY),
        (RuntimeError("unexpected"), 500, EventOutcome.RETRY),
    ],
)
def test_each_error_maps_to_one_status_and_one_event_outcome(error, status, outcome) -> None:
    mapping = mapping_for(error)
    assert (mapping.http_status, mapping.event_outcome) == (status, outcome)


def test_every_error_class_is_in_the_table() -> None:
    def subclasses(cls: type) -> set[type]:
        found = set(cls.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    assert subclasses(errors.IntegrationError) <= set(errors.ERROR_TABLE)


def test_a_subclass_of_a_mapped_error_inherits_its_mapping() -> None:
    class QuotaExhausted(errors.Retryable):
        default_code = "quota_exhausted"

    assert mapping_for(QuotaExhausted("x")).http_status == 503
    assert problem_details(QuotaExhausted("x"))["code"] == "quota_exhausted"


def test_problem_details_carry_a_stable_code_and_field_errors() -> None:
    error = errors.BadInput(
        "The body is not valid.", code="validation_failed", errors=[{"location": ["body"]}]
    )
    assert problem_details(error, instance="/v1/x") == {
        "type": "urn:crm-google:problem:validation_failed",
        "title": "Bad input",
        "status": 400,
        "code": "validation_failed",
        "detail": "The body is not valid.",
        "instance": "/v1/x",
        "errors": [{"location": ["body"]}],
    }
