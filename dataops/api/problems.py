"""RFC 9457 problem details: the one shape of every error the Metadata API returns."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from dataops.errors import (
    ConflictError,
    DataOpsError,
    EtagMismatchError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    RetryableError,
)

__all__ = ["PROBLEM_BASE", "PROBLEM_MEDIA_TYPE", "ApiError", "Problem", "from_dataops_error"]

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://avops-dataops.dev/problems/"

# status -> (type slug, title). The title is fixed per type, as RFC 9457 asks; the detail varies.
_KINDS: dict[int, tuple[str, str]] = {
    400: ("invalid-parameter", "Invalid request parameter"),
    401: ("unauthenticated", "Missing or wrong credentials"),
    403: ("forbidden", "The caller's role does not allow this"),
    404: ("not-found", "Not found"),
    409: ("conflict", "Conflicting change"),
    410: ("gone", "Gone"),
    412: ("precondition-failed", "The resource changed since it was read"),
    415: ("unsupported-media-type", "Unsupported media type"),
    428: ("precondition-required", "If-Match is required"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "Service temporarily unavailable"),
}


class Problem(BaseModel):
    """An error response (``application/problem+json``, RFC 9457)."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(ge=400, le=599, description="The HTTP status code.")
    detail: str | None = Field(default=None, description="What went wrong in this request.")
    instance: str | None = Field(default=None, description="The request path.")
    parameter: str | None = Field(
        default=None, description="Extension: the request parameter that broke a rule."
    )


class ApiError(Exception):
    """An error answer: raised anywhere in the API layer, rendered once as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        parameter: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.parameter = parameter
        self.headers = dict(headers or {})

    def problem(self, instance: str | None = None) -> Problem:
        """The problem document of this error."""
        slug, title = _KINDS.get(self.status, _KINDS[500])
        return Problem(
            type=PROBLEM_BASE + slug,
            title=title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            parameter=self.parameter,
        )


def from_dataops_error(error: DataOpsError, *, parameter: str | None = None) -> ApiError:
    """The API answer for a domain error (the class decides the status, never the message)."""
    # Order matters: EtagMismatchError is a ConflictError, InvalidPathError an InvalidInputError.
    if isinstance(error, InvalidInputError):
        return ApiError(400, str(error), parameter=parameter or error.field)
    if isinstance(error, NotFoundError):
        return ApiError(404, str(error), parameter=parameter)
    if isinstance(error, EtagMismatchError):
        return ApiError(412, str(error), parameter="If-Match")
    if isinstance(error, (ConflictError, InvalidTransitionError)):
        return ApiError(409, str(error), parameter=parameter)
    if isinstance(error, RetryableError):
        return ApiError(
            503, "the metadata store is busy; retry later", headers={"Retry-After": "1"}
        )
    return ApiError(500, "internal error")
