"""The pages: upload, map, check, send, watch, results; and the downloads."""

from __future__ import annotations

import asyncio
import csv
import json
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from aiohttp import BodyPartReader, web
from yarl import URL

from importer.clean import RowStatus
from importer.config import DEFAULT_ENDPOINT, PARAMETERS, TOKEN_ENV, load_mapping
from importer.errors import ImporterError, Setting
from importer.pipeline import (
    SendOptions,
    Source,
    check_mapping,
    endpoint_origin,
    make_run_dir,
    validate,
)
from importer.read import EXCEL_SUFFIXES, Table, find_column, list_sheets
from importer.record import (
    ERROR_SEPARATOR,
    FAILURES_FILE,
    REPORT_FILE,
    RESULTS_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    is_run_folder,
    read_run_info,
)
from importer.suggest import render_mapping, suggest_mapping
from importer.web._app import SETTINGS, Settings, check_csrf, refuse_while_sending, render
from importer.web._history import remember_name
from importer.web._mapping_form import (
    DATE_ORDERS,
    DUPLICATES,
    FormError,
    MapForm,
    apply_choices,
    dump_mapping,
    literal_token,
    read_form,
    with_token,
    without_token,
)
from importer.web._warnings import Warned, warnings_of

UPLOADS = ".uploads"  # under the output folder
MAPPING_FILE = "mapping.yaml"  # the page's mapping, beside the upload; never a written token
SHEET_FILE = "sheet"  # the sheet picked of a workbook
ORIGIN_FILE = "origin"  # the name of the saved mapping the page started from
EXTENSIONS = ("csv", "tsv", "txt", "xlsx", "xlsm", "xls", "ods")
DOWNLOADS = (RESULTS_FILE, FAILURES_FILE, REPORT_FILE, "results.xlsx", "failures.xlsx")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_CHUNK = 256 * 1024
SAMPLE_ROWS = 3  # the first rows shown
SAMPLE_READ = 50  # rows read for each column's sample values
SAMPLE_VALUES = 3
INVALID_SHOWN = 100  # invalid rows shown on the check page (all are in failures.csv)
# What "send failed rows again" sends: the rows rerun sends (neither succeeded nor invalid).
RESENDABLE = (RowStatus.FAILED.value, RowStatus.NOT_SENT.value)
# How the page names a setting a core message points to: the control to change.
PAGE_WORDS = {
    Setting.SHEET: "the sheet picker",
    Setting.LEAD_TOKEN: "a token in the Lead token field",
    Setting.ENDPOINT: "the Endpoint field",
    Setting.TIMEZONE: "the Time zone box",
}

routes = web.RouteTableDef()


def _settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


async def _form(request: web.Request) -> Any:
    form = await request.post()
    check_csrf(_settings(request), form.get("csrf"))
    return form


def said(exc: ImporterError) -> str:
    """A core error's first line, each setting named as the page's control."""
    text = exc.render(lambda s, v: f"{PAGE_WORDS.get(s, s.value)} {v}".rstrip())
    return text.splitlines()[0]


def _upload_dir(request: web.Request) -> Path:
    upload_id = request.match_info["upload"]
    if not _UPLOAD_ID.fullmatch(upload_id):
        raise web.HTTPNotFound(text="no such upload")
    folder = _settings(request).out / UPLOADS / upload_id
    if not folder.is_dir():
        raise web.HTTPNotFound(text="no such upload; upload the file again")
    return folder


def _read_note(folder: Path, name: str) -> str | None:
    path = folder / name
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _write_note(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)


def _source(folder: Path) -> Source:
    files = [p for p in folder.iterdir() if p.stem == "upload"]
    if not files:
        raise web.HTTPNotFound(text="no such upload; upload the file again")
    return Source(files[0], sheet=_read_note(folder, SHEET_FILE))


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


def _size(limit: int) -> str:
    if limit >= 1024 * 1024:
        return f"{limit // (1024 * 1024)} MB"
    return f"{max(limit // 1024, 1)} KB"


