"""The fake Trackdrive: an aiohttp app that judges lead requests on its own rules.

It shares no code with the client's cleaner or sender, so a bug in one is not agreed with
by the other.
"""

from __future__ import annotations

from importer.sandbox._app import (
    LEAD_PATHS,
    SandboxServer,
    create_app,
    serve,
)
from importer.sandbox._state import (
    STATE_KEY,
    SandboxConfig,
)

__all__ = [
    "LEAD_PATHS",
    "STATE_KEY",
    "SandboxConfig",
    "SandboxServer",
    "create_app",
    "serve",
]
