"""merge_serialized / merge_bytes of QuantileSketch, Moments and Histogram: many
serialized objects read and merged in one C++ call (the history store's roll-up).

Oracle: ``from_bytes`` and ``merge`` one payload after another, which they must equal
bit for bit; hostile bytes are refused as ``from_bytes`` refuses them, naming the
payload's index, and leave the target unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import perfstats
from perfstats import Histogram, Moments, QuantileSketch

PYTHON_DIR = Path(perfstats.__file__).resolve().parents[1]  # the package under test


def sketch(rng: np.random.Generator, i: int) -> QuantileSketch:
    s = QuantileSketch(0.02 if i % 3 == 0 else 0.01)  # merges downscale
    s.add(rng.lognormal(6.0, 0.7, 5 + i))
    return s


def moments(rng: np.random.Generator, i: int) -> Moments:
    return Moments(rng.normal(1e6 + i, 3.0, 7))  # a large offset: rounding shows


def histogram(rng: np.random.Generator, i: int) -> Histogram:
    h = Histogram([100.0, 500.0, 1000.0])
    h.add(rng.uniform(0, 2000, 9))
    return h


KINDS: list[Callable[[np.random.Generator, int], Any]] = [sketch, moments, histogram]


@pytest.mark.parametrize("make", KINDS, ids=lambda f: f.__name__)
def test_equals_from_bytes_and_merge_in_order(make: Any) -> None:
    rng = np.random.default_rng(3)
    parts = [make(rng, i) for i in range(200)]
    cls = type(parts[0])
    blobs = [p.to_bytes() for p in parts]
    want = cls.from_bytes(blobs[0])
    for b in blobs[1:]:
        want.merge(cls.from_bytes(b))
    got = cls.merge_serialized(iter(blobs))  # any iterable
    assert got == want
    # bytes-like of every kind: bytearray, memoryview slices of one buffer
    joined = b"".join(blobs)
    views, pos = [], 0
    for b in blobs:
        views.append(memoryview(joined)[pos : pos + len(b)])
        pos += len(b)
    views[1] = bytearray(views[1])
    assert cls.merge_serialized(views) == want
    # continued into an existing object, in chunks: still the row-by-row result
    into = cls.from_bytes(blobs[0])
    into.merge_bytes(blobs[1:50])
    into.merge_bytes([])
    into.merge_bytes(blobs[50:])
    assert into == want
    assert into.to_bytes() == got.to_bytes() == want.to_bytes()  # every bit


@pytest.mark.parametrize("make", KINDS, ids=lambda f: f.__name__)
def test_hostile_payloads_are_refused_by_index_and_change_nothing(make: Any) -> None:
    rng = np.random.default_rng(4)
    a, b = make(rng, 1), make(rng, 2)
    cls = type(a)
    good = b.to_bytes()
    for bad in (good[:-1], good[: len(good) // 2], b"", b"\x00" * 40, good + b"x"):
        with pytest.raises(ValueError, match=r"payloads: object 2"):
            cls.merge_serialized([good, good, bad])
        before = a.to_bytes()
        with pytest.raises(ValueError, match=r"payloads: object 1"):
            a.merge_bytes([good, bad, good])
        assert a.to_bytes() == before  # unchanged
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0x5A  # the CRC no longer matches
    with pytest.raises(ValueError, match=r"object 0"):
        cls.merge_serialized([bytes(flipped)])
    with pytest.raises(ValueError, match="at least one"):
        cls.merge_serialized([])
    with pytest.raises(TypeError, match=r"payloads\[1\] must be bytes-like, got str"):
        cls.merge_serialized([good, "text"])
    with pytest.raises(TypeError, match=r"payloads\[0\] must be bytes-like, got int"):
        cls.merge_serialized(good)  # the bytes themselves: items are ints
    with pytest.raises(TypeError):
        cls.merge_serialized(None)


def test_histograms_of_other_boundaries_do_not_merge() -> None:
    h1, h2 = Histogram([1.0, 2.0]), Histogram([1.0, 3.0])
    with pytest.raises(ValueError, match=r"payloads: object 1"):
        Histogram.merge_serialized([h1.to_bytes(), h2.to_bytes()])
    with pytest.raises(ValueError, match=r"object 0"):
        h1.merge_bytes([h2.to_bytes()])


def test_concurrent_merges_from_threads_agree() -> None:
    """merge_bytes releases the GIL under the target's lock: threads merging into one
    sketch while others change the payload buffers neither crash nor lose a merge.
    Run in a child process, so that a crash is a failed test."""
    code = textwrap.dedent(
        """
        import threading
        import numpy as np
        from perfstats import QuantileSketch
        rng = np.random.default_rng(5)
        parts = []
        for i in range(64):
            s = QuantileSketch(); s.add(rng.lognormal(6, 0.5, 20)); parts.append(s)
        blobs = [p.to_bytes() for p in parts]
        target = QuantileSketch()
        buffers = [bytearray(b) for b in blobs]
        stop = threading.Event()

        def scribble():  # resizing is refused while a buffer is exported; writes go on
            while not stop.is_set():
                for buf in buffers:
                    buf[0] ^= 0
        def merge():
            for _ in range(25):
                target.merge_bytes(blobs)
                QuantileSketch.merge_serialized(buffers)
        threads = [threading.Thread(target=merge) for _ in range(4)]
        w = threading.Thread(target=scribble)
        w.start()
        for t in threads: t.start()
        for t in threads: t.join()
        stop.set(); w.join()
        want = QuantileSketch()
        for _ in range(100):
            for p in parts:
                want.merge(p)
        assert target.count == want.count == 100 * 64 * 20, (target.count, want.count)
        (i, c), (j, d) = target.buckets(), want.buckets()
        assert i == j and np.array_equal(c, d)
        print("ok")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(PYTHON_DIR)},
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
