"""The team's pages: past runs, Stop for the run sending, and "send the rest" of a stopped one."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path, PureWindowsPath
from typing import Any

from aiohttp import web

from importer.errors import ImporterError
from importer.pipeline import PastRun, SendOptions, past_run, past_runs, rerun_endpoint
from importer.record import REPORT_FILE, RUN_FILE
from importer.web._app import SETTINGS, Settings, check_csrf, refuse_while_sending, render

NAME_FILE = "original-name.txt"  # beside an upload: the name it had on the user's machine
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")

routes = web.RouteTableDef()


def remember_name(folder: Path, filename: str) -> None:
    """Keep an upload's own file name beside it, for the runs page (never used as a path)."""
    name = _UNPRINTABLE.sub("_", PureWindowsPath(filename).name)[:200]  # C:\\…\\x.csv too
    (folder / NAME_FILE).write_text(name, encoding="utf-8")


def _file_name(input_path: str) -> str:
    """The name to show for a run's input: an upload's own name, else the file's."""
    path = Path(input_path)
    try:
        return (path.parent / NAME_FILE).read_text(encoding="utf-8")[:200] or path.name
    except OSError:
        return path.name


def _settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def _run_dir(request: web.Request) -> Path:
    """The run folder a run id names: a folder directly in the output folder, nothing else."""
    run_id = request.match_info["run"]
    root = _settings(request).out.resolve()
    folder = (root / run_id).resolve()
    if run_id.startswith(".") or folder.parent != root or not folder.is_dir():
        raise web.HTTPNotFound(text="no such run")
    return folder


def _when(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp or "?"


def _row(run: PastRun, root: Path, running: str | None) -> dict[str, Any]:
    """What the runs table shows of one run; a run id only for a folder the pages can open."""
    top = run.run_dir.parent.resolve() == root
    run_id = run.run_dir.name if top else None
    status = "running" if run_id is not None and run_id == running else run.status
    return {
        "id": run_id,
        "name": str(run.run_dir.relative_to(root)),  # a batch's runs: batch/run
        "when": _when(run.finished_at),
        "file": _file_name(run.input),
        "host": run.host,
        "sent": run.sent,
        "kind": run.kind,
        "counts": {k: v for k, v in run.counts.items() if v},
        "status": status,
        "pending": run.pending if status == "done" else None,
        "report": top and (run.run_dir / REPORT_FILE).is_file(),
    }


def _runs(root: Path, running: str | None) -> list[dict[str, Any]]:
    root = root.resolve()
    return [_row(run, root, running) for run in past_runs(root, unfinished=True)]


@routes.get("/runs")
async def runs_page(request: web.Request) -> web.Response:
    """Every run in the output folder, newest first: the runs the command line lists too."""
    settings = _settings(request)
    busy = settings.sender.busy()
    rows = await asyncio.to_thread(_runs, settings.out, busy.run_id if busy else None)
    return render(request, "runs.html", runs=rows, out=str(settings.out))


@routes.post("/runs/{run}/stop")
async def stop(request: web.Request) -> web.Response:
    """Stop the run sending, as Ctrl-C does: what is in flight finishes, the rest waits."""
    settings = _settings(request)
    run_dir = _run_dir(request)
    check_csrf(settings, (await request.post()).get("csrf"))
    job = settings.sender.jobs.get(run_dir.name)
    if job is not None and job.running:
        job.stop.stop()
    raise web.HTTPSeeOther(f"/runs/{run_dir.name}")


def _rest_facts(run_dir: Path) -> dict[str, Any]:
    """What the "send the rest" form shows: the run's file, host and counts so far."""
    run = past_run(run_dir)
    if run is None or not run.sent:
        raise web.HTTPNotFound(text="no run to finish here")
    try:
        endpoint = rerun_endpoint(run_dir)
    except ImporterError as exc:
        endpoint, problem = run.endpoint, str(exc).splitlines()[0]
    else:
        problem = ""
    return {
        "file": _file_name(run.input),
        "host": run.host,
        "endpoint": endpoint,
        "counts": {k: v for k, v in run.counts.items() if v},
        "status": run.status,
        "problem": problem,
    }


@routes.get("/runs/{run}/rest")
async def rest_page(request: web.Request) -> web.Response:
    """A run that stopped before its end: what it did, and a form to send the rest."""
    settings = _settings(request)
    run_dir = _run_dir(request)
    if not (run_dir / RUN_FILE).is_file():
        raise web.HTTPNotFound(text="no run to finish here")
    job = settings.sender.jobs.get(run_dir.name)
    if job is not None and job.running:
        raise web.HTTPSeeOther(f"/runs/{run_dir.name}")
    facts = await asyncio.to_thread(_rest_facts, run_dir)
    if settings.sandbox_endpoint:  # this server's sandbox: the run's own ended with its server
        facts["endpoint"] = settings.sandbox_endpoint
    return render(request, "rest.html", run=run_dir.name, **facts)


@routes.post("/runs/{run}/rest")
async def send_rest(request: web.Request) -> web.Response:
    """Send the rows of the run not sent yet: the core's rerun, in the background."""
    settings = _settings(request)
    run_dir = _run_dir(request)
    form = await request.post()
    check_csrf(settings, form.get("csrf"))
    if not (run_dir / RUN_FILE).is_file():
        raise web.HTTPNotFound(text="no run to finish here")
    refuse_while_sending(settings)
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation to send")
    endpoint = str(form.get("endpoint", "")).strip()
    recorded = await asyncio.to_thread(_recorded_endpoint, run_dir)
    # The run's own endpoint goes unsaid: rerun then checks run.json against the journal.
    options = SendOptions(
        endpoint=endpoint if endpoint and endpoint != recorded else None,
        lead_token=str(form.get("token", "")) or None,
    )
    job = settings.sender.resume(run_dir, options)
    if job is None:
        raise web.HTTPConflict(text="a run is already sending; wait for it to finish")
    raise web.HTTPSeeOther(f"/runs/{job.run_id}")


def _recorded_endpoint(run_dir: Path) -> str | None:
    try:
        return rerun_endpoint(run_dir)
    except ImporterError:
        return None


def add_history_routes(app: web.Application) -> None:
    """Attach the runs page, Stop and "send the rest"."""
    app.add_routes(routes)
