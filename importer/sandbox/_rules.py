"""How the sandbox judges a lead request: Trackdrive-like field rules and body parsing.

Phones (E.164), times (ISO 8601 UTC), integers, booleans, ``apply_to`` and ``data`` tokens
are judged here on their own: nothing is shared with the importer's normalizer, so a bug in
one is not agreed with by the other. ``judge_request`` returns every field error at once, in the
words of the 422 body; ``read_params`` turns a JSON or form body into parameters.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import phonenumbers
from aiohttp import web

_INT_MAX = 2**31 - 1  # Trackdrive's integer columns are 32-bit, like most Rails apps'
_INT_RE = re.compile(r"[+-]?\d+")
# Deliberately loose: the importer checks email syntax; the sandbox only refuses what no
# mail server would take, so it never rejects an address the importer rightly accepts.
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_TIME_HINT = "is not a valid time (expected YYYY-MM-DD HH:MM:SS ±HHMM)"
_BOOLEAN_HINT = "must be one of 1/true/yes/on/0/false/no/off"


class Invalid(ValueError):
    """A field value the sandbox refuses; the message is what the 422 body says."""


# --- judging fields -------------------------------------------------------------------


@lru_cache(maxsize=65536)
def parse_phone(value: str) -> str:
    """Return ``value`` as E.164, or raise Invalid; cached since imports repeat numbers."""
    text = value.strip()
    # phonenumbers turns letters into keypad digits; a caller_id with letters is refused
    # rather than guessed (1-800-FLOWERS must not become a number nobody asked for).
    if not text or any(char.isalpha() for char in text):
        raise Invalid("is invalid")
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise Invalid("is invalid") from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise Invalid("is invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _caller_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid("is invalid")
    return parse_phone(str(value))


def _email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL_RE.fullmatch(value.strip()):
        raise Invalid("is invalid")
    return value.strip()


def _time(value: object) -> str:
    """Accept ``YYYY-MM-DD HH:MM:SS ±HHMM`` or ISO 8601 with an offset; return ISO 8601 UTC."""
    if not isinstance(value, str):
        raise Invalid(_TIME_HINT)
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            raise Invalid(_TIME_HINT) from None
    if moment.tzinfo is None:
        raise Invalid("must include a UTC offset, e.g. 2021-07-23 14:26:43 +0000")
    return moment.astimezone(UTC).isoformat()


def _integer(value: object, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise Invalid("must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise Invalid("must be an integer")
    if minimum is not None and number < minimum:
        raise Invalid(f"must be greater than or equal to {minimum}")
    if abs(number) > _INT_MAX:
        raise Invalid(f"must be less than or equal to {_INT_MAX}")
    return number


def _count(value: object) -> int:
    return _integer(value, minimum=0)


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Invalid(_BOOLEAN_HINT)


def _apply_to(value: object) -> str:
    if value != "calls":
        raise Invalid("is not included in the list (only calls)")
    return "calls"


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Invalid("must be a string")
    return str(value)


_FIELDS: dict[str, Callable[[object], object]] = {
    "caller_id": _caller_id,
    "email": _email,
    "contact_field_type": _text,
    "schedule_callback_at": _time,
    "schedule_callback_in_seconds": _count,
    "update_all_matching_leads": _boolean,
    "apply_to": _apply_to,
    "assign_trackdrive_number": _boolean,
    "assign_sms_number": _boolean,
    "lead_priority": _integer,
    "restart_schedule": _boolean,
    "auto_format_nested_fields": _boolean,
    "next_action_at": _time,
    "hours_to_expire": _count,
    "max_contact_attempts": _count,
}
# Parameters stored on the lead as they were judged; the rest are instructions.
STORED = (
    "contact_field_type",
    "schedule_callback_at",
    "schedule_callback_in_seconds",
    "lead_priority",
    "next_action_at",
    "hours_to_expire",
    "max_contact_attempts",
    "apply_to",
)


def judge_request(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return (the judged values, every field error); blank values count as absent."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, judge in _FIELDS.items():
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[name] = judge(raw)
        except Invalid as exc:
            errors[name] = [str(exc)]
    if params.get("data") is not None:
        data = params["data"]
        if not isinstance(data, dict):
            errors["data"] = ["must be an object"]
        else:
            for key, token in data.items():
                if isinstance(token, dict | list):
                    errors[f"data.{key}"] = ["must be a string, number or boolean"]
            values["data"] = data
    if not {"caller_id", "email"} & (values.keys() | errors.keys()):
        errors["caller_id"] = ["can't be blank (a lead needs a caller_id or an email)"]
    return values, errors


# --- parsing requests -----------------------------------------------------------------


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Fold Rails-style form keys (``data[loan_amount]=501``) into nested dicts."""
    params: dict[str, Any] = {}
    for key, value in pairs:
        if key.startswith("data[") and key.endswith("]"):
            data = params.get("data")
            if not isinstance(data, dict):
                data = params["data"] = {}
            data[key[5:-1]] = value
        else:
            params[key] = value
    return params


async def read_params(request: web.Request) -> tuple[dict[str, Any] | None, str | None]:
    """Return (the body's parameters, None) or (None, why the body is unusable)."""
    content_type = request.content_type
    if content_type == "multipart/form-data":
        form = await request.post()
        return nest((key, str(value)) for key, value in form.items()), None
    raw = await request.read()
    if not raw.strip():
        return {}, None
    if content_type == "application/x-www-form-urlencoded":
        try:
            text = raw.decode()
        except UnicodeDecodeError:
            return None, "is not valid UTF-8"
        if text.lstrip().startswith("{"):
            # curl -d without -H sends a JSON body labelled as a form: say so.
            return None, "looks like JSON; send it with Content-Type: application/json"
        return nest(parse_qsl(text, keep_blank_values=True)), None
    if content_type != "application/json" and not content_type.endswith("+json"):
        label = (
            f"Content-Type {content_type}"
            if "Content-Type" in request.headers
            else "no Content-Type"
        )
        return None, f"has {label}; send application/json or application/x-www-form-urlencoded"
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        return None, "is not valid JSON"
    except RecursionError:  # the C decoder's answer to [[[[… a few thousand deep
        return None, f"is nested too deeply (at most {MAX_DEPTH} levels)"
    if not isinstance(body, dict):
        return None, "must be a JSON object"
    if _too_deep(body):
        return None, f"is nested too deeply (at most {MAX_DEPTH} levels)"
    return body, None


# A lead is two levels deep (``data``); anything far deeper would only strain whoever
# copies or prints it later (the request log, /_sandbox/requests).
MAX_DEPTH = 32


def _too_deep(body: dict[str, Any]) -> bool:
    """Whether ``body`` nests objects or arrays more than MAX_DEPTH levels (no recursion)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
