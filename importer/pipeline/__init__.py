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
from importer.pipeline._demo import (
    DemoResult,
    run_demo,
)
from importer.pipeline._flows import (
    SendOptions,
    rerun,
    reschedule,
    run,
    validate,
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
    EarlierImport,
    earlier_imports,
    file_sha256,
    log,
    make_run_dir,
)

__all__ = [
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
    "EarlierImport",
    "Job",
    "NoProgress",
    "Progress",
    "SendOptions",
    "Source",
    "Window",
    "earlier_imports",
    "estimate_rows",
    "file_sha256",
    "log",
    "make_run_dir",
    "phone_column",
    "rerun",
    "reschedule",
    "run",
    "validate",
]
