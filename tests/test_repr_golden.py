"""Golden files of the text and HTML displays of results made from fixed inputs
(iminuit's practice): a change in how a result prints is a visible diff under
``tests/golden/``. Regenerate with ``PERFSTATS_UPDATE_GOLDEN=1 pytest tests/test_repr_golden.py``
and review the diff."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import perfstats as ps

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("PERFSTATS_UPDATE_GOLDEN") == "1"

A = [12.0, 14.0, 11.0, 13.0, 12.5]
B = [15.0, 17.0, 16.0, 18.0, 14.5]

#: name -> a function making a result from fixed inputs
CASES: dict[str, Callable[[], Any]] = {
    "welch_t_test": lambda: ps.welch_t_test(A, B),
    "welch_t_test_log": lambda: ps.welch_t_test(A, B, log=True, alternative="less"),
    "mann_whitney_u": lambda: ps.mann_whitney_u(A, B),
    "srm_test": lambda: ps.srm_test([100_000, 102_000], [1, 1]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_display_matches_golden_files(name: str) -> None:
    result = CASES[name]()
    outputs = {
        "txt": repr(result),
        "html": result._repr_html_(),
        "json": result.to_json(),
    }
    for suffix, text in outputs.items():
        path = GOLDEN / f"{name}.{suffix}"
        if UPDATE:
            path.write_text(text + "\n", encoding="utf-8")
        assert path.exists(), (
            f"no golden file {path.name}; run with PERFSTATS_UPDATE_GOLDEN=1"
        )
        assert text + "\n" == path.read_text(encoding="utf-8"), f"{path.name} differs"


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_is_strict_and_holds_to_dict(name: str) -> None:
    result = CASES[name]()
    doc = json.loads(result.to_json())
    assert set(doc) == set(result.to_dict())
    assert len(result.to_frame()) == 1
