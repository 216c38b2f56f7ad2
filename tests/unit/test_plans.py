"""The plans table matches what the product promised (seed documents)."""

from shared.plans import PLAN_POLICIES, Plan


def test_retention_and_email_sync_per_plan() -> None:
    assert {
        plan.value: (policy.email_sync, policy.retention_days) for plan, policy in PLAN_POLICIES.items()
    } == {
        "Free": (False, 0),
        "CRM+": (True, 30),
        "Demo": (True, 30),
        "Standard": (True, 60),
        "Professional": (True, 90),
        "NFR": (True, 90),
    }
    assert set(PLAN_POLICIES) == set(Plan)
