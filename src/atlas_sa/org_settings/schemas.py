"""Atlas ``OrganizationSettings`` (resource version 2023-01-01), limited to the settings this service acts on.

Atlas's object also carries ``multiFactorAuthRequired``, ``restrictEmployeeAccess``, ``genAIFeaturesEnabled``,
``securityContact`` and ``streamsCrossGroupEnabled``. Nothing here would honour them, so they are neither reported
nor accepted (a PATCH naming one is 400 ``INVALID_ATTRIBUTE``): claiming a setting that has no effect would mislead.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from atlas_sa.kit.schemas import RequestModel, ResponseModel

MIN_SECRET_VALIDITY_HOURS = 8
MAX_SECRET_VALIDITY_HOURS = 8760


class OrganizationSettings(ResponseModel):
    api_access_list_required: bool = Field(
        alias="apiAccessListRequired",
        description="Whether every API request must come from an address on the caller's API access list.",
    )
    max_service_account_secret_validity_in_hours: int = Field(
        alias="maxServiceAccountSecretValidityInHours",
        description="Longest lifetime, in hours, that a new service-account secret may be given.",
    )


class OrganizationSettingsUpdate(RequestModel):
    """The PATCH body: absent fields stay as they are."""

    api_access_list_required: Annotated[bool | None, Field(alias="apiAccessListRequired")] = None
    max_service_account_secret_validity_in_hours: Annotated[
        int | None,
        Field(
            alias="maxServiceAccountSecretValidityInHours",
            ge=MIN_SECRET_VALIDITY_HOURS,
            le=MAX_SECRET_VALIDITY_HOURS,
        ),
    ] = None
