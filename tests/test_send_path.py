"""The run's sending path made cheaper: each must give what the slower code it replaced gave.

``_requests`` takes each chunk's columns as lists, and ``Journal.done`` writes an outcome
without an ``Outcome`` first; the code they replaced is kept here, as the reference, and run
side by side with them on real files with awkward cells.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE, HEADER, write_csv

import importer.pipeline._flows as flows
from importer.clean import RowStatus
from importer.config import load_mapping
from importer.pipeline._jobs import (
    FIRST_CHUNK_ROWS,
    FirstPass,
    Job,
    NoProgress,
    Source,
    Window,
    built_chunks,
    check_job,
)
from importer.pipeline._jobs import import_job as make_job
from importer.pipeline._runfolder import Recorder
from importer.record import JOURNAL_FILE, Journal, Ledger, Outcome, body_hash
from importer.send import Request

ROOT = Path(__file__).resolve().parent.parent
FIELDS = tuple(f.name for f in dataclasses.fields(Outcome))
SAMPLES = ROOT / "samples"


class Counts(NoProgress):
    """A Progress that keeps every advance, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def advance(self, status: str, earlier: bool = False) -> None:
        self.calls.append((status, earlier))


def reference_requests(
    job: Job, done: dict[int, Outcome], recorder: Recorder, first_pass: FirstPass
) -> Iterator[Request]:
    """``_requests`` as it was: walking each chunk's Series row by row (bee2c48)."""
    finished = {RowStatus.SUCCESS.value, RowStatus.SKIPPED.value}
    ledger = recorder.ledger
    changed: set[str] = set()
    progress = recorder.progress
    last_success: dict[str, int] = {}
    for outcome in done.values():
        if outcome.status == RowStatus.SUCCESS.value and outcome.key:
            last_success[outcome.key] = max(outcome.row, last_success.get(outcome.key, 0))
    for item in built_chunks(job, FIRST_CHUNK_ROWS):  # chunked as `run` chunks them
        first_pass.keep(item)
        rows = item[2]
        status = rows["status"]
        for s in status[status != RowStatus.VALID.value]:
            progress.advance(s)
        valid = rows[status == RowStatus.VALID.value]
        tokens = valid["token"] if job.mapping.token.column else None
        for i, (row, key, payload) in enumerate(
            zip(valid.index, valid["key"], valid["payload"], strict=True)
        ):
            row = int(row)
            prior = done.get(row)
            if prior is not None and prior.status in finished:
                progress.advance(prior.status, earlier=True)
                continue
            later = last_success.get(key, 0)
            if later > row:
                recorder.skipped(
                    row, f"superseded by row {later}, sent successfully later for the same lead"
                )
                continue
            digest = ""
            if ledger is not None:
                digest = body_hash(payload)
                if key not in changed:
                    entry = ledger.lookup(key)
                    if entry is not None and entry.body_hash == digest:
                        recorder.skipped(
                            row, f"unchanged since {entry.sent_at}, run {entry.run_dir}"
                        )
                        continue
                changed.add(key)
            recorder.pending[row] = (key, digest)
            row_token = str(tokens.iloc[i]) if tokens is not None else (job.token or "")
            # The same body, as the UTF-8 bytes the pipeline now hands the sender.
            yield Request(row=row, key=str(key), body=str(payload).encode(), token=row_token)
    first_pass.complete = True


def awkward_csv(path: Path, tokens: bool = False) -> Path:
    """Every kind of cell that has tripped a CSV or JSON path, and rows with one phone.

    2,600 rows: more than two of ``_requests``' blocks of rows. ``tokens``: a lead token
    per row, in a "Token" column.
    """
    header = HEADER + ["Token"] if tokens else HEADER
    cells = [
        'say "hi", then, go',
        "two\nlines",
        "carriage\rreturn",
        "=SUM(A1:A2)",
        "+1 formula",
        "-minus",
        "@at",
        "Ödön 名前 😀",
        "",
        "back\\slash",
        "tab\there",
        "\u2028line sep",
    ]
    rows = [header]
    for i in range(2600):
        phone = f"(212) 555-{(i % 40):04d}"  # 40 leads: repeated rows for each
        email = "" if i % 7 == 0 else f"p{i}@example.com"
        if i % 11 == 0:
            phone = "not a phone"  # invalid unless the e-mail carries it
        rows.append(
            [
                cells[i % len(cells)],
                cells[(i * 5) % len(cells)],
                phone,
                email,
                "2026-03-04 10:30" if i % 2 else cells[(i * 3) % len(cells)],
                str(100 + i) if i % 3 else "",
                "NY",
                "02134",
                cells[(i * 7) % len(cells)],
                *([f"tok-{i % 3}"] if tokens else []),
            ]
        )
    return write_csv(path, rows)


CASES = {
    "awkward": (None, EXAMPLE),
    "awkward-tokens": (None, ROOT / "mappings" / "per-row-token.yaml"),
    "leads": (SAMPLES / "leads.csv", EXAMPLE),
    "multiline": (SAMPLES / "multiline.csv", EXAMPLE),
    "tokens": (SAMPLES / "tokens.csv", ROOT / "mappings" / "per-row-token.yaml"),
    "duplicates": (SAMPLES / "duplicates.csv", EXAMPLE),
}


