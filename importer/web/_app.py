"""The app: its settings, the security middlewares, templates, and the in-process sandbox."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from aiohttp import web

from importer.errors import ImporterError
from importer.sandbox import SandboxConfig, SandboxServer
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
    sender: Sender = field(default_factory=Sender)
    templates: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.PackageLoader("importer.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
    )


SETTINGS = web.AppKey("settings", Settings)


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
    if (request.url.host or "").strip("[]") not in LOOPBACK_NAMES:
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


def create_app(
    out: Path = Path("output"),
    mappings: Path = Path("mappings"),
    sandbox: bool = False,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> web.Application:
    """The browser face's app; with ``sandbox`` it starts the local sandbox and sends there."""
    from importer.web._routes import add_routes

    # Big uploads are streamed to disk by the upload handler, which enforces the limit.
    app = web.Application(middlewares=[_errors, _same_origin], client_max_size=1024**2)
    app[SETTINGS] = Settings(
        out=out, mappings=mappings, sandbox=sandbox, max_upload_bytes=max_upload_bytes
    )
    app.cleanup_ctx.append(_sandbox)
    add_routes(app)
    app.router.add_static("/static/", STATIC)
    return app
