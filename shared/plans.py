"""The CRM's plans: which Google features each plan allows, and how long unattached synced mail is kept.

The one table. Change a plan here and nowhere else: connect, plan changes, the sync runner, watch
renewal and the nightly purge all read it.

Why the table is what it is:
- Email follows the seed documents: no email sync on Free; 30, 60 or 90 days of unattached copies
  on the paid plans. Attached copies are kept on every plan.
- Contacts come from synced mail (From on received mail, To and Cc on sent mail): a plan without email
  sync has none.
- Calendar and Drive are allowed on every plan: the seeds restrict email only, and neither stores a copy
  that retention would have to bound (events are the user's calendar, Drive files are linked, never
  copied). The purge touches synced email copies only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Plan(enum.StrEnum):
    FREE = "Free"
    CRM_PLUS = "CRM+"
    DEMO = "Demo"
    STANDARD = "Standard"
    PROFESSIONAL = "Professional"
    NFR = "NFR"


class Feature(enum.StrEnum):
    """What a Google connection can be used for; the CRM chooses among them when connecting."""

    MAIL = "mail"
    CALENDAR = "calendar"
    DRIVE = "drive"
    CONTACTS = "contacts"


@dataclass(frozen=True)
class PlanPolicy:
    features: frozenset[Feature]  # the features the plan allows
    retention_days: int  # of synced copies not attached to a CRM record or task; attached ones stay

    def allows(self, feature: Feature) -> bool:
        return feature in self.features

    @property
    def email_sync(self) -> bool:
        return Feature.MAIL in self.features


_EVERY_FEATURE = frozenset(Feature)
_WITHOUT_EMAIL = frozenset({Feature.CALENDAR, Feature.DRIVE})

PLAN_POLICIES: dict[Plan, PlanPolicy] = {
    Plan.FREE: PlanPolicy(features=_WITHOUT_EMAIL, retention_days=0),
    Plan.CRM_PLUS: PlanPolicy(features=_EVERY_FEATURE, retention_days=30),
    Plan.DEMO: PlanPolicy(features=_EVERY_FEATURE, retention_days=30),
    Plan.STANDARD: PlanPolicy(features=_EVERY_FEATURE, retention_days=60),
    Plan.PROFESSIONAL: PlanPolicy(features=_EVERY_FEATURE, retention_days=90),
    Plan.NFR: PlanPolicy(features=_EVERY_FEATURE, retention_days=90),
}
