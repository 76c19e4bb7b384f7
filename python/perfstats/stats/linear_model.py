"""Least-squares linear models with standard errors, tests and interval predictions."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from perfstats import _core
from perfstats._display import Table, View
from perfstats._result import Result
from perfstats._validate import check_interval, float_array, optional_weights

if TYPE_CHECKING:
    import pandas as pd

Interval = Literal["confidence", "prediction"]

__all__ = ["LinearModel", "Prediction"]


@dataclass(frozen=True, eq=False, repr=False)
class Prediction(Result):
    """Predicted mean with a two-sided interval; unpacks as ``mean, lower, upper``.

    ``interval="confidence"`` bounds the mean response (statsmodels ``mean_ci``);
    ``"prediction"`` bounds a new observation (``obs_ci``). ``se`` is the matching
    standard error (for trends computed on first access). ``x`` holds where the
    prediction was made (times for trends).
    """

    x: NDArray[Any]
    mean: NDArray[Any]
    lower: NDArray[Any]
    upper: NDArray[Any]
    _se: NDArray[Any] | Callable[[], NDArray[Any]] = field(repr=False)
    interval: Interval
    level: float

    @functools.cached_property
    def se(self) -> NDArray[Any]:
        """Standard error of the mean (confidence) or of a new observation (prediction),
        in units of the response."""
        return self._se() if callable(self._se) else self._se

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled with se computed: the lazy source is a closure over the model.
        fields = (self.x, self.mean, self.lower, self.upper, self.se)
        return (Prediction, (*fields, self.interval, self.level))

    def __iter__(self) -> Iterator[NDArray[Any]]:
        return iter((self.mean, self.lower, self.upper))

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (lists of floats), for JSON."""
        return {
            "x": self.x.tolist(),
            "mean": self.mean.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "se": self.se.tolist(),
            "interval": self.interval,
            "level": self.level,
        }

    _one_line = True

    def _view(self) -> View:
        fields = {"n": len(self), "interval": self.interval, "level": self.level}
        return View("Prediction", fields)

    def to_frame(self) -> pd.DataFrame:
        """One row per point: x (one column per regressor), mean, se, lower, upper
        (needs pandas)."""
        import pandas as pd

        x = self.x.reshape(len(self), -1)
        xs = (
            {"x": x[:, 0]}
            if x.shape[1] == 1
            else {f"x{j}": x[:, j] for j in range(x.shape[1])}
        )
        return pd.DataFrame(
            {
                **xs,
                "mean": self.mean,
                "se": self.se,
                "lower": self.lower,
                "upper": self.upper,
            }
        )


