"""When to retry a PutRecordBatch call, and how long to wait: exponential backoff with full jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Final

from loglake_client._errors import ConfigurationError

#: Error codes that mean "try again later" (throttling, transient service trouble).
RETRYABLE_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "LimitExceededException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredTokenException",  # refreshable credentials are renewed by botocore on the next call
    }
)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a failed call (or the failed records of a call) is retried.

    The n-th retry waits a random time in ``[0, min(max_delay, base_delay * 2**n)]`` ("full jitter", so many
    clients throttled together do not retry together). Retries stop once ``budget`` seconds have passed since
    the first attempt, or after ``max_attempts`` attempts; what is still unsent then is spooled (with
    ``spool_dir``) or counted as failed.

    Examples
    --------
    >>> policy = RetryPolicy(base_delay=0.1, max_delay=2.0, budget=10.0)
    >>> 0 <= policy.delay(3) <= 0.8
    True
    """

    base_delay: float = 0.1
    max_delay: float = 5.0
    budget: float = 30.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.base_delay < 0 or self.max_delay < 0 or self.budget < 0:
            raise ConfigurationError("RetryPolicy delays and budget must be >= 0 seconds")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigurationError("RetryPolicy.max_attempts must be >= 1 (1 means no retries) or None")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(retry, 62)))
        return (rng or random).uniform(0.0, cap)


_transport_errors: tuple[type[BaseException], ...] | None = None


def _transport_error_types() -> tuple[type[BaseException], ...]:
    # botocore is imported on first use, in the worker thread, so ``import loglake_client`` stays light.
    global _transport_errors
    if _transport_errors is None:
        types: list[type[BaseException]] = [ConnectionError, TimeoutError]
        try:
            from botocore import exceptions as bx

            types += [bx.HTTPClientError, bx.ConnectionError]
        except ImportError:  # pragma: no cover - botocore ships with boto3, our one dependency
            pass
        _transport_errors = tuple(types)
    return _transport_errors


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (or anything shaped like one), else ``None``."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether a call that raised ``exc`` may succeed if sent again.

    Throttling, ``ServiceUnavailableException``, internal errors, HTTP 429/5xx, timeouts and connection
    errors are retryable; a missing stream, denied access or an invalid argument are not (they need a person).
    """
    if isinstance(exc, _transport_error_types()):
        return True
    code = error_code(exc)
    if code is not None:
        if code in RETRYABLE_CODES:
            return True
        response: Any = getattr(exc, "response", {})
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and (status == 429 or status >= 500)
    return False
