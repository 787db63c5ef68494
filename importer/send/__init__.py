"""The aiohttp worker pool that sends request bodies, its rate limiter, and reading answers."""

from __future__ import annotations

from importer.send._pool import (
    RETRYABLE_STATUSES,
    TOKEN_REJECTED_STATUSES,
    Observer,
    Request,
    Result,
    SendReport,
    SendSettings,
    SendStatus,
    is_loopback,
    send_rows,
)
from importer.send._responses import (
    parse_response,
)

__all__ = [
    "Observer",
    "RETRYABLE_STATUSES",
    "Request",
    "Result",
    "SendReport",
    "SendSettings",
    "SendStatus",
    "TOKEN_REJECTED_STATUSES",
    "is_loopback",
    "parse_response",
    "send_rows",
]
