"""The Trackdrive sandbox, over real HTTP on 127.0.0.1: judging, upserts, faults, inspection."""

from __future__ import annotations

import asyncio
import json
import queue
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import SandboxConfig, SandboxServer, create_app

ROOT = Path(__file__).resolve().parent.parent
SEED_BODY = '{"caller_id":"+18004506787","data":{"loan_amount":"501"}}'
PHONE = "+18004506787"
Factory = Callable[..., SandboxServer]


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any] | None = None,
    token: str | None = "t0ken",
) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
    """POST ``body`` as JSON with ``token`` in the query string; return (status, JSON, response)."""
    params = {} if token is None else {"lead_token": token}
    async with session.post(url, json=body or {}, params=params) as resp:
        text = await resp.text()
        parsed = json.loads(text) if resp.content_type == "application/json" else {"text": text}
        return resp.status, parsed, resp


def lead_body(number: int, **extra: Any) -> dict[str, Any]:
    """A valid lead with a distinct toll-free caller_id per ``number``."""
    return {"caller_id": f"+1800{2_000_000 + number:07d}", **extra}


# --- the seed's example ---------------------------------------------------------------


def check_seed_answer(answer: dict[str, Any], sandbox: SandboxServer) -> None:
    assert answer["status"] == 200
    assert answer["errors"] == {}
    assert answer["metadata"] == {"root": "lead"}
    lead = answer["lead"]
    assert lead["caller_id"] == PHONE
    assert lead["data"] == {"loan_amount": "501"}
    assert lead["status"] == "scheduled"
    assert "trackdrive_number_plain" not in lead
    stored = sandbox.lead(PHONE)
    assert stored is not None
    assert stored["id"] == lead["id"]
    assert stored["uuid"] == lead["uuid"]
    assert stored["data"] == {"loan_amount": "501"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_seed_curl_example_verbatim(sandbox: SandboxServer) -> None:
    url = f"{sandbox.url}/api/v1/leads/create_or_update?lead_token=yourtoken"
    command = ["curl", "-H", "Content-Type: application/json", "-X", "POST", "-d", SEED_BODY, url]
    done = subprocess.run(
        [*command, "-sS", "-w", "\n%{http_code}"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    body, status = done.stdout.rsplit("\n", 1)
    assert status == "200"
    check_seed_answer(json.loads(body), sandbox)


async def test_seed_example_with_aiohttp(sandbox: SandboxServer) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.endpoint,
            data=SEED_BODY,
            headers={"Content-Type": "application/json"},
            params={"lead_token": "yourtoken"},
        ) as resp,
    ):
        assert resp.status == 200
        check_seed_answer(await resp.json(), sandbox)


async def test_plain_leads_path_and_token_in_body(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        body = {"lead_token": "in-body", "caller_id": "17193132645", "email": "a@example.com"}
        async with session.post(sandbox.url + "/api/v1/leads", json=body) as resp:
            assert resp.status == 200
            lead = (await resp.json())["lead"]
    assert lead["caller_id"] == "+17193132645"
    assert lead["email"] == "a@example.com"
    logged = sandbox.requests()
    assert [entry["path"] for entry in logged] == ["/api/v1/leads"]
    assert logged[0]["body"] == {"caller_id": "17193132645", "email": "a@example.com"}


async def test_query_parameters_count_and_the_body_wins(sandbox: SandboxServer) -> None:
    query = {"lead_token": "q", "caller_id": "+17193132645", "lead_priority": "1", "src": "x"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.endpoint, params=query, json={"lead_priority": 9}) as resp,
    ):
        assert resp.status == 200
        lead = (await resp.json())["lead"]
    assert (lead["caller_id"], lead["lead_priority"]) == ("+17193132645", 9)
    (entry,) = sandbox.requests()
    assert entry["body"] == {"lead_priority": 9}
    assert entry["query"] == {"caller_id": "+17193132645", "lead_priority": "1", "src": "x"}


async def test_form_encoded_body(sandbox: SandboxServer) -> None:
    form = {
        "lead_token": "form-token",
        "caller_id": "+18004506787",
        "data[loan_amount]": "501",
        "data[first_name]": "Ada",
        "lead_priority": "2",
        "assign_sms_number": "yes",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.endpoint, data=form) as resp,
    ):
        assert resp.status == 200
        lead = (await resp.json())["lead"]
    assert lead["data"] == {"loan_amount": "501", "first_name": "Ada"}
    assert lead["lead_priority"] == 2
    assert lead["sms_number_plain"].startswith("+1833")


