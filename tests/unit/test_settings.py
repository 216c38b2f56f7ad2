"""Settings: typed, validated, and every one of them documented in the README with its default."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from shared.config import Settings, get_settings
from tests.conftest import REPO_ROOT


def test_settings_are_read_from_the_environment_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("MAX_REQUEST_BYTES", "2048")
    first = get_settings()
    assert (first.log_level, first.max_request_bytes) == ("DEBUG", 2048)
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert get_settings() is first


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENVIRONMENT", "staging"),
        ("MAX_REQUEST_BYTES", "lots"),
        ("MAX_REQUEST_BYTES", "0"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_values_fail_at_start_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()


def test_the_readme_documents_every_setting_with_its_default() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        row = re.search(rf"^\| `{name.upper()}` \| (?P<default>[^|]*) \|", readme, re.MULTILINE)
        assert row, f"README has no row for {name.upper()}"
        default = "" if field.default is None else str(field.default)
        assert row["default"].strip() == (f"`{default}`" if default else "(empty)"), name.upper()


def test_the_readme_documents_every_google_standin_setting_with_its_default() -> None:
    import dataclasses

    from local_stack.google_standin.calendar_store import CalendarSettings
    from local_stack.google_standin.drive_store import DriveSettings
    from local_stack.google_standin.limits import LimitSettings
    from local_stack.google_standin.push import PushSettings
    from local_stack.google_standin.standin import StandInSettings

    readme = (REPO_ROOT / "README.md").read_text()
    groups = [
        ("", StandInSettings),
        ("", LimitSettings),
        ("", PushSettings),
        ("calendar.", CalendarSettings),
        ("drive.", DriveSettings),
    ]
    for prefix, settings in groups:
        for field in dataclasses.fields(settings):
            if field.default is dataclasses.MISSING:
                continue  # the nested settings objects themselves
            name = re.escape(prefix + field.name)
            row = re.search(rf"^\| `{name}` \| `(?P<default>[^`]*)` \|", readme, re.MULTILINE)
            assert row, f"README has no row for the stand-in setting {prefix}{field.name}"
            assert row["default"] == str(field.default), field.name


def test_settings_that_cannot_be_read_are_reported_through_the_redaction_net(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import logging

    from shared.composition import setup_instance

    monkeypatch.setenv("MAX_REQUEST_BYTES", "alice@example.com")  # a value quoted back by the error
    with pytest.raises(ValidationError) as raised:
        setup_instance()
    capsys.readouterr()
    logging.getLogger("functions_framework").error("failed", exc_info=raised.value)
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert "max_request_bytes" in line["stack_trace"]
    assert "alice" not in line["stack_trace"]
