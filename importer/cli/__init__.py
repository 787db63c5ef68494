"""The command line: the only package that parses arguments, prints, or exits.

``main`` is the ``leadimport`` click group (``importer.cli:main``, ``python -m importer``).
Importing ``tools`` here registers its commands on ``main``.
"""

from importer.cli import tools  # noqa: F401  (its @main.command()s must run)
from importer.cli.commands import main

__all__ = ["main"]
