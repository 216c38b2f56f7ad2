"""What a connection can do: the features a CRM user asks for, the least Google scopes each needs,
and whether each ends up on, or off with a reason the CRM can show."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.plans import PLAN_POLICIES, Plan

OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
# drive.file: only files the user picks or the app creates; a non-restricted scope (see ADR 0007).
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"

# What we always ask: who the account is. Google answers `email` with its long form.
IDENTITY_SCOPES = (OPENID, "email")
_SHORT_FORMS = {"email": EMAIL, "profile": "https://www.googleapis.com/auth/userinfo.profile"}


class Feature(enum.StrEnum):
    MAIL = "mail"
    CALENDAR = "calendar"
    DRIVE = "drive"
    CONTACTS = "contacts"


class OffReason(enum.StrEnum):
    SCOPE_NOT_GRANTED = "scope_not_granted"
    PLAN_EXCLUDES = "plan_excludes"
    NOT_REQUESTED = "not_requested"


class FeatureState(BaseModel):
    model_config = ConfigDict(frozen=True)

    enabled: bool
    reason: OffReason | None = None
    missing_scopes: list[str] = []


def required_scopes(feature: Feature, *, write_back: bool) -> frozenset[str]:
    """The least each feature needs. Contacts come from the mail we sync, so they need mail read access."""
    read = GMAIL_MODIFY if write_back else GMAIL_READONLY  # gmail.modify includes reading
    return {
        Feature.MAIL: frozenset({read, GMAIL_SEND}),
        Feature.CALENDAR: frozenset({CALENDAR_EVENTS}),
        Feature.DRIVE: frozenset({DRIVE_FILE}),
        Feature.CONTACTS: frozenset({read}),
    }[feature]


def scopes_to_request(features: Iterable[Feature], *, write_back: bool) -> list[str]:
    scopes = set(IDENTITY_SCOPES)
    for feature in features:
        scopes |= required_scopes(feature, write_back=write_back)
    return sorted(scopes)


def normalize(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(_SHORT_FORMS.get(scope, scope) for scope in scopes)


def _satisfied(required: frozenset[str], granted: frozenset[str]) -> frozenset[str]:
    """Missing scopes; gmail.modify stands in for gmail.readonly (it is a superset)."""
    missing = required - granted
    if GMAIL_READONLY in missing and GMAIL_MODIFY in granted:
        missing -= {GMAIL_READONLY}
    return missing


def feature_states(
    requested: Iterable[Feature], granted_scopes: Iterable[str], plan: Plan, *, write_back: bool
) -> dict[Feature, FeatureState]:
    """Every feature's state. Scope first (what Google granted), then plan (what the tenant pays for)."""
    granted = normalize(granted_scopes)
    wanted = set(requested)
    email_sync = PLAN_POLICIES[plan].email_sync
    states: dict[Feature, FeatureState] = {}
    for feature in Feature:
        if feature not in wanted:
            states[feature] = FeatureState(enabled=False, reason=OffReason.NOT_REQUESTED)
            continue
        missing = _satisfied(required_scopes(feature, write_back=write_back), granted)
        if missing:
            states[feature] = FeatureState(
                enabled=False, reason=OffReason.SCOPE_NOT_GRANTED, missing_scopes=sorted(missing)
            )
        elif feature in (Feature.MAIL, Feature.CONTACTS) and not email_sync:
            states[feature] = FeatureState(enabled=False, reason=OffReason.PLAN_EXCLUDES)
        else:
            states[feature] = FeatureState(enabled=True)
    return states
