"""The pages: upload, map, check, send, watch, results; and the downloads."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from yarl import URL

from importer.config import load_mapping
from importer.errors import ImporterError
from importer.pipeline import (
    SendOptions,
    Source,
    check_mapping,
    endpoint_origin,
    make_run_dir,
    validate,
)
from importer.record import (
    FAILURES_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    is_run_folder,
)
from importer.suggest import render_mapping, suggest_mapping
from importer.web._app import SETTINGS, Settings

UPLOADS = ".uploads"  # under the output folder
MAPPING_FILE = "mapping.yaml"
EXTENSIONS = ("csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods")
DOWNLOADS = (RESULTS_FILE, FAILURES_FILE, REPORT_FILE, "results.xlsx", "failures.xlsx")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CHUNK = 256 * 1024
SAMPLE_ROWS = 3

routes = web.RouteTableDef()


def _settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def _page(request: web.Request, template: str, **context: Any) -> web.Response:
    settings = _settings(request)
    busy = settings.sender.busy()
    html = settings.templates.get_template(template).render(
        csrf=settings.csrf, busy=busy.run_id if busy else None, sandbox=settings.sandbox, **context
    )
    return web.Response(text=html, content_type="text/html")


def _check_csrf(settings: Settings, value: object) -> None:
    if not isinstance(value, str) or not secrets.compare_digest(value, settings.csrf):
        raise web.HTTPForbidden(text="refused: the form's security token is missing or wrong")


async def _form(request: web.Request) -> Any:
    form = await request.post()
    _check_csrf(_settings(request), form.get("csrf"))
    return form


def _upload_dir(request: web.Request) -> Path:
    upload_id = request.match_info["upload"]
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise web.HTTPNotFound(text="no such upload")
    folder = _settings(request).out / UPLOADS / upload_id
    if not folder.is_dir():
        raise web.HTTPNotFound(text="no such upload; upload the file again")
    return folder


def _source(folder: Path) -> Source:
    files = [p for p in folder.iterdir() if p.stem == "upload"]
    if not files:
        raise web.HTTPNotFound(text="no such upload; upload the file again")
    return Source(files[0])


def _run_dir(request: web.Request) -> Path:
    """The run folder a run id names; never a path outside the output folder."""
    run_id = request.match_info["run"]
    root = _settings(request).out.resolve()
    if not _ID.fullmatch(run_id) or ".." in run_id:
        raise web.HTTPNotFound(text="no such run")
    folder = (root / run_id).resolve()
    if folder.parent != root or not folder.is_dir():
        raise web.HTTPNotFound(text="no such run")
    return folder


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


# ---------------------------------------------------------------- upload


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """The upload form."""
    limit_mb = _settings(request).max_upload_bytes // (1024 * 1024)
    return _page(request, "index.html", limit_mb=limit_mb, extensions=EXTENSIONS)


@routes.post("/upload")
async def upload(request: web.Request) -> web.StreamResponse:
    """Stream the file to disk under the output folder; refuse it past the size limit."""
    settings = _settings(request)
    reader = await request.multipart()
    token: str | None = None
    folder: Path | None = None
    async for part in reader:
        if not isinstance(part, BodyPartReader):  # a nested multipart is no form of ours
            raise web.HTTPBadRequest(text="the upload is not a plain form")
        if part.name == "csrf":
            token = (await part.read(decode=True)).decode("utf-8", "replace")
            continue
        if part.name != "file":
            await part.release()
            continue
        _check_csrf(settings, token)
        ext = Path(part.filename or "").suffix.lower().lstrip(".")
        if ext not in EXTENSIONS:
            raise web.HTTPBadRequest(
                text=f"not a spreadsheet this tool reads; choose a {', '.join(EXTENSIONS)} file"
            )
        folder = settings.out / UPLOADS / secrets.token_hex(16)
        folder.mkdir(parents=True, mode=0o700)
        try:
            await _receive(part, folder / f"upload.{ext}", settings.max_upload_bytes)
        except BaseException:  # too large, or the browser went away: keep no partial file
            shutil.rmtree(folder, ignore_errors=True)
            raise
        break
    if folder is None:
        _check_csrf(settings, token)
        raise web.HTTPBadRequest(text="choose a file to upload")
    try:
        await _in_thread(_headers, _source(folder))
    except ImporterError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise web.HTTPBadRequest(text=f"cannot read the file: {exc}") from None
    raise web.HTTPSeeOther(f"/uploads/{folder.name}")


async def _receive(part: BodyPartReader, target: Path, limit: int) -> None:
    """Stream one uploaded file to ``target``; refuse it once it passes ``limit`` bytes."""
    size = 0
    with target.open("wb") as fh:
        target.chmod(0o600)
        while chunk := await part.read_chunk(_CHUNK):
            size += len(chunk)
            if size > limit:
                mb = limit // (1024 * 1024)
                raise web.HTTPRequestEntityTooLarge(
                    max_size=limit,
                    actual_size=size,
                    text=f"the file is larger than {mb} MB, the most this page takes; "
                    "split it, or import it from the command line",
                )
            fh.write(chunk)


def _headers(source: Source) -> tuple[list[str], list[list[str]]]:
    """The upload's headers and its first rows (raises ImporterError when unreadable)."""
    table = source.open()
    rows: list[list[str]] = []
    for chunk in table.chunks(SAMPLE_ROWS):
        rows = [[str(v) for v in r] for r in chunk.frame.itertuples(index=False)]
        break
    return list(table.headers), rows


