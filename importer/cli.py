"""The command line: the only module that parses arguments, prints, or exits."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="leadimport")
def main() -> None:
    """Load lead spreadsheets (CSV, Excel) into Trackdrive's leads/create_or_update endpoint."""


# --- sandbox command (owned by the sandbox work) ---
# --- end sandbox command ---
