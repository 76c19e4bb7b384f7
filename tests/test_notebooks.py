"""Every notebook in notebooks/ runs top to bottom without an error, and draws no
empty plot rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import perfstats

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# Run in the kernel before the notebook's first cell: every figure the kernel renders
# (the inline backend calls print_figure) is summarised first, so the test sees what
# was drawn and not only that no cell raised.
_RECORD_FIGURES = """
import json as _json
import numpy as _np
from matplotlib.backend_bases import FigureCanvasBase as _Canvas
_PERFSTATS_DRAWN = []
_print_figure = _Canvas.print_figure

def _drawn_line(line):
    xy = _np.asarray(line.get_xydata(), dtype=float).reshape(-1, 2)  # units converted
    ok = _np.isfinite(xy).all(axis=1)
    marker = line.get_marker() not in (None, "", " ", "None", "none")
    return bool(ok.any() if marker else (ok[1:] & ok[:-1]).any())

def _record(self, *args, **kwargs):
    for ax in self.figure.axes:
        _PERFSTATS_DRAWN.append({
            "xlabel": ax.get_xlabel(),
            "yticks": [t.get_text() for t in ax.get_yticklabels()],
            "lines": [_drawn_line(l) for l in ax.lines],
            "points": [
                [int(_np.isfinite(o).all(axis=-1).sum()), int(len(o))]
                for o in (_np.asarray(c.get_offsets(), dtype=float).reshape(-1, 2)
                          for c in ax.collections)
            ],
        })
    return _print_figure(self, *args, **kwargs)

_Canvas.print_figure = _record
"""
_REPORT_FIGURES = "print('PERFSTATS_DRAWN=' + _json.dumps(_PERFSTATS_DRAWN))"


def _drawn_axes(nb: Any) -> list[dict[str, Any]]:
    """The figure summaries printed by the appended cell."""
    for o in nb.cells[-1].get("outputs", []):
        for line in o.get("text", "").splitlines():
            if line.startswith("PERFSTATS_DRAWN="):
                drawn: list[dict[str, Any]] = json.loads(line.split("=", 1)[1])
                return drawn
    raise AssertionError("the figure summary cell printed nothing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(path, as_version=4)
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in nb.cells
        if c.cell_type == "code"
    ), f"{path.name} is committed with outputs; clear them"
    nb.cells.insert(0, nbformat.v4.new_code_cell(_RECORD_FIGURES))
    nb.cells.append(nbformat.v4.new_code_cell(_REPORT_FIGURES))
    # The kernel is this interpreter ("python3" is started as sys.executable) and
    # imports the same perfstats as the tests, installed or from python/.
    pkg_root = str(Path(perfstats.__file__).resolve().parents[1])
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [pkg_root, os.environ.get("PYTHONPATH")])),
    )
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    errors = [
        o
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors

    # Every plotted row has data: a line with nothing finite to draw or a NaN point
    # is an empty row on the chart (notebook 02's error rates were, issue 14).
    drawn = _drawn_axes(nb)
    assert drawn, f"{path.name} rendered no figure"
    for ax in drawn:
        where = f"{path.name}: axes {ax['xlabel']!r}"
        assert all(ax["lines"]), f"{where}: a line with nothing to draw {ax}"
        assert all(k == n for k, n in ax["points"]), f"{where}: NaN points {ax}"
    if path.name.startswith("02-"):
        # The real-data part runs when ../shared/data is present (the notebook looks
        # beside the repository, as conftest's SHARED_DATA).
        real = SHARED_DATA / "llm/llmperf_leaderboard/raw_data/individual"
        rates = [a for a in drawn if a["xlabel"].startswith("error rate")]
        skipped = any(
            "skipping the real-data part" in o.get("text", "")
            for c in nb.cells
            for o in c.get("outputs", [])
        )
        if real.is_dir() and not skipped:
            assert rates, "notebook 02 drew no error rate per provider"
            assert len(rates[-1]["yticks"]) == len(list(real.glob("*_70b.json")))
