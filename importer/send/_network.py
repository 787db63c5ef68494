"""Which way requests leave this machine: a proxy from the environment, the CAs trusted.

The environment variables curl and most tools honour, with their rules:

    http_proxy, HTTP_PROXY      the proxy for http:// URLs
    https_proxy, HTTPS_PROXY    the proxy for https:// URLs (tunnelled with CONNECT)
    all_proxy, ALL_PROXY        the proxy for either, when the one above is not set
    no_proxy, NO_PROXY          hosts reached directly: comma-separated host names (each
                                also covers its subdomains), IP addresses, CIDR ranges
                                (127.0.0.0/8), an optional ``:port``, or ``*`` for all
    SSL_CERT_FILE, SSL_CERT_DIR CA certificates trusted besides the system's: a proxy that
                                inspects TLS signs with the company's own CA

The lowercase name wins over the uppercase one; an empty value counts as unset; a proxy
without a scheme is an ``http://`` proxy. Only http:// proxies are supported.

aiohttp's own ``trust_env=True`` is not used. It reads the same proxy variables (through
``urllib.request.getproxies``, so ALL_PROXY is ignored and ``NO_PROXY`` knows no CIDR
ranges), but it looks them up again for every request in a thread, reads ``~/.netrc``
for every request and would send the credentials it finds there to the endpoint, and
cannot say which proxy it chose. The route is decided here once per session instead,
and logged (in run.log, and on the console when a face asks for detail), the proxy's
credentials masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from typing import Any

import aiohttp
from yarl import URL

from importer.errors import ConfigError

# A child of the run's logger ("leadimport", see importer/pipeline): the route taken is
# written to run.log and shown by the command line's verbose mode.
log = logging.getLogger("leadimport.network")

_MASK = "***"


@dataclass(frozen=True, slots=True)
class Route:
    """How requests to one URL go: through ``proxy``, or directly (``proxy`` is None)."""

    host: str
    proxy: str | None  # with its credentials, if any: say it with ``masked_proxy``
    variable: str  # the variable that decided: "HTTPS_PROXY", "NO_PROXY"…; "" when none is set

    def describe(self) -> str:
        """The route in words, credentials masked: ``through the proxy http://***@p:3128 (…)``."""
        if self.proxy is not None:
            return f"through the proxy {masked_proxy(self.proxy)} ({self.variable})"
        if self.variable:
            return f"directly ({self.variable} names {self.host})"
        return "directly (no proxy set)"


def masked_proxy(proxy: str) -> str:
    """``proxy`` with any user name and password replaced by ``***``, path and query left off."""
    try:
        url = URL(proxy)
        host = url.host or ""
        port = f":{url.explicit_port}" if url.explicit_port is not None else ""
    except (ValueError, TypeError):
        return _MASK
    auth = f"{_MASK}@" if url.raw_user or url.raw_password or "@" in proxy else ""
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{auth}{host}{port}"


def find_route(url: str, environ: Mapping[str, str] | None = None) -> Route:
    """The proxy the environment chooses for ``url`` (None: directly); ConfigError if unusable."""
    env = os.environ if environ is None else environ
    target = URL(url)
    host = (target.host or "").rstrip(".").lower()
    scheme = target.scheme.lower()
    for name in (f"{scheme}_proxy", "all_proxy"):
        variable, value = _lookup(env, name)
        if value:
            break
    else:
        return Route(host, None, "")
    no_proxy_name, no_proxy = _lookup(env, "no_proxy")
    if no_proxy and _bypassed(host, target.port, no_proxy):
        return Route(host, None, no_proxy_name)
    proxy = value if "://" in value else f"http://{value}"
    try:
        proxy_url = URL(proxy)
    except ValueError:
        proxy_url = None
    if proxy_url is None or proxy_url.scheme.lower() != "http" or not proxy_url.host:
        raise ConfigError(
            f"{variable}: {masked_proxy(proxy)} is not a usable proxy; "
            "give an http:// proxy such as http://proxy.example.com:3128",
            key=variable,
        )
    return Route(host, proxy, variable)


def _lookup(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """(the variable's name as set, its value): the lowercase one first, as curl does."""
    for variable in (name, name.upper()):
        value = env.get(variable, "").strip()
        if value:
            return variable, value
    return name.upper(), ""


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``no_proxy`` names ``host`` (and ``port``, where an entry gives one)."""
    try:
        address = ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if entry.startswith("[") and "]" in entry:  # [::1]:8080
            name, _, rest = entry[1:].partition("]")
            entry_port = rest.removeprefix(":")
        elif entry.count(":") == 1:
            name, _, entry_port = entry.partition(":")
        else:
            name, entry_port = entry, ""
        if entry_port and entry_port != str(port):
            continue
        if address is not None:
            try:
                if address in ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip(".").rstrip(".")
        if name and (host == name or host.endswith(f".{name}")):
            return True
    return False


def trusted_context() -> ssl.SSLContext:
    """A verifying TLS context: the system's CAs plus SSL_CERT_FILE's and SSL_CERT_DIR's.

    OpenSSL's defaults read those variables too, but a file given there replaces the
    system's bundle, and a missing file is ignored silently (every request would then
    fail its certificate check): here both are added, and a file that cannot be read is
    a ConfigError naming it.
    """
    context = ssl.create_default_context()
    system_bundle = ssl.get_default_verify_paths().openssl_cafile  # whatever SSL_CERT_FILE says
    if os.environ.get("SSL_CERT_FILE") and os.path.isfile(system_bundle):
        with contextlib.suppress(OSError, ssl.SSLError):  # the system's own: best effort
            context.load_verify_locations(cafile=system_bundle)
    for variable, kind in (("SSL_CERT_FILE", "cafile"), ("SSL_CERT_DIR", "capath")):
        value = os.environ.get(variable, "")
        if not value:
            continue
        try:
            if kind == "capath" and not os.path.isdir(value):
                raise FileNotFoundError(2, "no such folder")
            context.load_verify_locations(**{kind: value})
        except (OSError, ssl.SSLError) as exc:
            why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise ConfigError(
                f"{variable}={value}: cannot use it ({why}); point it at a PEM file of CA "
                "certificates (or a folder of them for SSL_CERT_DIR), or unset it",
                key=variable,
                path=value,
            ) from None
    return context


def open_session(
    url: str, doing: str, *, limit: int = 100, **options: Any
) -> aiohttp.ClientSession:
    """An aiohttp session for requests to ``url``'s host, routed as the environment says.

    ``doing`` starts the log line naming the route ("sending to", "notifying"); ``options``
    go to ``aiohttp.ClientSession``. Must be called on the event loop.
    """
    route = find_route(url)
    log.info("%s %s %s", doing, route.host, route.describe())
    context: ssl.SSLContext | bool = True  # aiohttp's verifying default; http needs none
    if URL(url).scheme.lower() == "https":
        context = trusted_context()
        for variable in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
            if os.environ.get(variable):
                log.info("trusting the CA certificates in %s=%s", variable, os.environ[variable])
    connector = aiohttp.TCPConnector(limit=limit, ssl=context)  # TLS verified
    return aiohttp.ClientSession(connector=connector, proxy=route.proxy, **options)