def outcomes_of(requests: list[Request], every: int) -> dict[int, Outcome]:
    """An earlier run's journal: some rows succeeded, some failed."""
    done = {}
    for n, r in enumerate(requests):
        if n % every == 0:
            done[r.row] = Outcome(r.row, "success", key=r.key)
        elif n % every == 1:
            done[r.row] = Outcome(r.row, "failed", key=r.key, error="HTTP 500")
    return done


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("earlier", [False, True], ids=["first-run", "rerun"])
def test_requests_are_the_ones_the_row_by_row_walk_gave(
    tmp_path: Path, case: str, earlier: bool
) -> None:
    path, mapping_path = CASES[case]
    if path is None:
        path = awkward_csv(tmp_path / "awkward.csv", tokens=case == "awkward-tokens")
    mapping = load_mapping(mapping_path)
    token = None if mapping.token.column else "tok-1"
    job = make_job("run", Source(path), mapping, token, Window())
    ledger_path = tmp_path / "ledger.sqlite"

    def walk(how: Any, name: str, done: dict[int, Outcome]) -> dict[str, Any]:
        folder = tmp_path / name
        folder.mkdir()
        journal = Journal(folder)
        journal.open("run")
        progress = Counts()
        ledger = Ledger(ledger_path, "https://example.test/") if earlier else None
        recorder = Recorder(journal, progress, ledger, folder)
        first_pass = FirstPass()
        requests = list(how(job, done, recorder, first_pass))
        journal.close()
        if ledger is not None:
            ledger.close()
        lines = (folder / JOURNAL_FILE).read_text(encoding="utf-8").splitlines()[1:]
        return {
            "requests": requests,
            "pending": recorder.pending,
            "progress": progress.calls,
            "journal": [{k: v for k, v in json.loads(x).items() if k != "t"} for x in lines],
            "kept": first_pass.rows,
            "complete": first_pass.complete,
        }

    done: dict[int, Outcome] = {}
    if earlier:
        first = walk(reference_requests, "before", {})
        done = outcomes_of(first["requests"], 3)
        ledger = Ledger(ledger_path, "https://example.test/")
        for r in first["requests"][::4]:  # some sent, unchanged, by an earlier run
            ledger.record(r.key, body_hash(r.body), tmp_path / "before")
        ledger.close()
    new = walk(flows._requests, "new", done)
    old = walk(reference_requests, "old", done)
    assert new == old
    assert new["requests"], "the case sends nothing: it tests nothing"
    if case.endswith("tokens") and not earlier:
        assert len({r.token for r in new["requests"]} - {""}) >= 2  # per-row tokens, taken


@pytest.mark.parametrize(
    "outcome",
    [
        Outcome(7, "success", key="fp:+12125550100", http_status=200, attempts=1, lead_id="L1"),
        Outcome(8, "not_sent", error="not sent: interrupted"),  # attempts 0, no status
        Outcome(
            9,
            "failed",
            key="fp:email:ödön@example.com",
            http_status=422,
            attempts=2,
            error='HTTP 422: caller_id: "bad", \n\r =cmd|x \\ 😀',
            trackdrive_number_plain="+18005550100",
            sms_number_plain="+18005550101",
        ),
        Outcome(10, "failed", http_status=503, attempts=5, error="HTTP 503 Bad \udcff reason"),
        Outcome(0, "skipped", error="unchanged since 2026-01-01, run out/x"),
    ],
    ids=["success", "not-sent", "awkward-text", "lone-surrogate", "row-0-skipped"],
)
@pytest.mark.parametrize("ms", [None, 12.5])
def test_done_writes_the_line_finished_wrote(
    tmp_path: Path, outcome: Outcome, ms: float | None
) -> None:
    journal = Journal(tmp_path)
    journal.open("run")
    journal.done(*(getattr(outcome, name) for name in FIELDS), ms=ms)
    journal.finished(outcome, ms)
    journal.close()
    lines = (tmp_path / JOURNAL_FILE).read_bytes().splitlines()[1:]
    # The reference: finished() as it was (bee2c48), field by field, empty ones left out.
    event: dict[str, Any] = {"e": "done"}
    for name in FIELDS:
        value = getattr(outcome, name)
        if value not in ("", None):
            event[name] = value
    if ms is not None:
        event["ms"] = ms
    for line in lines:
        written = json.loads(line)
        written.pop("t")
        assert written == event
        assert list(written) == list(event)  # the same order of fields, too
    assert lines[0].split(b',"t":')[0] == lines[1].split(b',"t":')[0]
    assert Journal(tmp_path).state() == ({outcome.row: outcome}, set())


def test_the_first_pass_reads_the_table_check_job_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = awkward_csv(tmp_path / "awkward.csv")
    mapping = load_mapping(EXAMPLE)
    fresh = make_job("run", Source(path), mapping, "tok-1", Window())
    expected = [rows for _, _, rows in built_chunks(fresh, FIRST_CHUNK_ROWS)]

    opened: list[Path] = []
    open_source = Source.open

    def counted(source: Source) -> Any:
        opened.append(source.path)
        return open_source(source)

    monkeypatch.setattr(Source, "open", counted)
    job = make_job("run", Source(path), mapping, "tok-1", Window())
    check_job(job)
    assert len(opened) == 1
    got = [rows for _, _, rows in built_chunks(job, FIRST_CHUNK_ROWS)]
    assert len(opened) == 1  # the first pass read the table check_job opened
    assert len(got) == len(expected) > 1
    for new, old in zip(got, expected, strict=True):
        assert new.equals(old)
    second = [rows for _, _, rows in built_chunks(job)]  # a table is read once: opened again
    assert len(opened) == 2
    assert sum(map(len, second)) == sum(map(len, expected))
    # A job made from a checked one (rerun, a dry run) opens its own; the table stays.
    check_job(job)
    list(built_chunks(dataclasses.replace(job, command="rerun")))
    assert len(opened) == 4
    assert len(job.opened) == 1
