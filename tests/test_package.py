"""The package imports and its compiled core matches its version."""

from __future__ import annotations

import perfstats
from perfstats import _core


def test_version_is_exposed() -> None:
    assert perfstats.__version__ == _core.__version__
    assert perfstats.__version__.count(".") >= 1


def test_the_statistics_core_imports_without_pandas() -> None:
    """numpy is the only hard dependency: `import perfstats` and the array statistics
    work with pandas and pyarrow absent (a child process, where they are blocked)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['pandas'] = None; sys.modules['pyarrow'] = None\n"
        "import perfstats\n"
        "s = perfstats.QuantileSketch(); s.add([1.0, 2.0, 3.0])\n"
        "print(s.quantile(0.5), perfstats.Moments([1.0, 2.0]).count)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