# ---------------------------------------------------------------- map


def _saved_mapping(settings: Settings, source: Source) -> Path | None:
    """The first saved mapping whose every column is in the upload."""
    if not settings.mappings.is_dir():
        return None
    for path in sorted(settings.mappings.glob("*.yaml")):
        try:
            coverage = check_mapping(source, path)
        except ImporterError:
            continue
        if coverage.matched and not coverage.missing:
            return path
    return None


def _suggested(source: Source) -> str:
    table = source.open()
    return render_mapping(suggest_mapping(table), "the uploaded file", "US", "UTC")


async def _map_page(
    request: web.Request, folder: Path, text: str | None = None, message: str = ""
) -> web.Response:
    settings = _settings(request)
    source = _source(folder)
    headers, rows = await _in_thread(_headers, source)
    saved: Path | None = None
    if text is None and (folder / MAPPING_FILE).is_file():  # the one last checked here
        text = (folder / MAPPING_FILE).read_text(encoding="utf-8")
    if text is None:
        saved = await _in_thread(_saved_mapping, settings, source)
        if saved is not None:
            text = saved.read_text(encoding="utf-8")
        else:
            text = await _in_thread(_suggested, source)
    return _page(
        request,
        "map.html",
        upload=folder.name,
        headers=headers,
        rows=rows,
        mapping=text,
        saved=saved.name if saved else None,
        mappings_dir=str(settings.mappings),
        message=message,
    )


@routes.get("/uploads/{upload}")
async def map_page(request: web.Request) -> web.Response:
    """The suggested mapping, or a saved one whose columns match."""
    return await _map_page(request, _upload_dir(request))


def _write_mapping(folder: Path, text: str) -> Path:
    """Keep the page's mapping beside the upload and check it (raises ConfigError)."""
    path = folder / MAPPING_FILE
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    load_mapping(path)
    return path


@routes.post("/uploads/{upload}/save")
async def save(request: web.Request) -> web.Response:
    """Write the mapping into the mappings folder, as the command line reads it."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    text = str(form.get("mapping", ""))
    name = str(form.get("name", "")).strip()
    if not _NAME.fullmatch(name):
        return await _map_page(
            request, folder, text, "Name the mapping with letters, digits, - or _ (no spaces)."
        )
    try:
        _write_mapping(folder, text)
    except ImporterError as exc:
        return await _map_page(request, folder, text, f"Not saved: {exc}")
    settings.mappings.mkdir(parents=True, exist_ok=True)
    target = settings.mappings / f"{name}.yaml"
    target.write_text(text, encoding="utf-8")
    return await _map_page(request, folder, text, f"Saved as {target}.")


# ---------------------------------------------------------------- check


def _validate(source: Source, mapping: Path, out: Path) -> Any:
    run_dir = make_run_dir(None, source.path, out)
    return validate(source, mapping, out=run_dir)


@routes.post("/uploads/{upload}/check")
async def check(request: web.Request) -> web.Response:
    """Validate every row, send nothing; show counts and the top problems."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    text = str(form.get("mapping", ""))
    try:
        mapping_path = _write_mapping(folder, text)
        summary = await _in_thread(_validate, _source(folder), mapping_path, settings.out)
    except ImporterError as exc:
        return await _map_page(request, folder, text, f"Cannot check: {exc}")
    mapping = load_mapping(mapping_path)
    endpoint = settings.sandbox_endpoint or mapping.endpoint
    valid = summary.counts.get("valid", 0)
    return _page(
        request,
        "check.html",
        upload=folder.name,
        run=Path(summary.run_dir).name,
        summary=summary,
        valid=valid,
        endpoint=endpoint,
        host=URL(endpoint).host or endpoint,
        rate=mapping.send.rate,
        concurrency=mapping.send.concurrency,
    )


