"""Read the endpoint's answers, and put what went wrong into one line without the token.

``parse_response`` reads a status and body defensively, ``parse_retry_after`` a Retry-After
header; ``describe_failure`` names a network failure, ``scrub`` takes the lead token out of any
text a server may echo it in. Nothing here sends, waits or logs.
"""

from __future__ import annotations

import email.utils
import errno
import functools
import html.entities
import math
import re
import socket
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import aiohttp
import orjson
from yarl import URL

_MAX_ERROR_CHARS = 300


def scrub(text: str, token: str) -> str:
    """``text`` without the token in any form a server may echo it in.

    Each character of the token may come back as itself or encoded: percent-encoded (also
    twice, and ``%uXXXX``), ``+`` for a space and a space for ``+`` (form encoding),
    JSON-escaped (``\\u0026``, ``\\/``), or as an HTML character reference (``&amp;``,
    ``&#38;``, ``&#x26;``); a server may mix them (yarl encodes ``+`` but not ``/``), so
    every character is matched on its own. Case is ignored throughout (``%2f``, ``\\u002B``).
    """
    if not token:
        return text
    return _token_pattern(token).sub("[lead token]", text)


@functools.lru_cache(maxsize=64)
def _token_pattern(token: str) -> re.Pattern[str]:
    return re.compile("".join(_char_pattern(char) for char in token), re.IGNORECASE)


