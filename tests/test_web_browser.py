"""The browser face in Chromium, as a person uses it: drop a workbook, pick its sheet, change
the mapping in the table, check, send to the sandbox, watch, download, send again.

What the page produced is compared with what `leadimport run` (the real CLI) produces for
the same file and the mapping the page saved. A screenshot of the page is written into the
test's tmp folder on failure; WEB_SCREENSHOTS=docs writes the README's pictures
(docs/web-map.png, docs/web-check.png, docs/web.png).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLE, ROOT, invoke, read_results
from test_web import leads_csv
from test_web_map import two_sheets

from importer.config import load_mapping
from importer.sandbox import SandboxServer
from importer.web import LOOPBACK, create_app

pytestmark = pytest.mark.browser
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def sync_api() -> Any:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return pytest.importorskip("playwright.sync_api")


@contextmanager
def serving(**settings: Any) -> Iterator[str]:
    """The app of ``leadimport serve`` on a free 127.0.0.1 port, in a thread: its base URL."""
    from aiohttp import web

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(**settings))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, LOOPBACK, 0).start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


@contextmanager
def chromium(sync_api: Any, tmp_path: Path) -> Iterator[Any]:
    """A page in headless Chromium; a screenshot in ``tmp_path`` if the test fails in it."""
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            yield page
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert errors == []


def drop_file(page: Any, path: Path, kind: str = "text/csv") -> None:
    """Drop ``path`` on the upload zone, as a file dragged from the desktop."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(
        """([b64, name, kind]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: kind}));
            return transfer;
        }""",
        [data, path.name, kind],
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def choose(page: Any, column: str, choice: str) -> None:
    page.select_option(f'tr[data-column="{column}"] select', choice)


def yaml_shows(page: Any, text: str) -> None:
    """Wait until the advanced view's YAML holds ``text`` (the table's choices applied)."""
    page.wait_for_function(
        "text => document.getElementById('mapping').value.includes(text)", arg=text
    )


AXE = ROOT / "tests" / ".axe" / "node_modules" / "axe-core" / "axe.min.js"


def accessible(page: Any, where: str) -> None:
    """No serious or critical axe-core finding on the page (when test_web_team has fetched
    axe-core into tests/.axe; the team tests run it on every screen too)."""
    if not AXE.is_file():
        return
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{where}: {bad}"


def screenshots() -> Callable[[Any, str], None]:
    folder = os.environ.get("WEB_SCREENSHOTS")

    def take(page: Any, name: str) -> None:
        if folder:
            page.screenshot(path=str(Path(folder) / name), full_page=True)

    return take


def test_a_workbook_from_drop_to_results_like_the_cli(sync_api: Any, tmp_path: Path) -> None:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    book = two_sheets(tmp_path / "vendor-leads.xlsx")
    shoot = screenshots()
    with (
        serving(out=out, mappings=mappings, sandbox=True) as base,
        chromium(sync_api, tmp_path) as page,
    ):
        page.goto(base + "/")
        accessible(page, "upload")
        drop_file(page, book, XLSX)
        page.wait_for_selector("#map-table")
        assert page.locator("#suggested").is_visible()
        # The first sheet is a note: pick the leads.
        assert page.input_value("#sheet") == "Notes"
        page.select_option("#sheet", "Leads")
        page.click("#sheet-button")
        page.wait_for_selector('tr[data-column="Phone"]')
        assert page.input_value("#sheet") == "Leads"
        assert page.input_value('tr[data-column="Phone"] select') == "field:caller_id"
        assert page.input_value('tr[data-column="E-mail"] select') == "field:email"
        # Change choices in the table: Source is not sent, Amount becomes amount_usd.
        choose(page, "Source", "ignore")
        page.fill('tr[data-column="Amount"] input.token', "amount_usd")
        choose(page, "Amount", "data")
        page.fill("#timezone", "America/New_York")
        page.fill("#calling-hours", "")  # callbacks at any hour, as the vendor wrote them
        page.check("#strict")  # a bad e-mail makes the row invalid, not a warning
        yaml_shows(page, "strict: true")
        yaml_shows(page, "amount_usd: Amount")
        assert "source: Source" not in page.input_value("#mapping")
        page.fill("#name", "vendor")
        shoot(page, "web-map.png")
        accessible(page, "map")
        page.click("#save")
        page.wait_for_selector("#message")
        assert "Saved as" in page.inner_text("#message")
        page.click("#check")
        page.wait_for_selector("#counts")
        assert "invalid 2" in page.inner_text("#counts")
        # The invalid rows, their offending cell marked and the message beside it.
        bad = page.locator("#invalid-rows tbody tr")
        assert bad.count() == 2
        assert bad.nth(0).locator("th").inner_text() == "72"
        assert bad.nth(0).locator("td.bad").inner_text() == "sofia.null9044 at example.com"
        assert "is not a valid email address" in bad.nth(0).locator("td.problem").inner_text()
        shoot(page, "web-check.png")
        accessible(page, "check")
        page.fill("#token", "any-token")
        page.fill("input[name=rate]", "40")
        page.check("#confirm")
        assert page.inner_text("#host") == "127.0.0.1"
        page.click("#send")
        page.wait_for_selector("#watch, #results")
        # Watch: the rate appears, or the run has already ended.
        page.wait_for_function(
            "() => !document.getElementById('rate') "
            "|| /[0-9]/.test(document.getElementById('rate').textContent)"
        )
        page.wait_for_selector("#results", timeout=60_000)
        assert "success 95" in page.inner_text("#counts")
        assert page.locator("#rerun-form").count() == 0  # nothing failed
        with page.expect_download() as download:
            page.click("#downloads a[href$='/results.csv']")
        web_results = tmp_path / "web-results.csv"
        download.value.save_as(web_results)
    # The page's mapping is the saved one, as the CLI reads it.
    upload_dir = next((out / ".uploads").iterdir())
    saved = mappings / "vendor.yaml"
    assert replace(load_mapping(saved), path=upload_dir / "mapping.yaml") == load_mapping(
        upload_dir / "mapping.yaml"
    )
    stored = upload_dir / "upload.xlsx"
    with SandboxServer() as sandbox:
        code, _, stderr = invoke(
            "run", stored, "--sheet", "Leads", "-m", saved, "--endpoint", sandbox.endpoint,
            "--lead-token", "any-token", "--out", tmp_path / "cli", "--rate", "2000",
        )  # fmt: skip
    assert code == 1, stderr
    with web_results.open(newline="", encoding="utf-8") as fh:
        ours = [(r["row"], r["status"], r["payload"]) for r in csv.DictReader(fh)]
    theirs = [(r["row"], r["status"], r["payload"]) for r in read_results(tmp_path / "cli")]
    assert ours == theirs
    assert len(ours) == 97
    assert '"amount_usd":' in ours[0][2] and '"source"' not in ours[0][2]