async def test_create_app_served_by_the_test_client(aiohttp_client: Callable[..., Any]) -> None:
    client: TestClient = await aiohttp_client(create_app(SandboxConfig(tokens=("abc",))))
    resp = await client.post(
        "/api/v1/leads/create_or_update?lead_token=abc", json={"caller_id": PHONE}
    )
    assert resp.status == 200
    listed = await (await client.get("/_sandbox/leads")).json()
    assert [lead["caller_id"] for lead in listed] == [PHONE]


# --- tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tokens", "sent", "status", "errors"),
    [
        ((), None, 401, {"lead_token": ["can't be blank"]}),
        ((), "", 401, {"lead_token": ["can't be blank"]}),
        ((), "anything", 200, {}),
        (("good", "also-good"), "also-good", 200, {}),
        (("good",), "bad", 401, {"lead_token": ["is invalid"]}),
        (("good",), None, 401, {"lead_token": ["can't be blank"]}),
    ],
)
async def test_tokens(
    sandbox_factory: Factory,
    tokens: tuple[str, ...],
    sent: str | None,
    status: int,
    errors: dict[str, list[str]],
) -> None:
    server = sandbox_factory(tokens=tokens)
    async with aiohttp.ClientSession() as session:
        got, answer, _ = await post(session, server.endpoint, {"caller_id": PHONE}, token=sent)
    assert got == status
    assert answer["errors"] == errors
    assert len(server.leads()) == (1 if status == 200 else 0)
    if status == 401:
        assert answer == {"status": 401, "errors": errors}


# --- validation -----------------------------------------------------------------------

TIME_HINT = "is not a valid time (expected YYYY-MM-DD HH:MM:SS ±HHMM)"
BOOL_HINT = "must be one of 1/true/yes/on/0/false/no/off"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("caller_id", "12345", "is invalid"),
        ("caller_id", "not a phone", "is invalid"),
        ("caller_id", "+11234567890", "is invalid"),  # area code 123 does not exist
        ("caller_id", "+1800450678", "is invalid"),  # a digit short
        ("caller_id", "1-800-FLOWERS", "is invalid"),  # letters are refused, not guessed
        ("caller_id", "+1 800 450 6787 ext 5", "is invalid"),
        ("caller_id", True, "is invalid"),
        ("caller_id", 8.0045e9, "is invalid"),
        ("email", "not-an-email", "is invalid"),
        ("schedule_callback_at", "tomorrow", TIME_HINT),
        ("schedule_callback_at", "2021-13-01 10:00:00 +0000", TIME_HINT),
        (
            "schedule_callback_at",
            "2021-07-23 14:26:43",
            "must include a UTC offset, e.g. 2021-07-23 14:26:43 +0000",
        ),
        ("next_action_at", "07/23/2021 2:26 PM", TIME_HINT),
        ("next_action_at", 1627050403, TIME_HINT),
        ("lead_priority", "abc", "must be an integer"),
        ("lead_priority", "3.5", "must be an integer"),
        ("lead_priority", 3.5, "must be an integer"),
        ("lead_priority", True, "must be an integer"),
        ("lead_priority", "99999999999", "must be less than or equal to 2147483647"),
        ("hours_to_expire", "-1", "must be greater than or equal to 0"),
        ("schedule_callback_in_seconds", "soon", "must be an integer"),
        ("max_contact_attempts", "", None),  # blank counts as absent: accepted
        ("update_all_matching_leads", "maybe", BOOL_HINT),
        ("assign_trackdrive_number", 2, BOOL_HINT),
        ("assign_sms_number", "Y", BOOL_HINT),
        ("restart_schedule", "enabled", BOOL_HINT),
        ("auto_format_nested_fields", [], BOOL_HINT),
        ("apply_to", "leads", "is not included in the list (only calls)"),
        ("contact_field_type", {"id": 1}, "must be a string"),
        ("data", "loan_amount=501", "must be an object"),
        ("data", ["501"], "must be an object"),
    ],
)
async def test_each_invalid_field_is_a_422(
    sandbox: SandboxServer, field: str, value: Any, message: str | None
) -> None:
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(
            session, sandbox.endpoint, {"caller_id": PHONE, field: value}
        )
    if message is None:
        assert status == 200
        return
    # Only the bad field: a bad caller_id must not also count as a missing one.
    assert answer == {"status": 422, "errors": {field: [message]}, "metadata": {}}
    assert status == 422
    assert sandbox.leads() == []


