"""JSON log lines, trace correlation and the redaction net."""

from __future__ import annotations

import json
import logging

import pytest

from shared.structured_logging import (
    REDACTED,
    LogContext,
    configure_logging,
    log_context,
    parse_trace_headers,
    redact,
)


@pytest.fixture
def lines(capsys: pytest.CaptureFixture[str]):
    configure_logging(project="proj", level="DEBUG")
    capsys.readouterr()

    def read() -> list[dict]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    return read


def test_lines_carry_severity_message_time_and_fields(lines) -> None:
    logging.getLogger("t").warning("sync %s", "done", extra={"fields": {"messages": 3}})
    (line,) = lines()
    assert line["severity"] == "WARNING"
    assert line["message"] == "sync done"
    assert line["messages"] == 3
    assert line["time"].endswith("+00:00")


def test_lines_inside_a_context_carry_its_trace_and_labels(lines) -> None:
    with log_context(LogContext(trace_id="a" * 32, span_id="00000000000000ff", sampled=True), function="api"):
        logging.getLogger("t").info("inside")
    logging.getLogger("t").info("outside")
    inside, outside = lines()
    assert inside["logging.googleapis.com/trace"] == f"projects/proj/traces/{'a' * 32}"
    assert inside["logging.googleapis.com/spanId"] == "00000000000000ff"
    assert inside["logging.googleapis.com/labels"] == {"function": "api"}
    assert "logging.googleapis.com/trace" not in outside


@pytest.mark.parametrize(
    ("headers", "trace", "span", "sampled"),
    [
        ({"X-Cloud-Trace-Context": f"{'A' * 32}/255;o=1"}, "a" * 32, "00000000000000ff", True),
        ({"X-Cloud-Trace-Context": f"{'b' * 32}"}, "b" * 32, None, False),
        ({"traceparent": f"00-{'c' * 32}-{'d' * 16}-01"}, "c" * 32, "d" * 16, True),
        ({"X-Cloud-Trace-Context": "garbage/xyz"}, None, None, False),
        ({"X-Cloud-Trace-Context": f"{'a' * 32}/{'9' * 40}"}, None, None, False),
        ({}, None, None, False),
    ],
)
def test_trace_headers(headers, trace, span, sampled) -> None:
    context = parse_trace_headers(headers)
    assert (context.trace_id, context.span_id, context.sampled) == (trace, span, sampled)


@pytest.mark.parametrize(
    "secret",
    [
        "jane.doe+crm@example.co.uk",
        "Bearer abc.def-ghi",
        "ya29.a0AfH6SMBx-token_value",
        "1//0gLongRefreshToken-value_1",
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "jörg.müller@bücher.de",
        "alice@localhost",
        "alice%40example.com",
        "token=1%2F%2F0gLongRefreshToken",
        '{"code": "4/0AeanS0ZlongAuthorizationCode"}',
        "client_secret: GOCSPX-NotARealSecret",
    ],
)
def test_redact_removes_tokens_and_addresses(secret: str) -> None:
    assert secret not in redact(f"failed for {secret} today")
    assert REDACTED in redact(f"failed for {secret} today")


def test_redact_removes_credentials_from_query_strings_but_keeps_plain_words() -> None:
    text = "GET /oauth/callback?state=s3cr3t&code=4/0Abc and error code=quota"
    redacted = redact(text)
    assert "s3cr3t" not in redacted
    assert "4/0Abc" not in redacted
    assert "code=quota" in redacted  # not in a URL: an ordinary word


def test_a_pydantic_validation_error_does_not_carry_the_input_into_the_log(lines) -> None:
    from pydantic import BaseModel, ValidationError

    class Copy(BaseModel):
        size_estimate: int

    stored = {"subject": "Q3 salary review", "text_body": "Dear Bob, the figures"}  # not in the traceback
    try:
        Copy.model_validate(stored)
    except ValidationError:
        logging.getLogger("t").exception("unhandled error")
    (line,) = lines()
    assert "size_estimate" in line["stack_trace"]  # what went wrong stays readable
    assert "salary" not in line["stack_trace"]
    assert "Dear Bob" not in line["stack_trace"]


def test_fields_and_tracebacks_are_redacted_too(lines) -> None:
    try:
        raise ValueError("refused for someone@example.com")
    except ValueError:
        logging.getLogger("t").exception("failed", extra={"fields": {"who": ["x@example.com"], "n": 1}})
    (line,) = lines()
    assert "example.com" not in json.dumps(line)
    assert line["who"] == [REDACTED]
    assert "ValueError" in line["stack_trace"]


def test_configuring_twice_keeps_one_handler(lines) -> None:
    configure_logging(project="proj")
    logging.getLogger("t").error("once")
    assert len(lines()) == 1
