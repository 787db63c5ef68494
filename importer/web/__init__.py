"""The browser face: an aiohttp app on 127.0.0.1 that uploads, maps, checks, sends and watches.

It reaches the core only through the public names of ``pipeline``, ``config``, ``suggest``,
``record`` and ``sandbox``, like the command line does.
"""

from __future__ import annotations

from importer.web._app import DEFAULT_MAX_UPLOAD_BYTES, LOOPBACK, create_app

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "LOOPBACK", "create_app"]