class FittedCoefficients(Result):
    """Shared coefficient table of fitted models."""

    _fit: Any
    _names: list[str]

    @property
    def names(self) -> list[str]:
        """Coefficient names, in the order of `coefficients`."""
        return list(self._names)

    @property
    def coefficients(self) -> NDArray[Any]:
        """Estimated coefficients, in the caller's basis."""
        return np.asarray(self._fit.coefficients)

    @property
    def standard_errors(self) -> NDArray[Any]:
        """Standard errors of the coefficients."""
        return np.asarray(self._fit.standard_errors)

    @property
    def t_values(self) -> NDArray[Any]:
        """Coefficient / standard error."""
        return np.asarray(self._fit.t_values)

    @property
    def p_values(self) -> NDArray[Any]:
        """Two-sided p-values of the t statistics on `df_resid` degrees of freedom."""
        return np.asarray(self._fit.p_values)

    @property
    def covariance(self) -> NDArray[Any]:
        """Covariance matrix of the coefficients (scaled by the residual variance)."""
        return np.asarray(self._fit.covariance)

    @property
    def residuals(self) -> NDArray[Any]:
        """Observed minus fitted values, in input order (unweighted)."""
        return np.asarray(self._fit.residuals)

    @property
    def residual_std_error(self) -> float:
        """Residual standard error sqrt(SSR / df_resid), in units of y."""
        return float(self._fit.residual_std_error)

    @property
    def ssr(self) -> float:
        """(Weighted) sum of squared residuals."""
        return float(self._fit.ssr)

    @property
    def r_squared(self) -> float:
        """R²: centred with an intercept, uncentred (about zero) without one."""
        return float(self._fit.r_squared)

    @property
    def adj_r_squared(self) -> float:
        """R² adjusted for the number of parameters."""
        return float(self._fit.adj_r_squared)

    @property
    def nobs(self) -> int:
        """Number of observations."""
        return int(self._fit.nobs)

    @property
    def df_resid(self) -> float:
        """Residual degrees of freedom: nobs - number of coefficients."""
        return float(self._fit.df_resid)

    def conf_int(self, *, level: float = 0.95) -> NDArray[Any]:
        """Two-sided confidence intervals of the coefficients, shape (p, 2)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        q = float(self._fit.t_quantile(level))
        half = q * self.standard_errors
        return np.column_stack([self.coefficients - half, self.coefficients + half])

    def _coefficient_rows(self) -> list[tuple[str, float, float, float, float]]:
        return list(
            zip(
                self._names,
                self.coefficients.tolist(),
                self.standard_errors.tolist(),
                self.t_values.tolist(),
                self.p_values.tolist(),
                strict=True,
            )
        )

    def _coefficient_dict(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "coefficients": self.coefficients.tolist(),
            "standard_errors": self.standard_errors.tolist(),
            "t_values": self.t_values.tolist(),
            "p_values": self.p_values.tolist(),
            "residual_std_error": self.residual_std_error,
            "r_squared": self.r_squared,
            "adj_r_squared": self.adj_r_squared,
            "nobs": self.nobs,
            "df_resid": self.df_resid,
        }

    def _coefficient_table(self) -> Table:
        return Table(
            ["coef", "std err", "t", "P>|t|"],
            [row[1:] for row in self._coefficient_rows()],
            labels=self.names,
            digits=6,
        )

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table: one row per coefficient (index: its name) with
        ``coef``, ``std_err``, ``t``, ``p_value`` (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "coef": self.coefficients,
                "std_err": self.standard_errors,
                "t": self.t_values,
                "p_value": self.p_values,
            },
            index=pd.Index(self.names, name="name"),
        )


class LinearModel(FittedCoefficients):
    """Ordinary or weighted least squares of `y` on the columns of `x`.

    Solved by column-pivoting QR on centred, scaled columns with the solution refined in
    extended precision. Above 20,000 rows the fit first tries normal equations summed
    blockwise in double with one refinement step, and keeps them only when a rigorous
    bound on their error (from the fit's own condition number and residual) is below
    2^-36 relative; otherwise it refines in extended precision. Coefficients are in the
    caller's basis, the intercept first when there is one.

    Parameters
    ----------
    x : array_like, shape (n,) or (n, k)
        Predictors, one column each (a 1-D array is one predictor). Do not include a
        column of ones: use ``intercept``.
    y : array_like, shape (n,)
        Response.
    intercept : bool, default True
        Add a constant term. Without it R² is uncentred (about zero), as NIST and
        statsmodels define it for models without a constant.
    weights : array_like, shape (n,), optional
        Positive inverse-variance weights (statsmodels WLS); prediction intervals then
        assume a new observation of weight 1.
    names : sequence of str, optional
        Names of the columns of `x` (default ``x1, x2, ...``).

    Raises
    ------
    ValueError
        On NaN or infinite values, too few rows (at least one more than the number of
        coefficients) or a rank-deficient design, naming the cause.

    Examples
    --------
    >>> import numpy as np
    >>> from perfstats import LinearModel
    >>> x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0], [5.0, 0.0]])
    >>> y = np.array([3.1, 6.0, 6.9, 10.1, 10.9])
    >>> fit = LinearModel(x, y, names=["load", "cold"])
    >>> [f"{b:.4f}" for b in fit.coefficients]
    ['1.0567', '1.9700', '1.0833']
    >>> fit.names
    ['intercept', 'load', 'cold']
    """

    def __init__(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        intercept: bool = True,
        weights: ArrayLike | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        xa = float_array(x, "x", (1, 2))
        if xa.ndim == 1:
            xa = xa.reshape(-1, 1)
        ya = float_array(y, "y", (1,))
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(f"x has {xa.shape[0]} rows but y has {ya.shape[0]}")
        k = xa.shape[1]
        if names is None:
            cols = [f"x{j + 1}" for j in range(k)]
        else:
            cols = [str(n) for n in names]
            if len(cols) != k:
                raise ValueError(f"names has {len(cols)} entries but x has {k} columns")
        self._k = k
        self._intercept = bool(intercept)
        self._names = (["intercept"] if intercept else []) + cols
        self._fit = _core.LinearModel(
            xa, ya, self._intercept, optional_weights(weights)
        )
        # a pickle holds the data and refits (the core model has no serialized form;
        # the fit is deterministic, so it is the same fit)
        self._inputs = (
            xa.copy(),
            ya.copy(),
            self._intercept,
            None if weights is None else np.array(weights, dtype=float),
            cols,
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_refit_linear_model, self._inputs)

    @property
    def intercept(self) -> bool:
        """Whether the model has a constant term."""
        return self._intercept

    def predict(
        self,
        x_new: ArrayLike,
        *,
        interval: Interval = "confidence",
        level: float = 0.95,
    ) -> Prediction:
        """Mean response at the rows of `x_new`, with a two-sided interval.

        Parameters
        ----------
        x_new : array_like, shape (m,) or (m, k)
            Predictor values (a 1-D array is m rows when k = 1, else one row).
        interval : {"confidence", "prediction"}
            Band for the mean response or for a new observation.
        level : float
            Coverage of the interval, in (0, 1).
        """
        check_interval(interval, level)
        xa = float_array(x_new, "x_new", (1, 2))
        if xa.ndim == 1:
            xa = xa.reshape(-1, 1) if self._k == 1 else xa.reshape(1, -1)
        mean, se, lower, upper = self._fit.predict(xa, interval, level)
        return Prediction(xa, mean, lower, upper, se, interval, level)

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (coefficient table and fit statistics), for JSON."""
        return {"intercept": self._intercept, **self._coefficient_dict()}

    def _view(self) -> View:
        fields = {
            "nobs": self.nobs,
            "params": len(self._names),
            "R²": self.r_squared,
            "adj. R²": self.adj_r_squared,
            "residual SE": self.residual_std_error,
            "df_resid": self.df_resid,
        }
        return View("LinearModel", fields, {"coefficients": self._coefficient_table()})


def _refit_linear_model(
    x: NDArray[Any],
    y: NDArray[Any],
    intercept: bool,
    weights: NDArray[Any] | None,
    names: list[str],
) -> LinearModel:
    """The LinearModel of these inputs (how a LinearModel unpickles)."""
    return LinearModel(x, y, intercept=intercept, weights=weights, names=names)
