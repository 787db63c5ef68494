"""The exceptions the core raises; only ``importer.cli`` turns them into words and exit codes.

ImporterError            base: anything the importer reports to a person
 +-- ConfigError         the mapping file or an option is unusable (exit 2)
 +-- InputError          the spreadsheet is unusable (exit 2)
 +-- OutputError         the output folder cannot be written (exit 2)
 +-- LockError           another run holds the ledger lock (exit 2)
 +-- SendError           sending failed as a whole
      +-- AbortError     the run was stopped (rejected token, too many failures) (exit 3)
"""

from __future__ import annotations


class ImporterError(Exception):
    """Base class: the message is one line a person can act on."""

    exit_code = 2


class ConfigError(ImporterError):
    """The mapping file or a command-line option is unusable."""


class InputError(ImporterError):
    """The spreadsheet cannot be read."""


class OutputError(ImporterError):
    """The output folder cannot be written."""


class LockError(ImporterError):
    """Another run holds the lock."""


class SendError(ImporterError):
    """Sending failed as a whole."""

    exit_code = 3


class AbortError(SendError):
    """The run was stopped before every row was sent."""
