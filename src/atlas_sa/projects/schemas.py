"""Atlas project shapes (resource version 2023-01-01)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from atlas_sa.kit.schemas import Link, RequestModel, ResponseModel
from atlas_sa.models import Project

PROJECT_NAME_PATTERN = r"^[\p{L}\p{N}\-_.(),:&@+' ]{1,64}$"


class GroupRequest(RequestModel):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=PROJECT_NAME_PATTERN)]
    org_id: Annotated[str, Field(alias="orgId", pattern=r"^([a-f0-9]{24})$")]
    with_default_alerts_settings: Annotated[bool | None, Field(alias="withDefaultAlertsSettings")] = None


class Group(ResponseModel):
    cluster_count: int = Field(alias="clusterCount")
    created: datetime
    id: str
    links: list[Link]
    name: str
    org_id: str = Field(alias="orgId")
    tags: list[dict[str, str]] = Field(default_factory=list)
    with_default_alerts_settings: bool = Field(alias="withDefaultAlertsSettings")


class PaginatedAtlasGroup(ResponseModel):
    links: list[Link]
    results: list[Group]
    total_count: int | None = Field(default=None, alias="totalCount")


def group_document(base: str, project: Project) -> Group:
    """The project as the API shows it, its link starting at ``base`` (the CLI passes the issuer URL)."""
    return Group.model_validate(
        {
            "clusterCount": 0,
            "created": project.created_at,
            "id": project.id,
            "links": [{"href": f"{base}/api/atlas/v2/groups/{project.id}", "rel": "self"}],
            "name": project.name,
            "orgId": project.org_id,
            "tags": [],
            "withDefaultAlertsSettings": True,
        }
    )
