"""The API's view of the nightly purge: a tenant's reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.retention.nightly import PurgeReportPage, list_purge_reports
from shared.storage.scope import TenantScope
from shared.tenants.service import TenantService


@dataclass(frozen=True)
class RetentionApi:
    tenants: TenantService
    scope_for: Callable[[str], TenantScope]


def get_purge_reports(api: RetentionApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    api.tenants.get(call.path["tenant_id"])  # an unknown tenant is a 404, not an empty list
    scope = api.scope_for(call.path["tenant_id"])
    return Reply(list_purge_reports(scope, page_size=page.page_size, page_token=page.page_token))


ROUTES: list[Route[RetentionApi]] = [
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/purge-reports",
        "listPurgeReports",
        "The nightly purge's reports for the tenant, newest first: plan, retention, deleted, kept.",
        get_purge_reports,
        PurgeReportPage,
        query_model=PageQuery,
    ),
]
