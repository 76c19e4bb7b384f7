"""Deterministic rollout assignment: the same unit gets the same arm everywhere.

A random coin per request (``random() * 100 < percentage``) moves users between
arms and makes an A/B comparison meaningless. :func:`assign` hashes the experiment
and the unit instead, so the arm depends on nothing else: not on the process, the
machine, the language or the time.

The default scheme (``"perfstats"``, version 1), exactly:

1. Key: the UTF-8 bytes of ``f"{salt}:{experiment}:{unit_id}"`` (``salt`` and
   ``experiment`` may not contain ``":"``, so the key is unambiguous; the unit id
   is written with ``str()``).
2. Bucket: the first 8 bytes of the SHA-256 digest of the key, read as a
   big-endian unsigned 64-bit integer, modulo 10,000 (a bucket in ``[0, 10000)``;
   the modulo bias is below 1e-15).
3. Arm: the arms are laid out in the order given, arm ``k`` owning the buckets
   ``[floor(10000 * W_{k-1} / W), floor(10000 * W_k / W))`` where ``W_k`` is the
   cumulative weight of the first ``k + 1`` arms and ``W`` the total (exact
   rational arithmetic, so 90/10 means buckets 0-8999 and 9000-9999).

A unit's bucket never changes, so a unit changes arm only when a boundary moves
past its bucket. With two arms, raising one arm's percentage only moves units
into it, never out; with more arms the same holds when an arm grows at the
expense of its neighbour in the order (list a treatment next to the arm it takes
traffic from).

``scheme="unleash"`` reproduces the Unleash SDKs: the gradual rollout hash
(MurmurHash3 x86 32-bit of ``f"{experiment}:{unit_id}"``, seed 0, modulo 100, plus
1) for two arms (the second arm gets the units whose value is at most its
percentage), and the Unleash variant hash (seed 86028157, modulo the total
weight, plus 1, cumulative in order) for more arms.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from perfstats._display import View
from perfstats._result import Result

if TYPE_CHECKING:
    import pandas as pd

    from perfstats.io import Events
    from perfstats.stats.hypothesis_tests import SRMResult

__all__ = [
    "BUCKETS",
    "Exposures",
    "Rollout",
    "assign",
    "bucket",
    "exposures",
    "murmur3_32",
    "unleash_normalized",
]

#: Number of buckets of the default scheme.
BUCKETS = 10_000
#: Seed of the Unleash variant hash (the gradual rollout hash uses seed 0).
UNLEASH_VARIANT_SEED = 86028157

Scheme = Literal["perfstats", "unleash"]
_DEFAULT_WEIGHTS: Mapping[str, float] = {"control": 90, "treatment": 10}


def murmur3_32(data: bytes | str, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, as an unsigned integer.

    Pure Python (the same value as ``mmh3.hash(data, seed, signed=False)``), so
    the Unleash scheme needs no compiled dependency.

    Parameters
    ----------
    data : bytes or str
        Input; text is encoded as UTF-8.
    seed : int
        Unsigned 32-bit seed.

    Examples
    --------
    >>> murmur3_32(b"hello")
    613153351
    """
    key = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n = len(key)
    tail_at = n - n % 4
    for i in range(0, tail_at, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = key[tail_at:]
    if tail:
        k = int.from_bytes(tail, "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def unleash_normalized(
    unit_id: object, group_id: str, *, normalizer: int = 100, seed: int = 0
) -> int:
    """Unleash's normalized hash value of a unit, in ``[1, normalizer]``.

    ``murmur3_32(f"{group_id}:{unit_id}", seed) % normalizer + 1``: with the
    defaults it is the value the gradual and flexible rollout strategies compare
    with their percentage (enabled when the value is at most the percentage).

    Examples
    --------
    >>> unleash_normalized("122", "AB12A") <= 50
    True
    """
    if normalizer < 1:
        raise ValueError(f"normalizer must be at least 1, got {normalizer}")
    return murmur3_32(f"{group_id}:{unit_id}", seed) % normalizer + 1


def _check_name(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if ":" in value:
        raise ValueError(
            f"{name} may not contain ':' (it separates the key), got {value!r}"
        )
    return value


def bucket(unit_id: object, experiment: str, *, salt: str = "") -> int:
    """The default scheme's bucket of a unit, in ``[0, 10000)``.

    See the module docstring for the exact definition.

    Examples
    --------
    >>> import hashlib
    >>> digest = hashlib.sha256(b":checkout-v2:user-42").digest()
    >>> bucket("user-42", "checkout-v2") == int.from_bytes(digest[:8], "big") % 10000
    True
    """
    _check_name(experiment, "experiment")
    _check_name(salt, "salt")
    if unit_id is None:
        raise ValueError("unit_id is None: a unit needs an id to be assigned")
    key = f"{salt}:{experiment}:{unit_id}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % BUCKETS


def _weights(weights: Mapping[str, float]) -> tuple[list[str], list[Fraction]]:
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError("weights must be a non-empty mapping of arm to weight")
    arms, values = [], []
    for arm, w in weights.items():
        if not isinstance(arm, str):
            raise TypeError(f"arm names must be strings, got {arm!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float, Fraction)):
            raise TypeError(f"weight of arm {arm!r} must be a number, got {w!r}")
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"weight of arm {arm!r} must be finite and >= 0, got {w}")
        arms.append(arm)
        values.append(Fraction(w))
    if sum(values) == 0:
        raise ValueError("weights are all zero: at least one arm needs traffic")
    return arms, values


@functools.lru_cache(maxsize=256)
def _layout(items: tuple[tuple[str, float], ...]) -> tuple[list[str], list[int]]:
    arms, values = _weights(dict(items))
    return arms, _boundaries(values, BUCKETS)


def _boundaries(values: list[Fraction], total_buckets: int) -> list[int]:
    total = sum(values)
    out, cum = [], Fraction(0)
    for v in values:
        cum += v
        out.append(math.floor(total_buckets * cum / total))
    return out


def _pick(value: int, arms: list[str], bounds: list[int]) -> str:
    for arm, hi in zip(arms, bounds, strict=True):
        if value < hi:
            return arm
    return arms[-1]  # unreachable: the last bound is total_buckets


def assign(
    unit_id: object,
    experiment: str,
    weights: Mapping[str, float] = _DEFAULT_WEIGHTS,
    *,
    salt: str = "",
    scheme: Scheme = "perfstats",
) -> str:
    """The arm of a unit in an experiment, deterministically.

    Parameters
    ----------
    unit_id : object
        The randomization unit (user, session, tenant); written with ``str()``.
    experiment : str
        Experiment (or feature flag) name; for ``scheme="unleash"`` the groupId.
    weights : mapping of str to float
        Arm to weight (any positive scale, e.g. percentages), in layout order.
    salt : str
        Extra key part to re-randomize an experiment that reuses a name (default
        scheme only).
    scheme : {"perfstats", "unleash"}
        The hash scheme: see the module docstring.

    Returns
    -------
    str
        The arm name.

    Examples
    --------
    >>> assign("user-42", "checkout-v2", {"control": 50, "treatment": 50})
    'control'
    >>> assign("122", "AB12A", {"off": 50, "on": 50}, scheme="unleash")
    'on'
    """
    if scheme == "perfstats":
        try:
            arms, bounds = _layout(tuple(weights.items()))
        except (TypeError, AttributeError):  # unhashable weights: validate and say so
            arms, values = _weights(weights)
            bounds = _boundaries(values, BUCKETS)
        return _pick(bucket(unit_id, experiment, salt=salt), arms, bounds)
    arms, values = _weights(weights)
    if scheme == "unleash":
        if salt:
            raise ValueError("salt= applies to the perfstats scheme only")
        if unit_id is None:
            raise ValueError("unit_id is None: a unit needs an id to be assigned")
        if not isinstance(experiment, str):
            raise TypeError("experiment must be a string (the Unleash groupId)")
        if len(arms) == 2:
            pct = 100 * values[1] / sum(values)
            on = pct > 0 and unleash_normalized(unit_id, experiment) <= pct
            return arms[1] if on else arms[0]
        if any(v.denominator != 1 for v in values):
            raise ValueError("Unleash variant weights must be integers")
        total = int(sum(values))
        target = unleash_normalized(
            unit_id, experiment, normalizer=total, seed=UNLEASH_VARIANT_SEED
        )
        cum = 0
        for arm, v in zip(arms, values, strict=True):
            cum += int(v)
            if v > 0 and target <= cum:
                return arm
        return arms[-1]
    raise ValueError(f"scheme must be 'perfstats' or 'unleash', got {scheme!r}")


@dataclass(frozen=True)
class Rollout:
    """An experiment's arms and weights, to assign units and to analyse them.

    Examples
    --------
    >>> r = Rollout("checkout-v2", {"control": 90, "treatment": 10})
    >>> r.assign("user-42") in ("control", "treatment")
    True
    >>> r.planned_split
    {'control': 0.9, 'treatment': 0.1}
    """

    experiment: str
    weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    salt: str = ""
    scheme: Scheme = "perfstats"

    def __post_init__(self) -> None:
        _weights(self.weights)  # validate early
        if self.scheme == "perfstats":
            _check_name(self.experiment, "experiment")
            _check_name(self.salt, "salt")
        elif self.scheme != "unleash":
            raise ValueError(
                f"scheme must be 'perfstats' or 'unleash', got {self.scheme!r}"
            )

    def assign(self, unit_id: object) -> str:
        """The arm of ``unit_id`` (see :func:`assign`)."""
        return assign(
            unit_id, self.experiment, self.weights, salt=self.salt, scheme=self.scheme
        )

    @property
    def planned_split(self) -> dict[str, float]:
        """Arm to planned fraction of units, for ``compare(planned_split=...)``.

        Arms with zero weight are left out (they get no units).
        """
        arms, values = _weights(self.weights)
        total = sum(values)
        return {a: float(v / total) for a, v in zip(arms, values, strict=True) if v}


@dataclass(frozen=True, repr=False)
class Exposures(Result):
    """Units per arm, the sample-ratio check and units seen in more than one arm.

    Attributes
    ----------
    units : dict of str to int
        Distinct units per arm.
    events : dict of str to int
        Events (rows) per arm.
    srm : SRMResult or None
        Sample-ratio check of the unit counts against ``planned`` (equal split
        when no plan was given; None with fewer than two arms).
    crossed : list of str
        Units seen in two or more arms (a broken assignment: they are counted in
        every arm they appear in). Empty when the assignment is sticky.
    planned : dict of str to float or None
        The planned split the check used.
    """

    units: dict[str, int]
    events: dict[str, int]
    srm: SRMResult | None
    crossed: list[str]
    planned: dict[str, float] | None

    @property
    def warnings(self) -> list[str]:
        """Plain-text warnings (crossed units, sample-ratio mismatch)."""
        out = []
        if self.crossed:
            shown = ", ".join(self.crossed[:5])
            more = (
                "" if len(self.crossed) <= 5 else f" and {len(self.crossed) - 5} more"
            )
            out.append(
                f"{len(self.crossed)} units appear in more than one arm ({shown}{more}):"
                " the assignment is not sticky per unit"
            )
        if self.srm is not None and self.srm.mismatch:
            out.append(
                f"sample-ratio mismatch (p={self.srm.pvalue:.3g}): the arms do not "
                "have the planned share of units"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values."""
        return {
            "units": dict(self.units),
            "events": dict(self.events),
            "srm": None if self.srm is None else self.srm.to_dict(),
            "crossed": list(self.crossed),
            "planned": None if self.planned is None else dict(self.planned),
            "warnings": self.warnings,
        }

    def _view(self) -> View:
        fields: dict[str, Any] = {}
        for arm, n in self.units.items():
            fields[f"units {arm}"] = n
            fields[f"events {arm}"] = self.events.get(arm, 0)
        if self.planned is not None:
            fields["planned"] = ", ".join(f"{k} {v:g}" for k, v in self.planned.items())
        if self.srm is not None:
            fields["sample ratio p"] = self.srm.pvalue
        fields["crossed units"] = len(self.crossed)
        return View("Exposures", fields, warnings=self.warnings)

    def to_frame(self) -> pd.DataFrame:
        """One row per arm (index: its name): ``units``, ``events`` and the
        ``planned`` share (NaN without a plan)."""
        import pandas as pd

        planned = self.planned or {}
        return pd.DataFrame(
            {
                "units": self.units,
                "events": {k: self.events.get(k, 0) for k in self.units},
                "planned": {k: planned.get(k, math.nan) for k in self.units},
            }
        ).rename_axis("arm")


def exposures(
    events: Events | pd.DataFrame,
    *,
    by: str = "variant",
    unit: str = "user_id",
    planned: Rollout | Mapping[str, float] | None = None,
    threshold: float = 0.001,
) -> Exposures:
    """Count units per arm, check the sample ratio, list units seen in two arms.

    Parameters
    ----------
    events : Events or DataFrame
        Events with an arm column and a unit column.
    by : str
        The arm column.
    unit : str
        The randomization-unit column.
    planned : Rollout or mapping of str to float, optional
        The planned split (a :class:`Rollout` or arm to weight); equal by default.
    threshold : float
        p-value below which the sample ratio is flagged.

    Returns
    -------
    Exposures

    Examples
    --------
    >>> import pandas as pd
    >>> ev = pd.DataFrame({"latency_ms": [1.0] * 4, "variant": ["a", "a", "b", "b"],
    ...                    "user_id": ["u1", "u2", "u3", "u1"]})
    >>> ex = exposures(ev, planned={"a": 50, "b": 50})
    >>> ex.units, ex.crossed
    ({'a': 2, 'b': 2}, ['u1'])
    """
    from perfstats.analysis.findings import crossed_units
    from perfstats.io import read_events
    from perfstats.stats.hypothesis_tests import srm_test

    frame = read_events(events).frame
    for col in (by, unit):
        if col not in frame.columns:
            raise ValueError(
                f"exposures: column {col!r} is missing; the events have "
                f"{[str(c) for c in frame.columns]}"
            )
    sub = frame[[by, unit]].dropna()
    sub = sub.astype({by: str, unit: str})
    units = sub.groupby(by, observed=True)[unit].nunique()
    counts = sub.groupby(by, observed=True).size()
    crossed = crossed_units(sub, by=by, unit=unit)
    split: dict[str, float] | None
    if isinstance(planned, Rollout):
        split = planned.planned_split
    elif planned is not None:
        arms, values = _weights(planned)
        total = sum(values)
        split = {a: float(v / total) for a, v in zip(arms, values, strict=True)}
    else:
        split = None
    unit_counts = {str(k): int(v) for k, v in units.items()}
    if split is not None:
        unknown = sorted(set(unit_counts) - set(split))
        if unknown:
            raise ValueError(f"exposures: arms {unknown} are not in the planned split")
        names = [a for a in split if split[a] > 0]
    else:
        names = list(unit_counts)
    srm = None
    if len(names) >= 2:
        weights = None if split is None else [split[a] for a in names]
        srm = srm_test(
            [unit_counts.get(a, 0) for a in names], weights, threshold=threshold
        )
    return Exposures(
        units={a: unit_counts.get(a, 0) for a in names} if split else unit_counts,
        events={str(k): int(v) for k, v in counts.items()},
        srm=srm,
        crossed=crossed,
        planned=split,
    )