async def test_nested_data_token_is_a_422(sandbox: SandboxServer) -> None:
    body = {"caller_id": PHONE, "data": {"ok": "1", "address": {"city": "Denver"}}}
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(session, sandbox.endpoint, body)
    assert status == 422
    assert answer["errors"] == {"data.address": ["must be a string, number or boolean"]}


async def test_every_error_is_returned_at_once(sandbox: SandboxServer) -> None:
    body = {
        "caller_id": "555",
        "email": "nope",
        "next_action_at": "soon",
        "lead_priority": "high",
        "restart_schedule": "perhaps",
        "apply_to": "everything",
        "data": "x",
    }
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(session, sandbox.endpoint, body)
    assert status == 422
    assert sorted(answer["errors"]) == sorted(body)
    assert sandbox.leads() == []


@pytest.mark.parametrize(
    "body",
    [{}, {"data": {"loan_amount": "501"}}, {"caller_id": "", "email": ""}, {"caller_id": None}],
)
async def test_a_lead_needs_a_caller_id_or_an_email(
    sandbox: SandboxServer, body: dict[str, Any]
) -> None:
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(session, sandbox.endpoint, body)
    assert status == 422
    assert answer["errors"] == {
        "caller_id": ["can't be blank (a lead needs a caller_id or an email)"]
    }


async def test_missing_key_is_reported_with_other_errors(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, answer, _ = await post(session, sandbox.endpoint, {"lead_priority": "x"})
    assert answer["errors"] == {
        "lead_priority": ["must be an integer"],
        "caller_id": ["can't be blank (a lead needs a caller_id or an email)"],
    }


@pytest.mark.parametrize(
    ("content_type", "raw", "message"),
    [
        ("application/json", b'{"caller_id": "+18004506787",', "is not valid JSON"),
        ("application/json", b"\xff\xfe\x00garbage", "is not valid JSON"),
        ("application/json", b'["+18004506787"]', "must be a JSON object"),
        ("application/json", b'"+18004506787"', "must be a JSON object"),
        (
            "application/x-www-form-urlencoded",
            SEED_BODY.encode(),
            "looks like JSON; send it with Content-Type: application/json",
        ),
        (
            "text/plain",
            SEED_BODY.encode(),
            "has Content-Type text/plain; send application/json or "
            "application/x-www-form-urlencoded",
        ),
    ],
)
async def test_unusable_bodies_are_a_422(
    sandbox: SandboxServer, content_type: str, raw: bytes, message: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sandbox.endpoint,
            data=raw,
            headers={"Content-Type": content_type},
            params={"lead_token": "t"},
        ) as resp,
    ):
        assert resp.status == 422
        assert await resp.json() == {"status": 422, "errors": {"body": [message]}, "metadata": {}}
    assert sandbox.requests()[0]["body"] is None


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("caller_id", "+18004506787", "+18004506787"),
        ("caller_id", "17193132645", "+17193132645"),
        ("caller_id", "(800) 450-6787", "+18004506787"),
        ("caller_id", 17193132645, "+17193132645"),
        ("caller_id", "+447911123456", "+447911123456"),
        ("next_action_at", "2021-07-23 14:26:43 +0000", "2021-07-23T14:26:43+00:00"),
        ("next_action_at", "2016-01-01 12:25:15 -0500", "2016-01-01T17:25:15+00:00"),
        ("next_action_at", "2021-07-23T10:26:43-04:00", "2021-07-23T14:26:43+00:00"),
        ("schedule_callback_at", "2021-07-23T14:26:43Z", "2021-07-23T14:26:43+00:00"),
        ("lead_priority", "3", 3),
        ("lead_priority", -2, -2),
        ("lead_priority", 4.0, 4),
        ("hours_to_expire", " 48 ", 48),
        ("max_contact_attempts", 0, 0),
        ("schedule_callback_in_seconds", "3600", 3600),
        ("contact_field_type", 17, "17"),
        ("apply_to", "calls", "calls"),
    ],
)
async def test_accepted_values_are_stored_normalized(
    sandbox: SandboxServer, field: str, value: Any, stored: Any
) -> None:
    body = {"email": "lead@example.com", field: value}
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(session, sandbox.endpoint, body)
    assert status == 200, answer
    assert answer["lead"][field] == stored
    (lead,) = sandbox.leads()
    assert lead[field] == stored


@pytest.mark.parametrize(
    ("value", "assigned"),
    [
        *[(word, True) for word in ("1", "true", "yes", "on", "TRUE", " Yes ", 1, True)],
        *[(word, False) for word in ("0", "false", "no", "off", "Off", 0, False)],
    ],
)
async def test_booleans(sandbox: SandboxServer, value: Any, assigned: bool) -> None:
    body = {"caller_id": PHONE, "assign_trackdrive_number": value, "restart_schedule": value}
    async with aiohttp.ClientSession() as session:
        status, answer, _ = await post(session, sandbox.endpoint, body)
    assert status == 200
    assert ("trackdrive_number_plain" in answer["lead"]) is assigned


