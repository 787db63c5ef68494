"""leadimport: load lead spreadsheets into Trackdrive's leads/create_or_update endpoint."""

import os

__version__ = "0.1.0"

# pyarrow's allocator (mimalloc) commits each arena in full as soon as it is reserved, and
# keeps it: a validate of a million rows held ~30 MB more than it used. Committing on
# demand is read when pyarrow loads, so it is set before any part of the package imports
# it; a value the environment already gives wins.
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
