"""The browser face's mapping table, sheet picker, check and "send failed rows again", over HTTP.

Real files on disk, the real app through aiohttp's test client, the real sandbox on
127.0.0.1, and the real CLI to read what the page saved.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import replace
from html import unescape
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from helpers import EXAMPLE, ROOT, invoke, read_results
from test_web import TOKEN, csrf_of, field_of, leads_csv, upload, wait_done

from importer.config import load_mapping
from importer.web import create_app

LITERAL = "tok-LITERAL-IN-FILE-5c1e"


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    return out, mappings


VALUE = r'<span class="value">([^<]*)</span>'
TEXT_BOX = r'<input type="text"[^>]*name="([^"]+)"[^>]*value="([^"]*)"'


def table_rows(html: str) -> dict[str, dict[str, Any]]:
    """Header -> {choice, token, samples, index} as the map table shows them."""
    rows = {}
    for m in re.finditer(r'<tr data-column="([^"]*)".*?</tr>', html, re.S):
        row = m.group(0)
        index = re.search(r'name="column-(\d+)"', row)
        choice = re.search(r'<option value="([^"]+)" selected>', row)
        token = re.search(r'name="token-\d+"[^>]*value="([^"]*)"', row)
        assert index and choice and token, row
        rows[unescape(m.group(1))] = {
            "index": index.group(1),
            "choice": choice.group(1),
            "token": unescape(token.group(1)),
            "samples": [
                unescape(v) for v in re.findall(r'<span class="value">([^<]*)</span>', row)
            ],
        }
    return rows


def kept_of(html: str) -> list[str]:
    block = html.split('id="kept"', 1)[1].split("</ul>", 1)[0] if 'id="kept"' in html else ""
    return [unescape(k) for k in re.findall(r"<code>(.*?)</code>", block)]


def table_form(html: str) -> dict[str, str]:
    """Every field of the map form as the page fills it in (what a browser would post)."""
    form = {"csrf": csrf_of(html), "mapping": field_of(html, "mapping")}
    form["original"] = unescape(
        re.search(r'name="original" id="original" value="([^"]*)"', html, re.S).group(1)
    )  # type: ignore[union-attr]
    for index, choice in re.findall(
        r'name="column-(\d+)".*?<option value="([^"]+)" selected>', html, re.S
    ):
        form[f"column-{index}"] = choice
    for name, value in re.findall(
        r'<input type="text"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html
    ):
        form[name] = unescape(value)
    for name in ("date_order", "duplicates"):
        found = re.search(rf'name="{name}".*?<option value="([^"]*)"[^>]* selected>', html, re.S)
        if found:
            form[name] = found.group(1)
    if re.search(r'id="include-unmapped" value="yes" checked', html):
        form["include_unmapped_columns"] = "yes"
    return form


async def open_map(client: Any, src: Path, name: str | None = None) -> tuple[str, str]:
    resp = await upload(client, src, name)
    assert resp.status == 303, await resp.text()
    where = resp.headers["Location"]
    return where, await (await client.get(where)).text()


async def test_the_table_shows_each_column_with_samples_choice_and_what_is_kept(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    shutil.copy(EXAMPLE, mappings / "vendor.yaml")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    _, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    assert "Using the saved mapping <b>vendor.yaml</b>" in html
    rows = table_rows(html)
    assert list(rows) == [
        "First Name", "Last Name", "Phone", "E-mail", "Callback Time", "Amount", "State",
        "ZIP", "Source",
    ]  # fmt: skip
    assert rows["Phone"]["choice"] == "field:caller_id"
    assert rows["Phone"]["samples"] == ["(212) 555-0000", "(212) 555-0001", "not a phone"]
    assert rows["E-mail"]["choice"] == "field:email"
    assert rows["Callback Time"]["choice"] == "field:schedule_callback_at"
    assert rows["Callback Time"]["samples"] == []
    assert (rows["Amount"]["choice"], rows["Amount"]["token"]) == ("data", "loan_amount")
    assert (rows["First Name"]["choice"], rows["First Name"]["token"]) == ("data", "first_name")
    # Every Trackdrive parameter the core knows is a choice, besides data token and ignore.
    from importer.config import PARAMETERS

    options = re.findall(r'<option value="field:([^"]+)"', html.split("</select>", 1)[0])
    assert options == list(PARAMETERS)
    assert kept_of(html) == [
        "fields.lead_priority: {value: 3}",
        "fields.assign_trackdrive_number: {value: true}",
        "data.campaign: {value: fall-promo}",
        "lead_token: ${TRACKDRIVE_LEAD_TOKEN}",
    ]
    assert field_of(html, "region") == "US" and field_of(html, "timezone") == "America/New_York"


async def test_choices_in_the_table_make_the_mapping_the_cli_reads(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    shutil.copy(EXAMPLE, mappings / "vendor.yaml")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    src = leads_csv(tmp_path / "leads.csv")
    where, html = await open_map(client, src)
    rows = table_rows(html)
    form = table_form(html)
    form[f"column-{rows['Source']['index']}"] = "ignore"
    form[f"token-{rows['Amount']['index']}"] = "amount_usd"
    form[f"column-{rows['ZIP']['index']}"] = "ignore"
    form["duplicates"] = "last"
    form["send.rate"] = "25"

    preview = await (await client.post(f"{where}/preview", data=form)).json()
    assert preview["error"] is None
    text = preview["mapping"]
    raw = yaml.safe_load(text)
    assert raw["data"] == {
        "first_name": "First Name",
        "last_name": "Last Name",
        "amount_usd": "Amount",
        "state": "State",
        "campaign": {"value": "fall-promo"},
    }
    assert raw["fields"]["email"] == {"column": "E-mail"}  # unchanged entries as written
    assert raw["fields"]["lead_priority"] == {"value": 3}
    assert raw["duplicates"] == "last" and raw["send"]["rate"] == 25
    assert raw["lead_token"] == "${TRACKDRIVE_LEAD_TOKEN}"

    checked = await client.post(f"{where}/check", data=form)
    assert "valid 11" in await checked.text()
    page_mapping = out / ".uploads" / where.rsplit("/", 1)[1] / "mapping.yaml"
    assert page_mapping.read_text(encoding="utf-8") == text

    form["name"] = "weekly"
    saved_page = await (await client.post(f"{where}/save", data=form)).text()
    assert "Saved as" in saved_page
    saved = mappings / "weekly.yaml"
    assert replace(load_mapping(saved), path=page_mapping) == load_mapping(page_mapping)
    download = await client.get(f"{where}/mapping.yaml")
    assert download.status == 200 and await download.text() == text
    assert 'attachment; filename="mapping.yaml"' in download.headers["Content-Disposition"]

    code, _, stderr = await asyncio.to_thread(
        invoke, "validate", src, "-m", saved, "--out", tmp_path / "v"
    )
    assert code == 1, stderr
    bodies = [r["payload"] for r in read_results(tmp_path / "v") if r["status"] == "valid"]
    assert '"amount_usd":"100"' in bodies[0] and '"source"' not in bodies[0]


async def test_unchanged_choices_keep_the_saved_text_with_its_comments(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    shutil.copy(EXAMPLE, mappings / "vendor.yaml")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    form = table_form(html)
    await client.post(f"{where}/check", data=form)
    page_mapping = out / ".uploads" / where.rsplit("/", 1)[1] / "mapping.yaml"
    assert page_mapping.read_text(encoding="utf-8") == EXAMPLE.read_text(encoding="utf-8")


async def test_yaml_edited_by_hand_wins_over_the_table(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    form = table_form(html)
    rows = table_rows(html)
    form[f"column-{rows['Phone']['index']}"] = "ignore"  # the table says one thing…
    form["mapping"] = "version: 1\ntimezone: UTC\nfields:\n  caller_id: Phone\n"  # …the YAML wins
    resp = await client.post(f"{where}/check", data=form)
    assert "valid 11" in await resp.text()
    again = await (await client.get(where)).text()
    assert field_of(again, "mapping") == form["mapping"]
    assert table_rows(again)["Phone"]["choice"] == "field:caller_id"
    assert table_rows(again)["Source"]["choice"] == "ignore"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"E-mail": "field:caller_id"},
            "Cannot check: caller_id is chosen for two columns, &#39;Phone&#39; and "
            "&#39;E-mail&#39;: choose it for one.",
        ),
        (
            {"Amount": "data", "token-Amount": "first_name"},
            "Cannot check: data token &#39;first_name&#39; is chosen for two columns, "
            "&#39;First Name&#39; and &#39;Amount&#39;: choose it for one.",
        ),
        (
            {"Amount": "field:lead_priority"},
            "Cannot check: lead_priority is already in the mapping, kept as written; choose "
            "another for &#39;Amount&#39;, or edit the YAML.",
        ),
        (
            {"Phone": "ignore", "E-mail": "ignore"},
            "Cannot check: ",  # the core's own words follow: map caller_id or email
        ),
    ],
)
async def test_choices_that_make_no_mapping_are_said_on_the_page(
    aiohttp_client: Any,
    tmp_path: Path,
    folders: tuple[Path, Path],
    change: dict[str, str],
    message: str,
) -> None:
    out, mappings = folders
    shutil.copy(EXAMPLE, mappings / "vendor.yaml")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    rows = table_rows(html)
    form = table_form(html)
    for key, value in change.items():
        if key.startswith("token-"):
            form[f"token-{rows[key[6:]]['index']}"] = value
        else:
            form[f"column-{rows[key]['index']}"] = value
    resp = await client.post(f"{where}/check", data=form)
    assert resp.status == 200
    text = await resp.text()
    assert f'<p class="message" id="message" role="status">{message}' in text
    if message == "Cannot check: ":
        assert "map caller_id or email" in text


async def test_a_token_written_in_a_saved_mapping_is_never_shown_and_is_kept(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    written = EXAMPLE.read_text(encoding="utf-8").replace(
        "lead_token: ${TRACKDRIVE_LEAD_TOKEN}", f"lead_token: {LITERAL}"
    )
    (mappings / "vendor.yaml").write_text(written, encoding="utf-8")
    strict = sandbox_factory(tokens=(LITERAL,))
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    assert LITERAL not in html
    assert 'id="hidden-token"' in html
    assert "lead_token" not in field_of(html, "mapping")
    assert "lead_token: (written in the mapping" not in html  # left out, not kept

    # Typing a token into the YAML is refused: the page never stores one.
    form = table_form(html)
    pasted = dict(form, mapping=form["mapping"] + "lead_token: pasted-secret\n")
    refused = await (await client.post(f"{where}/check", data=pasted)).text()
    assert "Write no lead token into the mapping on this page" in refused
    assert "pasted-secret" not in refused

    # Saving under the same name keeps the token written in the file.
    saved = await (await client.post(f"{where}/save", data=dict(form, name="vendor"))).text()
    assert "Saved as" in saved and LITERAL not in saved
    assert load_mapping(mappings / "vendor.yaml").token.literal == LITERAL

    # Sending with the Lead token field empty uses it, read from the file, never stored.
    checked = await (await client.post(f"{where}/check", data=form)).text()
    assert "empty = the one written in vendor.yaml" in checked
    resp = await client.post(
        f"{where}/send",
        data={"csrf": form["csrf"], "endpoint": strict.endpoint, "token": "", "rate": "1000",
              "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    status = await wait_done(client, resp.headers["Location"])
    assert (status["success"], status["exit_code"]) == (11, 1)
    for path in out.rglob("*"):
        if path.is_file():
            assert LITERAL.encode() not in path.read_bytes(), path


def two_sheets(path: Path) -> Path:
    """samples/leads.xlsx with a "Notes" sheet put before its "Leads" sheet."""
    book = openpyxl.load_workbook(ROOT / "samples" / "leads.xlsx")
    notes = book.create_sheet("Notes", 0)
    notes.append(["Note", "Written by"])
    notes.append(["Leads from the fair", "Dana"])
    book.save(path)
    return path


async def test_a_workbook_with_several_sheets_offers_a_sheet_picker(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, two_sheets(tmp_path / "book.xlsx"))
    assert '<option value="Notes" selected>Notes</option><option value="Leads">' in html
    assert list(table_rows(html)) == ["Note", "Written by"]
    csrf = csrf_of(html)
    resp = await client.post(f"{where}/sheet", data={"csrf": csrf, "sheet": "Leads"})
    html = await resp.text()
    assert '<option value="Leads" selected>Leads</option>' in html
    assert table_rows(html)["Phone"]["choice"] == "field:caller_id"
    resp = await client.post(f"{where}/sheet", data={"csrf": csrf, "sheet": "../Leads"})
    assert resp.status == 400
    assert await resp.text() == (
        "leadimport: the workbook has no such sheet; pick one from the list\n"
    )
    checked = await (await client.post(f"{where}/check", data=table_form(html))).text()
    assert re.search(r"97 rows:", checked), checked[:2000]

    single, html = await open_map(client, ROOT / "samples" / "leads.xlsx")
    assert 'id="sheet"' not in html  # one sheet: nothing to pick


async def test_send_failed_rows_again_sends_only_those(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    quota = sandbox_factory(throttle_first=3)  # the first 3 requests get 429
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    mapping = EXAMPLE.read_text(encoding="utf-8").replace("max_attempts: 5", "max_attempts: 1")
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    form = {"csrf": csrf_of(html), "mapping": mapping}
    await client.post(f"{where}/check", data=form)
    resp = await client.post(
        f"{where}/send",
        data={"csrf": form["csrf"], "endpoint": quota.endpoint, "token": TOKEN, "rate": "1000",
              "concurrency": "1", "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    run_path = resp.headers["Location"]
    status = await wait_done(client, run_path)
    assert (status["success"], status["failed"], status["throttled"]) == (8, 3, 3)
    page = await (await client.get(run_path)).text()
    assert "Send the 3 rows again" in page and "throttled 3" in page
    assert len(quota.requests()) == 11

    no_csrf = await client.post(f"{run_path}/rerun", data={"token": TOKEN})
    assert no_csrf.status == 403
    resp = await client.post(
        f"{run_path}/rerun", data={"csrf": form["csrf"], "token": TOKEN}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == run_path
    status = await wait_done(client, run_path)
    assert (status["success"], status["failed"]) == (11, 0)
    assert len(quota.requests()) == 14  # the 3 failed rows, and nothing else, again
    rows = read_results(out / run_path.rsplit("/", 1)[1])
    assert sorted(r["status"] for r in rows) == ["invalid"] + ["success"] * 11
    page = await (await client.get(run_path)).text()
    assert "rows again" not in page
    assert TOKEN not in page


async def test_the_watch_status_has_rate_and_eta_and_a_busy_server_refuses_a_rerun(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    slow = sandbox_factory(latency_ms=(100, 100))
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv", 10))
    form = {"csrf": csrf_of(html), "mapping": EXAMPLE.read_text(encoding="utf-8")}
    await client.post(f"{where}/check", data=form)
    first = await client.post(
        f"{where}/send",
        data={"csrf": form["csrf"], "endpoint": slow.endpoint, "token": TOKEN, "rate": "1000",
              "concurrency": "1", "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    run_path = first.headers["Location"]
    seen: dict[str, Any] = {}
    while True:
        status = await (await client.get(f"{run_path}/status.json")).json()
        if status["state"] != "running":
            break
        if status["rate"] is not None:
            seen = status
        await asyncio.sleep(0.05)
    assert seen, "no rate was reported while sending"
    assert seen["rate"] > 0 and seen["eta_s"] >= 0 and seen["total"] == 10
    busy_page = await (await client.get(run_path)).text()
    assert "Results" in busy_page
    second = await client.post(
        f"{where}/send",
        data={"csrf": form["csrf"], "endpoint": slow.endpoint, "token": TOKEN, "rate": "1000",
              "concurrency": "1", "confirm": "yes"},
        allow_redirects=False,
    )  # fmt: skip
    busy = await client.post(
        f"{run_path}/rerun", data={"csrf": form["csrf"], "token": TOKEN}, allow_redirects=False
    )
    assert busy.status == 409
    assert await busy.text() == (
        f"leadimport: a run is already sending: {second.headers['Location']}\n"
    )
    check_page = await (await client.post(f"{where}/check", data=form)).text()
    assert f'The server is sending another run: <a href="{second.headers["Location"]}">' in (
        check_page
    )
    await wait_done(client, second.headers["Location"])


async def test_the_upload_page_says_its_limit_and_takes_drops(
    aiohttp_client: Any, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings, max_upload_bytes=50_000))
    html = await (await client.get("/")).text()
    assert 'data-limit="50000"' in html and "at most 48 KB" in html
    assert 'id="drop"' in html and '<label for="file">' in html
    resp = await upload(client, _big(out.parent / "big.csv", 60_000))
    assert resp.status == 413
    assert await resp.text() == (
        "leadimport: the file is larger than 48 KB, the most this page takes; "
        "split it, or import it from the command line\n"
    )


def _big(path: Path, size: int) -> Path:
    path.write_bytes(b"Phone\n" + b"2125550000\n" * (size // 11 + 1))
    return path


def test_serve_takes_its_upload_limit_from_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "serve", "--port", "0", "--out", str(tmp_path / "out"),
         "--mappings", str(tmp_path / "m"), "--max-upload-mb", "1"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert found, line
        with urllib.request.urlopen(found.group(1), timeout=10) as resp:  # noqa: S310 (loopback)
            html = resp.read().decode()
        assert 'data-limit="1048576"' in html and "at most 1 MB" in html
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            proc.stderr.close()


async def test_yaml_the_table_cannot_show_opens_the_advanced_view(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html = await open_map(client, leads_csv(tmp_path / "leads.csv"))
    broken = "version: 1\nfields: [caller_id\n"
    resp = await client.post(f"{where}/check", data={"csrf": csrf_of(html), "mapping": broken})
    text = await resp.text()
    assert "Cannot check: " in text and "not valid YAML" in text
    assert 'id="no-table"' in text and '<details id="advanced" open>' in text
    assert 'id="map-table"' not in text
    assert field_of(text, "mapping") == broken


async def test_a_workbook_whose_first_sheet_is_empty_opens_on_the_first_that_reads(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    leads = book.create_sheet("Leads")
    leads.append(["Phone", "Name"])
    leads.append(["2125550000", "Ann"])
    book.save(tmp_path / "cover.xlsx")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    _, html = await open_map(client, tmp_path / "cover.xlsx")
    assert '<option value="Leads" selected>Leads</option>' in html
    assert table_rows(html)["Phone"]["choice"] == "field:caller_id"
