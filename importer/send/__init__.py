"""The aiohttp worker pool that sends request bodies, its rate limiter, reading answers, and
the route requests take (the environment's proxy, the CAs trusted)."""

from __future__ import annotations

from importer.send._model import (
    RETRYABLE_STATUSES,
    TOKEN_REJECTED_STATUSES,
    Observer,
    Request,
    Result,
    SendReport,
    SendSettings,
    SendStatus,
)
from importer.send._network import (
    Route,
    find_route,
    masked_proxy,
    open_session,
    trusted_context,
)
from importer.send._pool import (
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
    "Route",
    "SendReport",
    "SendSettings",
    "SendStatus",
    "TOKEN_REJECTED_STATUSES",
    "find_route",
    "is_loopback",
    "masked_proxy",
    "open_session",
    "parse_response",
    "send_rows",
    "trusted_context",
]
