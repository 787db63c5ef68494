"""Shared fixtures: a running sandbox, sample files, a tmp output folder."""

from __future__ import annotations

# --- sandbox fixtures (owned by the sandbox work) ---
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402

from importer.sandbox import SandboxConfig, SandboxServer  # noqa: E402


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox with default settings on a free 127.0.0.1 port; ``.endpoint`` to send to."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
def sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes with ``SandboxConfig`` keyword arguments; all are stopped afterwards."""
    servers: list[SandboxServer] = []

    def start(**config: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig(**config)).start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.stop()


# --- end sandbox fixtures ---


# --- the network route (owned by the proxy work) ---
_ROUTE_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The importer honours HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE; the sandbox on 127.0.0.1
    must not be sent to a proxy that the machine running the tests happens to set."""
    for name in _ROUTE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
