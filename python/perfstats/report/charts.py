"""Charts of report sections, drawn by matplotlib into inline SVG."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Chart"]


@dataclass
class Chart:
    """A chart of a section: ``draw(ax)`` draws it on a matplotlib Axes; a chart of
    small multiples (``panels`` > 1, one panel per group) gives ``draw_panels(axes)``
    instead, called with the ``panels`` Axes stacked on a shared time axis."""

    title: str
    draw: Callable[[Axes], object] | None
    height: float = 3.2
    panels: int = 1
    draw_panels: Callable[[Sequence[Axes]], object] | None = None
    _svg: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def svg(self, salt: str = "") -> str:
        """The chart as inline ``<svg>`` text (drawn once, then reused)."""
        if salt not in self._svg:
            self._svg[salt] = _svg(self, salt)
        return self._svg[salt]


def _svg(chart: Chart, salt: str) -> str:
    """The chart drawn by matplotlib's SVG backend, as inline <svg> text."""
    import matplotlib
    from matplotlib.figure import Figure

    # A salt per chart keeps the clip-path ids unique across the inline SVGs of one
    # page and the same from run to run (the default salt is random).
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig = Figure(figsize=(9.0, chart.height), layout="constrained")
        if chart.draw_panels is not None:
            axes = fig.subplots(max(chart.panels, 1), 1, sharex=True, squeeze=False)
            chart.draw_panels(list(axes[:, 0]))
        elif chart.draw is not None:
            chart.draw(fig.add_subplot())
        else:
            raise ValueError(f"chart {chart.title!r} has neither draw nor draw_panels")
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]
