"""The browser face: an aiohttp app on 127.0.0.1 that uploads, maps, checks, sends and watches.

It reaches the core only through the public names of ``pipeline``, ``config``, ``suggest``,
``read``, ``clean``, ``record`` and ``sandbox``, like the command line does. The mapping is
edited as a table of choices (``_mapping_form``) whose result ``load_mapping`` reads.
"""

from __future__ import annotations

from importer.web._access import ACCESS_PARAM, access_token_for, is_loopback, is_wildcard
from importer.web._app import DEFAULT_MAX_UPLOAD_BYTES, LOOPBACK, create_app

__all__ = [
    "ACCESS_PARAM",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "LOOPBACK",
    "access_token_for",
    "create_app",
    "is_loopback",
    "is_wildcard",
]
