"""The command line: the only package that parses arguments, prints, or exits.

``main`` is the ``leadimport`` click group (``importer.cli:main``, ``python -m importer``).
Importing ``_tools`` here registers its commands on ``main``.
"""

import atexit
import gc

import importer.cli._tools  # noqa: F401  (its @main.command()s must run)
from importer.cli._commands import main

# When a command is done, the interpreter's last garbage collections would walk every object
# pandas, pyarrow and aiohttp created (about 0.1 s of a run's exit, for nothing: the process
# ends). atexit callbacks run before them; frozen objects are not walked.
atexit.register(gc.freeze)

__all__ = ["main"]
