"""The one result protocol: every result object exports, prints and renders the same way.

A result subclasses :class:`Result` and provides ``to_dict`` (plain data) and, when it
has more to show than its scalar fields, ``_view`` (a :class:`~perfstats._display.View`:
title, fields, tables, notes). ``to_json``, ``to_frame``, ``__repr__`` and
``_repr_html_`` follow from those two, through the one formatter module
:mod:`perfstats._display` (text and HTML), so every result prints alike and golden
files pin the output (``tests/golden``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from perfstats._display import View, render_html, render_one_line, render_text
from perfstats._json import json_ready

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["Result"]


class Result:
    """Mixin of perfstats' result objects (see the module docstring)."""

    __slots__ = ()

    #: Caption of the text and HTML display; the class name when empty.
    _title: str = ""
    #: Small value objects (sketches, moments, histograms, single events) print on one
    #: line, ``Name(field=value, ...)``, showing these fields of the view (all when
    #: empty); every other result prints as a block (title, fields, tables, notes).
    _one_line: bool = False
    _repr_fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The result as plain data (numbers, strings, lists, dicts)."""
        raise NotImplementedError

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as JSON: NaN and infinities written as null, times as ISO
        text; keyword arguments go to :func:`json.dumps` (default ``indent=1``)."""
        kwargs.setdefault("indent", 1)
        return json.dumps(json_ready(self.to_dict()), allow_nan=False, **kwargs)

    def to_frame(self) -> pd.DataFrame:
        """The result as a DataFrame: by default one row of its scalar fields."""
        import pandas as pd

        scalars = {
            k: v
            for k, v in self.to_dict().items()
            if not isinstance(v, (dict, list, tuple))
        }
        return pd.DataFrame([scalars])

    def _view(self) -> View:
        """What the text and HTML displays show: by default the scalar fields and
        pairs (intervals) of :meth:`to_dict`."""
        fields = {
            k: v for k, v in self.to_dict().items() if not isinstance(v, (dict, list))
        }
        return View(self._title or type(self).__name__, fields)

    def __repr__(self) -> str:
        view = self._view()
        if self._one_line:
            return render_one_line(view, self._repr_fields)
        return render_text(view)

    def _repr_html_(self) -> str:
        return render_html(self._view())

    def plot(self, ax: Axes | None = None) -> Axes:
        """Draw the result on ``ax`` (a new figure's Axes when None) and return it."""
        raise NotImplementedError(f"{type(self).__name__} has nothing to plot")
