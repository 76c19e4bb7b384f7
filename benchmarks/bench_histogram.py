"""Fill speed of perfstats.Histogram against NumPy and boost-histogram, same data."""

from __future__ import annotations

import numpy as np

from benchmarks.common import best_time, write_results

N = 10_000_000
SLA_MS = [1000.0, 2000.0, 5000.0, 10000.0, 30000.0]
GENAI_S = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
           40.96, 81.92]  # fmt: skip


def _case(values: np.ndarray, boundaries: list[float]) -> dict[str, float]:
    import boost_histogram as bh

    from perfstats import Histogram

    b = np.asarray(boundaries)
    edges = np.concatenate(([-np.inf], b, [np.inf]))

    def perfstats_fill() -> None:
        Histogram(boundaries).add(values)

    def numpy_searchsorted() -> None:  # exact `le` semantics, like ours
        np.bincount(np.searchsorted(b, values, side="left"), minlength=b.size + 1)

    def numpy_histogram() -> None:  # [a, b) bins: same work, other closedness
        np.histogram(values, edges)

    def boost_fill() -> None:
        bh.Histogram(bh.axis.Variable(edges[1:-1], underflow=True, overflow=True)).fill(
            values
        )

    # Correctness of the comparison: the exact peer must agree bucket for bucket.
    h = Histogram(boundaries)
    h.add(values)
    peer = np.bincount(np.searchsorted(b, values, side="left"), minlength=b.size + 1)
    assert np.array_equal(h.counts, peer)

    times = {
        "perfstats": best_time(perfstats_fill, repeat=3),
        "numpy_searchsorted_bincount": best_time(numpy_searchsorted, repeat=3),
        "numpy_histogram": best_time(numpy_histogram, repeat=3),
        "boost_histogram": best_time(boost_fill, repeat=3),
    }
    out: dict[str, float] = {f"{k}_s": v for k, v in times.items()}
    out["perfstats_values_per_s"] = N / times["perfstats"]
    for k, v in times.items():
        if k != "perfstats":
            out[f"speedup_vs_{k}"] = v / times["perfstats"]
    return out


def main() -> None:
    rng = np.random.default_rng(20261123)
    latency_ms = rng.lognormal(np.log(800.0), 1.0, N)
    write_results(
        "histogram",
        {
            "n_values": N,
            "sla_5_boundaries_ms": _case(latency_ms, SLA_MS),
            "genai_duration_14_boundaries_s": _case(latency_ms / 1000.0, GENAI_S),
        },
    )


if __name__ == "__main__":
    main()
