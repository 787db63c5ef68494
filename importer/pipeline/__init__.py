"""The flows a face drives: validate, run, rerun, reschedule; no printing."""

from __future__ import annotations

from importer.pipeline._batch import (
    DEFAULT_OUTPUT,
    BatchResult,
    BatchWatcher,
    log_to_file,
    run_files,
    tell_webhook,
)
from importer.pipeline._coverage import Coverage, Match, check_mapping
from importer.pipeline._demo import (
    DemoResult,
    run_demo,
)
from importer.pipeline._flows import (
    SendOptions,
    endpoint_origin,
    rejected_literal_mapping,
    rerun,
    rerun_endpoint,
    reschedule,
    run,
    validate,
)
from importer.pipeline._history import (
    PastRun,
    Pruned,
    RowFate,
    Settled,
    earlier_imports,
    past_run,
    past_runs,
    prune_runs,
    row_fates,
    settled_run,
)
from importer.pipeline._jobs import (
    Job,
    NoProgress,
    Progress,
    Source,
    Window,
    estimate_rows,
    phone_column,
)
from importer.pipeline._reschedule import (
    RescheduleRequest,
    plan_reschedule,
)
from importer.pipeline._runfolder import (
    file_sha256,
    log,
    make_run_dir,
)
from importer.pipeline._stop import StopSwitch

__all__ = [
    "Coverage",
    "Match",
    "check_mapping",
    "PastRun",
    "Pruned",
    "prune_runs",
    "RowFate",
    "Settled",
    "row_fates",
    "settled_run",
    "earlier_imports",
    "past_run",
    "past_runs",
    "DEFAULT_OUTPUT",
    "BatchResult",
    "BatchWatcher",
    "log_to_file",
    "run_files",
    "tell_webhook",
    "RescheduleRequest",
    "plan_reschedule",
    "DemoResult",
    "run_demo",
    "Job",
    "NoProgress",
    "Progress",
    "SendOptions",
    "StopSwitch",
    "Source",
    "Window",
    "estimate_rows",
    "file_sha256",
    "log",
    "make_run_dir",
    "phone_column",
    "endpoint_origin",
    "rerun",
    "rejected_literal_mapping",
    "rerun_endpoint",
    "reschedule",
    "run",
    "validate",
]
