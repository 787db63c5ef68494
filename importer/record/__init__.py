"""What a run leaves behind: journal, results and summary, report, nightly ledger, webhook."""

from __future__ import annotations

from importer.record._journal import (
    JOURNAL_FILE,
    RUN_FILE,
    Journal,
    RunLock,
    is_sending,
    read_run_info,
    write_run_info,
)
from importer.record._ledger import (
    DEFAULT_LEDGER,
    Entry,
    Ledger,
    LedgerLock,
    body_hash,
)
from importer.record._notify import (
    notify,
    summary_text,
)
from importer.record._outcomes import (
    OUTCOME_COLUMNS,
    Outcome,
    Outcomes,
)
from importer.record._report import (
    INDEX_FILE,
    REPORT_FILE,
    SendFacts,
    is_run_folder,
    read_journal,
    write_index,
    write_report,
)
from importer.record._results import (
    ERROR_SEPARATOR,
    FAILURES_FILE,
    RESULT_COLUMNS,
    RESULTS_FILE,
    SUMMARY_FILE,
    ResultsWriter,
    Summary,
    Tally,
    count_firsts,
    error_reason,
    error_reasons,
    write_summary,
)

__all__ = [
    "count_firsts",
    "error_reason",
    "error_reasons",
    "DEFAULT_LEDGER",
    "ERROR_SEPARATOR",
    "Entry",
    "FAILURES_FILE",
    "INDEX_FILE",
    "JOURNAL_FILE",
    "Journal",
    "Ledger",
    "LedgerLock",
    "RunLock",
    "is_sending",
    "OUTCOME_COLUMNS",
    "Outcome",
    "Outcomes",
    "REPORT_FILE",
    "RESULTS_FILE",
    "RESULT_COLUMNS",
    "RUN_FILE",
    "SendFacts",
    "ResultsWriter",
    "SUMMARY_FILE",
    "Summary",
    "Tally",
    "body_hash",
    "is_run_folder",
    "notify",
    "read_journal",
    "read_run_info",
    "summary_text",
    "write_index",
    "write_report",
    "write_run_info",
    "write_summary",
]
