"""In-memory sources: pandas, polars and Arrow tables and streams, mappings, and Arrow
IPC files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from perfstats.io.schema import Raw, pandas_module, pyarrow_module

if TYPE_CHECKING:
    import pandas as pd


def arrow_to_pandas(table: Any) -> pd.DataFrame:
    frame: pd.DataFrame = table.to_pandas()
    return frame


def read_arrow_ipc(path: Path) -> Raw:
    pa = pyarrow_module()
    try:
        # read into memory, not mapped: a mapped file that shrinks while its columns are
        # in use kills the process with SIGBUS
        with pa.OSFile(str(path)) as src:
            try:
                table = pa.ipc.open_file(src).read_all()
            except pa.ArrowInvalid:
                src.seek(0)
                table = pa.ipc.open_stream(src).read_all()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: not a readable Arrow IPC file ({exc})") from exc
    return Raw(arrow_to_pandas(table), str(path))


def from_object(source: Any) -> Raw | None:
    pdm = pandas_module()
    if isinstance(source, pdm.DataFrame):
        return Raw(source, "DataFrame")
    module = type(source).__module__.split(".")[0]
    if module == "polars":
        if hasattr(source, "collect") and not hasattr(source, "to_arrow"):
            source = source.collect()  # a LazyFrame
        return Raw(arrow_to_pandas(source.to_arrow()), "polars DataFrame")
    if module == "pyarrow":
        pa = pyarrow_module()
        if isinstance(source, pa.Table):
            return Raw(arrow_to_pandas(source), "Arrow table")
        if isinstance(source, pa.RecordBatch):
            return Raw(arrow_to_pandas(pa.Table.from_batches([source])), "Arrow")
        if isinstance(source, pa.RecordBatchReader):
            return Raw(arrow_to_pandas(source.read_all()), "Arrow stream")
    if hasattr(source, "__arrow_c_stream__"):
        pa = pyarrow_module()
        reader = pa.RecordBatchReader.from_stream(source)
        return Raw(arrow_to_pandas(reader.read_all()), "Arrow stream")
    if isinstance(source, Mapping):
        return Raw(pdm.DataFrame(dict(source)), "mapping")
    return None
