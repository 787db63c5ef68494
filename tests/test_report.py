"""report.html: real runs through the CLI against the sandbox, numbers read back from the page."""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLE, ROOT, invoke
from helpers import read_results as results
from test_run import TOKEN, make_csv, run_args

BAD_PHONE = "8.00451E+09"


class Page(HTMLParser):
    """Every element of a page with its attributes, and the text inside each of them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.text: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, **{k: v or "" for k, v in attrs}})
        if tag not in ("meta", "link", "br", "rect", "line", "circle", "polyline", "img"):
            self._open.append(len(self.elements) - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append({"tag": tag, **{k: v or "" for k, v in attrs}})

    def handle_endtag(self, tag: str) -> None:
        if self._open and self.elements[self._open[-1]]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for i in self._open:
            self.text[i] = self.text.get(i, "") + data

    def find(self, **attrs: str) -> list[dict[str, str]]:
        """Elements having each attribute (``class_`` matches one class of the element)."""
        found = []
        for i, element in enumerate(self.elements):
            ok = all(
                v in element.get("class", "").split()
                if k == "class_"
                else element.get(k.replace("_", "-")) == v
                for k, v in attrs.items()
                if v != "*"
            ) and all(k.replace("_", "-") in element for k, v in attrs.items() if v == "*")
            if ok:
                found.append({**element, "text": self.text.get(i, "").strip()})
        return found


def page_of(run_dir: Path) -> Page:
    return Page((run_dir / "report.html").read_text(encoding="utf-8"))


def attempt_answers(run_dir: Path) -> Counter[str]:
    """Every attempt's answer as the journal records it, counted independently of the report."""
    counts: Counter[str] = Counter()
    last_run = 0
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    for event in events:
        if event["e"] == "run":
            last_run = event["n"]
    n = 0
    for event in events:
        n = event["n"] if event["e"] == "run" else n
        if n != last_run:
            continue
        ended = event["e"] == "retry" or (event["e"] == "done" and "ms" in event)
        if event["e"] == "start":
            counts["requests"] += 1
        if event["e"] == "retry":
            counts["retries"] += 1
        if ended:
            status = event.get("http_status")
            counts[str(status) if status else "no answer"] += 1
    return counts


def faulty_file(tmp_path: Path, n: int = 60) -> Path:
    src = make_csv(tmp_path / "leads.csv", n)
    with src.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Secretname", "X", BAD_PHONE, "", "", "1", "NY", "02134", "t"])
        writer.writerow(["Othername", "Y", "1-800-FLOWERS", "", "", "2", "NY", "02134", "t"])
    return src


