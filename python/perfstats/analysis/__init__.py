"""Analyses of events: summaries, series, comparisons, costs, metric trends and anomalies.

Layer rule: ``perfstats.analysis`` imports ``perfstats.stats``, ``perfstats.io`` and the
shared private modules, never ``perfstats.report`` or ``perfstats.cli``; see ARCHITECTURE.md.
"""