# ---------------------------------------------------------------- upload


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """The upload form."""
    settings = _settings(request)
    return render(
        request,
        "index.html",
        limit=_size(settings.max_upload_bytes),
        limit_bytes=settings.max_upload_bytes,
        extensions=EXTENSIONS,
    )


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
        check_csrf(settings, token)
        ext = Path(part.filename or "").suffix.lower().lstrip(".")
        if ext not in EXTENSIONS:
            raise web.HTTPBadRequest(
                text=f"not a spreadsheet this tool reads; choose a {', '.join(EXTENSIONS)} file"
            )
        folder = settings.out / UPLOADS / secrets.token_hex(16)
        folder.mkdir(parents=True, mode=0o700)
        try:
            await _receive(part, folder / f"upload.{ext}", settings.max_upload_bytes)
            remember_name(folder, part.filename or "")
        except BaseException:  # too large, or the browser went away: keep no partial file
            shutil.rmtree(folder, ignore_errors=True)
            raise
        break
    if folder is None:
        check_csrf(settings, token)
        raise web.HTTPBadRequest(text="choose a file to upload")
    try:
        await _in_thread(_preview, _source(folder))
    except ImporterError as exc:
        # A workbook whose first sheet is a cover page: read the first sheet that reads.
        sheet = await _in_thread(_readable_sheet, _source(folder))
        if sheet is None:
            shutil.rmtree(folder, ignore_errors=True)
            raise web.HTTPBadRequest(text=f"cannot read the file: {said(exc)}") from None
        _write_note(folder, SHEET_FILE, sheet)
    raise web.HTTPSeeOther(f"/uploads/{folder.name}")


def _readable_sheet(source: Source) -> str | None:
    """The first sheet of a workbook that reads as a table, if any."""
    for sheet in _sheets(source)[1:]:
        try:
            _preview(Source(source.path, sheet=sheet))
        except ImporterError:
            continue
        return sheet
    return None