def test_refusals_are_said_on_the_page(sync_api: Any, tmp_path: Path, sandbox_factory: Any) -> None:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    big = tmp_path / "big.csv"
    big.write_bytes(b"Phone\n" + b"2125550000\n" * 3000)
    not_sheet = tmp_path / "notes.pdf"
    not_sheet.write_bytes(b"%PDF-1.4 not a spreadsheet")
    fake_book = tmp_path / "fake.xlsx"
    fake_book.write_bytes(b"this is not a workbook")
    strict = sandbox_factory(tokens=("the-right-token",))
    with (
        serving(out=out, mappings=mappings, max_upload_bytes=20_000) as base,
        serving_evil() as evil,
        chromium(sync_api, tmp_path) as page,
    ):
        page.goto(base + "/")
        assert "at most 19 KB" in page.inner_text("#drop")
        # Too large: said before a byte is sent (the server refuses it too: test_web).
        page.set_input_files("#file", str(big))
        page.click("#upload-button")
        page.wait_for_selector("#upload-error:not([hidden])")
        assert page.inner_text("#upload-error") == (
            "leadimport: the file is larger than 19 KB, the most this page takes; "
            "split it, or import it from the command line"
        )
        # Not a spreadsheet, by its name or by its content.
        for path, words in (
            (not_sheet, "leadimport: not a spreadsheet this tool reads; choose a csv,"),
            (fake_book, "leadimport: cannot read the file: "),
        ):
            drop_file(page, path)
            page.wait_for_function(
                "words => document.getElementById('upload-error').textContent.startsWith(words)",
                arg=words,
            )
        assert not (out / ".uploads").exists() or list((out / ".uploads").iterdir()) == []

        # A token the endpoint rejects: the page says so, and nothing more is sent.
        page.set_input_files("#file", str(leads_csv(tmp_path / "leads.csv", 40)))
        page.click("#upload-button")
        page.wait_for_selector("#map-table")
        page.fill("#timezone", "UTC")
        page.click("#check")
        page.fill("#endpoint", strict.endpoint)
        page.fill("#token", "a-wrong-token")
        page.check("#confirm")
        page.click("#send")
        page.wait_for_selector("#results", timeout=60_000)
        assert "Aborted:" in page.inner_text("#aborted")
        assert "token" in page.inner_text("#aborted")
        assert len(strict.requests()) <= 8  # the requests already in flight, no more
        assert "a-wrong-token" not in page.content()

        # A form posted from another site's page is refused, even with the form's token.
        csrf = (
            page.input_value("input[name=csrf]") if page.locator("input[name=csrf]").count() else ""
        )
        upload_path = next((out / ".uploads").iterdir()).name
        action = f"{base}/uploads/{upload_path}/sheet"
        page.goto(evil + "?" + urlencode({"action": action, "csrf": csrf}))
        page.wait_for_function("() => document.body.innerText.includes('refused')")
        assert page.inner_text("body").strip() == (
            "leadimport: refused: the request came from another site"
        )
        assert not (out / ".uploads" / upload_path / "sheet").exists()


