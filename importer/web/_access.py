"""Who may use the page: on a shared server, only those given its access token.

Bound to loopback without a token, the page is open to this machine's users, as before.
Bound to any other address, every request (pages, files, static) needs the token: once in
the URL (``/?access=…``, as Jupyter prints it), then in an HttpOnly, SameSite=Strict cookie
that the first visit sets while redirecting to the same URL without the token in it.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

ACCESS_PARAM = "access"
_COOKIE = "leadimport_access"
_LOOPBACK_NAMES = ("localhost", "localhost.")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

_DENIED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>leadimport: access token needed</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>This page needs its access token</h1>
<p>Open the address that <code>leadimport serve</code> printed when it started
(it ends in <code>?access=…</code>), or ask the person who started the server for it.
The token is then kept in a cookie for this browser.</p></main></body></html>
"""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or name) is this machine only: 127.0.0.0/8, ::1, localhost."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether ``host`` binds every address of the machine (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def access_token_for(host: str, given: str | None) -> str | None:
    """The token a server bound to ``host`` asks for: ``given``, a new one, or none on loopback."""
    if given:
        return given
    if is_loopback(host):
        return None
    return secrets.token_urlsafe(32)


def _matches(value: str | None, token: str) -> bool:
    # compare_digest: how long a wrong guess took says nothing about the token.
    return value is not None and secrets.compare_digest(value.encode(), token.encode())


def access_middleware(
    token: str,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A middleware that answers 401 to every request without ``token``, whatever its source."""

    @web.middleware
    async def access(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.query.get(ACCESS_PARAM)
        if given is not None:
            if not _matches(given, token):
                return _denied()
            # Keep the token out of the address bar, history and Referer from here on.
            query = request.url.query.copy()
            query.popall(ACCESS_PARAM)
            response = web.Response(
                status=303, headers={"Location": str(request.rel_url.with_query(query))}
            )
            response.set_cookie(
                _COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=None
            )
            return response
        if _matches(request.cookies.get(_COOKIE), token):
            return await handler(request)
        return _denied()

    return access


def _denied() -> web.Response:
    return web.Response(status=401, text=_DENIED, content_type="text/html")
