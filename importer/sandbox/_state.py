"""What one sandbox knows: its config, the stored leads, the request log and the counters.

Leads live in memory, indexed by caller_id and email, and are written through to SQLite
when ``SandboxConfig.db`` names a file. ``State`` upserts and merges leads, hands out
numbers from fake pools, enforces the rate limit and draws the injected faults.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sqlite3
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from importer.sandbox._rules import STORED, Invalid, parse_phone

_FAIL_STATUSES = (500, 502, 503)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """How the sandbox behaves; every fault is off by default."""

    tokens: tuple[str, ...] = ()  # empty = any non-empty token accepted
    rate_limit: float | None = None  # requests/s per token; above it -> 429 + Retry-After
    # The first N lead requests of each token -> 429 + Retry-After: 1 (an account already at
    # its quota when the run starts): 429s that come whatever the client's speed.
    throttle_first: int = 0
    latency_ms: tuple[int, int] | None = None  # each answer waits uniform(A, B) ms
    fail_rate: float = 0.0  # 500/502/503, lead not stored
    drop_rate: float = 0.0  # connection closed without an answer
    commit_then_fail_rate: float = 0.0  # lead stored, then 503 or dropped connection
    seed: int | None = None
    db: Path | None = None  # SQLite file; None = in memory
    quiet: bool = True  # per-request log lines on stderr when False
    # /_sandbox/requests is a ring: the oldest entries go. 20,000 is 20 times what any test
    # reads back, and with bodies over log_body_bytes not kept, at most ~100 MB.
    request_log_limit: int = 20_000
    log_body_bytes: int = 4096  # a bigger body is judged, then logged as None (body_bytes: N)
    max_body_bytes: int = 1024 * 1024  # a bigger body is refused with 413, unread
    # A connection that has not sent a whole request (headers and body) this long after it
    # opened or after its last answer is closed; a body still arriving gets a 408.
    idle_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        """Refuse settings that cannot describe a service (raises ValueError)."""
        if any(not token for token in self.tokens):
            raise ValueError("tokens must be non-empty strings")
        if self.rate_limit is not None and not self.rate_limit > 0:
            raise ValueError("rate_limit must be greater than 0")
        if self.throttle_first < 0:
            raise ValueError("throttle_first must be 0 or more")
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
        if self.log_body_bytes < 0 or self.max_body_bytes < 1:
            raise ValueError("log_body_bytes must be 0 or more, max_body_bytes at least 1")
        if not self.idle_timeout_s > 0:
            raise ValueError("idle_timeout_s must be greater than 0")


# --- state ----------------------------------------------------------------------------


def short_fingerprint(token: str) -> str:
    """A stable, non-reversible name for a token, so it is never stored or shown."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def now_iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")


def mask_token(caller_id: str | None) -> str:
    if not caller_id:
        return "-"
    return "*" * max(len(caller_id) - 4, 0) + caller_id[-4:]


def public_lead(lead: dict[str, Any]) -> dict[str, Any]:
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


STATS_CALLER_IDS = 20  # numbers listed by /_sandbox/stats, the highest peaks first


class State:
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
        self.throttled_first: Counter[str] = Counter()

    def reset(self) -> None:
        self.store.clear()
        self._reset_traffic()

    def retry_after(self, fingerprint: str, now: float) -> int | None:
        """Seconds to wait when this token is over the rate limit, else None (and count it)."""
        if self.throttled_first[fingerprint] < self.config.throttle_first:
            self.throttled_first[fingerprint] += 1
            return 1
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
        stamp = now_iso(now)
        if not ids:
            lead_id = store.next_id
            lead: dict[str, Any] = {
                "id": lead_id,
                "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-lead-{lead_id}")),
                "caller_id": None,
                "email": None,
                "status": "scheduled",
                "data": {},
                **dict.fromkeys(STORED),
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
        for name in STORED:
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
            lead["schedule_restarted_at"] = now_iso(now)
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
                index_key = "phone:" + parse_phone(key)
            except Invalid:
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
            # the busiest few: a 20,000-row import would list every number it sent
            "peak_concurrency_by_caller_id": dict(
                sorted(self.peak_by_caller.items(), key=lambda kv: -kv[1])[:STATS_CALLER_IDS]
            ),
            "caller_ids_seen": len(self.peak_by_caller),
            "leads_stored": len(self.store.leads),
        }


STATE_KEY = web.AppKey("sandbox_state", State)
