"""`leadimport validate` and `mapping init` through the real CLI, on real files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLE, HEADER, invoke, read_results


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_validate_writes_one_result_per_row_with_exact_bodies(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "leads.csv",
        [
            [
                "Ann",
                "Lee",
                "(212) 555-0147",
                "ann@example.com",
                "7/23/2021 2:26 PM",
                "501",
                "NY",
                "02134",
                "web",
            ],
            ["Bob", "Ray", "12345", "", "", "", "", "", ""],
            ["", "", "", "", "", "", "", "", ""],
            ["Cy", "Fox", "", "cy@example.com", "", "", "", "", ""],
            ["Di", "Ng", "", "", "", "1,200", "", "", ""],
        ],
    )
    out = tmp_path / "run"
    code, stdout, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", out)
    assert code == 1, stderr
    rows = read_results(out)
    assert [r["row"] for r in rows] == ["2", "3", "5", "6"]  # row 4 is blank: skipped, counted
    assert [r["status"] for r in rows] == ["valid", "invalid", "valid", "invalid"]
    first = json.loads(rows[0]["payload"])
    assert first == {
        "caller_id": "+12125550147",
        "email": "ann@example.com",
        "schedule_callback_at": "2021-07-23 18:26:00 +0000",
        "lead_priority": 3,
        "assign_trackdrive_number": True,
        "data": {
            "first_name": "Ann",
            "last_name": "Lee",
            "loan_amount": "501",
            "state": "NY",
            "zip": "02134",
            "source": "web",
            "campaign": "fall-promo",
        },
    }
    assert rows[1]["error"].startswith("Phone: '12345'")
    assert json.loads(rows[2]["payload"])["email"] == "cy@example.com"
    assert "caller_id" not in json.loads(rows[2]["payload"])
    assert "a lead needs a phone number or an email" in rows[3]["error"]
    failures = read_results(out, "failures.csv")
    assert [f["row"] for f in failures] == ["3", "6"]
    assert failures[0]["First Name"] == "Bob" and failures[0]["Phone"] == "12345"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"valid": 2, "invalid": 2}
    assert summary["blank_rows"] == 1 and summary["rows"] == 4
    assert len(summary["input_sha256"]) == 64
    assert "valid 2 · invalid 2" in stdout
    assert str(out / "failures.csv") in stdout


def test_validate_all_valid_exits_0(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "ok.csv", [["A", "B", "800-450-6787", "", "", "", "", "", ""]])
    code, _, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "r")
    assert code == 0, stderr


def test_missing_column_names_file_key_headers_and_suggestion(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "x.csv", [["a", "800-450-6787"]], header=["Name", "phone_number"])
    code, stdout, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "r")
    assert code == 2
    assert stderr == (
        f"leadimport: error: {EXAMPLE}: fields.caller_id: no column named 'Phone' in x.csv. "
        "The file has: 'Name', 'phone_number'; did you mean 'phone_number'?\n"
    )
    assert not (tmp_path / "r").exists()  # nothing written before the config is sound


def test_unusable_file_exits_2_without_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    code, _, stderr = invoke("validate", empty, "-m", EXAMPLE)
    assert code == 2
    assert stderr.startswith("leadimport: error: ") and "Traceback" not in stderr
    assert stderr.count("\n") == 1


def test_formula_cells_are_written_as_text(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "f.csv",
        [
            [
                '=HYPERLINK("http://x","y")',
                "@SUM(1)",
                "x",
                "",
                "",
                "+cmd|' /C calc'!A0",
                "",
                "",
                "",
            ],
            ["-1+2", "ok", "800-450-6787", "", "", "-5", "", "", ""],
        ],
    )
    out = tmp_path / "r"
    code, _, _ = invoke("validate", src, "-m", EXAMPLE, "--out", out)
    assert code == 1
    failures = read_results(out, "failures.csv")
    assert failures[0]["First Name"] == '\'=HYPERLINK("http://x","y")'
    assert failures[0]["Last Name"] == "'@SUM(1)"
    assert failures[0]["Amount"] == "'+cmd|' /C calc'!A0"
    results = read_results(out)
    assert results[1]["caller_id"] == "+18004506787"  # a plain number stays readable
    assert json.loads(results[1]["payload"])["data"]["first_name"] == "-1+2"


def test_duplicates_first_and_last(tmp_path: Path) -> None:
    rows = [
        ["A", "1", "800-450-6787", "", "", "", "", "", ""],
        ["B", "2", "(800) 450 6787", "", "", "", "", "", ""],
        ["C", "3", "719-313-2645", "", "", "", "", "", ""],
        ["D", "4", "+1 800 450 6787", "", "", "", "", "", ""],
    ]
    src = write_csv(tmp_path / "d.csv", rows)
    for rule, expected in (
        ("first", ["valid", "skipped", "valid", "skipped"]),
        ("last", ["skipped", "skipped", "valid", "valid"]),
        ("all", ["valid", "valid", "valid", "valid"]),
    ):
        mapping = tmp_path / f"{rule}.yaml"
        mapping.write_text(EXAMPLE.read_text().replace("duplicates: all", f"duplicates: {rule}"))
        out = tmp_path / rule
        code, _, stderr = invoke("validate", src, "-m", mapping, "--out", out)
        assert code == 0, stderr
        results = read_results(out)
        assert [r["status"] for r in results] == expected, rule
        if rule == "first":
            assert results[1]["error"] == "duplicate of row 2"
        if rule == "last":
            assert results[0]["error"] == "duplicate of row 5"


def test_limit_and_start_row(tmp_path: Path) -> None:
    rows = [[f"N{i}", "", f"800-450-{6700 + i}", "", "", "", "", "", ""] for i in range(10)]
    src = write_csv(tmp_path / "w.csv", rows)
    out = tmp_path / "r"
    code, _, _ = invoke(
        "validate", src, "-m", EXAMPLE, "--out", out, "--start-row", "4", "--limit", "3"
    )
    assert code == 0
    assert [r["row"] for r in read_results(out)] == ["4", "5", "6"]


def test_mapping_init_suggests_a_working_mapping(tmp_path: Path) -> None:
    src = write_csv(
        tmp_path / "vendor.csv",
        [
            [
                "Ann",
                "Lee",
                "(212) 555-0147",
                "ann@example.com",
                "7/23/2021 2:26 PM",
                "501",
                "NY",
                "02134",
                "web",
            ],
            ["Bo", "Li", "303.555.0188", "bo@example.org", "", "20", "CO", "80202", "tv"],
        ],
        header=[
            "First",
            "Last",
            "Mobile",
            "Contact Email",
            "Callback Time",
            "Loan Amount ($)",
            "State",
            "Zip",
            "Src",
        ],
    )
    out = tmp_path / "m.yaml"
    code, _, stderr = invoke("mapping", "init", src, "-o", out)
    assert code == 0, stderr
    text = out.read_text()
    assert "caller_id: Mobile" in text
    assert "email: Contact Email" in text
    assert "schedule_callback_at: Callback Time" in text
    assert 'loan_amount: "Loan Amount ($)"' in text
    code, _, stderr = invoke("validate", src, "-m", out, "--out", tmp_path / "r")
    assert code == 0, stderr
    code, _, stderr = invoke("mapping", "init", src, "-o", out)
    assert code == 2 and "pass --force" in stderr


def test_help_on_every_command() -> None:
    for args in (
        ["--help"],
        ["validate", "--help"],
        ["run", "--help"],
        ["rerun", "--help"],
        ["demo", "--help"],
        ["mapping", "init", "--help"],
        ["sandbox", "--help"],
    ):
        code, stdout, _ = invoke(*args)
        assert code == 0 and "Usage:" in stdout, args


def test_python_m_importer_works() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "importer", "--help"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and "validate" in proc.stdout


def test_a_zip_code_column_formatted_00000_keeps_its_zero(tmp_path: Path) -> None:
    """Excel's "Zip Code" format stores 02134 as the number 2134: the body has 02134."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    zip_column = HEADER.index("ZIP") + 1
    sheet.append(["Cara", "Lee", 6175550104, "cara@example.com", "", 750, "MA", 2134, "web"])
    sheet.cell(row=2, column=zip_column).number_format = "00000"
    src = tmp_path / "zips.xlsx"
    book.save(src)
    code, _, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "run")
    assert code == 0, stderr
    (row,) = read_results(tmp_path / "run")
    body = json.loads(row["payload"])
    assert (body["caller_id"], body["data"]["zip"]) == ("+16175550104", "02134")


