"""Optional dependencies, imported in one place with an install hint (iminuit's
``_optional_dependencies``): numpy is the only hard dependency of the statistics core;
events need pandas (and pyarrow for Parquet/Arrow), plots and the HTML report matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["EXTRAS", "require"]

#: Module -> the pip extra that brings it.
EXTRAS: dict[str, str] = {
    "pandas": "pandas",
    "pyarrow": "pandas",
    "matplotlib": "plot",
    "matplotlib.pyplot": "plot",
    "polars": "polars",
    "duckdb": "duckdb",
    "opentelemetry.sdk.trace": "otel",
    "opentelemetry.proto": "export",
    "psycopg": "history-postgres",
    "dask": "dask",
    "dask.dataframe": "dask",
    "distributed": "dask",
}


def require(module: str, purpose: str) -> Any:
    """Import ``module`` or raise ImportError saying what needs it and how to install.

    Examples
    --------
    >>> require("math", "arithmetic").sqrt(4.0)
    2.0
    >>> require("no_such_module_xyz", "this example")
    Traceback (most recent call last):
    ...
    ImportError: this example needs no_such_module_xyz: pip install no_such_module_xyz
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRAS.get(module)
        hint = f"pip install 'perfstats[{extra}]'" if extra else f"pip install {module}"
        raise ImportError(f"{purpose} needs {module.split('.')[0]}: {hint}") from exc
