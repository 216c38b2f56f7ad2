"""What a connection can do: the features a CRM user asks for, the least Google scopes each needs,
and whether each ends up on, or off with a reason the CRM can show.

A feature is on only when it does something: it was asked for, Google granted its scopes, and the
tenant's plan allows it. Contacts are harvested from synced mail, so they cannot be
asked for without mail and are off whenever mail is (ADR 0012).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.plans import PLAN_POLICIES, Feature, Plan

OPENID = "openid"
EMAIL = "https://www.googleapis.com/auth/userinfo.email"
GMAIL_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
GMAIL_SEND = "https://www.googleapis.com/auth/gmail.send"
GMAIL_MODIFY = "https://www.googleapis.com/auth/gmail.modify"
# Calendar: events.list/insert/patch/delete/watch on every calendar of the user's list (events.owned
# would miss calendars shared with the user), and the list itself so the CRM can choose (ADR 0014).
CALENDAR_EVENTS = "https://www.googleapis.com/auth/calendar.events"
CALENDAR_LIST = "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
# drive.file: only files the user picks or the app creates; a non-restricted scope (see ADR 0007).
DRIVE_FILE = "https://www.googleapis.com/auth/drive.file"

# What we always ask: who the account is. Google answers `email` with its long form.
IDENTITY_SCOPES = (OPENID, "email")
_SHORT_FORMS = {"email": EMAIL, "profile": "https://www.googleapis.com/auth/userinfo.profile"}

# A feature that only works on top of another: contacts come from the mail sync stores.
REQUIRES = {Feature.CONTACTS: Feature.MAIL}


class OffReason(enum.StrEnum):
    NOT_REQUESTED = "not_requested"
    SCOPE_NOT_GRANTED = "scope_not_granted"
    PLAN_EXCLUDES = "plan_excludes"


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
        Feature.CALENDAR: frozenset({CALENDAR_EVENTS, CALENDAR_LIST}),
        Feature.DRIVE: frozenset({DRIVE_FILE}),
        Feature.CONTACTS: frozenset({read}),
    }[feature]


def missing_prerequisites(features: Iterable[Feature]) -> dict[Feature, Feature]:
    """Each asked-for feature whose prerequisite was not asked for, with that prerequisite."""
    wanted = set(features)
    return {
        feature: needed for feature, needed in REQUIRES.items() if feature in wanted and needed not in wanted
    }


def scopes_to_request(features: Iterable[Feature], *, write_back: bool) -> list[str]:
    scopes = set(IDENTITY_SCOPES)
    for feature in features:
        scopes |= required_scopes(feature, write_back=write_back)
    return sorted(scopes)


def normalize(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(_SHORT_FORMS.get(scope, scope) for scope in scopes)


def has_scope(granted_scopes: Iterable[str], scope: str) -> bool:
    granted = normalize(granted_scopes)
    return scope in granted or (scope == GMAIL_READONLY and GMAIL_MODIFY in granted)


def _missing(required: frozenset[str], granted: frozenset[str]) -> frozenset[str]:
    """Missing scopes; gmail.modify stands in for gmail.readonly (it is a superset)."""
    missing = required - granted
    if GMAIL_READONLY in missing and GMAIL_MODIFY in granted:
        missing -= {GMAIL_READONLY}
    return missing


def feature_states(
    requested: Iterable[Feature], granted_scopes: Iterable[str], plan: Plan, *, write_back: bool
) -> dict[Feature, FeatureState]:
    """Every feature's state: asked for, delivered, granted by Google (scopes), allowed by the plan."""
    granted = normalize(granted_scopes)
    wanted = set(requested)
    policy = PLAN_POLICIES[plan]
    states: dict[Feature, FeatureState] = {}
    for feature in Feature:
        if feature not in wanted:
            states[feature] = FeatureState(enabled=False, reason=OffReason.NOT_REQUESTED)
        elif missing := _missing(required_scopes(feature, write_back=write_back), granted):
            states[feature] = FeatureState(
                enabled=False, reason=OffReason.SCOPE_NOT_GRANTED, missing_scopes=sorted(missing)
            )
        elif not policy.allows(feature):
            states[feature] = FeatureState(enabled=False, reason=OffReason.PLAN_EXCLUDES)
        else:
            states[feature] = FeatureState(enabled=True)
    for feature, needed in REQUIRES.items():
        if states[feature].enabled and not states[needed].enabled:
            states[feature] = states[needed]  # off for the same reason as what it is built on
    return states
