"""The CRM's plans: whether a tenant's email syncs, and how long unattached synced copies are kept."""

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


@dataclass(frozen=True)
class PlanPolicy:
    email_sync: bool
    retention_days: int  # of synced copies not attached to a CRM record or task; attached ones stay


# The one table (from the seed documents). Change a plan here and nowhere else.
PLAN_POLICIES: dict[Plan, PlanPolicy] = {
    Plan.FREE: PlanPolicy(email_sync=False, retention_days=0),
    Plan.CRM_PLUS: PlanPolicy(email_sync=True, retention_days=30),
    Plan.DEMO: PlanPolicy(email_sync=True, retention_days=30),
    Plan.STANDARD: PlanPolicy(email_sync=True, retention_days=60),
    Plan.PROFESSIONAL: PlanPolicy(email_sync=True, retention_days=90),
    Plan.NFR: PlanPolicy(email_sync=True, retention_days=90),
}
