"""A local stand-in for Trackdrive's ``leads/create_or_update``: an aiohttp.web app and runners.

Like stripe-mock for Stripe, it is a real HTTP peer for tests, the demo and benchmarks. It
judges every request on its own (it shares no code with the importer's normalizer or
sender, so a bug in one is not agreed with by the other) and answers as
``shared/trackdrive-api.md`` says the sandbox does:

- ``POST /api/v1/leads/create_or_update`` and ``POST /api/v1/leads`` (both upsert): JSON or
  form-encoded body, ``lead_token`` in the query string or the body.
- 401 for a missing or unknown token, 422 with every field error at once, 429 with
  ``Retry-After`` above the rate limit, and on request injected faults (500/502/503,
  dropped connections, commit-then-fail, latency), reproducible with a seed.
- Inspection: ``GET /_sandbox/leads``, ``GET /_sandbox/leads/{caller_id}``,
  ``GET /_sandbox/requests``, ``GET /_sandbox/stats``, ``POST /_sandbox/reset``.

Stored values are normalized the way a server would keep them: ``caller_id`` in E.164,
times in ISO 8601 UTC (``2021-07-23T14:26:43+00:00``), integers and booleans as JSON
numbers and booleans; ``data`` tokens are kept exactly as sent. Leads are keyed by
(token, caller_id), or (token, email) without a caller_id, and the token itself is never
stored: only its fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import math
import random
import re
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import phonenumbers
from aiohttp import web

from importer.errors import ConfigError

LEAD_PATHS = ("/api/v1/leads/create_or_update", "/api/v1/leads")
_FAIL_STATUSES = (500, 502, 503)
_INT_MAX = 2**31 - 1  # Trackdrive's integer columns are 32-bit, like most Rails apps'
_INT_RE = re.compile(r"[+-]?\d+")
# Deliberately loose: the importer checks email syntax; the sandbox only refuses what no
# mail server would take, so it never rejects an address the importer rightly accepts.
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_TIME_HINT = "is not a valid time (expected YYYY-MM-DD HH:MM:SS ±HHMM)"
_BOOLEAN_HINT = "must be one of 1/true/yes/on/0/false/no/off"


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves; every fault is off by default."""

    tokens: tuple[str, ...] = ()  # empty = any non-empty token accepted
    rate_limit: float | None = None  # requests/s per token; above it -> 429 + Retry-After
    latency_ms: tuple[int, int] | None = None  # each answer waits uniform(A, B) ms
    fail_rate: float = 0.0  # 500/502/503, lead not stored
    drop_rate: float = 0.0  # connection closed without an answer
    commit_then_fail_rate: float = 0.0  # lead stored, then 503 or dropped connection
    seed: int | None = None
    db: Path | None = None  # SQLite file; None = in memory
    quiet: bool = True  # per-request log lines on stderr when False
    request_log_limit: int = 1_000_000  # oldest entries of /_sandbox/requests are dropped

    def __post_init__(self) -> None:
        """Refuse settings that cannot describe a service (raises ValueError)."""
        if any(not token for token in self.tokens):
            raise ValueError("tokens must be non-empty strings")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ValueError("rate_limit must be greater than 0")
        if self.latency_ms is not None:
            low, high = self.latency_ms
            if low < 0 or high < low:
                raise ValueError("latency_ms must be (A, B) with 0 <= A <= B")
        rates = {
            "fail_rate": self.fail_rate,
            "drop_rate": self.drop_rate,
            "commit_then_fail_rate": self.commit_then_fail_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate}")
        if sum(rates.values()) > 1.0 + 1e-9:
            raise ValueError("fail_rate + drop_rate + commit_then_fail_rate must not exceed 1")
        if self.request_log_limit < 1:
            raise ValueError("request_log_limit must be at least 1")


class _Invalid(ValueError):
    """A field value the sandbox refuses; the message is what the 422 body says."""


