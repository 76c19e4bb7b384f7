"""Benchmarks: perfstats against named peers, side by side in one process."""
