"""The browser face for a team: the runs page, Stop and "send the rest", the access token,
and accessibility (axe-core in Chromium, keyboard only, 200 % zoom)."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLE, HEADER, ROOT, invoke, read_results

from importer.pipeline import SendOptions, Source, StopSwitch, make_run_dir, past_runs, run
from importer.web import access_token_for, create_app

TOKEN = "tok-TEAM-SECRET-5c0ffee"
AXE = ROOT / "tests" / ".axe" / "node_modules" / "axe-core" / "axe.min.js"


def leads(path: Path, n: int, first_phone: int = 0) -> Path:
    """``n`` valid leads with distinct phones from 212-555-``first_phone``."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            w.writerow(
                [
                    f"First{i}",
                    f"Last{i}",
                    f"(212) 555-{first_phone + i:04d}",
                    f"p{first_phone + i}@example.com",
                    "",
                    "100",
                    "NY",
                    "10001",
                    "x",
                ]
            )
    return path


def successes(run_dir: Path) -> set[int]:
    """The rows the journal holds as sent successfully."""
    found: set[int] = set()
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("e") == "done" and event.get("status") == "success":
            found.add(event["row"])
    return found


def wait_for(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def requested_phones(sandbox: Any) -> list[str]:
    return [r["caller_id"] for r in sandbox.requests()]


# ---------------------------------------------------------------- the core's stop


def test_a_stop_switch_stops_a_run_like_ctrl_c_and_rerun_sends_the_rest(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    slow = sandbox_factory(latency_ms=(100, 100))  # 2 at a time: 3 s, for a stop to land
    src = leads(tmp_path / "leads.csv", 60)
    out = tmp_path / "run"
    switch = StopSwitch()
    options = SendOptions(endpoint=slow.endpoint, lead_token=TOKEN, rate=1000, concurrency=2)
    result: list[Any] = []
    worker = threading.Thread(
        target=lambda: result.append(
            run(Source(src), EXAMPLE, options, out=out, handle_signals=False, stop=switch)
        )
    )
    worker.start()
    wait_for(lambda: len(successes(out)) >= 5)
    switch.stop()
    worker.join(30)
    summary = result[0]
    assert summary.interrupted and summary.exit_code == 130
    statuses = [r["status"] for r in read_results(out)]
    assert len(statuses) == 60 and "not_sent" in statuses
    assert set(statuses) <= {"success", "not_sent"}
    assert past_runs(tmp_path)[0].status == "interrupted"

    code, _, stderr = invoke("rerun", out, "--lead-token", TOKEN, "--rate", "1000")
    assert code == 0, stderr
    phones = requested_phones(slow)
    assert len(phones) == len(set(phones)) == 60  # graceful: nothing sent twice
    assert past_runs(tmp_path)[0].status == "done"


def test_a_stop_asked_before_the_run_starts_sends_nothing(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory()
    switch = StopSwitch()
    switch.stop()
    summary = run(
        Source(leads(tmp_path / "leads.csv", 5)),
        EXAMPLE,
        SendOptions(endpoint=server.endpoint, lead_token=TOKEN),
        out=tmp_path / "run",
        handle_signals=False,
        stop=switch,
    )
    assert summary.interrupted and summary.counts == {"not_sent": 5}
    assert server.requests() == []


def test_a_killed_send_is_listed_as_interrupted_with_its_journal_counts(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(latency_ms=(50, 50))
    src = leads(tmp_path / "leads.csv", 200)
    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "run", str(src), "-m", str(EXAMPLE),
         "--endpoint", server.endpoint, "--lead-token", TOKEN, "--out", str(out),
         "--rate", "1000", "--concurrency", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for(lambda: len(successes(out)) >= 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert past_runs(tmp_path) == []  # no summary: the command line's list is unchanged
    found = past_runs(tmp_path, unfinished=True)
    assert [r.status for r in found] == ["interrupted"]
    assert found[0].sent and found[0].counts["success"] >= 10


# ---------------------------------------------------------------- pages over HTTP


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def test_the_runs_page_lists_runs_of_the_cli_and_of_the_page(
    aiohttp_client: Any, tmp_path: Path, sandbox_factory: Any
) -> None:
    from importer.web._app import SETTINGS

    server = sandbox_factory()
    out = tmp_path / "output"
    code, _, stderr = await asyncio.to_thread(
        invoke, "run", leads(tmp_path / "cli.csv", 4), "-m", EXAMPLE,
        "--endpoint", server.endpoint, "--lead-token", TOKEN, "--out", out / "from-the-cli",
    )  # fmt: skip
    assert code == 0, stderr
    code, _, stderr = await asyncio.to_thread(
        invoke, "validate", leads(tmp_path / "checked.csv", 3), "-m", EXAMPLE,
        "--out", out / "only-checked",
    )  # fmt: skip
    assert code == 0, stderr
    app = create_app(out=out, mappings=tmp_path / "mappings")
    client = await aiohttp_client(app)
    sender = app[SETTINGS].sender
    src = leads(tmp_path / "page.csv", 6, 100)
    run_dir = make_run_dir(None, src, out)
    job = sender.start(
        Source(src), EXAMPLE, run_dir, out, SendOptions(endpoint=server.endpoint, lead_token=TOKEN)
    )
    assert job is not None and job.thread is not None
    await asyncio.to_thread(job.thread.join, 30)

    resp = await client.get("/runs")
    assert resp.status == 200
    html = await resp.text()
    rows = re.findall(r'<tr class="run (\w+)" data-run="([^"]+)">(.*?)</tr>', html, re.S)
    by_name = {name: (status, body) for status, name, body in rows}
    assert set(by_name) == {"from-the-cli", "only-checked", run_dir.name}
    status, body = by_name["from-the-cli"]
    assert status == "done" and "cli.csv" in body and "sent" in body and "success 4" in body
    assert f"127.0.0.1:{server.port}" in body
    assert 'href="/runs/from-the-cli"' in body
    assert 'href="/runs/from-the-cli/files/report.html"' in body
    status, body = by_name["only-checked"]
    assert "only checked" in body and "valid 3" in body
    status, body = by_name[run_dir.name]
    assert status == "done" and "page.csv" in body and "success 6" in body
    assert '<a href="/runs" id="nav-runs">' in html  # every page's header links here
    assert TOKEN not in html


async def test_stop_then_send_the_rest_sends_every_row_once(
    aiohttp_client: Any, tmp_path: Path, sandbox_factory: Any
) -> None:
    from importer.web._app import SETTINGS

    slow = sandbox_factory(latency_ms=(100, 100))
    out = tmp_path / "output"
    app = create_app(out=out, mappings=tmp_path / "mappings")
    client = await aiohttp_client(app)
    src = leads(tmp_path / "leads.csv", 60)
    run_dir = make_run_dir(None, src, out)
    options = SendOptions(endpoint=slow.endpoint, lead_token=TOKEN, rate=1000, concurrency=2)
    job = app[SETTINGS].sender.start(Source(src), EXAMPLE, run_dir, out, options)
    assert job is not None and job.thread is not None
    watch = await (await client.get(f"/runs/{run_dir.name}")).text()
    assert 'id="stop"' in watch
    await asyncio.to_thread(wait_for, lambda: len(successes(run_dir)) >= 4)

    refused = await client.post(f"/runs/{run_dir.name}/stop", data={"csrf": "wrong"})
    assert refused.status == 403 and job.running
    resp = await client.post(
        f"/runs/{run_dir.name}/stop", data={"csrf": csrf_of(watch)}, allow_redirects=False
    )
    assert (resp.status, resp.headers["Location"]) == (303, f"/runs/{run_dir.name}")
    await asyncio.to_thread(job.thread.join, 30)
    page = await (await client.get(f"/runs/{run_dir.name}")).text()
    assert "not_sent" in page and 'id="rest-form"' in page
    assert f'value="{slow.endpoint}"' in page
    runs = await (await client.get("/runs")).text()
    assert f'<tr class="run interrupted" data-run="{run_dir.name}">' in runs

    form = {"csrf": csrf_of(page), "endpoint": slow.endpoint, "token": TOKEN}
    resp = await client.post(f"/runs/{run_dir.name}/rest", data=form)
    assert resp.status == 400  # not confirmed: nothing sent
    resp = await client.post(
        f"/runs/{run_dir.name}/rest", data={**form, "confirm": "yes"}, allow_redirects=False
    )
    assert resp.status == 303
    rest = app[SETTINGS].sender.jobs[run_dir.name]
    assert rest is not job and rest.thread is not None
    await asyncio.to_thread(rest.thread.join, 30)
    assert rest.exit_code == 0, rest.error
    assert {r["status"] for r in read_results(run_dir)} == {"success"}
    phones = requested_phones(slow)
    assert len(phones) == len(set(phones)) == 60
    runs = await (await client.get("/runs")).text()
    assert f'<tr class="run done" data-run="{run_dir.name}">' in runs
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


async def test_send_the_rest_with_another_token_is_refused_and_sends_nothing(
    aiohttp_client: Any, tmp_path: Path, sandbox_factory: Any
) -> None:
    from importer.web._app import SETTINGS

    server = sandbox_factory()
    out = tmp_path / "output"
    src = leads(tmp_path / "leads.csv", 5)
    switch = StopSwitch()
    switch.stop()
    run_dir = out / "stopped"
    opts = SendOptions(endpoint=server.endpoint, lead_token=TOKEN)
    await asyncio.to_thread(
        run, Source(src), EXAMPLE, opts, out=run_dir, handle_signals=False, stop=switch
    )
    app = create_app(out=out, mappings=tmp_path / "mappings")
    client = await aiohttp_client(app)
    page = await (await client.get("/runs/stopped/rest")).text()
    assert "not_sent 5" in page
    resp = await client.post(
        "/runs/stopped/rest",
        data={"csrf": csrf_of(page), "token": "another-token", "confirm": "yes"},
        allow_redirects=False,
    )
    assert resp.status == 303
    job = app[SETTINGS].sender.jobs["stopped"]
    assert job.thread is not None
    await asyncio.to_thread(job.thread.join, 30)
    page = await (await client.get("/runs/stopped")).text()
    assert "the lead token differs from the one this run used" in page
    assert server.requests() == []


# ---------------------------------------------------------------- the access token


def test_a_token_is_needed_on_any_address_but_loopback() -> None:
    assert access_token_for("127.0.0.1", None) is None
    assert access_token_for("::1", None) is None
    assert access_token_for("localhost", None) is None
    made = access_token_for("0.0.0.0", None)
    assert made is not None and len(made) >= 40
    assert access_token_for("0.0.0.0", None) != made
    assert access_token_for("192.0.2.7", "given") == "given"
    assert access_token_for("127.0.0.1", "given") == "given"


async def test_every_request_without_the_access_token_gets_401(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(
        create_app(out=tmp_path / "output", mappings=tmp_path / "m", access_token="s3cret-team")
    )
    for path in ("/", "/runs", "/static/app.css", "/runs/x/status.json", "/nowhere"):
        resp = await client.get(path)
        assert resp.status == 401, path
        assert "needs its access token" in await resp.text()
    assert (await client.post("/upload", data={"csrf": "x"})).status == 401
    assert (await client.get("/?access=wrong")).status == 401
    assert (await client.get("/", headers={"Cookie": "leadimport_access=wrong"})).status == 401

    resp = await client.get("/runs?access=s3cret-team&x=1", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/runs?x=1")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("leadimport_access=s3cret-team;")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    resp = await client.get("/runs")  # the client keeps the cookie, as a browser does
    assert resp.status == 200
    # With the token, a name other than 127.0.0.1 is served: the team's address for it.
    resp = await client.get("/", headers={"Host": "leads.example.internal:8080"})
    assert resp.status == 200


def _serve(out: Path, *args: str) -> tuple[subprocess.Popen[str], str, list[str], threading.Thread]:
    """``leadimport serve`` in a child: (process, the 127.0.0.1 URL printed, stderr, its reader)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "serve", "--port", "0", "--out", str(out),
         "--mappings", str(out.parent / "mappings"), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if k != "LEADIMPORT_ACCESS_TOKEN"},
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    url = ""
    deadline = time.monotonic() + 30
    while not url and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise AssertionError(f"serve ended: {''.join(lines)}")
        lines.append(line)
        found = re.search(r"http://127\.0\.0\.1:\d+/\S*", line)
        url = found.group(0) if found else ""
    stream = proc.stderr
    # Read the rest of stderr so that the child never blocks on a full pipe.
    reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
    reader.start()
    return proc, url, lines, reader


def _get(url: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    procs: list[tuple[subprocess.Popen[str], threading.Thread]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc, url, _, reader = _serve(tmp_path / "output", *args)
        procs.append((proc, reader))
        return proc, url

    yield start
    for proc, reader in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(10)
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_on_0_0_0_0_prints_a_url_with_a_token_and_wants_it(served: Any) -> None:
    _, url = served("--host", "0.0.0.0")
    token = url.split("?access=", 1)[1]
    base = url.split("?", 1)[0]
    status, _, body = _get(base)
    assert status == 401 and "needs its access token" in body
    status, headers, _ = _get(base + "?access=" + token[:-1] + "x")
    assert status == 401
    status, headers, _ = _get(url)
    assert status == 303 and headers["Location"] == "/"
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    status, _, body = _get(base + "runs", cookie)
    assert status == 200 and "<h1>Runs</h1>" in body


def test_serve_takes_the_access_token_from_the_environment_and_never_prints_it(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "LEADIMPORT_ACCESS_TOKEN": "team-token-from-env"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer", "serve", "--host", "0.0.0.0", "--port", "0",
         "--out", str(tmp_path / "o")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "with your access token" in line and "team-token-from-env" not in line
        base = re.findall(r"http://127\.0\.0\.1:\d+/", line)[0]
        assert _get(base)[0] == 401
        assert _get(base + "?access=team-token-from-env")[0] == 303
    finally:
        proc.kill()
        proc.communicate()


def test_serve_on_loopback_needs_no_token_as_before(served: Any) -> None:
    _, url = served()
    assert "access" not in url
    assert _get(url)[0] == 200


def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, stderr = invoke("serve", "--port", port, "--out", tmp_path / "o")
    assert code == 2
    assert stderr.startswith(f"leadimport: error: cannot listen on 127.0.0.1 port {port} (")
    assert stderr.endswith("choose another --port or --host\n") and stderr.count("\n") == 1


async def _send_through_the_pages(base: str, src: Path, endpoint: str) -> str:
    """Upload, check and send ``src`` as the page's forms do; the run's path."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        token = csrf_of(await (await session.get(base)).text())
        form = aiohttp.FormData()
        form.add_field("csrf", token)
        form.add_field("file", src.read_bytes(), filename=src.name)
        resp = await session.post(base + "upload", data=form, allow_redirects=False)
        where = base + resp.headers["Location"].lstrip("/")
        mapping = EXAMPLE.read_text(encoding="utf-8")
        resp = await session.post(where + "/check", data={"csrf": token, "mapping": mapping})
        assert resp.status == 200
        resp = await session.post(
            where + "/send",
            data={"csrf": token, "endpoint": endpoint, "token": TOKEN, "rate": "1000",
                  "concurrency": "2", "confirm": "yes"},
            allow_redirects=False,
        )  # fmt: skip
        assert resp.status == 303, await resp.text()
        return str(resp.headers["Location"])


async def test_sigterm_on_the_server_stops_its_send_as_ctrl_c_does(
    tmp_path: Path, sandbox_factory: Any, served: Any
) -> None:
    slow = sandbox_factory(latency_ms=(100, 100))
    proc, url = served()
    run_dir = (
        tmp_path
        / "output"
        / (
            await _send_through_the_pages(url, leads(tmp_path / "leads.csv", 100), slow.endpoint)
        ).rsplit("/", 1)[1]
    )
    await asyncio.to_thread(wait_for, lambda: len(successes(run_dir)) >= 5)
    proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(proc.wait, 30)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] and summary["counts"]["not_sent"] > 0
    assert summary["counts"]["success"] == len(successes(run_dir))
    assert len(slow.requests()) == summary["counts"]["success"]  # in flight: finished


# ---------------------------------------------------------------- in Chromium


def _axe(page: Any, where: str) -> None:
    """Run axe-core on the page; fail on any serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{where}: {bad}"


def _fits(page: Any, where: str) -> None:
    """Nothing wider than the window: no horizontal scroll."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{where}: {width[0]} px wide in a {width[1]} px window"


def _tab_to(page: Any, matches: str, presses: int = 40) -> None:
    """Press Tab until the focused element matches the JS predicate ``matches(el)``."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return {matches}; }}"):
            return
    raise AssertionError(f"Tab never reached {matches}")


def _button(text: str) -> str:
    return f"el.tagName === 'BUTTON' && /^{text}/i.test(el.textContent.trim())"


def _named(name: str) -> str:
    return f"el.name === '{name}'"


@pytest.fixture(scope="module")
def axe_core() -> Path:
    """axe-core from the npm registry, once, into a git-ignored folder of the tests."""
    if not AXE.exists():
        if shutil.which("npm") is None and not os.environ.get("CI"):
            pytest.skip("npm is not installed (apt-get install -y npm): no axe-core")
        subprocess.run(
            ["npm", "install", "--prefix", str(AXE.parents[2]), "--no-audit", "--no-fund",
             "--loglevel=error", "axe-core@4"],
            check=True, timeout=300,
        )  # fmt: skip
    return AXE


@pytest.mark.browser
def test_a_team_stops_restarts_and_finishes_runs_in_chromium(
    tmp_path: Path, sandbox_factory: Any, served: Any, axe_core: Path
) -> None:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    slow = sandbox_factory(latency_ms=(100, 100))  # 2 at a time: 20 rows/s
    out = tmp_path / "output"
    stopped_src = leads(tmp_path / "monday.csv", 100)
    killed_src = leads(tmp_path / "tuesday.csv", 120, 1000)
    code, _, stderr = invoke(
        "run", leads(tmp_path / "cli.csv", 3, 5000), "-m", EXAMPLE,
        "--endpoint", slow.endpoint, "--lead-token", TOKEN, "--out", out / "by-the-cli",
    )  # fmt: skip
    assert code == 0, stderr
    proc, url = served("--host", "0.0.0.0")
    base = url.split("?", 1)[0]
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            # axe can fail: a control without a label, a page without a language.
            page.set_content("<html><body><main><input></main></body></html>")
            with pytest.raises(AssertionError, match="label"):
                _axe(page, "a page made to fail")
            page.goto(base)
            assert "needs its access token" in page.inner_text("body")
            _axe(page, "the 401 page")
            page.goto(url)
            assert page.url == base  # the token left the address bar for a cookie
            cookie = next(c for c in context.cookies() if c["name"] == "leadimport_access")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            _axe(page, "upload")

            # Keyboard only: upload, map, check, and the send form.
            _tab_to(page, "el.type === 'file'")
            with page.expect_file_chooser() as chooser:
                page.keyboard.press("Space")
            chooser.value.set_files(str(stopped_src))
            _tab_to(page, _button("upload"))
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r"/uploads/"))
            map_path = page.url.split("/", 3)[3]
            _axe(page, "map")
            _tab_to(page, _button(r"(3\. )?check"), 200)
            page.keyboard.press("Enter")
            page.wait_for_selector("input[name=confirm]")
            _axe(page, "check")
            _tab_to(page, _named("endpoint"))
            page.keyboard.press("Control+A")
            page.keyboard.type(slow.endpoint)
            _tab_to(page, _named("token"))
            page.keyboard.type(TOKEN)
            _tab_to(page, _named("rate"))
            page.keyboard.press("Control+A")
            page.keyboard.type("1000")
            _tab_to(page, _named("concurrency"))
            page.keyboard.press("Control+A")
            page.keyboard.type("2")
            _tab_to(page, _named("confirm"))
            page.keyboard.press("Space")
            _tab_to(page, _button("send"))
            page.keyboard.press("Enter")

            # Watch, then Stop half way.
            page.wait_for_selector("#stop")
            first = out / page.url.rsplit("/", 1)[1]
            _axe(page, "watch")
            wait_for(lambda: len(successes(first)) >= 3)
            page.click("#stop")
            page.wait_for_selector("#rest-form", timeout=30_000)
            assert "not_sent" in page.inner_text("#counts")
            _axe(page, "results of a stopped run")
            page.fill("#rest-token", TOKEN)
            page.check("#rest-confirm")
            page.click("#send-rest")
            page.wait_for_selector("#results", timeout=30_000)
            page.wait_for_function("() => !document.querySelector('#watch')")
            assert "success 100" in page.inner_text("#counts")
            _axe(page, "results")
            run_path = page.url.split("/", 3)[3]

            # A second file; the server is killed half way through it.
            page.goto(base)
            page.set_input_files("input[type=file]", str(killed_src))
            page.get_by_role("button", name=re.compile("upload", re.I)).click()
            page.wait_for_url(re.compile(r"/uploads/"))
            page.get_by_role("button", name=re.compile(r"^(3\. )?check", re.I)).click()
            page.fill("input[name=endpoint]", slow.endpoint)
            page.fill("input[name=token]", TOKEN)
            page.fill("input[name=rate]", "1000")
            page.fill("input[name=concurrency]", "2")
            page.check("input[name=confirm]")
            page.get_by_role("button", name=re.compile("^send", re.I)).click()
            page.wait_for_selector("#stop")
            second = out / page.url.rsplit("/", 1)[1]
            wait_for(lambda: len(successes(second)) >= 10)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done_before = successes(second)
            sent_before = len(slow.requests())

            _, url = served("--host", "0.0.0.0")
            base = url.split("?", 1)[0]
            page.goto(url)
            page.click("#nav-runs")
            page.wait_for_selector("#runs")
            _axe(page, "runs")
            rows = {
                r.get_attribute("data-run"): r.get_attribute("class")
                for r in page.locator("#runs tr.run").all()
            }
            sent = {k: v for k, v in rows.items() if k in ("by-the-cli", first.name, second.name)}
            assert sent == {
                "by-the-cli": "run done",
                first.name: "run done",
                second.name: "run interrupted",
            }
            assert len(rows) == 5  # and the two checks the page made: "only checked"
            assert page.locator("#runs").get_by_text("only checked").count() == 2
            assert page.locator("#runs").get_by_text("tuesday.csv").count() == 2
            page.click(f"tr[data-run='{second.name}'] a.finish")
            page.wait_for_selector("#rest-form")
            _axe(page, "send the rest")
            page.fill("#rest-token", TOKEN)
            page.check("#rest-confirm")
            page.click("#send-rest")
            page.wait_for_selector("#results", timeout=60_000)
            assert "success 120" in page.inner_text("#counts")

            # 200 % zoom of a 1280 px window: a 640 px wide page at twice the pixels.
            zoomed = context.browser.new_page(
                viewport={"width": 640, "height": 800}, device_scale_factor=2
            )
            for cookie in context.cookies():
                zoomed.context.add_cookies([cookie])
            for path in ("", map_path, "runs", run_path, f"runs/{second.name}"):
                zoomed.goto(base + path)
                _fits(zoomed, path or "upload")
            zoomed.goto(base + map_path)
            zoomed.get_by_role("button", name=re.compile(r"^(3\. )?check", re.I)).click()
            zoomed.wait_for_selector("input[name=confirm]")
            _fits(zoomed, "check")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert errors == []

    # Stopped, then finished: every row of the first file was sent exactly once.
    phones = [r["caller_id"] for r in slow.requests()]
    monday = {f"+1212555{i:04d}" for i in range(100)}
    assert sorted(p for p in phones if p in monday) == sorted(monday)
    # Killed, then finished: no row the journal held as sent was sent again.
    by_row = {int(r["row"]): r["caller_id"] for r in read_results(second)}
    resent = {r["caller_id"] for r in slow.requests()[sent_before:]}
    assert not {by_row[row] for row in done_before} & resent
    assert {r["status"] for r in read_results(second)} == {"success"}
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