async def _receive(part: BodyPartReader, target: Path, limit: int) -> None:
    """Stream one uploaded file to ``target``; refuse it once it passes ``limit`` bytes."""
    size = 0
    with target.open("wb") as fh:
        target.chmod(0o600)
        while chunk := await part.read_chunk(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise web.HTTPRequestEntityTooLarge(
                    max_size=limit,
                    actual_size=size,
                    text=f"the file is larger than {_size(limit)}, the most this page takes; "
                    "split it, or import it from the command line",
                )
            fh.write(chunk)


@dataclass(frozen=True, slots=True)
class Preview:
    """What the map page shows of the file: headers, first rows, each column's samples."""

    table: Table
    headers: list[str]
    rows: list[list[str]]
    samples: list[list[str]]

    def match(self, name: str) -> int | None:
        """The index of the column a mapping names, as the core finds it."""
        label = find_column(self.table, name)
        return list(self.table.columns).index(label) if label in self.table.columns else None


def _preview(source: Source) -> Preview:
    """The upload's headers, first rows and samples (raises ImporterError when unreadable)."""
    table = source.open()
    rows: list[list[str]] = []
    for chunk in table.chunks(SAMPLE_READ):
        rows = [[str(v) for v in r] for r in chunk.frame.itertuples(index=False)]
        break
    samples: list[list[str]] = [[] for _ in table.headers]
    for row in rows:
        for i, value in enumerate(row[: len(samples)]):
            shown = samples[i]
            if value.strip() and value not in shown and len(shown) < SAMPLE_VALUES:
                shown.append(value)
    return Preview(table, list(table.headers), rows[:SAMPLE_ROWS], samples)


def _sheets(source: Source) -> list[str]:
    if source.path.suffix.lower() not in EXCEL_SUFFIXES:
        return []
    try:
        return list_sheets(source.path)
    except ImporterError:  # the page says what is wrong with the file when it reads it
        return []


@routes.post("/uploads/{upload}/sheet")
async def pick_sheet(request: web.Request) -> web.Response:
    """Read another sheet of the workbook; the mapping starts again from its columns."""
    folder = _upload_dir(request)
    form = await _form(request)
    sheet = str(form.get("sheet", ""))
    if sheet not in await _in_thread(_sheets, _source(folder)):
        raise web.HTTPBadRequest(text="the workbook has no such sheet; pick one from the list")
    _write_note(folder, SHEET_FILE, sheet)
    for name in (MAPPING_FILE, ORIGIN_FILE):
        (folder / name).unlink(missing_ok=True)
    try:
        await _in_thread(_preview, _source(folder))
    except ImporterError as exc:
        (folder / SHEET_FILE).unlink(missing_ok=True)
        return await _map_page(request, folder, message=f"Cannot read that sheet: {said(exc)}")
    raise web.HTTPSeeOther(f"/uploads/{folder.name}")


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


def _document(text: str) -> dict[str, Any] | None:
    """The keys of a mapping's text; None when it is no YAML mapping of keys."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    return raw if isinstance(raw, dict) else None


def _shown(text: str) -> tuple[str, bool]:
    """The text the page shows of a saved mapping: never a lead token written in it."""
    raw = _document(text)
    if raw is None or not literal_token(raw):
        return text, False
    return dump_mapping(without_token(raw), "a saved mapping"), True


def _origin_token(settings: Settings, folder: Path) -> str | None:
    """The lead token written in the saved mapping the page started from, read when sending."""
    name = _read_note(folder, ORIGIN_FILE)
    if not name or not _NAME.fullmatch(name):
        return None
    try:
        return load_mapping(settings.mappings / f"{name}.yaml").token.literal
    except ImporterError:
        return None


async def _map_page(
    request: web.Request, folder: Path, text: str | None = None, message: str = ""
) -> web.Response:
    settings = _settings(request)
    source = _source(folder)
    preview: Preview = await _in_thread(_preview, source)
    sheets: list[str] = await _in_thread(_sheets, source)
    saved: str | None = None
    hidden = False
    if text is None and (folder / MAPPING_FILE).is_file():  # the one last checked here
        text = (folder / MAPPING_FILE).read_text(encoding="utf-8")
        saved = _read_note(folder, ORIGIN_FILE)
    if text is None:
        path = await _in_thread(_saved_mapping, settings, source)
        if path is not None:
            text, hidden = _shown(path.read_text(encoding="utf-8"))
            saved = path.stem
            _write_note(folder, ORIGIN_FILE, path.stem)
        else:
            text = await _in_thread(_suggested, source)
    text, _ = _shown(text)  # a token pasted into the YAML is not echoed back either
    form: MapForm | None = None
    raw = _document(text)
    if raw is not None:
        form = read_form(raw, preview.headers, preview.samples, preview.match)
        hidden = hidden or (saved is not None and _origin_literal(settings, saved))
    return render(
        request,
        "map.html",
        upload=folder.name,
        headers=preview.headers,
        rows=preview.rows,
        form=form,
        parameters=list(PARAMETERS),
        date_orders=DATE_ORDERS,
        duplicates=DUPLICATES,
        default_endpoint=DEFAULT_ENDPOINT,
        mapping=text,
        saved=saved,
        hidden_token=hidden,
        token_env=TOKEN_ENV,
        sheets=sheets,
        sheet=source.sheet or (sheets[0] if sheets else None),
        mappings_dir=str(settings.mappings),
        message=message,
        downloadable=(folder / MAPPING_FILE).is_file(),
    )


def _origin_literal(settings: Settings, name: str) -> bool:
    if not _NAME.fullmatch(name):
        return False
    try:
        return load_mapping(settings.mappings / f"{name}.yaml").token.literal is not None
    except ImporterError:
        return False


@routes.get("/uploads/{upload}")
async def map_page(request: web.Request) -> web.Response:
    """The suggested mapping, or a saved one whose columns match."""
    return await _map_page(request, _upload_dir(request))


async def _posted_mapping(folder: Path, form: Mapping[str, Any]) -> str:
    """The mapping a map form posts: its YAML when edited by hand, else the table's choices.

    Raises FormError for choices that clash, or a mapping that writes a lead token.
    """
    text = str(form.get("mapping", "")).replace("\r\n", "\n")  # a browser sends CRLF
    original = form.get("original")
    if original is not None and text.strip() == str(original).replace("\r\n", "\n").strip():
        raw = _document(text)
        if raw is not None:
            preview: Preview = await _in_thread(_preview, _source(folder))
            table = read_form(raw, preview.headers, preview.samples, preview.match)
            posted = {k: str(v) for k, v in form.items()}
            new = apply_choices(raw, table, posted)
            if new != raw:
                text = dump_mapping(new, "the uploaded file")
    raw = _document(text)
    if raw is not None and literal_token(raw):
        raise FormError(
            "Write no lead token into the mapping on this page: type it in the Lead token "
            "field when sending (the page never stores it), or leave lead_token out to use "
            f"${{{TOKEN_ENV}}}."
        )
    return text


def _write_mapping(folder: Path, text: str) -> Path:
    """Keep the page's mapping beside the upload and check it (raises ConfigError)."""
    path = folder / MAPPING_FILE
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    load_mapping(path)
    return path


@routes.post("/uploads/{upload}/preview")
async def preview_mapping(request: web.Request) -> web.Response:
    """The YAML the table's choices make, for the page's advanced view (JSON)."""
    folder = _upload_dir(request)
    form = await _form(request)
    try:
        text = await _posted_mapping(folder, form)
    except FormError as exc:
        return web.json_response({"error": str(exc)})
    return web.json_response({"mapping": text, "error": None})


@routes.post("/uploads/{upload}/save")
async def save(request: web.Request) -> web.Response:
    """Write the mapping into the mappings folder, as the command line reads it."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    text = str(form.get("mapping", ""))
    try:
        text = await _posted_mapping(folder, form)
    except FormError as exc:
        return await _map_page(request, folder, text, f"Not saved: {exc}")
    name = str(form.get("name", "")).strip()
    if not _NAME.fullmatch(name):
        return await _map_page(
            request, folder, text, "Name the mapping with letters, digits, - or _ (no spaces)."
        )
    try:
        _write_mapping(folder, text)
    except ImporterError as exc:
        return await _map_page(request, folder, text, f"Not saved: {said(exc)}")
    settings.mappings.mkdir(parents=True, exist_ok=True)
    target = settings.mappings / f"{name}.yaml"
    written = text
    raw = _document(text) or {}
    if "lead_token" not in raw and target.is_file():
        # The page never showed the token written in this mapping: saving keeps it.
        try:
            literal = load_mapping(target).token.literal
        except ImporterError:
            literal = None
        if literal:
            written = with_token(text, literal)
    target.write_text(written, encoding="utf-8")
    _write_note(folder, ORIGIN_FILE, name)
    return await _map_page(request, folder, text, f"Saved as {target}.")


@routes.get("/uploads/{upload}/mapping.yaml")
async def download_mapping(request: web.Request) -> web.StreamResponse:
    """The page's mapping, as the command line reads it (never with a written token)."""
    path = _upload_dir(request) / MAPPING_FILE
    if not path.is_file():
        raise web.HTTPNotFound(text="no mapping yet: check or save it first")
    return web.FileResponse(
        path, headers={"Content-Disposition": 'attachment; filename="mapping.yaml"'}
    )


# ---------------------------------------------------------------- check


def _validate(source: Source, mapping: Path, out: Path) -> Any:
    run_dir = make_run_dir(None, source.path, out)
    return validate(source, mapping, out=run_dir)


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A row the check refused: its cells, which of them are wrong, and why."""

    row: str
    cells: list[tuple[str, bool]]  # (value, offending)
    problems: list[str]


def invalid_rows(run_dir: Path, limit: int = INVALID_SHOWN) -> tuple[list[str], list[InvalidRow]]:
    """The first ``limit`` rows of failures.csv: its input columns and the rows, marked.

    A problem names its column first (``Phone: …``): that cell is the one marked.
    """
    path = run_dir / FAILURES_FILE
    if not path.is_file():
        return [], []
    shown: list[InvalidRow] = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        at = fields.index("error") + 1 if "error" in fields else 0
        columns = fields[at:]
        for record in reader:
            if len(shown) >= limit:
                break
            problems = [p for p in (record.get("error") or "").split(ERROR_SEPARATOR) if p]
            named = {p.split(": ", 1)[0].casefold() for p in problems if ": " in p}
            cells = [(record.get(c) or "", c.strip().casefold() in named) for c in columns]
            shown.append(InvalidRow(record.get("row", ""), cells, problems))
    return columns, shown


@routes.post("/uploads/{upload}/check")
async def check(request: web.Request) -> web.Response:
    """Validate every row, send nothing; show counts, the top problems and invalid rows."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    text = str(form.get("mapping", ""))
    try:
        text = await _posted_mapping(folder, form)
        mapping_path = _write_mapping(folder, text)
        summary = await _in_thread(_validate, _source(folder), mapping_path, settings.out)
    except FormError as exc:
        return await _map_page(request, folder, text, f"Cannot check: {exc}")
    except ImporterError as exc:
        return await _map_page(request, folder, text, f"Cannot check: {said(exc)}")
    mapping = load_mapping(mapping_path)
    endpoint = settings.sandbox_endpoint or mapping.endpoint
    valid = summary.counts.get("valid", 0)
    columns, invalid = await _in_thread(invalid_rows, Path(summary.run_dir))
    warned: Warned = await _in_thread(warnings_of, summary, Path(summary.run_dir))
    origin = _read_note(folder, ORIGIN_FILE)
    return render(
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
        columns=columns,
        invalid=invalid,
        shown_max=INVALID_SHOWN,
        warned=warned,
        written_token=origin if origin and _origin_literal(settings, origin) else None,
        token_env=TOKEN_ENV,
    )


# ---------------------------------------------------------------- send


@routes.post("/uploads/{upload}/send")
async def send(request: web.Request) -> web.Response:
    """Start the run in the background and go to its page."""
    settings = _settings(request)
    folder = _upload_dir(request)
    form = await _form(request)
    refuse_while_sending(settings)
    if form.get("confirm") != "yes":
        raise web.HTTPBadRequest(text="tick the confirmation to send")
    mapping_path = folder / MAPPING_FILE
    if not mapping_path.is_file():
        raise web.HTTPBadRequest(text="check the file before sending it")
    endpoint = str(form.get("endpoint", "")).strip() or None
    token = str(form.get("token", "")) or _origin_token(settings, folder)
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
    """Rows done of total, success / failed / retries, rate and ETA: what the watch page polls."""
    run_dir = _run_dir(request)
    job = _settings(request).sender.jobs.get(run_dir.name)
    if job is not None and (job.running or not is_run_folder(run_dir)):
        return web.json_response(job.status())
    if is_run_folder(run_dir):
        summary = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        counts = summary.get("counts", {})
        duration = summary.get("duration_s") or 0
        return web.json_response(
            {
                "state": "done",
                "done": summary.get("rows", 0),
                "total": summary.get("rows", 0),
                "success": counts.get("success", 0),
                "failed": counts.get("failed", 0),
                "invalid": counts.get("invalid", 0),
                "retries": summary.get("retries", 0),
                "throttled": summary.get("throttled", 0),
                "rate": round(summary.get("requests", 0) / duration, 1) if duration else None,
                "eta_s": 0,
                "error": job.error if job else None,
                "exit_code": summary.get("exit_code"),
            }
        )
    raise web.HTTPNotFound(text="no such run")


def _resendable(summary: Mapping[str, Any]) -> int:
    counts = summary.get("counts", {})
    return sum(int(counts.get(s, 0)) for s in RESENDABLE)


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
        if (run_dir / RUN_FILE).is_file():  # a send killed before its end: finish it
            raise web.HTTPSeeOther(f"/runs/{run_dir.name}/rest")
        raise web.HTTPNotFound(text="no such run")
    files = [name for name in DOWNLOADS if (run_dir / name).is_file()]
    host = endpoint_origin(summary["endpoint"]) if summary and summary.get("endpoint") else ""
    sent = summary is not None and summary.get("command") in ("run", "rerun")
    warned = await _in_thread(warnings_of, summary, run_dir) if summary else Warned()
    return render(
        request,
        "run.html",
        run=run_dir.name,
        running=running,
        error=job.error if job else None,
        summary=summary,
        host=host,
        files=files,
        resendable=_resendable(summary) if summary and sent else 0,
        warned=warned,
    )


def _run_token(settings: Settings, run_dir: Path) -> str | None:
    """The token written in the saved mapping a page's run started from, if any."""
    try:
        source = Path(str(read_run_info(run_dir).get("input", "")))
    except ImporterError:
        return None
    uploads = (settings.out / UPLOADS).resolve()
    if source.parent.parent != uploads:
        return None
    return _origin_token(settings, source.parent)


@routes.post("/runs/{run}/rerun")
async def send_again(request: web.Request) -> web.Response:
    """Send the rows of a run that failed or were not sent, again: the core's rerun."""
    settings = _settings(request)
    run_dir = _run_dir(request)
    form = await _form(request)
    refuse_while_sending(settings)
    if not (run_dir / RUN_FILE).is_file():
        raise web.HTTPNotFound(text="no run to send again here")
    token = str(form.get("token", "")) or _run_token(settings, run_dir)
    # To the endpoint the run sent to: rerun checks run.json against the journal.
    job = settings.sender.resume(run_dir, SendOptions(lead_token=token))
    if job is None:
        raise web.HTTPConflict(text="a run is already sending; wait for it to finish")
    raise web.HTTPSeeOther(f"/runs/{job.run_id}")


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
