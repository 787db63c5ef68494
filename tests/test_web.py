"""The browser face, `leadimport serve`, over HTTP (in Chromium: test_web_browser.py)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, HEADER, invoke, read_results

from importer.web import create_app

TOKEN = "tok-WEB-SECRET-93b1d7"


def leads_csv(path: Path, n: int = 12) -> Path:
    """``n`` leads with distinct phones; row 4 (spreadsheet numbering) has a broken phone."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            phone = "not a phone" if i == 2 else f"(212) 555-{i:04d}"
            w.writerow(
                [f"First{i}", f"Last{i}", phone, f"p{i}@example.com", "", "100", "NY", "10001", "x"]
            )
    return path


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def field_of(html: str, name: str) -> str:
    found = re.search(rf'<textarea id="{name}"[^>]*>(.*?)</textarea>', html, re.S)
    if found:
        from html import unescape

        return unescape(found.group(1))
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert found, name
    return found.group(1)


async def upload(client: Any, path: Path, name: str | None = None) -> Any:
    from aiohttp import FormData

    page = await client.get("/")
    form = FormData()
    form.add_field("csrf", csrf_of(await page.text()))
    form.add_field("file", io.BytesIO(path.read_bytes()), filename=name or path.name)
    return await client.post("/upload", data=form, allow_redirects=False)


async def to_check(client: Any, src: Path, mapping: str | None = None) -> tuple[str, str, str]:
    """Upload ``src`` and check it: (upload page path, check page html, csrf)."""
    resp = await upload(client, src)
    assert resp.status == 303, await resp.text()
    where = resp.headers["Location"]
    html = await (await client.get(where)).text()
    token = csrf_of(html)
    text = mapping if mapping is not None else field_of(html, "mapping")
    resp = await client.post(f"{where}/check", data={"csrf": token, "mapping": text})
    assert resp.status == 200
    return where, await resp.text(), token


