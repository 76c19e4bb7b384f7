"""Scores of detectors against labelled benchmarks (NAB, TCPD), so users can score theirs.

Each benchmark's scorer lives in its own module; this package re-exports them.
"""

from __future__ import annotations

from perfstats.stats.scoring.nab import (
    NAB_PROFILES,
    NabCorpus,
    NabFileScore,
    NabScore,
    load_nab_corpus,
    nab_score,
)
from perfstats.stats.scoring.tcpd import TcpdF1, tcpd_cover, tcpd_f1

__all__ = [
    "NAB_PROFILES",
    "NabCorpus",
    "NabFileScore",
    "NabScore",
    "TcpdF1",
    "load_nab_corpus",
    "nab_score",
    "tcpd_cover",
    "tcpd_f1",
]