def test_report_numbers_equal_summary_and_journal(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.2, throttle_first=3, seed=11)
    src = faulty_file(tmp_path)
    out = tmp_path / "run"
    code, _, stderr = invoke(*run_args(src, server, out, "--rate", "400", "--max-attempts", "3"))
    assert code in (0, 1), stderr
    summary = json.loads((out / "summary.json").read_text())
    html = (out / "report.html").read_text(encoding="utf-8")
    page = Page(html)

    bar = {e["data-status"]: int(e["data-count"]) for e in page.find(class_="seg")}
    assert bar == summary["counts"]
    percents = {e["data-status"]: float(e["data-percent"]) for e in page.find(class_="seg")}
    assert percents["invalid"] == round(100 * 2 / summary["rows"], 1)
    facts = {e["data-fact"]: e["text"] for e in page.find(data_fact="*")}
    for fact, key in (("rows", "rows"), ("requests", "requests"), ("retries", "retries")):
        assert facts[fact] == f"{summary[key]:,}", fact
    assert facts["throttled (429)"] == str(summary["throttled"])
    assert facts["exit status"] == str(summary["exit_code"])
    assert facts["SHA-256"] == summary["input_sha256"]
    info = json.loads((out / "run.json").read_text())
    assert facts["token fingerprint"] == info["token_fingerprint"]
    assert facts["endpoint host"] == server.endpoint.split("/")[2]

    # The time axis: what the journal says, and what summary.json says.
    journal = attempt_answers(out)
    (svg,) = page.find(tag="svg", class_="timeline")
    assert int(svg["data-requests"]) == summary["requests"] == journal["requests"]
    assert int(svg["data-retries"]) == summary["retries"] == journal["retries"]
    assert int(svg["data-throttled"]) == summary["throttled"] == journal["429"] >= 3
    marks_429 = sum(int(e["data-count"]) for e in page.find(class_="m429"))
    marks_5xx = sum(int(e["data-count"]) for e in page.find(class_="m5xx"))
    server_errors = sum(n for code, n in journal.items() if code.startswith("5"))
    assert marks_429 == journal["429"]
    assert marks_5xx == int(svg["data-server-errors"]) == server_errors > 0
    assert [e["data-rate"] for e in page.find(class_="limit")] == ["400"]
    answers = {
        e["data-attempt-http"]: int(e["data-count"]) for e in page.find(data_attempt_http="*")
    }
    assert answers == {k: v for k, v in journal.items() if k not in ("requests", "retries")}

    # Final statuses and numbers: what results.csv says.
    rows = results(out)
    final = Counter(r["http_status"] for r in rows if r["http_status"])
    assert {e["data-http"]: int(e["data-count"]) for e in page.find(data_http="*")} == final
    (numbers,) = page.find(data_numbers="trackdrive")
    assert int(numbers["text"]) == sum(1 for r in rows if r["trackdrive_number_plain"])

    # What to fix: the summary's top reasons, with their example rows.
    problems = [(int(e["data-count"]), e["text"]) for e in page.find(class_="problem")]
    for (count, text), reason in zip(problems, summary["top_reasons"], strict=False):
        assert count == reason["count"] and text.startswith(reason["reason"])
    assert page.find(tag="a", href="failures.csv")

    # Secrets and personal data never reach the page.
    assert TOKEN not in html
    for value in (BAD_PHONE, "1-800-FLOWERS", "Secretname", "First1", "p1@example.com"):
        assert value not in html
    assert "http://" not in html and "https://" not in html and "src=" not in html


def test_rerun_keeps_the_report_current_and_shows_moves(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.5, seed=4)
    src = make_csv(tmp_path / "leads.csv", 30)
    out = tmp_path / "run"
    args = run_args(src, server, out, "--unlimited-rate", "--max-attempts", "1")
    code, _, stderr = invoke(*args)
    assert code == 1, stderr
    failed = json.loads((out / "summary.json").read_text())["counts"]["failed"]
    server.stop()
    healthy = sandbox_factory(tokens=(TOKEN,))
    code, _, stderr = invoke(
        "rerun", out, "--endpoint", healthy.endpoint, "--lead-token", TOKEN, "--unlimited-rate"
    )
    assert code == 0, stderr
    page = page_of(out)
    assert {e["data-status"]: int(e["data-count"]) for e in page.find(class_="seg")} == {
        "success": 30
    }
    moves = {(e["data-from"], e["data-to"]): int(e["data-count"]) for e in page.find(data_to="*")}
    assert moves == {("failed", "success"): failed}
    assert [e["data-run"] for e in page.find(tag="svg")] == ["2", "1"]  # newest first
    assert [e["data-rate"] for e in page.find(class_="limit")] == []  # unlimited
    assert [e["text"] for e in page.find(data_stat="rate")] == ["unlimited", "unlimited"]


