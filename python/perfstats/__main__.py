"""``python -m perfstats``: the command line (see :mod:`perfstats.cli`)."""

from perfstats.cli import main

raise SystemExit(main())
