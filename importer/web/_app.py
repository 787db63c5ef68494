"""The app: its settings, the security middlewares, templates, and the in-process sandbox."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from importer.errors import ImporterError
from importer.sandbox import SandboxConfig, SandboxServer
from importer.web._access import access_middleware
from importer.web._runs import Sender

LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
STATIC = Path(__file__).parent / "static"

log = logging.getLogger("importer.web")


@dataclass
class Settings:
    """What one server works with; the token of its forms lives here, in memory only."""

    out: Path
    mappings: Path
    sandbox: bool
    max_upload_bytes: int
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    sandbox_endpoint: str | None = None
    # With an access token, every request proves itself: a page of a name that resolves
    # here (DNS rebinding) gets no cookie of ours, so any Host name may be served.
    access_token: str | None = None
    sender: Sender = field(default_factory=Sender)
    templates: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.PackageLoader("importer.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
    )


SETTINGS = web.AppKey("settings", Settings)


def render(request: web.Request, template: str, **context: Any) -> web.Response:
    """A page of ``template``, with what every page needs: the forms' token, the busy run."""
    settings = request.app[SETTINGS]
    busy = settings.sender.busy()
    html = settings.templates.get_template(template).render(
        csrf=settings.csrf, busy=busy.run_id if busy else None, sandbox=settings.sandbox, **context
    )
    return web.Response(text=html, content_type="text/html")


def check_csrf(settings: Settings, value: object) -> None:
    """Refuse a form without this server's token (HTTP 403)."""
    if not isinstance(value, str) or not secrets.compare_digest(value, settings.csrf):
        raise web.HTTPForbidden(text="refused: the form's security token is missing or wrong")


def refuse_while_sending(settings: Settings) -> None:
    """409 while a run is sending: one send at a time, with a link to the one under way."""
    busy = settings.sender.busy()
    if busy is not None:
        raise web.HTTPConflict(text=f"a run is already sending: /runs/{busy.run_id}")


def one_line(status: int, message: str) -> web.Response:
    """An error page: one line, never a traceback."""
    line = message.splitlines()[0] if message else "error"
    return web.Response(status=status, text=f"leadimport: {line}\n", content_type="text/plain")


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return one_line(exc.status, exc.text or exc.reason)
    except ImporterError as exc:
        return one_line(400, str(exc))
    except Exception as exc:
        log.exception("%s %s", request.method, request.path)
        return one_line(500, f"the server could not do that ({type(exc).__name__})")


@web.middleware
async def _same_origin(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse a state-changing request that another site's page sends."""
    # A site whose name resolves to 127.0.0.1 (DNS rebinding) would otherwise be
    # "same origin" and could read the forms' token: only loopback names are served.
    open_to_names = request.app[SETTINGS].access_token is not None
    if (request.url.host or "").strip("[]") not in LOOPBACK_NAMES and not open_to_names:
        raise web.HTTPMisdirectedRequest(text="refused: open this page as http://127.0.0.1")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.host}"
        if origin is not None and origin != own:
            raise web.HTTPForbidden(text="refused: the request came from another site")
        if request.headers.get("Sec-Fetch-Site") == "cross-site":
            raise web.HTTPForbidden(text="refused: the request came from another site")
    return await handler(request)


async def _sandbox(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    server: SandboxServer | None = None
    if settings.sandbox:
        server = SandboxServer(SandboxConfig()).start()
        settings.sandbox_endpoint = server.endpoint
    yield
    if server is not None:
        server.stop()


async def _stop_sends(app: web.Application) -> None:
    """On Ctrl-C or SIGTERM, stop a send as the command line does, and wait for it.

    The requests in flight finish and the rest is recorded as not sent: the run page
    offers to send the rest once the server is back.
    """
    for thread in app[SETTINGS].sender.stop_all():
        await asyncio.get_running_loop().run_in_executor(None, thread.join)


def create_app(
    out: Path = Path("output"),
    mappings: Path = Path("mappings"),
    sandbox: bool = False,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    access_token: str | None = None,
) -> web.Application:
    """The browser face's app; with ``sandbox`` it starts the local sandbox and sends there.

    With ``access_token``, every request needs it (``access_token_for`` picks it from the
    address the server binds).
    """
    from importer.web._history import add_history_routes
    from importer.web._routes import add_routes

    middlewares: list[Any] = [_errors]
    if access_token is not None:
        middlewares.append(access_middleware(access_token))
    middlewares.append(_same_origin)
    # Big uploads are streamed to disk by the upload handler, which enforces the limit.
    app = web.Application(middlewares=middlewares, client_max_size=1024**2)
    app[SETTINGS] = Settings(
        out=out,
        mappings=mappings,
        sandbox=sandbox,
        max_upload_bytes=max_upload_bytes,
        access_token=access_token,
    )
    app.cleanup_ctx.append(_sandbox)
    app.on_shutdown.append(_stop_sends)
    add_routes(app)
    add_history_routes(app)
    app.router.add_static("/static/", STATIC)
    return app