PER_ROW_TOKEN = EXAMPLE.parent / "per-row-token.yaml"  # include_unmapped_columns: true


def _failures_text(run_dir: Path) -> list[list[str]]:
    with (run_dir / "failures.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_a_fixed_failures_csv_imports_without_our_row_and_error_columns(tmp_path: Path) -> None:
    src = tmp_path / "leads.csv"
    src.write_text(
        "Token,Phone,E-mail,Plan\n"
        "offer-A,(212) 555-0101,ann@example.com,gold\n"
        ",303-555-0103,cy@example.com,silver\n"  # no token: invalid
        "offer-A,12345,,bronze\n",  # a bad phone, and a token to hide
        encoding="utf-8",
    )
    code, _, stderr = invoke("validate", src, "-m", PER_ROW_TOKEN, "--out", tmp_path / "one")
    assert code == 1, stderr
    header, *rows = _failures_text(tmp_path / "one")
    assert header == ["row", "error", "Token", "Phone", "E-mail", "Plan"]
    assert [r[:3] for r in rows] == [
        ["3", "Token: no lead token in this row", ""],  # empty stays empty
        ["4", "Phone: '12345' is not a valid phone number for region US: too few digits | "
         "no caller_id ('Phone') or email ('E-mail'): a lead needs a phone number or an email",
         "(hidden: lead token)"],
    ]  # fmt: skip

    # The person fixes both rows in Excel, leaving the row and error columns as they are.
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(
            [header, [*rows[0][:2], "offer-B", *rows[0][3:]], [*rows[1][:2], "offer-A",
             "312-555-0102", *rows[1][4:]]]
        )  # fmt: skip
    code, _, stderr = invoke("validate", fixed, "-m", PER_ROW_TOKEN, "--out", tmp_path / "two")
    assert code == 0, stderr
    bodies = [json.loads(r["payload"]) for r in read_results(tmp_path / "two")]
    assert [b["data"] for b in bodies] == [{"plan": "silver"}, {"plan": "bronze"}]
    assert [b["caller_id"] for b in bodies] == ["+13035550103", "+13125550102"]


def test_a_token_left_hidden_in_failures_csv_is_an_invalid_row(tmp_path: Path) -> None:
    src = tmp_path / "failures.csv"
    src.write_text(
        "row,error,Token,Phone,E-mail,Plan\n"
        "4,old problem,(hidden: lead token),312-555-0102,,bronze\n"
        "5,old problem,offer-A,212-555-0101,,gold\n",
        encoding="utf-8",
    )
    code, _, stderr = invoke("validate", src, "-m", PER_ROW_TOKEN, "--out", tmp_path / "run")
    assert code == 1, stderr
    results = read_results(tmp_path / "run")
    assert [r["status"] for r in results] == ["invalid", "valid"]
    assert results[0]["error"] == (
        "Token: the lead token was hidden when failures.csv was written; "
        "type this row's token back into the cell"
    )
    # Its own failures.csv replaces the old row and error columns instead of adding more,
    # and links each row to the first file's with original_row.
    header, *rows = _failures_text(tmp_path / "run")
    assert header == ["row", "error", "original_row", "Token", "Phone", "E-mail", "Plan"]
    assert rows == [["2", results[0]["error"], "4", "(hidden: lead token)", "312-555-0102", "",
                     "bronze"]]  # fmt: skip


def test_column_names_below_a_title_are_pointed_at(tmp_path: Path) -> None:
    """Vendor files often start with a title: the error says which rows to delete."""
    import openpyxl

    csv_file = tmp_path / "title.csv"
    csv_file.write_text(
        "Leads export,,,,,,,,\nNovember 2026,,,,,,,,\n,,,,,,,,\n"
        + ",".join(HEADER)
        + "\nAnn,Lee,2125550101,ann@example.com,,5,NY,10001,web\n",
        encoding="utf-8",
    )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Vendor list"])
    sheet.append(HEADER)
    sheet.append(["Ann", "Lee", 2125550101, "ann@example.com", None, 5, "NY", "10001", "web"])
    xlsx_file = tmp_path / "title.xlsx"
    book.save(xlsx_file)
    for src, below, above in ((csv_file, 4, "the 3 rows"), (xlsx_file, 2, "the row")):
        code, stdout, stderr = invoke("validate", src, "-m", EXAMPLE, "--out", tmp_path / "run")
        assert (code, stdout) == (2, ""), stderr
        assert stderr == (
            f"leadimport: error: {EXAMPLE}: fields.caller_id: no column named 'Phone' in row 1 "
            f"of {src.name}, but row {below} has one: the column names must be in row 1, so "
            f"delete {above} above them\n"
        )
    # Names further down than row 11 are not looked for: the usual list of headers.
    far = tmp_path / "far.csv"
    far.write_text("Leads export\n" + "x\n" * 11 + ",".join(HEADER) + "\n", encoding="utf-8")
    code, _, stderr = invoke("validate", far, "-m", EXAMPLE, "--out", tmp_path / "run")
    assert (
        code == 2 and "no column named 'Phone' in far.csv. The file has: 'Leads export'" in stderr
    )


def test_mapping_init_points_at_column_names_below_a_title(tmp_path: Path) -> None:
    src = tmp_path / "title.csv"
    src.write_text(
        "Vendor list November,,\n,,\nMobile Phone,Email Address,Name\n2125550101,a@b.com,Ann\n",
        encoding="utf-8",
    )
    out = tmp_path / "m.yaml"
    code, stdout, stderr = invoke("mapping", "init", src, "-o", out)
    assert (code, stdout, out.exists()) == (2, "", False), stderr
    assert stderr == (
        f"leadimport: error: {src}: row 1 has no phone or email column, but row 3 looks like "
        "the column names ('Mobile Phone', 'Email Address'): delete the 2 rows above it, so "
        "they are in row 1\n"
    )
    # Without a title, the same file gets its mapping.
    src.write_text("Mobile Phone,Email Address,Name\n2125550101,a@b.com,Ann\n", encoding="utf-8")
    code, _, stderr = invoke("mapping", "init", src, "-o", out)
    assert code == 0 and "caller_id: Mobile Phone" in out.read_text(), stderr


def test_a_workbook_whose_first_sheet_is_not_the_leads_points_at_the_right_sheet(
    tmp_path: Path,
) -> None:
    import openpyxl

    def workbook(path: Path, instructions: list[list[str]]) -> Path:
        book = openpyxl.Workbook()
        first = book.active
        first.title = "Instructions"
        for row in instructions:
            first.append(row)
        leads = book.create_sheet("Leads")
        leads.append(HEADER)
        leads.append(["Ann", "Lee", 2125550101, "ann@example.com", None, 5, "NY", "10001", "web"])
        book.save(path)
        return path

    two_rows = workbook(tmp_path / "a.xlsx", [["Read me first"], ["Fill the Leads sheet"]])
    code, _, stderr = invoke("validate", two_rows, "-m", EXAMPLE, "--out", tmp_path / "a")
    assert code == 2
    assert stderr == (
        f"leadimport: error: {EXAMPLE}: fields.caller_id: no column named 'Phone' in sheet "
        "'Instructions' of a.xlsx, but sheet 'Leads' has one: pass --sheet 'Leads'\n"
    )
    one_row = workbook(tmp_path / "b.xlsx", [["Read me first"]])
    code, _, stderr = invoke("validate", one_row, "-m", EXAMPLE, "--out", tmp_path / "b")
    assert code == 2
    assert stderr == (
        f"leadimport: error: {one_row}: sheet 'Instructions' has a header row but no data "
        "rows; other sheets: 'Leads' (pass --sheet NAME)\n"
    )
    code, _, stderr = invoke(
        "validate", two_rows, "-m", EXAMPLE, "--out", tmp_path / "c", "--sheet", "Leads"
    )
    assert code == 0, stderr


@pytest.mark.parametrize("rule", ["first", "last"])
def test_duplicates_rules_give_the_same_rows_whatever_the_chunk_size(
    tmp_path: Path, rule: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.pipeline._jobs as jobs

    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace("duplicates: all", f"duplicates: {rule}"),
        encoding="utf-8",
    )
    sample = EXAMPLE.parent.parent / "samples" / "duplicates.csv"

    def statuses(out: Path) -> list[tuple[str, str, str]]:
        code, _, stderr = invoke("validate", sample, "-m", mapping, "--out", out)
        assert code == 0, stderr
        return [(r["row"], r["status"], r["error"]) for r in read_results(out)]

    whole = statuses(tmp_path / "whole")
    monkeypatch.setattr(jobs, "CHUNK_ROWS", 2)  # keys seen in one chunk, kept in another
    assert statuses(tmp_path / "chunked") == whole
    kept = [row for row, status, _ in whole if status == "valid"]
    assert kept == (["2", "3", "7"] if rule == "first" else ["6", "7", "8"])
