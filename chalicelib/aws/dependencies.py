"""How failures of AWS dependencies are told apart: worth retrying soon (503) or not (502)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "LimitExceededException",
    }
)


# A refused write condition is an answer the caller asked for, not a failure: pass it to ``guarded(expected=)``.
CONDITION_FAILED = frozenset({"ConditionalCheckFailedException"})


class DependencyError(RuntimeError):
    """An AWS service (``service``) failed; ``transient`` says whether an immediate retry may succeed."""

    def __init__(self, service: str, transient: bool, detail: str) -> None:
        super().__init__(f"{service}: {detail}")
        self.service = service
        self.transient = transient
        self.detail = detail


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def guarded(service: str, expected: frozenset[str] = frozenset()) -> Iterator[None]:
    """Turn botocore failures inside the block into :class:`DependencyError`.

    Client errors whose code is in ``expected`` (answers the caller asked for, such as a failed write
    condition) and all other exceptions pass through unchanged.
    """
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in expected:
            raise
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        raise DependencyError(service, code in TRANSIENT_ERROR_CODES or status >= 500, code) from error
    except (ConnectionError, HTTPClientError) as error:
        raise DependencyError(service, True, type(error).__name__) from error
    except BotoCoreError as error:
        raise DependencyError(service, False, type(error).__name__) from error