async def test_callback_in_seconds_sets_the_callback_time(sandbox: SandboxServer) -> None:
    before = time.time()
    async with aiohttp.ClientSession() as session:
        _, answer, _ = await post(
            session, sandbox.endpoint, {"caller_id": PHONE, "schedule_callback_in_seconds": 3600}
        )
    at = datetime.fromisoformat(answer["lead"]["schedule_callback_at"]).timestamp()
    assert before + 3600 - 1 <= at <= time.time() + 3600


# --- upsert, merge, numbers -----------------------------------------------------------


async def test_repeat_updates_the_lead_and_merges_data(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, first, _ = await post(
            session,
            sandbox.endpoint,
            {"caller_id": "+17193132645", "data": {"a": "1", "b": "2"}, "lead_priority": 5},
        )
        _, second, _ = await post(
            session,
            sandbox.endpoint,
            {
                "caller_id": "17193132645",  # same number, other format
                "email": "x@example.com",
                "data": {"b": "20", "c": "3"},
                "next_action_at": "2026-01-02 03:04:05 +0000",
            },
        )
        _, other_token, _ = await post(
            session, sandbox.endpoint, {"caller_id": "+17193132645"}, token="another"
        )
    assert second["lead"]["id"] == first["lead"]["id"]
    assert other_token["lead"]["id"] != first["lead"]["id"]
    leads = sandbox.leads()
    assert len(leads) == 2
    lead = leads[0]
    assert lead["data"] == {"a": "1", "b": "20", "c": "3"}
    assert lead["lead_priority"] == 5  # absent from the repeat: kept
    assert lead["email"] == "x@example.com"
    assert lead["next_action_at"] == "2026-01-02T03:04:05+00:00"
    assert lead["write_count"] == 2
    assert lead["created_at"] == first["lead"]["created_at"]
    assert lead["updated_at"] >= lead["created_at"]
    assert leads[0]["token_fingerprint"] != leads[1]["token_fingerprint"]


async def test_email_keyed_lead_adopts_its_caller_id(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        _, first, _ = await post(
            session, sandbox.endpoint, {"email": "Ada@Example.com", "data": {"a": "1"}}
        )
        _, again, _ = await post(
            session, sandbox.endpoint, {"email": "ada@example.com", "data": {"b": "2"}}
        )
        _, phoned, _ = await post(
            session, sandbox.endpoint, {"email": "ada@example.com", "caller_id": PHONE}
        )
        _, by_phone, _ = await post(
            session,
            sandbox.endpoint,
            {"caller_id": PHONE, "update_all_matching_leads": "true", "data": {"c": "3"}},
        )
    assert first["lead"]["id"] == again["lead"]["id"] == phoned["lead"]["id"]
    assert by_phone["lead"]["id"] == first["lead"]["id"]
    (lead,) = sandbox.leads()
    assert lead["caller_id"] == PHONE
    assert lead["data"] == {"a": "1", "b": "2", "c": "3"}


async def test_update_all_matching_leads(sandbox: SandboxServer) -> None:
    shared = "family@example.com"
    async with aiohttp.ClientSession() as session:
        for i in (1, 2):
            await post(session, sandbox.endpoint, lead_body(i, email=shared))
        await post(session, sandbox.endpoint, lead_body(3, email=shared), token="other")
        await post(session, sandbox.endpoint, {"email": shared, "data": {"latest": "only"}})
        await post(
            session,
            sandbox.endpoint,
            {"email": shared, "update_all_matching_leads": "on", "data": {"all": "yes"}},
        )
    one, two, other = sandbox.leads()
    assert one["data"] == {"all": "yes"}
    assert two["data"] == {"latest": "only", "all": "yes"}
    assert other["data"] == {}  # another token's lead is never touched


async def test_a_changed_email_no_longer_finds_the_lead(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        await post(session, sandbox.endpoint, {"caller_id": PHONE, "email": "old@example.com"})
        await post(session, sandbox.endpoint, {"caller_id": PHONE, "email": "new@example.com"})
        _, by_old, _ = await post(session, sandbox.endpoint, {"email": "old@example.com"})
        _, by_new, _ = await post(session, sandbox.endpoint, {"email": "new@example.com"})
    first, created = sandbox.leads()
    assert by_new["lead"]["id"] == first["id"]
    assert by_old["lead"]["id"] == created["id"] != first["id"]
    assert sandbox.lead("new@example.com") == sandbox.lead(PHONE)


async def test_assigned_numbers_are_stable_per_lead(sandbox: SandboxServer) -> None:
    ask = {"assign_trackdrive_number": True, "assign_sms_number": "1"}
    async with aiohttp.ClientSession() as session:
        _, one, _ = await post(session, sandbox.endpoint, lead_body(1, **ask))
        _, one_again, _ = await post(session, sandbox.endpoint, lead_body(1, **ask))
        _, one_plain, _ = await post(session, sandbox.endpoint, lead_body(1))
        _, two, _ = await post(session, sandbox.endpoint, lead_body(2, **ask))
        _, three, _ = await post(session, sandbox.endpoint, lead_body(3))
    numbers = ("trackdrive_number_plain", "sms_number_plain")
    for key in numbers:
        assert one["lead"][key] == one_again["lead"][key] == one_plain["lead"][key]
        assert one["lead"][key] != two["lead"][key]
        assert re.fullmatch(r"\+18[34]{2}\d{7}", one["lead"][key])
        assert key not in three["lead"]
    assert one["lead"]["trackdrive_number_plain"] != one["lead"]["sms_number_plain"]
    stored = sandbox.lead(lead_body(1)["caller_id"])
    assert stored is not None
    assert [stored[key] for key in numbers] == [one["lead"][key] for key in numbers]


# --- rate limit -----------------------------------------------------------------------


async def test_burst_above_the_rate_limit_gets_429_with_retry_after(
    sandbox_factory: Factory,
) -> None:
    server = sandbox_factory(rate_limit=5)
    async with aiohttp.ClientSession() as session:
        burst = await asyncio.gather(
            *(post(session, server.endpoint, lead_body(i)) for i in range(20))
        )
        statuses = sorted(status for status, _, _ in burst)
        assert statuses == [200] * 5 + [429] * 15
        limited = [(answer, resp) for status, answer, resp in burst if status == 429]
        for answer, resp in limited:
            assert resp.headers["Retry-After"] == "1"
            assert answer == {"status": 429, "errors": {"base": ["rate limit exceeded"]}}
        # Another token has its own budget.
        other, _, _ = await post(session, server.endpoint, lead_body(99), token="other")
        assert other == 200
        await asyncio.sleep(int(limited[0][1].headers["Retry-After"]))
        after, _, _ = await post(session, server.endpoint, lead_body(100))
        assert after == 200
    assert len(server.leads()) == 7
    assert server.stats()["requests_by_status"] == {"200": 7, "429": 15}


async def test_rate_limit_below_one_per_second(sandbox_factory: Factory) -> None:
    server = sandbox_factory(rate_limit=0.5)
    async with aiohttp.ClientSession() as session:
        first, _, _ = await post(session, server.endpoint, lead_body(1))
        second, _, resp = await post(session, server.endpoint, lead_body(2))
    assert (first, second) == (200, 429)
    assert resp.headers["Retry-After"] == "2"


async def test_throttle_first_answers_429_to_the_first_requests_of_each_token(
    sandbox_factory: Factory,
) -> None:
    server = sandbox_factory(throttle_first=2)
    async with aiohttp.ClientSession() as session:
        answers = [await post(session, server.endpoint, lead_body(i)) for i in range(4)]
        other, _, _ = await post(session, server.endpoint, lead_body(9), token="other")
    assert [status for status, _, _ in answers] == [429, 429, 200, 200]
    assert all(resp.headers["Retry-After"] == "1" for _, _, resp in answers[:2])
    assert other == 429  # each token starts at its quota
    assert len(server.leads()) == 2


# --- faults ---------------------------------------------------------------------------

Outcome = int | str  # an HTTP status, or "dropped"


async def send_many(server: SandboxServer, count: int) -> list[Outcome]:
    """Send ``count`` distinct leads one after another; the outcome of each."""
    outcomes: list[Outcome] = []
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            try:
                status, _, _ = await post(session, server.endpoint, lead_body(i))
                outcomes.append(status)
            except aiohttp.ClientConnectionError:
                outcomes.append("dropped")
    return outcomes


def within(observed: int, count: int, rate: float) -> bool:
    """Whether ``observed`` of ``count`` is within 4 standard deviations of ``rate``."""
    spread = 4 * (count * rate * (1 - rate)) ** 0.5
    return abs(observed - count * rate) <= spread


FAULT_COUNT = 300


@pytest.mark.parametrize("rate", [0.1, 0.35])
async def test_fail_rate(sandbox_factory: Factory, rate: float) -> None:
    server = sandbox_factory(fail_rate=rate, seed=11)
    outcomes = await send_many(server, FAULT_COUNT)
    failed = [o for o in outcomes if o != 200]
    assert set(failed) <= {500, 502, 503}
    assert set(failed) == {500, 502, 503}  # each kind shows up
    assert within(len(failed), FAULT_COUNT, rate), len(failed)
    stored = {lead["caller_id"] for lead in server.leads()}
    sent_ok = {lead_body(i)["caller_id"] for i, o in enumerate(outcomes) if o == 200}
    assert stored == sent_ok  # a failed request stores nothing
    log = server.requests()
    assert [entry["status"] for entry in log] == outcomes
    assert all(entry["committed"] is (entry["status"] == 200) for entry in log)
    assert server.stats()["faults_injected"]["fail"] == len(failed)


async def test_502_looks_like_a_proxy_page(sandbox_factory: Factory) -> None:
    server = sandbox_factory(fail_rate=1.0, seed=3)
    async with aiohttp.ClientSession() as session:
        seen: dict[int, str] = {}
        for i in range(30):
            async with session.post(
                server.endpoint, json=lead_body(i), params={"lead_token": "t"}
            ) as resp:
                seen[resp.status] = resp.content_type
    assert seen == {500: "application/json", 502: "text/html", 503: "application/json"}


@pytest.mark.parametrize("rate", [0.1, 0.35])
async def test_drop_rate(sandbox_factory: Factory, rate: float) -> None:
    server = sandbox_factory(drop_rate=rate, seed=12)
    outcomes = await send_many(server, FAULT_COUNT)
    dropped = outcomes.count("dropped")
    assert set(outcomes) == {200, "dropped"}
    assert within(dropped, FAULT_COUNT, rate), dropped
    assert len(server.leads()) == FAULT_COUNT - dropped
    assert [entry["status"] for entry in server.requests()] == outcomes


@pytest.mark.parametrize("rate", [0.1, 0.35])
async def test_commit_then_fail_rate(sandbox_factory: Factory, rate: float) -> None:
    server = sandbox_factory(commit_then_fail_rate=rate, seed=13)
    outcomes = await send_many(server, FAULT_COUNT)
    bad = [o for o in outcomes if o != 200]
    assert set(bad) == {503, "dropped"}
    assert within(len(bad), FAULT_COUNT, rate), len(bad)
    # Every lead IS stored, whatever the answer said.
    assert len(server.leads()) == FAULT_COUNT
    log = server.requests()
    assert all(entry["committed"] for entry in log)
    assert [entry["fault"] is not None for entry in log] == [o != 200 for o in outcomes]


async def test_faults_are_reproducible_with_a_seed(sandbox_factory: Factory) -> None:
    config = {"fail_rate": 0.2, "drop_rate": 0.2, "commit_then_fail_rate": 0.2}
    first = await send_many(sandbox_factory(seed=5, **config), 60)
    again = await send_many(sandbox_factory(seed=5, **config), 60)
    other = await send_many(sandbox_factory(seed=6, **config), 60)
    assert first == again
    assert first != other
    server = sandbox_factory(seed=5, **config)
    await send_many(server, 10)
    server.reset()  # restarts the seeded sequence too
    assert await send_many(server, 60) == first


@pytest.mark.parametrize(
    ("latency", "low", "high"), [((80, 80), 0.08, 0.4), ((20, 120), 0.02, 0.5)]
)
async def test_latency(
    sandbox_factory: Factory, latency: tuple[int, int], low: float, high: float
) -> None:
    server = sandbox_factory(latency_ms=latency, seed=1)
    took: list[float] = []
    async with aiohttp.ClientSession() as session:
        for i in range(12):
            started = time.perf_counter()
            status, _, _ = await post(session, server.endpoint, lead_body(i))
            took.append(time.perf_counter() - started)
            assert status == 200
    assert min(took) >= low
    assert max(took) < high
    if latency[0] != latency[1]:
        assert max(took) - min(took) > 0.02  # really random, not a fixed delay


# --- inspection -----------------------------------------------------------------------


async def test_inspection_endpoints(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        await post(session, sandbox.endpoint, {"caller_id": PHONE, "data": {"k": "v"}})
        await post(session, sandbox.endpoint, {"email": "e@example.com"}, token="other")
        await post(session, sandbox.endpoint, {"caller_id": "bad"})
        async with session.get(sandbox.url + "/_sandbox/leads") as resp:
            leads = await resp.json()
        async with session.get(sandbox.url + "/_sandbox/leads/18004506787") as resp:
            by_plain = await resp.json()
        async with session.get(sandbox.url + "/_sandbox/leads/%2B18004506787") as resp:
            by_e164 = await resp.json()
        async with session.get(sandbox.url + "/_sandbox/leads/e@example.com") as resp:
            by_email = await resp.json()
        async with session.get(sandbox.url + "/_sandbox/leads/+12025550123") as resp:
            assert resp.status == 404
        async with session.get(sandbox.url + "/_sandbox/requests") as resp:
            log = await resp.json()
        async with session.get(sandbox.url + "/_sandbox/stats") as resp:
            stats = await resp.json()
    assert leads == sandbox.leads()
    assert by_plain == by_e164 == leads[0]
    assert by_email == leads[1]
    expected_fields = {
        "id", "uuid", "caller_id", "email", "status", "data", "next_action_at",
        "schedule_callback_at", "schedule_callback_in_seconds", "lead_priority",
        "hours_to_expire", "max_contact_attempts", "contact_field_type", "apply_to",
        "created_at", "updated_at", "token_fingerprint", "write_count",
    }  # fmt: skip
    assert set(leads[0]) == expected_fields
    assert log == sandbox.requests()
    assert [(e["caller_id"], e["email"], e["status"], e["committed"]) for e in log] == [
        (PHONE, None, 200, True),
        (None, "e@example.com", 200, True),
        ("bad", None, 422, False),
    ]
    assert all(
        set(e) >= {"t", "path", "caller_id", "email", "status", "committed", "body"} for e in log
    )
    assert log[0]["body"] == {"caller_id": PHONE, "data": {"k": "v"}}
    assert log[0]["t"] <= log[1]["t"] <= log[2]["t"] <= time.time()
    assert stats["total_requests"] == 3
    assert stats["requests_by_status"] == {"200": 2, "422": 1}
    assert stats["leads_stored"] == 2
    assert stats["requests_per_second"] > 0
    assert stats == sandbox.stats()


async def test_peak_concurrency_per_caller_id(sandbox_factory: Factory) -> None:
    server = sandbox_factory(latency_ms=(150, 150))
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(
            *(post(session, server.endpoint, {"caller_id": PHONE}) for _ in range(4)),
            *(post(session, server.endpoint, lead_body(i)) for i in range(3)),
        )
        await post(session, server.endpoint, lead_body(0))
    stats = server.stats()
    assert stats["peak_concurrency_per_caller_id"] == 4
    assert stats["peak_concurrency_by_caller_id"] == {
        PHONE: 4,
        **{lead_body(i)["caller_id"]: 1 for i in range(3)},
    }
    assert stats["peak_concurrency"] == 7
    assert stats["in_flight"] == 0
    assert stats["total_requests"] == 8


async def test_reset_forgets_everything(sandbox: SandboxServer) -> None:
    async with aiohttp.ClientSession() as session:
        await post(session, sandbox.endpoint, {"caller_id": PHONE})
        async with session.post(sandbox.url + "/_sandbox/reset") as resp:
            assert resp.status == 200
        assert sandbox.leads() == []
        assert sandbox.requests() == []
        assert sandbox.stats()["total_requests"] == 0
        _, answer, _ = await post(session, sandbox.endpoint, lead_body(5))
    assert answer["lead"]["id"] == 1


async def test_log_lines_mask_the_caller_and_never_show_the_token(
    sandbox_factory: Factory, capfd: pytest.CaptureFixture[str]
) -> None:
    server = sandbox_factory(quiet=False, tokens=("s3cret-token",))
    async with aiohttp.ClientSession() as session:
        await post(session, server.endpoint, {"caller_id": PHONE}, token="s3cret-token")
        await post(session, server.endpoint, {"caller_id": PHONE}, token="wrong-s3cret")
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "/api/v1/leads" in line]
    assert len(lines) == 2
    assert re.search(
        r" POST /api/v1/leads/create_or_update 200 caller_id=\*{8}6787 [\d.]+ms$", lines[0]
    )
    assert " 401 " in lines[1]
    assert "s3cret" not in err
    assert "450678" not in err
    dumped = json.dumps([server.leads(), server.requests(), server.stats()])
    assert "s3cret" not in dumped


# --- SQLite persistence ---------------------------------------------------------------


async def test_db_keeps_leads_across_a_restart(sandbox_factory: Factory, tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite"
    first = sandbox_factory(db=db)
    async with aiohttp.ClientSession() as session:
        for i in range(3):
            await post(session, first.endpoint, lead_body(i, assign_trackdrive_number=1))
        await post(session, first.endpoint, lead_body(1, data={"x": "1"}))
    before = first.leads()
    first.stop()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM leads").fetchone() == (3,)

    second = sandbox_factory(db=db)
    assert second.leads() == before
    async with aiohttp.ClientSession() as session:
        _, updated, _ = await post(session, second.endpoint, lead_body(1, data={"y": "2"}))
        _, created, _ = await post(session, second.endpoint, lead_body(7))
    assert updated["lead"]["id"] == before[1]["id"]
    assert updated["lead"]["data"] == {"x": "1", "y": "2"}
    assert updated["lead"]["trackdrive_number_plain"] == before[1]["trackdrive_number_plain"]
    assert created["lead"]["id"] == 4
    second.reset()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM leads").fetchone() == (0,)


def test_sandbox_server_lifecycle() -> None:
    server = SandboxServer()
    with pytest.raises(RuntimeError, match="not running"):
        server.leads()
    with server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert server.endpoint == server.url + "/api/v1/leads/create_or_update"
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
        taken = server.port
        with pytest.raises(Exception, match="cannot listen"):
            SandboxServer(port=taken).start()
    server.stop()  # idempotent


# --- the command ----------------------------------------------------------------------


def read_until(stream: Any, pattern: str, timeout: float = 30.0) -> tuple[re.Match[str], str]:
    """Read lines from ``stream`` until one matches ``pattern``; return the match and the text."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
            if re.search(pattern, line):
                return
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        seen += line
        found = re.search(pattern, line)
        if found:
            return found, seen
        if not line:
            break
    raise AssertionError(f"{pattern!r} never appeared; output so far:\n{seen}")


def start_command(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    found, _ = read_until(proc.stderr, r"listening on (http://127\.0\.0\.1:\d+)")
    return proc, found.group(1)


def post_sync(url: str, body: dict[str, Any], token: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/api/v1/leads/create_or_update?lead_token={token}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        answer: dict[str, Any] = json.load(resp)
        return answer


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_command_shuts_down_cleanly_and_keeps_its_db(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "leads.sqlite"
    proc, url = start_command("--db", str(db), "--token", "cli-s3cret", "--seed", "1")
    try:
        answer = post_sync(url, {"caller_id": PHONE, "data": {"n": "1"}}, "cli-s3cret")
        assert answer["status"] == 200
    finally:
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Trackdrive sandbox stopped" in err
    assert "Traceback" not in err
    assert "cli-s3cret" not in err + out
    assert re.search(r"POST /api/v1/leads/create_or_update 200 caller_id=\*+6787", err)

    again, url = start_command("--db", str(db), "--quiet")
    try:
        with urllib.request.urlopen(f"{url}/_sandbox/leads/{PHONE}", timeout=10) as resp:
            lead = json.load(resp)
    finally:
        again.send_signal(signal.SIGTERM)
        _, err = again.communicate(timeout=20)
    assert again.returncode == 0
    assert lead["data"] == {"n": "1"}
    assert "/api/v1/leads" not in err  # --quiet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--latency-ms", "abc"], "'abc' is not A or A-B in milliseconds"),
        (["--latency-ms", "50-10"], "need 0 <= A <= B"),
        (["--fail-rate", "1.5"], "1.5 is not in the range 0.0<=x<=1.0"),
        (["--drop-rate", "-0.1"], "is not in the range"),
        (["--fail-rate", "0.6", "--commit-then-fail-rate", "0.5"], "must not exceed 1"),
        (["--rate-limit", "0"], "0.0 is not in the range x>0.0"),
        (["--port", "70000"], "70000 is not in the range 0<=x<=65535"),
        (["--token", ""], "a lead token cannot be empty"),
        (["--seed", "x"], "'x' is not a valid integer"),
        (["--db", "/nonexistent-folder/leads.sqlite"], "folder /nonexistent-folder does not exist"),
    ],
)
def test_bad_option_values_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["sandbox", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_port_in_use_exits_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["sandbox", "--port", str(port), "--quiet"])
    assert result.exit_code == 2
    assert f"the sandbox cannot listen on 127.0.0.1:{port}" in result.output


def test_command_help_lists_every_option() -> None:
    result = CliRunner().invoke(main, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host", "--port", "--token", "--rate-limit", "--latency-ms", "--fail-rate",
        "--drop-rate", "--commit-then-fail-rate", "--seed", "--db", "--quiet",
    ):  # fmt: skip
        assert option in result.output
