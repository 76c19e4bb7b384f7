"""History of perfstats summaries.

- :class:`History` (``perfstats.history.store``): a store of windowed sketches, moments
  and counts in SQLite or PostgreSQL, queried by time range and group, with batches
  that make appends idempotent, retention with downsampling, and week-over-week tests.
- ``append_run``/``load_runs``/``run_sketches`` (``perfstats.history.runs``): the
  earlier one-JSON-file-per-run directories of ``perfstats report --history DIR``;
  :meth:`History.import_runs` moves them into a store.
"""

from __future__ import annotations

from perfstats.history._backend import STORE_SCHEMA_VERSION, is_store_url
from perfstats.history.runs import HISTORY_SCHEMA, append_run, load_runs, run_sketches
from perfstats.history.store import History

__all__ = [
    "HISTORY_SCHEMA",
    "STORE_SCHEMA_VERSION",
    "History",
    "append_run",
    "is_store_url",
    "load_runs",
    "run_sketches",
]
