"""Reading and writing events: the canonical event schema and one reader per source.

Layer rule: ``perfstats.io`` imports ``perfstats.stats`` and the shared private modules,
never an analysis, the report or the CLI; see ARCHITECTURE.md.
"""

from __future__ import annotations

from perfstats.io.events import (
    CANONICAL_COLUMNS,
    TIME_UNITS,
    Events,
    as_events,
    describe_columns,
    read_events,
    write_events,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "TIME_UNITS",
    "Events",
    "as_events",
    "describe_columns",
    "read_events",
    "write_events",
]
