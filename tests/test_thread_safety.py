"""One object shared by many threads: exact counts, consistent snapshots, no crash.

The bindings release the GIL around loops over arrays, so every mutable object guards itself
with a lock. Each scenario runs in a child process with a timeout: a crash (SIGSEGV, glibc heap
abort) or a deadlock is then a failed test, not a dead test session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import perfstats

PYTHON_DIR = Path(perfstats.__file__).resolve().parents[1]  # the package under test

PRELUDE = """
import json, sys, threading
import numpy as np
from perfstats import Histogram, Moments, QuantileSketch, _core

N_THREADS = 4
CHUNKS = 40
CHUNK = 25_000  # 4 * 40 * 25,000 = 4,000,000 values, in calls long enough to overlap
errors = []
barrier = threading.Barrier(N_THREADS)

def run(target):
    def guarded(t):
        try:
            barrier.wait()
            target(t)
        except BaseException as err:  # reported to the parent
            errors.append(repr(err))
    threads = [threading.Thread(target=guarded, args=(t,)) for t in range(N_THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

# Each chunk reaches further out than the last, so the stores grow (reallocate) while other
# threads may be writing: unguarded, that is a use-after-free, not only a lost count.
DATA = np.random.default_rng(0).lognormal(0.0, 1.0, (N_THREADS, CHUNKS, CHUNK))
DATA *= np.exp(0.5 * np.arange(CHUNKS) * (-1) ** np.arange(CHUNKS))[None, :, None]

def values(t, k):
    return DATA[t, k]

def bucket_total(s):
    return float(s.buckets()[1].sum() + s.buckets(negative=True)[1].sum() + s.zero_count)
"""


def run_child(body: str, timeout: float = 120.0) -> dict[str, object]:
    """Run PRELUDE + body in a fresh interpreter; return the JSON it prints last."""
    code = PRELUDE + textwrap.dedent(body)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PYTHON_DIR), env.get("PYTHONPATH", "")) if p
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert done.returncode == 0, (
        f"child exited with {done.returncode}\nstdout:\n{done.stdout[-2000:]}\n"
        f"stderr:\n{done.stderr[-4000:]}"
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.get("errors") == [], result.get("errors")
    return result


def test_quantile_sketch_shared_by_writers_mergers_and_readers() -> None:
    result = run_child(
        """
        s = QuantileSketch(relative_accuracy=0.01)
        small = QuantileSketch()
        small.add([0.5, 2.0])
        merges = [0] * N_THREADS
        def work(t):
            for k in range(CHUNKS):
                s.add(values(t, k))
                if t % 2 == 0:
                    s.merge(small)  # merge of another object while others add
                    merges[t] += 1
                else:
                    assert s.quantile(0.0) <= s.quantile(0.5) <= s.quantile(1.0)
                    blob = s.to_bytes()
                    snap = QuantileSketch.from_bytes(blob)  # a consistent snapshot
                    assert snap.count <= 4_000_000 + 2 * N_THREADS * CHUNKS
        run(work)
        print(json.dumps({"errors": errors, "count": s.count, "merges": sum(merges),
                          "buckets": bucket_total(s)}))
        """
    )
    assert result["count"] == 4_000_000 + 2 * result["merges"]  # type: ignore[operator]
    assert result["buckets"] == result["count"]


def test_quantile_sketch_adds_from_threads_lose_no_count_and_match_serial() -> None:
    result = run_child(
        """
        s = QuantileSketch()
        def work(t):
            for k in range(CHUNKS):
                s.add(values(t, k))
        run(work)
        serial = QuantileSketch()
        for t in range(N_THREADS):
            for k in range(CHUNKS):
                serial.add(values(t, k))
        print(json.dumps({"errors": errors, "count": s.count, "buckets": bucket_total(s),
                          "same_buckets": bool(np.array_equal(s.buckets()[1],
                                                              serial.buckets()[1])),
                          "min": s.min == serial.min, "max": s.max == serial.max}))
        """
    )
    assert result["count"] == 4_000_000
    assert result["buckets"] == 4_000_000
    assert result["same_buckets"] and result["min"] and result["max"]


def test_self_merge_doubles_every_count() -> None:
    result = run_child(
        """
        s = QuantileSketch(); s.add([1.0, 2.0, 3.0])
        h = Histogram([1.5]); h.add([1.0, 2.0, 3.0])
        m = Moments([1.0, 2.0, 3.0])
        s.merge(s); h.merge(h); m.merge(m)
        print(json.dumps({"errors": errors, "s": s.count, "h": h.counts.tolist(),
                          "m": m.count, "mean": m.mean}))
        """
    )
    assert result["s"] == 6.0
    assert result["h"] == [2.0, 4.0]
    assert result["m"] == 6.0 and result["mean"] == 2.0


def test_cross_merges_between_two_sketches_do_not_deadlock() -> None:
    # a.merge(b) in some threads while b.merge(a) in others: both locks are taken at once.
    result = run_child(
        """
        a, b = QuantileSketch(), QuantileSketch()
        a.add([1.0]); b.add([2.0])
        def work(t):
            for _ in range(200):
                (a.merge(b) if t % 2 else b.merge(a))
                if a.count > 1e12 or b.count > 1e12:
                    break
        run(work)
        print(json.dumps({"errors": errors, "a": a.count, "b": b.count}))
        """,
        timeout=60,
    )
    assert result["a"] > 1 and result["b"] > 1


def test_histogram_shared_by_threads_counts_exactly() -> None:
    result = run_child(
        """
        h = Histogram([1.0, 10.0, 100.0])
        other = Histogram([1.0, 10.0, 100.0]); other.add([5.0])
        merges = [0] * N_THREADS
        def work(t):
            for k in range(CHUNKS):
                h.add(values(t, k))
                if t % 2:
                    h.merge(other); merges[t] += 1
                else:
                    Histogram.from_bytes(h.to_bytes())
                    assert h.counts.sum() >= 0
        run(work)
        print(json.dumps({"errors": errors, "count": h.count, "merges": sum(merges)}))
        """
    )
    assert result["count"] == 4_000_000 + result["merges"]  # type: ignore[operator]


def test_moments_shared_by_threads_match_the_serial_summary() -> None:
    result = run_child(
        """
        m = Moments()
        def work(t):
            for k in range(CHUNKS):
                m.add(values(t, k))
                Moments.from_bytes(m.to_bytes())
                _core.welch_t_test(m._impl, m._impl, "two-sided", 0.95, False)
        run(work)
        allv = DATA.reshape(-1)
        print(json.dumps({"errors": errors, "count": m.count,
                          "mean_err": abs(m.mean - allv.mean()) / allv.mean(),
                          "var_err": abs(m.variance() - allv.var(ddof=1)) / allv.var(ddof=1)}))
        """
    )
    assert result["count"] == 4_000_000
    assert result["mean_err"] < 1e-12  # type: ignore[operator]
    assert result["var_err"] < 1e-10  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        "_core.RollingZScore(50, 3.0, 10)",
        "_core.RobustZScore(50, 3.0, 10)",
        "_core.EwmaZScore(20.0, 3.0, 10)",
        "_core.SeasonalZScore(24, 5, 3.0, False, 10)",
        "_core.SeasonalLevelDetector(24, 3, 0.001, 100, 5, 10, 1)",
    ],
)
def test_anomaly_detector_shared_by_threads_does_not_crash(make: str) -> None:
    # A constant series: whatever the interleaving, every score after warm-up is the same
    # and nothing is flagged, so torn state would show as a flag or a crash.
    result = run_child(
        f"""
        d = {make}
        x = np.full(2000, 5.0)
        flags = [0] * N_THREADS
        def work(t):
            for _ in range(5):
                cols = d.detect(x)
                flags[t] += int(cols[4].sum())
                p = d.update(5.0)
                flags[t] += int(p[4])
                if t == 0:
                    d.reset()
        run(work)
        print(json.dumps({{"errors": errors, "flags": sum(flags)}}))
        """
    )
    assert result["flags"] == 0


def test_grouped_builder_shared_by_threads_counts_exactly() -> None:
    result = run_child(
        """
        b = _core.GroupedSketchBuilder(4, 0.01)
        def work(t):
            for k in range(CHUNKS):
                codes = np.arange(CHUNK, dtype=np.int32) % 4
                b.add(codes, values(t, k), (t * CHUNKS + k) * CHUNK)
        run(work)
        sketches, counts = b.finish()
        print(json.dumps({"errors": errors, "count": sum(s.count for s in sketches),
                          "buckets": float(counts.sum())}))
        """
    )
    assert result["count"] == 4_000_000
    assert result["buckets"] == 4_000_000