# --- judging fields -------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _phone(value: str) -> str:
    """Return ``value`` as E.164, or raise _Invalid; cached since imports repeat numbers."""
    text = value.strip()
    # phonenumbers turns letters into keypad digits; a caller_id with letters is refused
    # rather than guessed (1-800-FLOWERS must not become a number nobody asked for).
    if not text or any(char.isalpha() for char in text):
        raise _Invalid("is invalid")
    try:
        number = phonenumbers.parse(text, "US")
    except phonenumbers.NumberParseException:
        raise _Invalid("is invalid") from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise _Invalid("is invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _caller_id(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid("is invalid")
    return _phone(str(value))


def _email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL_RE.fullmatch(value.strip()):
        raise _Invalid("is invalid")
    return value.strip()


def _time(value: object) -> str:
    """Accept ``YYYY-MM-DD HH:MM:SS ±HHMM`` or ISO 8601 with an offset; return ISO 8601 UTC."""
    if not isinstance(value, str):
        raise _Invalid(_TIME_HINT)
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            raise _Invalid(_TIME_HINT) from None
    if moment.tzinfo is None:
        raise _Invalid("must include a UTC offset, e.g. 2021-07-23 14:26:43 +0000")
    return moment.astimezone(UTC).isoformat()


def _integer(value: object, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise _Invalid("must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _Invalid("must be an integer")
    if minimum is not None and number < minimum:
        raise _Invalid(f"must be greater than or equal to {minimum}")
    if abs(number) > _INT_MAX:
        raise _Invalid(f"must be less than or equal to {_INT_MAX}")
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
    raise _Invalid(_BOOLEAN_HINT)


def _apply_to(value: object) -> str:
    if value != "calls":
        raise _Invalid("is not included in the list (only calls)")
    return "calls"


def _text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid("must be a string")
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
_STORED = (
    "contact_field_type",
    "schedule_callback_at",
    "schedule_callback_in_seconds",
    "lead_priority",
    "next_action_at",
    "hours_to_expire",
    "max_contact_attempts",
    "apply_to",
)


def _judge(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Return (the judged values, every field error); blank values count as absent."""
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, judge in _FIELDS.items():
        raw = params.get(name)
        if raw is None or raw == "":
            continue
        try:
            values[name] = judge(raw)
        except _Invalid as exc:
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


def _nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
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


async def _read_params(request: web.Request) -> tuple[dict[str, Any] | None, str | None]:
    """Return (the body's parameters, None) or (None, why the body is unusable)."""
    content_type = request.content_type
    if content_type == "multipart/form-data":
        form = await request.post()
        return _nest((key, str(value)) for key, value in form.items()), None
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
        return _nest(parse_qsl(text, keep_blank_values=True)), None
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
    if not isinstance(body, dict):
        return None, "must be a JSON object"
    return body, None


# --- state ----------------------------------------------------------------------------


def _fingerprint(token: str) -> str:
    """A stable, non-reversible name for a token, so it is never stored or shown."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _now_iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def _mask(caller_id: str | None) -> str:
    if not caller_id:
        return "-"
    return "*" * max(len(caller_id) - 4, 0) + caller_id[-4:]


def _public(lead: dict[str, Any]) -> dict[str, Any]:
    """The lead as the API answers it (without the sandbox's bookkeeping)."""
    return {k: v for k, v in lead.items() if k not in ("token_fingerprint", "write_count")}


class _Store:
    """Leads in memory, indexed by caller_id and email; written through to SQLite."""

    def __init__(self, db: Path | None) -> None:
        self.leads: dict[int, dict[str, Any]] = {}
        # "phone:+1800..." / "email:a@b.c" -> ids of the leads (under any token) with it.
        self.index: dict[str, list[int]] = {}
        self.next_id = 1
        self._db: sqlite3.Connection | None = None
        if db is not None:
            self._open(db)

    def _open(self, path: Path) -> None:
        # check_same_thread=False: the app may be built on one thread and served on
        # another; the event loop still serializes every access.
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # A test double can lose its last writes on power loss; it cannot afford an fsync
        # per request. Each write still commits at once, so a killed process loses nothing.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE IF NOT EXISTS leads (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
        for (doc,) in conn.execute("SELECT doc FROM leads ORDER BY id"):
            lead = json.loads(doc)
            self.leads[lead["id"]] = lead
            self._link(lead["id"], self.keys(lead))
        self.next_id = max(self.leads, default=0) + 1
        self._db = conn

    @staticmethod
    def keys(lead: Mapping[str, Any]) -> set[str]:
        """The index keys a lead is found by."""
        keys = set()
        if lead["caller_id"]:
            keys.add("phone:" + lead["caller_id"])
        if lead["email"]:
            keys.add("email:" + lead["email"].lower())
        return keys

    def _link(self, lead_id: int, keys: Iterable[str]) -> None:
        for key in keys:
            self.index.setdefault(key, []).append(lead_id)

    def find(self, fingerprint: str, caller_id: str | None, email: str | None) -> list[int]:
        """Ids of the token's leads a request updates: by caller_id, else by email."""
        if caller_id:
            found = self.matching("phone:" + caller_id, fingerprint)
            if found:
                return found
        if email:
            # A lead known only by its email adopts the caller_id it is later sent with.
            found = self.matching("email:" + email.lower(), fingerprint)
            return [i for i in found if not caller_id or not self.leads[i]["caller_id"]]
        return []

    def matching(self, key: str, fingerprint: str | None = None) -> list[int]:
        """Ids of the leads with this index key (under one token, or any)."""
        ids = self.index.get(key, [])
        if fingerprint is None:
            return list(ids)
        return [i for i in ids if self.leads[i]["token_fingerprint"] == fingerprint]

    def save(self, lead: dict[str, Any], old_keys: set[str] | None) -> None:
        """Keep a new (``old_keys`` None) or changed lead, in memory and in the file."""
        if old_keys is None:
            self.leads[lead["id"]] = lead
            self.next_id = max(self.next_id, lead["id"] + 1)
            old_keys = set()
        keys = self.keys(lead)
        self._link(lead["id"], keys - old_keys)
        for key in old_keys - keys:  # e.g. a changed email no longer finds this lead
            self.index[key].remove(lead["id"])
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO leads (id, doc) VALUES (?, ?)",
                (lead["id"], json.dumps(lead)),
            )

    def clear(self) -> None:
        self.leads.clear()
        self.index.clear()
        self.next_id = 1
        if self._db is not None:
            self._db.execute("DELETE FROM leads")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class _State:
    """Everything one sandbox knows: config, leads, the request log and the counters."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = _Store(config.db)
        self.allowed = frozenset(config.tokens)
        self.faulty = (config.fail_rate + config.drop_rate + config.commit_then_fail_rate) > 0
        if config.rate_limit is None:
            self.window, self.capacity = 1.0, 0
        elif config.rate_limit >= 1:
            self.window, self.capacity = 1.0, int(config.rate_limit)
        else:  # below 1/s: one request per 1/N seconds
            self.window, self.capacity = 1.0 / config.rate_limit, 1
        self._reset_traffic()

    def _reset_traffic(self) -> None:
        self.rng = random.Random(self.config.seed)
        self.log: deque[dict[str, Any]] = deque(maxlen=self.config.request_log_limit)
        self.by_status: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.total = 0
        self.first_t: float | None = None
        self.last_t: float | None = None
        self.in_flight: Counter[str] = Counter()
        self.peak_by_caller: dict[str, int] = {}
        self.in_flight_total = 0
        self.peak_total = 0
        self.arrivals: dict[str, deque[float]] = {}

    def reset(self) -> None:
        self.store.clear()
        self._reset_traffic()

    def retry_after(self, fingerprint: str, now: float) -> int | None:
        """Seconds to wait when this token is over the rate limit, else None (and count it)."""
        if not self.capacity:
            return None
        arrivals = self.arrivals.setdefault(fingerprint, deque())
        while arrivals and arrivals[0] <= now - self.window:
            arrivals.popleft()
        if len(arrivals) >= self.capacity:
            return max(1, math.ceil(arrivals[0] + self.window - now))
        arrivals.append(now)
        return None

    def draw(self) -> tuple[str | None, int, float]:
        """Draw this request's fault, its status and its latency, all at once, in order."""
        config, rng = self.config, self.rng
        fault: str | None = None
        status = 200
        if self.faulty:
            u = rng.random()
            if u < config.fail_rate:
                fault, status = "fail", rng.choice(_FAIL_STATUSES)
            elif u < config.fail_rate + config.drop_rate:
                fault = "drop"
            elif u < config.fail_rate + config.drop_rate + config.commit_then_fail_rate:
                fault = "commit_then_fail"
                status = 503 if rng.random() < 0.5 else 0  # 0: dropped connection
        delay = 0.0
        if config.latency_ms is not None:
            low, high = config.latency_ms
            delay = (low if low == high else rng.uniform(low, high)) / 1000.0
        return fault, status, delay

    def upsert(self, fingerprint: str, values: dict[str, Any], now: float) -> dict[str, Any]:
        """Create or update the lead(s) the request names; return the (first) lead."""
        store = self.store
        ids = store.find(fingerprint, values.get("caller_id"), values.get("email"))
        if not values.get("update_all_matching_leads"):
            ids = ids[-1:]
        stamp = _now_iso(now)
        if not ids:
            lead_id = store.next_id
            lead: dict[str, Any] = {
                "id": lead_id,
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-lead-{lead_id}")),
                "caller_id": None,
                "email": None,
                "status": "scheduled",
                "data": {},
                **dict.fromkeys(_STORED),
                "created_at": stamp,
                "updated_at": stamp,
                "token_fingerprint": fingerprint,
                "write_count": 1,
            }
            self._apply(lead, values, now)
            store.save(lead, None)
            return lead
        targets = [store.leads[i] for i in ids]
        for lead in targets:
            old_keys = store.keys(lead)
            self._apply(lead, values, now)
            lead["updated_at"] = stamp
            lead["write_count"] += 1
            store.save(lead, old_keys)
        return targets[0]

    @staticmethod
    def _apply(lead: dict[str, Any], values: dict[str, Any], now: float) -> None:
        if "caller_id" in values:
            lead["caller_id"] = values["caller_id"]
        if "email" in values:
            lead["email"] = values["email"]
        for name in _STORED:
            if name in values:
                lead[name] = values[name]
        if "schedule_callback_in_seconds" in values and "schedule_callback_at" not in values:
            moment = datetime.fromtimestamp(now, UTC)
            lead["schedule_callback_at"] = (
                moment.replace(microsecond=0)
                + timedelta(seconds=values["schedule_callback_in_seconds"])
            ).isoformat()
        if "data" in values:
            lead["data"] = {**lead["data"], **values["data"]}
        if values.get("restart_schedule"):
            lead["status"] = "scheduled"
            lead["schedule_restarted_at"] = _now_iso(now)
        # Numbers come from fake pools and derive from the lead's id: the same lead always
        # gets the same number, two leads never share one.
        if values.get("assign_trackdrive_number") and not lead.get("trackdrive_number_plain"):
            lead["trackdrive_number_plain"] = f"+1844{2_000_000 + lead['id'] % 8_000_000:07d}"
        if values.get("assign_sms_number") and not lead.get("sms_number_plain"):
            lead["sms_number_plain"] = f"+1833{2_000_000 + lead['id'] % 8_000_000:07d}"

    def find_lead(self, key: str) -> dict[str, Any] | None:
        """The most recently updated lead with this caller_id (any format) or email."""
        if "@" in key:
            index_key = "email:" + key.strip().lower()
        else:
            try:
                index_key = "phone:" + _phone(key)
            except _Invalid:
                return None
        leads = [self.store.leads[i] for i in self.store.matching(index_key)]
        if not leads:
            return None
        return max(leads, key=lambda lead: (lead["updated_at"], lead["id"]))

    def stats(self) -> dict[str, Any]:
        span = (self.last_t - self.first_t) if self.first_t and self.last_t else 0.0
        return {
            "total_requests": self.total,
            "requests_by_status": dict(sorted(self.by_status.items())),
            "requests_per_second": round(self.total / span, 3) if span > 0 else 0.0,
            "first_request_at": self.first_t,
            "last_request_at": self.last_t,
            "faults_injected": {
                name: self.faults[name] for name in ("fail", "drop", "commit_then_fail")
            },
            "rate_limited": self.by_status.get("429", 0),
            "in_flight": self.in_flight_total,
            "peak_concurrency": self.peak_total,
            "peak_concurrency_per_caller_id": max(self.peak_by_caller.values(), default=0),
            "peak_concurrency_by_caller_id": dict(self.peak_by_caller),
            "leads_stored": len(self.store.leads),
        }


STATE_KEY = web.AppKey("sandbox_state", _State)


# --- handlers -------------------------------------------------------------------------


def _error(status: int, errors: dict[str, list[str]], **extra: Any) -> web.Response:
    body: dict[str, Any] = {"status": status, "errors": errors}
    if status == 422:
        body["metadata"] = {}
    return web.json_response(body, status=status, **extra)


async def _lead_request(request: web.Request) -> web.StreamResponse:
    """Judge one lead request, apply the configured faults, store, answer."""
    arrival, mono = time.time(), time.monotonic()
    state = request.app[STATE_KEY]
    params, body_error = await _read_params(request)
    # Like Rails, query parameters count too, and the body's win.
    query = _nest(request.query.items())
    token = query.pop("lead_token", None)
    merged = dict(query)
    body = None
    if params is not None:
        body_token = params.get("lead_token")
        if body_token is not None:
            token = body_token
        merged.update(params)
        body = {k: v for k, v in params.items() if k != "lead_token"}

    raw_caller = merged.get("caller_id")
    caller_key: str | None = None
    if isinstance(raw_caller, str | int) and not isinstance(raw_caller, bool) and raw_caller != "":
        try:
            caller_key = _phone(str(raw_caller))
        except _Invalid:
            caller_key = str(raw_caller)
    entry: dict[str, Any] = {
        "t": arrival,
        "path": request.path,
        "caller_id": caller_key,
        "email": merged.get("email"),
        "status": None,
        "committed": False,
        "body": body,
        "query": query,
        "fault": None,
        "lead_id": None,
    }
    state.log.append(entry)
    state.total += 1
    if state.first_t is None:
        state.first_t = arrival
    state.last_t = arrival
    state.in_flight_total += 1
    state.peak_total = max(state.peak_total, state.in_flight_total)
    if caller_key is not None:
        state.in_flight[caller_key] += 1
        flying = state.in_flight[caller_key]
        if flying > state.peak_by_caller.get(caller_key, 0):
            state.peak_by_caller[caller_key] = flying
    try:
        response = await _answer(request, state, entry, token, merged, body_error, arrival, mono)
    except Exception:
        entry["status"] = 500
        raise
    finally:
        state.in_flight_total -= 1
        if caller_key is not None:
            state.in_flight[caller_key] -= 1
            if not state.in_flight[caller_key]:
                del state.in_flight[caller_key]
    status = entry["status"]
    state.by_status[str(status)] += 1
    if not state.config.quiet:
        took = (time.time() - arrival) * 1000
        sys.stderr.write(
            f"{_now_iso(arrival)} {request.method} {request.path} {status} "
            f"caller_id={_mask(caller_key)} {took:.1f}ms\n"
        )
    return response


async def _answer(
    request: web.Request,
    state: _State,
    entry: dict[str, Any],
    token: object,
    params: dict[str, Any],
    body_error: str | None,
    arrival: float,
    mono: float,
) -> web.StreamResponse:
    """Decide the answer to one lead request; ``entry`` records what happened."""
    fault, fault_status, delay = state.draw()
    if delay:
        await asyncio.sleep(delay)
    if token is None or token == "":
        entry["status"] = 401
        return _error(401, {"lead_token": ["can't be blank"]})
    if not isinstance(token, str) or (state.allowed and token not in state.allowed):
        entry["status"] = 401
        return _error(401, {"lead_token": ["is invalid"]})
    fingerprint = _fingerprint(token)
    wait = state.retry_after(fingerprint, mono)
    if wait is not None:
        entry["status"] = 429
        return _error(429, {"base": ["rate limit exceeded"]}, headers={"Retry-After": str(wait)})
    if fault in ("fail", "drop"):
        entry["fault"] = fault
        state.faults[fault] += 1
        if fault == "drop":
            entry["status"] = "dropped"
            return _drop(request)
        entry["status"] = fault_status
        if fault_status == 502:  # what a proxy in front of the app would send
            return web.Response(
                status=502,
                text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        return _error(fault_status, {"base": ["injected fault"]})
    if body_error is not None:
        entry["status"] = 422
        return _error(422, {"body": [body_error]})
    values, errors = _judge(params)
    if errors:
        entry["status"] = 422
        return _error(422, errors)
    lead = state.upsert(fingerprint, values, arrival)
    entry["committed"] = True
    entry["lead_id"] = lead["id"]
    if fault == "commit_then_fail":
        entry["fault"] = fault
        state.faults[fault] += 1
        if fault_status == 0:
            entry["status"] = "dropped"
            return _drop(request)
        entry["status"] = 503
        return _error(503, {"base": ["injected fault after the lead was stored"]})
    entry["status"] = 200
    return web.json_response(
        {"status": 200, "errors": {}, "lead": _public(lead), "metadata": {"root": "lead"}}
    )


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer, as a crashed upstream would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp cannot write this to the aborted transport and quietly drops it.
    return web.Response(status=503)


async def _list_leads(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE_KEY].store.leads.values()))


async def _one_lead(request: web.Request) -> web.Response:
    lead = request.app[STATE_KEY].find_lead(request.match_info["caller_id"])
    if lead is None:
        return web.json_response(
            {"status": 404, "errors": {"caller_id": ["not found"]}}, status=404
        )
    return web.json_response(lead)


async def _requests(request: web.Request) -> web.Response:
    return web.json_response(list(request.app[STATE_KEY].log))


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"status": 200, "reset": True})


def create_app(config: SandboxConfig) -> web.Application:
    """Build the sandbox application; its SQLite file (if any) closes on app cleanup."""
    app = web.Application()
    state = _State(config)
    app[STATE_KEY] = state
    for path in LEAD_PATHS:
        app.router.add_post(path, _lead_request)
    app.router.add_get("/_sandbox/leads", _list_leads)
    app.router.add_get("/_sandbox/leads/{caller_id}", _one_lead)
    app.router.add_get("/_sandbox/requests", _requests)
    app.router.add_get("/_sandbox/stats", _stats)
    app.router.add_post("/_sandbox/reset", _reset)

    async def close_store(_: web.Application) -> None:
        state.store.close()

    app.on_cleanup.append(close_store)
    return app


# --- runners --------------------------------------------------------------------------


async def _start_site(
    config: SandboxConfig, host: str, port: int
) -> tuple[web.AppRunner, str, _State]:
    app = create_app(config)
    # access_log=None: the sandbox writes its own lines, which mask caller_ids and never
    # include the query string (it carries the lead token).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"the sandbox cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "is another sandbox running? Pick another --port (0 = any free port)"
        ) from None
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return runner, f"http://{shown}:{bound_port}", app[STATE_KEY]


class SandboxServer:
    """Runs the sandbox in a background thread with its own event loop (port 0 = a free port)."""

    def __init__(
        self, config: SandboxConfig = SandboxConfig(), host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.url = ""
        self.endpoint = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state: _State | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SandboxServer:
        """Start serving and return self once the port is listening."""
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="sandbox", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            runner, url, state = loop.run_until_complete(
                _start_site(self.config, self.host, self.port)
            )
        except BaseException as exc:
            self._error = exc
            loop.close()
            self._ready.set()
            return
        self._loop, self._state = loop, state
        self.url, self.endpoint = url, url + LEAD_PATHS[0]
        self.port = int(url.rsplit(":", 1)[1])
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Stop serving, close the SQLite file, and join the thread (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread, self._loop, self._state = None, None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _call(self, fn: Callable[[_State], Any]) -> Any:
        """Run ``fn(state)`` on the server's loop; return a deep copy of its result."""
        if self._loop is None or self._state is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        state = self._state

        async def call() -> Any:
            return copy.deepcopy(fn(state))

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=30)

    def leads(self) -> list[dict[str, Any]]:
        """Every stored lead with every field, in creation order."""
        return list(self._call(lambda state: list(state.store.leads.values())))

    def lead(self, caller_id: str) -> dict[str, Any] | None:
        """The most recently updated lead with this caller_id (any phone format) or email."""
        result: dict[str, Any] | None = self._call(lambda state: state.find_lead(caller_id))
        return result

    def requests(self) -> list[dict[str, Any]]:
        """The log of every lead request, in arrival order.

        Each entry: ``t`` (time.time() at arrival), ``path``, ``caller_id`` (E.164 when it
        parses, else as sent), ``email``, ``status`` (the HTTP status, ``"dropped"``, or
        None while in flight), ``committed`` (the lead was stored), ``body`` (parsed,
        without lead_token; None when unusable), ``query`` (other query parameters),
        ``fault`` and ``lead_id``.
        """
        return list(self._call(lambda state: list(state.log)))

    def stats(self) -> dict[str, Any]:
        """Counters: requests by status, peak concurrency per caller_id, requests/s, ...

        A request is in flight from the moment its body is read until it is answered, so
        overlapping requests for one caller_id show best with ``latency_ms`` set.
        """
        result: dict[str, Any] = self._call(lambda state: state.stats())
        return result

    def reset(self) -> None:
        """Forget every lead, request and counter, and restart the seeded randomness."""
        self._call(lambda state: state.reset())


def serve(config: SandboxConfig, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly; the URL is printed on stderr."""
    asyncio.run(_serve(config, host, port))


async def _serve(config: SandboxConfig, host: str, port: int) -> None:
    runner, url, _ = await _start_site(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    faults = [
        f"{name}={value}"
        for name, value in (
            ("rate-limit", config.rate_limit),
            ("latency-ms", config.latency_ms),
            ("fail-rate", config.fail_rate or None),
            ("drop-rate", config.drop_rate or None),
            ("commit-then-fail-rate", config.commit_then_fail_rate or None),
            ("seed", config.seed),
        )
        if value is not None
    ]
    sys.stderr.write(
        f"Trackdrive sandbox listening on {url}\n"
        f"  POST {url}{LEAD_PATHS[0]}?lead_token=...\n"
        f"  inspect: GET {url}/_sandbox/leads, /_sandbox/requests, /_sandbox/stats\n"
        f"  tokens: {len(config.tokens) or 'any'}; storage: {config.db or 'memory'}; "
        f"faults: {', '.join(faults) or 'none'}\n"
        "  Ctrl-C to stop\n"
    )
    sys.stderr.flush()
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        await runner.cleanup()
    sys.stderr.write("Trackdrive sandbox stopped\n")
    sys.stderr.flush()
