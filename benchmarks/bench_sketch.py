"""QuantileSketch against numpy.percentile, ddsketch, hdrhistogram and boost-histogram.

Lognormal latencies (median 800 ms, sigma 1), 10 million values; every tool fills from the
same array and answers p50/p90/p99/p99.9. The pure-Python peers (ddsketch, hdrhistogram)
add one value per call; they are timed on a 200,000-value slice and compared per value.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from benchmarks.common import best_time, write_results
from perfstats import QuantileSketch

N = 10_000_000
SLICE = 200_000
QS = [0.5, 0.9, 0.99, 0.999]


def perfstats_fill_and_query(x: np.ndarray) -> np.ndarray:
    s = QuantileSketch(0.01)
    s.add(x)
    return s.quantile(QS)


def boost_histogram_fill(x: np.ndarray) -> Any:
    import boost_histogram as bh

    # 1% relative bins over 9 decades: the same resolution class as the sketch.
    h = bh.Histogram(bh.axis.Regular(2100, 1e-2, 1e7, transform=bh.axis.transform.log))
    h.fill(x)
    return h


def boost_histogram_quantiles(x: np.ndarray) -> np.ndarray:
    h = boost_histogram_fill(x)
    cum = np.cumsum(h.values())
    edges = h.axes[0].edges
    return np.array([edges[np.searchsorted(cum, q * cum[-1]) + 1] for q in QS])


def ddsketch_fill(x: np.ndarray) -> Any:
    from ddsketch import DDSketch

    d = DDSketch(relative_accuracy=0.01)
    for v in x.tolist():
        d.add(v)
    return [d.get_quantile_value(q) for q in QS]


def hdr_fill(x_us: list[int]) -> Any:
    from hdrh.histogram import HdrHistogram

    h = HdrHistogram(1, 3_600_000_000, 2)
    for v in x_us:
        h.record_value(v)
    return [h.get_value_at_percentile(100 * q) for q in QS]


def main() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    x = rng.lognormal(np.log(800.0), 1.0, N)
    part = x[:SLICE]

    t_ps = best_time(lambda: perfstats_fill_and_query(x), repeat=7)
    s = QuantileSketch(0.01)
    s.add(x)
    t_fill = best_time(lambda: QuantileSketch(0.01).add(x), repeat=7)
    t_np = best_time(lambda: np.percentile(x, [100 * q for q in QS]), repeat=3)
    t_bh = best_time(lambda: boost_histogram_quantiles(x), repeat=3)
    t_bh_fill = best_time(lambda: boost_histogram_fill(x), repeat=3)
    t_dd = best_time(lambda: ddsketch_fill(part), repeat=1) * (N / SLICE)
    part_us = (part * 1000).astype(np.int64).tolist()
    t_hdr = best_time(lambda: hdr_fill(part_us), repeat=1) * (N / SLICE)

    # merging 10,000 per-minute sketches of 1,000 requests each
    pieces = []
    for chunk in np.array_split(x[:10_000_000], 10_000):
        p = QuantileSketch(0.01)
        p.add(chunk)
        pieces.append(p)

    def merge_all() -> QuantileSketch:
        total = QuantileSketch(0.01)
        for p in pieces:
            total.merge(p)
        return total

    t_merge = best_time(merge_all, repeat=3)
    exact = np.quantile(x, QS, method="lower")
    est = s.quantile(QS)
    results = {
        "data": f"lognormal(median=800 ms, sigma=1), n={N:,}",
        "seconds": {
            "perfstats_fill_and_quantiles": t_ps,
            "perfstats_fill": t_fill,
            "numpy_percentile": t_np,
            "boost_histogram_fill_and_quantiles": t_bh,
            "boost_histogram_fill": t_bh_fill,
            "ddsketch_fill_and_quantiles_extrapolated": t_dd,
            "hdrhistogram_fill_and_quantiles_extrapolated": t_hdr,
            "merge_10000_sketches": t_merge,
        },
        "speedup": {
            "vs_numpy_percentile": t_np / t_ps,
            "vs_ddsketch": t_dd / t_ps,
            "vs_hdrhistogram": t_hdr / t_ps,
            "vs_boost_histogram_fill": t_bh_fill / t_fill,
            "vs_boost_histogram_fill_and_quantiles": t_bh / t_ps,
        },
        "values_per_second_one_core": N / t_fill,
        "serialized_bytes": len(s.to_bytes()),
        "pickled_bytes": len(pickle.dumps(s)),
        "in_memory_bytes": s.nbytes,
        "relative_accuracy": s.relative_accuracy,
        "max_relative_error_observed": float(np.max(np.abs(est - exact) / exact)),
    }
    write_results("sketch", results)
    return results


if __name__ == "__main__":
    main()
