"""The aiohttp worker pool that sends request bodies, its rate limiter, reading answers, and
the route requests take (the environment's proxy, the CAs trusted)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from importer.send._network import (
        Route,
        find_route,
        masked_proxy,
        open_session,
        trusted_context,
    )
    from importer.send._pool import is_loopback, new_event_loop, send_rows
    from importer.send._responses import parse_response

# These modules import aiohttp (~20 MB and ~0.2 s): they load when one of their names is
# first used, so a flow that sends nothing (validate) never pays for them.
_LAZY = {
    "Route": "_network",
    "find_route": "_network",
    "masked_proxy": "_network",
    "open_session": "_network",
    "trusted_context": "_network",
    "is_loopback": "_pool",
    "new_event_loop": "_pool",
    "send_rows": "_pool",
    "parse_response": "_responses",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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
    "new_event_loop",
    "open_session",
    "parse_response",
    "send_rows",
    "trusted_context",
]
