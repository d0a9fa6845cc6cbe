"""The one Azure failure -> ``dataops`` error mapping that storage, store and batch share."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from azure.core import exceptions as sdk

from dataops import errors
from dataops.azure_errors import map_azure_error, retry_after_seconds, translate_azure_errors


def http_error(status: int, **headers: str) -> sdk.HttpResponseError:
    """An SDK error as the pipeline raises it for an answer with ``status`` and ``headers``."""
    response = SimpleNamespace(status_code=status, reason="answer", headers=headers, request=None)
    return sdk.HttpResponseError(message=f"status {status}", response=response)


# The statuses each class must come from: retry decisions hang on these.
STATUSES_BY_CLASS: dict[type[errors.DataOpsError], tuple[int, ...]] = {
    errors.TerminalError: (400, 418),
    errors.AccessDeniedError: (401, 403),
    errors.NotFoundError: (404,),
    errors.ConflictError: (409,),
    errors.EtagMismatchError: (412,),
    errors.RetryableError: (408, 429, 449, 500, 503, 507),
}


@pytest.mark.parametrize(
    ("status", "expected"),
    [(status, cls) for cls, statuses in STATUSES_BY_CLASS.items() for status in statuses],
)
def test_each_http_status_maps_to_its_error_class(
    status: int, expected: type[errors.DataOpsError]
) -> None:
    """A status means the same error (and the same retry decision) for every service."""
    mapped = map_azure_error(http_error(status), where="blob raw/x")
    assert type(mapped) is expected
    assert mapped.retryable is issubclass(expected, errors.RetryableError)
    assert str(mapped) == f"blob raw/x: HTTP {status}: status {status}"


def test_terminal_statuses_are_terminal_and_throttling_is_not() -> None:
    """Bad input, conflicts and missing things never retry; throttling and 5xx do."""
    for status in (400, 404, 409, 412):
        assert not map_azure_error(http_error(status), where="x").retryable
    for status in (429, 500, 503):
        assert map_azure_error(http_error(status), where="x").retryable


def test_429_carries_the_retry_after_the_service_sent() -> None:
    """Retry-After in seconds travels on the errors.RetryableError."""
    mapped = map_azure_error(http_error(429, **{"Retry-After": "30"}), where="x")
    assert isinstance(mapped, errors.RetryableError)
    assert mapped.retry_after == 30.0


def test_503_without_retry_after_has_none() -> None:
    mapped = map_azure_error(http_error(503), where="x")
    assert isinstance(mapped, errors.RetryableError)
    assert mapped.retry_after is None


def test_cosmos_millisecond_hint_wins_over_retry_after() -> None:
    """Cosmos says x-ms-retry-after-ms; it is more precise than Retry-After."""
    error = http_error(429, **{"x-ms-retry-after-ms": "1500", "Retry-After": "9"})
    assert retry_after_seconds(error) == 1.5


def test_retry_after_as_an_http_date_counts_from_the_response_date() -> None:
    error = http_error(
        503,
        **{
            "Retry-After": "Wed, 21 Oct 2026 07:28:20 GMT",
            "Date": "Wed, 21 Oct 2026 07:28:00 GMT",
        },
    )
    assert retry_after_seconds(error) == 20.0


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_a_malformed_or_negative_retry_after_never_asks_for_a_negative_wait(value: str) -> None:
    waited = retry_after_seconds(http_error(429, **{"Retry-After": value}))
    assert waited is None or waited == 0.0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sdk.ResourceNotFoundError(message="gone"), errors.NotFoundError),
        (sdk.ResourceExistsError(message="there"), errors.ConflictError),
        (sdk.ResourceModifiedError(message="changed"), errors.EtagMismatchError),
        (sdk.ClientAuthenticationError(message="no"), errors.AccessDeniedError),
        (sdk.ServiceRequestError("connection refused"), errors.RetryableError),
        (sdk.ServiceResponseError("connection reset"), errors.RetryableError),
        (ConnectionResetError("reset by peer"), errors.RetryableError),
        (TimeoutError("read timed out"), errors.RetryableError),
        (sdk.DecodeError(message="not json"), errors.TerminalError),
        # A connection dropped mid-body: the next read gets it whole.
        (sdk.IncompleteReadError(message="IncompleteRead(330 bytes read)"), errors.RetryableError),
    ],
)
def test_sdk_exception_classes_and_connection_errors_map(
    error: Exception, expected: type[errors.DataOpsError]
) -> None:
    """Connection-level failures retry (a body cut short too); one that does not decode never."""
    assert type(map_azure_error(error, where="x")) is expected


def test_translate_keeps_the_cause() -> None:
    """The original SDK error stays reachable for logs (``raise ... from``)."""
    original = http_error(404)
    with pytest.raises(errors.NotFoundError) as raised, translate_azure_errors("blob raw/y"):
        raise original
    assert raised.value.__cause__ is original


@pytest.mark.parametrize(
    "code",
    [
        "BlobImmutableDueToPolicy",
        "BlobImmutableDueToLegalHold",
        "ContainerHasLegalHold",
        "ContainerImmutabilityPolicyLocked",
    ],
)
def test_a_worm_409_is_an_immutable_blob_error_not_a_plain_conflict(code: str) -> None:
    """A retention policy or legal hold answers 409 with its own code: terminal, and told apart
    from an ordinary conflict whether the SDK parsed the code or only the header carries it."""
    from_header = map_azure_error(http_error(409, **{"x-ms-error-code": code}), where="archive")
    parsed = http_error(409)
    parsed.error_code = code
    for mapped in (from_header, map_azure_error(parsed, where="archive")):
        assert type(mapped) is errors.ImmutableBlobError
        assert isinstance(mapped, errors.ConflictError) and not mapped.retryable
    assert (
        type(
            map_azure_error(http_error(409, **{"x-ms-error-code": "BlobAlreadyExists"}), where="x")
        )
        is errors.ConflictError
    )
