"""The command line: the only package that parses arguments, prints, or exits.

``main`` is the ``leadimport`` click group (``importer.cli:main``, ``python -m importer``).
Importing ``_tools`` here registers its commands on ``main``.
"""

import importer.cli._tools  # noqa: F401  (its @main.command()s must run)
from importer.cli._commands import main

__all__ = ["main"]