def _char_pattern(char: str) -> str:
    """Every way one character of the token may be written in an echo."""
    code = ord(char)
    forms = {re.escape(char)}
    forms.add("".join(f"%(?:25)?{byte:02x}" for byte in char.encode("utf-8", "surrogatepass")))
    forms.add(f"%u{code:04x}" if code <= 0xFFFF else re.escape(char))
    units = char.encode("utf-16-be", "surrogatepass")
    forms.add("".join(f"\\\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2)))
    forms.add(f"&#0*{code};")
    forms.add(f"&#x0*{code:x};")
    forms.update(re.escape(f"&{name}") for name in _ENTITY_NAMES.get(char, ()))
    forms.update(_EXTRA_FORMS.get(char, ()))
    return "(?:" + "|".join(sorted(forms, key=len, reverse=True)) + ")"


# HTML's named references for a character (``&amp;``, ``&AMP;``, ``&plus;``…); the
# names without a semicolon (``&amp``) are the ones browsers also read.
def _entity_names() -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for name, value in html.entities.html5.items():
        if len(value) == 1:
            names.setdefault(value, []).append(name)
    return names


_ENTITY_NAMES = _entity_names()
# A space may come back as ``+`` (form encoding) and a ``+`` as a space (a form decoder
# reading a raw ``+``); JSON may escape ``/`` and ``"`` and ``\``.
_EXTRA_FORMS: dict[str, tuple[str, ...]] = {
    " ": (re.escape("+"),),
    "+": (" ",),
    "/": (re.escape("\\/"),),
    '"': (re.escape('\\"'),),
    "\\": (re.escape("\\\\"),),
}


def without_query(url: str) -> str:
    try:
        return str(URL(url).with_query(None).with_fragment(None))
    except (ValueError, TypeError):
        return "another address"


def describe_failure(exc: BaseException, timeout_s: float) -> tuple[str, bool]:
    """A one-line description of a network failure, and whether it is worth retrying.

    Built from the exception's type, never its text: aiohttp's messages can hold the URL,
    and with it the token.
    """
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout_s:g} s", True
    if isinstance(exc, aiohttp.ClientSSLError):
        # The same on every attempt: retrying cannot help.
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return "the endpoint's TLS certificate could not be verified", False
        return "TLS error while connecting to the endpoint", False
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection dropped", True
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "connection dropped while reading the answer", True
    if unresolved(exc):
        return "cannot resolve the endpoint's host name", True
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused", True
        return f"cannot connect to the endpoint ({exc.os_error.strerror or 'network error'})", True
    if isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET:
        return "connection reset", True
    if isinstance(exc, aiohttp.ClientOSError):
        return f"connection error ({exc.strerror or type(exc).__name__})", True
    if isinstance(exc, aiohttp.InvalidURL):
        return "the endpoint URL is invalid", False
    return f"connection error ({type(exc).__name__})", True


def unresolved(exc: BaseException) -> bool:
    """Whether ``exc`` says the endpoint's host name does not resolve (DNS)."""
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(exc, dns_error):
        return True
    return isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, socket.gaierror
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    # Not cut here: the sender weighs it against what the row may still wait in all.
    return max(seconds, 0.0)


def describe_too_large(status: int, limit: int) -> str:
    """The error of an answer larger than ``limit`` bytes, which was not read."""
    return f"HTTP {status}: the answer is larger than {_size(limit)}; not read"


def describe_gave_up(status: int | None, waited_s: float, asked_s: float, limit_s: float) -> str:
    """The error of a row that would wait longer in all than ``limit_s`` on Retry-After."""
    why = "rate limited" if status == 429 else f"HTTP {status} {_phrase(status or 0)}".rstrip()
    return (
        f"{why}: gave up after {waited_s:.0f} s (Retry-After asked for {asked_s:.0f} s more; "
        f"a row waits at most {limit_s:g} s in all)"
    )


def _size(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


# -- reading answers ------------------------------------------------------------------------


def parse_response(status: int, reason: str, body: bytes) -> tuple[bool, str, str, str, str]:
    """Read an answer defensively: ``(ok, error, lead_id, tracking number, SMS number)``.

    Success is a 2xx, unless the body is Trackdrive's envelope and its own ``status`` (an
    integer HTTP status, 100-599) is not 2xx: a 200 saying ``"status": 422`` is a rejection,
    read ``HTTP 200, body status 422: field: message``. The lead is under the key
    ``metadata.root`` names, else under ``lead``, else the body itself; ``id`` (or ``uuid``)
    is its id; the assigned numbers are looked up in the lead, then at the top level. An
    error reads ``HTTP 422: field: message; field: message`` from ``errors``, else
    ``error``, else ``message``, else ``HTTP 503 Service Unavailable`` from the status line.
    """
    document = _json(body)
    if 200 <= status < 300:
        if not isinstance(document, dict):
            return True, "", "", "", ""
        said = _envelope_status(document)
        if said is not None and not 200 <= said < 300:
            # Failed at once whatever ``said`` is, 5xx included (the sender retries by the
            # HTTP status, 200 here). A 5xx inside a 200 is no proxy, restart or overload
            # (those answer with a real 5xx and no envelope): the application handled the
            # request and reported its own error, likely the same on every attempt; rerun
            # sends the row again when a person chooses to.
            label = f"HTTP {status}, body status {said}"
            message = _message(document)
            error = f"{label}: {message}" if message else f"{label} {_phrase(said)}".rstrip()
            return False, _clip(error), "", "", ""
        lead = _lead(document)
        lead_id = _text(lead.get("id")) or _text(lead.get("uuid"))
        number = _text(lead.get("trackdrive_number_plain")) or _text(
            document.get("trackdrive_number_plain")
        )
        sms = _text(lead.get("sms_number_plain")) or _text(document.get("sms_number_plain"))
        return True, "", lead_id, number, sms
    message = _message(document)
    if message:
        error = f"HTTP {status}: {message}"
    else:
        phrase = " ".join(reason.split()) or _phrase(status)
        error = f"HTTP {status} {phrase}".rstrip()
    return False, _clip(error), "", "", ""


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except (ValueError, RecursionError):
        return None


def _envelope_status(document: dict[str, Any]) -> int | None:
    """The envelope's own ``status`` when it is an HTTP status; None otherwise."""
    said = document.get("status")
    # A bare lead's status is a word ("scheduled"); JSON true is no status either.
    if isinstance(said, int) and not isinstance(said, bool) and 100 <= said <= 599:
        return said
    return None


def _lead(document: dict[str, Any]) -> dict[str, Any]:
    metadata = document.get("metadata")
    root = metadata.get("root") if isinstance(metadata, dict) else None
    if isinstance(root, str) and isinstance(document.get(root), dict):
        return document[root]  # type: ignore[no-any-return]
    if isinstance(document.get("lead"), dict):
        return document["lead"]  # type: ignore[no-any-return]
    return document


def _text(value: Any) -> str:
    """A scalar as text; "" for anything else (None, booleans, lists, objects)."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return ""


def _message(document: Any) -> str:
    """The server's error message: ``errors`` flattened, else ``error``, else ``message``."""
    if not isinstance(document, dict):
        return "; ".join(_flatten(document))
    for name in ("errors", "error", "message"):
        value = document.get(name)
        if isinstance(value, dict) and isinstance(value.get("message"), str) and name != "errors":
            value = value["message"]  # {"error": {"code": …, "message": "…"}}
        parts = _flatten(value)
        if parts:
            return "; ".join(parts)
    return ""


def _flatten(value: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """``{"caller_id": ["is invalid"], "data": {"x": "bad"}}`` → ``caller_id: is invalid``, …"""
    if depth > 8:
        return []
    if isinstance(value, dict):
        parts = []
        for name, item in value.items():
            parts += _flatten(item, f"{prefix}.{name}" if prefix else str(name), depth + 1)
        return parts
    if isinstance(value, list):
        return [part for item in value for part in _flatten(item, prefix, depth + 1)]
    text = value if isinstance(value, str) else _text(value)
    text = " ".join(text.split())
    if not text:
        return []
    return [f"{prefix}: {text}" if prefix else text]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _clip(text: str) -> str:
    # Generous here: the sender scrubs the token out and only then cuts to its final
    # length (clip_error), so a token is never cut in two and half of it kept.
    limit = _MAX_ERROR_CHARS * 20
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_error(text: str) -> str:
    """An error message cut to the length results.csv and logs carry."""
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"