async def wait_done(client: Any, run_path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = await (await client.get(f"{run_path}/status.json")).json()
        if status["state"] != "running":
            return dict(status)
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not end in 30 s")


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    return out, mappings


async def test_upload_check_send_watch_results_match_the_cli(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings, sandbox=True))
    src = leads_csv(tmp_path / "leads.csv")
    where, html, token = await to_check(client, src, EXAMPLE.read_text(encoding="utf-8"))
    assert "invalid 1" in html and "valid 11" in html
    assert "Send 11 valid rows to" in html and "127.0.0.1" in html
    assert re.search(r"<td>1</td><td>Phone:[^<]*</td><td>4</td>", html), html
    problems = html.split('id="problems"', 1)[1].split("</table>", 1)[0]
    assert "not a phone" not in problems  # the top problems: reasons and row numbers only
    # The invalid rows: the row with its offending cell marked and the message beside it.
    invalid = html.split('id="invalid-rows"', 1)[1].split("</table>", 1)[0]
    assert re.search(
        r'<th scope="row">4</th>\s*<td>First2</td><td>Last2</td>'
        r'<td class="bad"><mark title="this cell">not a phone</mark></td><td>p2@example.com</td>',
        invalid,
    ), invalid
    assert "Phone: &#39;not a phone&#39; contains letters" in invalid
    assert invalid.count('class="bad"') == 1
    endpoint = field_of(html, "endpoint")
    resp = await client.post(
        f"{where}/send",
        data={
            "csrf": token,
            "endpoint": endpoint,
            "token": TOKEN,
            "rate": "1000",
            "confirm": "yes",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    run_path = resp.headers["Location"]
    status = await wait_done(client, run_path)
    assert (status["state"], status["success"], status["invalid"]) == ("done", 11, 1)
    assert status["done"] == status["total"] == 12
    page = await (await client.get(run_path)).text()
    assert "success 11" in page and "invalid 1" in page
    for name in ("results.csv", "failures.csv", "report.html"):
        assert f"{run_path}/files/{name}" in page
        assert (await client.get(f"{run_path}/files/{name}")).status == 200
    web_dir = out / run_path.rsplit("/", 1)[1]

    stored = next((out / ".uploads").glob("*/upload.csv"))
    cli_out = tmp_path / "cli"
    code, _, stderr = await asyncio.to_thread(
        invoke,
        "run", stored, "-m", EXAMPLE, "--endpoint", endpoint, "--lead-token", TOKEN,
        "--out", cli_out, "--rate", "1000",
    )  # fmt: skip
    assert code == 1, stderr
    ours = [(r["row"], r["status"], r["payload"]) for r in read_results(web_dir)]
    theirs = [(r["row"], r["status"], r["payload"]) for r in read_results(cli_out)]
    assert ours == theirs

    # The token is never written, echoed or logged.
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in page


async def test_a_saved_mapping_whose_columns_match_is_picked(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    (mappings / "other.yaml").write_text(
        "version: 1\ntimezone: UTC\nfields:\n  caller_id: Telephone\n", encoding="utf-8"
    )
    shutil.copy(EXAMPLE, mappings / "vendor.yaml")
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await upload(client, leads_csv(tmp_path / "leads.csv"))
    html = await (await client.get(resp.headers["Location"])).text()
    assert "Using the saved mapping <b>vendor.yaml</b>" in html
    assert field_of(html, "mapping") == EXAMPLE.read_text(encoding="utf-8")


async def test_save_writes_yaml_the_cli_reads(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    src = leads_csv(tmp_path / "leads.csv")
    resp = await upload(client, src)
    where = resp.headers["Location"]
    html = await (await client.get(where)).text()
    assert "A suggested mapping" in html
    text = field_of(html, "mapping")
    resp = await client.post(
        f"{where}/save", data={"csrf": csrf_of(html), "mapping": text, "name": "weekly"}
    )
    assert "Saved as" in await resp.text()
    saved = mappings / "weekly.yaml"
    assert saved.read_text(encoding="utf-8") == text
    code, _, stderr = await asyncio.to_thread(
        invoke, "validate", src, "-m", saved, "--out", tmp_path / "v"
    )
    assert code == 1, stderr  # the broken phone; the mapping itself is usable
    resp = await client.post(
        f"{where}/save", data={"csrf": csrf_of(html), "mapping": text, "name": "../x"}
    )
    assert "Name the mapping with letters" in await resp.text()
    assert not (tmp_path / "x.yaml").exists()


async def test_an_unusable_mapping_is_shown_on_the_mapping_page(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await upload(client, leads_csv(tmp_path / "leads.csv"))
    where = resp.headers["Location"]
    html = await (await client.get(where)).text()
    resp = await client.post(
        f"{where}/check", data={"csrf": csrf_of(html), "mapping": "version: 7\n"}
    )
    assert resp.status == 200
    assert "Cannot check:" in await resp.text()
    again = await (await client.get(where)).text()  # back on the page, the edit is kept
    assert field_of(again, "mapping") == "version: 7\n"


async def test_a_too_large_upload_is_refused_and_not_kept(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(
        create_app(out=out, mappings=mappings, max_upload_bytes=1024 * 1024)
    )
    big = tmp_path / "big.csv"
    big.write_bytes(b"Phone\n" + b"2125550000\n" * 200_000)
    resp = await upload(client, big)
    assert resp.status == 413
    assert await resp.text() == (
        "leadimport: the file is larger than 1 MB, the most this page takes; "
        "split it, or import it from the command line\n"
    )
    assert list((out / ".uploads").iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("run.exe", b"MZ\x90\x00", "not a spreadsheet this tool reads"),
        ("leads.xlsx", b"this is not a workbook", "cannot read the file:"),
    ],
)
async def test_a_file_that_is_not_a_spreadsheet_is_refused(
    aiohttp_client: Any,
    tmp_path: Path,
    folders: tuple[Path, Path],
    name: str,
    content: bytes,
    message: str,
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    path = tmp_path / "file"
    path.write_bytes(content)
    resp = await upload(client, path, name)
    assert resp.status == 400
    text = await resp.text()
    assert text.startswith(f"leadimport: {message}") and text.count("\n") == 1


async def test_upload_names_are_never_used_as_paths(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await upload(client, leads_csv(tmp_path / "leads.csv"), "../../evil.csv")
    assert resp.status == 303
    files = sorted(p.name for p in (out / ".uploads").glob("*/*"))
    assert files == ["original-name.txt", "upload.csv"]  # the name is kept as text only
    assert not (tmp_path / "evil.csv").exists()


async def test_posts_without_the_form_token_or_from_another_site_are_refused(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await upload(client, leads_csv(tmp_path / "leads.csv"))
    where = resp.headers["Location"]
    html = await (await client.get(where)).text()
    mapping = field_of(html, "mapping")
    resp = await client.post(f"{where}/check", data={"mapping": mapping})
    assert resp.status == 403
    assert await resp.text() == (
        "leadimport: refused: the form's security token is missing or wrong\n"
    )
    resp = await client.post(
        f"{where}/check",
        data={"csrf": csrf_of(html), "mapping": mapping},
        headers={"Origin": "https://evil.example"},
    )
    assert resp.status == 403
    assert await resp.text() == "leadimport: refused: the request came from another site\n"
    assert not (out / ".uploads" / where.rsplit("/", 1)[1] / "mapping.yaml").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/runs/..%2F..%2Fetc/status.json",
        "/runs/../status.json",
        "/runs/.uploads/status.json",
        "/runs/%2Fetc/files/results.csv",
        "/uploads/..%2F..%2Fetc",
        "/uploads/0123",
    ],
)
async def test_run_and_upload_ids_cannot_reach_outside_the_output_folder(
    aiohttp_client: Any, folders: tuple[Path, Path], path: str
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await client.get(path)
    assert resp.status == 404
    assert (await resp.text()).count("\n") == 1


async def test_only_the_run_files_meant_for_download_are_served(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    _, html, _ = await to_check(client, leads_csv(tmp_path / "leads.csv"))
    run = re.search(r'href="(/runs/[^/]+)/files/failures.csv"', html)
    assert run
    assert (await client.get(f"{run.group(1)}/files/failures.csv")).status == 200
    assert (await client.get(f"{run.group(1)}/files/summary.json")).status == 404
    assert (await client.get(f"{run.group(1)}/files/..%2Fsummary.json")).status == 404


async def test_a_second_send_while_one_runs_is_told_the_server_is_busy(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    slow = sandbox_factory(latency_ms=(150, 150))
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, html, token = await to_check(
        client, leads_csv(tmp_path / "leads.csv", 8), EXAMPLE.read_text(encoding="utf-8")
    )
    form = {
        "csrf": token,
        "endpoint": slow.endpoint,
        "token": TOKEN,
        "rate": "1000",
        "concurrency": "1",
        "confirm": "yes",
    }
    first = await client.post(f"{where}/send", data=form, allow_redirects=False)
    assert first.status == 303
    second = await client.post(f"{where}/send", data=form, allow_redirects=False)
    assert second.status == 409
    assert await second.text() == (
        f"leadimport: a run is already sending: {first.headers['Location']}\n"
    )
    status = await wait_done(client, first.headers["Location"])
    assert status["success"] == 7


async def test_a_rejected_token_ends_the_run_and_the_page_says_so(
    aiohttp_client: Any, tmp_path: Path, folders: tuple[Path, Path], sandbox_factory: Any
) -> None:
    out, mappings = folders
    strict = sandbox_factory(tokens=("the-right-one",))
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    where, _, token = await to_check(
        client, leads_csv(tmp_path / "leads.csv"), EXAMPLE.read_text(encoding="utf-8")
    )
    resp = await client.post(
        f"{where}/send",
        data={"csrf": token, "endpoint": strict.endpoint, "token": TOKEN, "confirm": "yes"},
        allow_redirects=False,
    )
    status = await wait_done(client, resp.headers["Location"])
    assert status["success"] == 0 and status["exit_code"] == 3
    page = await (await client.get(resp.headers["Location"])).text()
    assert "Aborted:" in page
    assert len(strict.requests()) <= 8  # at most the requests already in flight
    # The page offers to send the rows again, with the right token this time.
    assert "Send the 11 rows again" in page
    sent_before = len(strict.requests())
    resp = await client.post(
        f"{resp.headers['Location']}/rerun",
        data={"csrf": token, "token": "the-right-one"},
        allow_redirects=False,
    )
    status = await wait_done(client, resp.headers["Location"])
    assert (status["success"], status["exit_code"]) == (11, 1)  # row 4 stays invalid
    assert len(strict.requests()) == sent_before + 11


async def test_a_page_asked_for_under_another_host_name_is_refused(
    aiohttp_client: Any, folders: tuple[Path, Path]
) -> None:
    out, mappings = folders
    client = await aiohttp_client(create_app(out=out, mappings=mappings))
    resp = await client.get("/", headers={"Host": "rebound.example:8080"})
    assert resp.status == 421
    assert await resp.text() == "leadimport: refused: open this page as http://127.0.0.1\n"
    assert "csrf" not in await resp.text()