@contextmanager
def serving_evil() -> Iterator[str]:
    """Another site (another port is another origin): a page that posts a form to ?action."""
    from aiohttp import web

    async def page(request: web.Request) -> web.Response:
        action, csrf = request.query["action"], request.query["csrf"]
        return web.Response(
            content_type="text/html",
            text=f"""<!doctype html><form id="f" method="post" action="{action}">
                <input name="csrf" value="{csrf}"><input name="sheet" value="Leads">
                </form><script>document.getElementById("f").submit()</script>""",
        )

    app = web.Application()
    app.router.add_get("/", page)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, LOOPBACK, 0).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{runner.addresses[0][1]}/"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_send_failed_rows_again(sync_api: Any, tmp_path: Path, sandbox_factory: Any) -> None:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "vendor.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    quota = sandbox_factory(throttle_first=3)  # an account at its quota: 3 answers of 429
    shoot = screenshots()
    with serving(out=out, mappings=mappings) as base, chromium(sync_api, tmp_path) as page:
        page.goto(base + "/")
        page.set_input_files("#file", str(leads_csv(tmp_path / "leads.csv")))
        page.click("#upload-button")
        page.wait_for_selector("#map-table")
        assert "vendor.yaml" in page.inner_text("#saved")  # picked by its columns
        page.fill("#send-max-attempts", "1")
        yaml_shows(page, "max_attempts: 1")
        page.click("#check")
        page.fill("#endpoint", quota.endpoint)
        page.fill("#token", "tok-1")
        page.fill("input[name=concurrency]", "1")
        page.check("#confirm")
        page.click("#send")
        page.wait_for_selector("#rerun-form", timeout=60_000)
        assert "failed 3" in page.inner_text("#counts")
        assert "throttled 3" in page.inner_text("#counts")
        shoot(page, "web.png")
        accessible(page, "results with send again")
        page.fill("#rerun-token", "tok-1")
        page.click("#rerun")
        page.wait_for_function(
            "() => document.getElementById('counts') "
            "&& document.getElementById('counts').textContent.includes('success 11')",
            timeout=60_000,
        )
        assert page.locator("#rerun-form").count() == 0
        assert "failed" not in page.inner_text("#counts")
    assert len(quota.requests()) == 14  # 11, then the 3 that failed: none sent twice


def test_without_javascript_the_forms_still_work(sync_api: Any, tmp_path: Path) -> None:
    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    with (
        serving(out=out, mappings=mappings) as base,
        sync_api.sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(java_script_enabled=False)
            page.set_default_timeout(20_000)
            page.goto(base + "/")
            page.set_input_files("#file", str(leads_csv(tmp_path / "leads.csv")))
            page.click("#upload-button")
            page.wait_for_selector("#map-table")
            choose(page, "Source", "ignore")  # no script: the YAML view is not updated…
            page.fill("#timezone", "UTC")
            page.click("#check")  # …and the server applies the table's choices all the same
            page.wait_for_selector("#counts")
            assert "valid 11" in page.inner_text("#counts")
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    mapping = next((out / ".uploads").iterdir()) / "mapping.yaml"
    assert "Source" not in mapping.read_text(encoding="utf-8")
    assert load_mapping(mapping).timezone == "UTC"


def test_warnings_and_the_live_throttled_count_in_chromium(
    sync_api: Any, tmp_path: Path, sandbox_factory: Any
) -> None:
    from test_web_warnings import MAPPING, UNGUARDED, warned_csv

    out, mappings = tmp_path / "output", tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "callbacks.yaml").write_text(MAPPING, encoding="utf-8")
    # 2 answers of 429 (Retry-After: 1), then 30 rows at 100 ms, one at a time: seconds of
    # sending after the last 429, for the page's poll (each second) to show it.
    quota = sandbox_factory(throttle_first=2, latency_ms=(100, 100))
    with serving(out=out, mappings=mappings) as base, chromium(sync_api, tmp_path) as page:
        page.goto(base + "/")
        page.set_input_files("#file", str(warned_csv(tmp_path / "leads.csv", 30)))
        page.click("#upload-button")
        page.wait_for_selector("#map-table")
        assert "callbacks.yaml" in page.inner_text("#saved")
        page.click("#check")
        page.wait_for_selector("#warnings")
        kinds = page.locator("#warnings tbody tr")
        assert [kinds.nth(i).inner_text().split("\t")[0] for i in range(2)] == ["1", "1"]
        assert page.inner_text("#unguarded").startswith(UNGUARDED)
        assert page.locator("#warned-rows tbody th").all_inner_texts() == ["2"]
        accessible(page, "check with warnings")
        page.fill("#endpoint", quota.endpoint)
        page.fill("#token", "tok-1")
        page.fill("input[name=concurrency]", "1")
        page.check("#confirm")
        page.click("#send")
        page.wait_for_selector("#watch")
        page.wait_for_function(
            "() => document.getElementById('watch') "
            "&& document.getElementById('throttled').textContent === '2'",
            timeout=30_000,
        )
        page.wait_for_selector("#results", timeout=60_000)
        assert "throttled 2" in page.inner_text("#counts")
        assert "success 30" in page.inner_text("#counts")
        assert page.locator("#warned-rows tbody th").all_inner_texts() == ["2"]
        accessible(page, "results with warnings")
