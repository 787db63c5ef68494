"""The exceptions the core raises, the exit statuses, and the settings an error may point to.

ImporterError            base: anything the importer reports to a person (exit 2)
 +-- ConfigError         the mapping file or an option is unusable (exit 2)
 +-- InputError          the spreadsheet is unusable (exit 2)
 +-- OutputError         the output folder cannot be written (exit 2)
 +-- LockError           another run holds the ledger lock (exit 2)
 +-- SendError           sending failed as a whole (exit 3)
      +-- AbortError     the run was stopped (rejected token, too many failures) (exit 3)

An error carries facts as fields (``path``, ``row``, ``column``, ``key``, ``value``) and its
message. Where the message tells a person which setting would fix things ("pass the sheet
'Leads'"), it holds a marker made by ``mention(Setting.SHEET, "'Leads'")``, and each face
says it in its own words: ``render`` takes the face's way of naming a setting (the
command line names its flag; the page names its control); ``str()`` gives plain words
for logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum, IntEnum
from pathlib import Path


class ExitStatus(IntEnum):
    """What a command's exit status means; one home for every face and every flow."""

    OK = 0  # every row succeeded (or was valid/skipped)
    ROWS_FAILED = 1  # some rows failed or were invalid
    UNUSABLE = 2  # the file, the mapping or an option is unusable: nothing sent
    ABORTED = 3  # the run was stopped (rejected token, too many failures in a row)
    INTERRUPTED = 130  # Ctrl-C / SIGTERM


class Setting(Enum):
    """A setting a person can change to get past an error; each face names it its own way."""

    SHEET = "sheet"
    LIST_SHEETS = "list of sheets"
    FORMAT = "format"
    ENCODING = "encoding"
    OUT = "output folder"
    LEAD_TOKEN = "lead token"
    ENDPOINT = "endpoint"
    CALLER_ID_COLUMN = "phone column"
    LEDGER = "ledger"
    PORT = "port"
    RESCHEDULE_IN = "delay"
    RESCHEDULE_AT = "time"
    CALLING_HOURS = "calling hours"
    LOCAL_TIME = "choice of each lead's own time zone"
    TIMEZONE = "time zone"


_MARK = re.compile("\x1e([a-z_]+)\x1f([^\x1e]*)\x1e")

Namer = Callable[[Setting, str], str]


def mention(setting: Setting, value: str = "") -> str:
    """A marker for ``setting`` (and the value to give it) inside an error message."""
    return f"\x1e{setting.name.lower()}\x1f{value}\x1e"


def plain_words(setting: Setting, value: str) -> str:
    """A setting as plain words, for logs and faces with no name of their own: ``sheet 'A'``."""
    return f"{setting.value} {value}".rstrip()


def render(message: str, namer: Namer = plain_words) -> str:
    """``message`` with every setting marker said the way ``namer`` says it."""
    return _MARK.sub(lambda m: namer(Setting[m.group(1).upper()], m.group(2)), message)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character written as ``\\xNN`` (a terminal obeys them)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _printable_message(message: str) -> str:
    """``message`` made printable, its setting markers kept."""
    parts, last = [], 0
    for m in _MARK.finditer(message):
        if m.group(1).upper() in Setting.__members__:
            parts.append(printable(message[last : m.start()]))
            parts.append(mention(Setting[m.group(1).upper()], printable(m.group(2))))
            last = m.end()
    parts.append(printable(message[last:]))
    return "".join(parts)


def settings_in(message: str) -> tuple[tuple[Setting, str], ...]:
    """The settings (and values) a message points to, in order."""
    return tuple((Setting[m.group(1).upper()], m.group(2)) for m in _MARK.finditer(message))


class ImporterError(Exception):
    """Base class: the message is one line a person can act on."""

    exit_code: ExitStatus = ExitStatus.UNUSABLE

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        row: int | None = None,
        column: str | None = None,
        key: str | None = None,
        value: str | None = None,
    ) -> None:
        # A file name or cell may hold ESC sequences; a message is shown and logged as is.
        message = _printable_message(message)
        super().__init__(message)
        self.message = message
        self.path = path
        self.row = row
        self.column = column
        self.key = key
        self.value = value

    @property
    def settings(self) -> tuple[tuple[Setting, str], ...]:
        """The settings that would fix this, with the values to give them."""
        return settings_in(self.message)

    def render(self, namer: Namer = plain_words) -> str:
        """The message, with each setting named the way a face names it."""
        return render(self.message, namer)

    def __str__(self) -> str:
        return self.render()


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

    exit_code = ExitStatus.ABORTED


class AbortError(SendError):
    """The run was stopped before every row was sent."""
