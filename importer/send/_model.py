"""What the sender takes and gives: requests, results, settings, the observer's protocol.

Kept apart from the pool so that a flow which sends nothing (validate) can name these
types without importing aiohttp (about 20 MB and 0.2 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple, Protocol

from importer.config import (
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_RATE,
    DEFAULT_TIMEOUT_S,
    check_endpoint,
)
from importer.errors import ConfigError

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
TOKEN_REJECTED_STATUSES = frozenset({401, 403})


class SendStatus(Enum):
    """What sending one row came to."""

    SUCCESS = "success"
    FAILED = "failed"
    NOT_SENT = "not_sent"


@dataclass(frozen=True, slots=True)
class SendSettings:
    """How to send: where, how fast, how patiently."""

    endpoint: str
    rate: float | None = DEFAULT_RATE  # requests per second for the whole pool; None/0 = unlimited
    concurrency: int = DEFAULT_CONCURRENCY
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_s: float = DEFAULT_TIMEOUT_S  # for one attempt, connecting to the last byte
    # abort when more rows than this fail in a row; 0 = never
    max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # what one row may wait in all on Retry-After before it fails; 0 = fail at once
    max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate >= 0:
            raise ConfigError(f"rate: must be a number of requests per second, not {self.rate}")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise ConfigError("concurrency and max_attempts: must be at least 1")
        if not self.timeout_s > 0:
            raise ConfigError(f"timeout: must be more than 0 seconds, not {self.timeout_s}")
        if not self.max_retry_wait_s >= 0:
            raise ConfigError(
                f"max_retry_wait: must be 0 seconds or more, not {self.max_retry_wait_s}"
            )
        check_endpoint(self.endpoint, "endpoint")  # the one rule, also the mapping's


class Request(NamedTuple):
    """One row to send.

    Named tuples, this and ``Result``: one of each per row on the sender's hot path, made
    at a third of a frozen dataclass's cost.
    """

    row: int  # spreadsheet row number
    # Ordering key (token fingerprint + normalized caller_id or email): requests with equal
    # keys are never in flight together and go out in the iterable's order.
    key: str
    # The JSON body WITHOUT the token: a mapping is encoded here; a str or bytes is taken
    # as already-encoded JSON and sent as it is (the pipeline builds bodies column-wise).
    body: Mapping[str, Any] | str | bytes
    token: str  # sent only as the ``lead_token`` query parameter; never in any message


class Result(NamedTuple):
    """The outcome of one row."""

    row: int
    status: SendStatus
    http_status: int | None
    attempts: int
    error: str
    lead_id: str
    trackdrive_number_plain: str
    sms_number_plain: str


class Observer(Protocol):
    """Receives the sender's events; called on the event loop, so it must be quick."""

    def attempt_started(self, row: int, attempt: int) -> None:
        """Called right before each HTTP attempt."""

    def retry_scheduled(self, row: int, attempt: int, reason: str, delay_s: float) -> None:
        """Attempt ``attempt`` failed with ``reason``; the next one comes in ``delay_s``."""

    def finished(self, result: Result) -> None:
        """Exactly once per Request taken from the iterable."""


@dataclass(frozen=True, slots=True)
class SendReport:
    """How sending went as a whole."""

    aborted: str | None  # None, or why sending stopped (rejected token, failures in a row)
    abort_status: int | None  # the HTTP status that caused the abort, if any
    interrupted: bool  # the stop event was set
    requests: int  # HTTP attempts started
    retries: int
    throttled: int  # 429s seen
