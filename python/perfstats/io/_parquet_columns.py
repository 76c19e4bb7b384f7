"""Flat columns of a Parquet file's row groups, decoded by perfstats' C++ page decoder
straight from the memory-mapped file into the caller's arrays.

This is the fast half of summarize's streamed Parquet reading. A general reader (pyarrow)
allocates a new column, and copies into it, for every row group; here each page is
decompressed into one buffer per thread and decoded into an array the caller reuses. Only
what telemetry columns usually are is handled (flat, at most optional; PLAIN or dictionary
values; uncompressed, Snappy or Zstandard pages). Every method returns None when a column
chunk is anything else or is malformed, and the caller then reads that row group with
pyarrow, which reads everything the format allows and reports what is wrong with a file.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

import numpy as np
import numpy.typing as npt

from perfstats import _core

# parquet.thrift's CompressionCodec and Type, as pyarrow's metadata names them
_CODECS = {"UNCOMPRESSED": 0, "SNAPPY": 1, "ZSTD": 6}
_PHYSICAL = {"INT64": 2, "FLOAT": 4, "DOUBLE": 5, "BYTE_ARRAY": 6}
_FAILED = (
    ValueError,
    NotImplementedError,
)  # malformed or unsupported: read it with pyarrow


class ParquetColumns:
    """Column chunks of the Parquet file at `path`, whose pyarrow FileMetaData is `meta`.

    Use as a context manager; arrays returned are the caller's `out` arrays.
    """

    def __init__(self, path: str | os.PathLike[str], meta: Any) -> None:
        self._meta = meta
        with open(path, "rb") as f:
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._view = memoryview(self._map)
        self._columns: dict[str, tuple[int, Any]] = {}
        schema = meta.schema
        for i in range(meta.num_columns):
            column = schema.column(i)
            if column.max_repetition_level == 0 and column.max_definition_level <= 1:
                self._columns[column.path] = (i, column)

    def __enter__(self) -> ParquetColumns:
        return self

    def __exit__(self, *exc: object) -> None:
        self._view.release()
        self._map.close()

    def _chunk(
        self, r: int, name: str, physical: tuple[str, ...]
    ) -> tuple[memoryview, int, int, int, int] | None:
        """(bytes, codec, rows, max definition level, physical type) of column `name` in
        row group r, or None when the decoder cannot read it."""
        found = self._columns.get(name)
        if found is None:
            return None
        i, column = found
        if column.physical_type not in physical:
            return None
        chunk = self._meta.row_group(r).column(i)
        codec = _CODECS.get(chunk.compression)
        if codec is None or not _core.parquet_codec_available(codec):
            return None
        start = (
            chunk.dictionary_page_offset
            if chunk.has_dictionary_page
            else chunk.data_page_offset
        )
        size = chunk.total_compressed_size
        if start is None or start < 0 or size < 0 or start + size > len(self._view):
            return None
        return (
            self._view[start : start + size],
            codec,
            self._meta.row_group(r).num_rows,
            column.max_definition_level,
            _PHYSICAL[column.physical_type],
        )

    def int64(self, r: int, name: str, out: npt.NDArray[np.int64]) -> int | None:
        """INT64 column `name` of row group r into out (one entry per row): the row of
        its first null (len(out) when none), or None when it was not read."""
        chunk = self._chunk(r, name, ("INT64",))
        if chunk is None or chunk[2] != len(out):
            return None
        data, codec, rows, max_def, _ = chunk
        try:
            return _core.parquet_read_int64(data, codec, rows, max_def, out)
        except _FAILED:
            return None
        finally:
            data.release()

    def float64(self, r: int, name: str, out: npt.NDArray[np.float64]) -> bool:
        """FLOAT or DOUBLE column `name` of row group r into out, nulls as NaN; False
        when it was not read."""
        chunk = self._chunk(r, name, ("FLOAT", "DOUBLE"))
        if chunk is None or chunk[2] != len(out):
            return False
        data, codec, rows, max_def, physical = chunk
        try:
            _core.parquet_read_double(data, physical, codec, rows, max_def, out)
            return True
        except _FAILED:
            return False
        finally:
            data.release()

    def strings(
        self, r: int, name: str, out: npt.NDArray[np.int32]
    ) -> list[str] | None:
        """Dictionary-encoded UTF-8 column `name` of row group r: out[i] is row i's index
        in the returned dictionary, -1 for null; None when it was not read."""
        found = self._columns.get(name)
        if found is None or found[1].logical_type.type != "STRING":
            return None
        chunk = self._chunk(r, name, ("BYTE_ARRAY",))
        if chunk is None or chunk[2] != len(out):
            return None
        data, codec, rows, max_def, _ = chunk
        try:
            raw = _core.parquet_read_dictionary(data, codec, rows, max_def, out)
            return [v.decode("utf-8") for v in raw]
        except _FAILED:  # UnicodeDecodeError is a ValueError
            return None
        finally:
            data.release()
