"""Pieces shared by the API schemas of every feature."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Atlas's pattern for service-account names and descriptions: Unicode letters and digits, and - _ . , ' space.
# pydantic validates patterns with Rust's regex engine, which knows \p{L} and \p{N} (Python's re does not).
ATLAS_TEXT_PATTERN = r"^[\p{L}\p{N}\-_.,' ]*$"


class RequestModel(BaseModel):
    """Request bodies: strict types (no "8" for 8) and unknown fields rejected, as Atlas rejects them."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


class Link(ResponseModel):
    href: str
    rel: str


ObjectIdStr = Annotated[str, Field(pattern=r"^([a-f0-9]{24})$", examples=["32b6e34b3d91647abb20e7b8"])]
