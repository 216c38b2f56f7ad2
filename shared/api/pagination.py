"""The one pagination convention of the API: ``page_size`` and an opaque ``page_token``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


class PageQuery(BaseModel):
    """Query parameters of every listing. Answers carry ``next_page_token``, null on the last page."""

    model_config = ConfigDict(extra="forbid")

    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")
    page_token: str | None = Field(
        None, min_length=1, max_length=1024, description="The next_page_token of the previous page."
    )