# ---------------------------------------------------------------- send


@routes.post("/uploads/{upload}/send")
async def send(request: web.Request) -> web.Response:
    """Start the run in the background and go to its page."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    busy = settings.sender.busy()
    if busy is not None:
        raise web.HTTPConflict(text=f"a run is already sending: /runs/{busy.run_id}")
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation to send")
    mapping_path = folder / MAPPING_FILE
    if not mapping_path.is_file():
        raise web.HTTPBadRequest(text="check the file before sending it")
    endpoint = str(form.get("endpoint", "")).strip() or None
    token = str(form.get("token", "")) or None
    rate = _number(form.get("rate"), float)
    concurrency = _number(form.get("concurrency"), int)
    options = SendOptions(endpoint=endpoint, lead_token=token, rate=rate, concurrency=concurrency)
    source = _source(folder)
    run_dir = await _in_thread(make_run_dir, None, source.path, settings.out)
    job = settings.sender.start(source, mapping_path, run_dir, settings.out, options)
    if job is None:
        run_dir.rmdir()
        raise web.HTTPConflict(text="a run is already sending; wait for it to finish")
    raise web.HTTPSeeOther(f"/runs/{job.run_id}")


def _number(value: object, kind: Any) -> Any:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        number = kind(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"not a number: {text[:20]}") from None
    if number <= 0:
        raise web.HTTPBadRequest(text="rate and concurrency must be above 0")
    return number


# ---------------------------------------------------------------- watch and results


@routes.get("/runs/{run}/status.json")
async def status(request: web.Request) -> web.Response:
    """Rows done of total, success / failed / retries: what the watch page polls."""
    run_dir = _run_dir(request)
    job = _settings(request).sender.jobs.get(run_dir.name)
    if job is not None:
        return web.json_response(job.status())
    if is_run_folder(run_dir):
        summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        counts = summary.get("counts", {})
        return web.json_response(
            {
                "state": "done",
                "done": summary.get("rows", 0),
                "total": summary.get("rows", 0),
                "success": counts.get("success", 0),
                "failed": counts.get("failed", 0),
                "invalid": counts.get("invalid", 0),
                "retries": summary.get("retries", 0),
                "error": None,
                "exit_code": summary.get("exit_code"),
            }
        )
    raise web.HTTPNotFound(text="no such run")


@routes.get("/runs/{run}")
async def run_page(request: web.Request) -> web.Response:
    """Watch a run while it sends; its results once it has ended."""
    run_dir = _run_dir(request)
    job = _settings(request).sender.jobs.get(run_dir.name)
    running = job is not None and job.running
    summary = None
    if not running and is_run_folder(run_dir):
        summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    if job is None and summary is None:
        raise web.HTTPNotFound(text="no such run")
    files = [name for name in DOWNLOADS if (run_dir / name).is_file()]
    host = endpoint_origin(summary["endpoint"]) if summary and summary.get("endpoint") else ""
    return _page(
        request,
        "run.html",
        run=run_dir.name,
        running=running,
        error=job.error if job else None,
        summary=summary,
        host=host,
        files=files,
    )


@routes.get("/runs/{run}/files/{name}")
async def download(request: web.Request) -> web.StreamResponse:
    """A file of the run folder, from a fixed list of names."""
    run_dir = _run_dir(request)
    name = request.match_info["name"]
    if name not in DOWNLOADS or not (run_dir / name).is_file():
        raise web.HTTPNotFound(text="no such file in this run")
    headers = {}
    if name != REPORT_FILE:
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return web.FileResponse(run_dir / name, headers=headers)


def add_routes(app: web.Application) -> None:
    """Attach every page of the browser face."""
    app.add_routes(routes)
