"""Scores of detectors against labelled benchmarks, so users can score their own."""

from perfstats.scoring.tcpd import TcpdF1, tcpd_cover, tcpd_f1  # noqa: F401
