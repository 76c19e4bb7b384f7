"""Numbers on arrays: sketches, histograms, moments, tests, intervals, regression and trend
fits, anomaly detectors and change points. No events, no pandas required.

Layer rule: ``perfstats.stats`` imports only ``perfstats._core`` and the shared private
modules (``perfstats._*``); see ARCHITECTURE.md.
"""
