"""The package imports and its compiled core matches its version."""

from __future__ import annotations

import perfstats
from perfstats import _core


def test_version_is_exposed() -> None:
    assert perfstats.__version__ == _core.__version__
    assert perfstats.__version__.count(".") >= 1
