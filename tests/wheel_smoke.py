"""Smoke test of an installed wheel (cibuildwheel's test-command, and by hand in a fresh
venv): the compiled core loads and the sample report builds, without the source tree."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import perfstats as ps

assert "site-packages" in ps.__file__, f"not the installed wheel: {ps.__file__}"
sketch = ps.QuantileSketch()
sketch.add([1.0, 2.0, 3.0])
print(
    subprocess.run(
        [sys.executable, "-m", "perfstats", "--version"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)
with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "report.html"
    subprocess.run(
        [sys.executable, "-m", "perfstats", "report", "--sample", "-o", str(out)],
        check=True,
    )
    assert out.stat().st_size > 10_000
print("wheel smoke test passed")
