"""The Atlas error catalogue.

Every error the API can answer with is a subclass of :class:`AtlasError` that states its HTTP status, its Atlas
``errorCode`` and its ``detail`` template. The template's ``%s`` slots are filled, in order, from ``parameters``,
exactly as Atlas reports them (``parameters`` holds the substitutions of ``detail``). Codes and templates follow the
official catalogue (docs ``reference/api-errors``) and the decisions table in ``docs/atlas-behavior.md``.

This module imports no web framework and no SQL: services raise these, one handler renders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One entry of ``badRequestDetail.fields``."""

    field: str
    description: str


class AtlasError(Exception):
    """Base of every API error; renders as ``{detail, error, errorCode, parameters, reason}``."""

    status: ClassVar[int] = 500
    error_code: ClassVar[str] = "UNEXPECTED_ERROR"
    detail_template: ClassVar[str] = "Unexpected error."

    def __init__(self, *parameters: Any, fields: list[FieldViolation] | None = None) -> None:
        self.parameters = list(parameters)
        self.fields = fields
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        count = self.detail_template.count("%s")
        if count == 0:
            return self.detail_template
        values = tuple(str(p) for p in self.parameters[:count])
        values += ("",) * (count - len(values))
        return self.detail_template % values

    @property
    def reason(self) -> str:
        return HTTPStatus(self.status).phrase

    def headers(self) -> dict[str, str]:
        """Extra response headers this error carries (a challenge, a retry delay)."""
        return {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "detail": self.detail,
            "error": self.status,
            "errorCode": self.error_code,
            "parameters": self.parameters,
            "reason": self.reason,
        }
        if self.fields:
            body["badRequestDetail"] = {
                "fields": [{"field": f.field, "description": f.description} for f in self.fields]
            }
        return body


# --- 400 -------------------------------------------------------------------------------------------------------


class MalformedJson(AtlasError):
    status = 400
    error_code = "MALFORMED_JSON"
    detail_template = "Received JSON is malformed."


class InvalidJson(AtlasError):
    status = 400
    error_code = "INVALID_JSON"
    detail_template = "Received JSON does not match expected format."


class InvalidJsonAttribute(AtlasError):
    status = 400
    error_code = "INVALID_JSON_ATTRIBUTE"
    detail_template = "Received JSON for the %s attribute does not match expected format."


class MissingAttribute(AtlasError):
    status = 400
    error_code = "MISSING_ATTRIBUTE"
    detail_template = "The required attribute %s was not specified."


class InvalidAttribute(AtlasError):
    status = 400
    error_code = "INVALID_ATTRIBUTE"
    detail_template = "Invalid attribute %s specified."


class InvalidEnumValue(AtlasError):
    status = 400
    error_code = "INVALID_ENUM_VALUE"
    detail_template = "An invalid enumeration value %s was specified."


class InvalidQueryParameter(AtlasError):
    status = 400
    error_code = "INVALID_QUERY_PARAMETER"
    detail_template = "Invalid query parameter %s specified."


class InvalidPathParameter(AtlasError):
    """A path parameter that is not text (``atlas_sa.kit.text``); our choice, worded as its query counterpart."""

    status = 400
    error_code = "INVALID_PATH_PARAMETER"
    detail_template = "Invalid path parameter %s specified."


class MaxSecretsPerServiceAccountExceeded(AtlasError):
    status = 400
    error_code = "MAX_SECRETS_PER_SERVICE_ACCOUNT_EXCEEDED"
    detail_template = "Service account %s already has the maximum of %s secrets."


class MaxServiceAccountsPerOrgExceeded(AtlasError):
    status = 400
    error_code = "MAX_SERVICE_ACCOUNTS_PER_ORG_EXCEEDED"
    detail_template = "Organization %s already has the maximum of %s service accounts."


class MaxAccessListEntriesExceeded(AtlasError):
    status = 400
    error_code = "MAX_ACCESS_LIST_ENTRIES_EXCEEDED"
    detail_template = "Service account %s cannot have more than %s access list entries."


class DuplicateAddressesInInput(AtlasError):
    status = 400
    error_code = "DUPLICATE_ADDRESSES_IN_INPUT"
    detail_template = "The address %s appears more than once in the request."


class InvalidIpAddressOrCidr(AtlasError):
    status = 400
    error_code = "INVALID_IP_ADDRESS_OR_CIDR_NOTATION"
    detail_template = "The address %s must be in valid IP address or CIDR notation."


class CannotRemoveCallerFromAccessList(AtlasError):
    status = 400
    error_code = "CANNOT_REMOVE_CALLER_FROM_ACCESS_LIST"
    detail_template = "Cannot remove caller's IP address %s from access list."


# --- 401 / 403 -------------------------------------------------------------------------------------------------


class Unauthorized(AtlasError):
    """No credential, or one that is bad, expired or revoked (decisions table: 401 ``UNAUTHORIZED``)."""

    status = 401
    error_code = "UNAUTHORIZED"
    detail_template = "You are not authorized for this resource."

    def __init__(self, *parameters: Any, challenge: str | None = None) -> None:
        super().__init__(*parameters)
        self.challenge = challenge

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": self.challenge} if self.challenge else {}


class UserUnauthorized(AtlasError):
    """Authenticated but lacking the role: Atlas answers RBAC failures with 401, not 403."""

    status = 401
    error_code = "USER_UNAUTHORIZED"
    detail_template = "Current user is not authorized to perform this action."


