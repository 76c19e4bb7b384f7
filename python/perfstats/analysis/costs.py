"""What LLM calls cost: prices, spend per model, endpoint, user and day, budgets.

Prices come from a bundled, dated table of public list prices
(``perfstats/data/prices.toml``; see :func:`load_prices`) that a TOML or JSON file of
your own overrides model by model.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from perfstats._display import Table, View
from perfstats._result import Result
from perfstats.io.events import Events, read_events
from perfstats.io.schema import pandas_module as _pandas

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = [
    "BUDGET_LEVELS",
    "CostPartial",
    "CostReport",
    "ModelPrice",
    "PriceTable",
    "budget_crossings",
    "budget_minutes",
    "costs",
    "costs_partial",
    "load_prices",
    "request_costs",
]

#: Shares of the budget at which the status changes.
BUDGET_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 1.0)


def _toml_loads(text: str) -> dict[str, Any]:
    import importlib

    try:
        toml: Any = importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - Python 3.10
        try:
            toml = importlib.import_module("tomli")
        except ImportError as exc:
            raise ImportError(
                "reading TOML on Python 3.10 needs tomli: pip install tomli"
            ) from exc
    out: dict[str, Any] = toml.loads(text)
    return out


@dataclass(frozen=True)
class ModelPrice:
    """Price of one model family in USD per million tokens.

    Attributes
    ----------
    name : str
        Family name (``gpt-4o``).
    pattern : str
        Regular expression matched against the whole model name, ignoring case.
    input, output : float
        USD per million input (prompt) and output (completion) tokens.
    cached_input : float
        USD per million input tokens served from the prompt cache (defaults to
        ``input`` when a provider has no cache discount).
    as_of : str
        Date the price was read from ``source``.
    source : str
        Where the price was published.
    """

    name: str
    pattern: str
    input: float
    output: float
    cached_input: float
    as_of: str = ""
    source: str = ""

    def matches(self, model: str) -> bool:
        """Whether this price applies to ``model``."""
        return re.fullmatch(self.pattern, model, flags=re.IGNORECASE) is not None


_PRICE_COLUMNS = ["pattern", "input", "output", "cached_input", "as_of", "source"]


@dataclass(frozen=True, repr=False)
class PriceTable(Result):
    """An ordered list of model prices: an entry named exactly as the model (a dated
    snapshot) wins, else the first entry whose pattern matches."""

    models: tuple[ModelPrice, ...]
    as_of: str = ""
    currency: str = "USD"

    def lookup(self, model: str) -> ModelPrice | None:
        """The price entry for a model name, or None when no pattern matches.

        Examples
        --------
        >>> load_prices().lookup("gpt-4o-mini-2024-07-18").output
        0.6
        """
        # an exact snapshot entry (its name) before any family pattern
        for m in self.models:
            if m.name.lower() == model.lower():
                return m
        for m in self.models:
            if m.matches(model):
                return m
        return None

    def to_frame(self) -> pd.DataFrame:
        """One row per model entry."""
        pdm = _pandas()

        typed: pd.DataFrame = pdm.DataFrame([m.__dict__ for m in self.models])
        return typed

    def to_dict(self) -> dict[str, Any]:
        """The table as plain data: as-of date, currency and one dict per model."""
        return {
            "as_of": self.as_of,
            "currency": self.currency,
            "models": [dict(m.__dict__) for m in self.models],
        }

    def _view(self) -> View:
        rows = [[m.__dict__[k] for k in _PRICE_COLUMNS] for m in self.models]
        table = Table(_PRICE_COLUMNS, rows, labels=[m.name for m in self.models])
        fields = {
            "models": len(self.models),
            "as of": self.as_of or "unknown",
            "currency": self.currency,
        }
        return View("PriceTable", fields, {"prices per 1M tokens": table})


def _entry(raw: Any, where: str) -> ModelPrice:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: each model entry must be a table, got {raw!r}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where}: a model entry has no name: {dict(raw)!r}")
    pattern = raw.get("pattern", re.escape(name))
    if not isinstance(pattern, str):
        raise ValueError(f"{where}: model {name!r}: pattern must be a string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"{where}: model {name!r}: bad pattern {pattern!r}: {exc}"
        ) from exc
    prices: dict[str, float] = {}
    for key in ("input", "output", "cached_input"):
        value = raw.get(key, raw.get("input") if key == "cached_input" else None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(
                f"{where}: model {name!r}: {key} must be a number (USD per million "
                f"tokens), got {value!r}"
            )
        if not np.isfinite(value) or value < 0:
            raise ValueError(
                f"{where}: model {name!r}: {key} must be >= 0, got {value}"
            )
        prices[key] = float(value)
    return ModelPrice(
        name=name,
        pattern=pattern,
        input=prices["input"],
        output=prices["output"],
        cached_input=prices["cached_input"],
        as_of=str(raw.get("as_of", "")),
        source=str(raw.get("source", "")),
    )


def _table(doc: Any, where: str) -> PriceTable:
    if not isinstance(doc, Mapping):
        raise ValueError(f"{where}: a price table is a mapping with a 'model' list")
    models = doc.get("model", doc.get("models"))
    if not isinstance(models, list) or not models:
        raise ValueError(f"{where}: needs a non-empty 'model' list of price entries")
    meta = doc.get("meta", {})
    meta = meta if isinstance(meta, Mapping) else {}
    per = meta.get("per_tokens", 1_000_000)
    if per != 1_000_000:
        raise ValueError(f"{where}: prices must be per 1000000 tokens, got {per}")
    return PriceTable(
        models=tuple(_entry(m, where) for m in models),
        as_of=str(meta.get("as_of", "")),
        currency=str(meta.get("currency", "USD")),
    )


def load_prices(
    path: str | Path | Mapping[str, Any] | None = None, *, bundled: bool = True
) -> PriceTable:
    """Load a price table: yours (TOML or JSON) in front of the bundled one.

    Parameters
    ----------
    path : str, Path or mapping, optional
        A ``.toml`` or ``.json`` file, or an already parsed mapping, with a
        ``model`` list of entries (``name``, ``pattern``, ``input``, ``output``,
        optional ``cached_input``, ``as_of``, ``source``; prices in USD per million
        tokens). Its entries are matched before the bundled ones.
    bundled : bool
        Keep the bundled list prices behind yours (default True).

    Returns
    -------
    PriceTable

    Examples
    --------
    >>> table = load_prices({"model": [{"name": "my-llm", "input": 1, "output": 2}]})
    >>> table.lookup("my-llm").input, table.lookup("gpt-4o").input
    (1.0, 2.5)
    """
    base = PriceTable(models=())
    if bundled:
        text = (
            resources.files("perfstats").joinpath("data/prices.toml").read_text("utf-8")
        )
        base = _table(_toml_loads(text), "bundled prices.toml")
    if path is None:
        return base
    if isinstance(path, Mapping):
        mine = _table(path, "prices")
    else:
        p = Path(path)
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() == ".json":
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise ValueError(f"{p}: not valid JSON ({exc})") from exc
        elif p.suffix.lower() == ".toml":
            try:
                doc = _toml_loads(text)
            except ValueError as exc:
                raise ValueError(f"{p}: not valid TOML ({exc})") from exc
        else:
            raise ValueError(f"{p}: price files are .toml or .json")
        mine = _table(doc, str(p))
    return PriceTable(
        models=mine.models + base.models,
        as_of=mine.as_of or base.as_of,
        currency=mine.currency,
    )


def _price_rows(
    models: pd.Series, table: PriceTable
) -> tuple[
    np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], dict[str, str]
]:
    """Per-row input, cached-input and output prices (NaN when unpriced)."""
    codes_frame = models.astype("category")
    cats = [str(c) for c in codes_frame.cat.categories]
    codes = codes_frame.cat.codes.to_numpy()
    p_in = np.full(len(cats) + 1, np.nan)
    p_cached = np.full(len(cats) + 1, np.nan)
    p_out = np.full(len(cats) + 1, np.nan)
    family: dict[str, str] = {}
    for k, cat in enumerate(cats):
        entry = table.lookup(cat)
        if entry is not None:
            p_in[k], p_cached[k], p_out[k] = (
                entry.input,
                entry.cached_input,
                entry.output,
            )
            family[cat] = entry.name
    # code -1 (missing model) indexes the trailing NaN slot
    return p_in[codes], p_cached[codes], p_out[codes], family


def _tokens(frame: pd.DataFrame, column: str) -> np.ndarray[Any, Any]:
    if column not in frame.columns:
        return np.zeros(len(frame))
    out: np.ndarray[Any, Any] = frame[column].to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    typed: np.ndarray[Any, Any] = np.nan_to_num(out, nan=0.0)
    return typed


def _unknown(frame: pd.DataFrame, column: str) -> np.ndarray[Any, Any]:
    if column not in frame.columns:
        return np.ones(len(frame), dtype=bool)
    out: np.ndarray[Any, Any] = frame[column].isna().to_numpy()
    return out


def _budget_status(share: float) -> str:
    if not np.isfinite(share):
        return "n/a"
    if share >= 1.0:
        return "over budget"
    reached = [lv for lv in BUDGET_LEVELS if share >= lv]
    return f">= {int(reached[-1] * 100)}%" if reached else "ok"


@dataclass(repr=False)
class CostReport(Result):
    """Spend computed by :func:`costs`.

    Attributes
    ----------
    total_usd : float
        Spend over all priced requests.
    requests : int
        Number of requests.
    by_model, by_endpoint, by_user, by_day : pandas.DataFrame
        Spend per group: ``requests``, ``input_tokens``, ``output_tokens``,
        ``cost_usd``, ``cost_share`` and ``request_share``, sorted by cost
        (``by_day`` by day). Empty when the grouping column is absent.
    budget : pandas.DataFrame or None
        One row per budget period: ``spend_usd``, ``budget_usd``, ``share``,
        ``status`` (with "unknown spend (k requests)" when some costs are
        unknown), ``unknown_requests``, the time each of 50, 80, 90 and 100 % was
        first reached (``reached_50`` ...), ``projected_usd`` (for the last period,
        the spend plus the run rate over the span the data cover in it, first to
        last event, times the time left; NaN with ``projection`` "too little data"
        under :data:`MIN_PROJECTION_SPAN`), its 95 % interval ``projected_low`` /
        ``projected_high`` (the spend to come compound Poisson at the observed
        request rate and costs, plus the run rate's own sampling variance; normal
        approximation, coverage checked by simulation), ``projection`` and ``projected_100`` (when that rate would
        use up the budget within the period, else NaT).
    unpriced : dict of str to int
        Models no price entry matched, with their request counts.
    unknown_requests : int
        Requests whose cost is unknown (unpriced model, no tokens, no ``cost_usd``):
        never counted as $0; the breakdowns flag them (``unknown_cost_requests``,
        ``unpriced``) and the budget counts them as unknown spend.
    warnings : list of str
        What the reader must know before trusting the totals (unknown costs); also in
        ``repr``, ``to_dict`` and the report. Not Python warnings.
    missing : list of str
        Breakdowns that could not be computed and why.
    prices_as_of : str
        Date of the price table.
    """

    total_usd: float
    requests: int
    by_model: pd.DataFrame
    by_endpoint: pd.DataFrame
    by_user: pd.DataFrame
    by_day: pd.DataFrame
    daily_by_model: pd.DataFrame
    budget: pd.DataFrame | None
    budget_period: str | None
    unpriced: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    prices_as_of: str = ""
    unknown_requests: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_frame(
        self, by: Literal["model", "endpoint", "user", "day"] = "model"
    ) -> pd.DataFrame:
        """Spend per ``model``, ``endpoint``, ``user`` or ``day``."""
        tables = {
            "model": self.by_model,
            "endpoint": self.by_endpoint,
            "user": self.by_user,
            "day": self.by_day,
        }
        if by not in tables:
            raise ValueError(f"by must be one of {sorted(tables)}, got {by!r}")
        return tables[by]

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON-ready) of every number in the report."""

        def records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
            if frame is None or frame.empty:
                return []
            out = frame.reset_index()
            for c in out.columns:
                if str(out[c].dtype).startswith("datetime"):
                    out[c] = out[c].map(
                        lambda t: None if t is None or t != t else t.isoformat()
                    )
            recs: list[dict[str, Any]] = json.loads(out.to_json(orient="records"))
            return recs

        return {
            "total_usd": self.total_usd,
            "requests": self.requests,
            "prices_as_of": self.prices_as_of,
            "by_model": records(self.by_model),
            "by_endpoint": records(self.by_endpoint),
            "by_user": records(self.by_user),
            "by_day": records(self.by_day),
            "budget_period": self.budget_period,
            "budget": records(self.budget),
            "unpriced": dict(self.unpriced),
            "unknown_requests": self.unknown_requests,
            "warnings": list(self.warnings),
            "missing": list(self.missing),
        }

    def _view(self) -> View:
        title = (
            f"CostReport: ${self.total_usd:,.2f} over {self.requests} requests "
            f"(prices as of {self.prices_as_of or 'unknown'})"
        )
        fields: dict[str, Any] = {}
        tables: dict[str, Any] = {"spend by model": self.by_model}
        if self.budget is not None and len(self.budget):
            last = self.budget.iloc[-1]
            fields[f"budget ({self.budget_period}) {self.budget.index[-1]}"] = (
                f"${last['spend_usd']:,.2f} of ${last['budget_usd']:,.2f} "
                f"({last['share']:.0%}, {last['status']}); projected "
                f"${last['projected_usd']:,.2f}"
            )
            if not _pandas().isna(last["projected_100"]):
                fields["at this rate"] = (
                    f"the budget runs out at {last['projected_100']}"
                )
            tables[f"Budget per {self.budget_period}"] = self.budget
        if self.unpriced:
            fields["unpriced models"] = str(self.unpriced)
        if self.unknown_requests:
            fields["requests of unknown cost"] = self.unknown_requests
        return View(
            title,
            fields,
            tables,
            notes=[f"not computed: {m}" for m in self.missing],
            warnings=self.warnings,
            text_columns={
                "spend by model": ["cost_usd", "cost_share", "request_share"],
                f"Budget per {self.budget_period}": [
                    "spend_usd",
                    "budget_usd",
                    "share",
                    "status",
                    "projected_usd",
                ],
            },
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Daily spend stacked by model, with the daily budget (or month-to-date
        spend against a monthly budget). Returns the matplotlib Axes."""
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ImportError(
                "plotting needs matplotlib: pip install matplotlib"
            ) from exc
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3.5))
        daily = self.daily_by_model
        if daily.empty:
            ax.text(
                0.5,
                0.5,
                "no timestamped cost data",
                ha="center",
                transform=ax.transAxes,
            )
            return ax
        x = np.arange(len(daily))
        bottom = np.zeros(len(daily))
        for col in daily.columns:
            vals = daily[col].to_numpy(dtype=float)
            ax.bar(x, vals, bottom=bottom, label=str(col), width=0.85)
            bottom += vals
        labels = [str(d)[:10] for d in daily.index]
        step = max(1, len(labels) // 10)
        ax.set_xticks(x[::step], labels[::step], rotation=30, ha="right")
        if self.budget is not None and self.budget_period == "day":
            ax.axhline(
                float(self.budget["budget_usd"].iloc[0]),
                color="k",
                ls="--",
                label="budget",
            )
        elif self.budget is not None and self.budget_period == "month":
            months = np.array([str(d)[:7] for d in daily.index])
            mtd = np.zeros(len(daily))
            for m in np.unique(months):
                sel = months == m
                mtd[sel] = np.cumsum(bottom[sel])
            ax2 = ax.twinx()
            ax2.plot(x, mtd, color="k", label="month to date")
            ax2.axhline(float(self.budget["budget_usd"].iloc[0]), color="r", ls="--")
            ax2.set_ylabel("month to date, USD")
        ax.set_ylabel("spend per day, USD")
        ax.legend(fontsize="small", loc="upper left")
        return ax


def _group_sums(
    frame: pd.DataFrame, key: Any, cost: np.ndarray[Any, Any]
) -> pd.DataFrame:
    """Per group (in order of first appearance): requests, token sums, the sum and
    number of known costs, and the requests of unknown cost; mergeable by adding."""
    pdm = _pandas()

    work = pdm.DataFrame(
        {
            "key": key,
            "cost_usd": cost,
            "input_tokens": _tokens(frame, "input_tokens"),
            "output_tokens": _tokens(frame, "output_tokens"),
        }
    )
    g = work.groupby("key", observed=True, sort=False)
    out = pdm.DataFrame(
        {
            "requests": g.size(),
            "input_tokens": g["input_tokens"].sum(),
            "output_tokens": g["output_tokens"].sum(),
            "cost_usd": g["cost_usd"].sum(),  # the known costs
            "cost_known": g["cost_usd"].count(),
        }
    )
    out["unknown_cost_requests"] = out["requests"] - out["cost_known"]
    out.index.name = None
    typed: pd.DataFrame = out
    return typed


def _group_table(sums: pd.DataFrame, total: float, requests: int) -> pd.DataFrame:
    """The breakdown shown from :func:`_group_sums`: unknown costs are not $0 (the
    known ones summed, NaN when none is known), shares, sorted by cost."""
    out = sums.drop(columns="cost_known")
    out["cost_usd"] = out["cost_usd"].where(sums["cost_known"] > 0)
    out["unpriced"] = out["unknown_cost_requests"] > 0
    out["cost_share"] = out["cost_usd"] / total if total > 0 else np.nan
    out["request_share"] = out["requests"] / requests
    typed: pd.DataFrame = out.sort_values(
        "cost_usd", ascending=False, kind="stable", na_position="first"
    )
    return typed


def _empty_breakdown() -> pd.DataFrame:
    pdm = _pandas()
    typed: pd.DataFrame = pdm.DataFrame(
        columns=[
            "requests",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "unknown_cost_requests",
            "unpriced",
            "cost_share",
            "request_share",
        ]
    )
    return typed


#: The breakdowns of a cost report: events column -> its label.
_BREAKDOWNS = {"model": "model", "endpoint": "endpoint", "user_id": "user"}


@dataclass
class CostPartial:
    """What :func:`costs` adds up, for part of the events, kept mergeable: requests,
    known spend, unknown and unpriced counts, per-group sums of every breakdown
    (model, endpoint, user, day, day x model) and per budget period and minute the
    known spend. ``costs_partial(a).merge(costs_partial(b)).finish()`` is the
    report of both parts (sums up to their rounding; budget times need the events:
    ``perfstats.dask.costs`` finds them in a second pass). Built by
    :func:`costs_partial`.
    """

    columns: list[str]
    budget_period: str
    prices_as_of: str
    requests: int = 0
    known: int = 0
    total: float = 0.0
    no_cost: int = 0  # requests with no token counts and no recorded cost
    unpriced: dict[str, int] = field(default_factory=dict)
    groups: dict[str, pd.DataFrame] = field(default_factory=dict)
    daily: pd.DataFrame | None = None  # index (day, model): sum and count known
    minutes: pd.DataFrame | None = None  # index minute (ns): spend, first/last ...

    def merge(self, *others: CostPartial) -> CostPartial:
        """A new partial of this one's events and `others'` (none is changed)."""
        pdm = _pandas()
        parts = [self, *others]
        out = CostPartial(
            columns=self.columns,
            budget_period=self.budget_period,
            prices_as_of=self.prices_as_of,
            requests=sum(p.requests for p in parts),
            known=sum(p.known for p in parts),
            total=float(sum(p.total for p in parts)),
            no_cost=sum(p.no_cost for p in parts),
        )
        for p in parts:
            for k, v in p.unpriced.items():
                out.unpriced[k] = out.unpriced.get(k, 0) + v
        for name in self.groups:
            frames = [p.groups[name] for p in parts]
            out.groups[name] = _add_frames(frames, levels=0)
        if self.daily is not None:
            out.daily = _add_frames(
                [p.daily for p in parts if p.daily is not None], [0, 1]
            )
        if self.minutes is not None:
            frames = [p.minutes for p in parts if p.minutes is not None]
            whole = pdm.concat(frames)
            g = whole.groupby(level=0, sort=True)
            out.minutes = g.sum()
            out.minutes["first"] = g["first"].min()
            out.minutes["last"] = g["last"].max()
        return out

    def finish(
        self,
        table: PriceTable,
        budget: float | None,
        reached: Mapping[tuple[Any, float], Any] | None = None,
    ) -> CostReport:
        """The :class:`CostReport` of the events seen; `reached` maps (period
        start, budget level) to the time the level was first reached (needed with a
        budget; from :func:`budget_crossings` on the events of those minutes)."""
        return _report(self, table, budget, reached, None)


def _add_frames(frames: list[pd.DataFrame], levels: Any) -> pd.DataFrame:
    """Per-group sums of several parts: added, groups in order of first appearance."""
    pdm = _pandas()
    if isinstance(levels, int) and all(
        isinstance(f.index, pdm.CategoricalIndex) for f in frames
    ):
        # parts read separately hold different categories: their union, sorted when
        # each part's was (as read_events makes them), so the index is as one read
        indexes: list[Any] = [f.index for f in frames]
        cats: list[Any] = []
        for index in indexes:
            cats += [c for c in index.categories if c not in set(cats)]
        if all(list(i.categories) == sorted(i.categories) for i in indexes):
            cats = sorted(cats)
        dtype = pdm.CategoricalDtype(cats, ordered=indexes[0].ordered)
        frames = [f.set_axis(f.index.astype(dtype)) for f in frames]
    whole = pdm.concat(frames)
    added: pd.DataFrame = whole.groupby(level=levels, sort=False, observed=True).sum()
    if isinstance(levels, int):
        added.index.name = None
    return added


def _minute_table(ts: pd.Series, cost: np.ndarray[Any, Any]) -> pd.DataFrame:
    """Per minute with events (its start in ns since the epoch, UTC): known spend,
    unknown requests, paid requests and their squared costs, first and last event
    (ns). One factorization and a bincount per column."""
    pdm = _pandas()
    t = ts.dt.tz_convert(None).to_numpy().astype("datetime64[ns]").astype(np.int64)
    codes, minutes = pdm.factorize(t // 60_000_000_000 * 60_000_000_000)
    k = len(minutes)
    known = ~np.isnan(cost)
    spend = np.where(known, cost, 0.0)
    first = np.full(k, np.iinfo(np.int64).max)
    last = np.full(k, np.iinfo(np.int64).min)
    np.minimum.at(first, codes, t)
    np.maximum.at(last, codes, t)
    out = pdm.DataFrame(
        {
            "spend": np.bincount(codes, weights=spend, minlength=k),
            "unknown": np.bincount(codes, weights=~known, minlength=k).astype(np.int64),
            "paid": np.bincount(codes, weights=known, minlength=k).astype(np.int64),
            "squares": np.bincount(codes, weights=spend * spend, minlength=k),
            "first": first,
            "last": last,
        },
        index=pdm.Index(minutes),
    ).sort_index()
    out.index.name = None
    typed: pd.DataFrame = out
    return typed


def _period_of(ns: np.ndarray[Any, Any], period: str) -> np.ndarray[Any, Any]:
    """The start (naive UTC datetime64[ns]) of the budget period of each time."""
    pdm = _pandas()
    naive = pdm.Series(ns.astype("datetime64[ns]"))
    if period == "day":
        start = naive.dt.floor("D")
    else:
        start = naive.dt.to_period("M").dt.start_time
    out: np.ndarray[Any, Any] = start.to_numpy().astype("datetime64[ns]")
    return out


def costs_partial(
    events: Events | pd.DataFrame,
    prices: str | Path | Mapping[str, Any] | PriceTable | None = None,
    *,
    budget_period: Literal["day", "month"] = "month",
    use_recorded: bool = False,
) -> CostPartial:
    """What :func:`costs` adds up of `events`, in a mergeable :class:`CostPartial`.

    Parameters
    ----------
    events, prices, budget_period, use_recorded
        As for :func:`costs`.

    Returns
    -------
    CostPartial

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({
    ...     "timestamp": ["2025-01-01T10:00Z", "2025-01-01T11:00Z"],
    ...     "model": ["gpt-4o", "gpt-4o-mini"],
    ...     "input_tokens": [1_000_000, 2_000_000], "output_tokens": [100_000, 0],
    ... })
    >>> part = costs_partial(ev.iloc[:1]).merge(costs_partial(ev.iloc[1:]))
    >>> round(part.finish(load_prices(), None).total_usd, 4)
    3.8
    """
    return _partial(events, prices, budget_period, use_recorded)[0]


def request_costs(
    events: Events | pd.DataFrame,
    prices: str | Path | Mapping[str, Any] | PriceTable | None = None,
    *,
    use_recorded: bool = False,
) -> tuple[pd.DataFrame, np.ndarray[Any, Any]]:
    """The events (canonical frame) and the cost of each request in USD, as
    :func:`costs` prices them (NaN when unknown).

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"timestamp": ["2025-01-01T10:00Z"] * 2,
    ...                    "model": ["gpt-4o", "no-such-model"],
    ...                    "input_tokens": [1_000_000, 5], "output_tokens": [0, 5]})
    >>> request_costs(ev)[1].tolist()
    [2.5, nan]
    """
    _, frame, cost, _ = _partial(
        events, prices, "month", use_recorded, minutes=False, aggregate=False
    )
    return frame, cost


def _partial(
    events: Any,
    prices: Any,
    budget_period: str,
    use_recorded: bool,
    *,
    minutes: bool = True,
    aggregate: bool = True,
) -> tuple[CostPartial, pd.DataFrame, np.ndarray[Any, Any], PriceTable]:
    """The partial (without groups unless `aggregate`, without the minute table
    unless `minutes`), and the frame and per-request costs it was made of."""
    pdm = _pandas()

    ev = read_events(events)
    frame = ev.frame
    table = prices if isinstance(prices, PriceTable) else load_prices(prices)
    if budget_period not in ("day", "month"):
        raise ValueError(
            f"budget_period must be 'day' or 'month', got {budget_period!r}"
        )
    n = len(frame)
    part = CostPartial(
        columns=[str(c) for c in frame.columns],
        budget_period=budget_period,
        prices_as_of=table.as_of,
        requests=n,
    )
    has_tokens = "input_tokens" in frame.columns or "output_tokens" in frame.columns
    recorded = (
        frame["cost_usd"].to_numpy(dtype=np.float64, na_value=np.nan)
        if "cost_usd" in frame.columns
        else np.full(n, np.nan)
    )
    if "model" in frame.columns and has_tokens:
        p_in, p_cached, p_out, _ = _price_rows(frame["model"], table)
        tokens_in = _tokens(frame, "input_tokens")
        cached = np.minimum(_tokens(frame, "cached_input_tokens"), tokens_in)
        tokens_out = _tokens(frame, "output_tokens")
        cost = (
            (tokens_in - cached) * p_in + cached * p_cached + tokens_out * p_out
        ) / 1e6
        # A request with no token count at all is not free: it has no price.
        no_tokens = _unknown(frame, "input_tokens") & _unknown(frame, "output_tokens")
        cost[no_tokens] = np.nan
        no_price = np.isnan(p_in) | no_tokens
        if use_recorded:
            cost = np.where(np.isnan(recorded), cost, recorded)
        cost = np.where(no_price & ~np.isnan(recorded), recorded, cost)
        still = np.isnan(cost)
        part.no_cost = int((still & no_tokens).sum())
        still &= ~no_tokens
        if still.any():
            models = (
                frame["model"].astype(object).where(frame["model"].notna(), "<missing>")
            )
            counts = models[still].value_counts(sort=False)
            part.unpriced = {str(k): int(v) for k, v in counts.items()}
    elif "cost_usd" in frame.columns:
        cost = recorded
    else:
        raise ValueError(
            "costs needs model with input_tokens/output_tokens, or a cost_usd column; "
            f"the events have {ev.columns}"
        )
    known = ~np.isnan(cost)
    part.known = int(known.sum())
    part.total = float(cost[known].sum())
    if not aggregate:
        return part, frame, cost, table
    for column in _BREAKDOWNS:
        if column in frame.columns:
            part.groups[column] = _group_sums(frame, frame[column].array, cost)
    if "timestamp" in frame.columns and n:
        ts = frame["timestamp"]
        day = ts.dt.floor("D")
        part.groups["day"] = _group_sums(frame, day.array, cost)
        if "model" in frame.columns:
            long = pdm.DataFrame(
                {"day": day, "model": frame["model"].astype(object), "c": cost}
            )
            g = long.groupby(["day", "model"], dropna=False, sort=False)["c"]
            part.daily = pdm.DataFrame({"sum": g.sum(), "count": g.count()})
        if minutes:
            part.minutes = _minute_table(ts, cost)
    return part, frame, cost, table


def _report(
    part: CostPartial,
    table: PriceTable,
    budget: float | None,
    reached: Mapping[tuple[Any, float], Any] | None,
    budget_frame: pd.DataFrame | None,
) -> CostReport:
    """The report of a (merged) partial: `budget_frame` when the budget table was
    made from the events, else from the minutes and `reached`."""
    pdm = _pandas()

    columns = set(part.columns)
    n = part.requests
    has_tokens = "input_tokens" in columns or "output_tokens" in columns
    missing: list[str] = []
    if "model" in columns and has_tokens:
        if part.no_cost:
            missing.append(
                f"cost of {part.no_cost} requests: no token counts and no recorded "
                "cost_usd"
            )
    elif not has_tokens:
        missing.append("cost from tokens: no input_tokens/output_tokens; used cost_usd")
    else:
        missing.append("cost from tokens: no model column; used cost_usd")
    unpriced = {
        str(k): int(v)
        for k, v in pdm.Series(part.unpriced, dtype="int64")
        .sort_values(ascending=False, kind="stable")
        .items()
    }
    total = part.total
    n_unknown = n - part.known
    warnings: list[str] = []
    if n_unknown:
        named = f" (unpriced models: {unpriced})" if unpriced else ""
        warnings.append(
            f"{n_unknown} of {n} requests have no known cost{named}: total_usd and the "
            "breakdowns sum the known costs; groups with unknown costs are flagged "
            "'unpriced' (NaN when none is known) and budgets count them as unknown "
            "spend"
        )
    breakdowns: dict[str, pd.DataFrame] = {}
    for column, label in _BREAKDOWNS.items():
        if column not in part.groups:
            missing.append(f"spend per {label}: no {column} column")
            breakdowns[column] = _empty_breakdown()
        else:
            breakdowns[column] = _group_table(part.groups[column], total, n)
    by_model = breakdowns["model"]
    daily_by_model = pdm.DataFrame()
    if "day" in part.groups:
        by_day = _group_table(part.groups["day"], total, n).sort_index()
        idx = pdm.DatetimeIndex(by_day.index)
        by_day.index = (
            idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        )
        if part.daily is not None:
            long = part.daily.reset_index()
            long["c"] = long["sum"].where(long["count"] > 0)
            daily_by_model = long.pivot_table(
                index="day",
                columns="model",
                values="c",
                aggfunc=lambda c: c.sum(min_count=1),
                dropna=False,
            )
            order = [m for m in by_model.index if m in daily_by_model.columns]
            daily_by_model = daily_by_model[order]
        else:
            daily_by_model = by_day[["cost_usd"]].rename(columns={"cost_usd": "all"})
        if budget is not None and budget_frame is None:
            assert part.minutes is not None and reached is not None
            budget_frame = _budget_table(
                _period_stats(part.minutes, part.budget_period),
                reached,
                float(budget),
                part.budget_period,
            )
    else:
        by_day = _empty_breakdown()
        missing.append("spend per day: no timestamp column")
        if budget is not None:
            missing.append("budget status: no timestamp column")
    return CostReport(
        total_usd=total,
        requests=n,
        by_model=by_model,
        by_endpoint=breakdowns["endpoint"],
        by_user=breakdowns["user_id"],
        by_day=by_day,
        daily_by_model=daily_by_model,
        budget=budget_frame,
        budget_period=part.budget_period if budget is not None else None,
        unpriced=unpriced,
        missing=missing,
        prices_as_of=table.as_of,
        unknown_requests=n_unknown,
        warnings=warnings,
    )


def _check_budget(budget: float | None) -> None:
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)):
            raise TypeError(f"budget must be a number of USD, got {budget!r}")
        if not np.isfinite(budget) or budget <= 0:
            raise ValueError(f"budget must be a positive number of USD, got {budget}")


def costs(
    events: Events | pd.DataFrame,
    prices: str | Path | Mapping[str, Any] | PriceTable | None = None,
    *,
    budget: float | None = None,
    budget_period: Literal["day", "month"] = "month",
    use_recorded: bool = False,
) -> CostReport:
    """Cost of LLM calls from their tokens, per model, endpoint, user and day.

    Parameters
    ----------
    events : Events or DataFrame
        Needs ``model`` and ``input_tokens`` / ``output_tokens``; a missing token
        count is zero tokens unless both are missing. A recorded ``cost_usd`` is
        used for models with no price and requests with no token counts (what is
        left is listed in ``unpriced`` and ``missing``, never counted as free).
        ``cached_input_tokens``, a part of ``input_tokens``, is charged at the
        cached-input price.
        ``timestamp``, ``endpoint`` and ``user_id`` enable the matching breakdowns.
    prices : path, mapping or PriceTable, optional
        Your prices (see :func:`load_prices`), matched before the bundled table.
    budget : float, optional
        Budget in USD per ``budget_period``; the report then gives per period the
        spend, its share of the budget, the time 50, 80, 90 and 100 % were reached
        and, for the last period, the spend projected to the period's end.
    budget_period : {"day", "month"}
        Calendar period of the budget, in UTC.
    use_recorded : bool
        Use the recorded ``cost_usd`` wherever present instead of pricing tokens.

    Returns
    -------
    CostReport

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({
    ...     "timestamp": ["2025-01-01T10:00Z", "2025-01-01T11:00Z"],
    ...     "model": ["gpt-4o", "gpt-4o-mini"],
    ...     "input_tokens": [1_000_000, 2_000_000], "output_tokens": [100_000, 0],
    ... })
    >>> report = costs(ev, budget=5.0, budget_period="day")
    >>> round(report.total_usd, 4)   # 2.50 + 1.00 for gpt-4o, 0.30 for gpt-4o-mini
    3.8
    >>> report.budget["status"].tolist()
    ['>= 50%']
    """
    _check_budget(budget)
    part, frame, cost, table = _partial(
        events, prices, budget_period, use_recorded, minutes=False
    )
    budget_frame = None
    if budget is not None and "timestamp" in frame.columns and len(frame):
        budget_frame = _budget(frame["timestamp"], cost, float(budget), budget_period)
    return _report(part, table, budget, None, budget_frame)


_Z95 = statistics.NormalDist().inv_cdf(0.975)

#: Least time between the first and last event of a running budget period before its
#: spend is projected (one $10 request at 00:30 does not project $480/day).
MIN_PROJECTION_SPAN: dict[str, dt.timedelta] = {
    "day": dt.timedelta(hours=2),
    "month": dt.timedelta(days=2),
}


@dataclass
class _Period:
    """One budget period's numbers: known spend, unknown requests, first and last
    event (naive UTC), paid requests and the mean of their squared costs."""

    spend: float
    unknown: int
    first: Any
    last: Any
    paid: int
    m2: float


def _period_stats(minutes: pd.DataFrame, period: str) -> dict[Any, _Period]:
    """Per budget period (its start, naive UTC), from the minute table."""
    pdm = _pandas()
    starts = _period_of(minutes.index.to_numpy(), period)
    g = minutes.groupby(starts, sort=True)
    sums = g[["spend", "unknown", "paid", "squares"]].sum()
    first: Any = g["first"].min()
    last: Any = g["last"].max()
    out: dict[Any, _Period] = {}
    for p, row in sums.iterrows():
        paid = int(row["paid"])
        out[pdm.Timestamp(p)] = _Period(
            spend=float(row["spend"]),
            unknown=int(row["unknown"]),
            first=pdm.Timestamp(int(first[p])),
            last=pdm.Timestamp(int(last[p])),
            paid=paid,
            m2=float(row["squares"]) / paid if paid else 0.0,
        )
    return out


def budget_minutes(
    minutes: pd.DataFrame, budget: float, period: str
) -> dict[tuple[Any, float], tuple[int, int, float]]:
    """Where each budget level is first reached, to the minute, from the per-minute
    spend of :class:`CostPartial` (sums rounded in another order than one pass over
    the events): (period start, level) -> (first and last minute (ns) that may hold
    it, the known spend of the period before the first). :func:`budget_crossings`
    finds the exact time from the events of those minutes.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> ev = pd.DataFrame({"timestamp": pd.date_range("2026-01-01", periods=4,
    ...                    freq="30s", tz="UTC"), "cost_usd": [1.0, 1.0, 1.0, 1.0]})
    >>> part = costs_partial(ev)
    >>> where = budget_minutes(part.minutes, 4.0, "month")
    >>> [(lv, (b - a) // 60_000_000_000, before) for (_, lv), (a, b, before)
    ...  in where.items()]
    [(0.5, 1, 0.0), (0.8, 1, 0.0), (0.9, 1, 0.0), (1.0, 1, 0.0)]
    """
    pdm = _pandas()
    starts = _period_of(minutes.index.to_numpy(), period)
    out: dict[tuple[Any, float], tuple[int, int, float]] = {}
    index = minutes.index.to_numpy()
    for p in np.unique(starts):
        sel = starts == p
        idx = index[sel]
        cum = np.cumsum(minutes["spend"].to_numpy()[sel])
        for lv in BUDGET_LEVELS:
            early = np.flatnonzero(cum >= lv * budget * (1.0 - 1e-9))
            if not early.size:
                continue
            i = max(int(early[0]) - 1, 0)
            late = np.flatnonzero(cum >= lv * budget * (1.0 + 1e-9))
            j = int(late[0]) if late.size else len(idx) - 1
            before = float(cum[i - 1]) if i > 0 else 0.0
            out[(pdm.Timestamp(p), lv)] = (int(idx[i]), int(idx[j]), before)
    return out


def budget_crossings(
    where: Mapping[tuple[Any, float], tuple[int, int, float]],
    times: np.ndarray[Any, Any],
    cost: np.ndarray[Any, Any],
    budget: float,
) -> dict[tuple[Any, float], Any]:
    """The time (UTC) each budget level was first reached: the events of the
    minutes :func:`budget_minutes` names (`times` in ns since the epoch, UTC, in the
    events' order; `cost` per event, NaN unknown), added in time order to the spend
    before them. Levels not reached are NaT.

    Examples
    --------
    >>> import numpy as np
    >>> where = {("2026-01", 0.5): (0, 60_000_000_000, 0.0)}
    >>> budget_crossings(where, np.array([5, 7, 6]), np.array([1.0, 1.0, 1.0]), 4.0)
    {('2026-01', 0.5): Timestamp('1970-01-01 00:00:00.000000006+0000', tz='UTC')}
    """
    pdm = _pandas()
    order = np.argsort(times, kind="stable")
    t, c = times[order], np.nan_to_num(cost[order], nan=0.0)
    out: dict[tuple[Any, float], Any] = {}
    for key, (first, last, before) in where.items():
        sel = (t >= first) & (t < last + 60_000_000_000)
        cum = before + np.cumsum(c[sel])
        hit = np.flatnonzero(cum >= key[1] * budget)
        out[key] = (
            pdm.Timestamp(int(t[sel][hit[0]])).tz_localize("UTC")
            if hit.size
            else pdm.NaT
        )
    return out


def _budget(
    ts: pd.Series, cost: np.ndarray[Any, Any], budget: float, period: str
) -> pd.DataFrame:
    """Per calendar period: spend, share, status, when each level was first reached."""
    pdm = _pandas()

    naive = ts.dt.tz_convert(None)
    if period == "day":
        start = naive.dt.floor("D")
    else:
        start = naive.dt.to_period("M").dt.start_time
    order = np.argsort(naive.to_numpy(), kind="stable")
    t_sorted = naive.to_numpy()[order]
    p_sorted = start.to_numpy()[order]
    c_sorted = np.nan_to_num(cost[order], nan=0.0)  # known spend
    u_sorted = np.isnan(cost[order])
    stats: dict[Any, _Period] = {}
    reached: dict[tuple[Any, float], Any] = {}
    for p in np.unique(p_sorted):
        sel = p_sorted == p
        t = t_sorted[sel]
        cum = np.cumsum(c_sorted[sel])
        paid = c_sorted[sel][~u_sorted[sel]]
        p_ts = pdm.Timestamp(p)
        stats[p_ts] = _Period(
            spend=float(cum[-1]),
            unknown=int(u_sorted[sel].sum()),
            first=pdm.Timestamp(t[0]),
            last=pdm.Timestamp(t[-1]),
            paid=len(paid),
            m2=float(np.mean(paid**2)) if len(paid) else 0.0,
        )
        for lv in BUDGET_LEVELS:
            hit = np.flatnonzero(cum >= lv * budget)
            reached[(p_ts, lv)] = (
                pdm.Timestamp(t[hit[0]]).tz_localize("UTC") if hit.size else pdm.NaT
            )
    return _budget_table(stats, reached, budget, period)


def _budget_table(
    stats: Mapping[Any, _Period],
    reached: Mapping[tuple[Any, float], Any],
    budget: float,
    period: str,
) -> pd.DataFrame:
    """The budget table from each period's numbers and the times levels were hit."""
    pdm = _pandas()

    rows: list[dict[str, Any]] = []
    labels: list[str] = []
    periods = sorted(stats)
    for k, p_ts in enumerate(periods):
        st = stats[p_ts]
        spend, unknown = st.spend, st.unknown
        end = p_ts + (
            pdm.Timedelta(days=1) if period == "day" else pdm.offsets.MonthBegin(1)
        )
        row: dict[str, Any] = {
            "spend_usd": spend,
            "budget_usd": budget,
            "share": spend / budget,
            "status": _budget_status(spend / budget)
            + (f"; unknown spend ({unknown} requests)" if unknown else ""),
            "unknown_requests": unknown,
        }
        for lv in BUDGET_LEVELS:
            row[f"reached_{int(lv * 100)}"] = reached.get((p_ts, lv), pdm.NaT)
        # The period still running is projected at the run rate over the span the
        # data cover in it (first to last event), not since the period start; earlier
        # periods are over. Under MIN_PROJECTION_SPAN of data there is no projection.
        last = k == len(periods) - 1
        observed = st.last - st.first
        remaining = end - st.last
        row["projection"] = "final" if not last else "run rate"
        row["projected_usd"] = spend
        row["projected_low"] = row["projected_high"] = spend
        crossing = pdm.NaT
        if last and observed < MIN_PROJECTION_SPAN[period]:
            row["projected_usd"] = np.nan
            row["projected_low"] = row["projected_high"] = np.nan
            row["projection"] = (
                f"too little data ({observed} observed, "
                f"{MIN_PROJECTION_SPAN[period]} needed)"
            )
        elif last:
            obs_s, rem_s = observed.total_seconds(), remaining.total_seconds()
            rate = spend / obs_s  # USD per second
            row["projected_usd"] = spend + rate * rem_s
            # 95 % interval of the final spend: the spend still to come is compound
            # Poisson (requests at the observed rate, costs as observed, second moment
            # m2), and the run rate itself is estimated from the observed compound
            # Poisson sum (variance N m2 / obs^2): both added, normal approximation,
            # floored at the spend so far.
            n_paid, m2 = st.paid, st.m2
            future_n = n_paid / obs_s * rem_s
            var = future_n * m2 + rem_s**2 * n_paid * m2 / obs_s**2
            half = _Z95 * float(np.sqrt(var))
            row["projected_low"] = max(spend, row["projected_usd"] - half)
            row["projected_high"] = row["projected_usd"] + half
            # when that rate uses up the budget, if inside this period
            if 0 < spend < budget and rate > 0:
                at = st.last + pdm.Timedelta(seconds=(budget - spend) / rate)
                crossing = at.tz_localize("UTC") if at < end else pdm.NaT
        row["projected_100"] = crossing
        rows.append(row)
        labels.append(str(p_ts.date()) if period == "day" else p_ts.strftime("%Y-%m"))
    out = pdm.DataFrame(rows, index=pdm.Index(labels, name=period))
    for col in [f"reached_{int(lv * 100)}" for lv in BUDGET_LEVELS] + ["projected_100"]:
        out[col] = pdm.to_datetime(out[col], utc=True).astype("datetime64[ns, UTC]")
    typed: pd.DataFrame = out
    return typed
