"""The API's Drive endpoints: attach a picked file to a CRM record, make a Google Doc or upload a file for
one, detach, list a user's or a record's files, and export a Doc as PDF, DOCX or text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from shared.api.downloads import file_response
from shared.api.pagination import PageQuery
from shared.api.routing import Call, Reply, Route
from shared.crm_links.entities import CrmEntity, EntityType
from shared.drive import queries
from shared.drive.attachments import DriveAttachments, usable
from shared.drive.files import EXPORTS, FILE_ID_PATTERN, DriveFilePage, DriveFileView, TeamMember
from shared.ids import ExternalId
from shared.storage.scope import TenantScope
from shared.sync.engine import SyncedConnection
from shared.tenants.service import TenantService
from shared.writes.routes import IDEMPOTENCY_KEY

CONNECTION = "/v1/tenants/<tenant_id>/users/<user_id>/google-connection"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024


class Exporter(Protocol):
    def get_file(self, file_id: str) -> dict[str, object]: ...

    def export(self, file_id: str, mime_type: str) -> bytes: ...


@dataclass(frozen=True)
class DriveApi:
    tenants: TenantService
    scope_for: Callable[[str], TenantScope]
    attachments: DriveAttachments
    connection_of: Callable[[str, str], SyncedConnection | None]
    exporter_of: Callable[[str, SyncedConnection], Exporter]


class FilePath(BaseModel):
    file_id: str = Field(pattern=FILE_ID_PATTERN, description="Drive's id of the file.")


class CrmRecordPath(BaseModel):
    entity_type: EntityType
    entity_id: ExternalId


class Team(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity: CrmEntity = Field(description="The CRM record or task to attach the file to.")
    team: list[TeamMember] = Field(
        default_factory=list, max_length=50, description="Who of the record's team gets access (a user each)."
    )
    notify_team: bool = Field(False, description="Google emails each newly shared member.")


class AttachFileRequest(Team):
    file_id: str = Field(pattern=FILE_ID_PATTERN, description="The id the CRM's Google Picker returned.")


class NewDocRequest(Team):
    name: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")
    kind: Literal["document", "spreadsheet", "presentation"] = "document"
    template_file_id: str | None = Field(
        None, pattern=FILE_ID_PATTERN, description="Copy this file (picked, or made by this app)."
    )


class UploadQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f/\\]+$")
    entity_type: EntityType
    entity_id: ExternalId


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["pdf", "docx", "txt"] = Field(description="pdf, docx or txt.")


def attach_file(api: DriveApi, call: Call) -> Reply:
    request = call.body_as(AttachFileRequest)
    view = api.attachments.attach(
        call.path["tenant_id"],
        call.path["user_id"],
        request.file_id,
        request.entity,
        request.team,
        notify=request.notify_team,
    )
    return Reply(view)


def detach_file(api: DriveApi, call: Call) -> Reply:
    entity = call.query_as(CrmEntity)
    return Reply(
        api.attachments.detach(call.path["tenant_id"], call.path["user_id"], call.path["file_id"], entity)
    )


def create_doc(api: DriveApi, call: Call) -> Reply:
    request = call.body_as(NewDocRequest)
    view = api.attachments.create_doc(
        call.path["tenant_id"],
        call.path["user_id"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        name=request.name,
        kind=request.kind,
        template_file_id=request.template_file_id,
        entity=request.entity,
        team=request.team,
        notify=request.notify_team,
    )
    return Reply(view, status=201)


def upload_file(api: DriveApi, call: Call) -> Reply:
    query = call.query_as(UploadQuery)
    assert call.raw is not None
    view = api.attachments.upload(
        call.path["tenant_id"],
        call.path["user_id"],
        call.headers.get(IDEMPOTENCY_KEY.name),
        filename=query.filename,
        content_type=call.content_type or "application/octet-stream",
        data=call.raw,
        entity=CrmEntity(type=query.entity_type, id=query.entity_id),
        team=[],
        notify=False,
    )
    return Reply(view, status=201)


def list_files(api: DriveApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    tenant_id = call.path["tenant_id"]
    api.tenants.get(tenant_id)
    scope = api.scope_for(tenant_id)
    return Reply(
        queries.list_files(scope, call.path["user_id"], page_size=page.page_size, page_token=page.page_token)
    )


def list_record_files(api: DriveApi, call: Call) -> Reply:
    page = call.query_as(PageQuery)
    tenant_id = call.path["tenant_id"]
    api.tenants.get(tenant_id)
    entity = CrmEntity(type=call.path["entity_type"], id=call.path["entity_id"])
    return Reply(
        queries.list_attached(
            api.scope_for(tenant_id), entity, page_size=page.page_size, page_token=page.page_token
        )
    )


def export_file(api: DriveApi, call: Call) -> Reply:
    """A Google Doc rendered now (never stored), streamed with its type and file name."""
    tenant_id, user_id, file_id = call.path["tenant_id"], call.path["user_id"], call.path["file_id"]
    mime_type, extension = EXPORTS[call.query_as(ExportQuery).format]
    connection = usable(api.connection_of(tenant_id, user_id))
    drive = api.exporter_of(tenant_id, connection)
    name = str(drive.get_file(file_id).get("name") or file_id)  # 404 when this app may not open it
    data = drive.export(file_id, mime_type)
    return Reply(raw=file_response(data, filename=f"{name}.{extension}", mime_type=mime_type))


ROUTES: list[Route[DriveApi]] = [
    Route(
        "GET",
        f"{CONNECTION}/drive-files",
        "listDriveFiles",
        "The user's Drive files attached in the CRM, latest changed first (metadata and links only).",
        list_files,
        DriveFilePage,
        query_model=PageQuery,
    ),
    Route(
        "POST",
        f"{CONNECTION}/drive-files",
        "attachDriveFile",
        "Attach a Drive file the user picked to a CRM record and share it with the record's team "
        "(user permissions only, never a link). Idempotent.",
        attach_file,
        DriveFileView,
        body_model=AttachFileRequest,
        problem_statuses=(403, 409),
    ),
    Route(
        "DELETE",
        f"{CONNECTION}/drive-files/<file_id>/attachments-to-crm",
        "detachDriveFile",
        "Detach a Drive file from a CRM record (type and id in the query): the permissions this system "
        "added for it alone are removed. Idempotent.",
        detach_file,
        DriveFileView,
        query_model=CrmEntity,
        path_model=FilePath,
    ),
    Route(
        "GET",
        f"{CONNECTION}/drive-files/<file_id>/export",
        "exportDriveFile",
        "A Google Doc exported now as PDF, DOCX or text (at most 10 MB, Google's limit), as a download.",
        export_file,
        None,
        query_model=ExportQuery,
        path_model=FilePath,
        problem_statuses=(403, 409, 413),
    ),
    Route(
        "POST",
        f"{CONNECTION}/drive-docs",
        "createDriveDoc",
        "Make a Google Doc, Sheet or Slides (blank, or a copy of a template) in the user's Drive, attached "
        "to a CRM record and shared with its team; its web_view_link opens it for editing. Exactly once.",
        create_doc,
        DriveFileView,
        success_statuses=(201,),
        body_model=NewDocRequest,
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "POST",
        f"{CONNECTION}/drive-uploads",
        "uploadDriveFile",
        "Put a file into the user's Drive (its bytes as the body, its media type as Content-Type, at most "
        "25 MB), attached to a CRM record. Exactly once.",
        upload_file,
        DriveFileView,
        success_statuses=(201,),
        query_model=UploadQuery,
        problem_statuses=(403, 409),
        headers=(IDEMPOTENCY_KEY,),
        raw_body_limit=MAX_UPLOAD_BYTES,
    ),
    Route(
        "GET",
        "/v1/tenants/<tenant_id>/crm-records/<entity_type>/<entity_id>/drive-files",
        "listCrmRecordDriveFiles",
        "The Drive files attached to a CRM record or task, every user's, latest changed first.",
        list_record_files,
        DriveFilePage,
        query_model=PageQuery,
        path_model=CrmRecordPath,
    ),
]
