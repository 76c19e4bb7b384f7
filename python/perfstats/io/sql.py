"""SQL queries, on DuckDB or any DB-API connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from perfstats.io.schema import Raw, pandas_module

if TYPE_CHECKING:
    import pandas as pd


def read_sql(query: str | None, connection: Any, params: Any) -> Raw:
    if not isinstance(query, str) or not query.strip():
        raise ValueError('read_events("sql", ...) needs query= a SQL string')
    if connection is None:
        try:
            import duckdb
        except ImportError as exc:
            raise ImportError(
                "SQL without a connection runs on DuckDB: pip install duckdb"
            ) from exc
        connection = duckdb.connect()
    module = type(connection).__module__.split(".")[0]
    try:
        if module in ("duckdb", "_duckdb"):
            result = (
                connection.execute(query, params) if params else connection.sql(query)
            )
            frame: pd.DataFrame = result.df()
            return Raw(frame, "sql")
        cursor = connection.cursor()
        try:
            if params is None:
                cursor.execute(query)
            else:
                cursor.execute(query, params)
            if cursor.description is None:
                raise ValueError("the SQL query returned no result set")
            names = [str(d[0]) for d in cursor.description]
            rows = cursor.fetchall()
        finally:
            cursor.close()
    except ValueError:
        raise
    except Exception as exc:
        raise ValueError(
            f"sql: the query failed ({type(exc).__name__}: {exc})"
        ) from exc
    pdm = pandas_module()
    return Raw(pdm.DataFrame.from_records(rows, columns=names), "sql")