class IpAddressNotOnAccessList(AtlasError):
    status = 403
    error_code = "IP_ADDRESS_NOT_ON_ACCESS_LIST"
    detail_template = "IP address %s is not allowed to access this resource."


class OrgRequiresAccessList(AtlasError):
    status = 403
    error_code = "ORG_REQUIRES_ACCESS_LIST"
    detail_template = "This organization requires access through an access list of ip ranges."


# --- 404 -------------------------------------------------------------------------------------------------------


class ResourceNotFound(AtlasError):
    status = 404
    error_code = "RESOURCE_NOT_FOUND"
    detail_template = "Cannot find resource %s."


class NotFoundRoute(AtlasError):
    status = 404
    error_code = "NOT_FOUND"
    detail_template = "Cannot find resource %s."


class OrgNotFound(AtlasError):
    status = 404
    error_code = "ORG_NOT_FOUND"
    detail_template = "No organization with ID %s exists."


class InvalidOrgId(AtlasError):
    status = 404
    error_code = "INVALID_ORG_ID"
    detail_template = "An invalid organization ID %s was specified."


class GroupNotFound(AtlasError):
    status = 404
    error_code = "GROUP_NOT_FOUND"
    detail_template = "No group with ID %s exists."


class InvalidGroupId(AtlasError):
    status = 404
    error_code = "INVALID_GROUP_ID"
    detail_template = "An invalid group ID %s was specified."


class NotInGroup(AtlasError):
    """getProjectByName for a name the caller cannot see or that does not exist. The Kubernetes operator creates
    a project only when this lookup fails with a code it knows as "not found" (``RESOURCE_NOT_FOUND``,
    ``GROUP_NOT_FOUND``, ``NOT_IN_GROUP``; its tests model Atlas's answer as ``NOT_IN_GROUP``): the Ops Manager
    code ``GROUP_NAME_NOT_FOUND`` made it fail instead."""

    status = 404
    error_code = "NOT_IN_GROUP"
    detail_template = "Current user is not in the group, or the group does not exist."


# --- 405 / 406 / 409 / 413 / 415 / 429 / 500 -------------------------------------------------------------------


class MethodNotAllowed(AtlasError):
    status = 405
    error_code = "METHOD_NOT_ALLOWED"
    detail_template = "Method %s is not allowed for resource %s."

    def __init__(self, method: str, path: str, allowed: list[str]) -> None:
        super().__init__(method, path)
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class InvalidVersionDate(AtlasError):
    status = 406
    error_code = "INVALID_VERSION_DATE"
    detail_template = "Invalid accept header or version date."


class GroupAlreadyExists(AtlasError):
    status = 409
    error_code = "GROUP_ALREADY_EXISTS"
    detail_template = "A group with name %s already exists."


class AddressAlreadyInAccessList(AtlasError):
    status = 409
    error_code = "ADDRESS_ALREADY_IN_ACCESS_LIST"
    detail_template = "The address %s is already on the access list."


class MalformedRequest(AtlasError):
    """RFC 9112 framing the HTTP parser refuses (request line, header syntax, Content-Length, chunked coding)."""

    status = 400
    error_code = "MALFORMED_REQUEST"
    detail_template = "Received HTTP request is malformed."


class UriTooLong(AtlasError):
    """RFC 9110 §15.5.15: the request target is longer than the server reads."""

    status = 414
    error_code = "URI_TOO_LONG"
    detail_template = "The request target exceeds the limit of %s bytes."


class RequestHeaderFieldsTooLarge(AtlasError):
    """RFC 6585 §5: the header fields, one of them or their number, exceed what the server reads."""

    status = 431
    error_code = "REQUEST_HEADER_FIELDS_TOO_LARGE"
    detail_template = "Request header fields exceed the limit of %s %s."


class PayloadTooLarge(AtlasError):
    status = 413
    error_code = "PAYLOAD_TOO_LARGE"
    detail_template = "Request body exceeds the limit of %s bytes."


class RequestTimeout(AtlasError):
    status = 408
    error_code = "REQUEST_TIMEOUT"
    detail_template = "The request was not received within %s seconds."

    def headers(self) -> dict[str, str]:
        # The rest of a trickled body may still be in flight: the connection cannot carry another request.
        return {"Connection": "close"}


class UnsupportedMediaType(AtlasError):
    status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"
    detail_template = "Content type %s is not supported; send application/json or application/vnd.atlas.<date>+json."


class RateLimitedTokenBucket(AtlasError):
    status = 429
    error_code = "RATE_LIMITED_TOKEN_BUCKET"
    detail_template = (
        "Rate limit exceeded for %s. Please retry after %s seconds. Request capacity: %s. Refill rate: %s per %s "
        "seconds."
    )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.parameters[1])}


class RateLimited(AtlasError):
    status = 429
    error_code = "RATE_LIMITED"
    detail_template = "Resource %s is limited to %s requests every %s minutes."

    def __init__(self, path: str, capacity: int, minutes: int, retry_after: int) -> None:
        super().__init__(path, capacity, minutes)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class UnexpectedError(AtlasError):
    status = 500
    error_code = "UNEXPECTED_ERROR"
    detail_template = "Unexpected error."


class ServiceUnavailable(AtlasError):
    status = 503
    error_code = "SERVICE_UNAVAILABLE"
    detail_template = "The service is temporarily unavailable: %s."