def test_report_command_rebuilds_and_refuses_what_is_not_a_run(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    src = faulty_file(tmp_path, 5)
    out = tmp_path / "checked"
    code, _, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", out)
    assert code == 1, stderr
    first = (out / "report.html").read_text(encoding="utf-8")
    assert "Nothing was sent" in first
    (out / "report.html").unlink()
    code, stdout, stderr = invoke("report", out)
    assert code == 0, stderr
    assert stdout.strip() == str(out / "report.html")
    assert (out / "report.html").read_text(encoding="utf-8") == first
    code, stdout, stderr = invoke("report", tmp_path / "nowhere")
    assert code == 2 and stdout == ""
    assert stderr == (
        f"leadimport: error: {tmp_path / 'nowhere'}: not a run folder (no summary.json); "
        "pass a folder that `leadimport run` or `leadimport validate` wrote\n"
    )


def test_the_report_a_run_writes_equals_the_one_rebuilt_from_its_files(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    # The run gathers what results.csv adds up to as it writes it; `report DIR` reads the
    # file back. Both must give the same page, byte for byte.
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.3, seed=4)
    checked, sent = tmp_path / "checked", tmp_path / "sent"
    sample = ROOT / "samples" / "leads.csv"
    assert invoke("validate", sample, "-m", EXAMPLE, "--out", checked)[0] == 1
    src = make_csv(tmp_path / "leads.csv", 60)
    assert invoke(*run_args(src, server, sent, "--max-attempts", "1"))[0] == 1
    for folder in (checked, sent):
        written = (folder / "report.html").read_bytes()
        assert invoke("report", folder)[0] == 0
        assert (folder / "report.html").read_bytes() == written


def test_a_folder_from_the_previous_version_gets_a_report(tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    shutil.copytree(ROOT / "tests" / "data" / "legacy-run" / "run", legacy)
    with (legacy / "journal.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"e":"start","row":9,"att')  # torn by a crash: pyarrow refuses the file
    code, _, stderr = invoke("report", legacy)
    assert code == 0, stderr
    page = page_of(legacy)
    summary = json.loads((legacy / "summary.json").read_text())
    assert {e["data-status"]: int(e["data-count"]) for e in page.find(class_="seg")} == summary[
        "counts"
    ]
    (svg,) = page.find(tag="svg")
    assert int(svg["data-requests"]) == summary["requests"] == 6
    assert int(svg["data-server-errors"]) == 4  # the final 503s: all an old journal kept
    assert [e["text"] for e in page.find(data_stat="rate")] == ["10/s"]  # from run.json
    assert "latency not recorded" in (legacy / "report.html").read_text(encoding="utf-8")


def test_several_files_get_an_index(tmp_path: Path, sandbox_factory: Any) -> None:
    server = sandbox_factory(tokens=(TOKEN,))
    make_csv(tmp_path / "a.csv", 4)
    make_csv(tmp_path / "b.csv", 3)
    out = tmp_path / "nightly"
    code, _, stderr = invoke(
        *run_args(tmp_path / "a.csv", server, out, "--unlimited-rate"), tmp_path / "b.csv"
    )
    assert code == 0, stderr
    index = Page((out / "index.html").read_text(encoding="utf-8"))
    links = [e["href"] for e in index.find(tag="a")]
    assert len(links) == 2
    assert all((out / link).is_file() for link in links)
    assert sorted(int(e["data-rows"]) for e in index.find(class_="run")) == [3, 4]


@pytest.mark.browser
def test_report_renders_in_chromium_offline(tmp_path: Path, sandbox_factory: Any) -> None:
    if not CHROMIUM.exists() and not os.environ.get("CI"):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    server = sandbox_factory(tokens=(TOKEN,), fail_rate=0.1, throttle_first=2, seed=2)
    src = faulty_file(tmp_path, 80)
    out = tmp_path / "run"
    code, _, stderr = invoke(*run_args(src, server, out, "--rate", "300"))
    assert code == 1, stderr
    report = out / "report.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            assert page.locator("#outcome").is_visible()
            assert page.locator("svg.timeline").bounding_box()["width"] > 600
            # The first screen holds the outcome, the top problems and the send timeline.
            assert page.locator("svg.timeline").bounding_box()["y"] < 900
            shot = Path(os.environ.get("REPORT_SCREENSHOT", tmp_path / "report.png"))
            page.screenshot(path=str(shot))
            page.emulate_media(media="print")
            page.pdf(path=str(tmp_path / "report.pdf"))
        finally:
            browser.close()
    assert errors == []
    assert requests == [report.as_uri()]
    assert shot.stat().st_size > 10_000
